//! The buffer pool (netpoll's `mcache`): size-classed free lists of byte vectors, bounded in
//! total cached bytes, reused without zeroing.

use std::fmt;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Default [`PoolConfig::max_cached_bytes`]: 64 MiB.
pub const DEFAULT_MAX_CACHED_BYTES: usize = 64 << 20;
/// Default [`PoolConfig::min_class_size`]: 1 KiB.
pub const DEFAULT_MIN_CLASS_SIZE: usize = 1 << 10;
/// Default [`PoolConfig::max_class_size`]: 4 MiB.
pub const DEFAULT_MAX_CLASS_SIZE: usize = 4 << 20;
/// Default [`PoolConfig::retained_bytes`]: 1 MiB.
pub const DEFAULT_RETAINED_BYTES: usize = 1 << 20;

/// Tuning of a [`BufferPool`].
///
/// Sizes are rounded up to powers of two by [`BufferPool::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Upper bound on the bytes kept in the free lists. A buffer returned while the cache is
    /// full is freed instead. Default: [`DEFAULT_MAX_CACHED_BYTES`] (64 MiB). `0` disables
    /// caching (every request allocates).
    pub max_cached_bytes: usize,
    /// The smallest size class: smaller requests get a buffer of this size. Default:
    /// [`DEFAULT_MIN_CLASS_SIZE`] (1 KiB).
    pub min_class_size: usize,
    /// The largest size class. Larger requests are allocated with exactly the requested size
    /// and freed (never cached) when dropped. Default: [`DEFAULT_MAX_CLASS_SIZE`] (4 MiB).
    pub max_class_size: usize,
    /// The floor [`BufferPool::trim`] leaves cached: what a burst cached beyond it is freed
    /// once the pool has been quiet (the engines trim after a quiet interval). Default:
    /// [`DEFAULT_RETAINED_BYTES`] (1 MiB).
    pub retained_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            max_cached_bytes: DEFAULT_MAX_CACHED_BYTES,
            min_class_size: DEFAULT_MIN_CLASS_SIZE,
            max_class_size: DEFAULT_MAX_CLASS_SIZE,
            retained_bytes: DEFAULT_RETAINED_BYTES,
        }
    }
}

/// A snapshot of a pool's counters (see [`BufferPool::stats`]).
///
/// The fields are read one by one without a lock, so under concurrent use a snapshot may be
/// slightly inconsistent (e.g. a buffer counted in neither field while it moves).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes of buffers handed out and not yet dropped (their usable size).
    pub bytes_in_use: usize,
    /// Bytes of buffers waiting in the free lists.
    pub bytes_cached: usize,
    /// Bytes the pool holds: in use plus cached (what it costs the process).
    pub bytes_held: usize,
    /// Bytes freed from the free lists by [`BufferPool::trim`] so far.
    pub bytes_trimmed: u64,
    /// Requests served from a free list.
    pub hits: u64,
    /// Requests that allocated (cold class, empty free list, or larger than the largest class).
    pub misses: u64,
}

struct Inner {
    config: PoolConfig,
    /// `classes[i]` holds buffers of exactly `min_class_size << i` bytes.
    classes: Box<[Mutex<Vec<Vec<u8>>>]>,
    bytes_in_use: AtomicUsize,
    bytes_cached: AtomicUsize,
    bytes_trimmed: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A pool of reusable byte buffers: netpoll's `mcache`.
///
/// # Size classes
///
/// Requests are rounded up to a power of two between [`PoolConfig::min_class_size`] and
/// [`PoolConfig::max_class_size`] (1 KiB … 4 MiB by default); each class has its own free list
/// behind its own short-held mutex. Larger requests are allocated exactly and never cached.
///
/// # Memory
///
/// A buffer is zero-filled once, when it is first allocated, so its bytes are always
/// initialized; after that it is reused as is (no zeroing on the hot path). Whoever hands pool
/// memory to a peer must therefore overwrite what it sends (the [`LinkBuffer`] writer does:
/// `malloc` zero-fills, `write_*` copies). The free lists never hold more than
/// [`PoolConfig::max_cached_bytes`] in total, and [`trim`](BufferPool::trim) frees what a
/// burst cached beyond [`PoolConfig::retained_bytes`] once it is over.
///
/// # Sharing
///
/// `BufferPool` is a handle: clones share one pool, and it is `Send + Sync`. Each [`PooledBuf`]
/// keeps a handle and goes back to its own pool when dropped, on whatever thread.
/// [`BufferPool::global`] is the process-wide default pool.
///
/// [`LinkBuffer`]: crate::buffer::LinkBuffer
#[derive(Clone)]
pub struct BufferPool {
    inner: Arc<Inner>,
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for BufferPool {
    /// A new pool with [`PoolConfig::default`] (not the global pool).
    fn default() -> Self {
        BufferPool::new(PoolConfig::default())
    }
}

impl BufferPool {
    /// Creates a pool. Class sizes are rounded up to powers of two; `min_class_size` is at
    /// least 64 bytes and `max_class_size` at least `min_class_size`.
    pub fn new(mut config: PoolConfig) -> Self {
        config.min_class_size = config.min_class_size.max(64).next_power_of_two();
        config.max_class_size = config
            .max_class_size
            .max(config.min_class_size)
            .next_power_of_two();
        let count = (config.max_class_size.trailing_zeros()
            - config.min_class_size.trailing_zeros()
            + 1) as usize;
        let classes = (0..count).map(|_| Mutex::new(Vec::new())).collect();
        BufferPool {
            inner: Arc::new(Inner {
                config,
                classes,
                bytes_in_use: AtomicUsize::new(0),
                bytes_cached: AtomicUsize::new(0),
                bytes_trimmed: AtomicU64::new(0),
                hits: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// The process-wide default pool, created on first use with [`PoolConfig::default`].
    pub fn global() -> &'static BufferPool {
        static GLOBAL: OnceLock<BufferPool> = OnceLock::new();
        GLOBAL.get_or_init(BufferPool::default)
    }

    /// The effective configuration (after rounding).
    pub fn config(&self) -> &PoolConfig {
        &self.inner.config
    }

    /// The usable size of the buffer that [`get(n)`](Self::get) returns: `n` rounded up to
    /// its size class, or `n` itself above the largest class.
    pub fn class_size(&self, n: usize) -> usize {
        let c = &self.inner.config;
        if n > c.max_class_size {
            n
        } else {
            n.max(c.min_class_size).next_power_of_two()
        }
    }

    fn class_index(&self, size: usize) -> Option<usize> {
        let c = &self.inner.config;
        if size < c.min_class_size || size > c.max_class_size || !size.is_power_of_two() {
            return None;
        }
        Some((size.trailing_zeros() - c.min_class_size.trailing_zeros()) as usize)
    }

    /// Takes a buffer of at least `min` bytes (exactly [`class_size(min)`](Self::class_size)).
    ///
    /// The contents are initialized but unspecified (zeros when fresh, old data when reused).
    /// The buffer returns to this pool when the [`PooledBuf`] drops.
    pub fn get(&self, min: usize) -> PooledBuf {
        let size = self.class_size(min);
        let reused = self.class_index(size).and_then(|i| {
            self.inner.classes[i]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
        });
        let vec = match reused {
            Some(v) => {
                self.inner.bytes_cached.fetch_sub(size, Ordering::Relaxed);
                self.inner.hits.fetch_add(1, Ordering::Relaxed);
                v
            }
            None => {
                self.inner.misses.fetch_add(1, Ordering::Relaxed);
                vec![0u8; size]
            }
        };
        debug_assert_eq!(vec.len(), size);
        self.inner.bytes_in_use.fetch_add(size, Ordering::Relaxed);
        PooledBuf {
            vec: ManuallyDrop::new(vec),
            pool: self.clone(),
        }
    }

    fn put(&self, vec: Vec<u8>) {
        let size = vec.len();
        self.inner.bytes_in_use.fetch_sub(size, Ordering::Relaxed);
        let Some(i) = self.class_index(size) else {
            return; // oversized: freed here
        };
        let max = self.inner.config.max_cached_bytes;
        // Reserve room in the bound first, so that concurrent returns never overshoot it.
        let reserved = self
            .inner
            .bytes_cached
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |cached| {
                (cached + size <= max).then_some(cached + size)
            })
            .is_ok();
        if reserved {
            self.inner.classes[i]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(vec);
        }
    }

    /// Frees every cached buffer (buffers in use are unaffected).
    pub fn clear(&self) {
        for class in self.inner.classes.iter() {
            let drained = std::mem::take(&mut *class.lock().unwrap_or_else(|e| e.into_inner()));
            let bytes: usize = drained.iter().map(Vec::len).sum();
            self.inner.bytes_cached.fetch_sub(bytes, Ordering::Relaxed);
        }
    }

    /// Frees cached buffers, largest classes first, until at most
    /// [`PoolConfig::retained_bytes`] stay cached (buffers in use are unaffected). Returns the
    /// bytes freed. The engines call it after a quiet interval, so that the free lists a burst
    /// (or an attack) filled do not keep their peak for the life of the process.
    pub fn trim(&self) -> usize {
        let floor = self.inner.config.retained_bytes;
        let mut freed = 0;
        for class in self.inner.classes.iter().rev() {
            let mut list = class.lock().unwrap_or_else(|e| e.into_inner());
            while self.inner.bytes_cached.load(Ordering::Relaxed) > floor {
                let Some(vec) = list.pop() else { break };
                self.inner
                    .bytes_cached
                    .fetch_sub(vec.len(), Ordering::Relaxed);
                freed += vec.len();
            }
            if list.is_empty() {
                // Let the list's own storage go too.
                *list = Vec::new();
            }
        }
        self.inner
            .bytes_trimmed
            .fetch_add(freed as u64, Ordering::Relaxed);
        freed
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> PoolStats {
        let bytes_in_use = self.inner.bytes_in_use.load(Ordering::Relaxed);
        let bytes_cached = self.inner.bytes_cached.load(Ordering::Relaxed);
        PoolStats {
            bytes_in_use,
            bytes_cached,
            bytes_held: bytes_in_use + bytes_cached,
            bytes_trimmed: self.inner.bytes_trimmed.load(Ordering::Relaxed),
            hits: self.inner.hits.load(Ordering::Relaxed),
            misses: self.inner.misses.load(Ordering::Relaxed),
        }
    }
}

/// A buffer taken from a [`BufferPool`]; it goes back to that pool when dropped.
///
/// Its length is fixed (the class size) and its bytes are always initialized.
pub struct PooledBuf {
    vec: ManuallyDrop<Vec<u8>>,
    pool: BufferPool,
}

impl PooledBuf {
    /// A raw pointer to the first byte, derived without creating a reference (see
    /// [`Vec::as_mut_ptr`]), so it stays valid while the `PooledBuf` is moved around, as long
    /// as the buffer is not accessed through `Deref`/`DerefMut` in the meantime.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.vec.as_mut_ptr()
    }

    /// The pool this buffer returns to.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }
}

impl Deref for PooledBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.vec
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.vec
    }
}

impl fmt::Debug for PooledBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuf")
            .field("len", &self.vec.len())
            .finish()
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        // SAFETY: `vec` is never used again after this take (we are in `drop`).
        let vec = unsafe { ManuallyDrop::take(&mut self.vec) };
        self.pool.put(vec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_pool(max_cached: usize) -> BufferPool {
        BufferPool::new(PoolConfig {
            max_cached_bytes: max_cached,
            min_class_size: 1024,
            max_class_size: 64 * 1024,
            retained_bytes: 0,
        })
    }

    #[test]
    fn class_sizes_round_up_to_powers_of_two() {
        let pool = small_pool(1 << 20);
        assert_eq!(pool.class_size(0), 1024);
        assert_eq!(pool.class_size(1), 1024);
        assert_eq!(pool.class_size(1024), 1024);
        assert_eq!(pool.class_size(1025), 2048);
        assert_eq!(pool.class_size(64 * 1024), 64 * 1024);
        assert_eq!(pool.class_size(64 * 1024 + 1), 64 * 1024 + 1);
        assert_eq!(pool.get(3000).len(), 4096);
    }

    #[test]
    fn config_is_normalized() {
        let pool = BufferPool::new(PoolConfig {
            max_cached_bytes: 0,
            min_class_size: 3,
            max_class_size: 1,
            retained_bytes: 0,
        });
        assert_eq!(pool.config().min_class_size, 64);
        assert_eq!(pool.config().max_class_size, 64);
        assert_eq!(pool.get(10).len(), 64);
    }

    #[test]
    fn hits_and_misses_are_counted_and_buffers_reused_without_zeroing() {
        let pool = small_pool(1 << 20);
        let mut a = pool.get(100);
        a[0] = 0xAB;
        let ptr = a.as_ptr();
        assert_eq!(pool.stats().misses, 1);
        assert_eq!(pool.stats().bytes_in_use, 1024);
        drop(a);
        assert_eq!(pool.stats().bytes_in_use, 0);
        assert_eq!(pool.stats().bytes_cached, 1024);
        let b = pool.get(1000);
        assert_eq!(b.as_ptr(), ptr, "the cached buffer is reused");
        assert_eq!(b[0], 0xAB, "reused as is, not zeroed");
        let s = pool.stats();
        assert_eq!(
            (s.hits, s.misses, s.bytes_cached, s.bytes_in_use),
            (1, 1, 0, 1024)
        );
        // A different class misses.
        let _c = pool.get(2000);
        assert_eq!(pool.stats().misses, 2);
    }

    #[test]
    fn fresh_buffers_are_zeroed() {
        let pool = small_pool(0);
        assert!(pool.get(4096).iter().all(|&b| b == 0));
    }

    #[test]
    fn bound_on_cached_bytes_is_respected() {
        let pool = small_pool(3 * 1024);
        let bufs: Vec<_> = (0..10).map(|_| pool.get(1024)).collect();
        assert_eq!(pool.stats().bytes_in_use, 10 * 1024);
        drop(bufs);
        let s = pool.stats();
        assert_eq!(s.bytes_cached, 3 * 1024);
        assert_eq!(s.bytes_in_use, 0);
        // A 4 KiB buffer does not fit in what is left of the bound.
        drop(pool.get(4096));
        assert_eq!(pool.stats().bytes_cached, 3 * 1024);
    }

    #[test]
    fn oversized_buffers_are_exact_and_never_cached() {
        let pool = small_pool(1 << 30);
        let big = pool.get(100_000);
        assert_eq!(big.len(), 100_000);
        assert_eq!(pool.stats().bytes_in_use, 100_000);
        drop(big);
        assert_eq!(
            pool.stats(),
            PoolStats {
                misses: 1,
                ..PoolStats::default()
            }
        );
        drop(pool.get(100_000));
        assert_eq!(pool.stats().misses, 2);
    }

    #[test]
    fn zero_bound_disables_caching() {
        let pool = small_pool(0);
        drop(pool.get(10));
        drop(pool.get(10));
        let s = pool.stats();
        assert_eq!((s.hits, s.misses, s.bytes_cached), (0, 2, 0));
    }

    #[test]
    fn clear_frees_the_cache() {
        let pool = small_pool(1 << 20);
        drop((pool.get(1), pool.get(5000)));
        assert_eq!(pool.stats().bytes_cached, 1024 + 8192);
        pool.clear();
        assert_eq!(pool.stats().bytes_cached, 0);
    }

    #[test]
    fn trim_frees_the_largest_classes_down_to_the_floor() {
        let pool = BufferPool::new(PoolConfig {
            retained_bytes: 4096,
            ..PoolConfig::default()
        });
        let bufs: Vec<_> = [1024, 1024, 4096, 65536, 65536]
            .iter()
            .map(|&n| pool.get(n))
            .collect();
        let in_use = pool.get(2048);
        drop(bufs);
        assert_eq!(pool.stats().bytes_cached, 2 * 1024 + 4096 + 2 * 65536);
        assert_eq!(pool.stats().bytes_held, pool.stats().bytes_cached + 2048);
        assert_eq!(pool.trim(), 2 * 65536 + 4096);
        let s = pool.stats();
        assert_eq!((s.bytes_cached, s.bytes_in_use), (2048, 2048));
        assert_eq!(s.bytes_trimmed, 2 * 65536 + 4096);
        // Under the floor: nothing more to free; the kept buffers are still reused.
        assert_eq!(pool.trim(), 0);
        drop(in_use);
        let hits = pool.stats().hits;
        drop(pool.get(1000));
        assert_eq!(pool.stats().hits, hits + 1);
    }

    #[test]
    fn buffers_return_from_other_threads() {
        let pool = small_pool(1 << 20);
        let bufs: Vec<_> = (0..8).map(|_| pool.get(2048)).collect();
        std::thread::spawn(move || drop(bufs)).join().unwrap();
        let s = pool.stats();
        assert_eq!((s.bytes_in_use, s.bytes_cached), (0, 8 * 2048));
    }

    #[test]
    fn global_pool_is_shared() {
        let a = BufferPool::global();
        let b = BufferPool::global();
        assert!(Arc::ptr_eq(&a.inner, &b.inner));
        assert_eq!(a.config(), &PoolConfig::default());
    }
}
