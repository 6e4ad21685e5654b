//! What a shard reports to its driver: connection ids and the [`EventSink`] trait.
//!
//! A shard never calls user code. It reports everything that happened during one
//! [`Shard::run_once`](crate::shard::Shard::run_once) to an `EventSink`, and the driver (the
//! Node binding, or a plain Rust test) turns the whole batch into one call of its own.

use crate::error::NetError;

/// Identifies a connection on its shard: a slab index plus the generation of that slot.
///
/// A slot is reused after its connection closes, with a new generation, so a command or a
/// stale readiness event that names an old connection is recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    /// Index of the slot in the shard's connection slab.
    pub index: u32,
    /// Generation of the slot when this connection was placed in it.
    pub generation: u32,
}

/// Identifies a listener registered on a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(pub u32);

/// Which timer fired for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// A read waited longer than the read timeout. The connection stays open (as in netpoll):
    /// the waiting read fails with `ERR_READ_TIMEOUT`.
    Read,
    /// Queued output made no progress for the write timeout: the connection is closed
    /// with `ERR_WRITE_TIMEOUT`.
    Write,
    /// Nothing was read or written for the idle timeout: the connection is closed with
    /// `ERR_IDLE_TIMEOUT`.
    Idle,
}

/// Receives one batch of shard events.
///
/// Calls arrive in the order things happened for each connection: `accepted`/`connected`
/// first, then any number of `data`, `flushed`, `timeout`, at most one `read_closed`, and
/// exactly one `closed` last (unless the connection was closed by its owner through
/// [`Shard::close`](crate::shard::Shard::close), which reports nothing).
pub trait EventSink {
    /// Returns memory to read the next bytes of a connection into: usually at least `min`
    /// bytes; a sink with bounded memory may return fewer, or none when it can take no more
    /// bytes this round (the shard then reads that connection again in its next round).
    /// What the shard reads there is reported by the next [`EventSink::data`] call.
    fn read_buffer(&mut self, min: usize) -> &mut [u8];
    /// `len` bytes of `conn` were read into the front of the slice last returned by
    /// [`EventSink::read_buffer`].
    fn data(&mut self, conn: ConnId, len: usize);
    /// A connection was accepted on `listener` and lives on this shard from now on.
    fn accepted(&mut self, listener: ListenerId, conn: ConnId);
    /// A dial finished: `Ok` if the connection is established, else the connect error (the
    /// connection is then already gone and no `closed` follows).
    fn connected(&mut self, conn: ConnId, result: Result<(), NetError>);
    /// All output queued on `conn` has been handed to the kernel.
    fn flushed(&mut self, conn: ConnId);
    /// The peer finished sending (FIN): no more data will arrive; the connection is no longer
    /// active. Queued output is still written.
    fn read_closed(&mut self, conn: ConnId);
    /// A timer of `conn` fired. Write and idle timeouts are followed by `closed`.
    fn timeout(&mut self, conn: ConnId, kind: TimeoutKind);
    /// The connection is closed and its slot freed; `error` says why when it was not a clean
    /// end of stream. Reported exactly once per connection, always last.
    fn closed(&mut self, conn: ConnId, error: Option<NetError>);
    /// Accepting on `listener` failed with `error` (not EMFILE/ENFILE, which back off
    /// silently). The listener backs off and then accepts again.
    fn listener_error(&mut self, listener: ListenerId, error: NetError);
    /// A connection accepted on `listener` completed its TLS handshake. `origin` names the
    /// shard whose listener it is: 0 for this shard, `k + 1` for shard `k` of a threaded
    /// group (a connection handed over). Default: [`EventSink::accepted`].
    fn accepted_from(&mut self, listener: ListenerId, conn: ConnId, origin: u32) {
        let _ = origin;
        self.accepted(listener, conn);
    }
    /// The TLS handshake of a connection accepted on `listener` failed (Node's
    /// `tlsClientError`): the connection is gone and was never reported. `origin` as in
    /// [`EventSink::accepted_from`]. Default: [`EventSink::listener_error`].
    fn tls_client_error(&mut self, listener: ListenerId, origin: u32, error: NetError) {
        let _ = origin;
        self.listener_error(listener, error);
    }
    /// A connection accepted on `listener` (`origin` as in [`EventSink::accepted_from`]), whose
    /// listener has an SNI callback, sent `servername` in its ClientHello: its handshake waits
    /// for [`Shard::sni_answer`](crate::shard::Shard::sni_answer). Returns false when the sink
    /// has no room for the name this round (the shard reports it again in its next round).
    fn sni_request(
        &mut self,
        listener: ListenerId,
        origin: u32,
        conn: ConnId,
        servername: &str,
    ) -> bool;
    /// Bytes of input this sink holds that its consumer has not taken yet. At
    /// [`ShardConfig::max_pending_input`](crate::config::ShardConfig::max_pending_input)
    /// the shard stops reading until it drops, so a consumer that falls behind bounds the
    /// memory instead of the peers. Default 0 (never holds).
    fn pending_input(&self) -> usize {
        0
    }
}
