//! [`TimerWheel`]: a hashed timing wheel for a shard's timeouts.

/// No entry (end of a list).
const NIL: u32 = u32::MAX;

/// Default tick: 1 ms.
pub const DEFAULT_TICK_MS: u64 = 1;
/// Default number of slots: 1024 (one revolution = 1.024 s at 1 ms ticks).
pub const DEFAULT_SLOTS: usize = 1024;

/// Names an armed timer. Generation-checked: once the timer fired or was cancelled, its id
/// never matches again, even after the wheel reuses the memory for another timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    generation: u32,
}

#[derive(Debug)]
struct Entry<K> {
    /// `None` while the entry is free.
    key: Option<K>,
    /// The tick at which the timer fires.
    tick: u64,
    /// Bumped every time the entry is freed.
    generation: u32,
    /// Neighbours in the slot's list (`next` links the free list while free).
    prev: u32,
    next: u32,
    /// Whether the timer is due within one revolution and counted in its slot's `due`.
    counted: bool,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    head: u32,
    /// Entries of this slot due within one revolution of the cursor.
    due: u32,
}

/// Per-shard timers: read, write, idle and dial timeouts, accept backoff.
///
/// Single-threaded, no locking: the shard owns it. Time is a monotonic millisecond counter
/// the caller supplies (a shard uses milliseconds since it started), never read here.
///
/// # Memory layout
///
/// `slots` (a power of two; default [`DEFAULT_SLOTS`]) each head a doubly linked list of
/// entries, threaded through one slab (`Vec`) of entries with a free list, so that arming
/// and cancelling are O(1) without allocation once the slab has grown. A timer due at
/// tick `t` (tick = [`DEFAULT_TICK_MS`] ms unless configured) lives in slot `t % slots`;
/// timers further than one revolution ahead share slots with nearer ones and are skipped
/// until their revolution comes (each entry keeps its absolute tick, not a rounds counter).
///
/// # Precision
///
/// A timer never fires early: [`TimerWheel::expire`] returns it only once `now` has reached
/// its deadline rounded up to a whole tick, so it is late by less than one tick when the
/// driver calls `expire` at [`TimerWheel::next_deadline`]. A timer armed for a tick already
/// processed (delay 0) is overdue: `next_deadline` is then in the past and the next
/// `expire`, whatever its `now`, returns it.
///
/// # Cost
///
/// `arm`, `cancel`, `rearm`: O(1). `expire`: the slots between the previous call and `now`
/// (at most one revolution), plus the entries in them; every timer is visited about once per
/// revolution while it waits, so 50,000 long timers cost ~50,000 cheap visits per second at
/// the default 1 ms × 1024. `next_deadline`: a scan of one bit per slot. Each slot knows how
/// many of its timers are due within the current revolution (one bit per slot says whether
/// any is), so the deadline is exact; with none due within a revolution, it is the end of the
/// revolution, i.e. an idle shard with only long timers wakes about once per second.
#[derive(Debug)]
pub struct TimerWheel<K> {
    tick_ms: u64,
    /// `slots.len() - 1`.
    mask: u64,
    slots: Vec<Slot>,
    /// One bit per slot: `due > 0`.
    occupied: Vec<u64>,
    entries: Vec<Entry<K>>,
    free: u32,
    /// Head of the list of overdue timers: armed for a tick already processed (delay 0, or
    /// a deadline inside the tick just expired). They fire at the next `expire`.
    overdue: u32,
    /// The next tick to process: every tick below it has been processed.
    cursor: u64,
    len: usize,
}

impl<K> Default for TimerWheel<K> {
    fn default() -> Self {
        TimerWheel::new()
    }
}

impl<K> TimerWheel<K> {
    /// A wheel with 1 ms ticks and 1024 slots.
    pub fn new() -> Self {
        TimerWheel::with_resolution(DEFAULT_TICK_MS, DEFAULT_SLOTS)
    }

    /// A wheel with `tick_ms`-millisecond ticks (at least 1) and `slots` slots (rounded up
    /// to a power of two, kept within 64..=65536). Coarser ticks mean fewer wake-ups and
    /// later firing; more slots mean fewer visits of long timers and more memory (8 bytes
    /// per slot).
    pub fn with_resolution(tick_ms: u64, slots: usize) -> Self {
        let n = slots.clamp(64, 1 << 16).next_power_of_two();
        TimerWheel {
            tick_ms: tick_ms.max(1),
            mask: n as u64 - 1,
            slots: vec![Slot { head: NIL, due: 0 }; n],
            occupied: vec![0; n / 64],
            entries: Vec::new(),
            free: NIL,
            overdue: NIL,
            cursor: 0,
            len: 0,
        }
    }

    /// The tick length in milliseconds.
    pub fn tick_ms(&self) -> u64 {
        self.tick_ms
    }

    /// Timers armed and not yet fired or cancelled.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn revolution(&self) -> u64 {
        self.mask + 1
    }

    /// Arms a timer that fires `delay_ms` after `now_ms` (0: at the next
    /// [`TimerWheel::expire`]), yielding `key` then.
    pub fn arm(&mut self, now_ms: u64, delay_ms: u64, key: K) -> TimerId {
        if self.len == 0 {
            // Nothing waits: skip the ticks in between instead of walking them later.
            self.cursor = self.cursor.max(now_ms / self.tick_ms);
        }
        let index = match self.free {
            NIL => {
                debug_assert!(self.entries.len() < NIL as usize);
                self.entries.push(Entry {
                    key: None,
                    tick: 0,
                    generation: 0,
                    prev: NIL,
                    next: NIL,
                    counted: false,
                });
                (self.entries.len() - 1) as u32
            }
            i => {
                self.free = self.entries[i as usize].next;
                i
            }
        };
        self.entries[index as usize].key = Some(key);
        self.len += 1;
        self.place(index, now_ms, delay_ms);
        TimerId {
            index,
            generation: self.entries[index as usize].generation,
        }
    }

    /// Cancels a timer: its key if it was still armed, `None` if it already fired, was
    /// cancelled, or `id` is stale.
    pub fn cancel(&mut self, id: TimerId) -> Option<K> {
        if !self.is_armed(id) {
            return None;
        }
        Some(self.release(id.index))
    }

    /// Moves an armed timer to fire `delay_ms` after `now_ms`, keeping its id. `false` if
    /// `id` is not armed (nothing changes).
    pub fn rearm(&mut self, id: TimerId, now_ms: u64, delay_ms: u64) -> bool {
        if !self.is_armed(id) {
            return false;
        }
        self.unlink(id.index);
        self.place(id.index, now_ms, delay_ms);
        true
    }

    /// Whether `id` names a timer that is still armed.
    pub fn is_armed(&self, id: TimerId) -> bool {
        self.entries
            .get(id.index as usize)
            .is_some_and(|e| e.generation == id.generation && e.key.is_some())
    }

    /// The time (same clock as `now_ms`) at which [`TimerWheel::expire`] has something to
    /// return, or `None` with no timer armed. Exact for timers due within one revolution;
    /// otherwise the end of the current revolution (an early wake-up that finds nothing).
    /// May be in the past: then call `expire` without waiting.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        if self.overdue != NIL {
            // Due at a tick already processed: no later than the last `now` seen.
            return Some((self.cursor - 1).saturating_mul(self.tick_ms));
        }
        let start = (self.cursor & self.mask) as usize;
        let ticks_ahead = match self.first_occupied(start) {
            Some(slot) => (slot as u64).wrapping_sub(start as u64) & self.mask,
            None => self.mask,
        };
        Some(
            self.cursor
                .saturating_add(ticks_ahead)
                .saturating_mul(self.tick_ms),
        )
    }

    /// Appends the keys of every timer due at `now_ms` to `out` (in tick order; within one
    /// tick in no particular order) and returns how many. Timers armed before and due by
    /// now are never left behind, however long since the last call.
    pub fn expire(&mut self, now_ms: u64, out: &mut Vec<K>) -> usize {
        let mut fired = 0;
        while self.overdue != NIL {
            out.push(self.release(self.overdue));
            fired += 1;
        }
        let target = now_ms / self.tick_ms;
        if target < self.cursor {
            return fired;
        }
        let new_cursor = target + 1;
        if self.len == 0 {
            self.cursor = new_cursor;
            return fired;
        }
        let window_end = new_cursor.saturating_add(self.revolution());
        // After a long pause every slot is visited once, not every missed tick.
        let first = self
            .cursor
            .max(new_cursor.saturating_sub(self.revolution()));
        for tick in first..=target {
            let s = (tick & self.mask) as usize;
            let mut i = self.slots[s].head;
            while i != NIL {
                let entry = &mut self.entries[i as usize];
                let next = entry.next;
                if entry.tick <= target {
                    out.push(self.release(i));
                    fired += 1;
                } else if !entry.counted && entry.tick < window_end {
                    entry.counted = true;
                    self.slots[s].due += 1;
                    self.set_occupied(s);
                }
                i = next;
            }
        }
        self.cursor = new_cursor;
        fired
    }

    /// Sets the entry's tick from `now_ms + delay_ms` and links it into its slot.
    /// An entry is in the overdue list iff its tick is below the cursor; otherwise it is in
    /// slot `tick % slots`.
    fn head_of(&mut self, tick: u64) -> &mut u32 {
        if tick < self.cursor {
            &mut self.overdue
        } else {
            &mut self.slots[(tick & self.mask) as usize].head
        }
    }

    fn place(&mut self, index: u32, now_ms: u64, delay_ms: u64) {
        let deadline = now_ms.saturating_add(delay_ms);
        let tick = deadline.div_ceil(self.tick_ms);
        let s = (tick & self.mask) as usize;
        let counted = tick >= self.cursor && tick < self.cursor.saturating_add(self.revolution());
        let head = std::mem::replace(self.head_of(tick), index);
        let entry = &mut self.entries[index as usize];
        entry.tick = tick;
        entry.counted = counted;
        entry.prev = NIL;
        entry.next = head;
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        if counted {
            self.slots[s].due += 1;
            self.set_occupied(s);
        }
    }

    /// Unlinks an armed entry from its slot (and its slot's count).
    fn unlink(&mut self, index: u32) {
        let Entry {
            tick,
            prev,
            next,
            counted,
            ..
        } = self.entries[index as usize];
        let s = (tick & self.mask) as usize;
        match prev {
            NIL => *self.head_of(tick) = next,
            p => self.entries[p as usize].next = next,
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if counted {
            self.slots[s].due -= 1;
            if self.slots[s].due == 0 {
                self.occupied[s / 64] &= !(1 << (s % 64));
            }
        }
    }

    /// Unlinks and frees an armed entry, returning its key.
    fn release(&mut self, index: u32) -> K {
        self.unlink(index);
        let free = self.free;
        let entry = &mut self.entries[index as usize];
        entry.generation = entry.generation.wrapping_add(1);
        entry.next = free;
        self.free = index;
        self.len -= 1;
        entry.key.take().expect("an armed entry has a key")
    }

    fn set_occupied(&mut self, s: usize) {
        self.occupied[s / 64] |= 1 << (s % 64);
    }

    /// The first slot with timers due this revolution, searching from `start` around.
    fn first_occupied(&self, start: usize) -> Option<usize> {
        let words = self.occupied.len();
        let (w0, b0) = (start / 64, start % 64);
        let low_bits = (1u64 << b0) - 1;
        for i in 0..=words {
            let w = (w0 + i) % words;
            let bits = match i {
                0 => self.occupied[w] & !low_bits,
                _ if i == words => self.occupied[w] & low_bits,
                _ => self.occupied[w],
            };
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        let n = w.expire(now, &mut out);
        assert_eq!(n, out.len());
        out.sort_unstable();
        out
    }

    #[test]
    fn fires_at_the_deadline_never_before() {
        let mut w = TimerWheel::new();
        w.arm(100, 10, 1);
        assert_eq!(w.next_deadline(), Some(110));
        assert!(fired(&mut w, 109).is_empty());
        assert_eq!(fired(&mut w, 110), [1]);
        assert!(w.is_empty() && w.next_deadline().is_none());
    }

    #[test]
    fn zero_delay_fires_at_the_next_expire() {
        let mut w = TimerWheel::new();
        w.arm(5, 0, 7);
        assert_eq!(fired(&mut w, 5), [7]);
        // Armed for a tick that was already processed: due at once, fires next time,
        // even with the same `now`.
        let id = w.arm(5, 0, 8);
        assert_eq!(w.next_deadline(), Some(5));
        assert_eq!(fired(&mut w, 5), [8]);
        // Overdue timers can be cancelled and rearmed like any other.
        let a = w.arm(5, 0, 9);
        assert_eq!(w.cancel(a), Some(9));
        let b = w.arm(5, 0, 10);
        assert!(w.rearm(b, 5, 3));
        assert_eq!(w.next_deadline(), Some(8));
        assert_eq!(fired(&mut w, 8), [10]);
        assert_eq!(w.cancel(id), None);
    }

    #[test]
    fn cancel_before_and_after_firing() {
        let mut w = TimerWheel::new();
        let a = w.arm(0, 5, 1);
        let b = w.arm(0, 5, 2);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.len(), 1);
        assert_eq!(fired(&mut w, 5), [2]);
        assert_eq!(w.cancel(b), None, "cancel after fire");
        assert!(!w.is_armed(b));
    }

    #[test]
    fn stale_id_does_not_cancel_the_slot_reuser() {
        let mut w = TimerWheel::new();
        let a = w.arm(0, 5, 1);
        w.cancel(a);
        let b = w.arm(0, 5, 2); // reuses a's entry
        assert_ne!(a, b);
        assert_eq!(w.cancel(a), None);
        assert!(!w.rearm(a, 0, 1));
        assert!(w.is_armed(b));
    }

    #[test]
    fn rearm_moves_the_deadline_and_keeps_the_id() {
        let mut w = TimerWheel::new();
        let a = w.arm(0, 10, 1);
        w.arm(0, 20, 2);
        assert!(w.rearm(a, 5, 30));
        assert_eq!(w.next_deadline(), Some(20));
        assert_eq!(fired(&mut w, 20), [2]);
        assert!(fired(&mut w, 34).is_empty());
        assert_eq!(fired(&mut w, 35), [1]);
        assert_eq!(w.cancel(a), None);
    }

    #[test]
    fn next_deadline_follows_cancellation() {
        let mut w = TimerWheel::new();
        let a = w.arm(0, 3, 1);
        w.arm(0, 700, 2);
        assert_eq!(w.next_deadline(), Some(3));
        w.cancel(a);
        assert_eq!(w.next_deadline(), Some(700));
    }

    #[test]
    fn a_long_pause_fires_everything_due_once() {
        let mut w = TimerWheel::with_resolution(1, 64);
        for i in 0..500u32 {
            w.arm(0, u64::from(i) * 7, i);
        }
        let due = fired(&mut w, 2000); // 2000 / 7 = 285.7
        assert_eq!(due, (0..=285).collect::<Vec<_>>());
        assert_eq!(w.len(), 500 - 286);
        assert_eq!(w.next_deadline(), Some(286 * 7));
    }

    #[test]
    fn coarse_ticks_round_up_never_early() {
        let mut w = TimerWheel::with_resolution(10, 64);
        assert_eq!(w.tick_ms(), 10);
        w.arm(0, 11, 1);
        assert_eq!(w.next_deadline(), Some(20));
        assert!(fired(&mut w, 19).is_empty());
        assert_eq!(fired(&mut w, 20), [1]);
    }

    #[test]
    fn huge_delays_do_not_overflow() {
        let mut w = TimerWheel::new();
        let id = w.arm(u64::MAX - 5, u64::MAX, 1);
        assert!(w.next_deadline().is_some());
        assert!(fired(&mut w, 1_000_000).is_empty());
        assert_eq!(w.cancel(id), Some(1));
    }

    #[test]
    fn resolution_is_clamped() {
        let w: TimerWheel<()> = TimerWheel::with_resolution(0, 100);
        assert_eq!(w.tick_ms(), 1);
        assert_eq!(w.slots.len(), 128);
        let d: TimerWheel<()> = TimerWheel::default();
        assert_eq!(d.slots.len(), DEFAULT_SLOTS);
    }
}
