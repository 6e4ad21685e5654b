//! Single-connection streaming throughput: bytes are written as fast as the socket takes them
//! (with a bounded amount unanswered). Over the raw echo protocol (`stream`) every echoed byte
//! is verified against what was sent; over the sink protocol (`sink`) the server drops the
//! bytes and answers its running count as an 8-byte big-endian integer each time it crosses a
//! multiple of 1 MiB ([`crate::serve_proto::SINK_ACK`]), and every count is checked (growing, past
//! the previous MiB, never more than was sent).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::pattern::{fail_verification, Pattern, PERIOD};
use crate::phase::Phase;
use crate::report::Report;
use crate::target::Target;

/// Bytes per write and per read.
const CHUNK: usize = 256 * 1024;

/// A streaming run.
pub struct StreamPlan {
    /// The server (raw protocol).
    pub target: Target,
    /// Most bytes sent and not yet echoed.
    pub window: usize,
    /// Load before the measurement.
    pub warmup: Duration,
    /// Length of the measurement.
    pub duration: Duration,
    /// The server process to sample, if known.
    pub server_pid: Option<u32>,
    /// Sink protocol (counts answered) rather than raw echo.
    pub sink: bool,
}

/// Runs `plan` and prints its report.
pub fn run(plan: &StreamPlan) -> Result<(), String> {
    let io_err = |e: io::Error| e.to_string();
    let mut poll = Poll::new().map_err(io_err)?;
    let mut events = Events::with_capacity(16);
    let mut stream = plan.target.connect().map_err(io_err)?;
    poll.registry()
        .register(
            &mut stream,
            Token(0),
            Interest::READABLE | Interest::WRITABLE,
        )
        .map_err(io_err)?;
    let pattern = Pattern::new(CHUNK);
    let mut buf = vec![0u8; CHUNK];
    let (mut sent, mut received) = (0u64, 0u64);
    let mut connected = false;
    let mut phase = Phase::new(plan.warmup, plan.duration, plan.server_pid);
    let mut base = 0u64;
    let mut acks = Acks::default();
    loop {
        let now = Instant::now();
        if phase.begin_if_due(now) {
            base = received;
        }
        if phase.over(now) {
            break;
        }
        let wait = phase.next_deadline().saturating_duration_since(now);
        poll.poll(&mut events, Some(wait.max(Duration::from_micros(100))))
            .map_err(io_err)?;
        if events.is_empty() {
            continue;
        }
        if !connected {
            connected = stream.connected().map_err(io_err)?;
            if !connected {
                continue;
            }
        }
        // Read everything available, verifying it.
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return Err("the server closed the stream".into()),
                Ok(n) if plan.sink => received = acks.take(&buf[..n], received, sent),
                Ok(n) => {
                    let offset = (received % PERIOD as u64) as usize;
                    if let Err(m) = pattern.verify(offset, &buf[..n]) {
                        fail_verification(&format!(
                            "stream offset {}: {m}",
                            received + m.at as u64
                        ));
                    }
                    received += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("read: {e}")),
            }
        }
        // Write while the window and the socket allow.
        while sent - received < plan.window as u64 {
            let room = (plan.window as u64 - (sent - received)).min(CHUNK as u64) as usize;
            let offset = (sent % PERIOD as u64) as usize;
            match stream.write(pattern.slice(offset, room)) {
                Ok(n) => sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("write: {e}")),
            }
        }
        stream.flush_some().map_err(|e| format!("write: {e}"))?;
    }
    let secs = plan.duration.as_secs_f64();
    let bytes = received - base;
    let (server, client_cpu_s) = phase.finish();
    let mut r = Report::new(if plan.sink { "sink" } else { "stream" });
    r.str("transport", crate::echo::transport(&plan.target))
        .int("window", plan.window as u64)
        .num("duration_s", secs)
        .int("bytes", bytes)
        .num("gbps", bytes as f64 / secs / 1e9)
        .int("errors", 0)
        .server(server, "cpu_per_mib_us", bytes >> 20)
        .num("client_cpu_s", client_cpu_s);
    r.print();
    Ok(())
}

/// The sink's 8-byte counts, which may arrive split across reads.
#[derive(Default)]
struct Acks {
    partial: [u8; 8],
    have: usize,
}

impl Acks {
    /// Takes the counts in `bytes`; returns the latest (`acked` if none is complete). Ends the
    /// process (verification failure) on a count that does not grow by at least a MiB
    /// boundary or exceeds `sent`.
    fn take(&mut self, bytes: &[u8], mut acked: u64, sent: u64) -> u64 {
        for &b in bytes {
            self.partial[self.have] = b;
            self.have += 1;
            if self.have < 8 {
                continue;
            }
            self.have = 0;
            let count = u64::from_be_bytes(self.partial);
            let step = crate::serve_proto::SINK_ACK;
            if count / step <= acked / step || count > sent {
                fail_verification(&format!(
                    "sink count {count} after {acked}, with {sent} bytes sent"
                ));
            }
            acked = count;
        }
        acked
    }
}
