//! [`Listener`]: a bound, listening, non-blocking TCP or Unix socket.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mio::event::Source;
use mio::net::{TcpListener, UnixListener};
use mio::{Interest, Registry, Token};

use crate::addr::{resolve, NetAddr, Network};
use crate::error::{code, NetError, Result};
use crate::stream::Stream;
use crate::sys::{self, FileId};
use crate::tls::ServerTls;

/// The default `listen(2)` backlog: 1024 (Node uses 511; the kernel caps either at
/// `net.core.somaxconn`, 4096 on current Linux, 128 on macOS).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// What [`Listener::bind`] does when a Unix socket path already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StalePolicy {
    /// The default. If the path is a socket that nobody listens on (a connect to it gets
    /// `ECONNREFUSED`: the file a crashed server left behind), unlink it and bind. If a
    /// server answers, or the path is anything but a socket, fail with `EADDRINUSE`: a
    /// regular file is never deleted.
    #[default]
    RemoveIfDead,
    /// Never touch an existing path: fail with `EADDRINUSE`.
    Fail,
}

/// How to bind a [`Listener`]. `ListenOptions::default()` is what Node's `listen` does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenOptions {
    /// Pending-connection queue length for `listen(2)`. Default [`DEFAULT_BACKLOG`] (1024).
    pub backlog: u32,
    /// Sets `SO_REUSEPORT`, so that [`Listener::bind_shard_copy`] can bind more sockets to
    /// the same port (one per shard). Default `false`.
    pub reuse_port: bool,
    /// For IPv6 addresses: accept IPv6 only (`IPV6_V6ONLY`); `false` makes `::` dual-stack.
    /// Default `false`, as Node's `ipv6Only`.
    pub ipv6_only: bool,
    /// What to do with an existing Unix socket path. Default [`StalePolicy::RemoveIfDead`].
    pub unix_stale: StalePolicy,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            ipv6_only: false,
            unix_stale: StalePolicy::RemoveIfDead,
        }
    }
}

#[derive(Debug)]
enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// A listening socket, non-blocking, registered with a shard as a [`Source`].
///
/// # Unix socket files
///
/// A Unix listener creates its socket file at bind and removes it when dropped, but only if
/// the path still names the very file it created (same device and inode, recorded at bind):
/// a file that another process put there since is left alone. An existing path at bind is
/// handled by [`ListenOptions::unix_stale`] (see [`StalePolicy`]): by default a dead socket
/// file is replaced, a live one or a non-socket is `EADDRINUSE`. The liveness check connects
/// to the path; a live server sees that connection accepted and closed at once.
///
/// # Sharding
///
/// With `reuse_port`, [`Listener::bind_shard_copy`] binds another socket to the same
/// address, so each shard accepts on its own socket; the kernel spreads connections over
/// them where [`sys::supports_reuseport_balancing`] (Linux). The first socket still fails
/// with `EADDRINUSE` when the port is taken, reuse_port or not.
#[derive(Debug)]
pub struct Listener {
    socket: Socket,
    network: Network,
    local: NetAddr,
    opts: ListenOptions,
    /// The socket file we created and must remove: its path and identity.
    unix_file: Option<(PathBuf, FileId)>,
    /// Accepted connections speak TLS with this context ([`Listener::set_tls`]).
    tls: Option<Arc<ServerTls>>,
}

impl Listener {
    /// Binds and listens on `address` (see [`resolve`] for the forms of each network).
    ///
    /// A host that resolves to several addresses binds the first that works; the next is
    /// tried only when the first's family is unavailable (`EAFNOSUPPORT`,
    /// `EADDRNOTAVAIL`, `EPROTONOSUPPORT`), so `":port"` falls back from `::` to
    /// `0.0.0.0` on hosts without IPv6. Failures are `NetError`s with syscall `"listen"`
    /// and the address and port (`EADDRINUSE`, `EACCES`, …); no descriptor is left open.
    /// Host names are resolved here, which may block (see [`resolve`]).
    pub fn bind(network: Network, address: &str, opts: ListenOptions) -> Result<Listener> {
        let addrs = resolve(network, address)?;
        let mut first_err = None;
        for addr in &addrs {
            let result = match addr {
                // `SO_REUSEPORT` lets any socket of the same user join the port, even one
                // that is in use; claiming the port first gives `EADDRINUSE` as usual.
                NetAddr::Inet(a) if opts.reuse_port => sys::claim_tcp_port(*a, opts.ipv6_only)
                    .and_then(|a| Listener::bind_tcp(network, a, &opts)),
                NetAddr::Inet(a) => Listener::bind_tcp(network, *a, &opts),
                NetAddr::Unix(p) => Listener::bind_unix(p, &opts),
            };
            match result {
                Ok(l) => return Ok(l),
                Err(e) => {
                    let family_missing = matches!(
                        e.raw_os_error(),
                        Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
                    );
                    let e = NetError::from_io(&e, "listen").with_addr(addr);
                    if !family_missing {
                        return Err(e);
                    }
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| {
            NetError::new(
                code::ERR_INVALID_ADDRESS,
                format!("no address to bind: {address}"),
            )
        }))
    }

    fn bind_tcp(
        network: Network,
        addr: std::net::SocketAddr,
        opts: &ListenOptions,
    ) -> io::Result<Listener> {
        let socket = sys::bind_tcp(
            addr,
            &sys::TcpBind {
                backlog: opts.backlog,
                reuse_port: opts.reuse_port,
                ipv6_only: opts.ipv6_only,
            },
        )?;
        let local = NetAddr::Inet(socket.local_addr()?);
        Ok(Listener {
            socket: Socket::Tcp(socket),
            network,
            local,
            opts: opts.clone(),
            unix_file: None,
            tls: None,
        })
    }

    fn bind_unix(path: &Path, opts: &ListenOptions) -> io::Result<Listener> {
        let socket = match sys::bind_unix(path, opts.backlog) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => {
                if opts.unix_stale == StalePolicy::RemoveIfDead && remove_if_dead(path)? {
                    sys::bind_unix(path, opts.backlog)?
                } else {
                    return Err(e);
                }
            }
            other => other?,
        };
        // Recorded right after bind: the file is ours unless replaced in between (then we
        // would only ever decline to remove someone else's file, never remove it). A file
        // we cannot identify is never removed.
        let id = sys::socket_file_id(path).ok().flatten();
        Ok(Listener {
            socket: Socket::Unix(socket),
            network: Network::Unix,
            local: NetAddr::Unix(path.to_path_buf()),
            opts: opts.clone(),
            unix_file: id.map(|id| (path.to_path_buf(), id)),
            tls: None,
        })
    }

    /// Makes the connections accepted from now on TLS servers with `tls` (the shard runs the
    /// handshake and reports `accepted` only once it completed).
    pub fn set_tls(&mut self, tls: Arc<ServerTls>) {
        self.tls = Some(tls);
    }

    /// The TLS settings of accepted connections, if they speak TLS.
    pub fn tls(&self) -> Option<&Arc<ServerTls>> {
        self.tls.as_ref()
    }

    /// Binds another socket to this listener's address and port (for per-shard accept).
    /// Needs a TCP listener bound with `reuse_port`; otherwise `EINVAL`.
    pub fn bind_shard_copy(&self) -> Result<Listener> {
        let einval = |why: &str| {
            let mut e = NetError::new("EINVAL", format!("bind_shard_copy: {why}"));
            e.errno = Some(libc::EINVAL);
            e.with_addr(&self.local)
        };
        match self.local {
            NetAddr::Inet(a) if self.opts.reuse_port => {
                let mut copy = Listener::bind_tcp(self.network, a, &self.opts)
                    .map_err(|e| NetError::from_io(&e, "listen").with_addr(&self.local))?;
                copy.tls = self.tls.clone();
                Ok(copy)
            }
            NetAddr::Inet(_) => Err(einval("the listener was bound without reuse_port")),
            NetAddr::Unix(_) => Err(einval("a Unix socket cannot share its path")),
        }
    }

    /// Accepts one pending connection: the stream (non-blocking, no `SIGPIPE`) and the
    /// peer's address (`None` for Unix clients, which have no name). `WouldBlock` when
    /// the queue is empty; `EMFILE`/`ENFILE` when out of descriptors (back off, see
    /// [`sys::is_fd_exhaustion`]).
    pub fn accept(&self) -> io::Result<(Stream, Option<NetAddr>)> {
        let (stream, peer) = match &self.socket {
            Socket::Tcp(l) => {
                let (s, peer) = l.accept()?;
                (Stream::Tcp(s), Some(NetAddr::Inet(peer)))
            }
            Socket::Unix(l) => {
                let (s, peer) = l.accept()?;
                let peer = peer.as_pathname().map(|p| NetAddr::Unix(p.to_path_buf()));
                (Stream::Unix(s), peer)
            }
        };
        sys::set_nosigpipe(&stream)?;
        Ok((stream, peer))
    }

    /// The bound address, with the real port when bound to port 0.
    pub fn local_addr(&self) -> NetAddr {
        self.local.clone()
    }

    /// The network it was bound on.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The options it was bound with.
    pub fn options(&self) -> &ListenOptions {
        &self.opts
    }
}

/// Removes the socket file at `path` if no one listens on it. `Ok(false)`: it is live, or
/// not a socket, and was left alone.
fn remove_if_dead(path: &Path) -> io::Result<bool> {
    match sys::socket_file_id(path) {
        Ok(Some(_)) => {}
        Ok(None) => return Ok(false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(e),
    }
    match sys::connect_unix(path) {
        Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(true),
        _ => return Ok(false),
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(true),
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some((path, id)) = self.unix_file.take() {
            if matches!(sys::socket_file_id(&path), Ok(Some(now)) if now == id) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.socket {
            Socket::Tcp(l) => l.as_fd(),
            Socket::Unix(l) => l.as_fd(),
        }
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl Source for Listener {
    fn register(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(l) => l.register(registry, token, interests),
            Socket::Unix(l) => l.register(registry, token, interests),
        }
    }

    fn reregister(
        &mut self,
        registry: &Registry,
        token: Token,
        interests: Interest,
    ) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(l) => l.reregister(registry, token, interests),
            Socket::Unix(l) => l.reregister(registry, token, interests),
        }
    }

    fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match &mut self.socket {
            Socket::Tcp(l) => l.deregister(registry),
            Socket::Unix(l) => l.deregister(registry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let o = ListenOptions::default();
        assert_eq!(o.backlog, 1024);
        assert!(!o.reuse_port && !o.ipv6_only);
        assert_eq!(o.unix_stale, StalePolicy::RemoveIfDead);
    }

    #[test]
    fn port_zero_reports_the_real_port() {
        let l = Listener::bind(Network::Tcp4, "127.0.0.1:0", ListenOptions::default()).unwrap();
        assert_ne!(l.local_addr().port(), Some(0));
        assert_eq!(l.network(), Network::Tcp4);
        assert_eq!(l.options().backlog, DEFAULT_BACKLOG);
        assert_eq!(l.accept().unwrap_err().kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn shard_copy_needs_reuse_port() {
        let l = Listener::bind(Network::Tcp4, "127.0.0.1:0", ListenOptions::default()).unwrap();
        let e = l.bind_shard_copy().unwrap_err();
        assert_eq!(e.code, "EINVAL");
        assert_eq!(e.port, l.local_addr().port());
    }
}
