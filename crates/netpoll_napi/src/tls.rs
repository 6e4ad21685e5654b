//! Server TLS across the binding: Node's option names in, a shared, reloadable
//! [`NativeSecureContext`] out (`createSecureContext`); client options are in `tls_client.rs`,
//! a connection's state goes back as `conn.tls` (`tls_info.rs`).
//!
//! PEM arrives as strings (the TS layer turns Buffers into `latin1` strings).

use std::sync::Arc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::shard::{ServerTls, DEFAULT_HANDSHAKE_TIMEOUT_MS};
use netpoll_core::tls::{CommonOptions, Identity, SecureContext, ServerOptions, TlsVersion};

use crate::convert::to_napi;

/// One entry of the static SNI map (`{ servername: context }`).
#[napi(object)]
pub struct TlsSniEntry {
    /// The name (`"*.example.com"` matches one label).
    pub servername: String,
    /// PEM certificate chains served for it, one per key.
    pub cert: Vec<String>,
    /// PEM private keys, paired with `cert` by position.
    pub key: Vec<String>,
}

/// Server TLS options (`createSecureContext`), with Node's names.
#[napi(object)]
pub struct TlsServerOptions {
    /// PEM certificate chains, one per key.
    pub cert: Vec<String>,
    /// PEM private keys, paired with `cert` by position.
    pub key: Vec<String>,
    /// PEM CA certificates (client certificate issuers).
    pub ca: Option<Vec<String>>,
    /// Ask clients for a certificate.
    pub request_cert: Option<bool>,
    /// Fail handshakes whose peer certificate does not verify. Default true.
    pub reject_unauthorized: Option<bool>,
    /// ALPN protocols in preference order.
    pub alpn_protocols: Option<Vec<String>>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub min_version: Option<String>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub max_version: Option<String>,
    /// OpenSSL-style cipher list.
    pub ciphers: Option<String>,
    /// The static SNI map.
    pub sni: Option<Vec<TlsSniEntry>>,
    /// `sessionTimeout` in seconds (Node's unit). Default 300.
    pub session_timeout: Option<f64>,
    /// `ticketKeys`: 48 bytes.
    pub ticket_keys: Option<Buffer>,
}

fn version(v: &Option<String>, default: TlsVersion) -> napi::Result<TlsVersion> {
    v.as_deref()
        .map_or(Ok(default), TlsVersion::parse)
        .map_err(to_napi)
}

/// The options servers and clients share.
pub(crate) fn common(
    ca: Vec<Vec<u8>>,
    reject_unauthorized: Option<bool>,
    alpn: &Option<Vec<String>>,
    min: &Option<String>,
    max: &Option<String>,
    ciphers: &Option<String>,
) -> napi::Result<CommonOptions> {
    Ok(CommonOptions {
        ca,
        reject_unauthorized: reject_unauthorized.unwrap_or(true),
        alpn_protocols: alpn
            .iter()
            .flatten()
            .map(|p| p.as_bytes().to_vec())
            .collect(),
        min_version: version(min, TlsVersion::Tls12)?,
        max_version: version(max, TlsVersion::Tls13)?,
        ciphers: ciphers.clone(),
        ..CommonOptions::default()
    })
}

/// `handshakeTimeout` in ms: default 120000 (Node's), 0 = none.
pub(crate) fn timeout_ms(v: Option<f64>) -> u64 {
    v.map_or(DEFAULT_HANDSHAKE_TIMEOUT_MS, |ms| ms.max(0.0) as u64)
}

fn invalid(message: &str) -> napi::Error {
    napi::Error::new(Status::InvalidArg, message.to_string())
}

fn identities(cert: &[String], key: &[String]) -> napi::Result<Vec<Identity>> {
    if cert.len() != key.len() || cert.is_empty() {
        return Err(invalid(
            "tls: `cert` and `key` must be given, one key per certificate chain",
        ));
    }
    Ok(cert
        .iter()
        .zip(key)
        .map(|(c, k)| Identity {
            cert: c.as_bytes().to_vec(),
            key: k.as_bytes().to_vec(),
        })
        .collect())
}

fn server_options(o: &TlsServerOptions) -> napi::Result<ServerOptions> {
    let ca =
        o.ca.iter()
            .flatten()
            .map(|c| c.as_bytes().to_vec())
            .collect();
    let mut sni = Vec::new();
    for e in o.sni.iter().flatten() {
        sni.push((e.servername.clone(), identities(&e.cert, &e.key)?));
    }
    let ticket_keys = match &o.ticket_keys {
        None => None,
        Some(b) => Some(
            <[u8; 48]>::try_from(&b[..])
                .map_err(|_| invalid("tls: `ticketKeys` must be 48 bytes"))?,
        ),
    };
    let mut options = ServerOptions {
        identities: identities(&o.cert, &o.key)?,
        common: common(
            ca,
            o.reject_unauthorized,
            &o.alpn_protocols,
            &o.min_version,
            &o.max_version,
            &o.ciphers,
        )?,
        request_cert: o.request_cert.unwrap_or(false),
        sni,
        ticket_keys,
        ..ServerOptions::default()
    };
    if let Some(s) = o.session_timeout {
        if !(s.is_finite() && s >= 0.0) {
            return Err(invalid(
                "tls: `sessionTimeout` must be a number of seconds ≥ 0",
            ));
        }
        options.session_timeout = Duration::from_secs_f64(s);
    }
    Ok(options)
}

/// A server context (`createSecureContext`): the certificates and settings, shared by every
/// listener made with it and reloadable (certificate rotation) while they serve.
#[napi]
pub struct NativeSecureContext {
    pub(crate) inner: Arc<SecureContext>,
}

#[napi]
impl NativeSecureContext {
    /// Builds a context; throws with `ERR_TLS_INVALID_PEM`, `ERR_SSL_NO_CIPHER_MATCH`,
    /// `ERR_TLS_INVALID_PROTOCOL_VERSION` or `InvalidArg`.
    #[napi(constructor, catch_unwind)]
    pub fn new(options: TlsServerOptions) -> napi::Result<Self> {
        let options = server_options(&options)?;
        Ok(NativeSecureContext {
            inner: SecureContext::new(&options).map_err(to_napi)?,
        })
    }

    /// Replaces the settings: handshakes that start afterwards use them, connections already
    /// established keep theirs. Session tickets stay valid unless `ticketKeys` changed. On
    /// error the old settings stay.
    #[napi(catch_unwind)]
    pub fn reload(&self, options: TlsServerOptions) -> napi::Result<()> {
        let options = server_options(&options)?;
        self.inner.reload(&options).map_err(to_napi)
    }
}

/// The server settings of a TLS listener; with `sni_callback`, handshakes that send a server
/// name wait for `sniAnswer` (see `sni.rs`).
pub(crate) fn server_tls(
    context: &NativeSecureContext,
    handshake_timeout: Option<f64>,
    sni_callback: bool,
) -> Arc<ServerTls> {
    Arc::new(ServerTls {
        context: context.inner.clone(),
        handshake_timeout_ms: timeout_ms(handshake_timeout),
        sni_callback,
    })
}
