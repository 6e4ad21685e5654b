//! The TLS state a connection carries beside its socket (see `shard/tls.rs` for what the
//! shard does with it).

use std::io::{self, Read};

use super::conn::Conn;
use crate::error::NetError;
use crate::event::ListenerId;
use crate::timer::TimerId;
use crate::tls::TlsSession;

/// Whom a connection still in its handshake is reported to when it completes or fails.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pending {
    /// Accepted on `listener`; `origin` as in [`EventSink::accepted_from`].
    Accept { listener: ListenerId, origin: u32 },
    /// A dial: `connected`.
    Dial,
}

/// The TLS state of one connection.
pub(crate) struct TlsConn {
    pub session: TlsSession,
    /// Ciphertext read from the socket and not yet decrypted (the sink was full); empty, with
    /// no allocation, otherwise.
    pub input: Vec<u8>,
    /// Set until the handshake completed and the owner was told.
    pub pending: Option<Pending>,
    /// The handshake timer.
    pub timer: Option<TimerId>,
    /// The owner has a write waiting for `flushed`.
    pub owes_flush: bool,
}

impl TlsConn {
    pub fn new(session: TlsSession, pending: Pending) -> Box<TlsConn> {
        Box::new(TlsConn {
            session,
            input: Vec::new(),
            pending: Some(pending),
            timer: None,
            owes_flush: false,
        })
    }
}

/// Most ciphertext read to look for the peer's alert after a failed write.
const ALERT_READ_LIMIT: usize = 64 * 1024;

/// The error of a write that failed with `e`. When the peer is gone (`EPIPE`,
/// `ECONNRESET`) it may have sent an alert first, e.g. a server that rejected our client
/// certificate after our side of the TLS 1.3 handshake was done, or a client that refused the
/// server's: that alert is the error (as OpenSSL reports it), not the reset. The bytes still
/// in the socket (Linux hands out received data before a reset's error) are decrypted into a
/// scratch buffer, whose plaintext is dropped: the connection is failing anyway.
pub(super) fn write_error(conn: &mut Conn, e: &io::Error) -> NetError {
    let plain_error = NetError::from_io(e, "write");
    if !matches!(e.raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET)) {
        return plain_error;
    }
    let Some(tls) = conn.tls.as_deref_mut() else {
        return plain_error;
    };
    let mut ciphertext = std::mem::take(&mut tls.input);
    let mut chunk = vec![0u8; 16 * 1024];
    while ciphertext.len() < ALERT_READ_LIMIT {
        match conn.stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => ciphertext.extend_from_slice(&chunk[..n]),
        }
    }
    let mut rest = &ciphertext[..];
    while !rest.is_empty() {
        match tls.session.decrypt(rest, &mut chunk) {
            Ok(d) if d.consumed == 0 && d.written == 0 => break,
            Ok(d) => rest = &rest[d.consumed..],
            Err(alert) => return alert,
        }
    }
    plain_error
}
