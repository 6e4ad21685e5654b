//! The TLS client stream: a non-blocking rustls client over a plain stream (TCP or Unix, see
//! `target.rs`), with `Read`/`Write` semantics the edge-triggered drivers rely on.
//!
//! - `read` fills the caller's buffer from decrypted records, reading the socket until the
//!   buffer is full or the socket is drained (it said `WouldBlock`, or a read of it came back
//!   short: the edge-triggered poll reports later bytes, so no `read` is spent to hear
//!   `WouldBlock`); so, as with a plain socket, a short read means the socket was drained.
//! - `write` first writes any TLS bytes still queued (`WouldBlock` while they don't fit), then
//!   encrypts the caller's bytes and writes what the socket takes; the rest stays queued
//!   until the next `write` or `flush` (`flush` says `WouldBlock` while bytes remain).
//! - Handshake messages produced by reading are written at once.
//! - Dropping the stream sends `close_notify` (best effort) before the socket closes.

use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind};

/// The process's TLS client, installed once from the command line.
struct Client {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

static CLIENT: OnceLock<Client> = OnceLock::new();

/// Makes every later connection a TLS one with `config`, verifying `name`.
pub fn install(config: Arc<ClientConfig>, name: ServerName<'static>) {
    let _ = CLIENT.set(Client { config, name });
}

/// Whether connections use TLS.
pub fn enabled() -> bool {
    CLIENT.get().is_some()
}

/// A TLS client over the just-connected `inner` when TLS is installed; else `inner` back.
pub fn wrap<S: Read + Write>(inner: S) -> io::Result<Result<TlsStream<S>, S>> {
    let Some(client) = CLIENT.get() else {
        return Ok(Err(inner));
    };
    let conn = ClientConnection::new(client.config.clone(), client.name.clone())
        .map_err(io::Error::other)?;
    Ok(Ok(TlsStream { inner, conn }))
}

/// A TLS client connection over a plain stream.
pub struct TlsStream<S: Read + Write> {
    /// The TCP or Unix stream.
    pub inner: S,
    conn: ClientConnection,
}

impl<S: Read + Write> TlsStream<S> {
    /// Whether the handshake resumed a session.
    pub fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Writes queued TLS bytes until none are left (`Ok`) or the socket is full (`WouldBlock`).
    fn push(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.inner)? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Like [`push`](Self::push), but a full socket is not an error.
    fn push_some(&mut self) -> io::Result<()> {
        match self.push() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            r => r,
        }
    }

    /// Reads once from the socket and decrypts; returns the bytes read (0: the socket's end)
    /// and whether the read came back short (the socket is drained).
    fn read_socket(&mut self) -> io::Result<(usize, bool)> {
        let mut socket = Drained {
            inner: &mut self.inner,
            short: false,
        };
        let n = self.conn.read_tls(&mut socket)?;
        let short = socket.short;
        if let Err(e) = self.conn.process_new_packets() {
            let _ = self.push(); // the alert rustls queued
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        self.push_some()?;
        Ok((n, short))
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        loop {
            match self.conn.reader().read(&mut buf[n..]) {
                Ok(0) => return Ok(n), // close_notify received (or `buf` is empty)
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if n > 0 && e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
                Err(e) => return Err(e),
            }
            if n == buf.len() {
                return Ok(n);
            }
            match self.read_socket() {
                // Drained: deliver what the last read decrypted, then stop.
                Ok((k, true)) if k > 0 => {
                    match self.conn.reader().read(&mut buf[n..]) {
                        Ok(0) => return Ok(n), // close_notify
                        Ok(k) => n += k,
                        Err(_) => {} // nothing decrypted (a partial record, a ticket, ...)
                    }
                    return if n > 0 {
                        Ok(n)
                    } else {
                        Err(io::ErrorKind::WouldBlock.into())
                    };
                }
                // More may wait; or the end: the next pass reports close_notify (0) or
                // truncation (an error).
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
        }
    }
}

/// The socket as rustls reads it, noting a read that came back short.
struct Drained<'a, S> {
    inner: &'a mut S,
    short: bool,
}

impl<S: Read> Read for Drained<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.short = n < buf.len();
        Ok(n)
    }
}

impl<S: Read + Write> Write for TlsStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push()?;
        let n = self.conn.writer().write(buf)?;
        if n == 0 && !buf.is_empty() {
            // Plaintext queued before the handshake completed fills rustls' buffer.
            return Err(io::ErrorKind::WouldBlock.into());
        }
        self.push_some()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push()
    }
}

impl<S: Read + Write> Drop for TlsStream<S> {
    fn drop(&mut self) {
        self.conn.send_close_notify();
        let _ = self.push();
    }
}
