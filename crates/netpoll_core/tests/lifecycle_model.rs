//! Model-based test of the connection lifecycle over real loopback sockets: random
//! interleavings of peer writes, FIN and RST, local writes, graceful and aborting closes,
//! read pauses and short read/idle timeouts on three connections, checked against the
//! lifecycle rules:
//!
//! - each connection is `accepted` first and reported `closed` at most once, as its last
//!   record; a connection its owner closed is never reported (the owner knows);
//! - nothing is reported after `closed`, and operations on a closed id change nothing;
//! - every byte a connection delivers is, in order, what its peer sent (a prefix of it);
//! - once every peer is gone, every connection is gone: none left open, no timer armed.

mod util;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use netpoll_core::batch::RecordKind;
use netpoll_core::config::ShardConfig;
use netpoll_core::event::ConnId;
use netpoll_core::shard::Shard;
use proptest::prelude::*;
use util::{next_accepted, shard_with_listener, step, tcp_client, Log, TIMEOUT};

const CONNS: usize = 3;

#[derive(Clone, Debug)]
enum Op {
    PeerWrite(usize, usize),
    PeerFin(usize),
    PeerRst(usize),
    LocalWrite(usize, usize),
    LocalClose(usize, bool),
    PauseRead(usize, bool),
    ReadTimeout(usize, u64),
    IdleTimeout(usize, u64),
    Run(u64),
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0..CONNS;
    prop_oneof![
        3 => (c.clone(), 1usize..100_000).prop_map(|(c, n)| Op::PeerWrite(c, n)),
        1 => c.clone().prop_map(Op::PeerFin),
        1 => c.clone().prop_map(Op::PeerRst),
        2 => (c.clone(), 1usize..300_000).prop_map(|(c, n)| Op::LocalWrite(c, n)),
        1 => (c.clone(), any::<bool>()).prop_map(|(c, a)| Op::LocalClose(c, a)),
        1 => (c.clone(), any::<bool>()).prop_map(|(c, p)| Op::PauseRead(c, p)),
        1 => (c.clone(), 1u64..40).prop_map(|(c, ms)| Op::ReadTimeout(c, ms)),
        1 => (c.clone(), 5u64..60).prop_map(|(c, ms)| Op::IdleTimeout(c, ms)),
        3 => (0u64..25).prop_map(Op::Run),
    ]
}

/// The peer side of one connection: its socket (until reset) and every byte it sent.
struct Peer {
    socket: Option<TcpStream>,
    sent: Vec<u8>,
    seed: u8,
}

fn run(ops: Vec<Op>) {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut peers = Vec::new();
    let mut ids = Vec::new();
    for i in 0..CONNS {
        let socket = tcp_client(addr, Some(16 << 10));
        socket.set_nonblocking(true).expect("nonblocking");
        ids.push(next_accepted(&mut shard, &mut log, i));
        peers.push(Peer {
            socket: Some(socket),
            sent: Vec::new(),
            seed: i as u8 * 50,
        });
    }
    let mut owner_closed: HashMap<ConnId, usize> = HashMap::new();

    for op in ops {
        match op {
            Op::PeerWrite(c, n) => {
                let p = &mut peers[c];
                if let Some(s) = p.socket.as_mut() {
                    let data: Vec<u8> = (0..n).map(|i| p.seed.wrapping_add(i as u8)).collect();
                    // Non-blocking: whatever the kernel takes now is what was sent.
                    if let Ok(k) = s.write(&data) {
                        p.sent.extend_from_slice(&data[..k]);
                        p.seed = p.seed.wrapping_add(k as u8);
                    }
                }
            }
            Op::PeerFin(c) => {
                if let Some(s) = &peers[c].socket {
                    let _ = s.shutdown(std::net::Shutdown::Write);
                }
            }
            Op::PeerRst(c) => {
                if let Some(s) = peers[c].socket.take() {
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                }
            }
            Op::LocalWrite(c, n) => {
                // A write that fails closes the connection and tells its owner through the
                // error (no `closed` report follows), unless it was closed already.
                if let Err(e) = shard.write(ids[c], &[&vec![7u8; n]]) {
                    if e.code != "ERR_CONN_CLOSED" {
                        owner_closed.entry(ids[c]).or_insert(log.events.len());
                    }
                }
            }
            Op::LocalClose(c, abort) => {
                if shard.is_active(ids[c]) || shard.stream(ids[c]).is_some() {
                    owner_closed.entry(ids[c]).or_insert(log.events.len());
                }
                shard.close(ids[c], abort);
            }
            Op::PauseRead(c, paused) => shard.pause_read(ids[c], paused),
            Op::ReadTimeout(c, ms) => shard.arm_read_timeout(ids[c], ms),
            Op::IdleTimeout(c, ms) => shard.set_idle_timeout(ids[c], ms),
            Op::Run(ms) => {
                let end = Instant::now() + Duration::from_millis(ms);
                loop {
                    step_for(&mut shard, &mut log, ms.min(5));
                    if Instant::now() >= end {
                        break;
                    }
                }
            }
        }
    }

    // Every peer goes away; every connection must follow, each reported at most once.
    for p in &mut peers {
        if let Some(s) = p.socket.take() {
            let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
        }
    }
    for id in &ids {
        shard.pause_read(*id, false);
    }
    let deadline = Instant::now() + TIMEOUT;
    while shard.stats().connections > 0 {
        assert!(
            Instant::now() < deadline,
            "connections left: {:?}",
            shard.stats()
        );
        step(&mut shard, &mut log);
    }
    assert_eq!(shard.stats().timers, 0, "timers left armed");
    check(&log, &ids, &peers, &owner_closed);
}

fn step_for(shard: &mut Shard, log: &mut Log, ms: u64) {
    let mut batch = netpoll_core::batch::Batch::default();
    shard
        .run_once(Some(Duration::from_millis(ms)), &mut batch)
        .expect("run_once");
    log.absorb(&mut batch);
}

fn check(log: &Log, ids: &[ConnId], peers: &[Peer], owner_closed: &HashMap<ConnId, usize>) {
    for (c, id) in ids.iter().enumerate() {
        let records: Vec<(usize, u32)> = log
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.conn == *id && e.kind != RecordKind::ListenerError as u32)
            .map(|(i, e)| (i, e.kind))
            .collect();
        assert_eq!(records[0].1, RecordKind::Accepted as u32, "conn {c}: first");
        let closed: Vec<usize> = records
            .iter()
            .filter(|(_, k)| *k == RecordKind::Closed as u32)
            .map(|(i, _)| *i)
            .collect();
        assert!(closed.len() <= 1, "conn {c}: closed {} times", closed.len());
        if let Some(&at) = closed.first() {
            assert_eq!(
                records.last().unwrap().0,
                at,
                "conn {c}: a record after closed"
            );
            if let Some(&when) = owner_closed.get(id) {
                assert!(at < when, "conn {c}: reported after its owner closed it");
            }
        } else {
            assert!(
                owner_closed.contains_key(id),
                "conn {c}: gone without a report and without its owner closing it: {:?}",
                log.events
                    .iter()
                    .map(|e| (e.kind, e.conn, e.error.as_ref().map(|x| x.code)))
                    .collect::<Vec<_>>()
            );
        }
        let got = log.bytes(*id);
        assert!(
            peers[c].sent.starts_with(got),
            "conn {c}: delivered bytes are not what the peer sent"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn lifecycle_rules_hold_under_random_interleavings(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
