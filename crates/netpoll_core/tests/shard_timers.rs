//! The shard's timers over real loopback TCP: idle, read and write timeouts, and a dial to
//! a closed port.

mod util;

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use netpoll_core::addr::NetAddr;
use netpoll_core::batch::RecordKind;
use netpoll_core::config::ShardConfig;
use netpoll_core::shard::{Shard, WriteStatus};
use netpoll_core::stream::Stream;
use util::{next_accepted, run_for, run_until, shard_with_listener, step, tcp_client, Log};

fn position(log: &Log, kind: RecordKind, id: netpoll_core::event::ConnId) -> Option<usize> {
    log.events
        .iter()
        .position(|e| e.kind == kind as u32 && e.conn == id)
}

#[test]
fn idle_timeout_closes_a_silent_connection() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let start = Instant::now();
    shard.set_idle_timeout(id, 100);
    run_until(&mut shard, &mut log, "idle close", |l| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(90) && elapsed <= Duration::from_millis(1000),
        "closed after {elapsed:?}"
    );
    let timeouts = log.of(RecordKind::Timeout, id);
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].a, 3);
    let closed = log.of(RecordKind::Closed, id);
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].error.as_ref().expect("error").code,
        "ERR_IDLE_TIMEOUT"
    );
    assert!(position(&log, RecordKind::Timeout, id) < position(&log, RecordKind::Closed, id));
    assert_eq!(shard.stats().connections, 0);
}

#[test]
fn activity_postpones_the_idle_timeout() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    shard.set_idle_timeout(id, 100);
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < Duration::from_millis(300) {
        if Instant::now() >= next {
            client.write_all(b"tick").expect("write");
            next += Duration::from_millis(50);
        }
        step(&mut shard, &mut log);
    }
    assert!(
        log.of(RecordKind::Timeout, id).is_empty(),
        "{:?}",
        log.events
    );
    assert!(log.of(RecordKind::Closed, id).is_empty());
    assert!(shard.is_active(id));
    assert!(log.bytes(id).len() >= 4 * 5);
    // Silence now: it closes.
    run_until(&mut shard, &mut log, "idle close", |l| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    assert_eq!(log.of(RecordKind::Timeout, id)[0].a, 3);
}

#[test]
fn read_timeout_reports_and_keeps_the_connection_open() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let start = Instant::now();
    shard.arm_read_timeout(id, 50);
    run_until(&mut shard, &mut log, "read timeout", |l| {
        !l.of(RecordKind::Timeout, id).is_empty()
    });
    assert!(start.elapsed() >= Duration::from_millis(45));
    assert_eq!(log.of(RecordKind::Timeout, id)[0].a, 1);
    run_for(&mut shard, &mut log, Duration::from_millis(100));
    assert_eq!(log.of(RecordKind::Timeout, id).len(), 1, "fires once");
    assert!(log.of(RecordKind::Closed, id).is_empty());
    assert!(shard.is_active(id));
}

#[test]
fn cancelled_read_timeout_does_not_fire() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    shard.arm_read_timeout(id, 50);
    step(&mut shard, &mut log);
    shard.cancel_read_timeout(id);
    run_for(&mut shard, &mut log, Duration::from_millis(200));
    assert!(
        log.of(RecordKind::Timeout, id).is_empty(),
        "{:?}",
        log.events
    );
    assert!(shard.is_active(id));
    assert_eq!(shard.stats().timers, 0);
}

#[test]
fn write_timeout_closes_a_connection_whose_peer_does_not_read() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    socket2::SockRef::from(shard.stream(id).expect("stream"))
        .set_send_buffer_size(4096)
        .expect("SO_SNDBUF");
    shard.set_write_timeout(id, 100);
    let payload = vec![9u8; 4 << 20];
    let start = Instant::now();
    let status = shard.write(id, &[&payload]).expect("write");
    assert!(matches!(status, WriteStatus::Queued(_)), "{status:?}");
    run_until(&mut shard, &mut log, "write timeout close", |l| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    let elapsed = start.elapsed();
    assert!(elapsed >= Duration::from_millis(90), "after {elapsed:?}");
    let timeouts = log.of(RecordKind::Timeout, id);
    assert_eq!(timeouts.len(), 1);
    assert_eq!(timeouts[0].a, 2);
    let closed = log.of(RecordKind::Closed, id);
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].error.as_ref().expect("error").code,
        "ERR_WRITE_TIMEOUT"
    );
    assert!(position(&log, RecordKind::Timeout, id) < position(&log, RecordKind::Closed, id));
    assert!(log.of(RecordKind::Flushed, id).is_empty());
    assert_eq!(shard.stats().bytes_queued, 0);
}

/// The write timeout means "no progress for that long": a peer that reads slowly but
/// steadily is served to the end, however long the whole output takes.
#[test]
fn write_timeout_spares_a_slow_peer_that_keeps_reading() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    socket2::SockRef::from(shard.stream(id).expect("stream"))
        .set_send_buffer_size(4096)
        .expect("SO_SNDBUF");
    let timeout = Duration::from_millis(200);
    shard.set_write_timeout(id, timeout.as_millis() as u64);
    let payload = vec![7u8; 256 << 10];
    let start = Instant::now();
    let status = shard.write(id, &[&payload]).expect("write");
    assert!(matches!(status, WriteStatus::Queued(_)), "{status:?}");
    // 4 KiB every 10 ms: at least 640 ms for the whole, more than 3 timeouts.
    let len = payload.len();
    let reader = std::thread::spawn(move || {
        let mut client = client;
        let mut got = 0;
        let mut buf = [0u8; 4096];
        while got < len {
            got += std::io::Read::read(&mut client, &mut buf).expect("client read");
            std::thread::sleep(Duration::from_millis(10));
        }
        got
    });
    run_until(&mut shard, &mut log, "flushed or closed", |l| {
        !l.of(RecordKind::Flushed, id).is_empty() || !l.of(RecordKind::Closed, id).is_empty()
    });
    assert!(
        log.of(RecordKind::Closed, id).is_empty(),
        "{:?}",
        log.events
    );
    assert!(
        log.of(RecordKind::Timeout, id).is_empty(),
        "{:?}",
        log.events
    );
    assert_eq!(reader.join().expect("reader"), len);
    assert!(start.elapsed() > timeout * 3, "the peer was not slow");
    assert!(shard.is_active(id));
}

/// A connection its owner closed while output waits is given up quietly when the output
/// stalls: no `timeout` record (the owner expects nothing more of it).
#[test]
fn a_closing_connection_whose_output_stalls_reports_nothing() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    socket2::SockRef::from(shard.stream(id).expect("stream"))
        .set_send_buffer_size(4096)
        .expect("SO_SNDBUF");
    shard.set_write_timeout(id, 100);
    let payload = vec![9u8; 4 << 20];
    let status = shard.write(id, &[&payload]).expect("write");
    assert!(matches!(status, WriteStatus::Queued(_)), "{status:?}");
    shard.close(id, false);
    let deadline = Instant::now() + util::TIMEOUT;
    while shard.connection_count() > 0 {
        assert!(Instant::now() < deadline, "the closing connection stayed");
        step(&mut shard, &mut log);
    }
    assert!(
        log.of(RecordKind::Timeout, id).is_empty(),
        "{:?}",
        log.events
    );
    assert!(
        log.of(RecordKind::Closed, id).is_empty(),
        "{:?}",
        log.events
    );
    assert_eq!(shard.stats().bytes_queued, 0);
}

#[test]
fn dial_to_a_closed_port_reports_econnrefused() {
    let mut shard = Shard::new(ShardConfig::default()).expect("shard");
    let mut log = Log::default();
    let addr = NetAddr::Inet(SocketAddr::from((Ipv4Addr::LOCALHOST, util::closed_port())));
    let stream = match Stream::connect(&addr, None) {
        Ok(s) => s,
        // Some kernels refuse a loopback connect at once: that is the same answer.
        Err(e) => {
            assert_eq!(e.raw_os_error(), Some(libc::ECONNREFUSED));
            return;
        }
    };
    let id = shard.dial(stream, 0).expect("dial");
    run_until(&mut shard, &mut log, "connected", |l| {
        !l.of(RecordKind::Connected, id).is_empty()
    });
    let rec = log.of(RecordKind::Connected, id)[0].clone();
    assert_ne!(rec.a, 0, "connected without error");
    assert_eq!(rec.error.as_ref().expect("error").code, "ECONNREFUSED");
    run_for(&mut shard, &mut log, Duration::from_millis(30));
    assert!(
        log.of(RecordKind::Closed, id).is_empty(),
        "no closed after a failed dial"
    );
    assert_eq!(shard.stats().connections, 0);
}
