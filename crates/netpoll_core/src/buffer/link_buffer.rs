//! [`LinkBuffer`]: netpoll's nocopy buffer, a chain of pooled chunks with read/flush/write
//! cursors. The reader methods are in `reader.rs`, the writer methods in `writer.rs`, the
//! socket-side helpers in `io.rs`.

mod io;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use super::chunk::{Chunk, ChunkView, Tail};
use super::pool::BufferPool;

/// Size of the first chunk a [`LinkBuffer`] allocates: 4 KiB.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 10;
/// Largest chunk size the adaptive growth reaches: 64 KiB. (A single larger write still gets
/// one chunk of its own size.)
pub const MAX_CHUNK_SIZE: usize = 64 << 10;

/// netpoll's nocopy buffer: a chain of pooled chunks read through zero-copy [`Bytes`] views.
///
/// A `LinkBuffer` is a byte queue with two ends. The writer appends (`malloc`, `write_*`,
/// `write_direct`, `append`), and its bytes stay *pending* until [`flush`](Self::flush) makes
/// them *readable*; the reader consumes readable bytes from the front (`next`, `peek`,
/// `until`, …). The socket side fills it with [`reserve`](Self::reserve)/[`commit`](Self::commit)
/// and drains it with [`io_slices`](Self::io_slices)/[`advance`](Self::advance).
///
/// # Memory layout
///
/// ```text
///   segs: [ seg ][ seg ][ seg ] ... [ seg ][ seg ]      tail chunk: [ used | spare ]
///         |<--- readable (len) --->|<- pending ->|                        ^ pos
///         ^ read cursor            ^ flush cursor ^ write cursor
/// ```
///
/// The chain is a deque of *segments*, each a byte range of either a pooled chunk (a
/// [`BufferPool`] allocation wrapped in an `Arc`) or a foreign [`Bytes`] (from
/// [`write_bytes`](Self::write_bytes)/[`write_direct`](Self::write_direct)). A segment is
/// entirely readable or entirely pending; adjacent ranges of one chunk are merged, so bytes
/// written contiguously are read back contiguously. The writer owns at most one *tail*: the
/// spare end of its last chunk, where the next bytes go. When the tail is too small a new chunk
/// is taken from the pool: [`DEFAULT_CHUNK_SIZE`] at first, doubling on every new chunk up to
/// [`MAX_CHUNK_SIZE`], or the size of the write if larger. A contiguous write (`malloc(n)`,
/// `write_binary`) always lands in one chunk, moving to a new chunk if the spare is too small.
/// Reads drop their references to consumed segments at once.
///
/// # Sharing
///
/// Views never dangle and are never overwritten. Each chunk has a *frozen mark*: bytes below
/// it are immutable; the tail only writes above it; flushing raises it. A view returned by
/// [`next`](Self::next), [`peek`](Self::peek), [`until`](Self::until), a [`slice`](Self::slice)
/// or an [`io_slices`](Self::io_slices) entry covers frozen bytes only and (except for the
/// borrowed `IoSlice`s) holds an `Arc` on its chunk, so it stays valid and unchanged for as long
/// as it lives, whatever happens to the `LinkBuffer` afterwards (more reads and writes,
/// [`release`](Self::release), drop). A chunk's memory returns to its pool when the last
/// segment, view or tail referencing it drops; only then can the pool reuse it.
///
/// A `LinkBuffer` is `Send` (it can move to a reactor thread) and `Sync`; it has no internal
/// locking, so mutation needs `&mut self`. Independent readers over the same bytes are made
/// with [`slice`](Self::slice), not by sharing one `LinkBuffer`.
///
/// # Errors
///
/// A method that can fail returns [`BufferError`](super::BufferError) and then changes
/// nothing.
pub struct LinkBuffer {
    pool: BufferPool,
    /// Readable segments first (`..nread`), then pending ones. No segment is empty.
    segs: VecDeque<Seg>,
    /// How many of the first segments are readable.
    nread: usize,
    /// Readable bytes (the sum of the first `nread` segment lengths).
    readable: usize,
    /// Pending (written, not yet flushed) bytes: the sum of the other segment lengths.
    pending: usize,
    /// The writable spare end of the last chunk this buffer allocated, if any.
    tail: Option<Tail>,
    /// Size of the next chunk to allocate (adaptive).
    chunk_size: usize,
    /// The first chunk size, restored by `release` on an empty buffer.
    initial_chunk_size: usize,
}

/// One range of bytes in the chain.
#[derive(Clone)]
enum Seg {
    /// `chunk[start..end]`.
    Chunk {
        chunk: Arc<Chunk>,
        start: usize,
        end: usize,
    },
    /// Foreign bytes, held by reference.
    Shared(Bytes),
}

impl Seg {
    fn len(&self) -> usize {
        match self {
            Seg::Chunk { start, end, .. } => end - start,
            Seg::Shared(b) => b.len(),
        }
    }

    /// The bytes of a readable (frozen) segment. Panics on a pending chunk segment.
    fn bytes(&self) -> &[u8] {
        match self {
            Seg::Chunk { chunk, start, end } => chunk.frozen_slice(*start, *end),
            Seg::Shared(b) => b,
        }
    }

    /// An owning view of the relative range `from..to` of a readable segment.
    fn view(&self, from: usize, to: usize) -> Bytes {
        debug_assert!(from <= to && to <= self.len());
        match self {
            Seg::Chunk { chunk, start, .. } => {
                Bytes::from_owner(ChunkView::new(chunk.clone(), start + from, start + to))
            }
            Seg::Shared(b) => b.slice(from..to),
        }
    }

    /// Drops the first `n` bytes (`n < len`).
    fn advance(&mut self, n: usize) {
        debug_assert!(n < self.len());
        match self {
            Seg::Chunk { start, .. } => *start += n,
            Seg::Shared(b) => bytes::Buf::advance(b, n),
        }
    }

    /// Keeps the first `len` bytes (`0 < len < self.len()`).
    fn truncate(&mut self, len: usize) {
        debug_assert!(len > 0 && len < self.len());
        match self {
            Seg::Chunk { start, end, .. } => *end = *start + len,
            Seg::Shared(b) => b.truncate(len),
        }
    }

    /// Splits at `at` (`0 < at < len`): `self` keeps `..at`, the result is `at..`.
    fn split_off(&mut self, at: usize) -> Seg {
        debug_assert!(at > 0 && at < self.len());
        match self {
            Seg::Chunk { chunk, start, end } => {
                let rest = Seg::Chunk {
                    chunk: chunk.clone(),
                    start: *start + at,
                    end: *end,
                };
                *end = *start + at;
                rest
            }
            Seg::Shared(b) => Seg::Shared(b.split_off(at)),
        }
    }

    /// A segment over the first `n` bytes (`0 < n <= len`), sharing the memory.
    fn prefix(&self, n: usize) -> Seg {
        debug_assert!(n > 0 && n <= self.len());
        match self {
            Seg::Chunk { chunk, start, .. } => Seg::Chunk {
                chunk: chunk.clone(),
                start: *start,
                end: *start + n,
            },
            Seg::Shared(b) => Seg::Shared(b.slice(..n)),
        }
    }

    /// Makes the segment's bytes immutable (raises its chunk's frozen mark).
    fn freeze(&self) {
        if let Seg::Chunk { chunk, end, .. } = self {
            chunk.freeze(*end);
        }
    }
}

impl Default for LinkBuffer {
    /// An empty buffer on the global pool, like [`LinkBuffer::new`].
    fn default() -> Self {
        LinkBuffer::new()
    }
}

impl fmt::Debug for LinkBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkBuffer")
            .field("len", &self.readable)
            .field("malloc_len", &self.pending)
            .field("segments", &self.segs.len())
            .field("tail_spare", &self.tail.as_ref().map_or(0, Tail::spare))
            .finish()
    }
}

impl LinkBuffer {
    /// An empty buffer taking its chunks from [`BufferPool::global`]. Allocates nothing until
    /// the first write.
    pub fn new() -> Self {
        LinkBuffer::with_pool(BufferPool::global().clone())
    }

    /// An empty buffer taking its chunks from `pool`. Allocates nothing until the first write.
    pub fn with_pool(pool: BufferPool) -> Self {
        LinkBuffer::with_chunk_size(pool, DEFAULT_CHUNK_SIZE)
    }

    /// An empty buffer on `pool` whose first chunk has `chunk_size` bytes (at least 1; the
    /// pool rounds it up to a size class) instead of [`DEFAULT_CHUNK_SIZE`]. Later chunks
    /// still double, up to `MAX_CHUNK_SIZE` (or `chunk_size` if larger).
    pub fn with_chunk_size(pool: BufferPool, chunk_size: usize) -> Self {
        let chunk_size = chunk_size.max(1);
        LinkBuffer {
            pool,
            segs: VecDeque::new(),
            nread: 0,
            readable: 0,
            pending: 0,
            tail: None,
            chunk_size,
            initial_chunk_size: chunk_size,
        }
    }

    /// The pool this buffer takes its chunks from.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// Readable bytes: flushed and not yet consumed. Pending bytes are not counted (see
    /// [`malloc_len`](Self::malloc_len)).
    pub fn len(&self) -> usize {
        self.readable
    }

    /// Whether no byte is readable (`len() == 0`). Pending bytes may still exist.
    pub fn is_empty(&self) -> bool {
        self.readable == 0
    }

    /// The readable segments, in order.
    fn readable_segs(&self) -> impl Iterator<Item = &Seg> {
        self.segs.range(..self.nread)
    }

    /// Number of segments in the chain (readable and pending), for tests and statistics.
    pub fn segment_count(&self) -> usize {
        self.segs.len()
    }
}
