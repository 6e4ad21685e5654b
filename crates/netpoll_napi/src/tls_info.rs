//! A connection's TLS state for JS (`conn.tls`): the core's `TlsInfo` in Node's shapes
//! (`getCipher()`, `getPeerCertificate()`).

use std::collections::HashMap;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::event::ConnId;
use netpoll_core::threaded::Command;
use netpoll_core::tls::TlsInfo;

use crate::engine::{ask, Engine, NativeEngine};

/// Node's `getCipher()`.
#[napi(object)]
pub struct TlsCipher {
    pub name: String,
    pub standard_name: String,
    pub version: String,
}

/// Node's `getPeerCertificate()` (the leaf only).
#[napi(object)]
pub struct TlsPeerCertificate {
    pub subject: Option<HashMap<String, String>>,
    pub issuer: Option<HashMap<String, String>>,
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub serial_number: Option<String>,
    pub subjectaltname: Option<String>,
    pub fingerprint256: String,
    pub raw: Buffer,
}

/// `conn.tls`.
#[napi(object)]
pub struct TlsState {
    pub protocol: String,
    pub cipher: TlsCipher,
    pub alpn_protocol: Option<String>,
    pub servername: Option<String>,
    pub authorized: bool,
    /// The code of the verification failure (Node's `authorizationError`).
    pub authorization_error: Option<String>,
    pub peer_certificate: Option<TlsPeerCertificate>,
    pub session_reused: bool,
}

fn state(info: TlsInfo) -> TlsState {
    let name = |dn: &Vec<(String, String)>| dn.iter().cloned().collect::<HashMap<_, _>>();
    TlsState {
        protocol: info.protocol.into(),
        cipher: TlsCipher {
            name: info.cipher.name.into(),
            standard_name: info.cipher.standard_name.into(),
            version: info.cipher.version.into(),
        },
        alpn_protocol: info
            .alpn_protocol
            .map(|p| String::from_utf8_lossy(&p).into_owned()),
        servername: info.servername,
        authorized: info.authorized,
        authorization_error: info.authorization_error.map(|e| e.code.to_string()),
        peer_certificate: info.peer_certificate.map(|p| {
            let f = p.fields.as_ref();
            TlsPeerCertificate {
                subject: f.map(|f| name(&f.subject)),
                issuer: f.map(|f| name(&f.issuer)),
                valid_from: f.map(|f| f.valid_from.clone()),
                valid_to: f.map(|f| f.valid_to.clone()),
                serial_number: f.map(|f| f.serial_number.clone()),
                subjectaltname: f.and_then(|f| f.subjectaltname.clone()),
                fingerprint256: p.fingerprint256,
                raw: p.raw.into(),
            }
        }),
        session_reused: info.session_reused,
    }
}

#[napi]
impl NativeEngine {
    /// The TLS state of a connection once its handshake completed (`null` for a plain or
    /// closed connection).
    #[napi(catch_unwind)]
    pub fn tls_info(
        &self,
        shard: u32,
        index: u32,
        generation: u32,
    ) -> napi::Result<Option<TlsState>> {
        let id = ConnId { index, generation };
        let info = match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| s.tls_info(id).cloned()),
            Engine::Threaded(t) => ask(t, shard, |reply| Command::TlsInfo(id, reply))?,
        };
        Ok(info.map(state))
    }
}
