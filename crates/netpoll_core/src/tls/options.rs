//! The TLS options, with Node's `tls` names, as plain Rust values the binding fills in.
//!
//! PEM fields hold the bytes of a PEM string or Buffer (one or more blocks each). Defaults are
//! Node's: `reject_unauthorized: true`, `min_version: TLSv1.2`, `max_version: TLSv1.3`,
//! `session_timeout: 300 s`, resumption on.

use std::time::Duration;

use super::errors::code;
use crate::error::NetError;

/// A protocol version, as Node's `minVersion`/`maxVersion` strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `"TLSv1.2"`.
    Tls12,
    /// `"TLSv1.3"`.
    Tls13,
}

impl TlsVersion {
    /// Parses Node's name. `TLSv1`/`TLSv1.1` are refused: rustls does not implement them.
    pub fn parse(name: &str) -> Result<TlsVersion, NetError> {
        match name {
            "TLSv1.2" => Ok(TlsVersion::Tls12),
            "TLSv1.3" => Ok(TlsVersion::Tls13),
            other => Err(NetError::new(
                code::ERR_TLS_INVALID_PROTOCOL_VERSION,
                format!("{other} is not supported: rustls implements TLSv1.2 and TLSv1.3"),
            )),
        }
    }

    /// Node's name (`getProtocol()`).
    pub fn name(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        }
    }
}

/// A certificate chain (leaf first) and its private key, both PEM. Several of them on one
/// context serve several key types (e.g. ECDSA and RSA); the client's signature algorithms
/// pick one, as OpenSSL does.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// `cert`: the PEM certificate chain.
    pub cert: Vec<u8>,
    /// `key`: the PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: Vec<u8>,
}

/// Bounds on what one TLS session may buffer (see `TlsSession`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TlsLimits {
    /// Plaintext accepted for encryption plus TLS records not yet written to the socket, in
    /// bytes (rustls' `set_buffer_limit`). A flush that would pass it is accepted in part; the
    /// rest stays in the connection's output buffer, under its own cap. Default 256 KiB.
    pub max_pending_output: usize,
}

impl Default for TlsLimits {
    fn default() -> Self {
        TlsLimits {
            max_pending_output: 256 * 1024,
        }
    }
}

/// The options shared by servers and clients.
#[derive(Clone, Debug)]
pub struct CommonOptions {
    /// `ca`: PEM blocks of trusted roots (for the server: client certificate issuers).
    pub ca: Vec<Vec<u8>>,
    /// `rejectUnauthorized`: fail the handshake when the peer's certificate does not verify.
    /// When false the handshake completes and `authorized`/`authorizationError` tell.
    pub reject_unauthorized: bool,
    /// `ALPNProtocols`, in preference order.
    pub alpn_protocols: Vec<Vec<u8>>,
    /// `minVersion`.
    pub min_version: TlsVersion,
    /// `maxVersion`.
    pub max_version: TlsVersion,
    /// `ciphers`: an OpenSSL-style list; see `ciphers` for what rustls honours.
    pub ciphers: Option<String>,
    /// Buffer bounds per session.
    pub limits: TlsLimits,
}

impl Default for CommonOptions {
    fn default() -> Self {
        CommonOptions {
            ca: Vec::new(),
            reject_unauthorized: true,
            alpn_protocols: Vec::new(),
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            ciphers: None,
            limits: TlsLimits::default(),
        }
    }
}

/// Options of a server `SecureContext` (`tls.createSecureContext` + `tls.createServer`).
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `cert` + `key`: at least one identity (several for several key types).
    pub identities: Vec<Identity>,
    /// `ca`, `rejectUnauthorized`, `ALPNProtocols`, versions, `ciphers`, limits.
    pub common: CommonOptions,
    /// `requestCert`: ask the client for a certificate. With `reject_unauthorized` a client
    /// without a valid one fails the handshake; without it, it is only reported.
    pub request_cert: bool,
    /// A static SNI map, `servername → identities` (Node's `addContext`); `"*.example.com"`
    /// matches one label. A name that is not in the map gets `identities`.
    pub sni: Vec<(String, Vec<Identity>)>,
    /// `sessionTimeout`: how long a session ticket can resume (checked when the ticket is
    /// decrypted). Default 300 s. Sessions cached by ID (TLS 1.2 clients that do not take
    /// tickets) are bounded by `session_cache_size` only: rustls' cache has no expiry.
    pub session_timeout: Duration,
    /// `ticketKeys`: 48 bytes (16 name, 32 key) shared by servers that must resume each
    /// other's tickets. `None`: random keys per context. Tickets are always on.
    pub ticket_keys: Option<[u8; 48]>,
    /// Sessions kept for ID-based (TLS 1.2) and stateful resumption. Default 1024; 0 disables.
    pub session_cache_size: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            identities: Vec::new(),
            common: CommonOptions::default(),
            request_cert: false,
            sni: Vec::new(),
            session_timeout: Duration::from_secs(300),
            ticket_keys: None,
            session_cache_size: 1024,
        }
    }
}

/// Options of a client context (`tls.connect` without the per-dial `servername`).
#[derive(Clone, Debug, Default)]
pub struct ClientOptions {
    /// `ca` (the binding passes `tls.rootCertificates` when the user gives none),
    /// `rejectUnauthorized`, `ALPNProtocols`, versions, `ciphers`, limits.
    pub common: CommonOptions,
    /// `cert` + `key` for mutual TLS.
    pub identity: Option<Identity>,
    /// Sessions remembered for resumption across dials (per server name). Default 256; 0
    /// disables resumption.
    pub session_cache_size: Option<usize>,
}

impl CommonOptions {
    /// The rustls versions between `min_version` and `max_version`.
    pub(super) fn versions(
        &self,
    ) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, NetError> {
        if self.min_version > self.max_version {
            return Err(NetError::new(
                code::ERR_TLS_INVALID_PROTOCOL_VERSION,
                "minVersion is greater than maxVersion",
            ));
        }
        let mut out = Vec::new();
        if self.min_version <= TlsVersion::Tls13 && self.max_version >= TlsVersion::Tls13 {
            out.push(&rustls::version::TLS13);
        }
        if self.min_version <= TlsVersion::Tls12 {
            out.push(&rustls::version::TLS12);
        }
        Ok(out)
    }
}
