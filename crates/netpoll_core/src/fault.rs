//! Panics: a process-wide count of the panics our code caught, and a test-only switch that
//! injects panics at named sites, to prove that a panic never crosses into JS and that a
//! shard keeps serving after one.
//!
//! Injection is off unless armed with [`arm`]; a disarmed site costs one relaxed atomic
//! load.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

/// A place where a panic can be injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The read path: peer bytes read and turned into batch records.
    Decode = 0,
    /// The write path: output handed to the kernel or queued.
    Write = 1,
    /// The reactor round itself, outside any connection.
    Reactor = 2,
}

impl Site {
    /// Parses `decode`, `write` or `reactor`.
    pub fn parse(name: &str) -> Option<Site> {
        match name {
            "decode" => Some(Site::Decode),
            "write" => Some(Site::Write),
            "reactor" => Some(Site::Reactor),
            _ => None,
        }
    }
}

static ARMED: [AtomicU32; 3] = [AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0)];
static PANICS: AtomicU64 = AtomicU64::new(0);
static HOOK: Once = Once::new();

/// Makes the next `count` passes through `site` panic.
pub fn arm(site: Site, count: u32) {
    ARMED[site as usize].store(count, Ordering::SeqCst);
}

/// Panics if `site` is armed (and counts the shot off).
#[inline]
pub fn check(site: Site) {
    let armed = &ARMED[site as usize];
    if armed.load(Ordering::Relaxed) == 0 {
        return;
    }
    if armed
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        panic!("panic injected at the {site:?} site (fault injection)");
    }
}

/// Installs (once) a panic hook that counts every panic before the previous hook runs (it
/// still prints the message). Every panic of ours is caught where it happens; the count is
/// what `stats()` reports.
pub fn count_panics() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// Panics counted since [`count_panics`] was first called.
pub fn panics() -> u64 {
    PANICS.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_site_panics_exactly_count_times() {
        count_panics();
        let before = panics();
        arm(Site::Reactor, 2);
        for _ in 0..2 {
            assert!(std::panic::catch_unwind(|| check(Site::Reactor)).is_err());
        }
        check(Site::Reactor); // disarmed again
        assert!(panics() >= before + 2);
        assert_eq!(Site::parse("write"), Some(Site::Write));
        assert_eq!(Site::parse("nope"), None);
    }
}
