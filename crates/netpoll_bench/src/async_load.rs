//! The clock and tally of the request/response modes written as async tasks (`http1`, `h2`,
//! `grpc`): a current-thread tokio runtime on this one thread, the workers set up first (every
//! connection open), then the same warm-up + measurement as the mio modes ([`Phase`]).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::histogram::Histogram;
use crate::phase::Phase;
use crate::report::Report;
use crate::target::Target;

/// Longest time to open every connection.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What the workers count: answered requests (while measuring) and lost connections.
#[derive(Default)]
pub struct Tally {
    hist: Histogram,
    completed: u64,
    /// Connections lost to an error or an unexpected close.
    pub errors: u64,
    measuring: bool,
}

impl Tally {
    /// One verified answer, `started` when its request was sent.
    pub fn done(&mut self, started: Instant) {
        if self.measuring {
            self.hist.record(started.elapsed().as_nanos() as u64);
            self.completed += 1;
        }
    }

    /// A connection failed (printed once per connection on stderr).
    pub fn lost(&mut self, what: &str) {
        if self.errors < 5 {
            eprintln!("netpoll-bench: connection lost: {what}");
        }
        self.errors += 1;
    }
}

/// The shared tally.
pub type Shared = Rc<RefCell<Tally>>;

/// A worker: runs requests until the runtime is dropped.
pub type Worker = Pin<Box<dyn Future<Output = ()>>>;

/// A timed run.
pub struct Timing {
    /// Load before the measurement.
    pub warmup: Duration,
    /// Length of the measurement.
    pub duration: Duration,
    /// The server process to sample, if known.
    pub server_pid: Option<u32>,
}

/// Runs `setup` (which opens every connection and returns one worker per request slot), then
/// the workers for the warm-up and the measurement; fills `report` with the counts, latency
/// and server figures (`cpu_per_req_us`) and prints it.
pub fn run<S, F>(timing: &Timing, mut report: Report, setup: S) -> Result<(), String>
where
    S: FnOnce(Shared) -> F,
    F: Future<Output = Result<Vec<Worker>, String>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let tally: Shared = Rc::default();
    local.block_on(&rt, async {
        let workers = tokio::time::timeout(SETUP_TIMEOUT, setup(tally.clone()))
            .await
            .map_err(|_| format!("setup took over {SETUP_TIMEOUT:?}"))??;
        if tally.borrow().errors > 0 {
            return Err("connections failed while opening".to_string());
        }
        for w in workers {
            tokio::task::spawn_local(w);
        }
        let mut phase = Phase::new(timing.warmup, timing.duration, timing.server_pid);
        tokio::time::sleep_until(phase.next_deadline().into()).await;
        phase.begin_if_due(Instant::now());
        {
            let mut t = tally.borrow_mut();
            t.hist.reset();
            t.completed = 0;
            t.measuring = true;
        }
        tokio::time::sleep_until(phase.next_deadline().into()).await;
        let mut t = tally.borrow_mut();
        t.measuring = false;
        let (server, client_cpu_s) = phase.finish();
        let secs = timing.duration.as_secs_f64();
        report
            .num("duration_s", secs)
            .int("requests", t.completed)
            .num("qps", t.completed as f64 / secs)
            .latency("", &t.hist)
            .int("errors", t.errors)
            .server(server, "cpu_per_req_us", t.completed)
            .num("client_cpu_s", client_cpu_s);
        Ok(())
    })?;
    report.print();
    Ok(())
}

/// A TCP connection to `target` with `TCP_NODELAY` (Unix sockets are not used by these modes).
pub async fn connect(target: &Target) -> Result<tokio::net::TcpStream, String> {
    let Target::Tcp(addr) = target else {
        return Err("this mode needs a tcp:// target".into());
    };
    let s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok(s)
}
