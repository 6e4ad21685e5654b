//! Panics injected at the decode, write and reactor sites (RELIABILITY.md R22): the shard
//! closes only the connection it was serving, with `ERR_INTERNAL`, and keeps serving the
//! others; on a reactor thread, the thread survives. Serial: injection is process-wide.

mod util;

use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use bytes::Bytes;
use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::fault::{self, Site};
use netpoll_core::shard::Shard;
use netpoll_core::threaded::Command;
use util::{
    next_accepted, serial, shard_with_listener, step, tcp_client, threaded_with_listener, Log,
    TIMEOUT,
};

/// One round that may panic; a panic is recovered from the way the engines do it.
fn guarded_step(shard: &mut Shard, log: &mut Log) -> bool {
    let mut batch = Batch::default();
    let round = catch_unwind(AssertUnwindSafe(|| {
        shard.run_once(Some(Duration::from_millis(10)), &mut batch)
    }));
    let panicked = round.is_err();
    if panicked {
        shard.recover(&mut batch);
    }
    log.absorb(&mut batch);
    panicked
}

fn closed_code(log: &Log, id: netpoll_core::event::ConnId) -> Option<String> {
    let closed = log.of(RecordKind::Closed, id);
    let e = closed.first()?;
    Some(
        e.error
            .as_ref()
            .map_or("none".into(), |e| e.code.to_string()),
    )
}

#[test]
fn a_panic_while_decoding_closes_that_connection_only() {
    let _g = serial();
    fault::count_panics();
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut a = tcp_client(addr, None);
    let a_id = next_accepted(&mut shard, &mut log, 0);
    let mut b = tcp_client(addr, None);
    let b_id = next_accepted(&mut shard, &mut log, 1);

    let before = fault::panics();
    fault::arm(Site::Decode, 1);
    a.write_all(b"doomed").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while !guarded_step(&mut shard, &mut log) {
        assert!(Instant::now() < deadline, "the injected panic never fired");
    }
    assert_eq!(closed_code(&log, a_id).as_deref(), Some("ERR_INTERNAL"));
    assert_eq!(shard.stats().panics, 1);
    assert!(fault::panics() > before);
    let mut buf = [0; 1];
    a.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(
        a.read(&mut buf).unwrap_or(0),
        0,
        "the peer sees its connection closed"
    );

    // The other connection is untouched and served as before.
    b.write_all(b"alive").unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while log.bytes(b_id) != b"alive" {
        assert!(Instant::now() < deadline);
        step(&mut shard, &mut log);
    }
    assert!(closed_code(&log, b_id).is_none());
}

#[test]
fn a_panic_while_writing_is_caught_and_closes_that_connection() {
    let _g = serial();
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _a = tcp_client(addr, None);
    let a_id = next_accepted(&mut shard, &mut log, 0);
    let mut b = tcp_client(addr, None);
    let b_id = next_accepted(&mut shard, &mut log, 1);

    fault::arm(Site::Write, 1);
    let write = catch_unwind(AssertUnwindSafe(|| shard.write(a_id, &[b"x"])));
    assert!(write.is_err(), "the injected panic fired");
    let mut batch = Batch::default();
    shard.recover(&mut batch);
    log.absorb(&mut batch);
    assert_eq!(closed_code(&log, a_id).as_deref(), Some("ERR_INTERNAL"));

    shard.write(b_id, &[b"still here"]).expect("write");
    let mut got = [0; 10];
    b.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"still here");

    // The per-connection form used by the binding's batched writes.
    let mut c = tcp_client(addr, None);
    let c_id = next_accepted(&mut shard, &mut log, 2);
    let panics = shard.stats().panics;
    fault::arm(Site::Write, 1);
    let e = shard.write_caught(c_id, &[b"x"]).unwrap_err();
    assert_eq!(e.code, "ERR_INTERNAL");
    assert_eq!(shard.stats().panics, panics + 1);
    assert!(!shard.is_active(c_id));
    c.set_read_timeout(Some(TIMEOUT)).unwrap();
    assert_eq!(c.read(&mut got).unwrap_or(0), 0, "closed for the peer");
    shard
        .write_caught(b_id, &[b"!"])
        .expect("the others still write");
}

#[test]
fn a_reactor_thread_survives_a_panic_in_its_round() {
    let _g = serial();
    let (shard, _, addr) = threaded_with_listener("np-test-panic", ShardConfig::default());

    let before = shard.stats().panics;
    fault::arm(Site::Reactor, 2);
    let mut client = tcp_client(addr, None);
    client.write_all(b"ping").unwrap();
    let mut log = Log::default();
    let mut batch = Batch::default();
    let deadline = Instant::now() + TIMEOUT;
    let id = loop {
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
        if let Some(a) = log.all(RecordKind::Accepted).first() {
            if log.bytes(a.conn) == b"ping" {
                break a.conn;
            }
        }
        assert!(Instant::now() < deadline, "not served after the panics");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(shard.stats().panics, before + 2);
    shard.send([Command::Write(id, vec![Bytes::from_static(b"pong")], 1)]);
    let mut got = [0; 4];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");
    shard.stop();
}
