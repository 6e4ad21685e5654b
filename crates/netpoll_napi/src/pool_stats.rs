//! `poolStats()`: the counters of the global buffer pool, for JS.

// napi-derive registers functions with JS only outside `cfg(test)`, so test builds see them as
// unused.
#![cfg_attr(test, allow(dead_code))]

use napi_derive::napi;
use netpoll_core::buffer::BufferPool;

/// Counters of the process-wide buffer pool (see `netpoll_core::buffer::PoolStats`).
#[napi(object)]
pub struct NativePoolStats {
    /// Bytes of pooled buffers in use (held by LinkBuffers or by views of them).
    pub bytes_in_use: f64,
    /// Bytes waiting in the pool's free lists.
    pub bytes_cached: f64,
    /// Bytes the pool holds: in use plus cached.
    pub bytes_held: f64,
    /// Bytes freed from the free lists by trims after quiet intervals, so far.
    pub bytes_trimmed: f64,
    /// Requests served from a free list.
    pub hits: f64,
    /// Requests that allocated.
    pub misses: f64,
}

/// A snapshot of the global buffer pool's counters.
#[napi(catch_unwind)]
pub fn pool_stats() -> NativePoolStats {
    let s = BufferPool::global().stats();
    NativePoolStats {
        bytes_in_use: s.bytes_in_use as f64,
        bytes_cached: s.bytes_cached as f64,
        bytes_held: s.bytes_held as f64,
        bytes_trimmed: s.bytes_trimmed as f64,
        hits: s.hits as f64,
        misses: s.misses as f64,
    }
}
