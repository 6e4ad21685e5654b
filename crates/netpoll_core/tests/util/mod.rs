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

// ---- Shard helpers (shard_io, shard_timers, threaded) ----

/// One record of a [`netpoll_core::batch::Batch`], with its error resolved.
#[derive(Clone, Debug)]
pub struct Ev {
    pub kind: u32,
    pub conn: netpoll_core::event::ConnId,
    pub a: u32,
    pub b: u32,
    pub error: Option<netpoll_core::error::NetError>,
}

/// Every event seen so far, and the bytes read per connection (concatenated in order).
#[derive(Default, Debug)]
pub struct Log {
    pub events: Vec<Ev>,
    pub data: std::collections::HashMap<netpoll_core::event::ConnId, Vec<u8>>,
}

impl Log {
    /// Moves the records of `batch` into the log and clears it.
    pub fn absorb(&mut self, batch: &mut netpoll_core::batch::Batch) {
        use netpoll_core::batch::{RecordKind, RECORD_LEN};
        for r in batch.records.chunks_exact(RECORD_LEN) {
            let conn = netpoll_core::event::ConnId {
                index: r[1],
                generation: r[2],
            };
            let (kind, a, b) = (r[0], r[3], r[4]);
            let mut error = None;
            if kind == RecordKind::Data as u32 {
                let bytes = &batch.bytes()[a as usize..(a + b) as usize];
                self.data.entry(conn).or_default().extend_from_slice(bytes);
            } else if (kind == RecordKind::Connected as u32
                || kind == RecordKind::Closed as u32
                || kind == RecordKind::ListenerError as u32
                || kind == RecordKind::TlsClientError as u32)
                && a != 0
            {
                error = Some(batch.errors[a as usize - 1].clone());
            }
            self.events.push(Ev {
                kind,
                conn,
                a,
                b,
                error,
            });
        }
        batch.clear();
    }

    /// Events of `kind` for `conn`.
    pub fn of(
        &self,
        kind: netpoll_core::batch::RecordKind,
        conn: netpoll_core::event::ConnId,
    ) -> Vec<&Ev> {
        self.events
            .iter()
            .filter(|e| e.kind == kind as u32 && e.conn == conn)
            .collect()
    }

    /// Events of `kind` for any connection.
    pub fn all(&self, kind: netpoll_core::batch::RecordKind) -> Vec<&Ev> {
        self.events
            .iter()
            .filter(|e| e.kind == kind as u32)
            .collect()
    }

    /// Bytes read from `conn` so far.
    pub fn bytes(&self, conn: netpoll_core::event::ConnId) -> &[u8] {
        self.data.get(&conn).map_or(&[], |v| v.as_slice())
    }
}

/// One round of `shard` (10 ms poll), its events added to `log`.
pub fn step(shard: &mut netpoll_core::shard::Shard, log: &mut Log) {
    let mut batch = netpoll_core::batch::Batch::default();
    shard
        .run_once(Some(Duration::from_millis(10)), &mut batch)
        .expect("run_once");
    log.absorb(&mut batch);
}

/// Runs `shard` until `done(log)` holds, failing after [`TIMEOUT`] with `what`.
pub fn run_until(
    shard: &mut netpoll_core::shard::Shard,
    log: &mut Log,
    what: &str,
    mut done: impl FnMut(&Log) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(log) {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {TIMEOUT:?}; events: {:?}",
            log.events
        );
        step(shard, log);
    }
}

/// Runs `shard` for `d`, collecting events.
pub fn run_for(shard: &mut netpoll_core::shard::Shard, log: &mut Log, d: Duration) {
    let end = Instant::now() + d;
    while Instant::now() < end {
        step(shard, log);
    }
}

/// A shard with a loopback TCP listener on it: (shard, listener id, address).
pub fn shard_with_listener(
    config: netpoll_core::config::ShardConfig,
) -> (
    netpoll_core::shard::Shard,
    netpoll_core::event::ListenerId,
    std::net::SocketAddr,
) {
    let mut shard = netpoll_core::shard::Shard::new(config).expect("shard");
    let l = Listener::bind(
        netpoll_core::addr::Network::Tcp4,
        "127.0.0.1:0",
        netpoll_core::listener::ListenOptions::default(),
    )
    .expect("bind");
    let addr = l.local_addr().as_inet().expect("inet");
    let lid = shard.add_listener(l).expect("add_listener");
    (shard, lid, addr)
}

/// Waits for the next `Accepted` record after the first `seen` ones and returns its id.
pub fn next_accepted(
    shard: &mut netpoll_core::shard::Shard,
    log: &mut Log,
    seen: usize,
) -> netpoll_core::event::ConnId {
    use netpoll_core::batch::RecordKind;
    run_until(shard, log, "accepted", |l| {
        l.all(RecordKind::Accepted).len() > seen
    });
    log.all(RecordKind::Accepted)[seen].conn
}

/// A blocking TCP client to `addr` with a 5 s read/write timeout; `rcvbuf` (if set) is
/// applied before connecting, so the advertised window stays small.
pub fn tcp_client(addr: std::net::SocketAddr, rcvbuf: Option<usize>) -> std::net::TcpStream {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .expect("socket");
    if let Some(n) = rcvbuf {
        sock.set_recv_buffer_size(n).expect("SO_RCVBUF");
    }
    sock.connect(&addr.into()).expect("connect");
    let s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(TIMEOUT)).expect("write timeout");
    s
}

/// A small deterministic PRNG (xorshift64*), for piece sizes and payloads.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A reactor thread (its events only taken, never notified) with a loopback TCP listener
/// registered on it: (shard, listener id, address).
pub fn threaded_with_listener(
    name: &str,
    config: netpoll_core::config::ShardConfig,
) -> (
    netpoll_core::threaded::ThreadedShard,
    netpoll_core::event::ListenerId,
    std::net::SocketAddr,
) {
    use netpoll_core::threaded::{Command, ThreadedShard};
    let shard = ThreadedShard::spawn(name.into(), config, Box::new(|| {})).expect("spawn");
    let listener = Listener::bind(
        netpoll_core::addr::Network::Tcp4,
        "127.0.0.1:0",
        netpoll_core::listener::ListenOptions::default(),
    )
    .expect("bind");
    let addr = listener.local_addr().as_inet().expect("inet");
    let (tx, rx) = std::sync::mpsc::channel();
    shard.send([Command::Listen(
        listener,
        false,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    )]);
    let id = rx.recv_timeout(TIMEOUT).expect("reply").expect("listen");
    (shard, id, addr)
}
