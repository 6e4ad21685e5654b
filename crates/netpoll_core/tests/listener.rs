//! `Listener` over real sockets: binds of every network, bound addresses, EADDRINUSE,
//! Unix socket file lifecycle and stale-file policy, EACCES, and no descriptor leaks
//! (R25, R26, R27, R28).

mod util;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use mio::Interest;
use netpoll_core::addr::{NetAddr, Network};
use netpoll_core::error::NetError;
use netpoll_core::listener::{ListenOptions, Listener, StalePolicy};
use netpoll_core::sys;
use util::{fd_count, serial, TempDir};

fn bind(network: Network, address: &str) -> Result<Listener, NetError> {
    Listener::bind(network, address, ListenOptions::default())
}

fn port_of(l: &Listener) -> u16 {
    l.local_addr().port().expect("tcp listener has a port")
}

#[test]
fn tcp4_port_zero_binds_a_real_port_and_accepts() {
    let _g = serial();
    let mut l = bind(Network::Tcp4, "127.0.0.1:0").unwrap();
    let addr = l.local_addr();
    assert_eq!((addr.host().as_str(), addr.family()), ("127.0.0.1", "IPv4"));
    assert_ne!(port_of(&l), 0);
    let client = std::net::TcpStream::connect(addr.as_inet().unwrap()).unwrap();
    util::wait_ready(&mut l, Interest::READABLE);
    let (stream, peer) = util::accept(&l);
    assert_eq!(peer, Some(NetAddr::Inet(client.local_addr().unwrap())));
    assert_eq!(stream.peer_addr(), peer);
    assert_eq!(stream.local_addr(), Some(addr));
    assert_eq!(
        l.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
}

#[test]
fn tcp6_loopback_is_formatted_like_node() {
    let _g = serial();
    if !util::ipv6_loopback() {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    }
    let l = bind(Network::Tcp6, "[::1]:0").unwrap();
    let addr = l.local_addr();
    assert_eq!((addr.host().as_str(), addr.family()), ("::1", "IPv6"));
    assert_eq!(addr.to_string(), format!("[::1]:{}", port_of(&l)));
    let client = std::net::TcpStream::connect(addr.as_inet().unwrap()).unwrap();
    let (_, peer) = util::accept(&l);
    assert_eq!(peer, Some(NetAddr::Inet(client.local_addr().unwrap())));
    // tcp4 refuses an IPv6 literal outright.
    assert!(bind(Network::Tcp4, "[::1]:0").is_err());
}

#[test]
fn any_address_is_dual_stack_unless_ipv6_only() {
    let _g = serial();
    if !util::ipv6_loopback() {
        eprintln!("skipped: no IPv6 here");
        return;
    }
    let l = bind(Network::Tcp, ":0").unwrap();
    assert_eq!(l.local_addr().host(), "::");
    let v4 = std::net::TcpStream::connect(("127.0.0.1", port_of(&l))).unwrap();
    let (_, peer) = util::accept(&l);
    let peer = peer.unwrap();
    assert_eq!(peer.family(), "IPv6", "v4 clients appear as ::ffff:a.b.c.d");
    assert_eq!(peer.host(), "::ffff:127.0.0.1");
    assert_eq!(peer.port(), Some(v4.local_addr().unwrap().port()));

    let opts = ListenOptions {
        ipv6_only: true,
        ..ListenOptions::default()
    };
    let only6 = Listener::bind(Network::Tcp6, ":0", opts).unwrap();
    let err = std::net::TcpStream::connect(("127.0.0.1", port_of(&only6))).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    let _ok = std::net::TcpStream::connect(("::1", port_of(&only6))).unwrap();
}

#[test]
fn binding_a_port_twice_is_eaddrinuse_with_address_and_port() {
    let _g = serial();
    let first = bind(Network::Tcp4, "127.0.0.1:0").unwrap();
    let port = port_of(&first);
    let before = fd_count();
    let e = bind(Network::Tcp4, &format!("127.0.0.1:{port}")).unwrap_err();
    assert_eq!(e.code, "EADDRINUSE");
    assert_eq!(e.errno, Some(libc::EADDRINUSE));
    assert_eq!(e.syscall, Some("listen"));
    assert_eq!(e.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(e.port, Some(port));
    assert_eq!(e.message, format!("listen EADDRINUSE 127.0.0.1:{port}"));
    assert_eq!(fd_count(), before, "a failed bind leaked a descriptor");
}

#[test]
fn a_port_held_by_another_listener_is_eaddrinuse() {
    let _g = serial();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let before = fd_count();
    for reuse_port in [false, true] {
        let opts = ListenOptions {
            reuse_port,
            ..ListenOptions::default()
        };
        let e = Listener::bind(Network::Tcp, &format!("127.0.0.1:{port}"), opts).unwrap_err();
        assert_eq!((e.code, e.port), ("EADDRINUSE", Some(port)));
    }
    assert_eq!(fd_count(), before);
}

#[test]
fn unix_listener_accepts_and_removes_its_file_on_drop() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("a.sock");
    let l = bind(Network::Unix, &path).unwrap();
    assert_eq!(l.network(), Network::Unix);
    assert_eq!(l.local_addr(), NetAddr::Unix(path.clone().into()));
    assert_eq!(l.local_addr().family(), "unix");
    let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (stream, peer) = util::accept(&l);
    assert_eq!(peer, None, "an unbound Unix client has no name");
    assert_eq!(
        stream.local_addr(),
        Some(NetAddr::Unix(path.clone().into()))
    );
    client.write_all(b"ping").unwrap();
    assert_eq!(util::read_n(&stream, 4), b"ping");
    drop(l);
    assert!(!Path::new(&path).exists(), "socket file left behind");
    // Restart on the same path.
    let again = bind(Network::Unix, &path).unwrap();
    drop(again);
    assert!(!Path::new(&path).exists());
}

#[test]
fn stale_unix_socket_file_is_replaced() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // std leaves the file
    assert!(Path::new(&path).exists());
    let l = bind(Network::Unix, &path).unwrap();
    let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    util::accept(&l);
}

#[test]
fn stale_file_is_kept_when_the_policy_says_fail() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let opts = ListenOptions {
        unix_stale: StalePolicy::Fail,
        ..ListenOptions::default()
    };
    let e = Listener::bind(Network::Unix, &path, opts).unwrap_err();
    assert_eq!(e.code, "EADDRINUSE");
    assert!(Path::new(&path).exists());
}

#[test]
fn live_unix_socket_is_eaddrinuse_and_keeps_working() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("live.sock");
    let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let before = fd_count();
    let e = bind(Network::Unix, &path).unwrap_err();
    assert_eq!(e.code, "EADDRINUSE");
    assert_eq!(e.address.as_deref(), Some(path.as_str()));
    assert_eq!(e.port, None);
    assert_eq!(e.message, format!("listen EADDRINUSE {path}"));
    // The liveness probe's connection is closed, not leaked, and the server still works.
    assert_eq!(fd_count(), before);
    let _c = std::os::unix::net::UnixStream::connect(&path).unwrap();
    live.accept().unwrap();
}

#[test]
fn a_regular_file_is_never_deleted() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("data.txt");
    std::fs::write(&path, b"precious").unwrap();
    let e = bind(Network::Unix, &path).unwrap_err();
    assert_eq!(e.code, "EADDRINUSE");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[test]
fn a_file_replaced_after_bind_is_not_removed_on_drop() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("moved.sock");
    let l = bind(Network::Unix, &path).unwrap();
    std::fs::remove_file(&path).unwrap();
    std::fs::write(&path, b"someone else's").unwrap();
    drop(l);
    assert_eq!(std::fs::read(&path).unwrap(), b"someone else's");
}

#[test]
fn over_long_unix_path_is_enametoolong() {
    let _g = serial();
    let path = format!("/tmp/{}", "p".repeat(sys::unix_path_max()));
    let before = fd_count();
    let e = bind(Network::Unix, &path).unwrap_err();
    assert_eq!(e.code, "ENAMETOOLONG");
    assert_eq!(e.address.as_deref(), Some(path.as_str()));
    assert_eq!(fd_count(), before);
    assert!(!Path::new(&path).exists());
}

#[test]
fn unix_path_in_a_missing_directory_is_enoent() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("no/such/dir.sock");
    let before = fd_count();
    let e = bind(Network::Unix, &path).unwrap_err();
    assert_eq!((e.code, e.syscall), ("ENOENT", Some("listen")));
    assert_eq!(fd_count(), before);
}

#[test]
fn invalid_addresses_fail_before_any_socket() {
    let _g = serial();
    let before = fd_count();
    for (network, address) in [(Network::Tcp, "nope"), (Network::Tcp4, "1.2.3.4:99999")] {
        let e = bind(network, address).unwrap_err();
        assert_eq!(e.code, "ERR_INVALID_ADDRESS", "{address}");
    }
    assert_eq!(fd_count(), before);
}

const EACCES_CHILD: &str = "NETPOLL_TEST_EACCES_DIR";

/// The unprivileged half of the EACCES test (R28).
fn check_eacces(read_only_dir: &str) {
    let before = fd_count();
    let path = format!("{read_only_dir}/x.sock");
    let e = bind(Network::Unix, &path).unwrap_err();
    assert_eq!((e.code, e.syscall), ("EACCES", Some("listen")));
    assert_eq!(e.address.as_deref(), Some(path.as_str()));
    let start: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024);
    if start > 80 {
        let e = bind(Network::Tcp4, "127.0.0.1:80").unwrap_err();
        assert_eq!((e.code, e.port), ("EACCES", Some(80)));
        assert_eq!(e.message, "listen EACCES 127.0.0.1:80");
    } else {
        eprintln!("port 80 check skipped: ip_unprivileged_port_start = {start}");
    }
    assert_eq!(fd_count(), before);
}

#[test]
#[ignore = "the unprivileged child of permission_errors_are_eacces"]
fn eacces_child() {
    if let Ok(dir) = std::env::var(EACCES_CHILD) {
        check_eacces(&dir);
    }
}

/// As root, permission checks are bypassed, so the checks run in a child process with
/// `setpriv` as user `nobody` (65534); without `setpriv` (or the right to change user) the
/// test says so and passes.
#[test]
fn permission_errors_are_eacces() {
    let _g = serial();
    let dir = TempDir::new();
    let ro = dir.dir().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let ro = ro.to_str().unwrap().to_string();
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return check_eacces(&ro);
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["--exact", "eacces_child", "--ignored", "--nocapture"])
        .env(EACCES_CHILD, &ro)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => return eprintln!("skipped: setpriv unavailable ({e})"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.starts_with("setpriv:") {
        return eprintln!("skipped: cannot change user here: {stderr}");
    }
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "unprivileged child failed:\n{stdout}\n{stderr}"
    );
}

/// An accept error other than EMFILE/ENFILE is reported, and the listener is tried again
/// after its backoff: a connection already in the backlog is accepted without waiting for
/// another connect (the listener is edge-triggered: no new edge would come for it).
#[test]
fn an_accept_error_is_reported_and_the_backlog_still_served() {
    use netpoll_core::batch::RecordKind;
    use netpoll_core::config::ShardConfig;
    use std::os::fd::AsRawFd;
    use util::{run_until, shard_with_listener, step, Log};

    let _g = serial();
    let config = ShardConfig {
        accept_backoff_ms: 50,
        ..ShardConfig::default()
    };
    let (mut shard, lid, addr) = shard_with_listener(config);
    let mut log = Log::default();
    step(&mut shard, &mut log);
    let fd = shard.listener(lid).expect("listener").as_raw_fd();
    // For a while the listener's descriptor names a UDP socket, whose accept fails
    // (EOPNOTSUPP); the listening socket itself stays registered through `saved`.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    // SAFETY: dup/dup2 on descriptors this test owns; `fd` is restored below before the
    // listener uses or closes it again.
    let saved = unsafe { libc::dup(fd) };
    assert!(saved >= 0);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::dup2(udp.as_raw_fd(), fd) }, fd);
    let _client = std::net::TcpStream::connect(addr).expect("connect");
    run_until(&mut shard, &mut log, "listener error", |l| {
        !l.all(RecordKind::ListenerError).is_empty()
    });
    // SAFETY: as above: `fd` names the listening socket again.
    unsafe {
        assert_eq!(libc::dup2(saved, fd), fd);
        libc::close(saved);
    }
    let e = log.all(RecordKind::ListenerError)[0]
        .error
        .clone()
        .expect("error");
    assert_eq!(e.syscall, Some("accept"));
    // No new connect: the waiting one is accepted all the same.
    run_until(&mut shard, &mut log, "accepted", |l| {
        !l.all(RecordKind::Accepted).is_empty()
    });
}
