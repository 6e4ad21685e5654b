//! The TLS state a connection carries beside its socket (see `shard/tls.rs` for what the
//! shard does with it).

use super::tls_sni::SniWait;
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
    /// Set until the handshake completed and the owner was told.
    pub pending: Option<Pending>,
    /// The handshake timer.
    pub timer: Option<TimerId>,
    /// The owner has a write waiting for `flushed`.
    pub owes_flush: bool,
    /// Set while the ClientHello is held for the listener's SNI callback (the session has
    /// seen none of it yet).
    pub sni: Option<Box<SniWait>>,
}

impl TlsConn {
    pub fn new(session: TlsSession, pending: Pending) -> Box<TlsConn> {
        Box::new(TlsConn {
            session,
            pending: Some(pending),
            timer: None,
            owes_flush: false,
            sni: None,
        })
    }
}
