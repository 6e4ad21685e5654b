//! The TLS state a connection carries beside its socket (see `shard/tls.rs` for what the
//! shard does with it).

use crate::error::NetError;
use crate::event::ListenerId;
use crate::timer::TimerId;
use crate::tls::context::ServerSnapshot;
use crate::tls::sni::SniReader;
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

/// Where a held ClientHello is.
pub(crate) enum Stage {
    /// Looking for the server name.
    Reading(SniReader),
    /// The name is known and waits to be reported (the sink had no room).
    Named(String),
    /// Reported: waiting for the answer.
    Asked,
}

/// A connection's ClientHello held for the SNI callback (see `shard/tls_sni.rs`).
pub(crate) struct SniWait {
    pub stage: Stage,
    /// What was read from the socket so far (the session gets it after the answer).
    pub held: Vec<u8>,
    /// The listener's settings at accept (an answered context's certificates go into them).
    pub listener: ServerSnapshot,
    /// An answered context could not make a session: the next round fails the handshake.
    pub failed: Option<NetError>,
}
