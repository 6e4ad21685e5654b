//! Fuzz target: the DER certificate reader behind `getPeerCertificate()` on arbitrary bytes
//! (with `rejectUnauthorized: false` it reads certificates nobody has parsed before). Checked:
//! no panic, and a parsed certificate's strings are well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use netpoll_core::tls::x509;

fuzz_target!(|data: &[u8]| {
    if let Some(fields) = x509::parse(data) {
        assert!(fields.valid_from.ends_with(" GMT") && fields.valid_to.ends_with(" GMT"));
        assert!(fields.serial_number.chars().all(|c| c.is_ascii_hexdigit()));
        assert!(fields.subject.len() + fields.issuer.len() <= data.len());
    }
});
