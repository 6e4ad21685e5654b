//! [`ByteQueue`]: the ciphertext buffers of a [`super::TlsSession`] — bytes appended at the
//! back, taken from the front, in one allocation that is zeroed only when it grows (rustls'
//! unbuffered API reads and writes `&mut [u8]`, so the memory must be initialized; zeroing it
//! again for every record was a measured cost of the buffered API).

/// A FIFO of bytes over one reused, initialized allocation.
#[derive(Default)]
pub(crate) struct ByteQueue {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl ByteQueue {
    /// Bytes queued.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// The queued bytes.
    pub fn filled(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// The queued bytes, writable (rustls decrypts records in place).
    pub fn filled_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.end]
    }

    /// `want` writable bytes right after the queued ones; [`ByteQueue::commit`] then appends
    /// what was written. Moves the queued bytes to the front first when that makes room.
    pub fn spare(&mut self, want: usize) -> &mut [u8] {
        if self.start > 0 && self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < self.end + want {
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..self.end + want]
    }

    /// Appends the first `n` bytes of the last [`ByteQueue::spare`].
    pub fn commit(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.buf.len());
        self.end += n;
    }

    /// Appends a copy of `bytes`.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.spare(bytes.len()).copy_from_slice(bytes);
        self.commit(bytes.len());
    }

    /// Removes `n` bytes from the front. Once empty, the allocation is released unless its
    /// size is in `keep` (an idle connection holds no buffer; a busy one reuses its own).
    pub fn consume(&mut self, n: usize, keep: std::ops::RangeInclusive<usize>) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if !keep.contains(&self.buf.len()) {
                self.buf = Vec::new();
            }
        }
    }

    /// Empties the queue and releases its allocation.
    pub fn release(&mut self) {
        *self = ByteQueue::default();
    }

    /// Moves up to `sink.len()` bytes from the front into `sink`; returns how many. The
    /// allocation is released once empty.
    pub fn take_into(&mut self, sink: &mut [u8]) -> usize {
        let n = self.len().min(sink.len());
        sink[..n].copy_from_slice(&self.filled()[..n]);
        self.consume(n, 0..=0);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::ByteQueue;

    #[test]
    fn bytes_come_out_in_order_across_compaction_and_release() {
        let mut q = ByteQueue::default();
        q.extend(b"hello ");
        q.spare(5).copy_from_slice(b"world");
        q.commit(5);
        assert_eq!(q.filled(), b"hello world");
        q.consume(6, 0..=1024);
        // Compaction: 6 free bytes at the front, none at the back.
        q.extend(b"!!!!!!!");
        assert_eq!(q.filled(), b"world!!!!!!!");
        q.consume(q.len(), 0..=4);
        assert!(q.is_empty());
        assert_eq!(q.buf.capacity(), 0, "released outside `keep`");
        q.extend(b"ab");
        q.consume(2, 0..=1024);
        assert!(q.buf.capacity() > 0, "kept inside `keep`");
    }
}
