//! Accepting connections on a shard's listeners, fairly and without busy loops.

use std::io;

use super::timers::TimerKey;
use super::Shard;
use crate::error::NetError;
use crate::event::{EventSink, ListenerId};
use crate::sys;

impl Shard {
    /// Accepts from `id` until the backlog is empty or the accept budget is spent (then the
    /// listener is served again next round). EMFILE/ENFILE pause the listener for
    /// `accept_backoff_ms` instead of retrying at once.
    pub(super) fn accept(&mut self, id: ListenerId, sink: &mut dyn EventSink) {
        for _ in 0..self.config.accept_budget {
            let Some(Some(slot)) = self.listeners.get_mut(id.0 as usize) else {
                return;
            };
            if slot.backing_off {
                return;
            }
            match slot.listener.accept() {
                Ok((stream, _peer)) => {
                    if self.conns.len() >= self.config.max_connections {
                        drop(stream); // over the limit: refuse by closing at once
                        continue;
                    }
                    match self.adopt(stream) {
                        Ok(conn) => {
                            self.stats.accepted += 1;
                            self.stats.events += 1;
                            sink.accepted(id, conn);
                        }
                        Err(_) => continue, // registration failed: the socket is dropped
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sys::is_fd_exhaustion(&e) => {
                    slot.backing_off = true;
                    let ms = self.config.accept_backoff_ms;
                    self.arm(ms, TimerKey::AcceptBackoff(id));
                    return;
                }
                // The peer gave up before we accepted: nothing to serve, keep going.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    self.stats.events += 1;
                    sink.listener_error(id, NetError::from_io(&e, "accept"));
                    return;
                }
            }
        }
        if !self.ready_listeners.contains(&id) {
            self.ready_listeners.push(id);
        }
    }

    /// The backoff of listener `id` is over: accept again.
    pub(super) fn end_backoff(&mut self, id: ListenerId) {
        if let Some(Some(slot)) = self.listeners.get_mut(id.0 as usize) {
            slot.backing_off = false;
            if !self.ready_listeners.contains(&id) {
                self.ready_listeners.push(id);
            }
        }
    }
}
