//! [`Stream`]: a connected, non-blocking TCP or Unix stream socket.

use std::io::{self, IoSlice, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use crate::addr::NetAddr;
use crate::error::NetError;
use crate::sys;

/// A connected (or connecting) stream socket, TCP or Unix, always non-blocking.
///
/// Reads and writes return `WouldBlock` when the socket is not ready; register the stream
/// with a `mio::Registry` (it is a [`Source`]) to learn when to retry. Readiness is
/// edge-triggered: after an event, read (or write) until `WouldBlock`.
///
/// # Writes never raise `SIGPIPE`
///
/// `write` and `write_vectored` go through [`sys::send`] / [`sys::send_vectored`]: a peer
/// that went away is an `EPIPE` or `ECONNRESET` error, never a signal. `write_vectored`
/// passes at most [`sys::IOV_MAX`] buffers per call and returns how many bytes were taken.
///
/// # Connecting
///
/// [`Stream::connect`] (or [`Stream::dial`]) returns at once while the connect proceeds.
/// When the stream becomes writable, [`Stream::finish_connect`] tells whether it succeeded.
#[derive(Debug)]
pub enum Stream {
    /// A TCP connection.
    Tcp(TcpStream),
    /// A Unix domain stream connection.
    Unix(UnixStream),
}

/// How a dial started ([`Stream::dial`]); a shard takes either kind
/// ([`Shard::dial`](crate::shard::Shard::dial)).
#[derive(Debug)]
pub enum Dial {
    /// The connect is under way (or done): its outcome comes through
    /// [`Stream::finish_connect`] once the stream is writable.
    Started(Stream),
    /// The Unix listener at the path exists but its backlog is full (`EAGAIN`, Linux): the
    /// socket is not connected yet, and [`Stream::connect_again`] tries again.
    Busy(Stream, PathBuf),
}

impl From<Stream> for Dial {
    fn from(stream: Stream) -> Dial {
        Dial::Started(stream)
    }
}

/// A step of a dial that failed: its error, the syscall, and the address it concerned.
struct Failed {
    error: io::Error,
    syscall: &'static str,
    at: NetAddr,
}

/// Starts a dial: a socket, bound to `local` if given (TCP), connecting to `addr`.
fn start(addr: &NetAddr, local: Option<&NetAddr>) -> Result<Dial, Failed> {
    let fail = |syscall, at: &NetAddr| {
        let at = at.clone();
        move |error| Failed { error, syscall, at }
    };
    match (addr, local) {
        (NetAddr::Inet(a), l) => {
            let local = match l {
                None => None,
                Some(NetAddr::Inet(l)) if l.is_ipv4() == a.is_ipv4() => Some(*l),
                Some(l) => return Err(fail("bind", l)(io::Error::from_raw_os_error(libc::EINVAL))),
            };
            let socket = sys::tcp_client(*a).map_err(fail("connect", addr))?;
            if let Some(l) = local {
                sys::bind_local(&socket, l).map_err(fail("bind", &NetAddr::Inet(l)))?;
            }
            sys::connect_tcp(&socket, *a).map_err(fail("connect", addr))?;
            Ok(Dial::Started(Stream::Tcp(socket)))
        }
        (NetAddr::Unix(p), None) => {
            let socket = sys::unix_client().map_err(fail("connect", addr))?;
            match sys::connect_unix_socket(&socket, p) {
                Ok(()) => Ok(Dial::Started(Stream::Unix(socket))),
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                    Ok(Dial::Busy(Stream::Unix(socket), p.clone()))
                }
                Err(e) => Err(fail("connect", addr)(e)),
            }
        }
        (NetAddr::Unix(_), Some(l)) => {
            Err(fail("bind", l)(io::Error::from_raw_os_error(libc::EINVAL)))
        }
    }
}

impl Stream {
    /// Starts a non-blocking connect to `addr`, from `local` if given (TCP only; a local
    /// address of the other family, or any local address for a Unix path, is `EINVAL`).
    ///
    /// Errors the OS reports at once come back here: for Unix paths that is where every
    /// error is (`ENOENT`, `ECONNREFUSED`, `EAGAIN` when the backlog is full); for TCP the
    /// outcome usually comes later, through [`Stream::finish_connect`]. [`Stream::dial`]
    /// is the same with errors named by syscall and address, and a full backlog kept.
    pub fn connect(addr: &NetAddr, local: Option<&NetAddr>) -> io::Result<Stream> {
        match start(addr, local).map_err(|f| f.error)? {
            Dial::Started(stream) => Ok(stream),
            Dial::Busy(..) => Err(io::Error::from_raw_os_error(libc::EAGAIN)),
        }
    }

    /// Starts a dial like [`Stream::connect`], for a shard to finish. A Unix listener whose
    /// backlog is full is not an error but [`Dial::Busy`] (the shard retries). Errors have
    /// their syscall and address: `bind` and the local address when `local` cannot be bound
    /// (`EADDRNOTAVAIL`, `EADDRINUSE`, `EACCES`, or `EINVAL` for a local address that does
    /// not fit `addr`), else `connect` and `addr`.
    pub fn dial(addr: &NetAddr, local: Option<&NetAddr>) -> Result<Dial, NetError> {
        start(addr, local).map_err(|f| NetError::from_io(&f.error, f.syscall).with_addr(&f.at))
    }

    /// Tries the connect of a [`Dial::Busy`] Unix socket to `path` again: `Ok` once
    /// connected, `EAGAIN` while the backlog is still full, or what ended it (`ECONNREFUSED`
    /// once nobody listens, `ENOENT` once the file is gone). `EINVAL` for a TCP stream.
    pub fn connect_again(&self, path: &Path) -> io::Result<()> {
        match self {
            Stream::Unix(s) => sys::connect_unix_socket(s, path),
            Stream::Tcp(_) => Err(io::Error::from_raw_os_error(libc::EINVAL)),
        }
    }

    /// After a connect: `Ok(true)` once connected, `Ok(false)` while still in progress (a
    /// spurious wake-up), or the error that ended it (`ECONNREFUSED`, `ETIMEDOUT`, …).
    /// Call it when the stream is reported writable.
    pub fn finish_connect(&self) -> io::Result<bool> {
        if let Some(e) = self.take_error()? {
            return Err(e);
        }
        let peer = match self {
            Stream::Tcp(s) => s.peer_addr().map(drop),
            Stream::Unix(s) => s.peer_addr().map(drop),
        };
        match peer {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::EINPROGRESS)) => {
                // Not connected yet, or the connect failed and the error was consumed
                // meanwhile: reading the socket tells which.
                match self.take_error()? {
                    Some(e) => Err(e),
                    None => Ok(false),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The peer's address: IP and port, or the server's path for a Unix client. `None` if
    /// the peer has no name (a Unix client as seen by the server) or is not connected.
    pub fn peer_addr(&self) -> Option<NetAddr> {
        match self {
            Stream::Tcp(s) => s.peer_addr().ok().map(NetAddr::Inet),
            Stream::Unix(s) => unix_name(s.peer_addr().ok()?),
        }
    }

    /// This end's address: IP and port, or the path a Unix server listens on. `None` if it
    /// has no name (a Unix client).
    pub fn local_addr(&self) -> Option<NetAddr> {
        match self {
            Stream::Tcp(s) => s.local_addr().ok().map(NetAddr::Inet),
            Stream::Unix(s) => unix_name(s.local_addr().ok()?),
        }
    }

    /// Half-closes: sends FIN after queued bytes; reading stays possible.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Stream::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        }
    }

    /// Makes the coming close a reset: `SO_LINGER` 0, so closing sends RST (not FIN) and
    /// drops unsent bytes (Node's `resetAndDestroy()`). For TCP; a no-op for Unix streams.
    pub fn reset_on_close(&self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => sys::set_linger_zero(s),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Takes the pending socket error (`SO_ERROR`), clearing it.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        match self {
            Stream::Tcp(s) => s.take_error(),
            Stream::Unix(s) => s.take_error(),
        }
    }

    /// Whether this is a TCP stream.
    pub fn is_tcp(&self) -> bool {
        matches!(self, Stream::Tcp(_))
    }

    /// Sets `TCP_NODELAY`; a no-op for Unix streams.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => sys::set_nodelay(s, on),
            Stream::Unix(_) => Ok(()),
        }
    }

    /// Sets TCP keepalive as [`sys::set_keepalive`] documents; a no-op for Unix streams.
    pub fn set_keepalive(&self, idle: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => sys::set_keepalive(s, idle),
            Stream::Unix(_) => Ok(()),
        }
    }
}

/// The path of a Unix socket address, if it has one.
fn unix_name(addr: std::os::unix::net::SocketAddr) -> Option<NetAddr> {
    addr.as_pathname().map(|p| NetAddr::Unix(p.to_path_buf()))
}

impl From<TcpStream> for Stream {
    fn from(s: TcpStream) -> Stream {
        Stream::Tcp(s)
    }
}

impl From<UnixStream> for Stream {
    fn from(s: UnixStream) -> Stream {
        Stream::Unix(s)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
        }
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read(buf),
            Stream::Unix(s) => (&*s).read(buf),
        }
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => (&*s).read_vectored(bufs),
            Stream::Unix(s) => (&*s).read_vectored(bufs),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        (&*self).read_vectored(bufs)
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(*self, buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        sys::send_vectored(*self, bufs)
    }

    /// Nothing to flush: the socket has no user-space buffer.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Source for Stream {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(registry, token, interests),
            Stream::Unix(s) => s.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(registry, token, interests),
            Stream::Unix(s) => s.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(registry),
            Stream::Unix(s) => s.deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_pair() -> (Stream, Stream) {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        (
            UnixStream::from_std(a).into(),
            UnixStream::from_std(b).into(),
        )
    }

    #[test]
    fn vectored_write_and_read_over_a_pair() {
        let (mut a, mut b) = unix_pair();
        let n = a
            .write_vectored(&[IoSlice::new(b"hel"), IoSlice::new(b"lo")])
            .unwrap();
        assert_eq!(n, 5);
        let mut buf = [0u8; 8];
        assert_eq!(b.read(&mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(
            b.read(&mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        a.flush().unwrap();
    }

    #[test]
    fn one_buffer_goes_out_whole_and_a_gone_peer_is_epipe_not_a_signal() {
        let (mut a, mut b) = unix_pair();
        assert_eq!(a.write_vectored(&[IoSlice::new(b"ping")]).unwrap(), 4);
        let mut buf = [0u8; 8];
        assert_eq!(b.read(&mut buf).unwrap(), 4);
        assert_eq!(&buf[..4], b"ping");
        drop(b);
        let e = a.write_vectored(&[IoSlice::new(b"x")]).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn more_buffers_than_iov_max_are_cut_not_refused() {
        let (mut a, _b) = unix_pair();
        let bufs: Vec<IoSlice<'_>> = (0..sys::IOV_MAX + 10).map(|_| IoSlice::new(b"x")).collect();
        assert_eq!(a.write_vectored(&bufs).unwrap(), sys::IOV_MAX);
    }

    #[test]
    fn write_after_peer_closed_is_epipe_not_a_signal() {
        let (a, b) = unix_pair();
        drop(b);
        let e = (&a).write(b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
    }

    #[test]
    fn shutdown_write_gives_eof_to_the_peer() {
        let (a, mut b) = unix_pair();
        a.shutdown_write().unwrap();
        assert_eq!(b.read(&mut [0u8; 4]).unwrap(), 0);
        assert!(a.take_error().unwrap().is_none());
        assert!(!a.is_tcp());
        assert!(a.as_raw_fd() >= 0);
        // Pairs have no names; options that only TCP has are no-ops.
        assert!(a.peer_addr().is_none() && a.local_addr().is_none());
        a.set_nodelay(true).unwrap();
        a.set_keepalive(Some(Duration::from_secs(1))).unwrap();
    }

    #[test]
    fn mismatched_local_address_is_einval() {
        let v6: NetAddr = "[::1]:1".parse::<std::net::SocketAddr>().unwrap().into();
        let v4: NetAddr = "127.0.0.1:1"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into();
        let e = Stream::connect(&v4, Some(&v6)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        let unix = NetAddr::Unix("/tmp/x".into());
        assert!(Stream::connect(&unix, Some(&unix)).is_err());
    }
}
