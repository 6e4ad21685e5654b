//! Fuzz target: the TLS 1.3 record layer a session runs after its handshake (`traffic.rs`),
//! between two of our sessions, with the wire under the fuzzer's control.
//!
//! Each input is a script run over a fresh client/server pair that completed a TLS 1.3
//! handshake in memory. Ops (one byte each, most with an argument byte `a`):
//! `0`: the client encrypts one buffer of `a` bytes; `1`: `a % 8 + 1` small buffers (joined
//! into shared records); `2`: a 40 KiB buffer (several full records); `3`: the wire's byte at
//! `a * 97` is flipped (once per input); `4`: `a * 13 + 1` wire bytes are delivered to the
//! server with a sink of `a % 5 * 1000` bytes (0: just what is held); `5`: the server
//! encrypts what it received so far back to the client (which must see it intact); `6`: the
//! client sends `close_notify`. Checked: no panic; the server's plaintext is always a
//! prefix of what the client sent (a flipped byte is never delivered as data: it fails the
//! record's MAC or its framing), equal to all of it at the end when nothing was flipped; a
//! failed session stays failed with the same error.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use netpoll_core::tls::{
    ClientContext, ClientOptions, Identity, SecureContext, ServerOptions, TlsSession, TlsVersion,
};

#[path = "common/fixture.rs"]
mod fixture;
use fixture::{CERT, KEY};

fn contexts() -> &'static (Arc<SecureContext>, Arc<ClientContext>) {
    static CTX: OnceLock<(Arc<SecureContext>, Arc<ClientContext>)> = OnceLock::new();
    CTX.get_or_init(|| {
        let mut so = ServerOptions {
            identities: vec![Identity {
                cert: CERT.as_bytes().to_vec(),
                key: KEY.as_bytes().to_vec(),
            }],
            ..ServerOptions::default()
        };
        so.common.min_version = TlsVersion::Tls13;
        let mut co = ClientOptions::default();
        // The fixture is a CA certificate, which webpki refuses as a server's: not checked.
        co.common.reject_unauthorized = false;
        co.session_cache_size = Some(0);
        (
            SecureContext::new(&so).expect("fixture server context"),
            ClientContext::new(&co).expect("fixture client context"),
        )
    })
}

/// Moves every record `from` queued onto `wire`.
fn drain(from: &mut TlsSession, wire: &mut Vec<u8>) {
    while from.wants_write() {
        if from.write_tls_to(wire).expect("a Vec never fails") == 0 {
            break;
        }
    }
}

/// A client and a server session that completed their handshake in memory.
fn pair() -> (TlsSession, TlsSession) {
    let (server_ctx, client_ctx) = contexts();
    let mut client = TlsSession::client(client_ctx, "localhost").expect("client session");
    let mut server = TlsSession::server(server_ctx).expect("server session");
    let mut sink = vec![0u8; 4096];
    for _ in 0..16 {
        let mut wire = Vec::new();
        drain(&mut client, &mut wire);
        server
            .decrypt(&mut wire, &mut sink)
            .expect("server handshake");
        let mut back = Vec::new();
        drain(&mut server, &mut back);
        client
            .decrypt(&mut back, &mut sink)
            .expect("client handshake");
        if server.runs_own_records() && client.runs_own_records() {
            return (client, server);
        }
    }
    panic!("the in-memory handshake did not complete");
}

fuzz_target!(|data: &[u8]| {
    let (mut client, mut server) = pair();
    let (mut sent, mut got) = (Vec::new(), Vec::new());
    let (mut echoed, mut returned) = (Vec::new(), Vec::new());
    let mut wire: Vec<u8> = Vec::new();
    let (mut flipped, mut failed) = (false, None);
    let mut ops = data.chunks(2);
    let mut counter = 0u8;
    let mut fill = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                counter = counter.wrapping_add(1);
                counter
            })
            .collect()
    };
    let offer = |client: &mut TlsSession, bufs: Vec<Vec<u8>>, sent: &mut Vec<u8>| {
        let slices: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
        if let Ok(n) = client.encrypt(&slices) {
            let all: Vec<u8> = bufs.concat();
            sent.extend_from_slice(&all[..n]);
        }
    };
    for op in &mut ops {
        let (o, a) = (op[0] % 7, usize::from(op.get(1).copied().unwrap_or(0)));
        match o {
            0 => offer(&mut client, vec![fill(a)], &mut sent),
            1 => offer(
                &mut client,
                (0..a % 8 + 1).map(|i| fill(i * 37 % 300)).collect(),
                &mut sent,
            ),
            2 => offer(&mut client, vec![fill(40 * 1024)], &mut sent),
            3 => {
                drain(&mut client, &mut wire);
                if !flipped && !wire.is_empty() {
                    let at = a * 97 % wire.len();
                    wire[at] ^= 1 << (a % 8);
                    flipped = true;
                }
            }
            _ => {}
        }
        if o == 4 {
            drain(&mut client, &mut wire);
            let n = (a * 13 + 1).min(wire.len());
            let mut piece: Vec<u8> = wire.drain(..n).collect();
            let mut sink = vec![0u8; a % 5 * 1000];
            match server.decrypt(&mut piece, &mut sink) {
                Ok(d) => {
                    assert!(failed.is_none(), "a failed session decrypted again");
                    got.extend_from_slice(&sink[..d.written]);
                }
                Err(e) => {
                    if let Some(first) = &failed {
                        assert_eq!(first, &e, "a failed session changed its error");
                    }
                    failed = Some(e);
                }
            }
        }
        if o == 5 && failed.is_none() {
            let fresh = got[echoed.len()..].to_vec();
            if let Ok(n) = server.encrypt(&[&fresh]) {
                echoed.extend_from_slice(&fresh[..n]);
                let mut back = Vec::new();
                drain(&mut server, &mut back);
                let mut sink = vec![0u8; back.len() + 64];
                let d = client
                    .decrypt(&mut back, &mut sink)
                    .expect("the server's records open");
                returned.extend_from_slice(&sink[..d.written]);
                assert_eq!(
                    returned, echoed,
                    "the client got the server's records intact"
                );
            }
        }
        if o == 6 {
            client.send_close_notify();
        }
        assert!(
            sent.starts_with(&got),
            "the server delivered bytes the client never sent"
        );
    }
    if !flipped && failed.is_none() {
        drain(&mut client, &mut wire);
        let mut sink = vec![0u8; wire.len() + 64];
        let d = server
            .decrypt(&mut wire, &mut sink)
            .expect("intact records open");
        got.extend_from_slice(&sink[..d.written]);
        // Plaintext after a full sink waits in the session: take it.
        loop {
            let d = server
                .decrypt(&mut [], &mut sink)
                .expect("waiting plaintext");
            if d.written == 0 {
                break;
            }
            got.extend_from_slice(&sink[..d.written]);
        }
        assert_eq!(got, sent, "intact records delivered everything, in order");
    }
});
