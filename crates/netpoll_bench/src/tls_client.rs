//! The TLS client stream: a non-blocking rustls client over a plain stream (TCP or Unix, see
//! `target.rs`), with `Read`/`Write` semantics the edge-triggered drivers rely on.
//!
//! - `read` fills the caller's buffer from decrypted records, reading the socket (64 KiB at a
//!   time, into one buffer per thread) until the buffer is full or the socket is drained (it
//!   said `WouldBlock`, or a read of it came back short: the edge-triggered poll reports later
//!   bytes, so no `read` is spent to hear `WouldBlock`); so, as with a plain socket, a short
//!   read means the socket was drained. Ciphertext rustls has not taken yet (the caller's
//!   buffer filled first) waits in the stream, which holds no buffer otherwise.
//! - `write` first writes any TLS bytes still queued (`WouldBlock` while they don't fit), then
//!   encrypts the caller's bytes and writes what the socket takes; the rest stays queued
//!   until the next `write` or `flush` (`flush` says `WouldBlock` while bytes remain).
//! - Handshake messages produced by reading are written at once.
//! - Dropping the stream sends `close_notify` (best effort) before the socket closes.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, HandshakeKind};

/// Bytes read from the socket at once (rustls itself would read 4 KiB per call).
const READ_SIZE: usize = 64 * 1024;

thread_local! {
    /// Where this thread's TLS streams read their sockets: one buffer, not one per connection.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_SIZE]);
}

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
    Ok(Ok(TlsStream {
        inner,
        conn,
        ciphertext: Vec::new(),
        fed: 0,
    }))
}

/// A TLS client connection over a plain stream.
pub struct TlsStream<S: Read + Write> {
    /// The TCP or Unix stream.
    pub inner: S,
    conn: ClientConnection,
    /// Ciphertext read from the socket; rustls has taken its first `fed` bytes. Empty, with
    /// no allocation, whenever rustls took it all.
    ciphertext: Vec<u8>,
    fed: usize,
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

    /// Gives rustls the next ciphertext of `data` (one `read_tls`, at most 4 KiB) and
    /// decrypts it; returns the bytes taken. Handshake messages it produced are written.
    fn feed(&mut self, data: &[u8]) -> io::Result<usize> {
        let taken = self.conn.read_tls(&mut &data[..])?;
        if taken == 0 {
            return Err(io::Error::other("rustls took no ciphertext"));
        }
        if let Err(e) = self.conn.process_new_packets() {
            let _ = self.push(); // the alert rustls queued
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
        self.push_some()?;
        Ok(taken)
    }

    /// Decrypted bytes into `out`: `Some(n)` (0: none waiting), `None` after `close_notify`;
    /// an error after a truncation or a failure.
    fn plaintext(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        match self.conn.reader().read(out) {
            Ok(0) if !out.is_empty() => Ok(None),
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Some(0)),
            Err(e) => Err(e),
        }
    }

    /// One read of the socket (up to [`READ_SIZE`]) into `ciphertext`; returns the bytes read
    /// (0: the end, told to rustls).
    fn read_socket(&mut self) -> io::Result<usize> {
        let got = SCRATCH.with_borrow_mut(|scratch| {
            let got = self.inner.read(scratch)?;
            self.ciphertext.extend_from_slice(&scratch[..got]);
            io::Result::Ok(got)
        })?;
        if got == 0 {
            self.conn.read_tls(&mut io::empty())?; // rustls now knows of the EOF
        }
        Ok(got)
    }
}

impl<S: Read + Write> Read for TlsStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        let mut drained = false;
        loop {
            match self.plaintext(&mut buf[n..]) {
                Ok(Some(k)) => n += k,
                Ok(None) => return Ok(n),
                Err(e) if n > 0 && e.kind() == io::ErrorKind::UnexpectedEof => return Ok(n),
                Err(e) => return Err(e),
            }
            if n == buf.len() {
                return Ok(n);
            }
            if self.fed < self.ciphertext.len() {
                let data = std::mem::take(&mut self.ciphertext);
                let taken = self.feed(&data[self.fed..]);
                self.ciphertext = data;
                self.fed += taken?;
                if self.fed == self.ciphertext.len() {
                    self.ciphertext = Vec::new(); // an idle connection keeps no buffer
                    self.fed = 0;
                }
                continue;
            }
            if drained {
                return if n > 0 {
                    Ok(n)
                } else {
                    Err(io::ErrorKind::WouldBlock.into())
                };
            }
            match self.read_socket() {
                // The end: the next pass reports close_notify or truncation.
                Ok(0) => {}
                // A short read drained the socket: the edge-triggered poll reports more.
                Ok(got) => drained = got < READ_SIZE,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && n > 0 => return Ok(n),
                Err(e) => return Err(e),
            }
        }
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
