//! The clock of a measured run: a warm-up, then `duration` of measurement whose start samples
//! the server's and this process's CPU time.

use std::time::{Duration, Instant};

use crate::server_stats::{own_cpu_s, sample, ServerDelta, ServerSample};

/// Warm-up, then measurement (see the module docs).
pub struct Phase {
    warm_end: Instant,
    duration: Duration,
    start: Option<Instant>,
    server_pid: Option<u32>,
    server0: Option<ServerSample>,
    cpu0: f64,
}

impl Phase {
    /// A run that warms up for `warmup`, then measures for `duration`.
    pub fn new(warmup: Duration, duration: Duration, server_pid: Option<u32>) -> Phase {
        Phase {
            warm_end: Instant::now() + warmup,
            duration,
            start: None,
            server_pid,
            server0: None,
            cpu0: 0.0,
        }
    }

    /// Starts the measurement once the warm-up is over. True on that call only: the caller
    /// resets its counters then.
    pub fn begin_if_due(&mut self, now: Instant) -> bool {
        if self.start.is_some() || now < self.warm_end {
            return false;
        }
        self.server0 = self.server_pid.and_then(sample);
        self.cpu0 = own_cpu_s();
        self.start = Some(Instant::now());
        true
    }

    /// When the measurement started (`None` during the warm-up).
    pub fn start(&self) -> Option<Instant> {
        self.start
    }

    /// Whether `now` falls inside the measurement.
    pub fn measuring_at(&self, now: Instant) -> bool {
        self.start.is_some_and(|s| now < s + self.duration)
    }

    /// Whether the measurement is over at `now`.
    pub fn over(&self, now: Instant) -> bool {
        self.start.is_some_and(|s| now >= s + self.duration)
    }

    /// The end of the warm-up or of the measurement, whichever comes next.
    pub fn next_deadline(&self) -> Instant {
        self.start.map_or(self.warm_end, |s| s + self.duration)
    }

    /// The server's counters over the measurement (sampled now) and this process's CPU
    /// seconds since it started.
    pub fn finish(&self) -> (Option<ServerDelta>, f64) {
        let server = ServerDelta::between(self.server0, self.server_pid.and_then(sample));
        (server, own_cpu_s() - self.cpu0)
    }
}
