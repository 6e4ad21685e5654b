//! TLS options across the binding: Node's option names in, the core's `ServerOptions` /
//! `ClientOptions` out (a connection's state goes back as `conn.tls`: `tls_info.rs`).
//!
//! PEM arrives as strings (the TS layer turns Buffers into `latin1` strings). Client contexts
//! are cached per option set, so dials with the same options share one session store and
//! resume each other's sessions (as Node's `tls.connect` does with its session cache).

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::shard::{ClientTls, ServerTls, DEFAULT_HANDSHAKE_TIMEOUT_MS};
use netpoll_core::tls::{
    ClientContext, ClientOptions, CommonOptions, Identity, SecureContext, ServerOptions, TlsVersion,
};

use crate::convert::to_napi;

/// Server TLS options (`createListener(..., { tls })`), with Node's names.
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
    /// ms; default 120000 (Node's), 0 = none.
    pub handshake_timeout: Option<f64>,
}

/// Client TLS options (`dial(..., { tls })`), with Node's names.
#[napi(object)]
pub struct TlsClientOptions {
    /// SNI and the name the certificate must carry.
    pub servername: String,
    /// PEM CA certificates (the TS layer passes `tls.rootCertificates` by default).
    pub ca: Vec<String>,
    /// PEM client certificate chain (mutual TLS).
    pub cert: Option<String>,
    /// PEM client key.
    pub key: Option<String>,
    /// Fail the dial when the server certificate does not verify. Default true.
    pub reject_unauthorized: Option<bool>,
    /// ALPN protocols in preference order.
    pub alpn_protocols: Option<Vec<String>>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub min_version: Option<String>,
    /// `TLSv1.2` or `TLSv1.3`.
    pub max_version: Option<String>,
    /// OpenSSL-style cipher list.
    pub ciphers: Option<String>,
    /// ms the handshake may take after the TCP connect; default 120000, 0 = none.
    pub handshake_timeout: Option<f64>,
}

fn version(v: &Option<String>, default: TlsVersion) -> napi::Result<TlsVersion> {
    v.as_deref()
        .map_or(Ok(default), TlsVersion::parse)
        .map_err(to_napi)
}

fn common(
    ca: &[String],
    reject_unauthorized: Option<bool>,
    alpn: &Option<Vec<String>>,
    min: &Option<String>,
    max: &Option<String>,
    ciphers: &Option<String>,
) -> napi::Result<CommonOptions> {
    Ok(CommonOptions {
        ca: ca.iter().map(|c| c.as_bytes().to_vec()).collect(),
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

fn timeout_ms(v: Option<f64>) -> u64 {
    v.map_or(DEFAULT_HANDSHAKE_TIMEOUT_MS, |ms| ms.max(0.0) as u64)
}

/// The server settings of a TLS listener.
pub(crate) fn server_tls(o: &TlsServerOptions) -> napi::Result<Arc<ServerTls>> {
    if o.cert.len() != o.key.len() || o.cert.is_empty() {
        return Err(napi::Error::new(
            Status::InvalidArg,
            "tls: `cert` and `key` must be given, one key per certificate chain",
        ));
    }
    let identities = o
        .cert
        .iter()
        .zip(&o.key)
        .map(|(c, k)| Identity {
            cert: c.as_bytes().to_vec(),
            key: k.as_bytes().to_vec(),
        })
        .collect();
    let ca = o.ca.as_deref().unwrap_or(&[]);
    let options = ServerOptions {
        identities,
        common: common(
            ca,
            o.reject_unauthorized,
            &o.alpn_protocols,
            &o.min_version,
            &o.max_version,
            &o.ciphers,
        )?,
        request_cert: o.request_cert.unwrap_or(false),
        ..ServerOptions::default()
    };
    Ok(Arc::new(ServerTls {
        context: SecureContext::new(&options).map_err(to_napi)?,
        handshake_timeout_ms: timeout_ms(o.handshake_timeout),
    }))
}

/// Most client contexts kept (the cache is cleared when it would pass this).
const MAX_CLIENT_CONTEXTS: usize = 64;

/// The client settings of a TLS dial, with a context shared by dials of the same options.
pub(crate) fn client_tls(o: &TlsClientOptions) -> napi::Result<Box<ClientTls>> {
    let mut h = DefaultHasher::new();
    (
        &o.ca,
        &o.cert,
        &o.key,
        o.reject_unauthorized,
        &o.alpn_protocols,
        &o.min_version,
        &o.max_version,
        &o.ciphers,
    )
        .hash(&mut h);
    let key = h.finish();
    static CACHE: OnceLock<Mutex<HashMap<u64, Arc<ClientContext>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let cached = cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .cloned();
    let context = match cached {
        Some(c) => c,
        None => {
            let identity = match (&o.cert, &o.key) {
                (Some(c), Some(k)) => Some(Identity {
                    cert: c.as_bytes().to_vec(),
                    key: k.as_bytes().to_vec(),
                }),
                _ => None,
            };
            let options = ClientOptions {
                common: common(
                    &o.ca,
                    o.reject_unauthorized,
                    &o.alpn_protocols,
                    &o.min_version,
                    &o.max_version,
                    &o.ciphers,
                )?,
                identity,
                session_cache_size: None,
            };
            let c = ClientContext::new(&options).map_err(to_napi)?;
            let mut map = cache.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_CLIENT_CONTEXTS {
                map.clear();
            }
            map.insert(key, c.clone());
            c
        }
    };
    Ok(Box::new(ClientTls {
        context,
        servername: o.servername.clone(),
        handshake_timeout_ms: timeout_ms(o.handshake_timeout),
    }))
}
