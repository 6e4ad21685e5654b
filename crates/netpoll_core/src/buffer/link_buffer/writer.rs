//! The writer half of [`LinkBuffer`]: appends pending bytes and flushes them.
//!
//! Written bytes are *pending* ([`malloc_len`](LinkBuffer::malloc_len)) until
//! [`flush`](LinkBuffer::flush) makes them readable, in write order.

use std::sync::Arc;

use bytes::Bytes;

use super::{LinkBuffer, Seg, MAX_CHUNK_SIZE};
use crate::buffer::chunk::{Chunk, Tail};
use crate::buffer::BufferError;

impl LinkBuffer {
    /// Makes sure the tail has at least `n` spare bytes, taking a new chunk if not. Growth:
    /// every new chunk after the first doubles the chunk size, up to `MAX_CHUNK_SIZE`.
    pub(super) fn ensure_tail(&mut self, n: usize) -> &mut Tail {
        let fits = self.tail.as_ref().is_some_and(|t| t.spare() >= n);
        if fits {
            return self.tail.as_mut().expect("checked above");
        }
        if self.tail.is_some() {
            let cap = MAX_CHUNK_SIZE.max(self.initial_chunk_size);
            self.chunk_size = (self.chunk_size * 2).min(cap);
        }
        self.tail
            .insert(Chunk::with_tail(&self.pool, n.max(self.chunk_size)))
    }

    /// Appends `n > 0` contiguous pending bytes at the tail and returns them (old contents:
    /// the caller overwrites them).
    pub(super) fn write_tail(&mut self, n: usize) -> &mut [u8] {
        debug_assert!(n > 0);
        self.ensure_tail(n);
        let tail = self.tail.as_mut().expect("ensure_tail sets the tail");
        let pos = tail.pos();
        let has_pending = self.nread < self.segs.len();
        match self.segs.back_mut() {
            // Extend the last pending segment when it ends exactly at the tail cursor.
            Some(Seg::Chunk { chunk, end, .. })
                if has_pending && *end == pos && Arc::ptr_eq(chunk, tail.chunk()) =>
            {
                *end += n;
            }
            _ => self.segs.push_back(Seg::Chunk {
                chunk: tail.chunk().clone(),
                start: pos,
                end: pos + n,
            }),
        }
        self.pending += n;
        tail.take(n).1
    }

    /// Reserves `n` contiguous pending bytes at the end and returns them, zero-filled, for the
    /// caller to fill in place.
    ///
    /// The bytes count in [`malloc_len`](Self::malloc_len) right away and become readable at
    /// the next [`flush`](Self::flush); [`malloc_ack`](Self::malloc_ack) can give back the
    /// unused end. Zero-filled, so stale pool memory can never reach a peer even if the caller
    /// fills less than `n`. `n == 0` returns an empty slice. The slice borrows the buffer, so
    /// it must be filled before the next call on it.
    pub fn malloc(&mut self, n: usize) -> &mut [u8] {
        if n == 0 {
            return &mut [];
        }
        let bytes = self.write_tail(n);
        bytes.fill(0);
        bytes
    }

    /// Pending bytes: written (or malloc'd) and not yet flushed.
    pub fn malloc_len(&self) -> usize {
        self.pending
    }

    /// Keeps only the first `n` pending bytes and discards the rest (of any origin: malloc'd,
    /// written, direct or appended). Readable bytes are not affected.
    ///
    /// Needs `n <= malloc_len()`, else fails with [`BufferError::NotEnough`] and changes
    /// nothing. Space given back at the end of the tail chunk is reused by the next write.
    pub fn malloc_ack(&mut self, n: usize) -> Result<(), BufferError> {
        if n > self.pending {
            return Err(BufferError::NotEnough {
                need: n,
                have: self.pending,
            });
        }
        let mut drop = self.pending - n;
        while drop > 0 {
            let last = self
                .segs
                .back_mut()
                .expect("pending bytes live in segments");
            let len = last.len();
            if len <= drop {
                self.segs.pop_back();
                drop -= len;
            } else {
                last.truncate(len - drop);
                drop = 0;
            }
        }
        self.pending = n;
        self.rewind_tail();
        Ok(())
    }

    /// Moves the tail cursor back over bytes no segment refers to any more.
    ///
    /// The tail chunk's unfrozen bytes are only ever referenced by this buffer's pending
    /// segments, which reference them in increasing order; so the last pending segment of the
    /// tail chunk that is not frozen ends at the highest byte still in use, and with no such
    /// segment everything from the frozen mark on is free.
    fn rewind_tail(&mut self) {
        let Some(tail) = self.tail.as_mut() else {
            return;
        };
        let frozen = tail.chunk().frozen();
        let in_use = self
            .segs
            .range(self.nread..)
            .rev()
            .find_map(|seg| match seg {
                Seg::Chunk { chunk, end, .. }
                    if *end > frozen && Arc::ptr_eq(chunk, tail.chunk()) =>
                {
                    Some(*end)
                }
                _ => None,
            })
            .unwrap_or(frozen);
        if in_use < tail.pos() {
            tail.rewind(in_use);
        }
    }

    /// Appends a copy of `data` as pending bytes, contiguous in one chunk.
    pub fn write_binary(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.write_tail(data.len()).copy_from_slice(data);
        }
    }

    /// Appends a copy of the UTF-8 bytes of `s` as pending bytes.
    pub fn write_string(&mut self, s: &str) {
        self.write_binary(s.as_bytes());
    }

    /// Appends one pending byte.
    pub fn write_byte(&mut self, b: u8) {
        self.write_tail(1)[0] = b;
    }

    /// Appends `data` as pending bytes by reference (no copy). The buffer keeps a clone of the
    /// `Bytes` until those bytes are consumed or discarded.
    pub fn write_bytes(&mut self, data: Bytes) {
        if !data.is_empty() {
            self.pending += data.len();
            self.segs.push_back(Seg::Shared(data));
        }
    }

    /// netpoll's `WriteDirect`: inserts `data` by reference (no copy) before the last
    /// `remain_len` pending bytes.
    ///
    /// The usual pattern: `malloc` room for a header and a trailer, fill them, then insert a
    /// large body between them with `write_direct(body, trailer_len)`. Needs
    /// `remain_len <= malloc_len()`, else fails with [`BufferError::NotEnough`] and changes
    /// nothing. Empty `data` is a no-op.
    pub fn write_direct(&mut self, data: Bytes, remain_len: usize) -> Result<(), BufferError> {
        if remain_len > self.pending {
            return Err(BufferError::NotEnough {
                need: remain_len,
                have: self.pending,
            });
        }
        if data.is_empty() {
            return Ok(());
        }
        let mut at = self.segs.len();
        let mut left = remain_len;
        while left > 0 {
            let len = self.segs[at - 1].len();
            if len <= left {
                at -= 1;
                left -= len;
            } else {
                let rest = self.segs[at - 1].split_off(len - left);
                self.segs.insert(at, rest);
                left = 0;
            }
        }
        debug_assert!(at >= self.nread);
        self.pending += data.len();
        self.segs.insert(at, Seg::Shared(data));
        Ok(())
    }

    /// netpoll's `Append`: moves all of `other`'s bytes, readable then pending, to the end of
    /// this buffer as pending bytes, by reference (no copy).
    ///
    /// `other` is consumed. Its bytes become readable here at the next
    /// [`flush`](Self::flush). Of the two writable tails the one with more spare room is kept.
    pub fn append(&mut self, mut other: LinkBuffer) {
        self.pending += other.readable + other.pending;
        self.segs.append(&mut other.segs);
        let theirs_better = match (&self.tail, &other.tail) {
            (None, Some(_)) => true,
            (Some(ours), Some(theirs)) => theirs.spare() > ours.spare(),
            _ => false,
        };
        if theirs_better {
            std::mem::swap(&mut self.tail, &mut other.tail);
        }
        self.chunk_size = self.chunk_size.max(other.chunk_size);
    }

    /// Makes every pending byte readable, in write order: `len()` grows by `malloc_len()`,
    /// which becomes 0. The flushed bytes become immutable (views may now be taken of them).
    pub fn flush(&mut self) {
        if self.pending == 0 {
            return;
        }
        for seg in self.segs.range(self.nread..) {
            seg.freeze();
        }
        // Merge the last readable segment with the first flushed one when they are adjacent
        // ranges of one chunk, so contiguous bytes stay readable without a copy.
        if self.nread > 0 {
            let i = self.nread - 1;
            let merged_end = match (&self.segs[i], &self.segs[i + 1]) {
                (
                    Seg::Chunk { chunk, end, .. },
                    Seg::Chunk {
                        chunk: next,
                        start,
                        end: next_end,
                    },
                ) if end == start && Arc::ptr_eq(chunk, next) => Some(*next_end),
                _ => None,
            };
            if let Some(new_end) = merged_end {
                if let Seg::Chunk { end, .. } = &mut self.segs[i] {
                    *end = new_end;
                }
                self.segs.remove(i + 1);
            }
        }
        self.readable += self.pending;
        self.pending = 0;
        self.nread = self.segs.len();
    }
}
