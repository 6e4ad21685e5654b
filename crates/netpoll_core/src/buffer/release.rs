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
//! buffer of a burst. So [`QuietTimer::new`] first fixes the thresholds ([`sys::fix_malloc_thresholds`]):
//! measured, the reactor arenas then keep ~0 instead of 10–20 MiB after each round.

use std::time::{Duration, Instant};

use super::BufferPool;
use crate::sys;

/// How long a shard must be quiet (no event, no command) before its idle memory is released.
pub const QUIET_INTERVAL: Duration = Duration::from_secs(1);

/// Tracks a driver's activity and says when to release: once the quiet interval since its
/// last activity has passed, and again at 4× and 16× that interval (memory the JS side frees
/// only when V8 collects the Buffers it was handed, which V8's memory reducer does some
/// seconds into a quiet period, is returned by a later release), then not until the next
/// activity.
#[derive(Debug)]
pub struct QuietTimer {
    quiet: Duration,
    last_activity: Instant,
    armed: bool,
    /// When, after the last activity, the next release is due.
    next: Duration,
}

/// How many times longer than the interval the last release of a quiet period comes.
const LAST_RELEASE_FACTOR: u32 = 16;

impl QuietTimer {
    /// A timer with `quiet` as the interval; not armed until the first activity. Fixes the
    /// allocator's thresholds (once per process, see [`sys::fix_malloc_thresholds`]).
    pub fn new(quiet: Duration) -> QuietTimer {
        sys::fix_malloc_thresholds();
        QuietTimer {
            quiet,
            last_activity: Instant::now(),
            armed: false,
            next: quiet,
        }
    }

    /// Records activity now: the interval starts again.
    pub fn activity(&mut self) {
        self.last_activity = Instant::now();
        self.armed = true;
        self.next = self.quiet;
    }

    /// `timeout` shortened so the driver wakes when the interval ends (unchanged when no
    /// release is pending).
    pub fn timeout(&self, timeout: Option<Duration>) -> Option<Duration> {
        if !self.armed {
            return timeout;
        }
        let left = self.next.saturating_sub(self.last_activity.elapsed());
        Some(timeout.map_or(left, |t| t.min(left)))
    }

    /// Whether a release is due: true at 1×, 4× and 16× the interval after the last activity.
    pub fn due(&mut self) -> bool {
        if !self.armed || self.last_activity.elapsed() < self.next {
            return false;
        }
        if self.next >= self.quiet * LAST_RELEASE_FACTOR {
            self.armed = false;
        } else {
            self.next *= 4;
        }
        true
    }
}

/// Trims the global [`BufferPool`] to its floor and asks the allocator to return its free
/// pages to the OS ([`sys::trim_allocator`]).
pub fn release_idle_memory() {
    BufferPool::global().trim();
    sys::trim_allocator();
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
        assert!(!t.due(), "the next release comes later");
        std::thread::sleep(Duration::from_millis(90));
        assert!(t.due(), "again at 4x");
        std::thread::sleep(Duration::from_millis(370));
        assert!(t.due(), "and at 16x");
        assert!(!t.due(), "then not until the next activity");
        assert_eq!(
            t.timeout(Some(Duration::from_secs(5))),
            Some(Duration::from_secs(5))
        );
    }
}
