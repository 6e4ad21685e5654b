//! What JS sees of an established TLS session: Node's `getProtocol()`, `getCipher()`,
//! `alpnProtocol`, `servername`, `authorized`, `authorizationError`, `isSessionReused()` and
//! `getPeerCertificate()`.

use rustls::pki_types::CertificateDer;

use super::x509::{self, CertFields};
use crate::error::NetError;

/// Node's `getCipher()`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CipherInfo {
    /// OpenSSL's name (`"ECDHE-RSA-AES128-GCM-SHA256"`; TLS 1.3: the IANA name).
    pub name: &'static str,
    /// The IANA name (`"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"`).
    pub standard_name: &'static str,
    /// The protocol version the suite is used with (`"TLSv1.2"`), as Node reports it.
    pub version: &'static str,
}

/// Node's `getPeerCertificate()` for the peer's leaf certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCertificate {
    /// Subject, issuer, validity, serial number, subjectaltname. `None` when the DER could not
    /// be read (only possible with `reject_unauthorized: false`; `raw` is still there).
    pub fields: Option<CertFields>,
    /// SHA-256 of `raw`, upper-case hex joined by `:`.
    pub fingerprint256: String,
    /// The DER bytes.
    pub raw: Vec<u8>,
}

impl PeerCertificate {
    /// Reads a DER certificate.
    pub fn from_der(der: &CertificateDer<'_>) -> PeerCertificate {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der);
        PeerCertificate {
            fields: x509::parse(der),
            fingerprint256: x509::hex_upper(digest.as_ref(), ":"),
            raw: der.to_vec(),
        }
    }
}

/// The state of an established session, as `conn.tls` shows it to JS.
#[derive(Clone, Debug)]
pub struct TlsInfo {
    /// `"TLSv1.2"` or `"TLSv1.3"`.
    pub protocol: &'static str,
    /// The negotiated suite.
    pub cipher: CipherInfo,
    /// The ALPN protocol agreed, if any (Node: `false` when none).
    pub alpn_protocol: Option<Vec<u8>>,
    /// Server side: the SNI name the client sent. Client side: the name dialled (sent as SNI
    /// unless it is an IP address).
    pub servername: Option<String>,
    /// Whether the peer's certificate verified (server side: only with `requestCert`).
    pub authorized: bool,
    /// Why not, with the code Node would use (`CERT_HAS_EXPIRED`, …).
    pub authorization_error: Option<NetError>,
    /// The peer's leaf certificate, if it sent one.
    pub peer_certificate: Option<PeerCertificate>,
    /// Whether the handshake resumed an earlier session (`isSessionReused()`).
    pub session_reused: bool,
}
