//! Buffers: the pooled allocations ([`BufferPool`], netpoll's `mcache`) and the nocopy
//! [`LinkBuffer`] built on them.
//!
//! Memory flows one way: a [`BufferPool`] hands out byte vectors; a [`LinkBuffer`] wraps them
//! in shared chunks that its writer appends to and its reader hands out as [`bytes::Bytes`]
//! views; when the last view or buffer referencing a chunk drops, the vector goes back to its
//! pool.

mod chunk;
mod link_buffer;
mod pool;
mod release;

use std::fmt;

pub use link_buffer::{LinkBuffer, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
pub use pool::{
    BufferPool, PoolConfig, PoolStats, PooledBuf, DEFAULT_MAX_CACHED_BYTES, DEFAULT_MAX_CLASS_SIZE,
    DEFAULT_MIN_CLASS_SIZE, DEFAULT_RETAINED_BYTES,
};
pub use release::{release_idle_memory, QuietTimer, QUIET_INTERVAL};

/// Why a [`LinkBuffer`] operation failed. A failed operation changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BufferError {
    /// The operation needs `need` bytes but only `have` are available (readable bytes for a
    /// reader method, unflushed bytes for `malloc_ack`/`write_direct`, spare bytes for
    /// `commit`).
    NotEnough {
        /// Bytes the operation needs.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// `until` found no delimiter in the readable bytes.
    NotFound,
    /// The bytes are not valid UTF-8 (`read_string`); the first `valid_up_to` are.
    InvalidUtf8 {
        /// Length of the longest valid UTF-8 prefix.
        valid_up_to: usize,
    },
}

impl fmt::Display for BufferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BufferError::NotEnough { need, have } => {
                write!(f, "not enough bytes: need {need}, have {have}")
            }
            BufferError::NotFound => f.write_str("delimiter not found in the readable bytes"),
            BufferError::InvalidUtf8 { valid_up_to } => {
                write!(f, "invalid UTF-8 after {valid_up_to} valid bytes")
            }
        }
    }
}

impl std::error::Error for BufferError {}

#[cfg(test)]
mod tests {
    use super::BufferError;

    #[test]
    fn errors_display() {
        assert_eq!(
            BufferError::NotEnough { need: 5, have: 2 }.to_string(),
            "not enough bytes: need 5, have 2"
        );
        assert_eq!(
            BufferError::NotFound.to_string(),
            "delimiter not found in the readable bytes"
        );
        assert_eq!(
            BufferError::InvalidUtf8 { valid_up_to: 3 }.to_string(),
            "invalid UTF-8 after 3 valid bytes"
        );
    }
}
