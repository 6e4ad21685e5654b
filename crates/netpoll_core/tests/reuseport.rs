//! Per-shard listeners on one port with `SO_REUSEPORT` (threaded mode's accept).

mod util;

use std::time::Instant;

use mio::{Events, Interest, Poll, Token};
use netpoll_core::addr::Network;
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::sys;

fn reuse_port() -> ListenOptions {
    ListenOptions {
        reuse_port: true,
        ..ListenOptions::default()
    }
}

#[test]
fn shard_copies_share_the_port_and_both_accept() {
    let _g = util::serial();
    let mut shards = vec![Listener::bind(Network::Tcp4, "127.0.0.1:0", reuse_port()).unwrap()];
    shards.push(shards[0].bind_shard_copy().unwrap());
    assert_eq!(shards[0].local_addr(), shards[1].local_addr());
    assert!(shards[1].options().reuse_port);

    let mut poll = Poll::new().unwrap();
    for (i, l) in shards.iter_mut().enumerate() {
        poll.registry()
            .register(l, Token(i), Interest::READABLE)
            .unwrap();
    }
    const CLIENTS: usize = 64;
    let addr = shards[0].local_addr().as_inet().unwrap();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    let mut accepted = [0usize; 2];
    let mut events = Events::with_capacity(16);
    let deadline = Instant::now() + util::TIMEOUT;
    while accepted.iter().sum::<usize>() < CLIENTS {
        assert!(Instant::now() < deadline, "accepted only {accepted:?}");
        poll.poll(&mut events, Some(util::TIMEOUT)).unwrap();
        for e in events.iter() {
            let i = e.token().0;
            while shards[i].accept().is_ok() {
                accepted[i] += 1;
            }
        }
    }
    drop(clients);
    if sys::supports_reuseport_balancing() {
        // The kernel hashes each connection to one socket: 64 all on one side is 2^-63.
        assert!(accepted[0] > 0 && accepted[1] > 0, "{accepted:?}");
    }
}

#[test]
fn a_copy_survives_the_original() {
    let _g = util::serial();
    let first = Listener::bind(Network::Tcp4, "127.0.0.1:0", reuse_port()).unwrap();
    let copy = first.bind_shard_copy().unwrap();
    drop(first);
    let _c = std::net::TcpStream::connect(copy.local_addr().as_inet().unwrap()).unwrap();
    util::accept(&copy);
}

#[test]
fn copies_need_reuse_port_and_tcp() {
    let _g = util::serial();
    let plain = Listener::bind(Network::Tcp4, "127.0.0.1:0", ListenOptions::default()).unwrap();
    assert_eq!(plain.bind_shard_copy().unwrap_err().code, "EINVAL");
    let dir = util::TempDir::new();
    let unix = Listener::bind(Network::Unix, &dir.path("r.sock"), reuse_port()).unwrap();
    let e = unix.bind_shard_copy().unwrap_err();
    assert_eq!(e.code, "EINVAL");
    assert_eq!(e.address.as_deref(), Some(dir.path("r.sock").as_str()));
}

/// `SO_REUSEPORT` alone would let a second server of the same user join a port in use and
/// silently take half its connections: binding a new listener must still be EADDRINUSE.
#[test]
fn a_port_in_use_is_eaddrinuse_even_with_reuse_port() {
    let _g = util::serial();
    let first = Listener::bind(Network::Tcp4, "127.0.0.1:0", reuse_port()).unwrap();
    let port = first.local_addr().port().unwrap();
    let before = util::fd_count();
    let e = Listener::bind(Network::Tcp4, &format!("127.0.0.1:{port}"), reuse_port()).unwrap_err();
    assert_eq!((e.code, e.port), ("EADDRINUSE", Some(port)));
    assert_eq!(util::fd_count(), before, "no descriptor left open");
    // A port held without reuse_port (by someone else) is refused the same way.
    let plain = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = plain.local_addr().unwrap().port();
    let e = Listener::bind(Network::Tcp4, &format!("127.0.0.1:{port}"), reuse_port()).unwrap_err();
    assert_eq!(e.code, "EADDRINUSE");
}
