//! A TLS listener with an SNI callback (`ServerTls::sni_callback`), driven directly as the
//! inline engine does, against a rustls client over loopback: the ClientHello is held (even
//! when it arrives one byte per write) until the owner answers, the answer's certificates are
//! served, a client without SNI is never asked about, and a peer that leaves or a handshake
//! timer that fires while the answer is pending is reported once, with a late answer doing
//! nothing.

mod tls_util;
mod util;

use std::io::Read;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_core::batch::{Batch, RecordKind, RECORD_LEN};
use netpoll_core::event::ConnId;
use netpoll_core::shard::{Shard, SniAnswer};
use netpoll_core::tls::{ClientContext, SecureContext, TlsSession};
use tls_util::{client_options, server_options, tls_shard, Ca, Leaf, Peer};
use util::Log;

const TIMEOUT: Duration = Duration::from_secs(20);

/// The listener's context (`localhost`), a context for `alpha.test`, and a client trusting both.
struct Certs {
    listener: Arc<SecureContext>,
    alpha: Arc<SecureContext>,
    client: Arc<ClientContext>,
}

fn certs() -> Certs {
    let ca = Ca::new("Root");
    Certs {
        listener: SecureContext::new(&server_options(
            ca.issue(Leaf::new(&["localhost", "127.0.0.1"])),
        ))
        .unwrap(),
        alpha: SecureContext::new(&server_options(ca.issue(Leaf::new(&["alpha.test"])))).unwrap(),
        client: ClientContext::new(&client_options(ca.pem())).unwrap(),
    }
}

/// The SNI requests seen: (connection, listener id, name).
#[derive(Default)]
struct Requests(Vec<(ConnId, u32, String)>);

/// One round of the shard; its SNI requests go to `requests`, every record to `log`.
fn round(shard: &mut Shard, log: &mut Log, requests: &mut Requests) {
    let mut batch = Batch::default();
    shard
        .run_once(Some(Duration::from_millis(2)), &mut batch)
        .unwrap();
    let records: Vec<&[u32]> = batch.records.chunks_exact(RECORD_LEN).collect();
    for (i, r) in records.iter().enumerate() {
        if r[0] == RecordKind::SniRequest as u32 {
            let name = records[i + 1];
            assert_eq!(name[0], RecordKind::SniName as u32, "SniName follows");
            let bytes = &batch.bytes()[name[3] as usize..(name[3] + name[4]) as usize];
            let conn = ConnId {
                index: r[1],
                generation: r[2],
            };
            requests
                .0
                .push((conn, r[3], String::from_utf8(bytes.to_vec()).unwrap()));
        }
    }
    log.absorb(&mut batch);
}

/// Runs rounds (stepping `peer` too, if given) until `done`.
fn drive(
    shard: &mut Shard,
    log: &mut Log,
    requests: &mut Requests,
    mut peer: Option<&mut Peer>,
    what: &str,
    done: impl Fn(&Log, &Requests) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(log, requests) {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {TIMEOUT:?}; events {:?}",
            log.events
        );
        if let Some(p) = peer.as_deref_mut() {
            p.step();
        }
        round(shard, log, requests);
    }
}

/// A client session for `name` and its ClientHello bytes.
fn client_hello(ctx: &Arc<ClientContext>, name: &str) -> (TlsSession, Vec<u8>) {
    let mut tls = TlsSession::client(ctx, name).unwrap();
    let mut hello = Vec::new();
    while tls.wants_write() {
        tls.write_tls_to(&mut hello).unwrap();
    }
    (tls, hello)
}

/// Whether the server wrote anything to `sock` (non-blocking).
fn server_wrote(sock: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match sock.read(&mut b) {
        Ok(n) => n > 0,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("read: {e}"),
    }
}

#[test]
fn a_hello_in_1_byte_writes_is_held_until_the_answer_and_then_served_with_its_certificates() {
    let c = certs();
    let (mut shard, lid, addr) = tls_shard(&c.listener, 10_000, true);
    let (mut log, mut requests) = (Log::default(), Requests::default());
    let (client, hello) = client_hello(&c.client, "alpha.test");
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_nodelay(true).unwrap();
    sock.set_nonblocking(true).unwrap();
    for (i, byte) in hello.iter().enumerate() {
        tls_util::write_raw(&mut sock, &[*byte], 1);
        // A round per byte (each sees at most the bytes so far).
        round(&mut shard, &mut log, &mut requests);
        if i + 1 < hello.len() {
            assert!(requests.0.is_empty(), "asked before the last byte ({i})");
        }
    }
    drive(
        &mut shard,
        &mut log,
        &mut requests,
        None,
        "request",
        |_, r| !r.0.is_empty(),
    );
    let (id, listener, name) = requests.0[0].clone();
    assert_eq!((listener, name.as_str()), (lid.0, "alpha.test"));
    // Held: rustls has seen nothing, so nothing was written back; not yet a connection.
    for _ in 0..5 {
        round(&mut shard, &mut log, &mut requests);
    }
    assert!(!server_wrote(&mut sock), "a ServerHello before the answer");
    assert!(log.all(RecordKind::Accepted).is_empty());
    assert_eq!(requests.0.len(), 1, "asked once");

    assert!(shard.sni_answer(id, SniAnswer::Context(c.alpha.clone())));
    assert!(
        !shard.sni_answer(id, SniAnswer::Default),
        "a second answer does nothing"
    );
    let mut peer = Peer::new(sock, client);
    drive(
        &mut shard,
        &mut log,
        &mut requests,
        Some(&mut peer),
        "accepted",
        |l, _| !l.all(RecordKind::Accepted).is_empty(),
    );
    assert_eq!(log.all(RecordKind::Accepted)[0].conn, id);
    // The client verified `alpha.test`: the chosen certificate was served.
    let cert = peer.tls.info().unwrap().peer_certificate.clone().unwrap();
    let san = cert.fields.unwrap().subjectaltname.unwrap();
    assert!(san.contains("alpha.test"), "{san}");
    assert_eq!(
        shard.tls_info(id).unwrap().servername.as_deref(),
        Some("alpha.test")
    );
}

#[test]
fn a_client_without_sni_is_not_asked_about_and_gets_the_listeners_certificates() {
    let c = certs();
    let (mut shard, _, addr) = tls_shard(&c.listener, 10_000, true);
    let (mut log, mut requests) = (Log::default(), Requests::default());
    // An IP literal: no server_name extension (the listener's certificate has the IP).
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut peer = Peer::new(sock, TlsSession::client(&c.client, "127.0.0.1").unwrap());
    drive(
        &mut shard,
        &mut log,
        &mut requests,
        Some(&mut peer),
        "accepted",
        |l, _| !l.all(RecordKind::Accepted).is_empty(),
    );
    assert!(peer.handshake_completed || peer.tls.info().is_some());
    assert!(requests.0.is_empty());
}

#[test]
fn a_peer_leaving_or_the_timer_firing_while_the_answer_is_pending_is_reported_once() {
    let c = certs();
    let (mut shard, _, addr) = tls_shard(&c.listener, 300, true);
    let (mut log, mut requests) = (Log::default(), Requests::default());
    let (_, hello) = client_hello(&c.client, "alpha.test");
    let mut gone = TcpStream::connect(addr).unwrap();
    tls_util::write_raw(&mut gone, &hello, hello.len());
    let mut stays = TcpStream::connect(addr).unwrap();
    tls_util::write_raw(&mut stays, &hello, hello.len());
    drive(
        &mut shard,
        &mut log,
        &mut requests,
        None,
        "requests",
        |_, r| r.0.len() == 2,
    );
    drop(gone);
    let errors = |l: &Log| -> Vec<&'static str> {
        l.all(RecordKind::TlsClientError)
            .iter()
            .map(|e| e.error.as_ref().unwrap().code)
            .collect()
    };
    drive(
        &mut shard,
        &mut log,
        &mut requests,
        None,
        "reset",
        |l, _| !errors(l).is_empty(),
    );
    assert_eq!(errors(&log), ["ECONNRESET"]);
    drive(
        &mut shard,
        &mut log,
        &mut requests,
        None,
        "timeout",
        |l, _| errors(l).len() == 2,
    );
    assert_eq!(errors(&log), ["ECONNRESET", "ERR_TLS_HANDSHAKE_TIMEOUT"]);
    for (id, _, _) in requests.0.clone() {
        assert!(!shard.sni_answer(id, SniAnswer::Context(c.alpha.clone())));
        assert!(!shard.sni_answer(id, SniAnswer::Refuse));
    }
    for _ in 0..5 {
        round(&mut shard, &mut log, &mut requests);
    }
    assert_eq!(errors(&log).len(), 2, "reported once each");
    assert!(log.all(RecordKind::Accepted).is_empty());
    assert_eq!(shard.stats().connections, 0);
    assert_eq!(shard.stats().timers, 0);
    drop(stays);
}
