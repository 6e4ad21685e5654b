//! Which end of a connection a [`super::TlsSession`] is, with what that end checks of its
//! peer, and the [`TlsInfo`] it reports once the handshake completed.

use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{CommonState, HandshakeKind, ProtocolVersion};

use super::ciphers;
use super::errors;
use super::info::{CipherInfo, PeerCertificate, TlsInfo};
use super::verify::{ClientAuth, ServerAuth};

/// The server or the client end, with its peer checks.
pub(crate) enum Side {
    /// A server: the client-certificate policy.
    Server(Arc<ClientAuth>),
    /// A client of `name` (`text` as given): the server-certificate policy.
    Client {
        auth: Arc<ServerAuth>,
        name: ServerName<'static>,
        text: String,
    },
}

impl Side {
    /// The session's state after the handshake: `common` is the connection's, `sni` the
    /// server name a client sent (server side).
    pub fn info(&self, common: &CommonState, sni: Option<String>) -> TlsInfo {
        let protocol = match common.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
            _ => "TLSv1.2",
        };
        let (name, standard_name) = common
            .negotiated_cipher_suite()
            .map_or(("unknown", "unknown"), |s| ciphers::names(s.suite()));
        let peer = common.peer_certificates();
        let (servername, authorized, authorization_error) = match self {
            Side::Server(auth) => {
                let (ok, err) = auth.authorize(peer);
                (sni, ok, err)
            }
            Side::Client { auth, name, text } => {
                let err = if auth.rejects() {
                    None // the handshake would have failed
                } else {
                    match peer {
                        Some(p) => auth.authorize(p, name),
                        None => Some(errors::unknown_issuer(&[])),
                    }
                };
                (Some(text.clone()), err.is_none(), err)
            }
        };
        TlsInfo {
            protocol,
            cipher: CipherInfo {
                name,
                standard_name,
                version: protocol,
            },
            alpn_protocol: common.alpn_protocol().map(<[u8]>::to_vec),
            servername,
            authorized,
            authorization_error,
            peer_certificate: peer.and_then(|p| p.first()).map(PeerCertificate::from_der),
            session_reused: common.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }
}
