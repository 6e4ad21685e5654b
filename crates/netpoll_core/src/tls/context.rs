//! Secure contexts: the rustls configuration built once from the options and shared by every
//! session (Node's `tls.createSecureContext`).
//!
//! # Design
//!
//! A [`SecureContext`] (server) holds the current `Arc<ServerConfig>` behind a lock that is
//! taken only to clone the `Arc` when a session starts. [`SecureContext::reload`] builds a new
//! config from new options and swaps it in: handshakes that start afterwards use the new
//! certificates, sessions already running keep the config they started with (certificate
//! rotation without restarting a listener). The ticketer and the session cache are carried
//! over to the new config unless `ticket_keys` changed, so clients resume across a rotation.
//!
//! Several identities per name serve several key types: [`SniResolver`] picks, for the SNI name
//! (exact, then one-label `*.` wildcard, then the default), the first identity whose key can
//! sign with one of the client's signature schemes and, for a client offering TLS 1.2 suites,
//! has a suite of its key type among them (so an RSA-only TLS 1.2 client gets the RSA
//! certificate even when ECDSA is preferred, as with OpenSSL).
//!
//! A [`ClientContext`] holds a `ClientConfig` whose session store is shared by every dial made
//! with it: dialling the same server name again resumes (tickets in TLS 1.3, IDs or tickets in
//! TLS 1.2). The binding keeps one context per distinct option set, so `dial`s with the same
//! options share the store; stores are never shared between contexts with different trust
//! settings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rustls::client::{ClientSessionMemoryCache, Resumption};
use rustls::crypto::{aws_lc_rs, CryptoProvider};
use rustls::server::{
    ClientHello, NoServerSessionStorage, ResolvesServerCert, ServerSessionMemoryCache,
    StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig};

use super::errors::code;
use super::options::{ClientOptions, CommonOptions, Identity, ServerOptions, TlsLimits};
use super::ticketer::Ticketer;
use super::verify::{roots, ClientAuth, ServerAuth};
use super::{ciphers, pem};
use crate::error::NetError;

/// The crypto provider: aws-lc-rs (chosen by measurement, see the module docs), key exchange
/// groups in the order X25519, P-256, P-384, X25519MLKEM768 (the classic groups first: they
/// are what Node's clients send a key share for, and the hybrid costs ~2× per handshake).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            use aws_lc_rs::kx_group::{SECP256R1, SECP384R1, X25519, X25519MLKEM768};
            let mut p = aws_lc_rs::default_provider();
            p.kx_groups = vec![X25519, SECP256R1, SECP384R1, X25519MLKEM768];
            Arc::new(p)
        })
        .clone()
}

/// The provider with `ciphers` applied.
fn provider_for(common: &CommonOptions) -> Result<Arc<CryptoProvider>, NetError> {
    let base = provider();
    let Some(list) = &common.ciphers else {
        return Ok(base);
    };
    let mut p = (*base).clone();
    p.cipher_suites = ciphers::select(list, &base.cipher_suites)?;
    Ok(Arc::new(p))
}

fn certified_key(id: &Identity, provider: &CryptoProvider) -> Result<Arc<CertifiedKey>, NetError> {
    let chain = pem::certificates(&id.cert, "cert")?;
    let key = pem::private_key(&id.key)?;
    CertifiedKey::from_der(chain, key, provider)
        .map(Arc::new)
        .map_err(|e| {
            NetError::new(
                code::ERR_TLS_INVALID_PEM,
                format!("`key` does not fit `cert`: {e}"),
            )
        })
}

/// Picks the certificate for a ClientHello: SNI name, then key type (see the module docs).
#[derive(Debug)]
pub struct SniResolver {
    default: Vec<Arc<CertifiedKey>>,
    by_name: HashMap<String, Vec<Arc<CertifiedKey>>>,
}

impl SniResolver {
    fn candidates(&self, name: Option<&str>) -> &[Arc<CertifiedKey>] {
        let Some(name) = name.map(str::to_ascii_lowercase) else {
            return &self.default;
        };
        if let Some(found) = self.by_name.get(&name) {
            return found;
        }
        let wildcard = name.split_once('.').map(|(_, rest)| format!("*.{rest}"));
        wildcard
            .and_then(|w| self.by_name.get(&w))
            .map_or(&self.default, |v| v)
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let schemes = hello.signature_schemes();
        let suites = hello.cipher_suites();
        self.candidates(hello.server_name())
            .iter()
            .find(|ck| ck.key.choose_scheme(schemes).is_some() && suits(ck, suites))
            .cloned()
    }
}

/// Whether `ck` suits the client's TLS 1.2 suites: TLS 1.2 suites name a key type
/// (`ECDHE-ECDSA-…`, `ECDHE-RSA-…`) and the hello does not say whether TLS 1.3 will be used,
/// so a client that offers TLS 1.2 suites must offer one for the key's algorithm; a client
/// offering none (TLS 1.3 only) takes any key.
fn suits(ck: &CertifiedKey, suites: &[rustls::CipherSuite]) -> bool {
    let marker = match ck.key.algorithm() {
        rustls::SignatureAlgorithm::ECDSA => "_ECDSA_",
        rustls::SignatureAlgorithm::RSA => "_RSA_",
        _ => return true,
    };
    let tls12: Vec<&str> = suites
        .iter()
        .map(|s| ciphers::names(*s).1)
        .filter(|iana| iana.starts_with("TLS_ECDHE_"))
        .collect();
    tls12.is_empty() || tls12.iter().any(|iana| iana.contains(marker))
}

/// State that survives a reload: the ticketer (same keys) and the session cache.
struct Resumable {
    ticket_keys: [u8; 48],
    ticketer: Arc<Ticketer>,
    cache: Arc<dyn StoresServerSessions>,
}

/// What a server session needs from its context, snapshotted when it starts.
#[derive(Clone)]
pub struct ServerSnapshot {
    /// The rustls configuration.
    pub config: Arc<ServerConfig>,
    /// The client-certificate policy (for `authorized` after the handshake).
    pub auth: Arc<ClientAuth>,
    /// Buffer bounds.
    pub limits: TlsLimits,
}

impl ServerSnapshot {
    /// These settings (ALPN, client certificates, versions, tickets and session cache) with
    /// the certificates of `chosen` (its identities and its own SNI map): what an SNI
    /// callback's context contributes, as in Node. One config per handshake: a clone of this
    /// one whose resolver is `chosen`'s, sharing the ticketer and the session cache, so
    /// sessions resume as with the listener's own certificates.
    pub fn with_certificates_of(&self, chosen: &SecureContext) -> ServerSnapshot {
        let mut config = (*self.config).clone();
        config.cert_resolver = chosen.snapshot().config.cert_resolver.clone();
        ServerSnapshot {
            config: Arc::new(config),
            auth: self.auth.clone(),
            limits: self.limits,
        }
    }
}

/// A shared, reloadable server context (see the module docs).
pub struct SecureContext {
    current: Mutex<(ServerSnapshot, Resumable)>,
}

impl SecureContext {
    /// Builds a context; errors carry `ERR_TLS_INVALID_PEM`, `ERR_SSL_NO_CIPHER_MATCH` or
    /// `ERR_TLS_INVALID_PROTOCOL_VERSION`.
    pub fn new(options: &ServerOptions) -> Result<Arc<SecureContext>, NetError> {
        let built = build_server(options, None)?;
        Ok(Arc::new(SecureContext {
            current: Mutex::new(built),
        }))
    }

    /// Replaces the configuration (certificate rotation). On error the old one stays.
    pub fn reload(&self, options: &ServerOptions) -> Result<(), NetError> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let built = build_server(options, Some(&current.1))?;
        *current = built;
        Ok(())
    }

    /// The configuration new sessions start with.
    pub fn snapshot(&self) -> ServerSnapshot {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .clone()
    }
}

fn build_server(
    o: &ServerOptions,
    previous: Option<&Resumable>,
) -> Result<(ServerSnapshot, Resumable), NetError> {
    let provider = provider_for(&o.common)?;
    if o.identities.is_empty() {
        return Err(NetError::new(
            code::ERR_TLS_INVALID_PEM,
            "a server needs `cert` and `key`",
        ));
    }
    let keys = |ids: &[Identity]| {
        ids.iter()
            .map(|id| certified_key(id, &provider))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut by_name = HashMap::new();
    for (name, ids) in &o.sni {
        by_name.insert(name.to_ascii_lowercase(), keys(ids)?);
    }
    let resolver = SniResolver {
        default: keys(&o.identities)?,
        by_name,
    };
    let auth = Arc::new(ClientAuth::new(
        roots(&o.common.ca)?,
        o.request_cert,
        o.common.reject_unauthorized,
        provider.clone(),
    ));
    let keep = |p: &Resumable| o.ticket_keys.is_none() || o.ticket_keys == Some(p.ticket_keys);
    let resumable = match previous {
        Some(p) if keep(p) => Resumable {
            ticket_keys: p.ticket_keys,
            ticketer: Arc::new(Ticketer::new(&p.ticket_keys, o.session_timeout)),
            cache: p.cache.clone(),
        },
        _ => {
            let ticket_keys = o.ticket_keys.unwrap_or_else(Ticketer::random_keys);
            let cache: Arc<dyn StoresServerSessions> = if o.session_cache_size == 0 {
                Arc::new(NoServerSessionStorage {})
            } else {
                ServerSessionMemoryCache::new(o.session_cache_size)
            };
            Resumable {
                ticket_keys,
                ticketer: Arc::new(Ticketer::new(&ticket_keys, o.session_timeout)),
                cache,
            }
        }
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&o.common.versions()?)
        .map_err(|e| NetError::new(code::ERR_TLS_INVALID_PROTOCOL_VERSION, e.to_string()))?
        .with_client_cert_verifier(auth.clone())
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = o.common.alpn_protocols.clone();
    config.session_storage = resumable.cache.clone();
    config.ticketer = resumable.ticketer.clone();
    // After the handshake a TLS 1.3 session runs its own record layer (`traffic.rs`).
    config.enable_secret_extraction = true;
    let snapshot = ServerSnapshot {
        config: Arc::new(config),
        auth,
        limits: o.common.limits,
    };
    Ok((snapshot, resumable))
}

/// A shared client context (see the module docs).
pub struct ClientContext {
    pub(super) config: Arc<ClientConfig>,
    pub(super) auth: Arc<ServerAuth>,
    pub(super) limits: TlsLimits,
}

impl ClientContext {
    /// Builds a context; the same errors as [`SecureContext::new`].
    pub fn new(o: &ClientOptions) -> Result<Arc<ClientContext>, NetError> {
        let provider = provider_for(&o.common)?;
        let auth = Arc::new(ServerAuth::new(
            roots(&o.common.ca)?,
            o.common.reject_unauthorized,
            provider.clone(),
        ));
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&o.common.versions()?)
            .map_err(|e| NetError::new(code::ERR_TLS_INVALID_PROTOCOL_VERSION, e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(auth.clone());
        let mut config = match &o.identity {
            None => builder.with_no_client_auth(),
            Some(id) => {
                let ck = certified_key(id, &provider)?;
                builder
                    .with_client_auth_cert(ck.cert.clone(), pem::private_key(&id.key)?)
                    .map_err(|e| NetError::new(code::ERR_TLS_INVALID_PEM, e.to_string()))?
            }
        };
        config.alpn_protocols = o.common.alpn_protocols.clone();
        config.enable_secret_extraction = true; // see `traffic.rs`
        config.resumption = match o.session_cache_size.unwrap_or(256) {
            0 => Resumption::disabled(),
            n => Resumption::store(Arc::new(ClientSessionMemoryCache::new(n))),
        };
        Ok(Arc::new(ClientContext {
            config: Arc::new(config),
            auth,
            limits: o.common.limits,
        }))
    }
}
