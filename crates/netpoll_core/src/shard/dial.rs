//! A shard's dials: connects in progress, their timeouts, Unix connects retried while the
//! listener's backlog is full, and cancellation.
//!
//! # A full Unix backlog
//!
//! A non-blocking connect to a Unix socket whose backlog is full fails at once with `EAGAIN`
//! (Linux) instead of waiting like TCP does. Such a dial ([`Dial::Busy`]) stays pending: its
//! unconnected socket is kept (not registered with the poll: an unconnected Unix socket
//! reports a hang-up) and the connect is tried again on a timer, after 5 ms, then twice as
//! long each time up to 50 ms, until it connects, the listener goes away (`ECONNREFUSED`,
//! `ENOENT`), the dial timeout fires (`ETIMEDOUT`) or its owner closes it. Without a timeout
//! it waits as long as it takes, as a blocking connect would.

use std::io as stdio;

use mio::Interest;

use super::conn::{Conn, ConnState, DialRetry};
use super::timers::TimerKey;
use super::{conn_token, Shard};
use crate::addr::NetAddr;
use crate::error::NetError;
use crate::event::{ConnId, EventSink};
use crate::stream::Dial;

/// First delay before a busy Unix connect is tried again, in ms.
pub const DIAL_RETRY_FIRST_MS: u64 = 5;
/// Longest delay between two tries of a busy Unix connect, in ms.
pub const DIAL_RETRY_MAX_MS: u64 = 50;

impl Shard {
    /// Takes a dial (a [`Stream`](crate::stream::Stream) already connecting, or any
    /// [`Dial`]); its result arrives as [`EventSink::connected`]. `timeout_ms` = 0 waits as
    /// long as the OS does (a busy Unix dial: until it connects or the listener goes away;
    /// see the module docs).
    pub fn dial(&mut self, dial: impl Into<Dial>, timeout_ms: u64) -> stdio::Result<ConnId> {
        let id = match dial.into() {
            Dial::Started(stream) => self.insert(stream, ConnState::Connecting)?,
            Dial::Busy(stream, path) => {
                let now = self.now_ms();
                let conn = Conn::new(stream, ConnState::Connecting, self.config.min_read, now);
                let id = self.conns.insert(conn);
                let timer = self.arm(DIAL_RETRY_FIRST_MS, TimerKey::DialRetry(id));
                self.conns.get_mut(id).expect("live").dial_retry = Some(Box::new(DialRetry {
                    path,
                    delay_ms: DIAL_RETRY_FIRST_MS,
                    timer: Some(timer),
                }));
                id
            }
        };
        if timeout_ms > 0 {
            let timer = self.arm(timeout_ms, TimerKey::Dial(id));
            self.conns.get_mut(id).expect("live").dial_timer = Some(timer);
        }
        Ok(id)
    }

    /// Ends the dial `id` if it is still connecting: its socket is closed and
    /// [`EventSink::connected`] reports `ABORT_ERR` (so a driver that names dials by tag
    /// learns it is over). Returns `false`, reporting nothing, when the dial's result was
    /// reported already (the connection is then its owner's, to close).
    pub fn cancel_dial(&mut self, id: ConnId, sink: &mut dyn EventSink) -> bool {
        if self.conns.get_mut(id).map(|c| c.state) != Some(ConnState::Connecting) {
            return false;
        }
        self.discard(id);
        self.stats.events += 1;
        sink.connected(id, Err(NetError::new("ABORT_ERR", "the dial was aborted")));
        true
    }

    pub(super) fn finish_connect(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let conn = self.conns.get_mut(id).expect("live");
        let result = match conn.stream.finish_connect() {
            Ok(true) => Ok(()),
            Ok(false) => return, // a spurious wake: the connect is still in progress
            Err(e) => Err(NetError::from_io(&e, "connect")),
        };
        self.stats.events += 1;
        match result {
            Ok(()) => {
                conn.state = ConnState::Open;
                if let Some(t) = conn.dial_timer.take() {
                    self.timers.cancel(t);
                }
                if conn.tls.is_some() {
                    self.stats.events -= 1; // reported when the handshake completes
                    return self.tls_connected(id, sink);
                }
                sink.connected(id, Ok(()));
                // Bytes may have arrived together with the connect completion.
                self.read_ready(id, sink);
            }
            Err(e) => {
                self.discard(id);
                sink.connected(id, Err(e));
            }
        }
    }

    /// The retry timer of a busy Unix dial fired: try the connect again.
    pub(super) fn retry_dial(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let Some(retry) = conn.dial_retry.as_mut() else {
            return;
        };
        retry.timer = None;
        let result = conn.stream.connect_again(&retry.path);
        match result {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                let delay = (retry.delay_ms * 2).min(DIAL_RETRY_MAX_MS);
                retry.delay_ms = delay;
                let timer = self.arm(delay, TimerKey::DialRetry(id));
                let retry = self.conns.get_mut(id).and_then(|c| c.dial_retry.as_mut());
                retry.expect("live").timer = Some(timer);
            }
            Err(e) => {
                let e =
                    NetError::from_io(&e, "connect").with_addr(&NetAddr::Unix(retry.path.clone()));
                self.discard(id);
                self.stats.events += 1;
                sink.connected(id, Err(e));
            }
            Ok(()) => {
                conn.dial_retry = None;
                let interest = Interest::READABLE | Interest::WRITABLE;
                let registry = self.poll.registry();
                if let Err(e) = registry.register(&mut conn.stream, conn_token(id), interest) {
                    self.discard(id);
                    self.stats.events += 1;
                    sink.connected(id, Err(NetError::from_io(&e, "connect")));
                    return;
                }
                self.finish_connect(id, sink);
            }
        }
    }
}
