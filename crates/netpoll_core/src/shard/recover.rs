//! Carrying on after a panic was caught while the shard ran (a bug, or an injected fault:
//! see [`crate::fault`]): the connection being served is closed with an error, and nothing
//! is left waiting for a readiness edge the panic swallowed.

use std::panic::{catch_unwind, AssertUnwindSafe};

use mio::Events;

use super::{Shard, WriteStatus};
use crate::error::{code, NetError};
use crate::event::{ConnId, EventSink, ListenerId};

fn internal_error() -> NetError {
    NetError::new(
        code::ERR_INTERNAL,
        "an internal error (a caught panic) closed the connection",
    )
}

impl Shard {
    /// Call after catching a panic from any method of this shard. Closes the connection it
    /// was serving (if any) with `ERR_INTERNAL` and reports it to `sink`; every other
    /// connection is read again, its queued output retried, and every listener accepted
    /// from, so that none stalls. Counted in [`ShardStats::panics`](super::ShardStats).
    pub fn recover(&mut self, sink: &mut dyn EventSink) {
        self.stats.panics += 1;
        if self.events.capacity() == 0 {
            // The panic hit while the round's events were taken out: a fresh buffer.
            self.events = Events::with_capacity(self.config.events_capacity);
        }
        if let Some(id) = self.current.take() {
            self.fail(id, Some(internal_error()), sink);
        }
        for id in self.conns.ids() {
            if !self.ready_conns.contains(&id) {
                self.ready_conns.push(id);
            }
            if self.conns.get_mut(id).is_some_and(|c| !c.output.is_empty()) {
                self.write_ready(id, sink);
            }
        }
        for (i, slot) in self.listeners.iter().enumerate() {
            let id = ListenerId(i as u32);
            if slot.is_some() && !self.ready_listeners.contains(&id) {
                self.ready_listeners.push(id);
            }
        }
    }

    /// [`Shard::write`] for callers that report errors per connection (a batch of writes
    /// from JS): a panic inside is caught, closes only this connection (with no `closed`
    /// report: the caller owns the error) and returns `ERR_INTERNAL`.
    pub fn write_caught(&mut self, id: ConnId, bufs: &[&[u8]]) -> Result<WriteStatus, NetError> {
        match catch_unwind(AssertUnwindSafe(|| self.write(id, bufs))) {
            Ok(result) => result,
            Err(_) => {
                self.current = None;
                self.stats.panics += 1;
                self.discard(id);
                Err(internal_error())
            }
        }
    }
}
