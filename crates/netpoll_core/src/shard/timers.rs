//! A shard's timers: dial timeouts and retries, read, write and idle timeouts, and accept
//! backoff.

use super::conn::ConnState;
use super::{Shard, CLOSE_LINGER_MS};
use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId, TimeoutKind};
use crate::sys;
use crate::timer::TimerId;

/// What a timer of the shard's wheel is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerKey {
    Dial(ConnId),
    /// The next try of a Unix connect whose listener's backlog was full.
    DialRetry(ConnId),
    Read(ConnId),
    Write(ConnId),
    Idle(ConnId),
    AcceptBackoff(ListenerId),
    /// A TLS handshake took longer than its `handshakeTimeout`.
    Handshake(ConnId),
}

impl Shard {
    pub(super) fn arm(&mut self, delay_ms: u64, key: TimerKey) -> TimerId {
        let now = self.now_ms();
        self.timers.arm(now, delay_ms, key)
    }

    /// Arms (or re-arms) the read timeout of `id`: unless [`Shard::cancel_read_timeout`]
    /// is called first, [`EventSink::timeout`] with [`TimeoutKind::Read`] is reported after
    /// `ms` milliseconds. The owner arms it while a read waits for bytes.
    pub fn arm_read_timeout(&mut self, id: ConnId, ms: u64) {
        self.cancel_read_timeout(id);
        if self.conns.get_mut(id).is_none() {
            return;
        }
        let timer = self.arm(ms, TimerKey::Read(id));
        self.conns.get_mut(id).expect("live").read_timer = Some(timer);
    }

    /// Cancels the read timeout of `id`, if armed.
    pub fn cancel_read_timeout(&mut self, id: ConnId) {
        if let Some(t) = self.conns.get_mut(id).and_then(|c| c.read_timer.take()) {
            self.timers.cancel(t);
        }
    }

    /// Sets the idle timeout of `id` (0 = none): after `ms` without a byte read or written,
    /// the connection is reported with [`TimeoutKind::Idle`] and closed with
    /// `ERR_IDLE_TIMEOUT`.
    pub fn set_idle_timeout(&mut self, id: ConnId, ms: u64) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.idle_ms = ms;
        if let Some(t) = conn.idle_timer.take() {
            self.timers.cancel(t);
        }
        if ms > 0 {
            let timer = self.arm(ms, TimerKey::Idle(id));
            self.conns.get_mut(id).expect("live").idle_timer = Some(timer);
        }
    }

    /// Sets the write timeout of `id` (0 = none): when queued output makes no progress for
    /// `ms` — no byte written to the socket, and none taken by the peer from the socket's
    /// buffers — the connection is reported with [`TimeoutKind::Write`] and closed with
    /// `ERR_WRITE_TIMEOUT`. A slow peer that keeps reading is not timed out, however long
    /// its output takes; one that stops is cut within a quarter of `ms` after the timeout.
    pub fn set_write_timeout(&mut self, id: ConnId, ms: u64) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.write_ms = ms;
        if ms > 0 && conn.write_timer.is_none() && conn.output_pending() {
            // Output is queued already: the period counts from now.
            self.arm_write_timer(id, ms);
        }
    }

    /// Starts the write timer of `id` (live, with output queued): its period of no progress
    /// counts from now.
    pub(super) fn arm_write_timer(&mut self, id: ConnId, ms: u64) {
        let now = self.now_ms();
        let conn = self.conns.get_mut(id).expect("live");
        conn.write_progress = now;
        conn.kernel_unsent = sys::unsent_bytes(&conn.stream).unwrap_or(0);
        let timer = self.arm(ms, TimerKey::Write(id));
        self.conns.get_mut(id).expect("live").write_timer = Some(timer);
    }

    pub(super) fn expire_timers(&mut self, sink: &mut dyn EventSink) {
        let now = self.now_ms();
        let mut due = Vec::new();
        self.timers.expire(now, &mut due);
        for key in due {
            match key {
                TimerKey::AcceptBackoff(id) => self.end_backoff(id),
                TimerKey::Dial(id) => {
                    if let Some(conn) = self.conns.get_mut(id) {
                        conn.dial_timer = None;
                        self.discard(id);
                        self.stats.events += 1;
                        // As a blocking connect that timed out reports it: errno, syscall.
                        let e = std::io::Error::from_raw_os_error(libc::ETIMEDOUT);
                        sink.connected(id, Err(NetError::from_io(&e, "connect")));
                    }
                }
                TimerKey::DialRetry(id) => self.retry_dial(id, sink),
                TimerKey::Read(id) => {
                    if let Some(conn) = self.conns.get_mut(id) {
                        conn.read_timer = None;
                        self.stats.events += 1;
                        sink.timeout(id, TimeoutKind::Read);
                    }
                }
                TimerKey::Write(id) => self.write_expired(id, now, sink),
                TimerKey::Idle(id) => self.idle_expired(id, now, sink),
                TimerKey::Handshake(id) => self.handshake_expired(id, sink),
            }
        }
    }

    /// The write timer of `id` fired: closes it if its output made no progress for a whole
    /// period (the write timeout, or the close linger of a connection its owner closed),
    /// else waits for the rest of the period counted from the last progress.
    fn write_expired(&mut self, id: ConnId, now: u64, sink: &mut dyn EventSink) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.write_timer = None;
        let closing = conn.state == ConnState::Closing;
        let period = match conn.write_ms {
            0 if closing => CLOSE_LINGER_MS,
            ms => ms,
        };
        if period == 0 || !conn.output_pending() {
            return; // the timeout was turned off, or the output left meanwhile
        }
        // The peer took bytes out of the kernel since the last look: that is progress too,
        // though no room for more of ours opened yet (a slow reader behind large buffers).
        if let Ok(unsent) = sys::unsent_bytes(&conn.stream) {
            if unsent < conn.kernel_unsent {
                conn.write_progress = now;
            }
            conn.kernel_unsent = unsent;
        }
        let stalled_for = now.saturating_sub(conn.write_progress);
        if stalled_for < period {
            // Looked at again within a quarter period: a peer that stops is cut at most a
            // quarter period after the timeout.
            let next = (period - stalled_for).min((period / 4).max(1));
            let timer = self.arm(next, TimerKey::Write(id));
            self.conns.get_mut(id).expect("live").write_timer = Some(timer);
            return;
        }
        if closing {
            // Its owner closed it and expects no report: give up on the output quietly.
            self.discard(id);
            return;
        }
        let unsent = conn.output_len;
        self.stats.events += 1;
        sink.timeout(id, TimeoutKind::Write);
        let e = NetError::new(
            "ERR_WRITE_TIMEOUT",
            format!("write timed out with {unsent} bytes unsent"),
        );
        self.fail(id, Some(e), sink);
    }

    fn idle_expired(&mut self, id: ConnId, now: u64, sink: &mut dyn EventSink) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.idle_timer = None;
        let idle_for = now.saturating_sub(conn.last_activity);
        if idle_for < conn.idle_ms {
            // Activity since the timer was armed: wait for the rest of the period only.
            let rest = conn.idle_ms - idle_for;
            let timer = self.arm(rest, TimerKey::Idle(id));
            self.conns.get_mut(id).expect("live").idle_timer = Some(timer);
            return;
        }
        self.stats.events += 1;
        sink.timeout(id, TimeoutKind::Idle);
        let e = NetError::new("ERR_IDLE_TIMEOUT", "the connection was idle too long");
        self.fail(id, Some(e), sink);
    }
}
