//! Checks shared by the tests of both ceiling servers (`serve` on epoll, `serve --uring`):
//! the framing, the sink's counts and the SIGUSR2 stats line.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A frame of `n` bytes of `fill` behind its 4-byte big-endian length.
pub fn frame(n: usize, fill: u8) -> Vec<u8> {
    let mut f = (n as u32).to_be_bytes().to_vec();
    f.resize(4 + n, fill);
    f
}

/// A connection to `addr` whose reads and writes fail after 10 s (a stalled server fails the test).
fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// SIGUSR2 to the framed server `pid` (listening on `addr`, its stdout `stdout`) prints its
/// stats line, counting the one connection held open, and the server goes on serving.
pub fn stats_on_sigusr2(pid: u32, stdout: &mut impl BufRead, addr: &str) {
    let mut held = connect(addr);
    // A round trip: the server has accepted it before the signal.
    held.write_all(&frame(1, 2)).unwrap();
    held.read_exact(&mut [0u8; 5]).unwrap();
    // SAFETY: kill has no memory preconditions.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR2) }, 0);
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(line.starts_with("stats {\"heapUsed\":"), "{line}");
    assert!(line.contains("\"connections\":1}"), "{line}");
    let mut s = connect(addr);
    s.write_all(&frame(3, 1)).unwrap();
    let mut got = [0u8; 7];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got.to_vec(), frame(3, 1));
}

/// Sends 3 MiB on `s` in 64 KiB writes and checks the counts the sink answers: one each time
/// the count crosses a MiB, ending at 3 MiB.
pub fn three_mib_counted(mut s: TcpStream) {
    let mut reader = s.try_clone().unwrap();
    let counts = std::thread::spawn(move || {
        let mut counts = Vec::new();
        let mut b = [0u8; 8];
        while counts.last() != Some(&(3u64 << 20)) && reader.read_exact(&mut b).is_ok() {
            counts.push(u64::from_be_bytes(b));
        }
        counts
    });
    for _ in 0..48 {
        s.write_all(&[9u8; 65536]).unwrap();
    }
    let counts = counts.join().unwrap();
    assert_eq!(counts.last(), Some(&(3u64 << 20)), "{counts:?}");
    let mut before = 0;
    for c in counts {
        assert!(c >> 20 > before >> 20, "{c} crosses a MiB past {before}");
        before = c;
    }
}
