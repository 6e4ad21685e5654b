//! Helpers shared by the integration tests. Every loop here has a deadline
//! ([`TIMEOUT`]) and panics with a message when it passes, so no test can hang.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};
use netpoll_core::addr::NetAddr;
use netpoll_core::listener::Listener;
use netpoll_core::stream::Stream;

/// How long any helper waits before failing the test.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Serialises the tests of one binary that count descriptors or share a resource.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Open descriptors of this process (hold [`serial`] while comparing counts).
pub fn fd_count() -> usize {
    let dir = if Path::new("/proc/self/fd").exists() {
        "/proc/self/fd"
    } else {
        "/dev/fd"
    };
    std::fs::read_dir(dir).expect("list descriptors").count()
}

/// A fresh directory under the system temp dir, removed with its contents on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("np-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// `name` inside the directory, as a string (what `Listener::bind` takes).
    pub fn path(&self, name: &str) -> String {
        self.0
            .join(name)
            .to_str()
            .expect("utf-8 temp path")
            .to_string()
    }

    pub fn dir(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether `::1` can be bound here (IPv6 may be disabled in containers).
pub fn ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// A loopback port nobody listens on (bound once, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

/// Polls `source` (registered with `token` for `interest`) until it is ready.
pub fn wait_ready(source: &mut impl Source, interest: Interest) {
    let mut poll = Poll::new().expect("poll");
    let token = Token(1);
    poll.registry()
        .register(source, token, interest)
        .expect("register");
    let mut events = Events::with_capacity(8);
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "not ready within {TIMEOUT:?}");
        poll.poll(&mut events, Some(left)).expect("poll");
        let ready = events.iter().any(|e| {
            e.token() == token
                && ((interest.is_readable() && (e.is_readable() || e.is_read_closed()))
                    || (interest.is_writable() && (e.is_writable() || e.is_error())))
        });
        if ready {
            break;
        }
    }
    poll.registry().deregister(source).expect("deregister");
}

/// Calls `f` until it returns something other than `WouldBlock`, sleeping 1 ms between
/// tries, for at most [`TIMEOUT`].
pub fn retry<T>(what: &str, mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "{what}: still blocked after {TIMEOUT:?}"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            other => return other,
        }
    }
}

/// Accepts one connection, waiting for it at most [`TIMEOUT`].
pub fn accept(listener: &Listener) -> (Stream, Option<NetAddr>) {
    retry("accept", || listener.accept()).expect("accept")
}

/// Connects and waits until the connect finished, returning the stream or its error.
pub fn connect(addr: &NetAddr) -> io::Result<Stream> {
    let mut stream = Stream::connect(addr, None)?;
    wait_ready(&mut stream, Interest::WRITABLE);
    let deadline = Instant::now() + TIMEOUT;
    while !stream.finish_connect()? {
        assert!(Instant::now() < deadline, "connect did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(stream)
}

/// Writes all of `data` to a non-blocking writer.
pub fn write_all(mut w: impl Write, data: &[u8]) {
    let mut done = 0;
    while done < data.len() {
        done += retry("write", || w.write(&data[done..])).expect("write");
    }
}

/// Reads until `n` bytes or end of stream, from a non-blocking reader.
pub fn read_n(mut r: impl Read, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    let mut got = 0;
    while got < n {
        match retry("read", || r.read(&mut out[got..])).expect("read") {
            0 => break,
            k => got += k,
        }
    }
    out.truncate(got);
    out
}

/// A cheap digest of a byte stream (FNV-1a), to compare what was sent and received.
pub fn digest(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}
