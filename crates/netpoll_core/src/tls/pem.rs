//! PEM input, as Node takes `cert`, `key` and `ca`: strings or Buffers holding one or more
//! PEM blocks. Parsed with `rustls-pki-types`' own PEM reader (no extra crate).
//!
//! Keys may be PKCS#8 (`BEGIN PRIVATE KEY`), PKCS#1 RSA (`BEGIN RSA PRIVATE KEY`) or SEC1 EC
//! (`BEGIN EC PRIVATE KEY`). Encrypted keys (Node's `passphrase`) are not supported: rustls
//! has no PKCS#8 decryption, and they are reported as `ERR_TLS_INVALID_PEM`.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::errors::code;
use crate::error::NetError;

/// Every certificate in `pem`, in order (a leaf followed by its intermediates, or a CA bundle).
/// An input without any certificate is an error (`ERR_TLS_INVALID_PEM`).
pub fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(what, &e.to_string()))?;
    if certs.is_empty() {
        return Err(invalid(what, "no CERTIFICATE block"));
    }
    Ok(certs)
}

/// The first private key in `pem` (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, NetError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| invalid("key", &e.to_string()))
}

fn invalid(what: &str, why: &str) -> NetError {
    NetError::new(
        code::ERR_TLS_INVALID_PEM,
        format!("invalid PEM in `{what}`: {why}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_garbage_input_is_a_clear_error() {
        assert_eq!(
            certificates(b"", "cert").unwrap_err().code,
            code::ERR_TLS_INVALID_PEM
        );
        let e = certificates(
            b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n",
            "ca",
        )
        .unwrap_err();
        assert!(e.message.contains("`ca`"), "{}", e.message);
        assert_eq!(
            private_key(b"nope").unwrap_err().code,
            code::ERR_TLS_INVALID_PEM
        );
    }
}
