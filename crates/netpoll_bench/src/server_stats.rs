//! The server's CPU time and resident memory from `/proc` (Linux), and the load generator's
//! own CPU time, sampled at the start and end of a measurement.

use std::fs;

/// One sample of a server process.
#[derive(Clone, Copy, Debug)]
pub struct ServerSample {
    /// User + system CPU time of the whole process (all its threads, `/proc/PID/stat` fields
    /// 14 and 15), in seconds; the kernel counts it in clock ticks (usually 10 ms).
    pub cpu_s: f64,
    /// Resident set size (`VmRSS` of `/proc/PID/status`), in bytes.
    pub rss: u64,
    /// Number of threads (`/proc/PID/stat` field 20).
    pub threads: u64,
}

/// Samples process `pid`; `None` where `/proc` is missing (macOS) or the process is gone.
pub fn sample(pid: u32) -> Option<ServerSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count fields after its closing ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field n is fields[n - 3].
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    let threads = fields.get(17)?.parse().ok()?;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Some(ServerSample {
        cpu_s: ticks as f64 / hz,
        rss: rss_kb * 1024,
        threads,
    })
}

/// User + system CPU time of this process so far, in seconds.
pub fn own_cpu_s() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Sends `SIGUSR2` to `pid` (the echo servers answer with a line of memory statistics on
/// their stdout). Returns whether the signal was delivered.
pub fn signal_stats(pid: u32) -> bool {
    // SAFETY: kill has no memory preconditions; a wrong pid only yields an error.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGUSR2) == 0 }
}

/// The change between two samples of the same server.
#[derive(Clone, Copy, Debug)]
pub struct ServerDelta {
    /// CPU seconds spent between the samples.
    pub cpu_s: f64,
    /// RSS at the first sample, bytes.
    pub rss_before: u64,
    /// RSS at the second sample, bytes.
    pub rss_after: u64,
    /// Threads at the second sample.
    pub threads: u64,
}

impl ServerDelta {
    /// The delta from `a` to `b`, when both exist.
    pub fn between(a: Option<ServerSample>, b: Option<ServerSample>) -> Option<ServerDelta> {
        let (a, b) = (a?, b?);
        Some(ServerDelta {
            cpu_s: b.cpu_s - a.cpu_s,
            rss_before: a.rss,
            rss_after: b.rss,
            threads: b.threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process_on_linux() {
        if !std::path::Path::new("/proc/self/stat").exists() {
            return;
        }
        let s = sample(std::process::id()).expect("own /proc entry");
        assert!(s.rss > 0 && s.threads >= 1);
    }
}
