//! Where the server listens (`tcp://host:port`, `unix://path`) and a non-blocking client
//! stream to it that is either kind, with TLS on top when it is installed (see
//! [`crate::tls_client`]).

use std::io::{self, IoSlice, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use mio::event::Source;
use mio::net::{TcpStream, UnixStream};
use mio::{Interest, Registry, Token};

use crate::tls_client::TlsStream;

/// A server address.
#[derive(Clone, Debug)]
pub enum Target {
    /// `tcp://host:port` (also `tcp4://`, `tcp6://`), resolved once.
    Tcp(SocketAddr),
    /// `unix://path`.
    Unix(PathBuf),
}

impl Target {
    /// Parses `tcp://host:port` or `unix://path`.
    pub fn parse(s: &str) -> Result<Target, String> {
        if let Some(path) = s.strip_prefix("unix://") {
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        let hostport = ["tcp://", "tcp4://", "tcp6://"]
            .iter()
            .find_map(|p| s.strip_prefix(p))
            .ok_or_else(|| format!("target {s:?} is not tcp://host:port or unix://path"))?;
        let addr = hostport
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {hostport:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("{hostport:?} resolves to no address"))?;
        Ok(Target::Tcp(addr))
    }

    /// Starts a non-blocking connect (TCP with `TCP_NODELAY`). The stream is usable once it is
    /// writable and [`Stream::connected`] says so.
    pub fn connect(&self) -> io::Result<Stream> {
        Ok(match crate::tls_client::wrap(self.connect_plain()?)? {
            Ok(tls) => Stream::Tls(Box::new(tls)),
            Err(plain) => plain,
        })
    }

    fn connect_plain(&self) -> io::Result<Stream> {
        match self {
            Target::Tcp(addr) => {
                let s = TcpStream::connect(*addr)?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Target::Unix(path) => Ok(Stream::Unix(UnixStream::connect(path)?)),
        }
    }
}

/// A non-blocking client stream, TCP or Unix, plain or TLS.
pub enum Stream {
    /// A TCP stream.
    Tcp(TcpStream),
    /// A Unix-domain stream.
    Unix(UnixStream),
    /// TLS over a TCP or Unix stream.
    Tls(Box<TlsStream<Stream>>),
}

impl Stream {
    /// After a writable event: `Ok(true)` when the connect finished, `Ok(false)` while it is
    /// still in progress, `Err` when it failed.
    pub fn connected(&self) -> io::Result<bool> {
        let (err, peer) = match self {
            Stream::Tls(s) => return s.inner.connected(),
            Stream::Tcp(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
            Stream::Unix(s) => (s.take_error()?, s.peer_addr().map(|_| ())),
        };
        if let Some(e) = err {
            return Err(e);
        }
        match peer {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Writes what a TLS stream still holds, as far as the socket takes it (a no-op on plain
    /// streams). Drivers call it after their writes so no record waits for a later event.
    pub fn flush_some(&mut self) -> io::Result<()> {
        match self.flush() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            r => r,
        }
    }

    /// Whether this is a TLS stream whose handshake resumed a session.
    pub fn tls_resumed(&self) -> bool {
        matches!(self, Stream::Tls(s) if s.resumed())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
        }
    }

    /// Plain streams have nothing buffered; TLS writes its queued records (`WouldBlock` while
    /// some remain).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

impl Source for Stream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.register(r, t, i),
            Stream::Unix(s) => s.register(r, t, i),
            Stream::Tls(s) => s.inner.register(r, t, i),
        }
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.reregister(r, t, i),
            Stream::Unix(s) => s.reregister(r, t, i),
            Stream::Tls(s) => s.inner.reregister(r, t, i),
        }
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.deregister(r),
            Stream::Unix(s) => s.deregister(r),
            Stream::Tls(s) => s.inner.deregister(r),
        }
    }
}
