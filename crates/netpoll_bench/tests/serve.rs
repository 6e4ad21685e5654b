//! `netpoll-bench serve`, the ceiling server, over real sockets: framed (frames split
//! anywhere, answered in order), raw, sink (a count per MiB crossed) and its SIGUSR2 stats line.

mod ceiling;

use std::io::{BufRead, BufReader, Read, Write};

use ceiling::frame;
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// A running `serve` and its address; killed on drop.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: String,
}

impl Server {
    fn start(protocol: &str) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netpoll-bench"))
            .args([
                "serve",
                "--listen",
                "tcp://127.0.0.1:0",
                "--protocol",
                protocol,
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn netpoll-bench serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("listening line");
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .expect("listening")
            .to_string();
        Server {
            child,
            stdout,
            addr,
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn framed_echoes_every_frame_split_anywhere_in_order() {
    let server = Server::start("framed");
    let mut s = server.connect();
    let all: Vec<u8> = (0..300)
        .flat_map(|i| frame(if i % 60 == 30 { 300_000 } else { i * 37 % 2000 }, i as u8))
        .collect();
    let mut reader = s.try_clone().unwrap();
    let expected = all.len();
    let echo = std::thread::spawn(move || {
        let mut got = vec![0u8; expected];
        reader.read_exact(&mut got).map(|_| got)
    });
    for piece in all.chunks(7777) {
        s.write_all(piece).unwrap();
    }
    assert!(echo.join().unwrap().expect("echo") == all);
}

#[test]
fn raw_echoes_and_sink_counts_per_mib() {
    let server = Server::start("raw");
    let mut s = server.connect();
    s.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    s.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hello");

    let server = Server::start("sink");
    ceiling::three_mib_counted(server.connect());
}

#[test]
fn sigusr2_prints_the_stats_line_and_the_server_lives_on() {
    let mut server = Server::start("framed");
    let pid = server.child.id();
    ceiling::stats_on_sigusr2(pid, &mut server.stdout, &server.addr);
}
