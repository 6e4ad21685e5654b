//! Giving memory back once a burst is over: a [`QuietTimer`] tells a driver when its shard has
//! been quiet for a while, and [`release_idle_memory`] then trims the global [`BufferPool`] to
//! its floor and hands the allocator's free pages back to the OS.
//!
//! Measured against rounds of hostile peers (`node scripts/soak.mjs --attack 10`), what a
//! burst leaves behind is the peak of every free list: batch buffers sized by the largest round
//! (see [`Batch::shrink`](crate::batch::Batch::shrink)), pooled buffers, and pages that glibc's
//! malloc keeps in its arenas (one per reactor thread) after the allocations on them are
//! freed. `malloc_trim` returns the free pages inside every arena, but not the free top of a
//! thread's arena: glibc trims that on `free` once it exceeds the trim threshold, which it
//! raises by itself (up to 64 MiB) each time a large mapped block is freed, such as a batch
//! buffer of a burst. So [`QuietTimer::new`] first fixes the thresholds ([`fix_malloc_thresholds`]):
//! measured, the reactor arenas then keep ~0 instead of 10–20 MiB after each round.

use std::time::{Duration, Instant};

use super::BufferPool;

/// How long a shard must be quiet (no event, no command) before its idle memory is released.
pub const QUIET_INTERVAL: Duration = Duration::from_secs(1);

/// Tracks a driver's activity and says when the quiet interval since its last activity has
/// passed. It is due once per burst: after a release it waits for the next activity.
#[derive(Debug)]
pub struct QuietTimer {
    quiet: Duration,
    last_activity: Instant,
    armed: bool,
}

impl QuietTimer {
    /// A timer with `quiet` as the interval; not armed until the first activity. Fixes the
    /// allocator's thresholds (once per process, see [`fix_malloc_thresholds`]).
    pub fn new(quiet: Duration) -> QuietTimer {
        fix_malloc_thresholds();
        QuietTimer {
            quiet,
            last_activity: Instant::now(),
            armed: false,
        }
    }

    /// Records activity now: the interval starts again.
    pub fn activity(&mut self) {
        self.last_activity = Instant::now();
        self.armed = true;
    }

    /// `timeout` shortened so the driver wakes when the interval ends (unchanged when no
    /// release is pending).
    pub fn timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        if !self.armed {
            return timeout;
        }
        let left = self.quiet.saturating_sub(self.last_activity.elapsed());
        Some(timeout.map_or(left, |t| t.min(left)))
    }

    /// Whether the interval has passed since the last activity; true once per burst.
    pub fn due(&mut self) -> bool {
        if self.armed && self.last_activity.elapsed() >= self.quiet {
            self.armed = false;
            return true;
        }
        false
    }
}

/// The mmap and trim thresholds [`fix_malloc_thresholds`] sets: blocks of 1 MiB or more are
/// mapped (and unmapped when freed), and a free arena top over 1 MiB is returned on `free`.
pub const MALLOC_THRESHOLD: usize = 1 << 20;

/// With glibc, sets fixed mmap and trim thresholds of [`MALLOC_THRESHOLD`] (process-wide,
/// once), instead of the dynamic ones that rise with each large block freed and then keep the
/// free tops of thread arenas resident. Does nothing elsewhere.
pub fn fix_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static FIXED: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets allocator parameters, under the allocator's own lock.
        FIXED.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MALLOC_THRESHOLD as libc::c_int);
            libc::mallopt(libc::M_TRIM_THRESHOLD, MALLOC_THRESHOLD as libc::c_int);
        });
    }
}

/// Trims the global [`BufferPool`] to its floor and asks the allocator to return its free
/// pages to the OS (glibc's `malloc_trim`; elsewhere only the pool is trimmed).
pub fn release_idle_memory() {
    BufferPool::global().trim();
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_once_after_the_quiet_interval_since_the_last_activity() {
        let mut t = QuietTimer::new(Duration::from_millis(30));
        assert!(!t.due(), "not armed before any activity");
        assert_eq!(t.timeout(None), None);
        t.activity();
        assert!(!t.due());
        let left = t.timeout(None).expect("armed");
        assert!(left <= Duration::from_millis(30));
        assert_eq!(t.timeout(Some(Duration::ZERO)), Some(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(t.timeout(None), Some(Duration::ZERO));
        assert!(t.due());
        assert!(!t.due(), "once per burst");
        assert_eq!(
            t.timeout(Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
    }
}
