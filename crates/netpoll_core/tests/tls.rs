//! TLS sessions over real loopback sockets: versions, key types, verification outcomes and
//! their Node codes, mutual TLS, ALPN, SNI, resumption and certificate rotation.
//! Certificates are generated per test with rcgen.

mod tls_util;

use netpoll_core::tls::errors::code;
use netpoll_core::tls::{ClientContext, SecureContext, TlsVersion};
use tls_util::*;

#[test]
fn tls13_and_tls12_with_ecdsa_and_rsa_report_what_node_reports() {
    let ca = Ca::new("Test Root");
    for kind in [Kind::Ecdsa, Kind::Rsa] {
        let id = ca.issue(Leaf {
            kind,
            ..Leaf::new(&["localhost", "127.0.0.1"])
        });
        for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
            let mut so = server_options(id.clone());
            only(version, &mut so.common);
            let server = SecureContext::new(&so).unwrap();
            let client = ClientContext::new(&client_options(ca.pem())).unwrap();
            let (mut c, mut s) = connect(&server, &client, "localhost");
            handshake(&mut c, &mut s);
            let info = c.tls.info().unwrap();
            assert_eq!(info.protocol, version.name(), "{kind:?}");
            assert!(info.authorized && info.authorization_error.is_none());
            assert_eq!(info.servername.as_deref(), Some("localhost"));
            let expect_cipher = match (version, kind) {
                (TlsVersion::Tls13, _) => "TLS_AES_256_GCM_SHA384",
                (TlsVersion::Tls12, Kind::Ecdsa) => "ECDHE-ECDSA-AES256-GCM-SHA384",
                (TlsVersion::Tls12, Kind::Rsa) => "ECDHE-RSA-AES256-GCM-SHA384",
            };
            assert_eq!(info.cipher.name, expect_cipher);
            assert_eq!(info.cipher.version, version.name());
            let cert = info.peer_certificate.as_ref().unwrap();
            let fields = cert.fields.as_ref().unwrap();
            assert_eq!(
                fields.subject,
                vec![("CN".to_string(), "localhost".to_string())]
            );
            assert!(fields.issuer.contains(&("CN".into(), "Test Root".into())));
            assert!(fields
                .issuer
                .contains(&("O".into(), "netpoll tests".into())));
            assert_eq!(
                fields.subjectaltname.as_deref(),
                Some("DNS:localhost, IP Address:127.0.0.1")
            );
            assert!(
                fields.valid_from.ends_with(" GMT") && fields.valid_from.len() == 24,
                "{}",
                fields.valid_from
            );
            assert_eq!(cert.fingerprint256.len(), 32 * 3 - 1);
            assert!(!info.session_reused);
            let sinfo = s.tls.info().unwrap();
            assert_eq!(sinfo.servername.as_deref(), Some("localhost"));
            assert!(!sinfo.authorized && sinfo.peer_certificate.is_none());
            // Data both ways.
            c.send(&mut s, &[b"ping"]);
            pump(&mut c, &mut s, "ping", |_, s| s.plain == b"ping");
            s.send(&mut c, &[b"pong"]);
            pump(&mut c, &mut s, "pong", |c, _| c.plain == b"pong");
        }
    }
}

#[test]
fn an_ip_servername_is_checked_against_ip_sans() {
    let ca = Ca::new("Root");
    let server = SecureContext::new(&server_options(
        ca.issue(Leaf::new(&["localhost", "127.0.0.1"])),
    ))
    .unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    let (mut c, mut s) = connect(&server, &client, "127.0.0.1");
    handshake(&mut c, &mut s);
    assert!(
        s.tls.info().unwrap().servername.is_none(),
        "no SNI for an IP"
    );
    let (mut c, mut s) = connect(&server, &client, "127.0.0.2");
    let (ce, _) = failure(&mut c, &mut s);
    assert_eq!(ce.unwrap().code, code::ERR_TLS_CERT_ALTNAME_INVALID);
}

#[test]
fn an_expired_certificate_is_cert_has_expired() {
    let ca = Ca::new("Root");
    let id = ca.issue(Leaf {
        expired: true,
        ..Leaf::new(&["localhost"])
    });
    let server = SecureContext::new(&server_options(id)).unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    let (mut c, mut s) = connect(&server, &client, "localhost");
    let (ce, se) = failure(&mut c, &mut s);
    let ce = ce.unwrap();
    assert_eq!(
        (ce.code, ce.message.as_str()),
        (code::CERT_HAS_EXPIRED, "certificate has expired")
    );
    assert_eq!(se.unwrap().code, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED");
    // rejectUnauthorized: false completes and reports it, with the dates visible.
    let mut o = client_options(ca.pem());
    o.common.reject_unauthorized = false;
    let lenient = ClientContext::new(&o).unwrap();
    let (mut c, mut s) = connect(&server, &lenient, "localhost");
    handshake(&mut c, &mut s);
    let info = c.tls.info().unwrap();
    assert!(!info.authorized);
    assert_eq!(
        info.authorization_error.as_ref().unwrap().code,
        code::CERT_HAS_EXPIRED
    );
    let fields = info
        .peer_certificate
        .as_ref()
        .unwrap()
        .fields
        .clone()
        .unwrap();
    assert_eq!(fields.valid_to, "Jan  1 00:00:00 2001 GMT");
    assert_eq!(fields.not_after_unix, 978_307_200);
}

#[test]
fn a_wrong_hostname_is_err_tls_cert_altname_invalid() {
    let ca = Ca::new("Root");
    let server = SecureContext::new(&server_options(ca.issue(Leaf::new(&["good.test"])))).unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    let (mut c, mut s) = connect(&server, &client, "evil.test");
    let (ce, _) = failure(&mut c, &mut s);
    let ce = ce.unwrap();
    assert_eq!(ce.code, code::ERR_TLS_CERT_ALTNAME_INVALID);
    assert!(
        ce.message.contains("evil.test") && ce.message.contains("good.test"),
        "{}",
        ce.message
    );
}

#[test]
fn untrusted_chains_get_openssls_four_codes() {
    let ca = Ca::new("Unknown Root");
    let other = Ca::new("Trusted Root");
    let cases = [
        (
            ca.issue(Leaf::new(&["localhost"])),
            code::UNABLE_TO_VERIFY_LEAF_SIGNATURE,
        ),
        (
            ca.issue_with_chain(Leaf::new(&["localhost"])),
            code::SELF_SIGNED_CERT_IN_CHAIN,
        ),
        (
            self_signed(&["localhost"]),
            code::DEPTH_ZERO_SELF_SIGNED_CERT,
        ),
    ];
    for (id, want) in cases {
        let server = SecureContext::new(&server_options(id)).unwrap();
        let client = ClientContext::new(&client_options(other.pem())).unwrap();
        let (mut c, mut s) = connect(&server, &client, "localhost");
        let (ce, se) = failure(&mut c, &mut s);
        assert_eq!(ce.unwrap().code, want);
        assert_eq!(se.unwrap().code, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN");
    }
    // No `ca` at all: nothing is trusted.
    let server = SecureContext::new(&server_options(ca.issue(Leaf::new(&["localhost"])))).unwrap();
    let client = ClientContext::new(&netpoll_core::tls::ClientOptions::default()).unwrap();
    let (mut c, mut s) = connect(&server, &client, "localhost");
    assert_eq!(
        failure(&mut c, &mut s).0.unwrap().code,
        code::UNABLE_TO_VERIFY_LEAF_SIGNATURE
    );
}

/// `(request_cert, reject_unauthorized)` server over a client with `identity`.
fn mtls(
    request: bool,
    reject: bool,
    identity: Option<netpoll_core::tls::Identity>,
    ca: &Ca,
    version: TlsVersion,
) -> (Peer, Peer) {
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    so.request_cert = request;
    so.common.reject_unauthorized = reject;
    so.common.ca = vec![ca.pem()];
    only(version, &mut so.common);
    let mut co = client_options(ca.pem());
    co.identity = identity;
    let server = SecureContext::new(&so).unwrap();
    let client = ClientContext::new(&co).unwrap();
    connect(&server, &client, "localhost")
}

#[test]
fn mutual_tls_required_optional_missing_and_wrong_ca() {
    let ca = Ca::new("Root");
    let stranger = Ca::new("Other Root");
    let good = || Some(ca.issue(Leaf::new(&["client.test"])));
    let bad = || Some(stranger.issue(Leaf::new(&["client.test"])));
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        // Required and valid.
        let (mut c, mut s) = mtls(true, true, good(), &ca, version);
        handshake(&mut c, &mut s);
        let info = s.tls.info().unwrap();
        assert!(info.authorized, "{version:?}");
        let subject = &info
            .peer_certificate
            .as_ref()
            .unwrap()
            .fields
            .as_ref()
            .unwrap()
            .subject;
        assert_eq!(subject[0].1, "client.test");
        // Required and missing.
        let (mut c, mut s) = mtls(true, true, None, &ca, version);
        let (ce, se) = failure(&mut c, &mut s);
        assert_eq!(
            se.unwrap().code,
            code::ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE
        );
        // rustls sends certificate_required in TLS 1.2 too.
        let want = "ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED";
        assert_eq!(ce.unwrap().code, want, "{version:?}");
        // Required, from the wrong CA.
        let (mut c, mut s) = mtls(true, true, bad(), &ca, version);
        let (ce, se) = failure(&mut c, &mut s);
        assert_eq!(se.unwrap().code, code::UNABLE_TO_VERIFY_LEAF_SIGNATURE);
        assert_eq!(ce.unwrap().code, "ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN");
        // Optional: missing and wrong CA complete, unauthorized, with the reason.
        for (id, want) in [
            (None, code::ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE),
            (bad(), code::UNABLE_TO_VERIFY_LEAF_SIGNATURE),
        ] {
            let (mut c, mut s) = mtls(true, false, id, &ca, version);
            handshake(&mut c, &mut s);
            let info = s.tls.info().unwrap();
            assert!(!info.authorized);
            assert_eq!(info.authorization_error.as_ref().unwrap().code, want);
        }
        let (mut c, mut s) = mtls(true, false, good(), &ca, version);
        handshake(&mut c, &mut s);
        assert!(s.tls.info().unwrap().authorized);
        // Not requested: the client's certificate is not even asked for.
        let (mut c, mut s) = mtls(false, true, good(), &ca, version);
        handshake(&mut c, &mut s);
        assert!(s.tls.info().unwrap().peer_certificate.is_none());
    }
}

#[test]
fn alpn_negotiated_absent_and_mismatched() {
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    so.common.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let server = SecureContext::new(&so).unwrap();
    let with = |protos: &[&[u8]]| {
        let mut co = client_options(ca.pem());
        co.common.alpn_protocols = protos.iter().map(|p| p.to_vec()).collect();
        ClientContext::new(&co).unwrap()
    };
    let (mut c, mut s) = connect(&server, &with(&[b"http/1.1", b"h2"]), "localhost");
    handshake(&mut c, &mut s);
    assert_eq!(
        c.tls.info().unwrap().alpn_protocol.as_deref(),
        Some(&b"h2"[..])
    );
    assert_eq!(
        s.tls.info().unwrap().alpn_protocol.as_deref(),
        Some(&b"h2"[..])
    );
    let (mut c, mut s) = connect(&server, &with(&[]), "localhost");
    handshake(&mut c, &mut s);
    assert_eq!(c.tls.info().unwrap().alpn_protocol, None);
    let (mut c, mut s) = connect(&server, &with(&[b"spdy/3"]), "localhost");
    let (ce, se) = failure(&mut c, &mut s);
    assert_eq!(se.unwrap().code, code::ERR_SSL_NO_APPLICATION_PROTOCOL);
    assert_eq!(
        ce.unwrap().code,
        "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL"
    );
}

#[test]
fn sni_picks_the_certificate_and_key_type() {
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["default.test"])));
    so.sni = vec![
        ("a.test".into(), vec![ca.issue(Leaf::new(&["a.test"]))]),
        (
            "*.b.test".into(),
            // ECDSA preferred, RSA for clients that cannot use it.
            vec![
                ca.issue(Leaf::new(&["*.b.test"])),
                ca.issue(Leaf {
                    kind: Kind::Rsa,
                    ..Leaf::new(&["*.b.test"])
                }),
            ],
        ),
    ];
    let server = SecureContext::new(&so).unwrap();
    let mut co = client_options(ca.pem());
    co.common.reject_unauthorized = false;
    let client = ClientContext::new(&co).unwrap();
    for (name, cn) in [
        ("a.test", "a.test"),
        ("x.b.test", "*.b.test"),
        ("A.TEST", "a.test"),
        ("zzz.test", "default.test"),
    ] {
        let (mut c, mut s) = connect(&server, &client, name);
        handshake(&mut c, &mut s);
        let info = c.tls.info().unwrap();
        let subject = &info
            .peer_certificate
            .as_ref()
            .unwrap()
            .fields
            .as_ref()
            .unwrap()
            .subject;
        assert_eq!(subject[0].1, cn, "{name}");
        assert_eq!(
            s.tls.info().unwrap().servername.as_deref(),
            Some(&*name.to_ascii_lowercase())
        );
    }
    // Several key types for one name: an RSA-only TLS 1.2 client gets the RSA certificate.
    let mut co = client_options(ca.pem());
    co.common.ciphers = Some("ECDHE-RSA-AES128-GCM-SHA256".into());
    only(TlsVersion::Tls12, &mut co.common);
    let rsa_only = ClientContext::new(&co).unwrap();
    let (mut c, mut s) = connect(&server, &rsa_only, "x.b.test");
    handshake(&mut c, &mut s);
    assert_eq!(
        c.tls.info().unwrap().cipher.name,
        "ECDHE-RSA-AES128-GCM-SHA256"
    );
    // Any other TLS 1.2 client gets the preferred ECDSA one.
    let mut co = client_options(ca.pem());
    only(TlsVersion::Tls12, &mut co.common);
    let any = ClientContext::new(&co).unwrap();
    let (mut c, mut s) = connect(&server, &any, "x.b.test");
    handshake(&mut c, &mut s);
    assert_eq!(
        c.tls.info().unwrap().cipher.name,
        "ECDHE-ECDSA-AES256-GCM-SHA384"
    );
}

#[test]
fn sessions_resume_across_dials_and_not_after_the_timeout() {
    let ca = Ca::new("Root");
    for version in [TlsVersion::Tls13, TlsVersion::Tls12] {
        let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
        only(version, &mut so.common);
        let server = SecureContext::new(&so).unwrap();
        let client = ClientContext::new(&client_options(ca.pem())).unwrap();
        let mut reused = Vec::new();
        for _ in 0..3 {
            let (mut c, mut s) = connect(&server, &client, "localhost");
            handshake(&mut c, &mut s);
            // TLS 1.3 tickets arrive after the handshake: exchange data so they are read.
            s.send(&mut c, &[b"hi"]);
            pump(&mut c, &mut s, "hi", |c, _| c.plain == b"hi");
            reused.push((
                c.tls.info().unwrap().session_reused,
                s.tls.info().unwrap().session_reused,
            ));
        }
        assert_eq!(
            reused,
            [(false, false), (true, true), (true, true)],
            "{version:?}"
        );
        // A context with resumption disabled never resumes.
        let mut co = client_options(ca.pem());
        co.session_cache_size = Some(0);
        let fresh = ClientContext::new(&co).unwrap();
        for _ in 0..2 {
            let (mut c, mut s) = connect(&server, &fresh, "localhost");
            handshake(&mut c, &mut s);
            assert!(!c.tls.info().unwrap().session_reused);
        }
    }
    // Tickets older than sessionTimeout (here 0 s) do not resume.
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    so.session_timeout = std::time::Duration::ZERO;
    only(TlsVersion::Tls13, &mut so.common);
    let server = SecureContext::new(&so).unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    for _ in 0..2 {
        let (mut c, mut s) = connect(&server, &client, "localhost");
        handshake(&mut c, &mut s);
        s.send(&mut c, &[b"hi"]);
        pump(&mut c, &mut s, "hi", |c, _| c.plain == b"hi");
        assert!(!c.tls.info().unwrap().session_reused);
    }
}

#[test]
fn reload_rotates_the_certificate_for_new_handshakes_only() {
    let ca = Ca::new("Root");
    let server = SecureContext::new(&server_options(
        ca.issue(Leaf::new(&["localhost", "old.test"])),
    ))
    .unwrap();
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    let (mut c1, mut s1) = connect(&server, &client, "localhost");
    handshake(&mut c1, &mut s1);
    server
        .reload(&server_options(
            ca.issue(Leaf::new(&["localhost", "new.test"])),
        ))
        .unwrap();
    // A bad reload keeps the current configuration.
    let broken = netpoll_core::tls::Identity {
        cert: b"junk".to_vec(),
        key: b"junk".to_vec(),
    };
    assert_eq!(
        server.reload(&server_options(broken)).unwrap_err().code,
        code::ERR_TLS_INVALID_PEM
    );
    let fresh = ClientContext::new(&client_options(ca.pem())).unwrap();
    let (mut c2, mut s2) = connect(&server, &fresh, "localhost");
    handshake(&mut c2, &mut s2);
    let san = |p: &Peer| {
        p.tls
            .info()
            .unwrap()
            .peer_certificate
            .clone()
            .unwrap()
            .fields
            .unwrap()
            .subjectaltname
            .unwrap()
    };
    assert!(san(&c1).contains("old.test"));
    assert!(san(&c2).contains("new.test"));
    // The session made before the rotation still works.
    c1.send(&mut s1, &[b"still here"]);
    pump(&mut c1, &mut s1, "old session data", |_, s| {
        s.plain == b"still here"
    });
}

#[test]
fn bad_options_are_clear_errors() {
    let ca = Ca::new("Root");
    let mut so = server_options(ca.issue(Leaf::new(&["localhost"])));
    so.common.ciphers = Some("RC4-MD5:DES-CBC3-SHA".into());
    assert_eq!(
        SecureContext::new(&so).err().unwrap().code,
        code::ERR_SSL_NO_CIPHER_MATCH
    );
    so.common.ciphers = None;
    so.common.min_version = TlsVersion::Tls13;
    so.common.max_version = TlsVersion::Tls12;
    assert_eq!(
        SecureContext::new(&so).err().unwrap().code,
        code::ERR_TLS_INVALID_PROTOCOL_VERSION
    );
    assert_eq!(
        TlsVersion::parse("TLSv1.1").unwrap_err().code,
        code::ERR_TLS_INVALID_PROTOCOL_VERSION
    );
    let mismatched = netpoll_core::tls::Identity {
        cert: ca.issue(Leaf::new(&["a"])).cert,
        key: ca.issue(Leaf::new(&["b"])).key,
    };
    assert_eq!(
        SecureContext::new(&server_options(mismatched))
            .err()
            .unwrap()
            .code,
        code::ERR_TLS_INVALID_PEM
    );
    let client = ClientContext::new(&client_options(ca.pem())).unwrap();
    assert!(netpoll_core::tls::TlsSession::client(&client, "bad name!").is_err());
}
