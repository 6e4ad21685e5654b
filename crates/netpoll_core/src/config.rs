//! Tunables of a shard, each with its documented default.

/// How a shard reads, writes and accepts. Every field has a default (see [`Default`]).
#[derive(Clone, Debug)]
pub struct ShardConfig {
    /// Bytes read from one connection per wake before the shard moves on to others (fairness).
    /// A connection that still has data is served again in the next round without waiting
    /// for a new readiness edge. Default 256 KiB: four reads of [`max_read`](Self::max_read)
    /// per round for a bulk stream (64 KiB cost it 4 times the rounds, each a poll and a JS
    /// entry: 14-35 % more server CPU per MiB streamed); a round's memory (the inline
    /// engine's slab) and [`max_pending_input`](Self::max_pending_input) bound what all
    /// connections read in it anyway, and connections held by that limit before they read go
    /// first next round (a bulk stream cannot starve the others).
    pub read_budget: usize,
    /// Smallest read size; the adaptive read size starts here. Default 4 KiB.
    pub min_read: usize,
    /// Largest read size the adaptive read size grows to. Default 64 KiB.
    pub max_read: usize,
    /// Most bytes of output queued (not yet accepted by the kernel) on one connection; a
    /// write beyond it fails with `ERR_OUTPUT_LIMIT` and closes the connection. Default 64 MiB.
    pub max_output: usize,
    /// Connections accepted per listener per wake before the shard serves others. Default 256.
    pub accept_budget: usize,
    /// Pause of a listener after EMFILE/ENFILE on accept, in ms (never a busy loop). Default 100.
    pub accept_backoff_ms: u64,
    /// Most connections this shard holds; further accepted ones are closed at once.
    /// Default 1,000,000.
    pub max_connections: usize,
    /// Readiness events fetched per poll. Default 1024.
    pub events_capacity: usize,
    /// `TCP_NODELAY` on accepted TCP connections (small responses go out at once, as RPC
    /// needs; writes are coalesced per batch anyway). Default true.
    pub no_delay: bool,
    /// Most input bytes read but not yet taken by the consumer (JS) per shard; beyond it
    /// the shard holds its reads (the kernel's buffers and TCP flow control hold the
    /// peers) until the consumer catches up. Default 16 MiB.
    pub max_pending_input: usize,
}

impl Default for ShardConfig {
    fn default() -> Self {
        ShardConfig {
            read_budget: 256 * 1024,
            min_read: 4 * 1024,
            max_read: 64 * 1024,
            max_output: 64 * 1024 * 1024,
            accept_budget: 256,
            accept_backoff_ms: 100,
            max_connections: 1_000_000,
            events_capacity: 1024,
            no_delay: true,
            max_pending_input: 16 << 20,
        }
    }
}
