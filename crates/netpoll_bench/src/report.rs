//! The one JSON line a run prints on stdout, built field by field.

use std::fmt::Write as _;

use crate::histogram::Histogram;
use crate::server_stats::ServerDelta;

/// A flat JSON object whose values are numbers, strings or booleans.
#[derive(Default)]
pub struct Report {
    body: String,
}

impl Report {
    /// An object whose first field is `"mode": mode`.
    pub fn new(mode: &str) -> Self {
        let mut r = Report::default();
        r.str("mode", mode);
        r
    }

    fn key(&mut self, k: &str) {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        let _ = write!(self.body, "\"{k}\":");
    }

    /// A string field (the values written here never need escaping beyond `"` and `\`).
    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
        let _ = write!(self.body, "\"{escaped}\"");
        self
    }

    /// An integer field.
    pub fn int(&mut self, k: &str, v: u64) -> &mut Self {
        self.key(k);
        let _ = write!(self.body, "{v}");
        self
    }

    /// A number field, rounded to 3 decimals; non-finite values become `null`.
    pub fn num(&mut self, k: &str, v: f64) -> &mut Self {
        self.key(k);
        if v.is_finite() {
            let _ = write!(self.body, "{}", (v * 1000.0).round() / 1000.0);
        } else {
            self.body.push_str("null");
        }
        self
    }

    /// `p50_us`, `p90_us`, `p99_us`, `p999_us`, `max_us` (prefixed by `prefix`) from `h`.
    pub fn latency(&mut self, prefix: &str, h: &Histogram) -> &mut Self {
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)] {
            self.num(&format!("{prefix}{name}_us"), h.quantile(q) as f64 / 1e3);
        }
        self.num(&format!("{prefix}max_us"), h.max() as f64 / 1e3)
    }

    /// `server_cpu_s`, `per_unit` (server CPU µs per one of `units`), `rss_before`,
    /// `rss_after`, `server_threads` when the server was sampled.
    pub fn server(&mut self, d: Option<ServerDelta>, per_unit: &str, units: u64) -> &mut Self {
        if let Some(d) = d {
            self.num("server_cpu_s", d.cpu_s);
            self.num(per_unit, d.cpu_s * 1e6 / units.max(1) as f64);
            self.int("rss_before", d.rss_before);
            self.int("rss_after", d.rss_after);
            self.int("server_threads", d.threads);
        }
        self
    }

    /// Prints the object as one line on stdout.
    pub fn print(&self) {
        println!("{{{}}}", self.body);
    }
}
