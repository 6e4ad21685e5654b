//! Placement in a threaded group: a Unix listener on shard 0 hands each accepted connection
//! to the shard the policy picks, and the connection is served there.

mod util;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use netpoll_core::addr::Network;
use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::placement::Policy;
use netpoll_core::threaded::{Command, ThreadedShard};
use util::{Log, TempDir, TIMEOUT};

const SHARDS: usize = 3;

/// Opens `clients` connections to a hand-off listener of a group using `policy`, each
/// sending its number; returns how many connections each shard got. Every accepted record
/// must name the listener and its shard, and every shard echoes to its own clients.
fn place(policy: Policy, clients: usize) -> [usize; SHARDS] {
    let notify = (0..SHARDS)
        .map(|_| Box::new(|| {}) as Box<dyn Fn() + Send + Sync>)
        .collect();
    let shards =
        ThreadedShard::spawn_group("np-test-place", ShardConfig::default(), policy, notify)
            .expect("spawn group");
    let dir = TempDir::new();
    let path = dir.path("place.sock");
    let listener = Listener::bind(Network::Unix, &path, ListenOptions::default()).expect("bind");
    let (tx, rx) = mpsc::channel();
    shards[0].send([Command::Listen(
        listener,
        true,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    )]);
    let lid = rx.recv_timeout(TIMEOUT).expect("reply").expect("listen");

    let mut streams = Vec::new();
    for i in 0..clients {
        let mut s = UnixStream::connect(&path).expect("connect");
        s.write_all(format!("{i:04}").as_bytes()).expect("write");
        streams.push(s);
    }

    let mut logs: Vec<Log> = (0..SHARDS).map(|_| Log::default()).collect();
    let deadline = Instant::now() + TIMEOUT;
    let mut batch = Batch::default();
    loop {
        for (shard, log) in shards.iter().zip(logs.iter_mut()) {
            shard.take_events(&mut batch);
            log.absorb(&mut batch);
        }
        let with_data = logs
            .iter()
            .map(|l| {
                l.all(RecordKind::Accepted)
                    .iter()
                    .filter(|e| l.bytes(e.conn).len() == 4)
                    .count()
            })
            .sum::<usize>();
        if with_data == clients {
            break;
        }
        assert!(Instant::now() < deadline, "not all placed: {with_data}");
        std::thread::sleep(Duration::from_millis(2));
    }

    let mut counts = [0; SHARDS];
    for (index, (shard, log)) in shards.iter().zip(&logs).enumerate() {
        for e in log.all(RecordKind::Accepted) {
            assert_eq!(e.a, lid.0, "listener id");
            let origin = if index == 0 { 0 } else { 1 };
            assert_eq!(e.b, origin, "shard {index}: accepting shard of the record");
            // Echo the client's number back from the shard that owns the connection.
            let payload = Bytes::copy_from_slice(log.bytes(e.conn));
            shard.send([Command::Write(e.conn, vec![payload], 1)]);
            counts[index] += 1;
        }
    }
    for (i, s) in streams.iter_mut().enumerate() {
        s.set_read_timeout(Some(TIMEOUT)).expect("timeout");
        let mut got = [0; 4];
        s.read_exact(&mut got).expect("echo");
        assert_eq!(&got, format!("{i:04}").as_bytes());
    }
    for shard in &shards {
        shard.stop();
    }
    counts
}

#[test]
fn round_robin_spreads_accepts_evenly() {
    assert_eq!(place(Policy::RoundRobin, 30), [10, 10, 10]);
}

#[test]
fn least_connections_keeps_shards_balanced() {
    let counts = place(Policy::LeastConnections, 30);
    assert!(counts.iter().all(|&c| (6..=14).contains(&c)), "{counts:?}");
}

#[test]
fn random_reaches_every_shard() {
    let counts = place(Policy::Random, 60);
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}

#[test]
fn dials_follow_the_group_policy() {
    let notify = (0..SHARDS)
        .map(|_| Box::new(|| {}) as Box<dyn Fn() + Send + Sync>)
        .collect();
    let shards = ThreadedShard::spawn_group(
        "np-test-pick",
        ShardConfig::default(),
        Policy::RoundRobin,
        notify,
    )
    .expect("spawn group");
    let picks: Vec<usize> = (0..6).map(|_| shards[1].pick_shard()).collect();
    assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
}
