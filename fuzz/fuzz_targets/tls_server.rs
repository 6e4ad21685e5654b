//! Fuzz target: arbitrary bytes from a peer to the server side of `TlsSession`.
//!
//! Input layout: 1 byte `p`, then the stream. The stream is fed to `decrypt` in pieces of
//! `1 + p % 64` bytes (0: all at once when `p` is 0), with a plaintext sink of
//! `(p / 64) * 4096` bytes (0..=12 KiB, so a full sink is covered too); after every piece the
//! records the session queued are drained with `write_tls_to`. Checked: no panic; `decrypt`
//! never claims more output than it was given; once it failed, every later call
//! returns the same error; EOF at the end is either clean (after a close_notify) or an error,
//! never both; pending output stays bounded.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use netpoll_core::tls::{Identity, SecureContext, ServerOptions, TlsSession};

#[path = "common/fixture.rs"]
mod fixture;
use fixture::{CERT, KEY};

fn context() -> &'static Arc<SecureContext> {
    static CTX: OnceLock<Arc<SecureContext>> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut o = ServerOptions {
            identities: vec![Identity {
                cert: CERT.as_bytes().to_vec(),
                key: KEY.as_bytes().to_vec(),
            }],
            request_cert: true,
            ..ServerOptions::default()
        };
        o.common.reject_unauthorized = false;
        o.common.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        SecureContext::new(&o).expect("fixture context")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&p, stream)) = data.split_first() else {
        return;
    };
    let piece = if p == 0 {
        stream.len().max(1)
    } else {
        1 + usize::from(p % 64)
    };
    let mut sink = vec![0u8; usize::from(p / 64) * 4096];
    let mut session = TlsSession::server(context()).expect("server session");
    let mut pending: Vec<u8> = Vec::new();
    let mut failed = None;
    let mut out = Vec::new();
    for chunk in stream.chunks(piece) {
        pending.extend_from_slice(chunk);
        match session.decrypt(&mut pending, &mut sink) {
            Ok(d) => {
                assert!(failed.is_none(), "a failed session decrypted again");
                assert!(d.written <= sink.len());
                pending.clear();
            }
            Err(e) => {
                if let Some(first) = &failed {
                    assert_eq!(first, &e, "a failed session changed its error");
                }
                failed = Some(e);
            }
        }
        out.clear();
        while session.wants_write() {
            if session.write_tls_to(&mut out).expect("a Vec never fails") == 0 {
                break;
            }
        }
        assert!(out.len() < 1 << 20, "one round queued {} bytes", out.len());
        assert!(pending.len() <= stream.len());
    }
    match (session.on_eof(), &failed) {
        (Ok(()), Some(e)) => panic!("clean EOF after an error {e:?}"),
        (Ok(()), None) => assert!(session.peer_closed()),
        (Err(_), _) => {}
    }
});
