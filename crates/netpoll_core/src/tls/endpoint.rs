//! The TLS settings a shard needs per endpoint: a listener's ([`ServerTls`]: the shared,
//! reloadable context and the handshake timeout) and a dial's ([`ClientTls`]: the client
//! context, the name to verify, the handshake timeout).

use std::sync::Arc;

use super::{ClientContext, SecureContext};

/// Node's default `handshakeTimeout`, in ms.
pub const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 120_000;

/// How a listener's accepted connections speak TLS.
pub struct ServerTls {
    /// The (reloadable) certificates and settings.
    pub context: Arc<SecureContext>,
    /// `handshakeTimeout` in ms (0 = none).
    pub handshake_timeout_ms: u64,
    /// The owner picks each handshake's certificate (Node's `SNICallback`): a ClientHello
    /// carrying a server name is held and reported ([`crate::event::EventSink::sni_request`])
    /// until [`crate::shard::Shard::sni_answer`] (see `shard/tls_sni.rs`).
    pub sni_callback: bool,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("handshake_timeout_ms", &self.handshake_timeout_ms)
            .field("sni_callback", &self.sni_callback)
            .finish_non_exhaustive()
    }
}

/// How a dial speaks TLS.
pub struct ClientTls {
    /// The shared client settings and session store.
    pub context: Arc<ClientContext>,
    /// The name sent as SNI and checked against the certificate.
    pub servername: String,
    /// How long the handshake may take after the TCP connect, in ms (0 = none).
    pub handshake_timeout_ms: u64,
}
