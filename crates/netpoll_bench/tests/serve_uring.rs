//! `netpoll-bench serve --uring`, the io_uring ceiling server, over real sockets: framed
//! (frames split anywhere, one over the provided buffers' size, answered in order), raw (more
//! bytes in flight than the buffer ring holds: receives run out of buffers and resume), sink
//! (a count per MiB crossed), a Unix socket, many connections at once, and its SIGUSR2 stats
//! line. Each test is skipped, with the reason printed, only where the kernel refuses
//! io_uring (ENOSYS, EPERM).

mod ceiling;

use std::io::{BufRead, BufReader, Read, Write};

use ceiling::frame;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The longest a read or write may block: a server that stops reading fails the test.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A running `serve --uring` and its address; killed on drop.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
    addr: String,
}

impl Server {
    /// Starts the server on `listen`; None (with the reason printed) when io_uring is refused.
    fn start(protocol: &str, listen: &str) -> Option<Server> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netpoll-bench"))
            .args([
                "serve",
                "--uring",
                "--listen",
                listen,
                "--protocol",
                protocol,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netpoll-bench serve --uring");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("first line");
        let Some(addr) = line.trim().strip_prefix("listening ") else {
            let err = stderr_of(&mut child);
            // ENOSYS: no io_uring; EPERM: refused by seccomp or io_uring_disabled; ENOMEM:
            // the locked-memory limit of kernels before 5.12.
            let refused = ["(os error 38)", "(os error 1)", "(os error 12)"];
            assert!(
                refused.iter().any(|e| err.contains(e)),
                "serve --uring did not start: {err}"
            );
            println!("skipped: io_uring is not available here: {}", err.trim());
            return None;
        };
        let addr = addr.to_string();
        Some(Server {
            child,
            stdout,
            addr,
        })
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s.set_write_timeout(Some(TIMEOUT)).unwrap();
        s
    }
}

/// What an exited `child` wrote on its stderr.
fn stderr_of(child: &mut Child) -> String {
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .unwrap();
    err
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `all` in pieces of `piece` bytes from this thread while another, after `lag`, reads
/// the echo back; returns the echo.
fn echo_through<S: Read + Write + Send + 'static>(
    mut s: S,
    mut reader: S,
    all: Vec<u8>,
    piece: usize,
    lag: Duration,
) -> Vec<u8> {
    let expected = all.len();
    let echo = std::thread::spawn(move || {
        std::thread::sleep(lag);
        let mut got = vec![0u8; expected];
        reader.read_exact(&mut got).map(|_| got)
    });
    for p in all.chunks(piece) {
        s.write_all(p).unwrap();
    }
    echo.join().unwrap().expect("echo")
}

#[test]
fn framed_echoes_every_frame_split_anywhere_in_order() {
    let Some(server) = Server::start("framed", "tcp://127.0.0.1:0") else {
        return;
    };
    let s = server.connect();
    // Frames up to 300 000 bytes: larger than one provided buffer (32 KiB), so they are put
    // together across receives.
    let all: Vec<u8> = (0..300)
        .flat_map(|i| frame(if i % 60 == 30 { 300_000 } else { i * 37 % 2000 }, i as u8))
        .collect();
    let reader = s.try_clone().unwrap();
    assert!(echo_through(s, reader, all.clone(), 7777, Duration::ZERO) == all);
}

#[test]
fn raw_echoes_more_than_the_buffer_ring_holds() {
    let Some(server) = Server::start("raw", "tcp://127.0.0.1:0") else {
        return;
    };
    let s = server.connect();
    // 32 MiB, sixteen times the ring (64 x 32 KiB), read back only after a while: the unsent
    // echo holds every buffer, receives end with ENOBUFS and must be re-armed.
    let all: Vec<u8> = (0..32u32 << 20).map(|i| (i % 251) as u8).collect();
    let reader = s.try_clone().unwrap();
    let lag = Duration::from_millis(500);
    assert!(echo_through(s, reader, all.clone(), 1 << 20, lag) == all);
}

#[test]
fn sink_counts_per_mib() {
    let Some(server) = Server::start("sink", "tcp://127.0.0.1:0") else {
        return;
    };
    ceiling::three_mib_counted(server.connect());
}

#[test]
fn framed_over_a_unix_socket_and_many_connections() {
    let path = std::env::temp_dir().join(format!("serve-uring-{}.sock", std::process::id()));
    let listen = format!("unix://{}", path.display());
    let Some(server) = Server::start("framed", &listen) else {
        return;
    };
    let s = UnixStream::connect(&path).expect("connect");
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s.set_write_timeout(Some(TIMEOUT)).unwrap();
    let all: Vec<u8> = (0..200)
        .flat_map(|i| frame(i * 53 % 3000, i as u8))
        .collect();
    let reader = s.try_clone().unwrap();
    assert!(echo_through(s, reader, all.clone(), 1000, Duration::ZERO) == all);
    drop(server);
    let _ = std::fs::remove_file(&path);

    let Some(server) = Server::start("framed", "tcp://127.0.0.1:0") else {
        return;
    };
    // 200 connections, each with its own frames in flight, each echoed back whole.
    let mut conns: Vec<TcpStream> = (0..200).map(|_| server.connect()).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        c.write_all(&frame(1000 + i, i as u8)).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let mut got = vec![0u8; 1004 + i];
        c.read_exact(&mut got).unwrap();
        assert!(got == frame(1000 + i, i as u8), "connection {i}");
    }
}

#[test]
fn sigusr2_prints_the_stats_line_and_the_server_lives_on() {
    let Some(mut server) = Server::start("framed", "tcp://127.0.0.1:0") else {
        return;
    };
    let pid = server.child.id();
    ceiling::stats_on_sigusr2(pid, &mut server.stdout, &server.addr);
}
