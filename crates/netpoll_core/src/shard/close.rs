//! How a connection leaves its shard: closed by its owner (reporting nothing, lingering while
//! its output drains), failed (reported to whoever waits for it), or cut at shutdown.

use super::conn::{Conn, ConnState};
use super::{Shard, CLOSE_LINGER_MS};
use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId};

impl Shard {
    /// Closes `id` at once, by its owner's wish: reports nothing. Output still queued is
    /// written first (bounded by the write timeout) unless `abort` is set.
    pub fn close(&mut self, id: ConnId, abort: bool) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !abort && conn.tls.is_some() && conn.state == ConnState::Open {
            // close_notify before the FIN; a socket error here ends the connection anyway.
            if self.tls_close_notify(id).is_err() {
                self.discard(id);
                return;
            }
        }
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if abort || !conn.output_pending() || conn.state == ConnState::Connecting {
            self.discard(id);
            return;
        }
        if conn.state == ConnState::Closing {
            return; // closed already, and lingering
        }
        conn.state = ConnState::Closing;
        conn.read_paused = true;
        self.lingering += 1;
        let linger = if conn.write_ms > 0 {
            conn.write_ms
        } else {
            CLOSE_LINGER_MS
        };
        let rearm = conn.write_timer.is_none();
        let timers: Vec<_> = [conn.idle_timer.take(), conn.read_timer.take()]
            .into_iter()
            .flatten()
            .collect();
        for t in timers {
            self.timers.cancel(t);
        }
        if rearm {
            self.arm_write_timer(id, linger);
        }
    }

    /// Frees the slot of `id` and cancels its timers; the socket closes when the returned
    /// connection drops (every caller drops it). Closing the descriptor removes it from the
    /// poll set (epoll and kqueue drop a closed descriptor's registrations), so no deregister
    /// call is spent; an event already collected for it carries the old generation and is
    /// ignored.
    pub(super) fn discard(&mut self, id: ConnId) -> Option<Conn> {
        let mut conn = self.conns.remove(id)?;
        if conn.direct {
            self.direct -= 1;
            self.release_direct(id);
        }
        if conn.state == ConnState::Closing {
            self.lingering -= 1;
        }
        for t in conn.take_timers() {
            self.timers.cancel(t);
        }
        self.stats.bytes_queued = self.stats.bytes_queued.saturating_sub(conn.output_len);
        self.ready_conns.retain(|c| *c != id);
        Some(conn)
    }

    /// Closes `id` because of `error` (or a clean end when `None`) and reports it: as the
    /// failed result of its dial if it was still connecting (a dial's owner knows it only
    /// by that result), else as `closed`.
    pub(super) fn fail(&mut self, id: ConnId, error: Option<NetError>, sink: &mut dyn EventSink) {
        let Some(conn) = self.discard(id) else {
            return;
        };
        if let Some(pending) = conn.tls.as_ref().and_then(|t| t.pending) {
            if conn.state == ConnState::Open {
                return self.report_tls_failure(id, pending, error, sink);
            }
        }
        match conn.state {
            ConnState::Closing => {} // its owner closed it already and expects no report
            ConnState::Connecting => {
                self.stats.events += 1;
                let e = error.unwrap_or_else(|| {
                    NetError::new("ERR_CONN_CLOSED", "the connection closed while connecting")
                });
                sink.connected(id, Err(e));
            }
            ConnState::Open => {
                self.stats.events += 1;
                sink.closed(id, error);
            }
        }
    }

    /// Closes every connection and listener at once (shutdown deadline, or teardown),
    /// reporting nothing; returns how many connections were cut.
    pub fn close_all(&mut self) -> usize {
        let ids = self.conns.ids();
        for id in &ids {
            self.discard(*id);
        }
        for i in 0..self.listeners.len() {
            self.remove_listener(ListenerId(i as u32));
        }
        ids.len()
    }
}
