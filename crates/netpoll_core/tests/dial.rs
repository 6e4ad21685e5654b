//! Dials over real sockets: a Unix listener whose backlog is full (the dial waits, retrying,
//! up to its timeout), a local address that cannot be bound (a `bind` error), and cancelling
//! a dial that is still connecting, on a shard and through a reactor thread.

mod util;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netpoll_core::addr::{NetAddr, Network};
use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::event::ConnId;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::shard::{Shard, WriteStatus};
use netpoll_core::stream::{Dial, Stream};
use netpoll_core::threaded::{Command, ThreadedShard};
use util::{read_n, run_for, run_until, Log, TempDir, TIMEOUT};

/// A Unix listener with a backlog of 1 that nobody accepts from, its queue filled by
/// connects until one is refused with `EAGAIN`; the fillers are returned to keep it full.
fn full_unix_listener(dir: &TempDir) -> (Listener, NetAddr, Vec<Stream>) {
    let opts = ListenOptions {
        backlog: 1,
        ..ListenOptions::default()
    };
    let listener = Listener::bind(Network::Unix, &dir.path("full.sock"), opts).expect("bind");
    let addr = listener.local_addr();
    let mut fillers = Vec::new();
    for _ in 0..64 {
        match Stream::connect(&addr, None) {
            Ok(s) => fillers.push(s),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EAGAIN), "filling: {e}");
                return (listener, addr, fillers);
            }
        }
    }
    panic!("the backlog never filled");
}

/// A dial to a full Unix listener: the shard keeps it pending.
fn busy_dial(addr: &NetAddr) -> Dial {
    let dial = Stream::dial(addr, None).expect("dial");
    assert!(matches!(dial, Dial::Busy(..)), "not busy: {dial:?}");
    dial
}

fn connected(log: &Log, id: ConnId) -> Option<Result<(), netpoll_core::error::NetError>> {
    let ev = log.of(RecordKind::Connected, id).first().copied()?.clone();
    Some(ev.error.map_or(Ok(()), Err))
}

fn step_a_little(shard: &mut Shard, log: &mut Log) {
    run_for(shard, log, Duration::from_millis(20));
}

#[test]
fn a_full_unix_backlog_waits_for_the_timeout() {
    let dir = TempDir::new();
    let (_listener, addr, _fillers) = full_unix_listener(&dir);
    let mut shard = Shard::new(ShardConfig::default()).expect("shard");
    let mut log = Log::default();
    let start = Instant::now();
    let id = shard.dial(busy_dial(&addr), 150).expect("dial");
    run_until(&mut shard, &mut log, "dial result", |l| {
        connected(l, id).is_some()
    });
    let e = connected(&log, id).unwrap().unwrap_err();
    assert_eq!(e.code, "ETIMEDOUT");
    assert_eq!(e.errno, Some(libc::ETIMEDOUT));
    assert_eq!(e.syscall, Some("connect"));
    // Never early: the dial waited (retrying) for its whole timeout.
    assert!(start.elapsed() >= Duration::from_millis(150));
    run_for(&mut shard, &mut log, Duration::from_millis(30));
    assert!(log.of(RecordKind::Closed, id).is_empty());
    let stats = shard.stats();
    assert_eq!((stats.connections, stats.timers), (0, 0));
}

#[test]
fn a_full_unix_backlog_connects_once_there_is_room() {
    let dir = TempDir::new();
    let (listener, addr, fillers) = full_unix_listener(&dir);
    let mut shard = Shard::new(ShardConfig::default()).expect("shard");
    let mut log = Log::default();
    // No timeout: it keeps trying.
    let id = shard.dial(busy_dial(&addr), 0).expect("dial");
    run_for(&mut shard, &mut log, Duration::from_millis(80));
    assert!(connected(&log, id).is_none(), "{:?}", log.events);
    // Room in the backlog: the next try connects.
    let mut accepted = vec![util::accept(&listener).0];
    run_until(&mut shard, &mut log, "connected", |l| {
        connected(l, id).is_some()
    });
    connected(&log, id).unwrap().expect("connected");
    assert!(shard.is_active(id));
    assert_eq!(shard.stats().timers, 0, "no retry timer left");
    // The connection works: it is the last one in the listener's queue.
    assert!(matches!(shard.write(id, &[b"hi"]), Ok(WriteStatus::Done)));
    for _ in 0..fillers.len() {
        accepted.push(util::accept(&listener).0);
    }
    assert_eq!(read_n(&accepted[fillers.len()], 2), b"hi");
}

#[test]
fn a_busy_unix_dial_ends_when_the_listener_goes_away() {
    let dir = TempDir::new();
    let (listener, addr, fillers) = full_unix_listener(&dir);
    let mut shard = Shard::new(ShardConfig::default()).expect("shard");
    let mut log = Log::default();
    let id = shard.dial(busy_dial(&addr), 0).expect("dial");
    step_a_little(&mut shard, &mut log);
    drop(listener);
    drop(fillers);
    run_until(&mut shard, &mut log, "dial result", |l| {
        connected(l, id).is_some()
    });
    let e = connected(&log, id).unwrap().unwrap_err();
    assert!(matches!(e.code, "ECONNREFUSED" | "ENOENT"), "{e:?}");
    assert_eq!(e.syscall, Some("connect"));
    assert_eq!(e.address.as_deref(), Some(dir.path("full.sock").as_str()));
    assert_eq!(shard.stats().connections, 0);
}

#[test]
fn closing_or_cancelling_a_busy_dial_reports_nothing_more() {
    let dir = TempDir::new();
    let (_listener, addr, _fillers) = full_unix_listener(&dir);
    let mut shard = Shard::new(ShardConfig::default()).expect("shard");
    let mut log = Log::default();
    // Closed by its owner: nothing reported, nothing left.
    let closed = shard.dial(busy_dial(&addr), 1_000).expect("dial");
    step_a_little(&mut shard, &mut log);
    shard.close(closed, true);
    // Cancelled: one connected record with ABORT_ERR.
    let cancelled = shard.dial(busy_dial(&addr), 0).expect("dial");
    let mut batch = Batch::default();
    assert!(shard.cancel_dial(cancelled, &mut batch));
    log.absorb(&mut batch);
    assert!(!shard.cancel_dial(cancelled, &mut batch), "cancelled twice");
    step_a_little(&mut shard, &mut log);
    assert!(log.of(RecordKind::Connected, closed).is_empty());
    assert_eq!(
        connected(&log, cancelled).unwrap().unwrap_err().code,
        "ABORT_ERR"
    );
    assert_eq!(log.events.len(), 1, "{:?}", log.events);
    let stats = shard.stats();
    assert_eq!((stats.connections, stats.timers), (0, 0));
}

#[test]
fn a_local_address_that_cannot_be_bound_is_a_bind_error() {
    let target = NetAddr::Inet(SocketAddr::from(([127, 0, 0, 1], util::closed_port())));
    // TEST-NET-1: on no interface of this host.
    let local = NetAddr::Inet(SocketAddr::from(([192, 0, 2, 1], 0)));
    let e = Stream::dial(&target, Some(&local)).unwrap_err();
    assert_eq!(e.code, "EADDRNOTAVAIL");
    assert_eq!(e.syscall, Some("bind"));
    assert_eq!(e.address.as_deref(), Some("192.0.2.1"));
    assert_eq!(e.port, Some(0));
    assert_eq!(e.message, "bind EADDRNOTAVAIL 192.0.2.1:0");
    // A local address of the other family cannot be bound either.
    let v6 = NetAddr::Inet("[::1]:0".parse().unwrap());
    let e = Stream::dial(&target, Some(&v6)).unwrap_err();
    assert_eq!((e.code, e.syscall), ("EINVAL", Some("bind")));
    // A refused connect still names the target.
    let e = match Stream::dial(&target, None) {
        Err(e) => e,
        Ok(_) => return, // the refusal comes later, through the shard (tested elsewhere)
    };
    assert_eq!((e.code, e.syscall), ("ECONNREFUSED", Some("connect")));
}

#[test]
fn a_threaded_dial_is_cancelled_by_its_tag() {
    let dir = TempDir::new();
    let (_listener, addr, _fillers) = full_unix_listener(&dir);
    let shard = ThreadedShard::spawn(
        "np-test-cancel".into(),
        ShardConfig::default(),
        Box::new(|| {}),
    )
    .expect("spawn");
    shard.send([
        Command::Dial(busy_dial(&addr), 0, 7),
        Command::Dial(busy_dial(&addr), 0, 8),
    ]);
    shard.send([Command::CancelDial(7), Command::CancelDial(99)]);
    let mut log = Log::default();
    let mut batch = Batch::default();
    let deadline = Instant::now() + TIMEOUT;
    while log.all(RecordKind::Connected).is_empty() {
        assert!(Instant::now() < deadline, "no connected record");
        std::thread::sleep(Duration::from_millis(2));
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
    }
    let records = log.all(RecordKind::Connected);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].b, 7, "the record carries the tag");
    assert_eq!(records[0].error.as_ref().unwrap().code, "ABORT_ERR");
    // Dial 8 is still pending; cancelling it too leaves the shard empty.
    shard.send([Command::CancelDial(8)]);
    let deadline = Instant::now() + TIMEOUT;
    while log.all(RecordKind::Connected).len() < 2 || shard.stats().connections > 0 {
        assert!(Instant::now() < deadline, "dial 8 not cancelled");
        std::thread::sleep(Duration::from_millis(2));
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
    }
    assert_eq!(log.all(RecordKind::Connected)[1].b, 8);
}

/// The peer accepts, writes and closes before the shard learns the connect finished: the
/// connect completion, the bytes and the FIN come in one readiness event. The FIN must not
/// be lost behind the short read of the bytes (issue 13 §2).
#[test]
fn a_fin_that_comes_with_the_connect_completion_is_seen() {
    for payload in [&b"bye"[..], &b""[..]] {
        let server = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = NetAddr::Inet(server.local_addr().expect("addr"));
        let mut shard = Shard::new(ShardConfig::default()).expect("shard");
        let mut log = Log::default();
        let id = shard
            .dial(Stream::dial(&addr, None).expect("dial"), 0)
            .expect("shard dial");
        // Everything happens before the shard polls once.
        let (mut peer, _) = server.accept().expect("accept");
        std::io::Write::write_all(&mut peer, payload).expect("write");
        drop(peer);
        std::thread::sleep(Duration::from_millis(20));
        run_until(&mut shard, &mut log, "read_closed", |l| {
            !l.of(RecordKind::ReadClosed, id).is_empty()
        });
        connected(&log, id).unwrap().expect("connected");
        assert_eq!(log.bytes(id), payload);
        assert!(!shard.is_active(id));
    }
}
