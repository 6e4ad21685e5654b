//! `Stream` over real sockets: connect errors (R16), socket options read back with
//! `getsockopt` (R30), vectored echo over TCP and Unix, half-close, EPIPE without a signal.

mod util;

use std::io::{IoSlice, Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use netpoll_core::addr::{resolve, NetAddr, Network};
use netpoll_core::error::NetError;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::stream::Stream;
use netpoll_core::sys;
use util::{fd_count, serial, TempDir};

fn tcp_listener() -> Listener {
    Listener::bind(Network::Tcp4, "127.0.0.1:0", ListenOptions::default()).unwrap()
}

/// A connected pair: (client, server side).
fn tcp_pair() -> (Stream, Stream) {
    let l = tcp_listener();
    let client = util::connect(&l.local_addr()).unwrap();
    let (server, _) = util::accept(&l);
    (client, server)
}

#[test]
fn connect_to_a_closed_port_is_econnrefused() {
    let _g = serial();
    let addr = NetAddr::Inet(SocketAddr::from(([127, 0, 0, 1], util::closed_port())));
    let before = fd_count();
    // Refusal comes either at once or when the connect completes.
    let err = util::connect(&addr).expect_err("nobody listens");
    let e = NetError::from_io(&err, "connect").with_addr(&addr);
    assert_eq!(e.code, "ECONNREFUSED");
    assert_eq!(e.errno, Some(libc::ECONNREFUSED));
    assert_eq!(e.message, format!("connect ECONNREFUSED {addr}"));
    assert_eq!(e.port, addr.port());
    assert_eq!(fd_count(), before, "the failed stream was not closed");
}

#[test]
fn connect_to_a_missing_unix_path_is_enoent() {
    let _g = serial();
    let dir = TempDir::new();
    let addr = resolve(Network::Unix, &dir.path("none.sock"))
        .unwrap()
        .remove(0);
    let before = fd_count();
    let err = Stream::connect(&addr, None).unwrap_err();
    let e = NetError::from_io(&err, "connect").with_addr(&addr);
    assert_eq!(e.code, "ENOENT");
    assert_eq!(e.address, Some(addr.host()));
    assert_eq!(e.port, None);
    assert_eq!(fd_count(), before);
}

#[test]
fn connect_to_a_dead_unix_socket_is_econnrefused() {
    let _g = serial();
    let dir = TempDir::new();
    let path = dir.path("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let err = Stream::connect(&NetAddr::Unix(path.into()), None).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn connect_from_a_chosen_local_address() {
    let _g = serial();
    let l = tcp_listener();
    let local = NetAddr::Inet(SocketAddr::from(([127, 0, 0, 1], 0)));
    let mut s = Stream::connect(&l.local_addr(), Some(&local)).unwrap();
    util::wait_ready(&mut s, mio::Interest::WRITABLE);
    let (server, peer) = util::accept(&l);
    assert!(util::retry("connect", || match s.finish_connect()? {
        true => Ok(()),
        false => Err(std::io::ErrorKind::WouldBlock.into()),
    })
    .is_ok());
    assert_eq!(s.local_addr(), peer);
    assert_eq!(server.peer_addr(), peer);
    assert_eq!(s.peer_addr(), Some(l.local_addr()));
    assert!(s.is_tcp());
}

#[test]
fn nodelay_and_keepalive_are_applied_on_both_ends() {
    let _g = serial();
    let (client, server) = tcp_pair();
    for s in [&client, &server] {
        s.set_nodelay(true).unwrap();
        assert!(sys::nodelay(s).unwrap());
        s.set_nodelay(false).unwrap();
        assert!(!sys::nodelay(s).unwrap());

        s.set_keepalive(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(
            sys::keepalive_idle(s).unwrap(),
            Some(Duration::from_secs(5))
        );
        // Whole seconds, rounded up, as TCP_KEEPIDLE takes them.
        s.set_keepalive(Some(Duration::from_millis(1500))).unwrap();
        assert_eq!(
            sys::keepalive_idle(s).unwrap(),
            Some(Duration::from_secs(2))
        );
        s.set_keepalive(None).unwrap();
        assert_eq!(sys::keepalive_idle(s).unwrap(), None);
        // Zero: on, with the system's idle time.
        s.set_keepalive(Some(Duration::ZERO)).unwrap();
        assert!(sys::keepalive_idle(s).unwrap().is_some());
    }
}

#[test]
fn socket_buffers_can_be_shrunk_for_slow_reader_tests() {
    let _g = serial();
    let (client, server) = tcp_pair();
    sys::set_send_buffer(&client, 4096).unwrap();
    sys::set_recv_buffer(&server, 4096).unwrap();
    let snd = sys::send_buffer(&client).unwrap();
    let rcv = sys::recv_buffer(&server).unwrap();
    // The kernel rounds (Linux doubles); it must stay small.
    assert!((4096..=16384).contains(&snd), "SO_SNDBUF {snd}");
    assert!((2048..=16384).contains(&rcv), "SO_RCVBUF {rcv}");
}

/// Sends `total` bytes in many small vectored writes from `a` while reading them at `b`;
/// compares digests.
fn pump(a: &Stream, b: &Stream, total: usize) {
    let data: Vec<u8> = (0..total).map(|i| (i * 31 % 251) as u8).collect();
    let chunks: Vec<&[u8]> = data.chunks(97).collect();
    let mut sent_chunks = 0;
    let mut partial = 0;
    let mut got = Vec::with_capacity(total);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = std::time::Instant::now() + util::TIMEOUT;
    while got.len() < total {
        assert!(
            std::time::Instant::now() < deadline,
            "pump stalled at {}",
            got.len()
        );
        if sent_chunks < chunks.len() {
            let mut slices = vec![IoSlice::new(&chunks[sent_chunks][partial..])];
            slices.extend(chunks[sent_chunks + 1..].iter().map(|c| IoSlice::new(c)));
            match (&*a).write_vectored(&slices) {
                Ok(mut n) => {
                    while n > 0 {
                        let left = chunks[sent_chunks].len() - partial;
                        if n >= left {
                            n -= left;
                            sent_chunks += 1;
                            partial = 0;
                        } else {
                            partial += n;
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        match (&*b).read(&mut buf) {
            Ok(0) => panic!("unexpected end of stream"),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_micros(200))
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    assert_eq!(got.len(), total);
    assert_eq!(util::digest(&got), util::digest(&data));
}

#[test]
fn vectored_transfer_over_tcp_is_byte_exact() {
    let _g = serial();
    let (client, server) = tcp_pair();
    sys::set_send_buffer(&client, 4096).unwrap(); // force partial writes
    pump(&client, &server, 4 << 20);
    pump(&server, &client, 1 << 20);
}

#[test]
fn vectored_transfer_over_unix_is_byte_exact() {
    let _g = serial();
    let dir = TempDir::new();
    let l = Listener::bind(Network::Unix, &dir.path("e.sock"), ListenOptions::default()).unwrap();
    let client = util::connect(&l.local_addr()).unwrap();
    let (server, _) = util::accept(&l);
    assert_eq!(client.peer_addr(), Some(l.local_addr()));
    assert_eq!(client.local_addr(), None);
    pump(&client, &server, 4 << 20);
    pump(&server, &client, 1 << 20);
}

#[test]
fn shutdown_write_is_a_half_close() {
    let _g = serial();
    let (client, server) = tcp_pair();
    util::write_all(&client, b"last words");
    client.shutdown_write().unwrap();
    assert_eq!(
        util::read_n(&server, 64),
        b"last words",
        "then end of stream"
    );
    // The other direction still works.
    util::write_all(&server, b"reply");
    assert_eq!(util::read_n(&client, 5), b"reply");
}

/// Writes to `client` until the kernel reports the closed peer; returns the error code.
fn write_until_error(client: &Stream) -> &'static str {
    let mut err = None;
    // The first write may be accepted locally; the RST then fails a later one.
    let _ = util::retry("write to closed peer", || {
        match (&*client).write(&[0u8; 1024]) {
            Ok(_) => Err(std::io::ErrorKind::WouldBlock.into()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Err(e),
            Err(e) => {
                err = Some(e);
                Ok(())
            }
        }
    });
    NetError::from_io(&err.expect("write failed"), "write").code
}

/// With `SIGPIPE` at its default (terminate), writes to a closed peer must fail with
/// EPIPE/ECONNRESET: a signal would kill this test binary. `ignore_sigpipe` then
/// restores the "ignore" disposition Rust's runtime had set.
#[test]
fn writing_to_a_closed_peer_is_an_error_not_a_signal() {
    let _g = serial();
    let (tcp_client, tcp_server) = tcp_pair();
    let dir = TempDir::new();
    let l = Listener::bind(Network::Unix, &dir.path("p.sock"), ListenOptions::default()).unwrap();
    let unix_client = util::connect(&l.local_addr()).unwrap();
    let (unix_server, _) = util::accept(&l);
    drop((tcp_server, unix_server));

    // SAFETY: installs the predefined default disposition; no handler code runs.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let tcp = write_until_error(&tcp_client);
    let unix = write_until_error(&unix_client);
    sys::ignore_sigpipe().unwrap();
    // SAFETY: reads the current disposition by swapping in the same value it checks for.
    let now = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    assert_eq!(now, libc::SIG_IGN, "ignore_sigpipe did not replace SIG_DFL");

    assert!(tcp == "EPIPE" || tcp == "ECONNRESET", "{tcp}");
    assert_eq!(unix, "EPIPE");
}
