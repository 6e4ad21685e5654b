//! rustls errors → [`NetError`]s with the codes Node's `tls` reports (OpenSSL's names).
//!
//! # Design
//!
//! * Certificate verification failures get OpenSSL's verify codes (`CERT_HAS_EXPIRED`,
//!   `DEPTH_ZERO_SELF_SIGNED_CERT`, …) and messages, so code written against Node's
//!   `authorizationError`/`err.code` keeps working. rustls reports an untrusted chain as one
//!   `UnknownIssuer`; [`unknown_issuer`] tells OpenSSL's four cases apart from the chain itself.
//! * An alert received from the peer becomes `ERR_SSL_<OpenSSL reason>`, e.g.
//!   `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`, `ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE`,
//!   `ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED`, exactly as Node names them; the message is
//!   OpenSSL's reason text (`"tlsv1 alert unknown ca"`).
//! * Local protocol failures get the code OpenSSL uses for the same condition where one exists
//!   (`ERR_SSL_WRONG_VERSION_NUMBER` for plaintext sent to a TLS port).

use rustls::pki_types::CertificateDer;
use rustls::{AlertDescription, CertificateError, Error, PeerIncompatible};

use super::x509;
use crate::error::NetError;

/// The TLS codes (Node's and OpenSSL's names). `ERR_TLS_HANDSHAKE_TIMEOUT` is in
/// [`crate::error::code`] because the shard's timer raises it.
pub mod code {
    /// The certificate does not name the host that was dialled.
    pub const ERR_TLS_CERT_ALTNAME_INVALID: &str = "ERR_TLS_CERT_ALTNAME_INVALID";
    /// The certificate's `notAfter` is in the past.
    pub const CERT_HAS_EXPIRED: &str = "CERT_HAS_EXPIRED";
    /// The certificate's `notBefore` is in the future.
    pub const CERT_NOT_YET_VALID: &str = "CERT_NOT_YET_VALID";
    /// The peer sent one self-signed certificate that is not trusted.
    pub const DEPTH_ZERO_SELF_SIGNED_CERT: &str = "DEPTH_ZERO_SELF_SIGNED_CERT";
    /// The chain ends in a self-signed root that is not trusted.
    pub const SELF_SIGNED_CERT_IN_CHAIN: &str = "SELF_SIGNED_CERT_IN_CHAIN";
    /// One leaf whose issuer is unknown.
    pub const UNABLE_TO_VERIFY_LEAF_SIGNATURE: &str = "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
    /// A chain whose last certificate's issuer is unknown.
    pub const UNABLE_TO_GET_ISSUER_CERT_LOCALLY: &str = "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    /// A signature in the chain does not verify.
    pub const CERT_SIGNATURE_FAILURE: &str = "CERT_SIGNATURE_FAILURE";
    /// The certificate is revoked.
    pub const CERT_REVOKED: &str = "CERT_REVOKED";
    /// The certificate's extended key usage does not allow this use.
    pub const INVALID_PURPOSE: &str = "INVALID_PURPOSE";
    /// Any other certificate rejection.
    pub const CERT_REJECTED: &str = "CERT_REJECTED";
    /// The server required a client certificate and none was sent.
    pub const ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE: &str =
        "ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE";
    /// Bytes that are not TLS records (e.g. plaintext HTTP sent to a TLS port).
    pub const ERR_SSL_WRONG_VERSION_NUMBER: &str = "ERR_SSL_WRONG_VERSION_NUMBER";
    /// A malformed TLS message.
    pub const ERR_SSL_DECODE_ERROR: &str = "ERR_SSL_DECODE_ERROR";
    /// A record longer than TLS allows.
    pub const ERR_SSL_RECORD_OVERFLOW: &str = "ERR_SSL_RECORD_OVERFLOW";
    /// A record failed authentication.
    pub const ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC: &str =
        "ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC";
    /// A message arrived that the handshake state does not allow.
    pub const ERR_SSL_UNEXPECTED_MESSAGE: &str = "ERR_SSL_UNEXPECTED_MESSAGE";
    /// No cipher suite in common.
    pub const ERR_SSL_NO_SHARED_CIPHER: &str = "ERR_SSL_NO_SHARED_CIPHER";
    /// No protocol version in common (`minVersion`/`maxVersion`).
    pub const ERR_SSL_UNSUPPORTED_PROTOCOL: &str = "ERR_SSL_UNSUPPORTED_PROTOCOL";
    /// ALPN offered by both sides with no protocol in common.
    pub const ERR_SSL_NO_APPLICATION_PROTOCOL: &str = "ERR_SSL_NO_APPLICATION_PROTOCOL";
    /// Any other handshake failure (the message says which).
    pub const ERR_SSL_HANDSHAKE_FAILURE: &str = "ERR_SSL_HANDSHAKE_FAILURE";
    /// The peer broke the protocol in a way rustls detected (the message says how).
    pub const ERR_SSL_PEER_MISBEHAVED: &str = "ERR_SSL_PEER_MISBEHAVED";
    /// The peer sent an alert we have no name for.
    pub const ERR_SSL_UNKNOWN_ALERT: &str = "ERR_SSL_UNKNOWN_ALERT";
    /// `cert`/`key`/`ca` is not usable PEM, or the key does not match the certificate.
    pub const ERR_TLS_INVALID_PEM: &str = "ERR_TLS_INVALID_PEM";
    /// `ciphers` names no suite rustls implements.
    pub const ERR_SSL_NO_CIPHER_MATCH: &str = "ERR_SSL_NO_CIPHER_MATCH";
    /// `minVersion`/`maxVersion` is not `TLSv1.2`/`TLSv1.3`, or min > max.
    pub const ERR_TLS_INVALID_PROTOCOL_VERSION: &str = "ERR_TLS_INVALID_PROTOCOL_VERSION";
}

/// Converts a rustls error. A certificate error our verifiers already named (carried as
/// `CertificateError::Other`) comes back unchanged.
pub fn from_rustls(err: &Error) -> NetError {
    use code::*;
    let (c, msg): (&'static str, String) = match err {
        Error::AlertReceived(alert) => {
            let c = alert_code(*alert);
            let reason = c
                .trim_start_matches("ERR_SSL_")
                .to_lowercase()
                .replace('_', " ");
            (c, reason)
        }
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<NetError>() {
                Some(e) => return e.clone(),
                None => (CERT_REJECTED, format!("certificate rejected: {other}")),
            }
        }
        Error::InvalidCertificate(e) => return cert_error(e, None),
        Error::NoCertificatesPresented => (
            ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE,
            "peer did not return a certificate".into(),
        ),
        Error::InvalidMessage(m) => match m {
            rustls::InvalidMessage::InvalidContentType
            | rustls::InvalidMessage::UnknownProtocolVersion => {
                (ERR_SSL_WRONG_VERSION_NUMBER, "wrong version number".into())
            }
            rustls::InvalidMessage::MessageTooLarge => {
                (ERR_SSL_RECORD_OVERFLOW, "record overflow".into())
            }
            other => (ERR_SSL_DECODE_ERROR, format!("decode error: {other:?}")),
        },
        Error::PeerSentOversizedRecord => (ERR_SSL_RECORD_OVERFLOW, "record overflow".into()),
        Error::DecryptError => (
            ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
            "decryption failed or bad record mac".into(),
        ),
        Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => (
            ERR_SSL_UNEXPECTED_MESSAGE,
            format!("unexpected message: {err}"),
        ),
        Error::PeerIncompatible(p) => (incompatible_code(p), format!("{err}")),
        Error::PeerMisbehaved(_) => (ERR_SSL_PEER_MISBEHAVED, format!("{err}")),
        Error::NoApplicationProtocol => (
            ERR_SSL_NO_APPLICATION_PROTOCOL,
            "no application protocol in common (ALPN)".into(),
        ),
        other => (ERR_SSL_HANDSHAKE_FAILURE, format!("{other}")),
    };
    NetError::new(c, msg)
}

fn incompatible_code(p: &PeerIncompatible) -> &'static str {
    use PeerIncompatible as P;
    match p {
        P::NoCipherSuitesInCommon => code::ERR_SSL_NO_SHARED_CIPHER,
        P::ServerDoesNotSupportTls12Or13
        | P::ServerTlsVersionIsDisabledByOurConfig
        | P::SupportedVersionsExtensionRequired
        | P::Tls12NotOffered
        | P::Tls12NotOfferedOrEnabled => code::ERR_SSL_UNSUPPORTED_PROTOCOL,
        _ => code::ERR_SSL_HANDSHAKE_FAILURE,
    }
}

/// A certificate error with OpenSSL's code and message. `chain` (leaf first) is needed to name
/// an unknown issuer the way OpenSSL does; without it the leaf case is assumed.
pub fn cert_error(err: &CertificateError, chain: Option<&[CertificateDer<'_>]>) -> NetError {
    use code::*;
    use CertificateError as C;
    let (c, msg): (&'static str, String) = match err {
        C::Expired | C::ExpiredContext { .. } => (CERT_HAS_EXPIRED, "certificate has expired".into()),
        C::NotValidYet | C::NotValidYetContext { .. } => {
            (CERT_NOT_YET_VALID, "certificate is not yet valid".into())
        }
        C::NotValidForName => (
            ERR_TLS_CERT_ALTNAME_INVALID,
            "Hostname/IP does not match certificate's altnames".into(),
        ),
        C::NotValidForNameContext { expected, presented } => (
            ERR_TLS_CERT_ALTNAME_INVALID,
            format!(
                "Hostname/IP does not match certificate's altnames: Host: {}. is not in the cert's altnames: {}",
                expected.to_str(),
                presented.join(", ")
            ),
        ),
        C::UnknownIssuer => return unknown_issuer(chain.unwrap_or(&[])),
        C::BadSignature => (CERT_SIGNATURE_FAILURE, "certificate signature failure".into()),
        C::Revoked => (CERT_REVOKED, "certificate revoked".into()),
        C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
            (INVALID_PURPOSE, "unsupported certificate purpose".into())
        }
        C::Other(other) => match other.0.downcast_ref::<NetError>() {
            Some(e) => return e.clone(),
            None => (CERT_REJECTED, format!("certificate rejected: {other}")),
        },
        other => (CERT_REJECTED, format!("certificate rejected: {other:?}")),
    };
    NetError::new(c, msg)
}

/// OpenSSL's four "untrusted chain" cases: one self-signed certificate; a chain ending in a
/// self-signed root; one leaf with an unknown issuer; a longer chain with an unknown top.
pub fn unknown_issuer(chain: &[CertificateDer<'_>]) -> NetError {
    use code::*;
    let self_issued = |der: &CertificateDer<'_>| x509::parse(der).is_some_and(|f| f.self_issued);
    let (c, msg) = match chain {
        [leaf] if self_issued(leaf) => (DEPTH_ZERO_SELF_SIGNED_CERT, "self-signed certificate"),
        [_, .., top] if self_issued(top) => (
            SELF_SIGNED_CERT_IN_CHAIN,
            "self-signed certificate in certificate chain",
        ),
        [_, _, ..] => (
            UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
            "unable to get local issuer certificate",
        ),
        _ => (
            UNABLE_TO_VERIFY_LEAF_SIGNATURE,
            "unable to verify the first certificate",
        ),
    };
    NetError::new(c, msg)
}

/// `ERR_SSL_<OpenSSL's reason>` for an alert received from the peer.
pub fn alert_code(alert: AlertDescription) -> &'static str {
    use AlertDescription as A;
    match alert {
        A::CloseNotify => "ERR_SSL_SSLV3_ALERT_CLOSE_NOTIFY",
        A::UnexpectedMessage => "ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE",
        A::BadRecordMac => "ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC",
        A::DecryptionFailed => "ERR_SSL_TLSV1_ALERT_DECRYPTION_FAILED",
        A::RecordOverflow => "ERR_SSL_TLSV1_ALERT_RECORD_OVERFLOW",
        A::DecompressionFailure => "ERR_SSL_SSLV3_ALERT_DECOMPRESSION_FAILURE",
        A::HandshakeFailure => "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE",
        A::NoCertificate => "ERR_SSL_SSLV3_ALERT_NO_CERTIFICATE",
        A::BadCertificate => "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE",
        A::UnsupportedCertificate => "ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
        A::CertificateRevoked => "ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED",
        A::CertificateExpired => "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
        A::CertificateUnknown => "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        A::IllegalParameter => "ERR_SSL_SSLV3_ALERT_ILLEGAL_PARAMETER",
        A::UnknownCA => "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
        A::AccessDenied => "ERR_SSL_TLSV1_ALERT_ACCESS_DENIED",
        A::DecodeError => "ERR_SSL_TLSV1_ALERT_DECODE_ERROR",
        A::DecryptError => "ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR",
        A::ExportRestriction => "ERR_SSL_TLSV1_ALERT_EXPORT_RESTRICTION",
        A::ProtocolVersion => "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION",
        A::InsufficientSecurity => "ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY",
        A::InternalError => "ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR",
        A::InappropriateFallback => "ERR_SSL_TLSV1_ALERT_INAPPROPRIATE_FALLBACK",
        A::UserCanceled => "ERR_SSL_TLSV1_ALERT_USER_CANCELLED",
        A::NoRenegotiation => "ERR_SSL_TLSV1_ALERT_NO_RENEGOTIATION",
        A::MissingExtension => "ERR_SSL_TLSV13_ALERT_MISSING_EXTENSION",
        A::UnsupportedExtension => "ERR_SSL_TLSV1_ALERT_UNSUPPORTED_EXTENSION",
        A::CertificateUnobtainable => "ERR_SSL_TLSV1_ALERT_CERTIFICATE_UNOBTAINABLE",
        A::UnrecognisedName => "ERR_SSL_TLSV1_ALERT_UNRECOGNIZED_NAME",
        A::BadCertificateStatusResponse => "ERR_SSL_TLSV1_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE",
        A::BadCertificateHashValue => "ERR_SSL_TLSV1_ALERT_BAD_CERTIFICATE_HASH_VALUE",
        A::UnknownPSKIdentity => "ERR_SSL_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY",
        A::CertificateRequired => "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
        A::NoApplicationProtocol => "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL",
        A::EncryptedClientHelloRequired => "ERR_SSL_TLSV1_ALERT_ECH_REQUIRED",
        _ => code::ERR_SSL_UNKNOWN_ALERT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alerts_get_openssl_names_and_reasons() {
        let e = from_rustls(&Error::AlertReceived(AlertDescription::UnknownCA));
        assert_eq!(e.code, "ERR_SSL_TLSV1_ALERT_UNKNOWN_CA");
        assert_eq!(e.message, "tlsv1 alert unknown ca");
    }

    #[test]
    fn a_bare_unknown_issuer_is_the_leaf_case() {
        let e = from_rustls(&Error::InvalidCertificate(CertificateError::UnknownIssuer));
        assert_eq!(e.code, code::UNABLE_TO_VERIFY_LEAF_SIGNATURE);
        let e = from_rustls(&Error::InvalidCertificate(CertificateError::Expired));
        assert_eq!(
            (e.code, e.message.as_str()),
            (code::CERT_HAS_EXPIRED, "certificate has expired")
        );
    }
}
