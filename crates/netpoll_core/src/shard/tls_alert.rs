//! The error a TLS connection's failed write reports: the peer's alert when it sent one
//! before resetting, else the write's own error.

use std::io::{self, Read};

use super::conn::Conn;
use crate::error::NetError;

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
    let mut ciphertext = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    while ciphertext.len() < ALERT_READ_LIMIT {
        match conn.stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => ciphertext.extend_from_slice(&chunk[..n]),
        }
    }
    // The session also goes on with the ciphertext it held; plaintext that does not fit the
    // chunk waits in it, so decrypt until nothing more comes out.
    let mut next = &mut ciphertext[..];
    loop {
        match tls.session.decrypt(next, &mut chunk) {
            Ok(d) if d.written == 0 => break,
            Ok(_) => next = &mut [],
            Err(alert) => return alert,
        }
    }
    plain_error
}
