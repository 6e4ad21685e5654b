//! TLS on the shards, over real loopback sockets: a shard driven directly (as the inline
//! engine does) serving and dialling TLS against a rustls peer, and a threaded reactor
//! serving TLS. The owner sees plaintext only, hears of a connection once its handshake
//! completed, and failed handshakes never appear as connections.

mod tls_util;
mod util;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::event::ConnId;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::shard::{ClientTls, ServerTls, Shard, WriteStatus};
use netpoll_core::stream::Stream;
use netpoll_core::threaded::{Command, ThreadedShard};
use netpoll_core::tls::{ClientContext, SecureContext, TlsSession, TlsVersion};
use tls_util::{client_options, only, server_options, tls_shard, Ca, Leaf, Peer};
use util::{run_until, Log, Rng};

const TIMEOUT: Duration = Duration::from_secs(20);

struct Certs {
    server: Arc<SecureContext>,
    client: Arc<ClientContext>,
}

fn certs(version: Option<TlsVersion>) -> Certs {
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    let mut co = client_options(ca.pem());
    if let Some(v) = version {
        only(v, &mut so.common);
        only(v, &mut co.common);
    }
    Certs {
        server: SecureContext::new(&so).unwrap(),
        client: ClientContext::new(&co).unwrap(),
    }
}

fn client_peer(addr: std::net::SocketAddr, ctx: &Arc<ClientContext>, name: &str) -> Peer {
    let sock = TcpStream::connect(addr).unwrap();
    sock.set_nonblocking(true).unwrap();
    Peer::new(sock, TlsSession::client(ctx, name).unwrap())
}

/// Steps the shard and the peer until `done` holds.
fn drive(
    shard: &mut Shard,
    log: &mut Log,
    peer: &mut Peer,
    what: &str,
    done: impl Fn(&Log, &Peer) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(log, peer) {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {TIMEOUT:?}; events {:?}; peer error {:?}",
            log.events,
            peer.error
        );
        peer.step();
        let mut batch = Batch::default();
        shard
            .run_once(Some(Duration::from_millis(2)), &mut batch)
            .unwrap();
        log.absorb(&mut batch);
    }
}

/// Writes all of `data` to `id` in one write (more than the session's 256 KiB of pending
/// output: the rest waits in the output queue), stepping the peer until it is flushed.
fn shard_send(shard: &mut Shard, log: &mut Log, peer: &mut Peer, id: ConnId, data: &[u8]) {
    let flushes = log.of(RecordKind::Flushed, id).len();
    if let WriteStatus::Queued(_) = shard.write(id, &[data]).unwrap() {
        drive(shard, log, peer, "flushed", |l, _| {
            l.of(RecordKind::Flushed, id).len() > flushes
        });
    }
}

#[test]
fn server_handshakes_before_accepted_and_echoes_1_mib_each_way() {
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let c = certs(Some(version));
        let (mut shard, lid, addr) = tls_shard(&c.server, 10_000, false);
        let mut log = Log::default();
        let mut peer = client_peer(addr, &c.client, "localhost");
        drive(&mut shard, &mut log, &mut peer, "accepted", |l, _| {
            !l.all(RecordKind::Accepted).is_empty()
        });
        let id = log.all(RecordKind::Accepted)[0].conn;
        assert_eq!(log.all(RecordKind::Accepted)[0].a, lid.0);
        let info = shard
            .tls_info(id)
            .expect("handshake completed before accepted")
            .clone();
        assert_eq!(info.protocol, version.name());
        assert_eq!(info.servername.as_deref(), Some("localhost"));

        let up = Rng(7).bytes(1 << 20);
        let down = Rng(9).bytes(1 << 20);
        // Client → server: plaintext arrives as data records.
        let mut sent = 0;
        while sent < up.len() {
            let n = (up.len() - sent).min(100_000);
            assert!(peer.tls.encrypt(&[&up[sent..sent + n]]).unwrap() > 0);
            sent += n;
            drive(&mut shard, &mut log, &mut peer, "upload chunk", |l, p| {
                !p.tls.wants_write() && l.bytes(id).len() >= sent
            });
        }
        assert_eq!(util::digest(log.bytes(id)), util::digest(&up));
        // Server → client.
        shard_send(&mut shard, &mut log, &mut peer, id, &down);
        drive(&mut shard, &mut log, &mut peer, "download", |_, p| {
            p.plain.len() >= down.len()
        });
        assert_eq!(util::digest(&peer.plain), util::digest(&down));

        // The client's close_notify + FIN is a clean end of stream.
        peer.close();
        drive(&mut shard, &mut log, &mut peer, "read_closed", |l, _| {
            !l.of(RecordKind::ReadClosed, id).is_empty()
        });
        assert!(
            log.of(RecordKind::Closed, id).is_empty(),
            "{:?}",
            log.events
        );
        // The shard's close sends close_notify: the client sees a clean end too.
        shard.close(id, false);
        drive(&mut shard, &mut log, &mut peer, "close_notify", |_, p| {
            p.eof.is_some()
        });
        assert!(peer.peer_closed, "no close_notify before FIN");
        assert!(matches!(peer.eof, Some(Ok(()))), "{:?}", peer.eof);
        assert_eq!(shard.connection_count(), 0);
    }
}

#[test]
fn eof_without_close_notify_closes_with_econnreset() {
    let c = certs(None);
    let (mut shard, _, addr) = tls_shard(&c.server, 10_000, false);
    let mut log = Log::default();
    let mut peer = client_peer(addr, &c.client, "localhost");
    drive(&mut shard, &mut log, &mut peer, "accepted", |l, _| {
        !l.all(RecordKind::Accepted).is_empty()
    });
    let id = log.all(RecordKind::Accepted)[0].conn;
    peer.sock.shutdown(std::net::Shutdown::Write).unwrap();
    drive(&mut shard, &mut log, &mut peer, "closed", |l, _| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    let e = log.of(RecordKind::Closed, id)[0]
        .error
        .clone()
        .expect("an error");
    assert_eq!(e.code, "ECONNRESET", "{e:?}");
    assert!(log.of(RecordKind::ReadClosed, id).is_empty());
}

#[test]
fn plaintext_to_the_tls_port_is_a_listener_error_and_the_server_keeps_serving() {
    use std::io::{Read, Write};
    let c = certs(None);
    let (mut shard, lid, addr) = tls_shard(&c.server, 10_000, false);
    let mut log = Log::default();
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    run_until(&mut shard, &mut log, "listener error", |l| {
        !l.all(RecordKind::TlsClientError).is_empty()
    });
    let ev = log.all(RecordKind::TlsClientError)[0].clone();
    assert_eq!(ev.conn.index, lid.0);
    let e = ev.error.expect("an error");
    assert!(e.code.starts_with("ERR_SSL_"), "{e:?}");
    assert!(log.all(RecordKind::Accepted).is_empty());
    assert_eq!(shard.connection_count(), 0);
    plain.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest); // closed: EOF (after an alert, if any) or a reset
                                          // A TLS client is still served.
    let mut peer = client_peer(addr, &c.client, "localhost");
    drive(&mut shard, &mut log, &mut peer, "accepted", |l, _| {
        !l.all(RecordKind::Accepted).is_empty()
    });
}

#[test]
fn a_handshake_that_stops_halfway_is_cut_by_the_handshake_timeout() {
    use std::io::{Read, Write};
    let c = certs(None);
    let (mut shard, _, addr) = tls_shard(&c.server, 300, false);
    let mut log = Log::default();
    // Half a ClientHello record header, then nothing.
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.write_all(&[0x16, 0x03, 0x01]).unwrap();
    let started = Instant::now();
    run_until(&mut shard, &mut log, "handshake timeout", |l| {
        !l.all(RecordKind::TlsClientError).is_empty()
    });
    assert!(started.elapsed() >= Duration::from_millis(250));
    let e = log.all(RecordKind::TlsClientError)[0]
        .error
        .clone()
        .unwrap();
    assert_eq!(e.code, "ERR_TLS_HANDSHAKE_TIMEOUT");
    assert_eq!(shard.connection_count(), 0);
    assert_eq!(shard.stats().timers, 0);
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut rest = Vec::new();
    let _ = sock.read_to_end(&mut rest);
    assert!(log.all(RecordKind::Accepted).is_empty());
}

/// A rustls server peer on a std listener; returns (address, accept handle).
fn server_peer(ctx: Arc<SecureContext>) -> (std::net::SocketAddr, std::thread::JoinHandle<Peer>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        Peer::new(s, TlsSession::server(&ctx).unwrap())
    });
    (addr, h)
}

fn dial_tls(
    shard: &mut Shard,
    addr: std::net::SocketAddr,
    ctx: &Arc<ClientContext>,
    name: &str,
) -> ConnId {
    let na = netpoll_core::addr::NetAddr::Inet(addr);
    let id = shard
        .dial(Stream::dial(&na, None).unwrap(), 10_000)
        .unwrap();
    shard
        .dial_tls(
            id,
            &ClientTls {
                context: ctx.clone(),
                servername: name.into(),
                handshake_timeout_ms: 10_000,
            },
        )
        .unwrap();
    id
}

#[test]
fn client_dial_reports_connected_after_the_handshake_and_exchanges_data() {
    let c = certs(None);
    let (addr, h) = server_peer(c.server.clone());
    let mut shard = Shard::new(ShardConfig::default()).unwrap();
    let mut log = Log::default();
    let id = dial_tls(&mut shard, addr, &c.client, "localhost");
    let mut peer = h.join().unwrap();
    drive(&mut shard, &mut log, &mut peer, "connected", |l, p| {
        !l.of(RecordKind::Connected, id).is_empty() && p.handshake_completed
    });
    let ev = log.of(RecordKind::Connected, id)[0].clone();
    assert!(ev.error.is_none(), "{ev:?}");
    let info = shard.tls_info(id).unwrap();
    assert!(info.authorized);
    let data = Rng(3).bytes(300_000);
    shard_send(&mut shard, &mut log, &mut peer, id, &data);
    drive(
        &mut shard,
        &mut log,
        &mut peer,
        "server got data",
        |_, p| p.plain.len() >= data.len(),
    );
    assert_eq!(util::digest(&peer.plain), util::digest(&data));
    peer.tls.encrypt(&[b"pong"]).unwrap();
    drive(
        &mut shard,
        &mut log,
        &mut peer,
        "client got data",
        |l, _| l.bytes(id) == b"pong",
    );
}

#[test]
fn client_dial_to_a_wrong_hostname_fails_connected_with_altname_invalid() {
    let c = certs(None);
    let (addr, h) = server_peer(c.server.clone());
    let mut shard = Shard::new(ShardConfig::default()).unwrap();
    let mut log = Log::default();
    let id = dial_tls(&mut shard, addr, &c.client, "example.com");
    let mut peer = h.join().unwrap();
    drive(&mut shard, &mut log, &mut peer, "connected", |l, _| {
        !l.of(RecordKind::Connected, id).is_empty()
    });
    let e = log.of(RecordKind::Connected, id)[0]
        .error
        .clone()
        .expect("an error");
    assert_eq!(e.code, "ERR_TLS_CERT_ALTNAME_INVALID", "{e:?}");
    assert_eq!(shard.connection_count(), 0);
    assert!(log.of(RecordKind::Closed, id).is_empty());
}

#[test]
fn threaded_reactor_serves_tls() {
    let c = certs(None);
    let shard =
        ThreadedShard::spawn("tls-test".into(), ShardConfig::default(), Box::new(|| {})).unwrap();
    let mut l = Listener::bind(
        netpoll_core::addr::Network::Tcp4,
        "127.0.0.1:0",
        ListenOptions::default(),
    )
    .unwrap();
    l.set_tls(Arc::new(ServerTls {
        context: c.server.clone(),
        handshake_timeout_ms: 10_000,
        sni_callback: false,
    }));
    let addr = l.local_addr().as_inet().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    shard.send([Command::Listen(
        l,
        false,
        Box::new(move |r| drop(tx.send(r))),
    )]);
    rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    let mut log = Log::default();
    let mut peer = client_peer(addr, &c.client, "localhost");
    let pump = |log: &mut Log, peer: &mut Peer, what: &str, done: &dyn Fn(&Log, &Peer) -> bool| {
        let deadline = Instant::now() + TIMEOUT;
        while !done(log, peer) {
            assert!(Instant::now() < deadline, "{what}: {:?}", log.events);
            peer.step();
            let mut batch = Batch::default();
            shard.take_events(&mut batch);
            log.absorb(&mut batch);
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    pump(&mut log, &mut peer, "accepted", &|l, _| {
        !l.all(RecordKind::Accepted).is_empty()
    });
    let id = log.all(RecordKind::Accepted)[0].conn;
    peer.tls.encrypt(&[b"ping"]).unwrap();
    pump(&mut log, &mut peer, "data", &|l, _| l.bytes(id) == b"ping");
    shard.send([Command::Write(
        id,
        vec![bytes::Bytes::from_static(b"pong")],
        1,
    )]);
    pump(&mut log, &mut peer, "reply", &|_, p| p.plain == b"pong");
    shard.send([Command::Close(id, false)]);
    pump(&mut log, &mut peer, "close_notify", &|_, p| p.eof.is_some());
    assert!(matches!(peer.eof, Some(Ok(()))), "{:?}", peer.eof);
}

#[test]
fn hand_off_listener_places_tls_connections_on_every_shard_with_their_origin() {
    use netpoll_core::placement::Policy;
    const SHARDS: usize = 2;
    let c = certs(None);
    let notify = (0..SHARDS)
        .map(|_| Box::new(|| {}) as Box<dyn Fn() + Send + Sync>)
        .collect();
    let shards = ThreadedShard::spawn_group(
        "np-tls-place",
        ShardConfig::default(),
        Policy::RoundRobin,
        notify,
    )
    .unwrap();
    let mut l = Listener::bind(
        netpoll_core::addr::Network::Tcp4,
        "127.0.0.1:0",
        ListenOptions::default(),
    )
    .unwrap();
    l.set_tls(Arc::new(ServerTls {
        context: c.server.clone(),
        handshake_timeout_ms: 10_000,
        sni_callback: false,
    }));
    let addr = l.local_addr().as_inet().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    shards[0].send([Command::Listen(
        l,
        true,
        Box::new(move |r| drop(tx.send(r))),
    )]);
    let lid = rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    let mut peers: Vec<Peer> = (0..4)
        .map(|i| {
            let mut p = client_peer(addr, &c.client, "localhost");
            p.tls.encrypt(&[format!("{i:04}").as_bytes()]).unwrap();
            p
        })
        .collect();
    let mut logs: Vec<Log> = (0..SHARDS).map(|_| Log::default()).collect();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        for p in peers.iter_mut() {
            p.step();
        }
        for (shard, log) in shards.iter().zip(logs.iter_mut()) {
            let mut batch = Batch::default();
            shard.take_events(&mut batch);
            log.absorb(&mut batch);
        }
        let served: usize = logs
            .iter()
            .map(|l| {
                l.all(RecordKind::Accepted)
                    .iter()
                    .filter(|e| l.bytes(e.conn).len() == 4)
                    .count()
            })
            .sum();
        if served == peers.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all served: {served}; {logs:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    for (index, log) in logs.iter().enumerate() {
        let accepted = log.all(RecordKind::Accepted);
        assert!(!accepted.is_empty(), "shard {index} got no connection");
        for e in accepted {
            assert_eq!(e.a, lid.0);
            assert_eq!(
                e.b,
                if index == 0 { 0 } else { 1 },
                "origin of shard {index}"
            );
        }
    }
}

#[test]
fn a_write_into_a_reset_reports_the_alert_the_peer_sent_before_it() {
    use std::os::fd::AsRawFd;
    // TLS 1.3: the client's side of the handshake is done before the server judged its
    // certificate; the server refuses it with an alert and resets. A write the client makes
    // before reading must fail with that alert, not with the reset.
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    so.request_cert = true;
    so.common.ca = vec![ca.pem()];
    let mut co = client_options(ca.pem());
    co.identity = Some(Ca::new("Other").issue(Leaf::new(&["client"])));
    let client = ClientContext::new(&co).unwrap();
    let (addr, h) = server_peer(SecureContext::new(&so).unwrap());
    let mut shard = Shard::new(ShardConfig::default()).unwrap();
    let mut log = Log::default();
    let id = dial_tls(&mut shard, addr, &client, "localhost");
    let mut peer = h.join().unwrap();
    drive(&mut shard, &mut log, &mut peer, "connected", |l, _| {
        !l.of(RecordKind::Connected, id).is_empty()
    });
    assert!(log.of(RecordKind::Connected, id)[0].error.is_none());
    // Only the server runs now: it reads the client's certificate and refuses it.
    tls_util::pump_one(&mut peer, "refused", |p| p.error.is_some());
    peer.flush(); // the alert
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            peer.sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(peer); // RST
    std::thread::sleep(Duration::from_millis(50));
    let e = shard.write(id, &[b"x"]).expect_err("the peer is gone");
    assert_eq!(e.code, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN", "{e:?}");
}
