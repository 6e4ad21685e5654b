//! The backend of every platform but Linux and macOS: each call fails with
//! [`io::ErrorKind::Unsupported`] and [`UNSUPPORTED`] as its message, and capability
//! getters answer `false`. Never a panic, never a silent success.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::Duration;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

use super::{FileId, TcpBind, UNSUPPORTED};

/// Most buffers one [`send_vectored`] would pass on (it passes none here).
pub const IOV_MAX: usize = 1024;

fn unsupported<T>() -> io::Result<T> {
    Err(io::Error::new(io::ErrorKind::Unsupported, UNSUPPORTED))
}

/// Unsupported: see the module docs.
pub fn bind_tcp(_addr: SocketAddr, _opts: &TcpBind) -> io::Result<TcpListener> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn claim_tcp_port(_addr: SocketAddr, _ipv6_only: bool) -> io::Result<SocketAddr> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn bind_unix(_path: &Path, _backlog: u32) -> io::Result<UnixListener> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn tcp_client(_addr: SocketAddr) -> io::Result<TcpStream> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn bind_local(_sock: &impl AsFd, _local: SocketAddr) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn connect_tcp(_sock: &impl AsFd, _addr: SocketAddr) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn unix_client() -> io::Result<UnixStream> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn connect_unix_socket(_sock: &impl AsFd, _path: &Path) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn connect_unix(_path: &Path) -> io::Result<UnixStream> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn set_nodelay(_sock: &impl AsFd, _on: bool) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn set_linger_zero(_sock: &impl AsFd) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn nodelay(_sock: &impl AsFd) -> io::Result<bool> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn set_keepalive(_sock: &impl AsFd, _idle: Option<Duration>) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn keepalive_idle(_sock: &impl AsFd) -> io::Result<Option<Duration>> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn set_send_buffer(_sock: &impl AsFd, _bytes: usize) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn send_buffer(_sock: &impl AsFd) -> io::Result<usize> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn set_recv_buffer(_sock: &impl AsFd, _bytes: usize) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn recv_buffer(_sock: &impl AsFd) -> io::Result<usize> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn set_nosigpipe(_sock: &impl AsFd) -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn ignore_sigpipe() -> io::Result<()> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn send(_sock: &impl AsFd, _buf: &[u8]) -> io::Result<usize> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn send_vectored(_sock: &impl AsFd, _bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn unsent_bytes(_sock: &impl AsFd) -> io::Result<usize> {
    unsupported()
}

/// Unsupported: see the module docs.
pub fn socket_file_id(_path: &Path) -> io::Result<Option<FileId>> {
    unsupported()
}

/// `false`: nothing is supported here.
pub fn supports_reuseport_balancing() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_unsupported<T: std::fmt::Debug>(r: io::Result<T>) {
        let e = r.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        assert_eq!(e.to_string(), "netpoll supports Linux and macOS");
        let n = crate::error::NetError::from_io(&e, "listen");
        assert_eq!(n.code, crate::error::code::ERR_UNSUPPORTED_PLATFORM);
    }

    #[test]
    fn every_entry_fails_clearly() {
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let path = Path::new("/tmp/never");
        let fd = std::fs::File::open("/dev/null").unwrap();
        let opts = TcpBind {
            backlog: 1,
            reuse_port: false,
            ipv6_only: false,
        };
        is_unsupported(bind_tcp(addr, &opts));
        is_unsupported(claim_tcp_port(addr, false));
        is_unsupported(bind_unix(path, 1));
        is_unsupported(tcp_client(addr));
        is_unsupported(bind_local(&fd, addr));
        is_unsupported(connect_tcp(&fd, addr));
        is_unsupported(unix_client());
        is_unsupported(connect_unix_socket(&fd, path));
        is_unsupported(connect_unix(path));
        is_unsupported(set_nodelay(&fd, true));
        is_unsupported(set_linger_zero(&fd));
        is_unsupported(nodelay(&fd));
        is_unsupported(set_keepalive(&fd, None));
        is_unsupported(keepalive_idle(&fd));
        is_unsupported(set_send_buffer(&fd, 1));
        is_unsupported(send_buffer(&fd));
        is_unsupported(set_recv_buffer(&fd, 1));
        is_unsupported(recv_buffer(&fd));
        is_unsupported(set_nosigpipe(&fd));
        is_unsupported(ignore_sigpipe());
        is_unsupported(send(&fd, b"x"));
        is_unsupported(send_vectored(&fd, &[IoSlice::new(b"x")]));
        is_unsupported(socket_file_id(path));
        is_unsupported(unsent_bytes(&fd));
        assert!(!supports_reuseport_balancing());
        assert_eq!(IOV_MAX, 1024);
    }
}
