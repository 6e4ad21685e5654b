//! Connection rate: each of a few slots connects, sends one framed request, verifies the
//! answer, closes (an orderly close, FIN), and starts over.

use std::io;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::framed_conn::FramedConn;
use crate::histogram::Histogram;
use crate::pattern::Pattern;
use crate::phase::Phase;
use crate::report::Report;
use crate::target::Target;

/// Failed connects after which the run is abandoned.
const MAX_ERRORS: u64 = 1000;

/// A connection-rate run.
pub struct ConnRatePlan {
    /// The report's name: `conn-rate`, or `handshake` over TLS.
    pub mode: &'static str,
    /// The server (framed protocol).
    pub target: Target,
    /// Connections in progress at once.
    pub slots: usize,
    /// Payload bytes of the one request.
    pub payload: usize,
    /// Load before the measurement.
    pub warmup: Duration,
    /// Length of the measurement.
    pub duration: Duration,
    /// The server process to sample, if known.
    pub server_pid: Option<u32>,
}

/// Runs `plan` and prints its report; the latency is from the connect call to the answer.
pub fn run(plan: &ConnRatePlan) -> Result<(), String> {
    let io_err = |e: io::Error| e.to_string();
    let mut poll = Poll::new().map_err(io_err)?;
    let mut events = Events::with_capacity(1024);
    let pattern = Pattern::new(plan.payload);
    let mut slots: Vec<Option<FramedConn>> = (0..plan.slots).map(|_| None).collect();
    let mut seq = 0usize;
    let (mut hist, mut done, mut errors) = (Histogram::new(), 0u64, 0u64);
    let mut resumed = 0u64; // TLS handshakes that resumed a session
    let mut phase = Phase::new(plan.warmup, plan.duration, plan.server_pid);
    loop {
        let now = Instant::now();
        if phase.begin_if_due(now) {
            hist.reset();
            done = 0;
            resumed = 0;
        }
        if phase.over(now) {
            break;
        }
        if errors > MAX_ERRORS {
            return Err(format!("{errors} connections failed"));
        }
        for (i, slot) in slots.iter_mut().enumerate().filter(|(_, s)| s.is_none()) {
            match plan.target.connect() {
                Ok(mut stream) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    poll.registry()
                        .register(&mut stream, Token(i), interest)
                        .map_err(io_err)?;
                    seq += 1;
                    *slot = Some(FramedConn::new(stream, seq, plan.payload, 1, Some(1)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break, // Unix backlog full
                Err(e) => {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("netpoll-bench: connect: {e}");
                    }
                }
            }
        }
        let wait = phase.next_deadline().saturating_duration_since(now);
        poll.poll(
            &mut events,
            Some(wait.clamp(Duration::from_micros(100), Duration::from_millis(10))),
        )
        .map_err(io_err)?;
        for ev in events.iter() {
            let i = ev.token().0;
            let Some(c) = slots[i].as_mut() else { continue };
            let mut answered = None;
            let r = (|| -> Result<(), String> {
                if !c.connected {
                    c.connected = c.stream.connected().map_err(io_err)?;
                    if !c.connected {
                        return Ok(());
                    }
                }
                c.read_responses(&pattern, |_, since_connect| answered = Some(since_connect))
                    .map_err(|e| e.to_string())?;
                c.fill_and_write(&pattern).map_err(io_err)
            })();
            if let Err(e) = r {
                errors += 1;
                if errors == 1 {
                    eprintln!("netpoll-bench: connection: {e}");
                }
                slots[i] = None;
            } else if let Some(ns) = answered {
                if phase.measuring_at(Instant::now()) {
                    hist.record(ns);
                    done += 1;
                    resumed += u64::from(c.stream.tls_resumed());
                }
                slots[i] = None; // dropping the stream closes it
            }
        }
    }
    let secs = plan.duration.as_secs_f64();
    let (server, client_cpu_s) = phase.finish();
    let mut r = Report::new(plan.mode);
    r.str("transport", crate::echo::transport(&plan.target))
        .int("slots", plan.slots as u64)
        .int("payload", plan.payload as u64)
        .num("duration_s", secs)
        .int("connections", done)
        .num("cps", done as f64 / secs)
        .latency("", &hist)
        .int("resumed", resumed)
        .num("resumed_share", resumed as f64 / done.max(1) as f64)
        .int("errors", errors)
        .server(server, "cpu_per_conn_us", done)
        .num("client_cpu_s", client_cpu_s);
    r.print();
    Ok(())
}
