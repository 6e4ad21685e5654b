//! How a [`TlsSession`] ends: a failure that makes it dead, and the socket's EOF.

use super::TlsSession;
use crate::error::NetError;

impl TlsSession {
    /// Ends the session with `err`: what it held is dropped, records queued (an alert) stay.
    pub(super) fn fail(&mut self, err: NetError) -> NetError {
        self.input.release();
        self.io.stash.release();
        self.io.early = Vec::new();
        self.error = Some(err.clone());
        err
    }

    /// The socket reached EOF: `Ok` after the peer's `close_notify`; otherwise the session was
    /// truncated and the error is `ECONNRESET` (or the error that already ended it).
    pub fn on_eof(&mut self) -> Result<(), NetError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.peer_closed {
            return Ok(());
        }
        let message = if self.is_handshaking() {
            "socket disconnected before secure TLS connection was established"
        } else {
            "TLS connection truncated: EOF without close_notify"
        };
        let err = NetError::new(crate::error::errno_code(libc::ECONNRESET), message);
        Err(self.fail(err))
    }
}
