//! The shard's input limit: when the consumer does not take what was read, the shard holds
//! its reads (bounded memory, the peer held by TCP flow control) and resumes, losing
//! nothing, once the consumer catches up.

mod util;

use std::io::Write;
use std::time::{Duration, Instant};

use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use util::{digest, next_accepted, shard_with_listener, tcp_client, Log, Rng, TIMEOUT};

const LIMIT: usize = 256 << 10;

#[test]
fn reads_are_held_while_the_consumer_is_behind_then_resume_losslessly() {
    let config = ShardConfig {
        max_pending_input: LIMIT,
        ..ShardConfig::default()
    };
    let max_read = config.max_read;
    let (mut shard, _, addr) = shard_with_listener(config);
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);

    let payload = Rng(7).bytes(8 << 20);
    let sent = digest(&payload);
    let writer = std::thread::spawn(move || {
        client.write_all(&payload).expect("client write");
        client
    });

    // A consumer that takes nothing for 300 ms: the batch grows to the limit, no further.
    let mut batch = Batch::default();
    let end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < end {
        let timeout = shard.poll_timeout().unwrap_or(Duration::from_millis(20));
        shard
            .run_once(Some(timeout.min(Duration::from_millis(20))), &mut batch)
            .expect("run_once");
    }
    let held = batch.bytes().len();
    assert!(held >= LIMIT, "read only {held} bytes before holding");
    assert!(
        held < LIMIT + max_read,
        "{held} bytes pending: the limit was passed"
    );
    assert!(shard.has_held_reads());
    assert!(
        !shard.has_ready_work(),
        "held reads must not make the shard spin"
    );

    // The consumer catches up: everything arrives, in order.
    log.absorb(&mut batch);
    let deadline = Instant::now() + TIMEOUT;
    while log.bytes(id).len() < 8 << 20 {
        assert!(
            Instant::now() < deadline,
            "got {} bytes",
            log.bytes(id).len()
        );
        let timeout = if shard.has_held_reads() {
            Duration::ZERO
        } else {
            Duration::from_millis(20)
        };
        shard.run_once(Some(timeout), &mut batch).expect("run_once");
        log.absorb(&mut batch);
    }
    assert_eq!(digest(log.bytes(id)), sent);
    // The last round may have filled the limit again (a round's read budget can equal it):
    // the next one, with the consumer caught up, releases the hold and finds nothing more.
    shard
        .run_once(Some(Duration::ZERO), &mut batch)
        .expect("run_once");
    log.absorb(&mut batch);
    assert_eq!(log.bytes(id).len(), 8 << 20);
    assert!(!shard.has_held_reads());
    assert!(log.of(RecordKind::Closed, id).is_empty());
    drop(writer.join().expect("writer"));
}

/// The same on a reactor thread: the outbox JS has not taken counts, and taking it wakes
/// the reactor to read again (no new readiness edge would).
#[test]
fn a_reactor_thread_holds_reads_until_its_outbox_is_taken() {
    let config = ShardConfig {
        max_pending_input: LIMIT,
        ..ShardConfig::default()
    };
    let max_read = config.max_read;
    let (shard, _, addr) = util::threaded_with_listener("np-test-held", config);

    let mut client = tcp_client(addr, None);
    let payload = Rng(9).bytes(8 << 20);
    let sent = digest(&payload);
    let writer = std::thread::spawn(move || {
        client.write_all(&payload).expect("client write");
        client
    });
    std::thread::sleep(Duration::from_millis(300));
    let read = shard.stats().bytes_in as usize;
    assert!(read >= LIMIT, "read only {read}");
    assert!(
        read < LIMIT + 2 * max_read,
        "{read} bytes read while nothing was taken"
    );

    let mut log = Log::default();
    let mut batch = Batch::default();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
        let got: usize = log
            .all(RecordKind::Accepted)
            .first()
            .map_or(0, |a| log.bytes(a.conn).len());
        if got == 8 << 20 {
            let id = log.all(RecordKind::Accepted)[0].conn;
            assert_eq!(digest(log.bytes(id)), sent);
            break;
        }
        assert!(Instant::now() < deadline, "got {got} bytes");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(writer.join().expect("writer"));
    shard.stop();
}

/// A sink with little memory per round (the inline engine lends the free end of a JS slab):
/// when it is full, the shard carries the connection over to its next round (ready work, no
/// new readiness edge needed), and every byte arrives in order where its record says.
#[test]
fn a_sink_full_for_the_round_gets_the_rest_in_the_next_rounds() {
    use netpoll_core::batch::RECORD_LEN;
    use netpoll_core::lent_sink::LentSink;

    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let payload = Rng(11).bytes(1 << 20);
    let sent = digest(&payload);
    let writer = std::thread::spawn(move || {
        client.write_all(&payload).expect("client write");
        client
    });
    let mut batch = Batch::default();
    let mut mem = vec![0u8; 1000];
    let mut got = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    let mut rounds = 0;
    while got.len() < 1 << 20 {
        assert!(Instant::now() < deadline, "got {} bytes", got.len());
        let mut used = 0;
        let timeout = shard.poll_timeout().unwrap_or(Duration::from_millis(20));
        let mut sink = LentSink {
            batch: &mut batch,
            mem: &mut mem,
            used: &mut used,
        };
        shard
            .run_once(Some(timeout.min(Duration::from_millis(20))), &mut sink)
            .expect("run_once");
        assert!(used <= 1000);
        for r in batch.records.chunks_exact(RECORD_LEN) {
            assert_eq!((r[1], r[2]), (id.index, id.generation));
            assert_eq!(r[0], RecordKind::Data as u32, "only data is expected");
            got.extend_from_slice(&mem[r[3] as usize..(r[3] + r[4]) as usize]);
        }
        batch.clear();
        rounds += 1;
    }
    assert_eq!(digest(&got), sent);
    assert!(rounds >= (1 << 20) / 1000);
    drop(writer.join().expect("writer"));
}

/// Fairness at the input limit: a bulk stream that fills the limit in every round must not
/// starve the other connections. A connection held before it could read goes ahead of the
/// ones that had their turn (here, the bulk stream that filled the limit first each round).
#[test]
fn a_bulk_stream_at_the_input_limit_does_not_starve_the_others() {
    let config = ShardConfig {
        // Small reads and a small limit: the kernel's buffers hold many rounds of bulk bytes.
        max_pending_input: 4 << 10,
        min_read: 4 << 10,
        max_read: 4 << 10,
        ..ShardConfig::default()
    };
    let (mut shard, _, addr) = shard_with_listener(config);
    let mut log = Log::default();
    let mut bulk = tcp_client(addr, None);
    let bulk_id = next_accepted(&mut shard, &mut log, 0);
    let mut small = tcp_client(addr, None);
    let small_id = next_accepted(&mut shard, &mut log, 1);
    // Far more than the kernel's buffers hold: the bulk connection always has more to read.
    let writer = std::thread::spawn(move || {
        let chunk = vec![7u8; 64 << 10];
        while bulk.write_all(&chunk).is_ok() {} // until the shard is gone
    });
    std::thread::sleep(Duration::from_millis(100));
    // The consumer takes every round's input, so each round may read up to the limit.
    let mut batch = Batch::default();
    for _ in 0..5 {
        shard
            .run_once(Some(Duration::ZERO), &mut batch)
            .expect("run_once");
        log.absorb(&mut batch);
    }
    small.write_all(b"0123456789").expect("small write");
    std::thread::sleep(Duration::from_millis(20));
    let bulk_before = log.bytes(bulk_id).len();
    for _ in 0..20 {
        shard
            .run_once(Some(Duration::ZERO), &mut batch)
            .expect("run_once");
        log.absorb(&mut batch);

        if !log.bytes(small_id).is_empty() {
            break;
        }
    }
    let bulk_read = log.bytes(bulk_id).len() - bulk_before;
    assert_eq!(
        log.bytes(small_id),
        b"0123456789",
        "starved: 20 rounds read {bulk_read} bulk bytes and none of the small connection's"
    );
    assert!(bulk_read > 0, "the bulk stream stalled instead");
    drop(shard);
    writer.join().expect("writer");
}
