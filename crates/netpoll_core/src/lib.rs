//! netpoll_core: the pure-Rust core of netpoll for Node.js.
#![deny(missing_docs)]

pub mod addr;
pub mod batch;
pub mod buffer;
pub mod config;
pub mod error;
pub mod event;
pub mod fault;
pub mod frame;
pub mod lent_sink;
pub mod listener;
pub mod placement;
pub mod shard;
pub mod stream;
pub mod sys;
pub mod threaded;
pub mod timer;
pub mod tls;
pub use buffer::{BufferError, BufferPool, LinkBuffer, PoolConfig, PoolStats};
