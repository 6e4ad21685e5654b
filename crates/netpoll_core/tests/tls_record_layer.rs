//! The session's own TLS 1.3 record layer (after the handshake), over real loopback sockets
//! against rustls' complete implementation as the peer: data both ways, KeyUpdates asked for
//! by either side, a tampered record, an oversized record, and TLS 1.2 staying on rustls.

mod tls_util;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_core::tls::errors::code;
use netpoll_core::tls::{ClientContext, SecureContext, TlsSession, TlsVersion};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{AlertDescription, ClientConfig, Connection, RootCertStore, ServerConfig};
use tls_util::*;

/// A peer running rustls' own (buffered) connection over a non-blocking socket.
struct Reference {
    sock: TcpStream,
    conn: Connection,
    plain: Vec<u8>,
    error: Option<rustls::Error>,
    /// The peer's close_notify arrived.
    closed: bool,
}

impl Reference {
    /// Writes what rustls queued, reads and processes what arrived; whether anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(n) if n > 0 => moved = true,
                _ => break,
            }
        }
        if self.error.is_some() {
            return moved;
        }
        match self.conn.read_tls(&mut self.sock) {
            Ok(n) if n > 0 => moved = true,
            Ok(_) => return moved,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("reference read: {e}"),
        }
        match self.conn.process_new_packets() {
            Ok(state) => {
                self.closed |= state.peer_has_closed();
                let mut buf = [0u8; 64 * 1024];
                loop {
                    match self.conn.reader().read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => self.plain.extend_from_slice(&buf[..n]),
                        Err(_) => break,
                    }
                }
            }
            Err(e) => self.error = Some(e),
        }
        moved
    }

    fn send(&mut self, data: &[u8]) {
        self.conn.set_buffer_limit(None);
        self.conn.writer().write_all(data).unwrap();
    }
}

/// Pumps our peer and the reference until `done`.
fn pump_with(
    ours: &mut Peer,
    theirs: &mut Reference,
    what: &str,
    done: impl Fn(&Peer, &Reference) -> bool,
) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(ours, theirs) {
        let moved = ours.step() | theirs.step();
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if !moved {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

static TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
static TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];

fn versions(v: TlsVersion) -> &'static [&'static rustls::SupportedProtocolVersion] {
    match v {
        TlsVersion::Tls13 => TLS13,
        TlsVersion::Tls12 => TLS12,
    }
}

/// Our server against a rustls client.
fn our_server(version: TlsVersion) -> (Peer, Reference) {
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    only(version, &mut so.common);
    let server = SecureContext::new(&so).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&ca.pem()).unwrap())
        .unwrap();
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(version))
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let (c, s) = tcp_pair();
    let ours = Peer::new(s, TlsSession::server(&server).unwrap());
    let theirs = Reference {
        sock: c,
        conn: conn.into(),
        plain: Vec::new(),
        error: None,
        closed: false,
    };
    (ours, theirs)
}

/// Our client against a rustls server.
fn our_client(version: TlsVersion) -> (Peer, Reference) {
    let ca = Ca::new("Root");
    let id = ca.issue(Leaf::new(&["localhost"]));
    let certs = CertificateDer::pem_slice_iter(&id.cert)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&id.key).unwrap();
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions(version))
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    let (c, s) = tcp_pair();
    let ours = Peer::new(c, TlsSession::client(&client, "localhost").unwrap());
    let theirs = Reference {
        sock: s,
        conn: conn.into(),
        plain: Vec::new(),
        error: None,
        closed: false,
    };
    (ours, theirs)
}

fn handshake_with(ours: &mut Peer, theirs: &mut Reference) {
    pump_with(ours, theirs, "the handshake", |o, t| {
        assert!(o.error.is_none(), "ours: {:?}", o.error);
        assert!(t.error.is_none(), "theirs: {:?}", t.error);
        o.handshake_completed && !t.conn.is_handshaking()
    });
}

/// Sends `n` bytes each way and checks they arrived.
fn exchange(ours: &mut Peer, theirs: &mut Reference, n: usize, seed: u8) {
    let data: Vec<u8> = (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect();
    let (mine, their) = (ours.plain.len() + n, theirs.plain.len() + n);
    theirs.send(&data);
    let mut echo = data.clone();
    echo.reverse();
    let mut bufs: Vec<&[u8]> = vec![&echo];
    let deadline = Instant::now() + TIMEOUT;
    while !bufs.is_empty() {
        let took = ours.tls.encrypt(&bufs).unwrap();
        bufs = if took == echo.len() {
            Vec::new()
        } else {
            vec![&echo[took..]]
        };
        ours.step();
        theirs.step();
        assert!(Instant::now() < deadline, "sending did not finish");
    }
    pump_with(ours, theirs, "the exchange", |o, t| {
        assert!(o.error.is_none(), "ours: {:?}", o.error);
        assert!(t.error.is_none(), "theirs: {:?}", t.error);
        o.plain.len() >= mine && t.plain.len() >= their
    });
    assert_eq!(digest(&ours.plain[mine - n..]), digest(&data));
    assert_eq!(digest(&theirs.plain[their - n..]), digest(&echo));
}

#[test]
fn tls13_sessions_run_their_own_record_layer_and_tls12_stays_on_rustls() {
    for (version, own) in [(TlsVersion::Tls13, true), (TlsVersion::Tls12, false)] {
        for make in [our_server, our_client] {
            let (mut ours, mut theirs) = make(version);
            handshake_with(&mut ours, &mut theirs);
            exchange(&mut ours, &mut theirs, 100_000, 1);
            assert_eq!(ours.tls.runs_own_records(), own, "{version:?}");
            exchange(&mut ours, &mut theirs, 1, 2);
            // close_notify from us is a clean end for rustls.
            ours.close();
            pump_with(&mut ours, &mut theirs, "close_notify", |_, t| {
                t.error.is_some() || t.closed
            });
            assert!(theirs.error.is_none(), "{:?}", theirs.error);
        }
    }
}

#[test]
fn key_updates_asked_for_by_either_side_are_followed() {
    for make in [our_server, our_client] {
        let (mut ours, mut theirs) = make(TlsVersion::Tls13);
        handshake_with(&mut ours, &mut theirs);
        exchange(&mut ours, &mut theirs, 5000, 3);
        assert!(ours.tls.runs_own_records());
        for round in 0..5u8 {
            // rustls sends KeyUpdate(update_requested): we switch our receiving keys, answer
            // with a KeyUpdate of ours and switch our sending keys; rustls then switches its
            // receiving keys on our answer. Both directions keep working only if all of that
            // happened in the right order.
            theirs.conn.refresh_traffic_keys().unwrap();
            exchange(&mut ours, &mut theirs, 20_000 + usize::from(round), round);
        }
    }
}

#[test]
fn a_tampered_record_is_bad_record_mac_and_the_peer_hears_the_alert() {
    let (mut ours, mut theirs) = our_server(TlsVersion::Tls13);
    handshake_with(&mut ours, &mut theirs);
    exchange(&mut ours, &mut theirs, 10, 4);
    // One application-data record from rustls with a flipped ciphertext byte.
    theirs.send(b"a secret");
    let mut record = Vec::new();
    theirs.conn.write_tls(&mut record).unwrap();
    record[8] ^= 1;
    theirs.sock.write_all(&record).unwrap();
    fails_with(
        &mut ours,
        &mut theirs,
        code::ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC,
        AlertDescription::BadRecordMac,
    );
    assert!(!ours.plain.ends_with(b"a secret"));
}

#[test]
fn an_oversized_record_is_record_overflow_before_it_is_read_whole() {
    let (mut ours, mut theirs) = our_server(TlsVersion::Tls13);
    handshake_with(&mut ours, &mut theirs);
    exchange(&mut ours, &mut theirs, 10, 5);
    // A header announcing 2^14 + 257 bytes: refused from the header alone.
    theirs.sock.write_all(&[23, 3, 3, 0x41, 0x01]).unwrap();
    fails_with(
        &mut ours,
        &mut theirs,
        code::ERR_SSL_RECORD_OVERFLOW,
        AlertDescription::RecordOverflow,
    );
}

/// Pumps until both sides failed: ours with `code`, the reference on our `alert`.
fn fails_with(ours: &mut Peer, theirs: &mut Reference, code: &str, alert: AlertDescription) {
    pump_with(ours, theirs, "the failure", |o, t| {
        o.error.is_some() && t.error.is_some()
    });
    assert_eq!(ours.error.as_ref().unwrap().code, code);
    assert_eq!(theirs.error, Some(rustls::Error::AlertReceived(alert)));
}
