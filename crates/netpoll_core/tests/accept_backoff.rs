//! EMFILE on accept: the listener backs off (a timer, not a busy loop) and accepts the
//! waiting connections once descriptors are free again. Alone in its test binary, because
//! it lowers the process's descriptor limit.

mod util;

use std::fs::File;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use netpoll_core::batch::{Batch, RecordKind};
use netpoll_core::config::ShardConfig;
use util::{fd_count, run_until, shard_with_listener, Log};

#[test]
fn fd_exhaustion_on_accept_backs_off_then_recovers() {
    let config = ShardConfig {
        accept_backoff_ms: 100,
        ..ShardConfig::default()
    };
    let (mut shard, _lid, addr) = shard_with_listener(config);

    // A low soft limit, so that filling it takes a few dozen descriptors.
    let limit = (fd_count() + 32) as libc::rlim_t;
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit calls on valid structs.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut old), 0);
        let low = libc::rlimit {
            rlim_cur: limit.min(old.rlim_cur),
            rlim_max: old.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &low), 0);
    }

    let clients: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(addr).expect("connect"))
        .collect();
    let mut filler = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        filler.push(f);
    }
    assert!(!filler.is_empty());

    // With no descriptor left, each accept fails with EMFILE. Over 350 ms the shard may
    // only wake for its backoff timer (every 100 ms), not spin on the readable listener.
    let mut log = Log::default();
    let mut rounds = 0;
    let mut batch = Batch::default();
    let end = Instant::now() + Duration::from_millis(350);
    while Instant::now() < end {
        let timeout = shard.poll_timeout().unwrap_or(Duration::from_millis(50));
        shard.run_once(Some(timeout), &mut batch).expect("run_once");
        log.absorb(&mut batch);
        rounds += 1;
    }
    assert!(log.all(RecordKind::Accepted).is_empty());
    assert!(rounds < 40, "{rounds} rounds in 350 ms: accept is spinning");
    assert!(shard.stats().accept_backoffs >= 2, "{:?}", shard.stats());

    drop(filler);
    // SAFETY: restores the limit read above.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) };
    run_until(&mut shard, &mut log, "accepts after the backoff", |l| {
        l.all(RecordKind::Accepted).len() == clients.len()
    });
    assert!(log.all(RecordKind::ListenerError).is_empty());
}
