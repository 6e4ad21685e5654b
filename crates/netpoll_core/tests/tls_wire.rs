//! TLS on the wire, over real loopback sockets: record boundaries, input split to single bytes,
//! bad bytes from a peer, close_notify against truncation, bounded buffering, one vectored
//! write per flush, and interop with the `openssl` command both ways.

mod tls_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use netpoll_core::tls::errors::code;
use netpoll_core::tls::{ClientContext, SecureContext, TlsSession, TlsVersion};
use tls_util::*;

fn contexts(version: TlsVersion) -> (std::sync::Arc<SecureContext>, std::sync::Arc<ClientContext>) {
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    only(version, &mut so.common);
    (
        SecureContext::new(&so).unwrap(),
        ClientContext::new(&client_options(ca.pem())).unwrap(),
    )
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn records_split_at_1_byte_and_16_kib_plus_minus_1_arrive_intact() {
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let (server, client) = contexts(version);
        // (plaintext size, socket read chunk, decrypt sink size)
        for (size, read_chunk, sink) in [
            (1, 64 * 1024, 64 * 1024),
            (16 * 1024 - 1, 64 * 1024, 64 * 1024),
            (16 * 1024, 64 * 1024, 64 * 1024),
            (16 * 1024 + 1, 64 * 1024, 64 * 1024),
            (16 * 1024 + 1, 1, 7),
            (16 * 1024, 16 * 1024 + 5 + 22, 16 * 1024 - 1),
            (300_000, 4093, 1),
        ] {
            let (mut c, mut s) = connect(&server, &client, "localhost");
            handshake(&mut c, &mut s);
            s.read_chunk = read_chunk;
            s.sink = sink;
            let data = pattern(size, size as u8);
            c.send(&mut s, &[&data]);
            pump(&mut c, &mut s, "the payload", |_, s| s.plain.len() >= size);
            assert_eq!(s.plain.len(), size, "{version:?} {size}");
            assert_eq!(
                digest(&s.plain),
                digest(&data),
                "{version:?} {size} {read_chunk} {sink}"
            );
        }
    }
}

#[test]
fn a_flush_of_many_buffers_is_one_vectored_write_of_coalesced_records() {
    let (server, client) = contexts(TlsVersion::Tls13);
    let (mut c, mut s) = connect(&server, &client, "localhost");
    handshake(&mut c, &mut s);
    s.flush(); // the TLS 1.3 session tickets
    assert!(!s.tls.wants_write());
    // 100 small responses of one batch: one encrypt, then one write_tls_to.
    let parts: Vec<Vec<u8>> = (0..100).map(|i| pattern(100, i)).collect();
    let slices: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
    assert_eq!(s.tls.encrypt(&slices).unwrap(), 10_000);
    let mut wire = Vec::new();
    let n = s.tls.write_tls_to(&mut wire).unwrap();
    assert!(!s.tls.wants_write(), "one call wrote every record");
    // 10,000 bytes fit one record: one header, 5 + 10,000 + 1 (type) + 16 (tag) bytes.
    assert_eq!(n, 5 + 10_000 + 1 + 16);
    assert_eq!(wire[0], 23, "an application_data record");
    write_raw(&mut s.sock, &wire, wire.len());
    pump(&mut c, &mut s, "the batch", |c, _| c.plain.len() == 10_000);
    assert_eq!(c.plain, parts.concat());
    // 100 KiB: several records, still one write_tls_to call.
    let big = pattern(100 * 1024, 3);
    assert_eq!(s.tls.encrypt(&[&big]).unwrap(), big.len());
    let mut wire = Vec::new();
    s.tls.write_tls_to(&mut wire).unwrap();
    assert!(!s.tls.wants_write());
    assert_eq!(wire.len(), big.len() + 7 * (5 + 17));
}

#[test]
fn a_client_hello_fed_one_byte_at_a_time_completes() {
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let (server, client) = contexts(version);
        let (mut c, mut s) = connect(&server, &client, "localhost");
        let mut hello = Vec::new();
        c.tls.write_tls_to(&mut hello).unwrap();
        assert!(hello.len() > 100 && hello[0] == 22, "a handshake record");
        write_raw(&mut c.sock, &hello, 1);
        s.read_chunk = 1;
        handshake(&mut c, &mut s);
        assert_eq!(s.tls.info().unwrap().protocol, version.name());
    }
}

/// A raw TCP client sends `bytes` to a TLS server session; returns the server's error and
/// what the raw client received before EOF.
fn raw_to_server(bytes: &[u8]) -> (netpoll_core::error::NetError, Vec<u8>) {
    let (server, _) = contexts(TlsVersion::Tls13);
    let (mut raw, sock) = tcp_pair();
    let mut s = Peer::new(sock, TlsSession::server(&server).unwrap());
    write_raw(&mut raw, bytes, bytes.len().max(1));
    let deadline = Instant::now() + TIMEOUT;
    while s.error.is_none() {
        if !s.step() {
            std::thread::sleep(Duration::from_micros(200));
        }
        assert!(Instant::now() < deadline, "server never failed");
    }
    s.sock.shutdown(Shutdown::Both).unwrap();
    raw.set_nonblocking(false).unwrap();
    raw.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut got = Vec::new();
    raw.read_to_end(&mut got).ok();
    (s.error.unwrap(), got)
}

#[test]
fn a_handshake_message_in_tiny_records_cannot_make_the_server_hold_without_bound() {
    // A ClientHello of 60,000 bytes (under rustls' 64 KiB message limit) in 1-byte records:
    // 6 wire bytes per byte of message, all held until the message is complete.
    let mut message = vec![1u8, 0, 0xea, 0x60];
    message.resize(4 + 60_000, 0);
    let mut wire = Vec::with_capacity(message.len() * 6);
    for b in &message {
        wire.extend_from_slice(&[22, 3, 1, 0, 1, *b]);
    }
    let (server, _) = contexts(TlsVersion::Tls13);
    let (mut raw, sock) = tcp_pair();
    let mut s = Peer::new(sock, TlsSession::server(&server).unwrap());
    let writer = std::thread::spawn(move || {
        raw.set_nonblocking(false).unwrap();
        let _ = raw.write_all(&wire); // fails once the server gave up
        raw
    });
    let deadline = Instant::now() + TIMEOUT;
    let mut most = 0;
    while s.error.is_none() {
        if !s.step() {
            std::thread::sleep(Duration::from_micros(200));
        }
        if s.error.is_none() {
            most = most.max(s.tls.held_ciphertext());
        }
        assert!(Instant::now() < deadline, "server never failed");
    }
    let e = s.error.as_ref().unwrap();
    assert_eq!(e.code, code::ERR_SSL_DECODE_ERROR);
    assert!(e.message.contains("message buffer full"), "{e:?}");
    assert!(most <= 0x10000 + 18 * 1024, "held {most} bytes");
    s.sock.shutdown(Shutdown::Both).unwrap();
    writer.join().unwrap();
}

#[test]
fn plaintext_and_garbage_sent_to_a_server_are_clear_errors() {
    let (e, alert) = raw_to_server(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(e.code, code::ERR_SSL_WRONG_VERSION_NUMBER);
    assert!(
        alert.is_empty() || alert[0] == 21,
        "an alert record or nothing: {alert:?}"
    );
    // A handshake record header with a length over TLS's maximum.
    assert_eq!(
        raw_to_server(&[22, 3, 1, 0xff, 0xff, 1]).0.code,
        code::ERR_SSL_RECORD_OVERFLOW
    );
    // A well-framed record carrying a garbage ClientHello.
    let mut rec = vec![22, 3, 1, 0, 40, 1, 0, 0, 36];
    rec.extend((0..36u8).map(|i| i.wrapping_mul(77)));
    let (e, alert) = raw_to_server(&rec);
    assert!(e.code.starts_with("ERR_SSL_"), "{e:?}");
    assert_eq!(alert.first(), Some(&21), "the server answers with an alert");
    // The same followed by more garbage: exactly one fatal alert (nothing after the failure
    // is looked at).
    let mut two = rec.clone();
    two.extend_from_slice(&rec);
    let (e, alert) = raw_to_server(&two);
    assert!(e.code.starts_with("ERR_SSL_"), "{e:?}");
    assert_eq!(alert.len(), 7, "one plaintext alert record: {alert:?}");
    assert_eq!(alert[..2], [21, 3]);
    // An application_data record before any handshake.
    let (e, _) = raw_to_server(&[23, 3, 3, 0, 3, 1, 2, 3]);
    assert!(e.code.starts_with("ERR_SSL_"), "{e:?}");
}

#[test]
fn close_notify_is_a_clean_end_and_half_close_keeps_the_other_direction() {
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let (server, client) = contexts(version);
        let (mut c, mut s) = connect(&server, &client, "localhost");
        handshake(&mut c, &mut s);
        c.send(&mut s, &[b"last words"]);
        c.close(); // close_notify, then FIN
        pump(&mut c, &mut s, "close_notify and EOF", |_, s| {
            s.peer_closed && s.eof.is_some()
        });
        assert_eq!(
            s.plain, b"last words",
            "plaintext before close_notify is delivered first"
        );
        assert_eq!(s.eof.clone().unwrap(), Ok(()));
        assert!(
            c.tls.encrypt(&[b"more"]).is_err(),
            "no writes after close_notify"
        );
        // The server can still answer the half-closed client.
        s.send(&mut c, &[b"reply"]);
        s.close();
        pump(&mut c, &mut s, "reply and close", |c, _| {
            c.peer_closed && c.eof.is_some()
        });
        assert_eq!(c.plain, b"reply");
        assert_eq!(c.eof.clone().unwrap(), Ok(()));
    }
}

#[test]
fn eof_without_close_notify_is_econnreset_never_a_silent_end() {
    let (server, client) = contexts(TlsVersion::Tls13);
    let (mut c, mut s) = connect(&server, &client, "localhost");
    handshake(&mut c, &mut s);
    c.send(&mut s, &[b"partial"]);
    pump(&mut c, &mut s, "data", |_, s| s.plain == b"partial");
    c.sock.shutdown(Shutdown::Write).unwrap(); // FIN, no close_notify
    pump(&mut c, &mut s, "EOF", |_, s| s.eof.is_some());
    let e = s.eof.clone().unwrap().unwrap_err();
    assert_eq!(e.code, "ECONNRESET");
    assert!(e.message.contains("close_notify"), "{}", e.message);
    // During the handshake.
    let (mut c, mut s) = connect(&server, &client, "localhost");
    c.flush(); // the ClientHello only
    c.sock.shutdown(Shutdown::Write).unwrap();
    pump(&mut c, &mut s, "EOF", |_, s| s.eof.is_some());
    let e = s.eof.clone().unwrap().unwrap_err();
    assert_eq!(e.code, "ECONNRESET");
    assert!(
        e.message.contains("before secure TLS connection"),
        "{}",
        e.message
    );
}

#[test]
fn a_peer_cannot_make_a_session_buffer_without_bound() {
    let (server, client) = contexts(TlsVersion::Tls13);
    let (mut c, mut s) = connect(&server, &client, "localhost");
    // Before the handshake, plaintext waits in the session only up to max_pending_output.
    let huge = vec![7u8; 4 << 20];
    let took = c.tls.encrypt(&[&huge]).unwrap();
    assert!(took <= 256 * 1024, "took {took}");
    // A full sink (0 bytes) does not stall the handshake: it produces no plaintext.
    s.sink = 0;
    handshake(&mut c, &mut s);
    // A sink of 1 byte: the session decrypts no further than the one record whose plaintext
    // waits for the sink; what follows stays ciphertext (the shard reads no more meanwhile).
    s.sink = 1;
    c.send(&mut s, &[&huge[..took]]);
    let mut wire = Vec::new();
    while c.tls.wants_write() {
        c.tls.write_tls_to(&mut wire).unwrap();
    }
    let waiting = s.tls.waiting_plaintext();
    assert!(
        waiting > 0 && waiting < 16 * 1024,
        "{waiting} bytes of plaintext wait for a 1-byte sink"
    );
    let mut one = [0u8; 1];
    let d = s.tls.decrypt(&mut [], &mut one).unwrap();
    assert_eq!(d.written, 1);
    assert_eq!(
        s.tls.waiting_plaintext(),
        waiting - 1,
        "nothing more decrypted"
    );
    let empty = s.tls.decrypt(&mut wire, &mut []).unwrap();
    assert_eq!(empty.written, 0);
    assert_eq!(
        s.tls.waiting_plaintext(),
        waiting - 1,
        "a full sink decrypts nothing more"
    );
}

/// Kills the child on drop (a failing assertion must not leave openssl running).
struct Reaper(Child);

/// Reads `from` on a thread and returns what it read up to EOF (or, with `until`, up to the
/// first line containing it), failing after [`TIMEOUT`]; the `Reaper` ends the child then.
fn read_bounded(from: impl Read + Send + 'static, until: Option<&'static str>) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let mut lines = BufReader::new(from);
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            text.push_str(&line);
            if until.is_some_and(|u| line.contains(u)) {
                break;
            }
        }
        tx.send(text).ok();
    });
    rx.recv_timeout(TIMEOUT)
        .expect("openssl did not answer in time")
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn openssl() -> Command {
    // CI has the command; a missing one must fail loudly, not skip.
    Command::new("openssl")
}

fn protocol_of(flag: &str) -> &'static str {
    if flag == "-tls1_3" {
        "TLSv1.3"
    } else {
        "TLSv1.2"
    }
}

#[test]
fn interop_openssl_s_server_with_our_client() {
    let ca = Ca::new("Root");
    let dir = std::env::temp_dir().join(format!("netpoll-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let id = ca.issue(Leaf::new(&["localhost"]));
    std::fs::write(dir.join("cert.pem"), &id.cert).unwrap();
    std::fs::write(dir.join("key.pem"), &id.key).unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    for flag in ["-tls1_3", "-tls1_2"] {
        let child = openssl()
            .args([
                "s_server",
                "-accept",
                "127.0.0.1:0",
                "-naccept",
                "1",
                "-rev",
                flag,
            ])
            .arg("-cert")
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the openssl command is required for this test");
        let mut child = Reaper(child);
        let banner = read_bounded(child.0.stdout.take().unwrap(), Some("ACCEPT "));
        let accept = banner
            .lines()
            .find_map(|l| l.strip_prefix("ACCEPT "))
            .expect("s_server's ACCEPT line");
        let port: u16 = accept.trim().rsplit(':').next().unwrap().parse().unwrap();
        let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_nonblocking(true).unwrap();
        let mut c = Peer::new(sock, TlsSession::client(&client, "localhost").unwrap());
        pump_one(&mut c, "handshake with s_server", |c| {
            assert!(c.error.is_none(), "{:?}", c.error);
            c.handshake_completed
        });
        let info = c.tls.info().unwrap();
        assert_eq!(info.protocol, protocol_of(flag));
        assert!(info.authorized);
        c.tls.encrypt(&[b"hello openssl\n"]).unwrap();
        // -rev: s_server answers each line reversed.
        pump_one(&mut c, "the reversed line", |c| {
            c.plain.ends_with(b"lssnepo olleh\n")
        });
        c.close();
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn interop_openssl_s_client_with_our_server() {
    let ca = Ca::new("Root");
    let dir = std::env::temp_dir().join(format!("netpoll-tls-c-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    so.common.alpn_protocols = vec![b"h2".to_vec()];
    let server = SecureContext::new(&so).unwrap();
    for flag in ["-tls1_3", "-tls1_2"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let connect = format!("127.0.0.1:{port}");
        let child = openssl()
            .args(["s_client", "-connect", &connect, "-servername", "localhost"])
            .args(["-verify_return_error", "-quiet", "-alpn", "h2", flag])
            .arg("-CAfile")
            .arg(dir.join("ca.pem"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the openssl command is required for this test");
        let mut child = Reaper(child);
        let deadline = Instant::now() + TIMEOUT;
        let sock = loop {
            match listener.accept() {
                Ok((sock, _)) => break sock,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "s_client never connected");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        sock.set_nonblocking(true).unwrap();
        let mut s = Peer::new(sock, TlsSession::server(&server).unwrap());
        let mut stdin = child.0.stdin.take().unwrap();
        stdin.write_all(b"ping from openssl\n").unwrap();
        pump_one(&mut s, "the line from s_client", |s| {
            assert!(s.error.is_none(), "{:?}", s.error);
            s.plain.ends_with(b"\n")
        });
        assert_eq!(s.plain, b"ping from openssl\n");
        let info = s.tls.info().unwrap();
        assert_eq!(info.protocol, protocol_of(flag));
        assert_eq!(info.alpn_protocol.as_deref(), Some(&b"h2"[..]));
        assert_eq!(info.servername.as_deref(), Some("localhost"));
        s.tls.encrypt(&[b"PONG\n"]).unwrap();
        s.close();
        let out = read_bounded(child.0.stdout.take().unwrap(), None);
        assert_eq!(
            out, "PONG\n",
            "s_client printed our reply and exited on close_notify"
        );
        drop(stdin);
    }
    std::fs::remove_dir_all(&dir).ok();
}
