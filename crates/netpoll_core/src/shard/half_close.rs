//! Half-close: the owner ends its sending side (`shutdown(SHUT_WR)`, a FIN to the peer)
//! while reading goes on until the peer's own FIN.
//!
//! The FIN must follow every byte the owner wrote before it: with output still queued, the
//! shard only notes the request, and sends the FIN from the write path once the queue has
//! drained ([`Shard::after_drain`]). A connection whose two directions have both ended is
//! closed by the shard's hang-up path (the kernel raises `EPOLLHUP`/`EV_EOF` then), and
//! reported like any other close.

use super::conn::{ConnState, WriteSide};
use super::Shard;
use crate::error::NetError;
use crate::event::ConnId;

impl Shard {
    /// Half-closes `id`: sends FIN to the peer after every byte written so far (at once when
    /// nothing is queued, else as soon as the output queue drains); reads continue until the
    /// peer's FIN. Calling it again does nothing. Fails with `ERR_CONN_CLOSED` for a closed
    /// (or closing, or still connecting) connection, or with the socket's error from
    /// `shutdown` (e.g. `ENOTCONN` after a reset), in which case the connection is closed
    /// and not reported (the caller has the error).
    pub fn shutdown_write(&mut self, id: ConnId) -> Result<(), NetError> {
        let Some(conn) = self.conns.get_mut(id) else {
            return Err(NetError::new("ERR_CONN_CLOSED", "the connection is closed"));
        };
        if conn.state != ConnState::Open {
            return Err(NetError::new("ERR_CONN_CLOSED", "the connection is closed"));
        }
        if conn.write_side != WriteSide::Open {
            return Ok(());
        }
        if conn.tls.is_some() {
            self.tls_close_notify(id).inspect_err(|_| {
                self.discard(id);
            })?;
        }
        let conn = self.conns.get_mut(id).expect("live");
        if conn.output_pending() {
            conn.write_side = WriteSide::ShutdownPending;
            return Ok(());
        }
        self.send_fin(id).inspect_err(|_| {
            self.discard(id);
        })
    }

    /// The output queue of `id` drained: sends the FIN a half-close was waiting for. An error
    /// is returned for the caller to close the connection with and report.
    pub(super) fn after_drain(&mut self, id: ConnId) -> Result<(), NetError> {
        match self.conns.get_mut(id) {
            Some(conn) if conn.write_side == WriteSide::ShutdownPending => self.send_fin(id),
            _ => Ok(()),
        }
    }

    /// Whether `id`'s sending side was shut (or will be once its queue drains).
    pub fn write_shut(&mut self, id: ConnId) -> bool {
        self.conns
            .get_mut(id)
            .is_some_and(|c| c.write_side != WriteSide::Open)
    }

    fn send_fin(&mut self, id: ConnId) -> Result<(), NetError> {
        let conn = self.conns.get_mut(id).expect("caller checked");
        conn.write_side = WriteSide::Shut;
        conn.stream
            .shutdown_write()
            .map_err(|e| NetError::from_io(&e, "shutdown"))
    }
}
