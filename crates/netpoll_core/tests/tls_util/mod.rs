//! Helpers for the TLS tests: certificates made at test time with rcgen, and a pump that drives
//! two `TlsSession`s over a real loopback TCP pair the way the shard will (non-blocking reads
//! into a scratch buffer, `decrypt` into a sink, `write_tls_to` straight on the socket). Every
//! loop has a deadline and panics with a message when it passes.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netpoll_core::addr::Network;
use netpoll_core::config::ShardConfig;
use netpoll_core::error::NetError;
use netpoll_core::event::ListenerId;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::shard::{ServerTls, Shard};
use netpoll_core::tls::{
    ClientContext, ClientOptions, Identity, SecureContext, ServerOptions, TlsSession, TlsVersion,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, RsaKeySize,
};

/// How long any pump waits before failing the test.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The key type of a generated certificate.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// ECDSA P-256.
    Ecdsa,
    /// RSA 2048.
    Rsa,
}

fn key(kind: Kind) -> KeyPair {
    match kind {
        Kind::Ecdsa => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        Kind::Rsa => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap(),
    }
}

/// A certificate authority made for one test.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// What to put in a leaf certificate.
pub struct Leaf<'a> {
    /// Subject alternative names (DNS names or IP addresses); the first is also the CN.
    pub names: &'a [&'a str],
    /// The key type.
    pub kind: Kind,
    /// Validity in 2000–2001 (long expired) instead of around now.
    pub expired: bool,
}

impl<'a> Leaf<'a> {
    /// An ECDSA leaf for `names`, valid now.
    pub fn new(names: &'a [&'a str]) -> Leaf<'a> {
        Leaf {
            names,
            kind: Kind::Ecdsa,
            expired: false,
        }
    }
}

impl Ca {
    /// A new ECDSA root named `name`.
    pub fn new(name: &str) -> Ca {
        let key = key(Kind::Ecdsa);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "netpoll tests");
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// The root certificate as PEM (for `ca`).
    pub fn pem(&self) -> Vec<u8> {
        self.cert.pem().into_bytes()
    }

    /// A leaf signed by this CA (usable for servers and clients).
    pub fn issue(&self, leaf: Leaf<'_>) -> Identity {
        let (cert, key) = self.issue_parts(leaf);
        Identity {
            cert: cert.into_bytes(),
            key: key.into_bytes(),
        }
    }

    /// A leaf whose `cert` carries the chain leaf + this root (to make the root self-signed
    /// "in the chain").
    pub fn issue_with_chain(&self, leaf: Leaf<'_>) -> Identity {
        let (cert, key) = self.issue_parts(leaf);
        Identity {
            cert: format!("{cert}{}", self.cert.pem()).into_bytes(),
            key: key.into_bytes(),
        }
    }

    fn issue_parts(&self, leaf: Leaf<'_>) -> (String, String) {
        let key = key(leaf.kind);
        let names: Vec<String> = leaf.names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, leaf.names[0]);
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if leaf.expired {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        }
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// A self-signed ECDSA certificate for `names`; `Identity.cert` also serves as its own `ca`.
pub fn self_signed(names: &[&str]) -> Identity {
    let key = key(Kind::Ecdsa);
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let cert = params.self_signed(&key).unwrap();
    Identity {
        cert: cert.pem().into_bytes(),
        key: key.serialize_pem().into_bytes(),
    }
}

/// Server options with one identity and everything else at Node's defaults.
pub fn server_options(id: Identity) -> ServerOptions {
    ServerOptions {
        identities: vec![id],
        ..ServerOptions::default()
    }
}

/// Client options trusting `ca`.
pub fn client_options(ca: Vec<u8>) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.common.ca = vec![ca];
    o
}

/// Both version bounds set to `v`.
pub fn only(v: TlsVersion, common: &mut netpoll_core::tls::CommonOptions) {
    common.min_version = v;
    common.max_version = v;
}

/// A shard with a TLS listener on loopback (its handshakes wait for an SNI answer with
/// `sni_callback`).
pub fn tls_shard(
    ctx: &Arc<SecureContext>,
    handshake_ms: u64,
    sni_callback: bool,
) -> (Shard, ListenerId, std::net::SocketAddr) {
    let mut shard = Shard::new(ShardConfig::default()).unwrap();
    let mut l = Listener::bind(Network::Tcp4, "127.0.0.1:0", ListenOptions::default()).unwrap();
    l.set_tls(Arc::new(ServerTls {
        context: ctx.clone(),
        handshake_timeout_ms: handshake_ms,
        sni_callback,
    }));
    let addr = l.local_addr().as_inet().unwrap();
    let lid = shard.add_listener(l).unwrap();
    (shard, lid, addr)
}

/// A connected loopback TCP pair, both non-blocking with `TCP_NODELAY`.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    for s in [&client, &server] {
        s.set_nonblocking(true).unwrap();
        s.set_nodelay(true).unwrap();
    }
    (client, server)
}

/// One side of a TLS connection over a real socket, driven like the shard will drive it.
pub struct Peer {
    /// The socket.
    pub sock: TcpStream,
    /// The session.
    pub tls: TlsSession,
    /// Plaintext delivered so far.
    pub plain: Vec<u8>,
    /// Ciphertext read but not yet handed to `decrypt` (it takes all it is given).
    pub pending: Vec<u8>,
    /// Bytes per socket read (1 to feed records a byte at a time).
    pub read_chunk: usize,
    /// Size of the plaintext sink handed to `decrypt`.
    pub sink: usize,
    /// Most ciphertext ever left unconsumed in `pending` (for the memory bound test).
    pub max_pending: usize,
    /// The session's error, once it failed.
    pub error: Option<NetError>,
    /// The result of `on_eof`, once the socket reached EOF.
    pub eof: Option<Result<(), NetError>>,
    /// The peer's close_notify arrived and all plaintext before it was delivered.
    pub peer_closed: bool,
    /// `decrypt` reported the handshake completed.
    pub handshake_completed: bool,
    /// Calls of `write_tls_to` that wrote something (one `writev` each).
    pub writes: usize,
}

impl Peer {
    /// A peer over `sock`.
    pub fn new(sock: TcpStream, tls: TlsSession) -> Peer {
        Peer {
            sock,
            tls,
            plain: Vec::new(),
            pending: Vec::new(),
            read_chunk: 64 * 1024,
            sink: 64 * 1024,
            max_pending: 0,
            error: None,
            eof: None,
            peer_closed: false,
            handshake_completed: false,
            writes: 0,
        }
    }

    /// One round: write records, read ciphertext, decrypt. Returns whether anything moved.
    pub fn step(&mut self) -> bool {
        let mut progress = self.flush();
        if self.eof.is_none() && self.error.is_none() {
            let mut buf = vec![0u8; self.read_chunk];
            match self.sock.read(&mut buf) {
                Ok(0) => {
                    self.decrypt();
                    self.eof = Some(self.tls.on_eof());
                    progress = true;
                }
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    self.eof = Some(Err(NetError::from_io(&e, "read")));
                    progress = true;
                }
            }
        }
        progress |= self.decrypt();
        self.max_pending = self.max_pending.max(self.pending.len());
        progress
    }

    fn decrypt(&mut self) -> bool {
        if self.error.is_some() {
            return false;
        }
        let mut sink = vec![0u8; self.sink];
        let fed = !self.pending.is_empty();
        match self.tls.decrypt(&mut self.pending, &mut sink) {
            Ok(d) => {
                self.pending.clear();
                self.plain.extend_from_slice(&sink[..d.written]);
                self.handshake_completed |= d.handshake_completed;
                self.peer_closed |= d.peer_closed;
                fed || d.written > 0
            }
            Err(e) => {
                self.error = Some(e);
                self.flush(); // the alert rustls queued
                true
            }
        }
    }

    /// Writes queued records (one `write_tls_to` per call while records wait).
    pub fn flush(&mut self) -> bool {
        let mut progress = false;
        while self.tls.wants_write() {
            match self.tls.write_tls_to(&mut self.sock) {
                Ok(0) => break,
                Ok(_) => {
                    self.writes += 1;
                    progress = true;
                }
                Err(_) => break,
            }
        }
        progress
    }

    /// Encrypts all of `data` (in pieces if the pending-output bound is reached), pumping
    /// `other` meanwhile.
    pub fn send(&mut self, other: &mut Peer, data: &[&[u8]]) {
        let mut bufs: Vec<Vec<u8>> = data.iter().map(|d| d.to_vec()).collect();
        let deadline = Instant::now() + TIMEOUT;
        while bufs.iter().any(|b| !b.is_empty()) {
            let slices: Vec<&[u8]> = bufs.iter().map(|b| b.as_slice()).collect();
            let mut took = self.tls.encrypt(&slices).unwrap();
            for b in bufs.iter_mut() {
                let n = took.min(b.len());
                b.drain(..n);
                took -= n;
            }
            bufs.retain(|b| !b.is_empty());
            self.step();
            other.step();
            assert!(Instant::now() < deadline, "send did not finish");
        }
    }

    /// Sends close_notify and then FIN.
    pub fn close(&mut self) {
        self.tls.send_close_notify();
        self.flush();
        self.sock.shutdown(Shutdown::Write).unwrap();
    }
}

/// Pumps both peers until `done` holds; panics after [`TIMEOUT`] naming `what`.
pub fn pump(a: &mut Peer, b: &mut Peer, what: &str, done: impl Fn(&Peer, &Peer) -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(a, b) {
        let moved = a.step() | b.step();
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if !moved {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// Steps one peer (whose other end is not a `Peer`, e.g. an `openssl` process) until `done`.
pub fn pump_one(p: &mut Peer, what: &str, done: impl Fn(&Peer) -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done(p) {
        let moved = p.step();
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        if !moved {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

/// A client and a server peer over a fresh loopback pair.
pub fn connect(
    server: &Arc<SecureContext>,
    client: &Arc<ClientContext>,
    name: &str,
) -> (Peer, Peer) {
    let (c, s) = tcp_pair();
    let client = Peer::new(c, TlsSession::client(client, name).unwrap());
    let server = Peer::new(s, TlsSession::server(server).unwrap());
    (client, server)
}

/// Pumps until both handshakes completed (panics on an error).
pub fn handshake(client: &mut Peer, server: &mut Peer) {
    pump(client, server, "handshake", |c, s| {
        assert!(c.error.is_none(), "client error: {:?}", c.error);
        assert!(s.error.is_none(), "server error: {:?}", s.error);
        c.handshake_completed && s.handshake_completed
    });
}

/// Pumps until either side failed; returns `(client error, server error)` as seen by then,
/// waiting a little for the other side's error (the alert) to arrive too.
pub fn failure(client: &mut Peer, server: &mut Peer) -> (Option<NetError>, Option<NetError>) {
    pump(client, server, "a handshake error", |c, s| {
        c.error.is_some() || s.error.is_some()
    });
    let deadline = Instant::now() + Duration::from_secs(2);
    while (client.error.is_none() || server.error.is_none()) && Instant::now() < deadline {
        client.step();
        server.step();
        std::thread::sleep(Duration::from_millis(1));
    }
    (client.error.clone(), server.error.clone())
}

/// A 64-bit FNV-1a digest.
pub fn digest(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Writes all of `data` to a non-blocking socket, a chunk at a time.
pub fn write_raw(sock: &mut TcpStream, data: &[u8], chunk: usize) {
    let deadline = Instant::now() + TIMEOUT;
    for piece in data.chunks(chunk) {
        let mut off = 0;
        while off < piece.len() {
            match sock.write(&piece[off..]) {
                Ok(n) => off += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(100))
                }
                Err(e) => panic!("write: {e}"),
            }
            assert!(Instant::now() < deadline, "write_raw timed out");
        }
    }
}
