//! [`ByteQueue`]: the buffers of a [`super::TlsSession`] — bytes appended at the back, taken
//! from the front, in one initialized allocation (rustls' unbuffered API reads and writes
//! `&mut [u8]`; zeroing a fresh buffer for every record was a measured cost of the buffered
//! API). A queue that empties hands its allocation to a small per-thread pool, and one that
//! needs memory takes it from there: a shard's connections take turns with the same few
//! buffers, and an idle connection holds none.

use std::cell::RefCell;

/// Most buffers the pool of one thread keeps.
const POOL_BUFFERS: usize = 4;

/// Largest buffer the pool keeps (larger ones are freed).
const POOL_BUFFER_MAX: usize = 512 * 1024;

thread_local! {
    /// Emptied allocations, initialized over their whole length, for the next queue.
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An allocation from the pool (the largest), or an empty one.
fn pool_take() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default()
}

/// Gives `buf` back to the pool (kept sorted by size, so the largest goes out first).
fn pool_give(buf: Vec<u8>) {
    if buf.is_empty() || buf.len() > POOL_BUFFER_MAX {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let at = p.partition_point(|b| b.len() <= buf.len());
        p.insert(at, buf);
        if p.len() > POOL_BUFFERS {
            p.remove(0);
        }
    });
}

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
        if self.buf.is_empty() {
            self.buf = pool_take();
        }
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

    /// Removes `n` bytes from the front. Once empty, the allocation goes back to the pool.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.release();
        }
    }

    /// Empties the queue; its allocation goes back to the pool.
    pub fn release(&mut self) {
        pool_give(std::mem::take(&mut self.buf));
        self.start = 0;
        self.end = 0;
    }

    /// Moves up to `sink.len()` bytes from the front into `sink`; returns how many. The
    /// allocation is released once empty.
    pub fn take_into(&mut self, sink: &mut [u8]) -> usize {
        let n = self.len().min(sink.len());
        sink[..n].copy_from_slice(&self.filled()[..n]);
        self.consume(n);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::ByteQueue;

    #[test]
    fn bytes_come_out_in_order_across_compaction_and_reuse() {
        let mut q = ByteQueue::default();
        q.extend(b"hello ");
        q.spare(5).copy_from_slice(b"world");
        q.commit(5);
        assert_eq!(q.filled(), b"hello world");
        q.consume(6);
        // Compaction: 6 free bytes at the front, none at the back.
        q.extend(b"!!!!!!!");
        assert_eq!(q.filled(), b"world!!!!!!!");
        let mut out = [0u8; 5];
        assert_eq!(q.take_into(&mut out), 5);
        assert_eq!(&out, b"world");
        q.consume(q.len());
        assert!(q.is_empty());
        assert_eq!(q.buf.capacity(), 0, "an empty queue holds no allocation");
        // The next queue reuses the allocation the last one gave back, without new zeroing.
        let mut r = ByteQueue::default();
        r.extend(b"ab");
        assert_eq!(r.filled(), b"ab");
        assert!(r.buf.len() >= 12, "the pooled allocation came back");
    }
}
