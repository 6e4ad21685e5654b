//! Idle connections: the server's resident memory per connection.
//!
//! One connection is opened and served first (so lazily created server state is not
//! counted), RSS is sampled, then `n` connections are opened, each sends one 128-byte request
//! and waits for its answer (an idle pooled RPC connection has served requests), and after a
//! settling time RSS is sampled again. With `--heap-signal`, the server is sent `SIGUSR2`
//! right before each sample, while every connection is still open; the echo servers then
//! print their heap statistics, which the orchestrator reads from their stdout.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::conn_set::ConnSet;
use crate::report::Report;
use crate::server_stats::{sample, signal_stats};
use crate::target::Target;

/// Payload of the one request per connection.
const PAYLOAD: usize = 128;

/// An idle-connections run.
pub struct IdlePlan {
    /// The server (framed protocol).
    pub target: Target,
    /// Idle connections to open.
    pub connections: usize,
    /// The server process to sample (required).
    pub server_pid: u32,
    /// Whether to send `SIGUSR2` to the server before each sample.
    pub heap_signal: bool,
    /// Time given to the server to settle, and again to answer the signal, before a sample.
    pub settle: Duration,
}

/// Runs `plan` and prints its report.
pub fn run(plan: &IdlePlan) -> Result<(), String> {
    let mut set = ConnSet::new(plan.target.clone(), PAYLOAD).map_err(|e| e.to_string())?;
    set.open_served(1, Duration::from_secs(10))?;
    let before = measure(plan)?;
    let t = Instant::now();
    set.open_served(plan.connections, Duration::from_secs(120))?;
    let open_s = t.elapsed().as_secs_f64();
    let after = measure(plan)?;
    let n = plan.connections.max(1) as f64;
    let mut r = Report::new("idle");
    r.str("transport", crate::echo::transport(&plan.target))
        .int("connections", plan.connections as u64)
        .num("open_s", open_s)
        .int("rss_before", before)
        .int("rss_after", after)
        .num("rss_per_conn", (after as f64 - before as f64) / n)
        .int("errors", set.errors);
    r.print();
    Ok(())
}

/// Settles, signals the server when asked, and returns its RSS.
fn measure(plan: &IdlePlan) -> Result<u64, String> {
    sleep(plan.settle);
    if plan.heap_signal && !signal_stats(plan.server_pid) {
        return Err(format!("cannot signal process {}", plan.server_pid));
    }
    sleep(plan.settle);
    sample(plan.server_pid)
        .map(|s| s.rss)
        .ok_or_else(|| format!("cannot read /proc/{}", plan.server_pid))
}
