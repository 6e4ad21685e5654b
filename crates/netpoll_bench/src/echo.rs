//! The echo scenarios: ping-pong (window 1), pipelined and multiplexed (a window of requests
//! in flight per connection), optionally beside idle connections, and accept fairness (a burst
//! of new connections opened at once while the load runs).

use std::time::{Duration, Instant};

use crate::conn_set::ConnSet;
use crate::histogram::Histogram;
use crate::phase::Phase;
use crate::report::Report;
use crate::target::Target;

/// Longest wait for the burst's connections to be answered after the measurement ends.
const BURST_GRACE: Duration = Duration::from_secs(10);
/// Longest time to open the loaded and idle connections.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// An echo run.
pub struct EchoPlan {
    /// The server.
    pub target: Target,
    /// Loaded connections.
    pub connections: usize,
    /// Extra connections that send one request at setup and then stay idle.
    pub idle: usize,
    /// Requests in flight per loaded connection.
    pub depth: usize,
    /// Payload bytes per request.
    pub payload: usize,
    /// Connections opened at once during the measurement, one request each (0: none).
    pub burst: usize,
    /// Load before the measurement.
    pub warmup: Duration,
    /// Length of the measurement.
    pub duration: Duration,
    /// The server process to sample, if known.
    pub server_pid: Option<u32>,
}

/// Time-to-first-response of the burst's connections.
struct Burst {
    ids: std::ops::Range<usize>,
    to_open: usize,
    at: Instant,
    pending_since: Option<Instant>,
    within_100ms: u64,
    ttfr: Histogram,
}

/// Runs `plan` and prints its report.
pub fn run(plan: &EchoPlan) -> Result<(), String> {
    let mut set = ConnSet::new(plan.target.clone(), plan.payload).map_err(|e| e.to_string())?;
    let loaded = set.open_served(plan.connections, SETUP_TIMEOUT)?;
    set.open_served(plan.idle, SETUP_TIMEOUT)?;
    for id in loaded.clone() {
        set.start(id, plan.depth, None);
    }
    let mut hist = Histogram::new();
    let mut completed = 0u64;
    let mut phase = Phase::new(plan.warmup, plan.duration, plan.server_pid);
    let mut burst: Option<Burst> = None;
    loop {
        let now = Instant::now();
        if phase.begin_if_due(now) {
            hist.reset();
            completed = 0;
            if plan.burst > 0 {
                let at = phase.start().unwrap_or(now) + plan.duration / 4;
                burst = Some(Burst {
                    ids: 0..0,
                    to_open: plan.burst,
                    at,
                    pending_since: None,
                    within_100ms: 0,
                    ttfr: Histogram::new(),
                });
            }
        }
        if let Some(b) = burst.as_mut() {
            if b.to_open > 0 && now >= b.at {
                open_burst(&mut set, b)?;
            }
        }
        let burst_done = match &burst {
            Some(b) => b.to_open == 0 && b.ttfr.len() as usize == b.ids.len(),
            None => true,
        };
        let next = phase.next_deadline();
        if phase.over(now) && (burst_done || now >= next + BURST_GRACE) {
            break;
        }
        let wait = next
            .saturating_duration_since(now)
            .clamp(Duration::from_micros(100), Duration::from_millis(50));
        set.turn(wait, |c| {
            if let Some(b) = burst.as_mut().filter(|b| b.ids.contains(&c.conn)) {
                b.within_100ms += u64::from(c.since_connect_ns <= 100_000_000);
                b.ttfr.record(c.since_connect_ns);
            } else if phase.measuring_at(Instant::now()) {
                hist.record(c.latency_ns);
                completed += 1;
            }
        })
        .map_err(|e| e.to_string())?;
    }
    let elapsed = plan.duration.as_secs_f64();
    let (server, client_cpu_s) = phase.finish();
    let mut r = Report::new("echo");
    r.str("transport", transport(&plan.target))
        .int("connections", plan.connections as u64)
        .int("idle", plan.idle as u64)
        .int("depth", plan.depth as u64)
        .int("payload", plan.payload as u64)
        .num("duration_s", elapsed)
        .int("requests", completed)
        .num("qps", completed as f64 / elapsed)
        .latency("", &hist)
        .int("errors", set.errors)
        .server(server, "cpu_per_req_us", completed)
        .num("client_cpu_s", client_cpu_s);
    if let Some(b) = &burst {
        r.int("burst", plan.burst as u64)
            .int("burst_served", b.ttfr.len())
            .int("burst_within_100ms", b.within_100ms)
            .latency("burst_ttfr_", &b.ttfr);
    }
    r.print();
    Ok(())
}

/// Opens the burst's connections back to back, each with one request. A connection's
/// time-to-first-response counts from its first connect attempt.
fn open_burst(set: &mut ConnSet, b: &mut Burst) -> Result<(), String> {
    if b.ids.is_empty() {
        b.ids = set.conns.len()..set.conns.len();
    }
    while b.to_open > 0 {
        let attempt = Instant::now();
        match set
            .open(1, Some(1))
            .map_err(|e| format!("burst connect: {e}"))?
        {
            Some(id) => {
                set.conns[id].started = b.pending_since.take().unwrap_or(attempt);
                b.ids.end = id + 1;
                b.to_open -= 1;
            }
            None => {
                // A Unix socket's backlog is full: try the rest on the next turn.
                b.pending_since.get_or_insert(attempt);
                return Ok(());
            }
        }
    }
    Ok(())
}

/// `"tcp"` or `"unix"`.
pub fn transport(t: &Target) -> &'static str {
    match (t, crate::tls_client::enabled()) {
        (Target::Tcp(_), false) => "tcp",
        (Target::Unix(_), false) => "unix",
        (Target::Tcp(_), true) => "tcp+tls",
        (Target::Unix(_), true) => "unix+tls",
    }
}
