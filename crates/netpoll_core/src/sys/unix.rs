//! The Linux and macOS backend: `socket2` for options, `libc` for the rest.
//!
//! See the contract in [`super`]. Platform differences live here and nowhere else:
//!
//! | concern | Linux | macOS |
//! |---|---|---|
//! | no `SIGPIPE` on write | `MSG_NOSIGNAL` on every send | `SO_NOSIGPIPE` on every socket |
//! | keepalive idle option | `TCP_KEEPIDLE` | `TCP_KEEPALIVE` |
//! | `SO_REUSEPORT` | balances connections across sockets | allowed, but the last socket bound gets them all |

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, TcpKeepalive, Type};

use super::{FileId, TcpBind};

/// Most buffers one [`send_vectored`] passes to the kernel (`IOV_MAX` is 1024 on both
/// platforms); more are left for the next call.
pub const IOV_MAX: usize = 1024;

/// Flags of every send: `MSG_NOSIGNAL` where it exists.
#[cfg(target_os = "linux")]
const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(target_os = "macos")]
const SEND_FLAGS: libc::c_int = 0;

/// A non-blocking, close-on-exec stream socket (socket2 adds `SO_NOSIGPIPE` on macOS).
fn stream_socket(domain: Domain, protocol: Option<Protocol>) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::STREAM, protocol)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// `listen(2)`'s backlog: the kernel caps it further (`somaxconn`).
fn backlog(n: u32) -> libc::c_int {
    n.min(libc::c_int::MAX as u32) as libc::c_int
}

/// Whether a non-blocking `connect` failed only because it is still going on.
fn in_progress(err: &io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EINPROGRESS | libc::EINTR))
}

/// A listening TCP socket on `addr`: `SO_REUSEADDR` (as libuv sets it), `SO_REUSEPORT` if
/// `opts.reuse_port`, `IPV6_V6ONLY` = `opts.ipv6_only` for IPv6 addresses, non-blocking,
/// `listen(opts.backlog)`.
pub fn bind_tcp(addr: SocketAddr, opts: &TcpBind) -> io::Result<TcpListener> {
    let socket = stream_socket(Domain::for_address(addr), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if opts.reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(opts.ipv6_only)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(backlog(opts.backlog))?;
    Ok(TcpListener::from_std(socket.into()))
}

/// Checks that `addr` is free the way a plain bind would (no `SO_REUSEPORT`, which would
/// let us join a port another listener of this user holds) and returns it with the port
/// the OS chose for port 0 (`ipv6_only`: `IPV6_V6ONLY` for an IPv6 address). The probe
/// socket is closed again before returning.
pub fn claim_tcp_port(addr: SocketAddr, ipv6_only: bool) -> io::Result<SocketAddr> {
    let socket = stream_socket(Domain::for_address(addr), Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(ipv6_only)?;
    }
    socket.bind(&addr.into())?;
    socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EAFNOSUPPORT))
}

/// A listening Unix socket at `path` (which must not exist), non-blocking.
pub fn bind_unix(path: &Path, backlog_len: u32) -> io::Result<UnixListener> {
    let socket = stream_socket(Domain::UNIX, None)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(backlog(backlog_len))?;
    Ok(UnixListener::from_std(socket.into()))
}

/// A non-blocking TCP socket of `addr`'s family, not yet bound or connected (errors are
/// `socket(2)`'s). Bind it with [`bind_local`] if a local address is wanted, then
/// [`connect_tcp`].
pub fn tcp_client(addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = stream_socket(Domain::for_address(addr), Some(Protocol::TCP))?;
    Ok(TcpStream::from_std(socket.into()))
}

/// Binds a client socket to `local` before it connects (errors are `bind(2)`'s:
/// `EADDRNOTAVAIL`, `EADDRINUSE`, `EACCES`, …).
pub fn bind_local(sock: &impl AsFd, local: SocketAddr) -> io::Result<()> {
    SockRef::from(sock).bind(&local.into())
}

/// Starts a non-blocking connect of `sock` to `addr`. `Ok` means started (or done): wait for
/// the stream to be writable, then check `take_error`.
pub fn connect_tcp(sock: &impl AsFd, addr: SocketAddr) -> io::Result<()> {
    match SockRef::from(sock).connect(&addr.into()) {
        Err(e) if !in_progress(&e) => Err(e),
        _ => Ok(()),
    }
}

/// A non-blocking Unix stream socket, not yet connected (see [`connect_unix_socket`]).
pub fn unix_client() -> io::Result<UnixStream> {
    Ok(UnixStream::from_std(
        stream_socket(Domain::UNIX, None)?.into(),
    ))
}

/// Connects `sock` to the Unix socket at `path` without blocking. Unix connects finish at
/// once: `ENOENT` (no such file), `ECONNREFUSED` (nobody listening), `EAGAIN` (backlog
/// full, on Linux) come back here. After `EAGAIN` the socket stays unconnected and the
/// connect may be tried again on it.
pub fn connect_unix_socket(sock: &impl AsFd, path: &Path) -> io::Result<()> {
    match SockRef::from(sock).connect(&SockAddr::unix(path)?) {
        Err(e) if !in_progress(&e) => Err(e),
        _ => Ok(()),
    }
}

/// [`unix_client`] and [`connect_unix_socket`] in one: a socket connected to `path`.
pub fn connect_unix(path: &Path) -> io::Result<UnixStream> {
    let sock = unix_client()?;
    connect_unix_socket(&sock, path)?;
    Ok(sock)
}

/// Sets `TCP_NODELAY` (Nagle's algorithm off when `true`).
pub fn set_nodelay(sock: &impl AsFd, on: bool) -> io::Result<()> {
    SockRef::from(sock).set_tcp_nodelay(on)
}

/// `SO_LINGER` with a zero timeout: closing the socket then discards unsent data and sends
/// RST instead of FIN (Node's `resetAndDestroy()`).
pub fn set_linger_zero(sock: &impl AsFd) -> io::Result<()> {
    SockRef::from(sock).set_linger(Some(std::time::Duration::ZERO))
}

/// Reads `TCP_NODELAY`.
pub fn nodelay(sock: &impl AsFd) -> io::Result<bool> {
    SockRef::from(sock).tcp_nodelay()
}

/// TCP keepalive as Node's `setKeepAlive(enable, initialDelay)` sets it through libuv:
///
/// - `None`: `SO_KEEPALIVE` off.
/// - `Some(Duration::ZERO)`: on, with the system's idle time.
/// - `Some(idle)`: on; probes start after `idle` without traffic (`TCP_KEEPIDLE`, on macOS
///   `TCP_KEEPALIVE`; whole seconds, rounded up), then every 1 s, and the connection is
///   dropped after 10 unanswered probes (libuv's interval and count).
pub fn set_keepalive(sock: &impl AsFd, idle: Option<Duration>) -> io::Result<()> {
    let socket = SockRef::from(sock);
    match idle {
        None => socket.set_keepalive(false),
        Some(idle) if idle.is_zero() => socket.set_keepalive(true),
        Some(idle) => {
            let secs = idle.as_secs() + u64::from(idle.subsec_nanos() > 0);
            let params = TcpKeepalive::new()
                .with_time(Duration::from_secs(secs))
                .with_interval(Duration::from_secs(1))
                .with_retries(10);
            socket.set_tcp_keepalive(&params)
        }
    }
}

/// The keepalive idle time if `SO_KEEPALIVE` is on, else `None` (for tests and stats).
pub fn keepalive_idle(sock: &impl AsFd) -> io::Result<Option<Duration>> {
    let socket = SockRef::from(sock);
    if !socket.keepalive()? {
        return Ok(None);
    }
    socket.tcp_keepalive_time().map(Some)
}

/// Sets `SO_SNDBUF` (the kernel may round it; Linux doubles it).
pub fn set_send_buffer(sock: &impl AsFd, bytes: usize) -> io::Result<()> {
    SockRef::from(sock).set_send_buffer_size(bytes)
}

/// Reads `SO_SNDBUF`.
pub fn send_buffer(sock: &impl AsFd) -> io::Result<usize> {
    SockRef::from(sock).send_buffer_size()
}

/// Sets `SO_RCVBUF` (the kernel may round it; Linux doubles it).
pub fn set_recv_buffer(sock: &impl AsFd, bytes: usize) -> io::Result<()> {
    SockRef::from(sock).set_recv_buffer_size(bytes)
}

/// Reads `SO_RCVBUF`.
pub fn recv_buffer(sock: &impl AsFd) -> io::Result<usize> {
    SockRef::from(sock).recv_buffer_size()
}

/// Makes writes to a socket whose peer is gone fail with `EPIPE` instead of raising
/// `SIGPIPE`: sets `SO_NOSIGPIPE` on macOS; a no-op on Linux, where [`send`] and
/// [`send_vectored`] pass `MSG_NOSIGNAL` instead. Call it on accepted sockets.
pub fn set_nosigpipe(sock: &impl AsFd) -> io::Result<()> {
    #[cfg(target_os = "macos")]
    SockRef::from(sock).set_nosigpipe(true)?;
    #[cfg(target_os = "linux")]
    let _ = sock;
    Ok(())
}

/// Sets the process's `SIGPIPE` disposition to "ignore" if it is still the default
/// ("terminate"); an installed handler (Node's `process.on('SIGPIPE')`) is left alone.
/// Node and Rust's `main` already ignore `SIGPIPE`; this is for other embedders. Not
/// atomic with respect to another thread changing the disposition at the same moment.
pub fn ignore_sigpipe() -> io::Result<()> {
    // SAFETY: `sigaction` is plain old data; all-zero is a valid value to be overwritten.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries; `old` is a valid, writable `sigaction`.
    if unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if old.sa_sigaction != libc::SIG_DFL {
        return Ok(());
    }
    // SAFETY: installs the predefined `SIG_IGN` disposition; no handler code is involved.
    if unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) } == libc::SIG_ERR {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `buf` on a connected socket, never raising `SIGPIPE`.
pub fn send(sock: &impl AsFd, buf: &[u8]) -> io::Result<usize> {
    SockRef::from(sock).send_with_flags(buf, SEND_FLAGS)
}

/// Sends the buffers in order with one call (`send` for one buffer, else `sendmsg` with at
/// most [`IOV_MAX`] of them), never raising `SIGPIPE`. Returns the bytes sent (possibly fewer
/// than offered).
pub fn send_vectored(sock: &impl AsFd, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    if let [one] = bufs {
        // One buffer (the common answer): `send` skips `sendmsg`'s copy of the header and
        // the iovec array from user space, ~0.1 µs a call.
        return send(sock, one);
    }
    let bufs = &bufs[..bufs.len().min(IOV_MAX)];
    SockRef::from(sock).send_vectored_with_flags(bufs, SEND_FLAGS)
}

/// Bytes written to a connected socket that its peer has not taken yet (unsent, or sent and
/// not acknowledged): `SIOCOUTQ` on Linux, `SO_NWRITE` on macOS. It falls while the peer
/// reads, even when no room opens for more writes: progress of a slow reader.
pub fn unsent_bytes(sock: &impl AsFd) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let fd = sock.as_fd().as_raw_fd();
    let mut n: libc::c_int = 0;
    #[cfg(target_os = "linux")]
    // SAFETY: TIOCOUTQ (= SIOCOUTQ on sockets) writes one int through the pointer given.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCOUTQ, &mut n) };
    #[cfg(target_os = "macos")]
    let rc = {
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        let value = (&mut n as *mut libc::c_int).cast();
        // SAFETY: SO_NWRITE writes one int into `value`, whose size `len` gives.
        unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_NWRITE, value, &mut len) }
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n.max(0) as usize)
}

/// The identity of `path` if it is a socket, `None` if it exists but is something else;
/// errors from `lstat` (`NotFound` when nothing is there) are returned.
pub fn socket_file_id(path: &Path) -> io::Result<Option<FileId>> {
    let meta = std::fs::symlink_metadata(path)?;
    Ok(meta.file_type().is_socket().then(|| FileId {
        dev: meta.dev(),
        ino: meta.ino(),
    }))
}

/// Whether `SO_REUSEPORT` spreads new connections over the sockets bound to one port
/// (Linux); on macOS it does not, so shards must share one listener there.
pub fn supports_reuseport_balancing() -> bool {
    cfg!(target_os = "linux")
}
