//! Socket-side helpers of [`LinkBuffer`] for the reactor: fill from `read(2)` with
//! [`reserve`](LinkBuffer::reserve)/[`commit`](LinkBuffer::commit), drain with `writev(2)`
//! through [`io_slices`](LinkBuffer::io_slices)/[`advance`](LinkBuffer::advance).

use std::io::IoSlice;

use super::LinkBuffer;
use crate::buffer::BufferError;

impl LinkBuffer {
    /// Returns the whole spare end of the tail chunk (at least `min` bytes, at least 1), taking
    /// a new pooled chunk if the current spare is smaller, for the caller to fill (typically
    /// with `read(2)`), then [`commit`](Self::commit) what it wrote.
    ///
    /// Not zero-filled: the contents are stale pool bytes, which only `commit` can make
    /// readable, and only as many as the caller says it wrote. Nothing changes in the buffer's
    /// contents until `commit`; a new chunk taken here stays as the tail.
    pub fn reserve(&mut self, min: usize) -> &mut [u8] {
        self.ensure_tail(min.max(1)).spare_mut()
    }

    /// The spare bytes at the tail (what [`reserve`](Self::reserve) would return without
    /// taking a new chunk); 0 when there is no tail.
    pub fn spare_len(&self) -> usize {
        self.tail.as_ref().map_or(0, |t| t.spare())
    }

    /// Marks the first `n` bytes returned by the last [`reserve`](Self::reserve) as written and
    /// flushes: `len()` grows by `n` plus any pending bytes (an input buffer has none).
    ///
    /// Needs `n <= spare_len()`, else fails with [`BufferError::NotEnough`] and changes
    /// nothing. `commit(0)` only flushes.
    pub fn commit(&mut self, n: usize) -> Result<(), BufferError> {
        let spare = self.spare_len();
        if n > spare {
            return Err(BufferError::NotEnough {
                need: n,
                have: spare,
            });
        }
        if n > 0 {
            self.write_tail(n);
        }
        self.flush();
        Ok(())
    }

    /// Fills `dst` with the readable bytes, one `IoSlice` per segment, in order, for
    /// `writev(2)`; returns how many entries it filled (fewer than `dst.len()` when the
    /// readable bytes run out first, 0 when nothing is readable).
    ///
    /// The slices borrow the buffer, so they live until the next `&mut` call. After writing,
    /// consume what the kernel took with [`advance`](Self::advance).
    pub fn io_slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (slot, seg) in dst.iter_mut().zip(self.readable_segs()) {
            *slot = IoSlice::new(seg.bytes());
            filled += 1;
        }
        filled
    }

    /// The readable bytes as borrowed slices, one per segment, in order.
    pub fn readable_slices(&self) -> impl Iterator<Item = &[u8]> {
        self.readable_segs().map(|seg| seg.bytes())
    }

    /// Consumes `n` readable bytes after a (partial) write: the same as
    /// [`skip`](Self::skip). Needs `n <= len()`, else [`BufferError::NotEnough`].
    pub fn advance(&mut self, n: usize) -> Result<(), BufferError> {
        self.skip(n)
    }
}
