//! The reader half of [`LinkBuffer`]: consumes readable bytes from the front.
//!
//! Every reader method works on readable (flushed) bytes only, never waits (it is the
//! connection's job to wait until enough bytes arrived), and fails with
//! [`BufferError::NotEnough`] without consuming anything when asked for more than
//! [`len`](LinkBuffer::len).

use std::collections::VecDeque;

use bytes::Bytes;

use super::LinkBuffer;
use crate::buffer::chunk::{Chunk, ChunkView};
use crate::buffer::BufferError;

impl LinkBuffer {
    fn check_readable(&self, n: usize) -> Result<(), BufferError> {
        if n > self.readable {
            Err(BufferError::NotEnough {
                need: n,
                have: self.readable,
            })
        } else {
            Ok(())
        }
    }

    /// Drops the first `n` readable bytes (`n <= readable`, checked by the caller) and the
    /// references to the segments they empty.
    pub(super) fn consume(&mut self, mut n: usize) {
        debug_assert!(n <= self.readable);
        self.readable -= n;
        while n > 0 {
            let len = self.segs[0].len();
            if len <= n {
                self.segs.pop_front();
                self.nread -= 1;
                n -= len;
            } else {
                self.segs[0].advance(n);
                n = 0;
            }
        }
    }

    /// Copies the first `dst.len()` readable bytes (`<= readable`) into `dst`.
    fn copy_readable(&self, dst: &mut [u8]) {
        let mut off = 0;
        for seg in self.readable_segs() {
            if off == dst.len() {
                break;
            }
            let src = seg.bytes();
            let k = src.len().min(dst.len() - off);
            dst[off..off + k].copy_from_slice(&src[..k]);
            off += k;
        }
        debug_assert_eq!(off, dst.len());
    }

    /// The first `n` readable bytes as one contiguous view (`0 < n <= readable`): a view of
    /// the first segment if it holds them all, else one copy into a fresh pooled chunk.
    fn view_front(&self, n: usize) -> Bytes {
        let first = &self.segs[0];
        if first.len() >= n {
            return first.view(0, n);
        }
        let mut tail = Chunk::with_tail(&self.pool, n);
        self.copy_readable(tail.take(n).1);
        tail.chunk().freeze(n);
        Bytes::from_owner(ChunkView::new(tail.chunk().clone(), 0, n))
    }

    /// Consumes the next `n` readable bytes and returns them.
    ///
    /// Needs `n <= len()`, else fails with [`BufferError::NotEnough`] and consumes nothing.
    /// `n == 0` returns an empty `Bytes`. The result is a zero-copy view when the `n` bytes lie
    /// in one segment, else one copy into a fresh pooled chunk. It stays valid and unchanged
    /// for as long as it lives, independently of this buffer (see *Sharing* on
    /// [`LinkBuffer`]); holding it keeps its whole chunk out of the pool.
    pub fn next(&mut self, n: usize) -> Result<Bytes, BufferError> {
        let bytes = self.peek(n)?;
        self.consume(n);
        Ok(bytes)
    }

    /// Returns the next `n` readable bytes without consuming them.
    ///
    /// Same contract as [`next`](Self::next) (zero-copy when possible, valid as long as it
    /// lives), but the read cursor does not move.
    pub fn peek(&self, n: usize) -> Result<Bytes, BufferError> {
        self.check_readable(n)?;
        if n == 0 {
            return Ok(Bytes::new());
        }
        Ok(self.view_front(n))
    }

    /// Consumes the next `n` readable bytes without looking at them.
    ///
    /// Needs `n <= len()`, else fails with [`BufferError::NotEnough`] and consumes nothing.
    pub fn skip(&mut self, n: usize) -> Result<(), BufferError> {
        self.check_readable(n)?;
        self.consume(n);
        Ok(())
    }

    /// Consumes and returns the readable bytes up to and including the first `delim`.
    ///
    /// Fails with [`BufferError::NotFound`] (consuming nothing) if no readable byte equals
    /// `delim`. The result follows [`next`](Self::next)'s contract.
    pub fn until(&mut self, delim: u8) -> Result<Bytes, BufferError> {
        let mut off = 0;
        let mut found = None;
        for seg in self.readable_segs() {
            let bytes = seg.bytes();
            if let Some(i) = bytes.iter().position(|&b| b == delim) {
                found = Some(off + i + 1);
                break;
            }
            off += bytes.len();
        }
        match found {
            Some(n) => self.next(n),
            None => Err(BufferError::NotFound),
        }
    }

    /// Consumes the next `n` readable bytes and returns them as a `String`.
    ///
    /// Strict: if the bytes are not valid UTF-8 it fails with [`BufferError::InvalidUtf8`]
    /// and consumes nothing (so the caller can still read them as binary). Needs `n <= len()`,
    /// else [`BufferError::NotEnough`]. The string is a copy.
    pub fn read_string(&mut self, n: usize) -> Result<String, BufferError> {
        self.check_readable(n)?;
        let string = match String::from_utf8(self.gather(n)) {
            Ok(s) => s,
            Err(e) => {
                return Err(BufferError::InvalidUtf8 {
                    valid_up_to: e.utf8_error().valid_up_to(),
                })
            }
        };
        self.consume(n);
        Ok(string)
    }

    /// Consumes the next `n` readable bytes and decodes them as UTF-8, replacing invalid
    /// sequences with U+FFFD (like `String::from_utf8_lossy` and Node's `buf.toString()`).
    /// Needs `n <= len()`, else [`BufferError::NotEnough`]. The string is a copy.
    pub fn read_string_lossy(&mut self, n: usize) -> Result<String, BufferError> {
        self.check_readable(n)?;
        let bytes = self.gather(n);
        self.consume(n);
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        })
    }

    /// The first `n` readable bytes (`<= readable`) copied into a new vector.
    fn gather(&self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        for seg in self.readable_segs() {
            let rest = n - out.len();
            if rest == 0 {
                break;
            }
            let bytes = seg.bytes();
            out.extend_from_slice(&bytes[..bytes.len().min(rest)]);
        }
        out
    }

    /// Consumes the next `n` readable bytes and returns a copy of them.
    ///
    /// Needs `n <= len()`, else fails with [`BufferError::NotEnough`] and consumes nothing.
    /// The vector is the caller's own memory (not pooled).
    pub fn read_binary(&mut self, n: usize) -> Result<Vec<u8>, BufferError> {
        self.check_readable(n)?;
        let out = self.gather(n);
        self.consume(n);
        Ok(out)
    }

    /// Copies the next `dst.len()` readable bytes into `dst` and consumes them (like
    /// `bytes::Buf::copy_to_slice`).
    ///
    /// Needs `dst.len() <= len()`, else fails with [`BufferError::NotEnough`], consuming and
    /// writing nothing.
    pub fn read_into(&mut self, dst: &mut [u8]) -> Result<(), BufferError> {
        self.peek_into(dst)?;
        self.consume(dst.len());
        Ok(())
    }

    /// Copies the next `dst.len()` readable bytes into `dst` without consuming them.
    ///
    /// Needs `dst.len() <= len()`, else fails with [`BufferError::NotEnough`] and writes
    /// nothing.
    pub fn peek_into(&self, dst: &mut [u8]) -> Result<(), BufferError> {
        self.check_readable(dst.len())?;
        self.copy_readable(dst);
        Ok(())
    }

    /// Consumes and returns the next readable byte.
    ///
    /// Fails with [`BufferError::NotEnough`] (`need: 1, have: 0`) when nothing is readable.
    pub fn read_byte(&mut self) -> Result<u8, BufferError> {
        self.check_readable(1)?;
        let b = self.segs[0].bytes()[0];
        self.consume(1);
        Ok(b)
    }

    /// Splits off the next `n` readable bytes as an independent `LinkBuffer`, without copying,
    /// and consumes them from `self`.
    ///
    /// The result shares the chunks (views, see *Sharing*): it has `len() == n`, nothing
    /// pending, no tail of its own (its first write takes a new chunk), and the same pool.
    /// Reading or releasing either buffer never affects the other. Needs `n <= len()`, else
    /// fails with [`BufferError::NotEnough`] and consumes nothing.
    pub fn slice(&mut self, n: usize) -> Result<LinkBuffer, BufferError> {
        self.check_readable(n)?;
        let mut segs = VecDeque::new();
        let mut left = n;
        for seg in self.readable_segs() {
            if left == 0 {
                break;
            }
            let len = seg.len();
            if len <= left {
                segs.push_back(seg.clone());
                left -= len;
            } else {
                segs.push_back(seg.prefix(left));
                left = 0;
            }
        }
        self.consume(n);
        Ok(LinkBuffer {
            pool: self.pool.clone(),
            nread: segs.len(),
            segs,
            readable: n,
            pending: 0,
            tail: None,
            chunk_size: self.initial_chunk_size,
            initial_chunk_size: self.initial_chunk_size,
        })
    }

    /// Lets go of memory this buffer no longer needs.
    ///
    /// Consumed segments are already dropped by the reads themselves; `release` additionally,
    /// when nothing is readable or pending, gives back the writable tail chunk and resets the
    /// adaptive chunk size, so an idle buffer holds no pool memory. Each chunk goes back to its
    /// pool once no view holds it: views handed out earlier stay valid and unchanged (unlike
    /// netpoll's `Release`). Never fails.
    pub fn release(&mut self) {
        if self.readable == 0 && self.pending == 0 {
            self.tail = None;
            self.chunk_size = self.initial_chunk_size;
            if self.segs.capacity() > 16 {
                self.segs = VecDeque::new();
            }
        }
    }
}
