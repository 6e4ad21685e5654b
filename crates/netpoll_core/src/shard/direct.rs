//! Direct readiness: a busy connection of a nearly idle shard watched by its driver's own
//! poller instead of the shard's `mio::Poll`.
//!
//! The inline engine watches the shard's poll fd from Node's libuv loop, so every wake-up
//! of a connection costs two polls: libuv's `epoll_wait`, then the shard's nested one. With
//! many connections the nested poll is amortized over many events; with one or two busy
//! connections (request/response ping-pong) it is one extra syscall per request. So when a
//! shard holds at most [`DirectHost::max_connections`] connections, a plain connection that
//! has been readable [`PROMOTE_AFTER`] times is handed over: it leaves the shard's poll,
//! and the driver watches its descriptor for readability (level-triggered) and calls
//! [`Shard::direct_readable`]. It stays direct only in the simple steady state (open,
//! reading, nothing queued to write, not TLS); any other state hands it back to the shard's
//! poll ([`Shard::undirect`]), whose edge-triggered registration reports at once whatever
//! is pending, so hang-ups, backpressure and write readiness keep their one code path.

use std::os::fd::{AsRawFd, RawFd};

use mio::Interest;

use super::conn::ConnState;
use super::{conn_token, Shard};
use crate::error::NetError;
use crate::event::{ConnId, EventSink};

/// Readable wake-ups through the shard's poll after which a connection is handed to the
/// driver (a connection that lives for one request is never worth the hand-over's syscalls).
pub const PROMOTE_AFTER: u16 = 32;

/// The driver that watches direct connections (see the module docs).
pub trait DirectHost: Send {
    /// Most connections the shard may hold for a new hand-over.
    fn max_connections(&self) -> usize;
    /// The direct connection `id` is closing: stop watching its descriptor now (it is
    /// still open, and is closed right after this returns).
    fn release(&mut self, id: ConnId);
}

impl Shard {
    /// Lets `host` watch busy connections directly (see the module docs).
    pub fn set_direct_host(&mut self, host: Box<dyn DirectHost>) {
        self.direct_host = Some(host);
    }

    /// Counts a readable wake-up of `id` through the shard's poll; a plain connection that
    /// had enough of them while the shard is nearly idle becomes a candidate.
    pub(super) fn note_readable(&mut self, id: ConnId) {
        let Some(host) = self.direct_host.as_ref() else {
            return;
        };
        let room = self.conns.len() <= host.max_connections();
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        conn.wakes = conn.wakes.saturating_add(1);
        if room && conn.wakes == PROMOTE_AFTER && conn.tls.is_none() {
            self.direct_candidates.push(id);
        }
    }

    /// Connections ready to be handed to the driver, with their descriptors: each has left
    /// the shard's poll already, and the driver must watch it for readability and call
    /// [`Shard::direct_readable`] (or hand it back with [`Shard::undirect`]).
    pub fn take_direct(&mut self) -> Vec<(ConnId, RawFd)> {
        let mut out = Vec::new();
        for id in std::mem::take(&mut self.direct_candidates) {
            if !self.direct_steady(id) {
                continue;
            }
            let conn = self.conns.get_mut(id).expect("steady means live");
            if self.poll.registry().deregister(&mut conn.stream).is_err() {
                continue;
            }
            conn.direct = true;
            self.direct += 1;
            out.push((id, conn.stream.as_raw_fd()));
        }
        out
    }

    /// Whether the direct (or candidate) connection `id` is in the state a direct
    /// connection may stay in: open, reading, nothing queued, not TLS.
    pub fn direct_steady(&mut self, id: ConnId) -> bool {
        self.conns.get_mut(id).is_some_and(|c| {
            c.state == ConnState::Open
                && !c.read_paused
                && !c.read_closed
                && !c.read_held
                && !c.output_pending()
                && c.tls.is_none()
        })
    }

    /// Hands the direct connection `id` back to the shard's poll (the driver stopped
    /// watching it). Its edge-triggered registration reports what is pending at once; a
    /// failed registration closes it with the error, reported by the next round (due at once:
    /// see [`Shard::has_ready_work`]).
    pub fn undirect(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !conn.direct {
            return;
        }
        conn.direct = false;
        conn.wakes = 0;
        self.direct -= 1;
        let interest = Interest::READABLE | Interest::WRITABLE;
        let registered = self
            .poll
            .registry()
            .register(&mut conn.stream, conn_token(id), interest);
        match registered {
            // Bytes may wait that the edge of the registration already covered: look now.
            Ok(()) => self.ready_conns.push(id),
            // Reported by the next round (`report_direct_failures`), which is due at once.
            Err(e) => self
                .direct_failed
                .push((id, NetError::from_io(&e, "epoll_ctl"))),
        }
    }

    /// Closes the connections whose hand-back failed, reporting the error.
    pub(super) fn report_direct_failures(&mut self, sink: &mut dyn EventSink) {
        for (id, error) in std::mem::take(&mut self.direct_failed) {
            self.fail(id, Some(error), sink);
        }
    }

    /// The driver saw the direct connection `id` readable: reads it as a readiness event
    /// of the shard's poll would. Returns the number of events reported.
    pub fn direct_readable(&mut self, id: ConnId, sink: &mut dyn EventSink) -> u64 {
        let before = self.stats.events;
        if self.conns.get_mut(id).is_some_and(|c| c.direct) {
            self.current = Some(id);
            self.read_ready(id, sink);
            self.current = None;
        }
        self.report_direct_failures(sink);
        self.stats.events - before
    }

    /// Tells the driver that the direct connection being discarded closes.
    pub(super) fn release_direct(&mut self, id: ConnId) {
        if let Some(host) = self.direct_host.as_mut() {
            host.release(id);
        }
    }
}
