//! `Chunk`: one pooled allocation shared by a writer (which appends at its tail) and any number
//! of immutable views (which read below its frozen mark).
//!
//! # The frozen-mark invariant
//!
//! A chunk's bytes are split by `frozen`, a mark that only grows:
//! - bytes below `frozen` are immutable: they are never written again while the chunk lives;
//!   only they can be read (`frozen_slice`, [`ChunkView`]);
//! - bytes at or after `frozen` can only be written, and only through the chunk's single
//!   [`Tail`] (created with the chunk, not clonable), which writes at or after its cursor
//!   `pos >= frozen`.
//!
//! Both halves are checked with `assert!`, so a logic error elsewhere panics instead of
//! letting a write alias a read. The allocation goes back to its pool only when the last
//! `Arc<Chunk>` drops, so a view (which holds an `Arc`) can never see its bytes reused.

use std::fmt;
use std::ptr::NonNull;
use std::slice;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::pool::{BufferPool, PooledBuf};

/// A pooled allocation with a frozen (readable, immutable) prefix. See the module docs.
pub(crate) struct Chunk {
    /// First byte of `buf`, taken once with `PooledBuf::as_mut_ptr` (no reference created);
    /// every access goes through it, `buf` itself is only kept to be dropped.
    ptr: NonNull<u8>,
    cap: usize,
    frozen: AtomicUsize,
    /// Owns the memory; returns it to the pool on drop. Never dereferenced.
    _buf: PooledBuf,
}

// SAFETY: `ptr` points into `_buf`, which `Chunk` owns; concurrent access is limited by the
// frozen-mark invariant: shared reads only below `frozen` (immutable), writes only at or after
// it and only through the unique `Tail`, which needs `&mut`. `frozen` is atomic.
unsafe impl Send for Chunk {}
// SAFETY: see `Send`: `&Chunk` only exposes reads of immutable bytes and atomic operations.
unsafe impl Sync for Chunk {}

impl fmt::Debug for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chunk")
            .field("cap", &self.cap)
            .field("frozen", &self.frozen())
            .finish()
    }
}

impl Chunk {
    /// Allocates a chunk of at least `min` bytes from `pool` and returns its unique writer.
    pub(crate) fn with_tail(pool: &BufferPool, min: usize) -> Tail {
        let mut buf = pool.get(min);
        let cap = buf.len();
        let ptr = NonNull::new(buf.as_mut_ptr()).unwrap_or(NonNull::dangling());
        let chunk = Arc::new(Chunk {
            ptr,
            cap,
            frozen: AtomicUsize::new(0),
            _buf: buf,
        });
        Tail { chunk, pos: 0 }
    }

    /// Usable size in bytes.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The frozen mark: bytes below it are immutable and readable.
    pub(crate) fn frozen(&self) -> usize {
        self.frozen.load(Ordering::Acquire)
    }

    /// Raises the frozen mark to `end` (no-op if it is already higher). Callers only freeze
    /// bytes that were written (through the `Tail`), i.e. `end <= tail.pos`.
    pub(crate) fn freeze(&self, end: usize) {
        assert!(end <= self.cap, "freeze beyond chunk capacity");
        self.frozen.fetch_max(end, Ordering::AcqRel);
    }

    /// The immutable bytes `start..end`.
    ///
    /// # Panics
    ///
    /// If the range is not entirely below the frozen mark.
    pub(crate) fn frozen_slice(&self, start: usize, end: usize) -> &[u8] {
        assert!(
            start <= end && end <= self.frozen(),
            "read of unfrozen chunk bytes {start}..{end} (frozen {})",
            self.frozen()
        );
        // SAFETY: `start..end` lies within the allocation (`end <= frozen <= cap`) and below
        // the frozen mark, so no `Tail` writes it for as long as the chunk lives (module
        // invariant); the bytes were initialized by the pool. The borrow is tied to `&self`,
        // which keeps the allocation alive.
        unsafe { slice::from_raw_parts(self.ptr.as_ptr().add(start), end - start) }
    }
}

/// The unique writer of a chunk: owns the bytes `pos..capacity`, which it may write until it
/// freezes them.
#[derive(Debug)]
pub(crate) struct Tail {
    chunk: Arc<Chunk>,
    pos: usize,
}

impl Tail {
    /// The chunk this tail writes.
    pub(crate) fn chunk(&self) -> &Arc<Chunk> {
        &self.chunk
    }

    /// The write cursor: bytes before it were handed out by `take`/`commit`.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes left to write.
    pub(crate) fn spare(&self) -> usize {
        self.chunk.capacity() - self.pos
    }

    /// The whole spare region `pos..capacity`, writable, with unspecified (old) contents.
    pub(crate) fn spare_mut(&mut self) -> &mut [u8] {
        let frozen = self.chunk.frozen();
        assert!(
            self.pos >= frozen,
            "tail cursor {} below frozen mark {frozen}",
            self.pos
        );
        // SAFETY: `pos..cap` is within the allocation and at or after the frozen mark, so no
        // view reads it (module invariant); `Tail` is the chunk's only writer and this borrow
        // is tied to `&mut self`, so there is no other live mutable access.
        unsafe { slice::from_raw_parts_mut(self.chunk.ptr.as_ptr().add(self.pos), self.spare()) }
    }

    /// Hands out the next `n` spare bytes (old contents) and advances the cursor past them.
    /// Returns the start offset and the bytes.
    ///
    /// # Panics
    ///
    /// If `n > spare()`.
    pub(crate) fn take(&mut self, n: usize) -> (usize, &mut [u8]) {
        assert!(n <= self.spare(), "take({n}) beyond spare {}", self.spare());
        let start = self.pos;
        self.pos += n;
        let frozen = self.chunk.frozen();
        assert!(
            start >= frozen,
            "tail cursor {start} below frozen mark {frozen}"
        );
        // SAFETY: as in `spare_mut`: `start..start + n` is inside the allocation, at or after
        // the frozen mark, and only reachable through this unique `&mut Tail`.
        let bytes = unsafe { slice::from_raw_parts_mut(self.chunk.ptr.as_ptr().add(start), n) };
        (start, bytes)
    }

    /// Moves the cursor back to `pos` (to rewrite bytes that were taken but never frozen).
    ///
    /// # Panics
    ///
    /// If `pos` is below the frozen mark or after the cursor.
    pub(crate) fn rewind(&mut self, pos: usize) {
        assert!(pos <= self.pos, "rewind forward");
        assert!(pos >= self.chunk.frozen(), "rewind below the frozen mark");
        self.pos = pos;
    }
}

/// The owner behind a `Bytes` view of frozen chunk bytes: keeps the chunk alive.
pub(crate) struct ChunkView {
    chunk: Arc<Chunk>,
    start: usize,
    end: usize,
}

impl ChunkView {
    /// A view of `chunk[start..end]`, which must be frozen.
    ///
    /// # Panics
    ///
    /// If the range is not frozen.
    pub(crate) fn new(chunk: Arc<Chunk>, start: usize, end: usize) -> Self {
        assert!(
            start <= end && end <= chunk.frozen(),
            "view of unfrozen bytes"
        );
        ChunkView { chunk, start, end }
    }
}

impl AsRef<[u8]> for ChunkView {
    fn as_ref(&self) -> &[u8] {
        self.chunk.frozen_slice(self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buffer::pool::PoolConfig;
    use bytes::Bytes;

    fn pool() -> BufferPool {
        BufferPool::new(PoolConfig {
            max_cached_bytes: 1 << 20,
            min_class_size: 1024,
            max_class_size: 1 << 16,
            ..PoolConfig::default()
        })
    }

    #[test]
    fn write_freeze_view() {
        let pool = pool();
        let mut tail = Chunk::with_tail(&pool, 10);
        assert_eq!(tail.chunk().capacity(), 1024);
        let (start, b) = tail.take(5);
        assert_eq!(start, 0);
        b.copy_from_slice(b"hello");
        tail.chunk().freeze(5);
        let view = Bytes::from_owner(ChunkView::new(tail.chunk().clone(), 1, 5));
        assert_eq!(&view[..], b"ello");
        // Writing on after the frozen mark does not touch the view.
        tail.spare_mut().fill(b'x');
        assert_eq!(&view[..], b"ello");
        assert_eq!(tail.pos(), 5);
        assert_eq!(tail.spare(), 1019);
    }

    #[test]
    fn memory_returns_to_the_pool_only_after_the_last_view() {
        let pool = pool();
        let mut tail = Chunk::with_tail(&pool, 1);
        tail.take(3).1.copy_from_slice(b"abc");
        tail.chunk().freeze(3);
        let view = Bytes::from_owner(ChunkView::new(tail.chunk().clone(), 0, 3));
        drop(tail);
        assert_eq!(pool.stats().bytes_in_use, 1024);
        // Force reuse pressure: the view's memory is not in the pool, so new buffers differ.
        let mut others: Vec<_> = (0..4).map(|_| pool.get(1)).collect();
        for o in &mut others {
            o.fill(b'z');
        }
        assert_eq!(&view[..], b"abc");
        drop(others);
        drop(view);
        assert_eq!(pool.stats().bytes_in_use, 0);
    }

    #[test]
    fn rewind_within_unfrozen_bytes() {
        let pool = pool();
        let mut tail = Chunk::with_tail(&pool, 1);
        tail.take(10);
        tail.chunk().freeze(4);
        tail.rewind(4);
        assert_eq!(tail.pos(), 4);
    }

    #[test]
    #[should_panic(expected = "rewind below the frozen mark")]
    fn rewind_below_frozen_panics() {
        let pool = pool();
        let mut tail = Chunk::with_tail(&pool, 1);
        tail.take(10);
        tail.chunk().freeze(8);
        tail.rewind(4);
    }

    #[test]
    #[should_panic(expected = "unfrozen")]
    fn reading_unfrozen_bytes_panics() {
        let pool = pool();
        let mut tail = Chunk::with_tail(&pool, 1);
        tail.take(10);
        tail.chunk().frozen_slice(0, 1);
    }
}
