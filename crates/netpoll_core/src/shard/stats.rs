//! The counters a shard keeps for `stats()`.

/// Counters of one shard, for `stats()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// Connections currently on the shard.
    pub connections: usize,
    /// Listeners currently registered.
    pub listeners: usize,
    /// Timers armed.
    pub timers: usize,
    /// Bytes read from all connections since the shard started.
    pub bytes_in: u64,
    /// Bytes written to all connections since the shard started.
    pub bytes_out: u64,
    /// Bytes queued for output and not yet taken by the kernel.
    pub bytes_queued: usize,
    /// Events reported to the sink since the shard started.
    pub events: u64,
    /// Connections accepted since the shard started.
    pub accepted: u64,
    /// Times accepting paused because the process or system ran out of descriptors.
    pub accept_backoffs: u64,
    /// Panics caught while this shard ran, each followed by [`Shard::recover`].
    pub panics: u64,
    /// Connections their owner closed that still write their queued output (see
    /// [`Shard::lingering`]).
    pub lingering: usize,
    /// Connections watched by the driver instead of the shard's poll (see
    /// [`Shard::take_direct`]).
    pub direct: usize,
}
