//! Accepting connections on a shard's listeners, fairly and without busy loops.

use std::io;

use super::timers::TimerKey;
use super::Shard;
use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId};
use crate::stream::Stream;
use crate::sys;

impl Shard {
    /// Accepts from `id` until the backlog is empty or the accept budget is spent (then the
    /// listener is served again next round). EMFILE/ENFILE pause the listener for
    /// `accept_backoff_ms` instead of retrying at once; so does any other accept error,
    /// after it is reported: the listener is edge-triggered, so one not tried again would
    /// leave the connections already in its backlog waiting for the next connect.
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
                    let tls = slot.listener.tls().cloned();
                    if slot.hand_off {
                        self.handoffs.push((stream, id, tls));
                    } else if let Some(tls) = tls {
                        self.adopt_tls(stream, &tls, id, 0, sink);
                    } else if let Some(conn) = self.adopt_accepted(stream) {
                        sink.accepted(id, conn);
                        // A client usually sends right after connecting: its request is
                        // often here already, so read it now rather than a loop later.
                        self.current = Some(conn);
                        self.read_ready(conn, sink);
                        self.current = None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if sys::is_fd_exhaustion(&e) => {
                    self.stats.accept_backoffs += 1;
                    self.back_off(id);
                    return;
                }
                // The peer gave up before we accepted: nothing to serve, keep going.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => {
                    self.stats.events += 1;
                    sink.listener_error(id, NetError::from_io(&e, "accept"));
                    self.back_off(id);
                    return;
                }
            }
        }
        if !self.ready_listeners.contains(&id) {
            self.ready_listeners.push(id);
        }
    }

    /// Places a connection accepted on a listener of this shard or, handed over, of another
    /// one. Over `max_connections` the stream is dropped (the peer sees its connection
    /// closed at once); a registration failure drops it too. The caller reports the
    /// `accepted` event.
    pub fn adopt_accepted(&mut self, stream: Stream) -> Option<ConnId> {
        if self.conns.len() >= self.config.max_connections {
            return None;
        }
        if self.config.no_delay && stream.is_tcp() {
            let _ = stream.set_nodelay(true); // best effort: the connection works without it
        }
        let conn = self.adopt(stream).ok()?;
        self.stats.accepted += 1;
        self.stats.events += 1;
        Some(conn)
    }

    /// Connections accepted on hand-off listeners since the last call, with their listener:
    /// not yet on any shard (see [`Shard::hand_off_accepts`]).
    pub fn take_handoffs(&mut self) -> Vec<super::Handoff> {
        std::mem::take(&mut self.handoffs)
    }

    /// Connections accepted on listener `id` are not adopted here but kept for
    /// [`Shard::take_handoffs`]: a threaded engine places them on the shard its policy picks.
    pub fn hand_off_accepts(&mut self, id: ListenerId) {
        if let Some(Some(slot)) = self.listeners.get_mut(id.0 as usize) {
            slot.hand_off = true;
        }
    }

    /// Pauses accepting on `id` for `accept_backoff_ms`; then it is tried again (no busy loop
    /// on an error that persists, and no connection left behind in the backlog).
    fn back_off(&mut self, id: ListenerId) {
        if let Some(Some(slot)) = self.listeners.get_mut(id.0 as usize) {
            slot.backing_off = true;
            let ms = self.config.accept_backoff_ms;
            self.arm(ms, TimerKey::AcceptBackoff(id));
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
