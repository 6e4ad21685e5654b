//! The reactor shard over real loopback TCP and Unix sockets: accept, reads, writes and
//! their queue, half-close, reset, read backpressure, owner close, stale ids, output limit.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use netpoll_core::addr::Network;
use netpoll_core::batch::RecordKind;
use netpoll_core::config::ShardConfig;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::shard::{Shard, WriteStatus};
use util::{
    next_accepted, run_for, run_until, shard_with_listener, step, tcp_client, Log, Rng, TempDir,
};

#[test]
fn accept_reports_an_accepted_record() {
    let (mut shard, lid, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let acc = log.of(RecordKind::Accepted, id);
    assert_eq!(acc.len(), 1);
    assert_eq!(acc[0].a, lid.0);
    assert!(shard.is_active(id));
    assert_eq!(shard.stats().connections, 1);
    assert_eq!(shard.stats().accepted, 1);
    let stream = shard.stream(id).expect("open");
    assert!(netpoll_core::sys::nodelay(stream).expect("getsockopt"));
}

#[test]
fn no_delay_off_leaves_nagle_on() {
    let config = ShardConfig {
        no_delay: false,
        ..ShardConfig::default()
    };
    let (mut shard, _, addr) = shard_with_listener(config);
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let stream = shard.stream(id).expect("open");
    assert!(!netpoll_core::sys::nodelay(stream).expect("getsockopt"));
}

#[test]
fn one_mib_in_random_pieces_arrives_in_order() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let payload = Rng(0x1234_5678).bytes(1 << 20);
    let sent = payload.clone();
    let writer = std::thread::spawn(move || {
        let mut rng = Rng(42);
        let mut off = 0;
        while off < payload.len() {
            let n = (1 + rng.next() as usize % 70_000).min(payload.len() - off);
            client
                .write_all(&payload[off..off + n])
                .expect("client write");
            off += n;
        }
        client
    });
    run_until(&mut shard, &mut log, "1 MiB of data", |l| {
        l.bytes(id).len() >= sent.len()
    });
    let _client = writer.join().expect("writer");
    assert_eq!(log.bytes(id).len(), sent.len());
    assert!(log.bytes(id) == sent.as_slice(), "received bytes differ");
    assert!(log.of(RecordKind::Data, id).len() > 1);
    assert_eq!(shard.stats().bytes_in, sent.len() as u64);
}

#[test]
fn write_of_four_buffers_arrives_in_order() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let bufs: [&[u8]; 4] = [b"alpha-", b"", b"beta-gamma-", b"delta"];
    let status = shard.write(id, &bufs).expect("write");
    assert_eq!(status, WriteStatus::Done);
    let mut got = vec![0; 22];
    client.read_exact(&mut got).expect("client read");
    assert_eq!(&got, b"alpha-beta-gamma-delta");
}

#[test]
fn a_write_larger_than_the_socket_buffers_is_queued_then_flushed() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    socket2::SockRef::from(shard.stream(id).expect("stream"))
        .set_send_buffer_size(4096)
        .expect("SO_SNDBUF");
    let payload = Rng(7).bytes(8 << 20);
    let status = shard.write(id, &[&payload]).expect("write");
    let WriteStatus::Queued(n) = status else {
        panic!("8 MiB were taken at once: {status:?}");
    };
    assert!(n > 0 && n <= payload.len());
    assert_eq!(shard.queued_output(id), n);
    // Nothing is flushed while the peer does not read.
    run_for(&mut shard, &mut log, Duration::from_millis(50));
    assert!(log.of(RecordKind::Flushed, id).is_empty());
    let len = payload.len();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0; len];
        client.read_exact(&mut got).expect("client read");
        (client, got)
    });
    run_until(&mut shard, &mut log, "flushed", |l| {
        !l.of(RecordKind::Flushed, id).is_empty()
    });
    let (_client, got) = reader.join().expect("reader");
    assert!(got == payload, "client got different bytes");
    assert_eq!(log.of(RecordKind::Flushed, id).len(), 1);
    assert_eq!(shard.queued_output(id), 0);
    assert_eq!(shard.stats().bytes_queued, 0);
    assert_eq!(shard.stats().bytes_out, payload.len() as u64);
}

fn shutdown_case(with_data: bool) {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    // Let the shard see the (empty) socket first, so the FIN is a readiness edge of its own
    // unless data rides along with it.
    run_for(&mut shard, &mut log, Duration::from_millis(20));
    if with_data {
        (&client).write_all(b"last words").expect("write");
    }
    client.shutdown(Shutdown::Write).expect("shutdown");
    run_until(&mut shard, &mut log, "read closed", |l| {
        !l.of(RecordKind::ReadClosed, id).is_empty()
    });
    let expected: &[u8] = if with_data { b"last words" } else { b"" };
    assert_eq!(log.bytes(id), expected);
    assert!(!shard.is_active(id));
    run_for(&mut shard, &mut log, Duration::from_millis(50));
    assert_eq!(log.of(RecordKind::ReadClosed, id).len(), 1);
    assert!(log.of(RecordKind::Closed, id).is_empty());
    // Output still goes out after the peer's FIN.
    assert_eq!(shard.write(id, &[b"reply"]), Ok(WriteStatus::Done));
    let mut got = [0; 5];
    (&client).read_exact(&mut got).expect("read");
    assert_eq!(&got, b"reply");
}

#[test]
fn peer_shutdown_reports_read_closed() {
    shutdown_case(false);
}

#[test]
fn peer_shutdown_right_after_data_reports_read_closed() {
    shutdown_case(true);
}

#[test]
fn peer_reset_reports_one_closed_with_econnreset() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
    drop(client);
    run_until(&mut shard, &mut log, "closed", |l| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    run_for(&mut shard, &mut log, Duration::from_millis(50));
    let closed = log.of(RecordKind::Closed, id);
    assert_eq!(closed.len(), 1, "events: {:?}", log.events);
    let err = closed[0].error.as_ref().expect("an error");
    assert_eq!(err.code, "ECONNRESET");
    assert_eq!(log.events.last().unwrap().kind, RecordKind::Closed as u32);
    assert!(!shard.is_active(id));
    assert_eq!(shard.stats().connections, 0);
}

#[test]
fn pause_read_holds_data_until_resumed() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    shard.pause_read(id, true);
    client.set_nonblocking(true).expect("nonblocking");
    let chunk = [0x5a_u8; 4096];
    let mut sent = 0usize;
    let end = std::time::Instant::now() + Duration::from_millis(200);
    while std::time::Instant::now() < end {
        for _ in 0..8 {
            match (&client).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("client write: {e}"),
            }
        }
        step(&mut shard, &mut log);
    }
    assert!(sent > 0);
    assert!(log.of(RecordKind::Data, id).is_empty(), "data while paused");
    shard.pause_read(id, false);
    run_until(&mut shard, &mut log, "data after resume", |l| {
        l.bytes(id).len() >= sent
    });
    assert_eq!(log.bytes(id).len(), sent);
    assert!(log.bytes(id).iter().all(|b| *b == 0x5a));
}

#[test]
fn owner_close_frees_the_slot_and_reports_nothing() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    let before = log.events.len();
    shard.close(id, false);
    assert_eq!(shard.stats().connections, 0);
    assert!(!shard.is_active(id));
    assert!(shard.stream(id).is_none());
    run_for(&mut shard, &mut log, Duration::from_millis(50));
    assert_eq!(log.events.len(), before, "events: {:?}", log.events);
    let mut buf = [0; 8];
    assert_eq!(client.read(&mut buf).expect("read EOF"), 0);
}

#[test]
fn stale_ids_do_not_reach_the_connection_reusing_the_slot() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _a = tcp_client(addr, None);
    let old = next_accepted(&mut shard, &mut log, 0);
    shard.close(old, false);
    let mut b = tcp_client(addr, None);
    let new = next_accepted(&mut shard, &mut log, 1);
    assert_eq!(new.index, old.index, "slot reused");
    assert_ne!(new.generation, old.generation);
    let err = shard.write(old, &[b"stale"]).expect_err("stale write");
    assert_eq!(err.code, "ERR_CONN_CLOSED");
    shard.pause_read(old, true);
    shard.arm_read_timeout(old, 10);
    shard.close(old, true);
    assert!(shard.is_active(new));
    assert_eq!(shard.write(new, &[b"fresh"]), Ok(WriteStatus::Done));
    let mut got = [0; 5];
    b.read_exact(&mut got).expect("read");
    assert_eq!(&got, b"fresh");
    b.write_all(b"still reading").expect("write");
    run_until(&mut shard, &mut log, "data on new", |l| {
        l.bytes(new).len() >= 13
    });
    assert_eq!(log.bytes(new), b"still reading");
    assert!(log.of(RecordKind::Timeout, new).is_empty());
}

#[test]
fn unix_socket_round_trip() {
    let dir = TempDir::new();
    let path = dir.path("s.sock");
    let mut shard = Shard::new(ShardConfig::default()).expect("shard");
    let l = Listener::bind(Network::Unix, &path, ListenOptions::default()).expect("bind");
    shard.add_listener(l).expect("add_listener");
    let mut log = Log::default();
    let mut client = std::os::unix::net::UnixStream::connect(&path).expect("connect");
    client
        .set_read_timeout(Some(util::TIMEOUT))
        .expect("timeout");
    let id = next_accepted(&mut shard, &mut log, 0);
    client.write_all(b"ping").expect("write");
    run_until(&mut shard, &mut log, "unix data", |l| {
        l.bytes(id).len() >= 4
    });
    assert_eq!(log.bytes(id), b"ping");
    assert_eq!(shard.write(id, &[b"po", b"ng"]), Ok(WriteStatus::Done));
    let mut got = [0; 4];
    client.read_exact(&mut got).expect("read");
    assert_eq!(&got, b"pong");
}

#[test]
fn output_limit_fails_the_write_and_closes() {
    let config = ShardConfig {
        max_output: 64 * 1024,
        ..ShardConfig::default()
    };
    let (mut shard, _, addr) = shard_with_listener(config);
    let mut log = Log::default();
    let _client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    let chunk = vec![1u8; 16 * 1024];
    let mut error = None;
    for _ in 0..100_000 {
        match shard.write(id, &[&chunk]) {
            Ok(WriteStatus::Queued(n)) => assert!(n <= 64 * 1024),
            Ok(WriteStatus::Done) => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("no ERR_OUTPUT_LIMIT after 1.6 GB");
    assert_eq!(error.code, "ERR_OUTPUT_LIMIT");
    assert_eq!(shard.stats().connections, 0);
    assert_eq!(shard.stats().bytes_queued, 0);
    assert_eq!(
        shard.write(id, &[b"x"]).expect_err("closed").code,
        "ERR_CONN_CLOSED"
    );
    run_for(&mut shard, &mut log, Duration::from_millis(30));
    assert!(log.of(RecordKind::Closed, id).is_empty());
}

/// An empty write (an empty body, `malloc(0)` then `flush()`) is a no-op: the connection
/// stays open; behind queued output it is covered by that output's `flushed`.
#[test]
fn an_empty_write_is_a_no_op() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, Some(4096));
    let id = next_accepted(&mut shard, &mut log, 0);
    assert_eq!(shard.write(id, &[b""]), Ok(WriteStatus::Done));
    assert_eq!(shard.write(id, &[b"", b""]), Ok(WriteStatus::Done));
    assert_eq!(shard.write(id, &[]), Ok(WriteStatus::Done));
    assert!(shard.is_active(id));
    assert_eq!(
        shard.write(id, &[b"", b"ab", b"", b"c"]),
        Ok(WriteStatus::Done)
    );
    let mut got = [0u8; 3];
    client.read_exact(&mut got).expect("read");
    assert_eq!(&got, b"abc");
    // Behind queued output: queued, not done (its flush must wait for that output).
    socket2::SockRef::from(shard.stream(id).expect("stream"))
        .set_send_buffer_size(4096)
        .expect("SO_SNDBUF");
    let big = vec![1u8; 4 << 20];
    let Ok(WriteStatus::Queued(n)) = shard.write(id, &[&big]) else {
        panic!("4 MiB were taken at once");
    };
    assert_eq!(shard.write(id, &[b""]), Ok(WriteStatus::Queued(n)));
    assert!(shard.is_active(id));
}

/// Where a short read could be taken for "drained" although the FIN is already in: a
/// connection accepted with its bytes and FIN waiting, and one whose bytes and FIN came
/// while its reading was paused. Both see the FIN (no further edge would come for it).
#[test]
fn a_fin_waiting_at_accept_or_behind_a_pause_is_seen() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    // At accept: the peer wrote and closed before the shard accepted.
    let mut early = tcp_client(addr, None);
    early.write_all(b"early").expect("write");
    drop(early);
    std::thread::sleep(Duration::from_millis(20));
    let id = next_accepted(&mut shard, &mut log, 0);
    run_until(&mut shard, &mut log, "read_closed at accept", |l| {
        !l.of(RecordKind::ReadClosed, id).is_empty()
    });
    assert_eq!(log.bytes(id), b"early");
    // Behind a pause: bytes and FIN arrive while paused, reading resumes afterwards.
    let mut late = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 1);
    shard.pause_read(id, true);
    late.write_all(b"late").expect("write");
    drop(late);
    run_for(&mut shard, &mut log, Duration::from_millis(50));
    assert!(log.of(RecordKind::Data, id).is_empty(), "data while paused");
    shard.pause_read(id, false);
    run_until(&mut shard, &mut log, "read_closed after resume", |l| {
        !l.of(RecordKind::ReadClosed, id).is_empty()
    });
    assert_eq!(log.bytes(id), b"late");
}

/// Reads into lent memory that fills up (the inline engine's slab): the reads that did not
/// fit are carried over to the next round, and the FIN behind them is still seen.
#[test]
fn a_fin_behind_a_full_lent_memory_is_seen() {
    use netpoll_core::batch::Batch;
    use netpoll_core::lent_sink::LentSink;
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    client.write_all(b"abcdefghij").expect("write");
    drop(client);
    std::thread::sleep(Duration::from_millis(20));
    let mut got = Vec::new();
    let mut fin = false;
    let deadline = std::time::Instant::now() + util::TIMEOUT;
    while !fin {
        assert!(std::time::Instant::now() < deadline, "no FIN after {got:?}");
        // 3 bytes of memory per round.
        let mut mem = [0u8; 3];
        let mut used = 0;
        let mut batch = Batch::default();
        let mut sink = LentSink {
            batch: &mut batch,
            mem: &mut mem,
            used: &mut used,
        };
        shard
            .run_once(Some(Duration::from_millis(10)), &mut sink)
            .expect("run_once");
        // Data records name bytes of `mem` (not of the batch): only the FIN is looked for.
        got.extend_from_slice(&mem[..used]);
        fin = batch
            .records
            .chunks_exact(netpoll_core::batch::RECORD_LEN)
            .any(|r| r[0] == RecordKind::ReadClosed as u32 && r[1..3] == [id.index, id.generation]);
    }
    assert_eq!(got, b"abcdefghij");
}
