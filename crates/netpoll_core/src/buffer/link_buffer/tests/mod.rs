//! Unit tests of `LinkBuffer`: every method, its edge cases, and the sharing guarantees.

mod io;
mod reader;
mod writer;

use super::{LinkBuffer, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
use crate::buffer::{BufferError, BufferPool, PoolConfig};

/// A private pool (tests run in parallel, so the global pool's counters are not ours).
pub(super) fn pool() -> BufferPool {
    BufferPool::new(PoolConfig {
        max_cached_bytes: 16 << 20,
        min_class_size: 64,
        max_class_size: 1 << 20,
        ..PoolConfig::default()
    })
}

/// A buffer whose chunks hold 64 bytes at first, to cross chunk boundaries with little data.
pub(super) fn small(pool: &BufferPool) -> LinkBuffer {
    LinkBuffer::with_chunk_size(pool.clone(), 64)
}

pub(super) fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

pub(super) fn not_enough(need: usize, have: usize) -> BufferError {
    BufferError::NotEnough { need, have }
}

#[test]
fn chunk_size_adapts() {
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes: 0,
        ..PoolConfig::default()
    });
    let mut b = LinkBuffer::with_pool(pool.clone());
    let mut expected = 0;
    let mut size = DEFAULT_CHUNK_SIZE;
    for _ in 0..8 {
        b.write_binary(&vec![7; size]); // fills the chunk: the next write takes a new one
        expected += size;
        assert_eq!(pool.stats().bytes_in_use, expected);
        size = (size * 2).min(MAX_CHUNK_SIZE);
    }
    // One large write gets one chunk of its own size: a zero-copy read.
    b.write_binary(&vec![9; 200_000]);
    b.flush();
    b.skip(b.len() - 200_000).unwrap();
    let view = b.peek(200_000).unwrap();
    assert!(view.iter().all(|&x| x == 9));
    assert_eq!(b.segment_count(), 1);
    drop(view);
    b.skip(200_000).unwrap();
    b.release();
    assert_eq!(pool.stats().bytes_in_use, 0);
    // After release the size starts small again.
    b.write_byte(1);
    assert_eq!(pool.stats().bytes_in_use, DEFAULT_CHUNK_SIZE);
}

#[test]
fn everything_returns_to_the_pool() {
    let pool = pool();
    {
        let mut b = small(&pool);
        let mut views = Vec::new();
        for i in 0..50u8 {
            b.write_binary(&pattern(37 * i as usize, i));
            b.malloc(13);
            b.malloc_ack(b.malloc_len() - 5).unwrap();
            b.flush();
            if b.len() > 100 {
                views.push(b.next(100).unwrap());
                let mut s = b.slice(b.len() / 2).unwrap();
                s.skip(1).unwrap();
                views.push(s.next(s.len()).unwrap());
            }
        }
        assert!(pool.stats().bytes_in_use > 0);
    }
    assert_eq!(pool.stats().bytes_in_use, 0);
    assert!(pool.stats().bytes_cached > 0);
}

#[test]
fn link_buffer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LinkBuffer>();
    check::<BufferPool>();
}

#[test]
fn debug_output_names_the_cursors() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_binary(b"abc");
    let text = format!("{b:?}");
    assert!(text.contains("malloc_len: 3"), "{text}");
}
