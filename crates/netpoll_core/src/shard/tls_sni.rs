//! Node's `SNICallback` on a TLS listener: the owner picks each handshake's certificate by the
//! server name the client sent, possibly asynchronously.
//!
//! * **Held ClientHello.** A connection accepted on a listener with `sni_callback` gets its
//!   session (the listener's settings) and handshake timer as any TLS connection, and a
//!   [`SniWait`]: what is read from the socket is held there, not given to the session, while
//!   an [`SniReader`] looks for the server name (a ClientHello split into 1-byte writes or
//!   1-byte records is joined; at most [`MAX_HELD`] bytes are held).
//! * **No name** (no SNI extension, an IP literal, or bytes that are no ClientHello): the
//!   held bytes go to the session at once, which continues with the listener's certificates
//!   (or fails the handshake as without a callback). The owner is not asked.
//! * **A name**: [`EventSink::sni_request`] reports it (listener, connection, name) and the
//!   connection waits for [`Shard::sni_answer`]. The socket is still read while it waits, so
//!   a peer that closes is seen at once (`ECONNRESET`, reported on the listener like any failed
//!   handshake), and the handshake timer still runs: a callback that never answers ends in
//!   `ERR_TLS_HANDSHAKE_TIMEOUT`. An answer for a connection that is gone (or not waiting)
//!   does nothing.
//! * **The answer.** [`SniAnswer::Context`]: a new session whose config is the listener's
//!   with that context's certificates ([`ServerSnapshot::with_certificates_of`]);
//!   [`SniAnswer::Default`]: the session made at accept; either is given the held bytes and
//!   the connection is read in the next round as usual. [`SniAnswer::Refuse`]: the
//!   connection is closed and not reported (the owner reports its callback's error itself).

use std::io::Read;
use std::sync::Arc;

use super::conn::ConnState;
use super::tls_conn::{Pending, SniWait, Stage};
use super::Shard;
use crate::error::NetError;
use crate::event::{ConnId, EventSink};
use crate::tls::context::ServerSnapshot;
use crate::tls::errors::code as tls_code;
use crate::tls::sni::{Sni, SniReader};
use crate::tls::{SecureContext, TlsSession};

/// Most bytes held before the answer: a ClientHello as large as rustls accepts (64 KiB)
/// with its record headers, and what a client may send right behind it.
const MAX_HELD: usize = 0x10000 + 18 * 1024;

/// Bytes read from the socket at once while the ClientHello is held.
const READ_CHUNK: usize = 4096;

/// How the owner answered an SNI request.
pub enum SniAnswer {
    /// The listener's own certificates.
    Default,
    /// The certificates of this context (the listener's other settings stay).
    Context(Arc<SecureContext>),
    /// Fail the handshake: close the connection without reporting it.
    Refuse,
}

impl Shard {
    /// Holds the ClientHello of the TLS connection `id` for the SNI callback.
    pub(super) fn wait_for_sni(&mut self, id: ConnId, listener: ServerSnapshot) {
        if let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_deref_mut()) {
            tls.sni = Some(Box::new(SniWait {
                stage: Stage::Reading(SniReader::default()),
                held: Vec::new(),
                listener,
                failed: None,
            }));
        }
    }

    /// The read path of a connection whose ClientHello is held (see the module docs).
    pub(super) fn read_sni(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let now = self.now_ms();
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            if conn.read_closed || conn.state != ConnState::Open {
                return;
            }
            let Some(tls) = conn.tls.as_deref_mut() else {
                return;
            };
            let Some(wait) = tls.sni.as_deref_mut() else {
                return self.read_tls(id, sink);
            };
            if let Some(e) = wait.failed.take() {
                return self.fail(id, Some(e), sink);
            }
            if let Stage::Named(name) = &wait.stage {
                let Some(Pending::Accept { listener, origin }) = tls.pending else {
                    return;
                };
                if !sink.sni_request(listener, origin, id, name) {
                    if !self.ready_conns.contains(&id) {
                        self.ready_conns.push(id);
                    }
                    return;
                }
                self.stats.events += 1;
                wait.stage = Stage::Asked;
            }
            let n = match conn.stream.read(&mut chunk) {
                Ok(0) => return self.fail(id, None, sink),
                Ok(n) => n,
                Err(e) => match e.kind() {
                    std::io::ErrorKind::WouldBlock => return,
                    std::io::ErrorKind::Interrupted => continue,
                    _ => return self.fail(id, Some(NetError::from_io(&e, "read")), sink),
                },
            };
            conn.bytes_in += n as u64;
            conn.last_activity = now;
            self.stats.bytes_in += n as u64;
            if wait.held.len() + n > MAX_HELD {
                let e = NetError::new(tls_code::ERR_SSL_DECODE_ERROR, "ClientHello too long");
                return self.fail(id, Some(e), sink);
            }
            wait.held.extend_from_slice(&chunk[..n]);
            if let Stage::Reading(reader) = &mut wait.stage {
                match reader.feed(&chunk[..n]) {
                    Sni::More => {}
                    Sni::Done(Some(name)) => wait.stage = Stage::Named(name),
                    Sni::Done(None) => {
                        // Not asked: the listener's certificates, at once.
                        self.release_hello(id, None);
                        return self.read_tls(id, sink);
                    }
                }
            }
        }
    }

    /// The owner's answer to the SNI request of connection `id` (see the module docs).
    /// Returns whether `id` was waiting for it (false: it is gone, or was answered already;
    /// nothing is done).
    pub fn sni_answer(&mut self, id: ConnId, answer: SniAnswer) -> bool {
        let asked = self
            .conns
            .get_mut(id)
            .and_then(|c| c.tls.as_deref())
            .and_then(|t| t.sni.as_deref())
            .is_some_and(|w| matches!(w.stage, Stage::Asked) && w.failed.is_none());
        if !asked {
            return false;
        }
        match answer {
            SniAnswer::Refuse => drop(self.discard(id)),
            SniAnswer::Default => self.release_hello(id, None),
            SniAnswer::Context(ctx) => self.release_hello(id, Some(&ctx)),
        }
        true
    }

    /// Ends the wait of `id`: its held bytes go to its session (a new one with `chosen`'s
    /// certificates if given), and the connection is read in the next round (which reports
    /// the error if no session could be made with `chosen`).
    fn release_hello(&mut self, id: ConnId, chosen: Option<&SecureContext>) {
        let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_deref_mut()) else {
            return;
        };
        let Some(mut wait) = tls.sni.take() else {
            return;
        };
        let made =
            chosen.map(|ctx| TlsSession::server_with(wait.listener.with_certificates_of(ctx)));
        match made {
            Some(Err(e)) => {
                wait.failed = Some(e);
                tls.sni = Some(wait);
            }
            Some(Ok(session)) => {
                tls.session = session;
                tls.session.hold(&wait.held);
            }
            None => tls.session.hold(&wait.held),
        }
        if !self.ready_conns.contains(&id) {
            self.ready_conns.push(id);
        }
    }
}
