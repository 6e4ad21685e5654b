//! Client TLS across the binding: Node's option names in, the core's `ClientTls` out.
//!
//! Client contexts are cached per option set and dialled address, so dials with the same
//! options to the same server share one session store and resume each other's sessions (as
//! Node's `https.Agent` keys its session cache by host, port and options). The address is part
//! of the key because rustls keys stored sessions by server name only, and prefers a TLS 1.3
//! ticket to a TLS 1.2 session: two servers under one name on different ports (one TLS 1.2
//! only) would otherwise keep offering each other's tickets and never resume. The default trust store (Node's `tls.rootCertificates`, ~150 PEMs) is
//! handed over once ([`set_default_ca`]) rather than with every dial.
// napi registers `set_default_ca` for JS; unit-test builds see no caller.
#![cfg_attr(test, allow(dead_code))]

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use napi_derive::napi;
use netpoll_core::shard::ClientTls;
use netpoll_core::tls::{ClientContext, ClientOptions, Identity};

use crate::convert::to_napi;
use crate::tls::{common, timeout_ms};

/// Client TLS options (`dial(..., { tls })`), with Node's names.
#[napi(object)]
pub struct TlsClientOptions {
    /// SNI and the name the certificate must carry.
    pub servername: String,
    /// PEM CA certificates; absent: the default set ([`set_default_ca`]).
    pub ca: Option<Vec<String>>,
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
    /// Remember sessions and resume them on later dials. Default true.
    pub session_reuse: Option<bool>,
}

fn default_ca() -> &'static Mutex<Vec<Vec<u8>>> {
    static DEFAULT_CA: OnceLock<Mutex<Vec<Vec<u8>>>> = OnceLock::new();
    DEFAULT_CA.get_or_init(Default::default)
}

/// Sets the CA certificates of client dials that give no `ca` (the TS layer passes Node's
/// `tls.rootCertificates` once, before its first such dial).
#[napi(catch_unwind)]
pub fn set_default_ca(pems: Vec<String>) {
    *default_ca().lock().unwrap_or_else(PoisonError::into_inner) =
        pems.into_iter().map(String::into_bytes).collect();
}

/// Most client contexts kept (the cache is cleared when it would pass this).
const MAX_CLIENT_CONTEXTS: usize = 64;

fn context(o: &TlsClientOptions, address: &str) -> napi::Result<Arc<ClientContext>> {
    let mut h = DefaultHasher::new();
    (
        address,
        &o.ca,
        &o.cert,
        &o.key,
        o.reject_unauthorized,
        &o.alpn_protocols,
        &o.min_version,
        &o.max_version,
        &o.ciphers,
        o.session_reuse,
    )
        .hash(&mut h);
    let key = h.finish();
    static CACHE: OnceLock<Mutex<HashMap<u64, Arc<ClientContext>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return Ok(c.clone());
    }
    let identity = match (&o.cert, &o.key) {
        (Some(c), Some(k)) => Some(Identity {
            cert: c.as_bytes().to_vec(),
            key: k.as_bytes().to_vec(),
        }),
        _ => None,
    };
    let ca = match &o.ca {
        Some(ca) => ca.iter().map(|c| c.as_bytes().to_vec()).collect(),
        None => default_ca()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
    };
    let options = ClientOptions {
        common: common(
            ca,
            o.reject_unauthorized,
            &o.alpn_protocols,
            &o.min_version,
            &o.max_version,
            &o.ciphers,
        )?,
        identity,
        session_cache_size: (o.session_reuse == Some(false)).then_some(0),
    };
    let c = ClientContext::new(&options).map_err(to_napi)?;
    let mut map = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if map.len() >= MAX_CLIENT_CONTEXTS {
        map.clear();
    }
    map.insert(key, c.clone());
    Ok(c)
}

/// The client settings of a TLS dial to `address`, with a context shared by dials of the same
/// options to the same address.
pub(crate) fn client_tls(o: &TlsClientOptions, address: &str) -> napi::Result<Box<ClientTls>> {
    Ok(Box::new(ClientTls {
        context: context(o, address)?,
        servername: o.servername.clone(),
        handshake_timeout_ms: timeout_ms(o.handshake_timeout),
    }))
}
