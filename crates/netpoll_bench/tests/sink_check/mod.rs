//! The sink protocol's check, shared by the tests of both ceiling servers: 3 MiB sent in
//! 64 KiB writes must be answered with a count each time it crosses a MiB, ending at 3 MiB.

use std::io::{Read, Write};
use std::net::TcpStream;

/// Sends 3 MiB on `s` and checks the counts the sink answers.
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
