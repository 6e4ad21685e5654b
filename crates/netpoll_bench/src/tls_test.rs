//! The TLS client against a rustls echo server on loopback, driven like the benchmark modes
//! (edge-triggered `ConnSet`/`FramedConn`): pipelined small frames, frames spanning several
//! records, every byte verified; and session resumption.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::conn_set::ConnSet;
use crate::target::Target;
use crate::tls_opts::TlsOptions;

/// A TLS echo server on 127.0.0.1 (a thread per connection); returns its address.
fn echo_server(cert: &str, key: &str) -> std::net::SocketAddr {
    let certs = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let config = config.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, sock);
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = tls.read(&mut buf) {
                    if n == 0 || tls.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    addr
}

/// Runs every opened connection of `set` until each answered `budget` requests.
fn serve_all(set: &mut ConnSet, depth: usize, budget: u64) {
    let ids: Vec<usize> = (0..set.conns.len()).collect();
    for &id in &ids {
        set.start(id, depth, Some(budget));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ids.iter().all(|&id| set.conns[id].finished()) {
        assert_eq!(set.errors, 0, "a connection failed");
        assert!(
            Instant::now() < deadline,
            "the echo did not complete in 30 s"
        );
        set.turn(Duration::from_millis(50), |_| {}).unwrap();
    }
    assert_eq!(set.errors, 0);
}

#[test]
fn tls_echo_verified_byte_for_byte_and_sessions_resume() {
    let files = crate::gen_cert::generate().unwrap();
    let pem = |name: &str| files.iter().find(|(n, _)| *n == name).unwrap().1.clone();
    let addr = echo_server(&pem("server.pem"), &pem("server-key.pem"));
    let dir = std::env::temp_dir().join(format!("netpoll-bench-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, pem("ca.pem")).unwrap();
    let args: Vec<String> = [
        "--ca",
        ca.to_str().unwrap(),
        "--servername",
        "localhost",
        "--resume",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut opts = TlsOptions::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        assert!(opts.parse_flag(flag, &mut it).unwrap());
    }
    let target = Target::Tcp(addr);
    let config = opts.client_config().unwrap().unwrap();
    crate::tls_client::install(config, opts.server_name(&target).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();

    // Pipelined 100-byte frames: many frames per record and per read.
    let mut set = ConnSet::new(target.clone(), 100).unwrap();
    set.open_served(4, Duration::from_secs(30)).unwrap();
    assert!(
        !set.conns[0].stream.tls_resumed(),
        "the first handshake is a full one"
    );
    serve_all(&mut set, 16, 2000);
    // 40 KiB frames: each spans three records, and reads end mid-record.
    let mut set = ConnSet::new(target.clone(), 40 * 1024).unwrap();
    set.open_served(3, Duration::from_secs(30)).unwrap();
    serve_all(&mut set, 2, 50);
    // Connections after the first ones resume their sessions (TLS 1.3 tickets).
    let mut set = ConnSet::new(target, 16).unwrap();
    for _ in 0..3 {
        set.open_served(1, Duration::from_secs(30)).unwrap();
    }
    assert!(
        set.conns[2].stream.tls_resumed(),
        "the third connection resumed"
    );
}
