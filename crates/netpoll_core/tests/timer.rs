//! `TimerWheel` at scale (R32: 50k timers) and against a simple model (proptest).

use std::collections::BTreeMap;
use std::time::Instant;

use netpoll_core::timer::{TimerId, TimerWheel};
use proptest::prelude::*;

/// Drives a wheel the way a shard does: sleep until `next_deadline`, then `expire`.
/// Returns (key, fired_at) in firing order and the number of wake-ups.
fn drive(wheel: &mut TimerWheel<u32>, mut now: u64) -> (Vec<(u32, u64)>, usize) {
    let mut fired = Vec::new();
    let mut wakeups = 0;
    let mut out = Vec::new();
    while let Some(deadline) = wheel.next_deadline() {
        now = now.max(deadline);
        wakeups += 1;
        out.clear();
        wheel.expire(now, &mut out);
        fired.extend(out.iter().map(|k| (*k, now)));
    }
    (fired, wakeups)
}

#[test]
fn fifty_thousand_idle_timers_fire_on_time_and_cheaply() {
    const N: u32 = 50_000;
    let mut wheel = TimerWheel::new();
    let deadline = |i: u32| 1_000 + u64::from(i * 7919 % 60_000); // spread over 60 s
    let started = Instant::now();
    let ids: Vec<TimerId> = (0..N).map(|i| wheel.arm(0, deadline(i), i)).collect();
    assert_eq!(wheel.len(), N as usize);
    // Half see activity and are cancelled (idle timers reset on every request).
    for id in ids.iter().step_by(2) {
        assert!(wheel.cancel(*id).is_some());
    }
    assert_eq!(wheel.len(), (N / 2) as usize);
    let (fired, wakeups) = drive(&mut wheel, 0);
    let elapsed = started.elapsed();

    assert_eq!(fired.len(), (N / 2) as usize);
    for (key, at) in &fired {
        assert_eq!(key % 2, 1, "a cancelled timer fired");
        assert_eq!(*at, deadline(*key), "not at its deadline");
    }
    assert!(fired.windows(2).all(|w| w[0].1 <= w[1].1), "out of order");
    // One wake-up per distinct deadline, plus a few for the first, empty revolution.
    assert!(wakeups <= 25_000 + 5, "{wakeups} wake-ups");
    assert!(wheel.is_empty() && wheel.next_deadline().is_none());
    // Generous even for an unoptimised build on a busy 2-core machine.
    assert!(elapsed.as_secs() < 5, "took {elapsed:?}");
}

#[test]
fn an_idle_wheel_with_only_long_timers_wakes_about_once_per_revolution() {
    let mut wheel = TimerWheel::new();
    for i in 0..1000 {
        wheel.arm(0, 30_000 + i, i as u32);
    }
    let (fired, wakeups) = drive(&mut wheel, 0);
    assert_eq!(fired.len(), 1000);
    // 30 s / 1.024 s revolutions, then one wake-up per deadline.
    assert!(wakeups <= 30 + 1000 + 2, "{wakeups} wake-ups");
}

#[test]
fn delays_beyond_one_revolution_wrap_the_wheel() {
    let mut wheel = TimerWheel::with_resolution(1, 64);
    wheel.arm(0, 64 * 5 + 3, 1); // the same slot as tick 3, five revolutions later
    wheel.arm(0, 3, 2);
    let (fired, wakeups) = drive(&mut wheel, 0);
    assert_eq!(fired, [(2, 3), (1, 64 * 5 + 3)]);
    assert!(wakeups <= 8, "{wakeups} wake-ups");
}

#[derive(Clone, Debug)]
enum Op {
    Arm(u64),
    Cancel(usize),
    Rearm(usize, u64),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..3000).prop_map(Op::Arm),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => (any::<usize>(), 0u64..3000).prop_map(|(i, d)| Op::Rearm(i, d)),
        3 => (0u64..700).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Against a map of key → due tick: `expire` returns exactly the due timers, never an
    /// early one, and `next_deadline` never lies past the earliest due timer.
    #[test]
    fn matches_a_model(tick_ms in 1u64..4, ops in proptest::collection::vec(op(), 1..300)) {
        let mut wheel = TimerWheel::with_resolution(tick_ms, 64);
        let mut model: BTreeMap<u32, (TimerId, u64)> = BTreeMap::new();
        let fire_at = |deadline: u64| deadline.div_ceil(tick_ms) * tick_ms;
        let (mut now, mut next_key) = (0u64, 0u32);
        let mut out = Vec::new();
        for op in ops {
            match op {
                Op::Arm(d) => {
                    let id = wheel.arm(now, d, next_key);
                    model.insert(next_key, (id, fire_at(now + d).max(now)));
                    next_key += 1;
                }
                Op::Cancel(i) if !model.is_empty() => {
                    let key = *model.keys().nth(i % model.len()).unwrap();
                    let (id, _) = model.remove(&key).unwrap();
                    prop_assert_eq!(wheel.cancel(id), Some(key));
                    prop_assert_eq!(wheel.cancel(id), None);
                }
                Op::Rearm(i, d) if !model.is_empty() => {
                    let key = *model.keys().nth(i % model.len()).unwrap();
                    let entry = model.get_mut(&key).unwrap();
                    prop_assert!(wheel.rearm(entry.0, now, d));
                    entry.1 = fire_at(now + d).max(now);
                }
                Op::Advance(ms) => {
                    now += ms;
                    out.clear();
                    wheel.expire(now, &mut out);
                    out.sort_unstable();
                    let due: Vec<u32> = model.iter().filter(|(_, v)| v.1 <= now).map(|(k, _)| *k).collect();
                    model.retain(|_, v| v.1 > now);
                    prop_assert_eq!(&out, &due);
                }
                _ => {}
            }
            prop_assert_eq!(wheel.len(), model.len());
            let earliest = model.values().map(|v| v.1).min();
            match (wheel.next_deadline(), earliest) {
                (None, None) => {}
                (Some(d), Some(e)) => {
                    prop_assert!(d <= e.max(now), "next {} > due {}", d, e);
                    // Within one revolution (64 slots) ahead, the deadline is exact.
                    let ahead = (e / tick_ms).saturating_sub(now / tick_ms);
                    if (1..64).contains(&ahead) {
                        prop_assert_eq!(d, e);
                    }
                }
                (d, e) => prop_assert!(false, "next_deadline {:?} vs model {:?}", d, e),
            }
        }
    }
}
