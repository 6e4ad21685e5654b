//! Cipher suites: Node's `ciphers` string → the rustls suites it names, and the names Node's
//! `getCipher()` reports.
//!
//! rustls implements nine suites (all AEAD, all forward-secret); `ciphers` can only choose among
//! them. A name may be OpenSSL's (`ECDHE-RSA-AES128-GCM-SHA256`) or IANA's
//! (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`, `TLS_AES_128_GCM_SHA256`). OpenSSL keywords and
//! operators (`HIGH`, `!aNULL`, `@STRENGTH`, `DEFAULT`) and suites rustls lacks (CBC, RSA key
//! exchange, DHE) are ignored. As in Node, TLS 1.3 suites are selected separately: a list that
//! names no TLS 1.3 suite keeps all of them, and one that names no TLS 1.2 suite keeps all of
//! those. A list that names no suite rustls has is an error, `ERR_SSL_NO_CIPHER_MATCH`, as
//! Node's "No cipher match".

use rustls::{CipherSuite, SupportedCipherSuite};

use super::errors::code;
use crate::error::NetError;

/// `(suite, IANA name, OpenSSL name)` for each suite rustls implements.
const NAMES: [(CipherSuite, &str, &str); 9] = [
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
        "TLS_AES_128_GCM_SHA256",
    ),
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
        "TLS_AES_256_GCM_SHA384",
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// `(OpenSSL name, IANA name)` of a suite, as Node's `getCipher()` `name`/`standardName`.
pub fn names(suite: CipherSuite) -> (&'static str, &'static str) {
    NAMES
        .iter()
        .find(|(s, _, _)| *s == suite)
        .map(|(_, iana, openssl)| (*openssl, *iana))
        .unwrap_or(("unknown", "unknown"))
}

/// Keeps the suites of `available` that `list` selects (see the module docs for the rules).
pub fn select(
    list: &str,
    available: &[SupportedCipherSuite],
) -> Result<Vec<SupportedCipherSuite>, NetError> {
    let named: Vec<CipherSuite> = list
        .split([':', ',', ' '])
        .filter_map(|token| {
            NAMES
                .iter()
                .find(|(_, iana, openssl)| token == *iana || token == *openssl)
                .map(|(s, _, _)| *s)
        })
        .collect();
    let is13 = |s: &SupportedCipherSuite| s.tls13().is_some();
    let names13 = available
        .iter()
        .any(|s| is13(s) && named.contains(&s.suite()));
    let names12 = available
        .iter()
        .any(|s| !is13(s) && named.contains(&s.suite()));
    if !names13 && !names12 {
        return Err(NetError::new(
            code::ERR_SSL_NO_CIPHER_MATCH,
            format!("No cipher match: `{list}` names no suite rustls implements"),
        ));
    }
    let mut out: Vec<SupportedCipherSuite> = Vec::new();
    // Named suites first, in the order given; then the untouched family, in default order.
    for s in &named {
        if let Some(found) = available.iter().find(|a| a.suite() == *s) {
            if !out.iter().any(|o| o.suite() == *s) {
                out.push(*found);
            }
        }
    }
    out.extend(
        available
            .iter()
            .filter(|s| if is13(s) { !names13 } else { !names12 }),
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn available() -> Vec<SupportedCipherSuite> {
        rustls::crypto::aws_lc_rs::default_provider().cipher_suites
    }

    #[test]
    fn openssl_and_iana_names_select_and_keep_the_other_family() {
        let got = select("HIGH:!aNULL:ECDHE-RSA-AES128-GCM-SHA256", &available()).unwrap();
        let twelve: Vec<_> = got.iter().filter(|s| s.tls13().is_none()).collect();
        assert_eq!(twelve.len(), 1);
        assert_eq!(
            twelve[0].suite(),
            CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        );
        assert_eq!(got.iter().filter(|s| s.tls13().is_some()).count(), 3);
        let got = select("TLS_CHACHA20_POLY1305_SHA256", &available()).unwrap();
        assert_eq!(got[0].suite(), CipherSuite::TLS13_CHACHA20_POLY1305_SHA256);
        assert_eq!(got.iter().filter(|s| s.tls13().is_some()).count(), 1);
    }

    #[test]
    fn a_list_without_a_known_suite_is_no_cipher_match() {
        let e = select("AES128-SHA:DHE-RSA-AES256-SHA", &available()).unwrap_err();
        assert_eq!(e.code, code::ERR_SSL_NO_CIPHER_MATCH);
    }
}
