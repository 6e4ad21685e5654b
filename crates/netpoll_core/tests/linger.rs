//! Lingering closes over real loopback TCP: a connection its owner closed with output still
//! queued counts in `Shard::lingering` until the output is written or its write timeout cuts
//! it; `ThreadedShard::lingering` counts a graceful close from the moment it is sent, and the
//! reactor wakes its consumer when nothing lingers any more (drivers hold the process while
//! something lingers).

mod util;

use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use netpoll_core::addr::Network;
use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::event::ConnId;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::shard::{Shard, WriteStatus};
use netpoll_core::threaded::{Command, ThreadedShard};
use util::{next_accepted, shard_with_listener, step, tcp_client, Log, Rng, TIMEOUT};

/// Reads `client` to its end on a thread.
fn read_to_end(mut client: TcpStream) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut got = Vec::new();
        client.read_to_end(&mut got).expect("client read");
        got
    })
}

/// An accepted connection whose peer reads nothing yet, with `payload` written to it and
/// mostly still queued (small socket buffers on both ends).
fn queued_write(payload: &[u8]) -> (Shard, ConnId, TcpStream) {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    socket2::SockRef::from(shard.stream(id).expect("stream"))
        .set_send_buffer_size(4096)
        .expect("SO_SNDBUF");
    let status = shard.write(id, &[payload]).expect("write");
    assert!(matches!(status, WriteStatus::Queued(_)), "{status:?}");
    (shard, id, client)
}

/// Runs `shard` until it has no connection left.
fn run_until_empty(shard: &mut Shard) {
    let mut log = Log::default();
    let deadline = Instant::now() + TIMEOUT;
    while shard.connection_count() > 0 {
        assert!(Instant::now() < deadline, "the closing connection stayed");
        step(shard, &mut log);
    }
    assert!(log.events.is_empty(), "{:?}", log.events);
}

#[test]
fn a_closed_connection_lingers_until_its_output_is_written() {
    let payload = Rng(11).bytes(8 << 20);
    let (mut shard, id, client) = queued_write(&payload);
    assert_eq!(shard.lingering(), 0);
    shard.close(id, false);
    assert_eq!(shard.lingering(), 1);
    assert_eq!(shard.stats().lingering, 1);
    shard.close(id, false); // again: still one
    assert_eq!(shard.lingering(), 1);
    let reader = read_to_end(client);
    run_until_empty(&mut shard);
    assert_eq!(shard.lingering(), 0);
    assert_eq!(shard.stats().lingering, 0);
    let got = reader.join().expect("reader");
    assert!(
        got == payload,
        "the peer got {} of {} bytes",
        got.len(),
        payload.len()
    );
}

#[test]
fn a_lingering_close_cut_by_its_write_timeout_stops_lingering() {
    let payload = vec![3u8; 4 << 20];
    let (mut shard, id, _client) = queued_write(&payload);
    shard.set_write_timeout(id, 100);
    shard.close(id, false);
    assert_eq!(shard.lingering(), 1);
    run_until_empty(&mut shard); // the peer never reads
    assert_eq!(shard.lingering(), 0);
    assert_eq!(shard.stats().bytes_queued, 0);
}

#[test]
fn closes_with_nothing_queued_or_aborted_do_not_linger() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    shard.close(id, false);
    assert_eq!(shard.lingering(), 0);

    let (mut shard, id, _client) = queued_write(&vec![5u8; 4 << 20]);
    shard.close(id, false);
    assert_eq!(shard.lingering(), 1);
    shard.close(id, true); // an abort ends the linger at once
    assert_eq!(shard.lingering(), 0);
    assert_eq!(shard.connection_count(), 0);
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within {TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A reactor thread counting its wakes, with a listener, and an accepted connection whose
/// peer (`client`, small receive buffer) reads nothing yet.
fn threaded_conn(notified: Arc<AtomicUsize>) -> (ThreadedShard, ConnId, TcpStream) {
    let shard = ThreadedShard::spawn(
        "np-test-linger".into(),
        ShardConfig::default(),
        Box::new(move || {
            notified.fetch_add(1, Ordering::SeqCst);
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
    rx.recv_timeout(TIMEOUT).expect("reply").expect("listen");
    let client = tcp_client(addr, Some(4096));
    let mut log = Log::default();
    let mut batch = Batch::default();
    wait_for("accepted", || {
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
        !log.all(RecordKind::Accepted).is_empty()
    });
    let id = log.all(RecordKind::Accepted)[0].conn;
    (shard, id, client)
}

/// Takes the events (clearing the wake flag), then waits until `notified` moved past its
/// value at that point: the reactor woke its consumer afterwards.
fn woken_after(shard: &ThreadedShard, notified: &AtomicUsize, then: impl FnOnce()) {
    shard.take_events(&mut Batch::default());
    let before = notified.load(Ordering::SeqCst);
    then();
    wait_for("a wake", || notified.load(Ordering::SeqCst) > before);
}

#[test]
fn a_threaded_close_lingers_from_its_send_and_wakes_the_consumer_once_over() {
    let notified = Arc::new(AtomicUsize::new(0));
    let (shard, id, client) = threaded_conn(notified.clone());
    assert!(!shard.lingering());
    let payload = Bytes::from(Rng(5).bytes(16 << 20));
    shard.send([
        Command::Write(id, vec![payload.clone()], 1),
        Command::Close(id, false),
    ]);
    // Counted at once, before the reactor applied it.
    assert!(shard.lingering());
    wait_for("applied", || shard.stats().lingering == 1);
    let reader = read_to_end(client);
    woken_after(&shard, &notified, || {
        wait_for("the linger to end", || !shard.lingering())
    });
    assert_eq!(shard.stats().connections, 0);
    let got = reader.join().expect("reader");
    assert!(
        got == payload,
        "the peer got {} of {} bytes",
        got.len(),
        payload.len()
    );
}

#[test]
fn a_threaded_close_with_nothing_queued_wakes_the_consumer() {
    let notified = Arc::new(AtomicUsize::new(0));
    let (shard, id, _client) = threaded_conn(notified.clone());
    woken_after(&shard, &notified, || {
        shard.send([Command::Close(id, false)]);
        wait_for("the close to be applied", || !shard.lingering());
    });
    assert_eq!(shard.stats().connections, 0);
}
