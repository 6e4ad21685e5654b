//! Certificate verification with Node's `rejectUnauthorized` semantics, on both sides.
//!
//! # Design
//!
//! rustls' WebPKI verifiers either accept a chain or fail the handshake. Node also has a
//! third outcome: `rejectUnauthorized: false` completes the handshake and reports
//! `authorized: false` with the `authorizationError`. Both wrappers here therefore:
//! * with `reject_unauthorized`, delegate to WebPKI and turn an untrusted chain into OpenSSL's
//!   code right away (the chain is only in hand here: rustls does not keep it after a failure).
//!   rustls sends such a rejection to the peer as a `certificate_unknown` alert (OpenSSL would
//!   send `unknown_ca`); expiry and name mismatches keep their specific alerts;
//! * without it, accept any chain but still check every handshake signature against the
//!   presented key (so the peer must hold the key), and [`ServerAuth::authorize`] /
//!   [`ClientAuth::authorize`] run the WebPKI check once the handshake is done, for the
//!   report only.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, RootCertStore,
    SignatureScheme,
};

use super::errors::{cert_error, code};
use super::pem;
use crate::error::NetError;

/// The trust anchors from `ca` PEM blocks; an empty store when there are none.
pub fn roots(ca: &[Vec<u8>]) -> Result<RootCertStore, NetError> {
    let mut store = RootCertStore::empty();
    for block in ca {
        for cert in pem::certificates(block, "ca")? {
            store.add(cert).map_err(|e| {
                NetError::new(
                    code::ERR_TLS_INVALID_PEM,
                    format!("unusable `ca` certificate: {e}"),
                )
            })?;
        }
    }
    Ok(store)
}

/// Turns a WebPKI failure into OpenSSL's code, carried through rustls as `Other`.
fn node_error(err: Error, chain: &[CertificateDer<'_>]) -> Error {
    match err {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            let e = cert_error(&CertificateError::UnknownIssuer, Some(chain));
            Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
        }
        other => other,
    }
}

fn chain<'a>(leaf: &CertificateDer<'a>, rest: &[CertificateDer<'a>]) -> Vec<CertificateDer<'a>> {
    let mut all = Vec::with_capacity(1 + rest.len());
    all.push(leaf.clone());
    all.extend(rest.iter().cloned());
    all
}

/// The client's view of the server's certificate.
#[derive(Debug)]
pub struct ServerAuth {
    webpki: Option<Arc<WebPkiServerVerifier>>,
    reject: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerAuth {
    /// A verifier trusting `roots` (none: every chain is untrusted).
    pub fn new(roots: RootCertStore, reject: bool, provider: Arc<CryptoProvider>) -> ServerAuth {
        let webpki = (!roots.is_empty()).then(|| {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("roots are not empty")
        });
        ServerAuth {
            webpki,
            reject,
            provider,
        }
    }

    fn check(
        &self,
        leaf: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let Some(webpki) = &self.webpki else {
            return Err(node_error(
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                &chain(leaf, rest),
            ));
        };
        webpki
            .verify_server_cert(leaf, rest, name, &[], now)
            .map(|_| ())
            .map_err(|e| node_error(e, &chain(leaf, rest)))
    }

    /// After the handshake: `None` if the chain verifies for `name`, else the error Node would
    /// put in `authorizationError`.
    pub fn authorize(
        &self,
        peer: &[CertificateDer<'_>],
        name: &ServerName<'_>,
    ) -> Option<NetError> {
        let (leaf, rest) = peer.split_first()?;
        self.check(leaf, rest, name, UnixTime::now())
            .err()
            .map(|e| super::errors::from_rustls(&e))
    }

    /// Whether failures end the handshake (`rejectUnauthorized`).
    pub fn rejects(&self) -> bool {
        self.reject
    }
}

impl ServerCertVerifier for ServerAuth {
    fn verify_server_cert(
        &self,
        leaf: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        _ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if self.reject {
            self.check(leaf, rest, name, now)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The server's view of client certificates (`requestCert`, `rejectUnauthorized`, `ca`).
#[derive(Debug)]
pub struct ClientAuth {
    webpki: Option<Arc<dyn ClientCertVerifier>>,
    request: bool,
    reject: bool,
    provider: Arc<CryptoProvider>,
}

impl ClientAuth {
    /// A verifier trusting `roots`; `request` sends a CertificateRequest at all.
    pub fn new(
        roots: RootCertStore,
        request: bool,
        reject: bool,
        provider: Arc<CryptoProvider>,
    ) -> ClientAuth {
        let webpki = (!roots.is_empty()).then(|| {
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .expect("roots are not empty")
        });
        ClientAuth {
            webpki,
            request,
            reject,
            provider,
        }
    }

    fn check(
        &self,
        leaf: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), Error> {
        let Some(webpki) = &self.webpki else {
            return Err(node_error(
                Error::InvalidCertificate(CertificateError::UnknownIssuer),
                &chain(leaf, rest),
            ));
        };
        webpki
            .verify_client_cert(leaf, rest, now)
            .map(|_| ())
            .map_err(|e| node_error(e, &chain(leaf, rest)))
    }

    /// After the handshake: `(authorized, authorizationError)` as Node reports them on a
    /// server socket. Without `requestCert` a client is never authorized and there is no error.
    pub fn authorize(&self, peer: Option<&[CertificateDer<'_>]>) -> (bool, Option<NetError>) {
        if !self.request {
            return (false, None);
        }
        match peer.and_then(|p| p.split_first()) {
            None => (
                false,
                Some(NetError::new(
                    code::ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE,
                    "peer did not return a certificate",
                )),
            ),
            Some(_) if self.reject => (true, None), // verified during the handshake
            Some((leaf, rest)) => match self.check(leaf, rest, UnixTime::now()) {
                Ok(()) => (true, None),
                Err(e) => (false, Some(super::errors::from_rustls(&e))),
            },
        }
    }
}

impl ClientCertVerifier for ClientAuth {
    fn offer_client_auth(&self) -> bool {
        self.request
    }

    fn client_auth_mandatory(&self) -> bool {
        self.request && self.reject
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.as_ref().map_or(&[], |w| w.root_hint_subjects())
    }

    fn verify_client_cert(
        &self,
        leaf: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if self.reject {
            self.check(leaf, rest, now)?;
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let algs = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
