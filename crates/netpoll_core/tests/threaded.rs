//! The threaded engine: a `ThreadedShard` fed by commands over real loopback TCP, with
//! batched wake-ups of the consumer.

mod util;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::Bytes;
use netpoll_core::addr::Network;
use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::threaded::{Command, ThreadedShard};
use util::{tcp_client, Log, TIMEOUT};

/// Takes events until `done(log)` holds, failing after [`TIMEOUT`].
fn take_until(
    shard: &ThreadedShard,
    log: &mut Log,
    what: &str,
    mut done: impl FnMut(&Log) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    let mut batch = Batch::default();
    loop {
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
        if done(log) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not within {TIMEOUT:?}; events: {:?}",
            log.events
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn listen_accept_read_write_flush_and_stop() {
    let notified = Arc::new(AtomicUsize::new(0));
    let counter = notified.clone();
    let shard = ThreadedShard::spawn(
        "np-test-reactor".into(),
        ShardConfig::default(),
        Box::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    )
    .expect("spawn");

    let listener =
        Listener::bind(Network::Tcp4, "127.0.0.1:0", ListenOptions::default()).expect("bind");
    let addr = listener.local_addr().as_inet().expect("inet");
    let (tx, rx) = mpsc::channel();
    shard.send([Command::Listen(
        listener,
        false,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    )]);
    let lid = rx
        .recv_timeout(TIMEOUT)
        .expect("listen reply")
        .expect("listen ok");

    let mut client = tcp_client(addr, None);
    client.write_all(b"frame-1").expect("client write");
    // Let both events reach the outbox before taking any: one wake covers them.
    wait_for("first notify", || notified.load(Ordering::SeqCst) >= 1);
    std::thread::sleep(Duration::from_millis(100));

    let mut log = Log::default();
    take_until(&shard, &mut log, "accepted + data", |l| {
        let acc = l.all(RecordKind::Accepted);
        !acc.is_empty() && l.bytes(acc[0].conn).len() >= 7
    });
    let accepted = log.all(RecordKind::Accepted);
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].a, lid.0);
    let id = accepted[0].conn;
    assert_eq!(log.bytes(id), b"frame-1");

    shard.send([Command::Write(
        id,
        vec![Bytes::from_static(b"reply-"), Bytes::from_static(b"seven")],
        7,
    )]);
    take_until(&shard, &mut log, "flushed", |l| {
        !l.of(RecordKind::Flushed, id).is_empty()
    });
    let flushed = log.of(RecordKind::Flushed, id);
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].b, 7);
    let mut got = [0; 11];
    client.read_exact(&mut got).expect("client read");
    assert_eq!(&got, b"reply-seven");

    let calls = notified.load(Ordering::SeqCst);
    let events = log.events.len();
    assert!(calls >= 1, "notify never called");
    assert!(
        calls < events,
        "notify called {calls} times for {events} events: not batched"
    );
    assert!(shard.stats().accepted >= 1);

    shard.stop();
    // The reactor closed the connection on its way out.
    let mut buf = [0; 1];
    assert_eq!(client.read(&mut buf).expect("EOF after stop"), 0);
    drop(shard);
}

#[test]
fn stop_without_work_joins() {
    let shard = ThreadedShard::spawn(
        "np-test-idle".into(),
        ShardConfig::default(),
        Box::new(|| {}),
    )
    .expect("spawn");
    let start = Instant::now();
    shard.stop();
    shard.stop(); // idempotent
    assert!(start.elapsed() < TIMEOUT);
}
