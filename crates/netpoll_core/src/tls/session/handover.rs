//! The handover of a TLS 1.3 session from rustls to its own record layer
//! ([`super::super::traffic`]), and [`TlsSession::decrypt`] once it has happened.

use super::super::errors;
use super::super::traffic::{Kernel, Traffic};
use super::{Conn, Decrypted, TlsSession};
use crate::error::NetError;

impl TlsSession {
    /// [`TlsSession::decrypt`] on the session's own record layer.
    pub(super) fn open_records(
        &mut self,
        ciphertext: &mut [u8],
        plaintext: &mut [u8],
    ) -> Result<Decrypted, NetError> {
        let written = self.io.stash.take_into(plaintext);
        let mut out = Decrypted {
            written,
            ..Decrypted::default()
        };
        let Conn::Traffic(traffic) = &mut self.conn else {
            return Ok(out);
        };
        if self.peer_closed || !self.io.stash.is_empty() {
            // Closed: what follows close_notify is ignored. Else the sink is full.
            if !self.peer_closed {
                self.input.extend(ciphertext);
            }
            out.peer_closed = self.peer_closed && self.io.stash.is_empty();
            return Ok(out);
        }
        let sink = &mut plaintext[written..];
        let opened = if self.input.is_empty() {
            let r = traffic.open(ciphertext, sink, &mut self.io.stash, &mut self.io.out);
            if let Ok(o) = &r {
                if !o.peer_closed {
                    self.input.extend(&ciphertext[o.consumed..]);
                }
            }
            r
        } else {
            self.input.extend(ciphertext);
            let r = traffic.open(
                self.input.filled_mut(),
                sink,
                &mut self.io.stash,
                &mut self.io.out,
            );
            if let Ok(o) = &r {
                self.input.consume(o.consumed);
            }
            r
        };
        let opened = opened.map_err(|e| self.fail(e))?;
        out.written += opened.written;
        if opened.peer_closed {
            self.peer_closed = true;
            self.input.release();
            out.peer_closed = self.io.stash.is_empty();
        }
        Ok(out)
    }

    /// Hands a completed TLS 1.3 connection from rustls to the session's own record layer
    /// ([`Traffic`]), once rustls is idle and holds nothing: no ciphertext held (a record may
    /// be partly read, or a handshake message partly joined in it), no early plaintext.
    pub(super) fn enter_traffic(&mut self) -> Result<(), NetError> {
        let ready = self.info.as_ref().is_some_and(|i| i.protocol == "TLSv1.3")
            && self.input.is_empty()
            && self.io.early.is_empty()
            && self.error.is_none()
            && !self.close_sent;
        if !ready || !matches!(self.conn, Conn::Server(_) | Conn::Client(_)) {
            return Ok(());
        }
        let made = match std::mem::replace(&mut self.conn, Conn::Moving) {
            Conn::Server(c) => c
                .dangerous_into_kernel_connection()
                .map(|(s, k)| (s, Kernel::Server(k))),
            Conn::Client(c) => c
                .dangerous_into_kernel_connection()
                .map(|(s, k)| (s, Kernel::Client(k))),
            other => {
                self.conn = other;
                return Ok(());
            }
        };
        let traffic = made
            .map_err(|e| errors::from_rustls(&e))
            .and_then(|(secrets, kernel)| Traffic::new(secrets, kernel));
        match traffic {
            Ok(t) => {
                self.conn = Conn::Traffic(Box::new(t));
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }
}
