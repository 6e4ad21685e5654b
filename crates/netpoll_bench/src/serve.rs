//! `netpoll-bench serve`: the ceiling of `npm run bench`, the least a server can do for each
//! protocol on this machine. One thread, one level-triggered epoll set (`libc` directly: mio
//! only offers edge-triggered readiness), one `read` and at most one `write` per event, one
//! shared read buffer, no framework, no timers.
//!
//! Protocols (the same as the example servers'):
//! - `framed`: 4-byte big-endian length + payload; every whole frame is echoed (the bytes of
//!   the whole frames of one read leave in one `write`), a partial frame waits for its rest;
//! - `raw`: every byte read is echoed;
//! - `sink`: every byte read is counted and dropped; each time the count crosses a multiple
//!   of [`SINK_ACK`] it is sent back as an 8-byte big-endian integer.
//!
//! A connection whose answer the socket does not take at once keeps the rest and waits for
//! `EPOLLOUT` only (no reads meanwhile: backpressure). `SIGUSR2` prints one line
//! `stats {"heapUsed":…,"connections":…}`: the bytes its connection table holds (its slots,
//! the partial frames and the unsent answers), the figure the idle scenario compares with V8's
//! and Go's heaps.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::Ordering;

use crate::serve_proto::{whole_frames, Protocol, SINK_ACK, STATS_WANTED};

/// Size of the shared read buffer (grown for larger frames).
const READ_BUF: usize = 256 * 1024;
/// Events taken per `epoll_wait`.
const EVENTS: usize = 1024;

/// A connection: its socket, its partial frame, its unsent answer, its sink count.
struct Conn {
    stream: Stream,
    partial: Vec<u8>,
    unsent: Vec<u8>,
    count: u64,
}

enum Stream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }

    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    fn accept(&self) -> io::Result<Stream> {
        Ok(match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                s.set_nonblocking(true)?;
                Stream::Tcp(s)
            }
            Listener::Unix(l) => {
                let (s, _) = l.accept()?;
                s.set_nonblocking(true)?;
                Stream::Unix(s)
            }
        })
    }
}

/// Runs `netpoll-bench serve --listen ADDR --protocol framed|raw|sink [--uring]` until killed
/// (`--uring`: the io_uring variant of [`crate::serve_uring`]).
pub fn main(args: &[String]) -> Result<(), String> {
    let (mut listen, mut protocol) = ("tcp://127.0.0.1:0".to_string(), Protocol::Framed);
    let mut uring = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "--uring" {
            uring = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match (flag.as_str(), value.as_str()) {
            ("--listen", v) => listen = v.to_string(),
            ("--protocol", "framed") => protocol = Protocol::Framed,
            ("--protocol", "raw") => protocol = Protocol::Raw,
            ("--protocol", "sink") => protocol = Protocol::Sink,
            _ => return Err(format!("unknown option {flag} {value}")),
        }
    }
    let io_err = |e: io::Error| e.to_string();
    // Before the listening line: a client never sees an address nobody will serve.
    let uring = match uring {
        true => Some(
            crate::serve_uring::Server::new(protocol)
                .map_err(|e| format!("io_uring setup: {e}"))?,
        ),
        false => None,
    };
    let listener = if let Some(path) = listen.strip_prefix("unix://") {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path).map_err(io_err)?;
        println!("listening {path}");
        Listener::Unix(l)
    } else {
        let addr = ["tcp://", "tcp4://", "tcp6://"]
            .iter()
            .find_map(|p| listen.strip_prefix(p))
            .ok_or("--listen is tcp://HOST:PORT or unix://PATH")?;
        let l = TcpListener::bind(addr).map_err(io_err)?;
        println!("listening {}", l.local_addr().map_err(io_err)?);
        Listener::Tcp(l)
    };
    let lfd = match &listener {
        Listener::Tcp(l) => {
            l.set_nonblocking(true).map_err(io_err)?;
            l.as_raw_fd()
        }
        Listener::Unix(l) => {
            l.set_nonblocking(true).map_err(io_err)?;
            l.as_raw_fd()
        }
    };
    on_usr2();
    if let Some(server) = uring {
        return server
            .run(lfd, matches!(listener, Listener::Tcp(_)))
            .map_err(io_err);
    }
    Server::new(protocol)
        .map_err(io_err)?
        .run(&listener, lfd)
        .map_err(io_err)
}

extern "C" fn usr2(_: libc::c_int) {
    STATS_WANTED.store(true, Ordering::Relaxed);
}

/// SIGUSR2 sets [`STATS_WANTED`] instead of ending the process. It stays blocked except
/// inside `epoll_pwait` (see [`Server::run`]), so it always interrupts a wait (EINTR) and is
/// never lost between a check of the flag and the next wait.
fn on_usr2() {
    // SAFETY: zeroed sigaction/sigset_t are valid; the handler only stores to an atomic
    // (async-signal-safe); sigprocmask on a single-threaded process.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = usr2 as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
        let mut blocked: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut blocked);
        libc::sigaddset(&mut blocked, libc::SIGUSR2);
        libc::sigprocmask(libc::SIG_BLOCK, &blocked, std::ptr::null_mut());
    }
}

struct Server {
    protocol: Protocol,
    epoll: RawFd,
    conns: Vec<Option<Conn>>,
    buf: Vec<u8>,
}

impl Server {
    fn new(protocol: Protocol) -> io::Result<Server> {
        // SAFETY: plain syscall, no pointers.
        let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epoll < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Server {
            protocol,
            epoll,
            conns: Vec::new(),
            buf: vec![0; READ_BUF],
        })
    }

    fn run(mut self, listener: &Listener, lfd: RawFd) -> io::Result<()> {
        ctl(self.epoll, libc::EPOLL_CTL_ADD, lfd, libc::EPOLLIN as u32)?;
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        // SAFETY: a zeroed sigset_t is valid; emptied, it unblocks SIGUSR2 during the wait.
        let mut during_wait: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::sigemptyset(&mut during_wait) };
        loop {
            // SAFETY: `events` has room for EVENTS entries; `during_wait` is a valid set.
            let n = unsafe {
                libc::epoll_pwait(
                    self.epoll,
                    events.as_mut_ptr(),
                    EVENTS as i32,
                    -1,
                    &during_wait,
                )
            };
            if STATS_WANTED.swap(false, Ordering::Relaxed) {
                self.print_stats();
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for ev in &events[..n as usize] {
                let fd = ev.u64 as RawFd;
                if fd == lfd {
                    self.accept(listener);
                } else if !self.serve(fd) {
                    // Dropping the stream closes it, which also removes it from the set.
                    self.conns[fd as usize] = None;
                }
            }
        }
    }

    /// One accept per event (level-triggered: the next one comes with the next event).
    fn accept(&mut self, listener: &Listener) {
        let Ok(stream) = listener.accept() else {
            return;
        };
        let fd = stream.fd();
        if ctl(self.epoll, libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32).is_err() {
            return;
        }
        if self.conns.len() <= fd as usize {
            self.conns.resize_with(fd as usize + 1, || None);
        }
        self.conns[fd as usize] = Some(Conn {
            stream,
            partial: Vec::new(),
            unsent: Vec::new(),
            count: 0,
        });
    }

    /// Handles one event of connection `fd`; false when it is to be closed.
    fn serve(&mut self, fd: RawFd) -> bool {
        let Some(c) = self.conns.get_mut(fd as usize).and_then(Option::as_mut) else {
            return true;
        };
        if !c.unsent.is_empty() {
            // Waiting for EPOLLOUT: one write of the rest, reads resume once it is all gone.
            let n = match c.stream.write(&c.unsent) {
                Ok(n) => n,
                Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
            };
            c.unsent.drain(..n);
            if !c.unsent.is_empty() {
                return true;
            }
            c.unsent = Vec::new();
            return ctl(self.epoll, libc::EPOLL_CTL_MOD, fd, libc::EPOLLIN as u32).is_ok();
        }
        let held = c.partial.len();
        if self.buf.len() < held + READ_BUF {
            self.buf.resize(held + READ_BUF, 0);
        }
        self.buf[..held].copy_from_slice(&c.partial);
        let n = match c.stream.read(&mut self.buf[held..]) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) => return e.kind() == io::ErrorKind::WouldBlock,
        };
        let end = held + n;
        let answer = match self.protocol {
            Protocol::Raw => 0..end,
            Protocol::Framed => {
                let whole = whole_frames(&self.buf[..end]);
                if whole.is_err() {
                    return false;
                }
                let whole = whole.unwrap_or(0);
                c.partial.clear();
                c.partial.extend_from_slice(&self.buf[whole..end]);
                0..whole
            }
            Protocol::Sink => {
                let before = c.count;
                c.count += n as u64;
                if before / SINK_ACK == c.count / SINK_ACK {
                    return true;
                }
                self.buf[..8].copy_from_slice(&c.count.to_be_bytes());
                0..8
            }
        };
        if answer.is_empty() {
            return true;
        }
        let out = &self.buf[answer];
        let sent = match c.stream.write(out) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
            Err(_) => return false,
        };
        if sent < out.len() {
            c.unsent.extend_from_slice(&out[sent..]);
            return ctl(self.epoll, libc::EPOLL_CTL_MOD, fd, libc::EPOLLOUT as u32).is_ok();
        }
        true
    }

    fn print_stats(&self) {
        let live = self.conns.iter().flatten();
        let held: usize = live
            .clone()
            .map(|c| c.partial.capacity() + c.unsent.capacity())
            .sum();
        let heap = self.conns.capacity() * std::mem::size_of::<Option<Conn>>() + held;
        println!(
            "stats {{\"heapUsed\":{heap},\"connections\":{}}}",
            live.count()
        );
    }
}

/// Registers (`op` = ADD) or changes (MOD) `fd`'s interest in set `epoll`, level-triggered.
fn ctl(epoll: RawFd, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
    let mut ev = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    if unsafe { libc::epoll_ctl(epoll, op, fd, &mut ev) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
