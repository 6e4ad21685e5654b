//! The reactor's per-connection bookkeeping over real sockets, driven without its thread:
//! closed connections leave no write sequence or dial tag behind.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::*;
use bytes::Bytes;

use crate::addr::{NetAddr, Network};
use crate::batch::{RecordKind, RECORD_LEN};
use crate::event::ConnId;
use crate::listener::ListenOptions;
use crate::listener::Listener;
use crate::stream::Stream;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A reactor on a fresh shard, not running: the test applies commands and rounds itself.
fn reactor() -> Reactor {
    let shard = Shard::new(ShardConfig::default()).expect("shard");
    let waker = Waker::new(shard.registry(), WAKER_TOKEN).expect("waker");
    let shared = Arc::new(Shared::new(waker, Box::new(|| {})));
    let group = Arc::new(Group {
        balancer: Balancer::new(Policy::RoundRobin, 1),
        peers: OnceLock::new(),
    });
    Reactor::new(shard, shared, group, 0)
}

/// An established loopback TCP connection: (the client end, the server end for a shard).
fn tcp_pair() -> (TcpStream, Stream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    server.set_nonblocking(true).expect("nonblocking");
    (client, Stream::from(mio::net::TcpStream::from_std(server)))
}

/// One round of the shard (10 ms poll), its events published to the outbox.
fn round(r: &mut Reactor) {
    r.shard
        .run_once(Some(Duration::from_millis(10)), &mut r.batch)
        .expect("run_once");
    r.publish();
}

/// Records of `kind` for `id` in the outbox so far.
fn outbox_count(r: &Reactor, kind: RecordKind, id: ConnId) -> usize {
    lock(&r.shared.outbox)
        .records
        .chunks_exact(RECORD_LEN)
        .filter(|rec| rec[0] == kind as u32 && rec[1] == id.index && rec[2] == id.generation)
        .count()
}

#[test]
fn writes_that_cross_a_reset_leave_no_write_sequence() {
    let mut r = reactor();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (client, server) = tcp_pair();
        let id = r.shard.adopt(server).expect("adopt");
        r.apply(Command::Write(id, vec![Bytes::from_static(b"hi")], 1));
        // The peer resets the connection; the shard closes it and reports `closed`.
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .expect("linger");
        drop(client);
        let deadline = Instant::now() + TIMEOUT;
        while outbox_count(&r, RecordKind::Closed, id) == 0 {
            assert!(Instant::now() < deadline, "the reset was not seen");
            round(&mut r);
        }
        ids.push(id);
    }
    assert_eq!(r.tracked().0, 0, "closed records forget the sequences");
    // Responses flushed by JS before it saw the `closed` records.
    for (seq, id) in ids.iter().enumerate() {
        r.apply(Command::Write(
            *id,
            vec![Bytes::from_static(b"late")],
            seq as u32 + 2,
        ));
    }
    r.publish();
    assert_eq!(
        r.tracked().0,
        0,
        "a write to a closed connection is not tracked"
    );
    for id in &ids {
        assert_eq!(
            outbox_count(&r, RecordKind::Closed, *id),
            1,
            "closed once only"
        );
    }
}

#[test]
fn a_write_that_closes_the_connection_reports_it() {
    let mut r = reactor();
    r.shard = Shard::new(ShardConfig {
        max_output: 64 * 1024,
        ..ShardConfig::default()
    })
    .expect("shard");
    let (_client, server) = tcp_pair();
    let id = r.shard.adopt(server).expect("adopt");
    // The peer does not read: the kernel's buffers fill, then the output limit closes it.
    let big = Bytes::from(vec![0u8; 1 << 20]);
    let mut seq = 1;
    while r.shard.stream(id).is_some() {
        assert!(seq < 1000, "the output limit was never reached");
        r.apply(Command::Write(id, vec![big.clone()], seq));
        seq += 1;
    }
    r.publish();
    assert_eq!(outbox_count(&r, RecordKind::Closed, id), 1);
    assert_eq!(r.tracked(), (0, 0));
}

/// A Unix listener with a backlog of 1 that nobody accepts from, its queue filled: dials to
/// it stay connecting. Returned with its fillers, which keep it full.
fn full_unix_listener(dir: &std::path::Path) -> (Listener, NetAddr, Vec<Stream>) {
    let opts = ListenOptions {
        backlog: 1,
        ..ListenOptions::default()
    };
    let path = dir.join("full.sock");
    let listener =
        Listener::bind(Network::Unix, path.to_str().expect("utf-8"), opts).expect("bind");
    let addr = listener.local_addr();
    let mut fillers = Vec::new();
    while let Ok(s) = Stream::connect(&addr, None) {
        fillers.push(s);
        assert!(fillers.len() < 64, "the backlog never filled");
    }
    (listener, addr, fillers)
}

#[test]
fn a_dial_closed_while_connecting_leaves_no_tag() {
    let dir = std::env::temp_dir().join(format!("np-tags-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_listener, addr, _fillers) = full_unix_listener(&dir);
    let mut r = reactor();
    for tag in 1..=3 {
        let dial = Stream::dial(&addr, None).expect("dial");
        r.apply(Command::Dial(dial, 0, tag));
    }
    assert_eq!(r.tracked().1, 3, "three dials pending");
    let pending: Vec<ConnId> = r.batch.dial_tags.iter().map(|(id, _)| *id).collect();
    // Closed by their owner before they connected: nothing is reported, nothing kept.
    for id in pending {
        r.apply(Command::Close(id, true));
    }
    r.publish();
    assert_eq!(r.tracked(), (0, 0));
    assert_eq!(r.shard.connection_count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
