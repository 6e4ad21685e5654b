//! Half-close over real loopback sockets: `Shard::shutdown_write` sends FIN after every
//! byte written before it (at once, or once a queued output drains), reading goes on until
//! the peer's FIN, a connection whose peer finished first stays writable, and a connection
//! whose two directions both ended is closed and reported. Inline shard and threaded engine.
//! And the opposite of a graceful end: `Stream::reset_on_close` makes the close a reset.

mod util;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Instant;

use bytes::Bytes;
use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use netpoll_core::shard::WriteStatus;
use netpoll_core::threaded::Command;
use util::{
    digest, next_accepted, run_until, shard_with_listener, tcp_client, threaded_with_listener, Log,
    Rng, TIMEOUT,
};

/// Reads `client` to EOF (bounded by its 5 s read timeout).
fn read_to_eof(client: &mut std::net::TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    client.read_to_end(&mut got).expect("read to EOF");
    got
}

#[test]
fn shutdown_write_sends_fin_and_reading_goes_on() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    assert_eq!(
        shard.write(id, &[b"bye"]).expect("write"),
        WriteStatus::Done
    );
    shard.shutdown_write(id).expect("shutdown_write");
    assert!(shard.write_shut(id));
    shard
        .shutdown_write(id)
        .expect("a second call does nothing");
    assert_eq!(read_to_eof(&mut client), b"bye");
    // The server still reads what the client sends after the server's FIN.
    client.write_all(b"still here").expect("client write");
    run_until(&mut shard, &mut log, "data after FIN", |l| {
        l.bytes(id) == b"still here"
    });
    assert!(log.of(RecordKind::Closed, id).is_empty());
    // The client's FIN ends the other direction: the connection closes cleanly.
    client.shutdown(Shutdown::Write).expect("client FIN");
    run_until(&mut shard, &mut log, "closed", |l| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    assert_eq!(log.of(RecordKind::ReadClosed, id).len(), 1);
    assert!(log.of(RecordKind::Closed, id)[0].error.is_none());
    assert_eq!(shard.connection_count(), 0);
}

#[test]
fn fin_waits_for_queued_output() {
    // A small receive window keeps most of the 8 MiB queued on the shard.
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, Some(16 * 1024));
    let id = next_accepted(&mut shard, &mut log, 0);
    let payload = Rng(7).bytes(8 << 20);
    let status = shard.write(id, &[&payload]).expect("write");
    assert!(matches!(status, WriteStatus::Queued(_)), "{status:?}");
    shard.shutdown_write(id).expect("shutdown_write");
    let reader = std::thread::spawn(move || read_to_eof(&mut client));
    run_until(&mut shard, &mut log, "flushed", |l| {
        !l.of(RecordKind::Flushed, id).is_empty()
    });
    let got = reader.join().expect("reader");
    assert_eq!(got.len(), payload.len());
    assert_eq!(digest(&got), digest(&payload));
    assert!(log.of(RecordKind::Closed, id).is_empty());
}

#[test]
fn peer_fin_first_leaves_the_connection_writable_until_our_fin() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    client.write_all(b"request").expect("client write");
    client.shutdown(Shutdown::Write).expect("client FIN");
    run_until(&mut shard, &mut log, "read closed", |l| {
        !l.of(RecordKind::ReadClosed, id).is_empty()
    });
    assert_eq!(log.bytes(id), b"request");
    // Half-open: the answer still goes out after the peer's FIN.
    let start = Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(50) {
        util::step(&mut shard, &mut log);
    }
    assert!(log.of(RecordKind::Closed, id).is_empty());
    assert_eq!(
        shard.write(id, &[b"answer"]).expect("write"),
        WriteStatus::Done
    );
    shard.shutdown_write(id).expect("shutdown_write");
    assert_eq!(read_to_eof(&mut client), b"answer");
    run_until(&mut shard, &mut log, "closed", |l| {
        !l.of(RecordKind::Closed, id).is_empty()
    });
    assert!(log.of(RecordKind::Closed, id)[0].error.is_none());
}

#[test]
fn shutdown_write_of_a_closed_connection_is_conn_closed() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let _client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    shard.close(id, true);
    assert_eq!(
        shard.shutdown_write(id).unwrap_err().code,
        "ERR_CONN_CLOSED"
    );
}

#[test]
fn threaded_shutdown_write_follows_queued_writes() {
    let (shard, _, addr) = threaded_with_listener("np-test-halfclose", ShardConfig::default());
    let mut client = tcp_client(addr, Some(16 * 1024));
    let mut log = Log::default();
    let mut batch = Batch::default();
    let deadline = Instant::now() + TIMEOUT;
    while log.all(RecordKind::Accepted).is_empty() {
        assert!(Instant::now() < deadline, "no accept");
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let id = log.all(RecordKind::Accepted)[0].conn;
    let payload = Rng(9).bytes(16 << 20);
    shard.send([
        Command::Write(id, vec![Bytes::from(payload.clone())], 1),
        Command::ShutdownWrite(id),
    ]);
    let got = read_to_eof(&mut client);
    assert_eq!(got.len(), payload.len());
    assert_eq!(digest(&got), digest(&payload));
    // Reading goes on: the client's bytes after the FIN still arrive.
    client.write_all(b"late").expect("client write");
    let deadline = Instant::now() + TIMEOUT;
    while log.bytes(id) != b"late" {
        assert!(Instant::now() < deadline, "late bytes: {:?}", log.events);
        shard.take_events(&mut batch);
        log.absorb(&mut batch);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    shard.stop();
}

#[test]
fn reset_on_close_sends_rst_instead_of_fin() {
    let (mut shard, _, addr) = shard_with_listener(ShardConfig::default());
    let mut log = Log::default();
    let mut client = tcp_client(addr, None);
    let id = next_accepted(&mut shard, &mut log, 0);
    shard
        .stream(id)
        .expect("open")
        .reset_on_close()
        .expect("SO_LINGER 0");
    shard.close(id, true);
    let e = client.read(&mut [0u8; 8]).expect_err("a reset, not EOF");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}");
}
