//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`, Linux 5.19+) for the io_uring ceiling
//! server: `count` buffers of `size` bytes that the kernel picks from for multishot receives.
//! A completion names the buffer it filled (its id); the buffer is ours until
//! [`BufRing::give_back`] puts it in the ring again.

use io_uring::types::BufRingEntry;
use io_uring::IoUring;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// The ring of buffer descriptors (page-aligned, shared with the kernel) and the buffers.
pub struct BufRing {
    /// `count` entries, mmap'ed (the kernel wants page alignment).
    entries: *mut BufRingEntry,
    /// The buffers, `size` bytes each, one after the other.
    bufs: Vec<u8>,
    size: usize,
    count: u16,
    /// Our copy of the ring's tail: where the next given-back buffer goes.
    tail: u16,
    /// Buffers the kernel has handed us and we have not given back.
    lent: usize,
}

impl BufRing {
    /// Registers a ring of `count` (a power of two ≤ 32768) buffers of `size` bytes as buffer
    /// group `group` of `uring`, every buffer in the ring. The ring must be dropped after
    /// `uring` (the kernel reads it until the io_uring is closed).
    pub fn new(uring: &IoUring, group: u16, count: u16, size: usize) -> io::Result<BufRing> {
        assert!(count.is_power_of_two());
        let bytes = count as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping, no pointers passed in.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut ring = BufRing {
            entries: map.cast(),
            bufs: vec![0; count as usize * size],
            size,
            count,
            tail: 0,
            lent: count as usize,
        };
        // SAFETY: `entries` is page-aligned and `count` entries long, and lives until this
        // BufRing drops, which its owner does after dropping `uring` (see above).
        unsafe {
            uring
                .submitter()
                .register_buf_ring_with_flags(map as u64, count, group, 0)?;
        }
        for bid in 0..count {
            ring.give_back(bid);
        }
        Ok(ring)
    }

    /// The first `len` bytes of buffer `bid`, as a completion reported them.
    pub fn data(&self, bid: u16, len: usize) -> &[u8] {
        let at = bid as usize * self.size;
        &self.bufs[at..at + len]
    }

    /// Puts buffer `bid` back in the ring for the kernel to fill again.
    pub fn give_back(&mut self, bid: u16) {
        let at = bid as usize * self.size;
        let slot = (self.tail & (self.count - 1)) as usize;
        // SAFETY: `slot` < `count`, so the entry is inside the mapping; the kernel only reads
        // entries between its head and the published tail, and this one is past the tail.
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(self.bufs[at..].as_ptr() as u64);
        entry.set_len(self.size as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail field overlays entry 0's reserved field (the kernel's layout); it is
        // a naturally aligned u16 inside the mapping, written by us and read by the kernel.
        let tail = unsafe { &*(BufRingEntry::tail(self.entries).cast::<AtomicU16>()) };
        tail.store(self.tail, Ordering::Release);
        self.lent -= 1;
    }

    /// Records that a completion took a buffer out of the ring.
    pub fn took(&mut self) {
        self.lent += 1;
    }

    /// Whether the ring holds a buffer for the next receive.
    pub fn has_free(&self) -> bool {
        self.lent < self.count as usize
    }

    /// Bytes of buffers handed to us and not yet given back.
    pub fn lent_bytes(&self) -> usize {
        self.lent * self.size
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        let bytes = self.count as usize * std::mem::size_of::<BufRingEntry>();
        // SAFETY: the mapping made in `new`, of that length, no longer read by the kernel.
        unsafe { libc::munmap(self.entries.cast(), bytes) };
    }
}
