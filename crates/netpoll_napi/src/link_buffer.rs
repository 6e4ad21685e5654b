//! `NativeLinkBuffer`: the JS face of `netpoll_core::buffer::LinkBuffer`. It validates and
//! converts arguments, calls the core, and converts results; `lib/core/link-buffer.ts` wraps it.
//!
//! # Buffers handed to JS
//!
//! A Buffer returned to JS never views memory Rust may free or reuse (DESIGN.md §4):
//! - results shorter than [`EXTERNAL_VIEW_MIN`] (128 KiB), and every `peek`/`readBinary` result,
//!   are copies into JS-owned Buffers;
//! - longer `next`/`until` results are external Buffers over the core's `Bytes` view, whose
//!   finalizer owns a clone of that `Bytes`: the chunk cannot return to the pool before the
//!   Buffer is garbage-collected. Each such range is handed out once (the read consumes it,
//!   and `slice` splits ranges between buffers), so no two external Buffers alias, and JS
//!   writes into one only change bytes nobody else reads. Where external Buffers are refused
//!   (some embedders), napi-rs falls back to a copy. The pinned bytes are reported to V8
//!   (`napi_adjust_external_memory`) so that GC pressure follows them, and bounded by
//!   [`EXTERNAL_PIN_LIMIT`]: Node runs the finalizers only after the current macrotask, so a
//!   synchronous loop would otherwise pin every view it reads;
//! - `readInto`/`peekInto` copy into a Buffer the caller allocated (the TS layer uses them
//!   for small reads: a JS allocation is cheaper than a native one).
//!
//! Bytes coming from JS (`writeBinary`, `writeDirect`, …) are always copied: JS may change or
//! detach its memory at any time.

use std::cell::{RefCell, RefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::buffer::{BufferError, LinkBuffer};

/// Views at least this long (128 KiB) go to JS as external Buffers instead of copies, while
/// [`EXTERNAL_PIN_LIMIT`] allows.
///
/// Measured on a 2-core VM (Node 20, write + flush + next of one size in a loop that yields
/// to the event loop every 10 messages): up to 64 KiB external Buffers were no faster than a
/// copy (their finalizer and GC bookkeeping cost as much as the memcpy); from 96 KiB up they
/// were about 2x faster (2.3x at 1 MiB), where a fresh JS allocation plus copy is costly.
pub const EXTERNAL_VIEW_MIN: usize = 128 * 1024;

/// Most bytes that external views may pin at once, process-wide (64 MiB); past it, views are
/// copied until finalizers have given some back.
///
/// Node runs external-Buffer finalizers only after the current macrotask, so until then each
/// external view pins its chunk. Unbounded, a synchronous loop of 10,000 64 KiB reads pinned
/// 3.9 GB and ran 7x slower than copying (no chunk could return to the pool), while copies
/// are reclaimed by V8 during the loop.
pub const EXTERNAL_PIN_LIMIT: usize = 64 << 20;

/// Bytes currently pinned by external views (see [`EXTERNAL_PIN_LIMIT`]).
static PINNED: AtomicUsize = AtomicUsize::new(0);

/// Reserves `len` bytes of the pin budget; false when it would pass the limit.
fn reserve_pin(len: usize) -> bool {
    PINNED
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |pinned| {
            (pinned + len <= EXTERNAL_PIN_LIMIT).then_some(pinned + len)
        })
        .is_ok()
}

fn unpin(len: usize) {
    PINNED.fetch_sub(len, Ordering::AcqRel);
}

/// Largest integer a JS number represents exactly (`Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// A JS error with a Node-style `code`.
fn js_error(code: &'static str, message: String) -> Error<&'static str> {
    Error::new(code, message)
}

/// A napi failure (engine-level, e.g. out of memory) as a coded error.
fn napi_failure(e: Error) -> Error<&'static str> {
    Error::new("ERR_NAPI", e.reason.clone())
}

/// A core error as a JS error: `ERR_BUFFER_OUT_OF_BOUNDS`, `ERR_NOT_FOUND`,
/// `ERR_INVALID_UTF8`.
fn buffer_error(op: &str, e: BufferError) -> Error<&'static str> {
    let code = match e {
        BufferError::NotEnough { .. } => "ERR_BUFFER_OUT_OF_BOUNDS",
        BufferError::NotFound => "ERR_NOT_FOUND",
        BufferError::InvalidUtf8 { .. } => "ERR_INVALID_UTF8",
    };
    js_error(code, format!("{op}: {e}"))
}

/// Checks that a JS number is a byte count: a non-negative safe integer.
fn size(op: &str, name: &str, value: f64) -> Result<usize, &'static str> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= MAX_SAFE_INTEGER {
        Ok(value as usize)
    } else {
        Err(js_error(
            "ERR_OUT_OF_RANGE",
            format!(
                "{op}: the value of \"{name}\" is out of range. It must be an integer >= 0 \
                 and <= {MAX_SAFE_INTEGER}. Received {value}"
            ),
        ))
    }
}

/// Checks that a JS number is a byte value (an integer 0..=255).
fn byte(op: &str, name: &str, value: f64) -> Result<u8, &'static str> {
    if value.is_finite() && value.fract() == 0.0 && (0.0..=255.0).contains(&value) {
        Ok(value as u8)
    } else {
        Err(js_error(
            "ERR_OUT_OF_RANGE",
            format!(
                "{op}: the value of \"{name}\" is out of range. It must be an integer >= 0 \
                 and <= 255. Received {value}"
            ),
        ))
    }
}

/// A copy into a JS-owned Buffer.
fn copy_to_js<'env>(env: &'env Env, bytes: &[u8]) -> Result<BufferSlice<'env>, &'static str> {
    BufferSlice::copy_from(env, bytes).map_err(napi_failure)
}

/// A view for JS: a copy when short or when the pin budget is spent, else an external
/// Buffer owning `bytes` (see the module docs).
fn view_to_js(env: &Env, bytes: Bytes) -> Result<BufferSlice<'_>, &'static str> {
    let len = bytes.len();
    if len < EXTERNAL_VIEW_MIN || !reserve_pin(len) {
        return copy_to_js(env, &bytes);
    }
    let data = bytes.as_ptr().cast_mut();
    // Tell V8 about the memory the Buffer pins, so that GC (which frees it) runs under
    // pressure; the finalizer takes it back.
    let external = len as i64;
    if let Err(e) = env.adjust_external_memory(external) {
        unpin(len);
        return Err(napi_failure(e));
    }
    // SAFETY: `data..data + len` is the memory of `bytes`, which is moved into the finalizer
    // hint: it keeps the memory alive (the chunk holds its pool allocation until the last
    // `Bytes` drops) until V8 collects the Buffer and the finalizer drops it. The core never
    // writes these bytes again (they are below their chunk's frozen mark) and never reads them
    // again through this view (the read consumed them), so JS may read and write them freely;
    // no other Buffer is created over the same range (each range is consumed once). If the
    // runtime refuses external Buffers, napi-rs copies and runs the finalizer at once.
    let made = unsafe {
        BufferSlice::from_external(env, data, len, bytes, move |env, bytes| {
            drop(bytes);
            unpin(len);
            let _ = env.adjust_external_memory(-external);
        })
    };
    if made.is_err() {
        unpin(len);
        let _ = env.adjust_external_memory(-external);
    }
    made.map_err(napi_failure)
}

/// netpoll's LinkBuffer for JS; see `lib/core/link-buffer.ts` for the documented public class.
///
/// Sizes are JS numbers checked to be safe non-negative integers (`ERR_OUT_OF_RANGE`);
/// failed operations throw an `Error` with a `code` and change nothing.
#[napi]
pub struct NativeLinkBuffer {
    inner: RefCell<LinkBuffer>,
}

impl NativeLinkBuffer {
    fn buf(&self) -> RefMut<'_, LinkBuffer> {
        self.inner.borrow_mut()
    }
}

impl Default for NativeLinkBuffer {
    fn default() -> Self {
        NativeLinkBuffer {
            inner: RefCell::new(LinkBuffer::new()),
        }
    }
}

#[napi]
impl NativeLinkBuffer {
    /// An empty buffer on the global pool.
    #[napi(constructor, catch_unwind)]
    pub fn new() -> Self {
        NativeLinkBuffer::default()
    }

    /// Readable (flushed, unread) bytes.
    #[napi(catch_unwind)]
    pub fn len(&self) -> f64 {
        self.buf().len() as f64
    }

    /// Whether nothing is readable.
    #[napi(catch_unwind)]
    pub fn is_empty(&self) -> bool {
        self.buf().is_empty()
    }

    /// Consumes and returns `n` bytes (a copy below 128 KiB, else an external view).
    #[napi(catch_unwind)]
    pub fn next<'env>(&self, env: &'env Env, n: f64) -> Result<BufferSlice<'env>, &'static str> {
        let n = size("next", "n", n)?;
        let bytes = self.buf().next(n).map_err(|e| buffer_error("next", e))?;
        view_to_js(env, bytes)
    }

    /// Returns a copy of the next `n` bytes without consuming them.
    #[napi(catch_unwind)]
    pub fn peek<'env>(&self, env: &'env Env, n: f64) -> Result<BufferSlice<'env>, &'static str> {
        let n = size("peek", "n", n)?;
        let bytes = self.buf().peek(n).map_err(|e| buffer_error("peek", e))?;
        copy_to_js(env, &bytes)
    }

    /// Consumes `n` bytes.
    #[napi(catch_unwind)]
    pub fn skip(&self, n: f64) -> Result<(), &'static str> {
        let n = size("skip", "n", n)?;
        self.buf().skip(n).map_err(|e| buffer_error("skip", e))
    }

    /// Consumes and returns the bytes up to and including the first `delim`.
    #[napi(catch_unwind)]
    pub fn until<'env>(
        &self,
        env: &'env Env,
        delim: f64,
    ) -> Result<BufferSlice<'env>, &'static str> {
        let delim = byte("until", "delim", delim)?;
        let bytes = self
            .buf()
            .until(delim)
            .map_err(|e| buffer_error("until", e))?;
        view_to_js(env, bytes)
    }

    /// Consumes `n` bytes and decodes them as UTF-8 (invalid sequences become U+FFFD).
    #[napi(catch_unwind)]
    pub fn read_string(&self, n: f64) -> Result<String, &'static str> {
        let n = size("readString", "n", n)?;
        self.buf()
            .read_string_lossy(n)
            .map_err(|e| buffer_error("readString", e))
    }

    /// Consumes `n` bytes and returns a copy.
    #[napi(catch_unwind)]
    pub fn read_binary<'env>(
        &self,
        env: &'env Env,
        n: f64,
    ) -> Result<BufferSlice<'env>, &'static str> {
        let n = size("readBinary", "n", n)?;
        let mut buf = self.buf();
        let bytes = buf.peek(n).map_err(|e| buffer_error("readBinary", e))?;
        let out = copy_to_js(env, &bytes)?;
        buf.skip(n).map_err(|e| buffer_error("readBinary", e))?;
        Ok(out)
    }

    /// Copies the next `dst.length` bytes into `dst` and consumes them.
    #[napi(catch_unwind)]
    pub fn read_into(&self, mut dst: BufferSlice) -> Result<(), &'static str> {
        self.buf()
            .read_into(&mut dst)
            .map_err(|e| buffer_error("readInto", e))
    }

    /// Copies the next `dst.length` bytes into `dst` without consuming them.
    #[napi(catch_unwind)]
    pub fn peek_into(&self, mut dst: BufferSlice) -> Result<(), &'static str> {
        self.buf()
            .peek_into(&mut dst)
            .map_err(|e| buffer_error("peekInto", e))
    }

    /// Consumes and returns one byte.
    #[napi(catch_unwind)]
    pub fn read_byte(&self) -> Result<u32, &'static str> {
        self.buf()
            .read_byte()
            .map(u32::from)
            .map_err(|e| buffer_error("readByte", e))
    }

    /// Splits off the next `n` bytes as an independent buffer (no copy).
    #[napi(catch_unwind)]
    pub fn slice(&self, n: f64) -> Result<NativeLinkBuffer, &'static str> {
        let n = size("slice", "n", n)?;
        let inner = self.buf().slice(n).map_err(|e| buffer_error("slice", e))?;
        Ok(NativeLinkBuffer {
            inner: RefCell::new(inner),
        })
    }

    /// Gives back memory no longer needed; earlier results stay valid.
    #[napi(catch_unwind)]
    pub fn release(&self) {
        self.buf().release();
    }

    /// Pending (written, unflushed) bytes.
    #[napi(catch_unwind)]
    pub fn malloc_len(&self) -> f64 {
        self.buf().malloc_len() as f64
    }

    /// Keeps the first `n` pending bytes.
    #[napi(catch_unwind)]
    pub fn malloc_ack(&self, n: f64) -> Result<(), &'static str> {
        let n = size("mallocAck", "n", n)?;
        self.buf()
            .malloc_ack(n)
            .map_err(|e| buffer_error("mallocAck", e))
    }

    /// Appends a copy of `data`.
    #[napi(catch_unwind)]
    pub fn write_binary(&self, data: &[u8]) {
        self.buf().write_binary(data);
    }

    /// Appends `s` as UTF-8.
    #[napi(catch_unwind)]
    pub fn write_string(&self, s: String) {
        self.buf().write_string(&s);
    }

    /// Appends one byte.
    #[napi(catch_unwind)]
    pub fn write_byte(&self, b: f64) -> Result<(), &'static str> {
        let b = byte("writeByte", "byte", b)?;
        self.buf().write_byte(b);
        Ok(())
    }

    /// Inserts a copy of `data` before the last `remainLen` pending bytes.
    #[napi(catch_unwind)]
    pub fn write_direct(&self, data: &[u8], remain_len: f64) -> Result<(), &'static str> {
        let remain_len = size("writeDirect", "remainLen", remain_len)?;
        self.buf()
            .write_direct(Bytes::copy_from_slice(data), remain_len)
            .map_err(|e| buffer_error("writeDirect", e))
    }

    /// Moves all of `other`'s bytes here as pending bytes (no copy); `other` is left empty.
    #[napi(catch_unwind)]
    pub fn append(&self, other: &NativeLinkBuffer) -> Result<(), &'static str> {
        let mut me = self.buf();
        let Ok(mut them) = other.inner.try_borrow_mut() else {
            return Err(js_error(
                "ERR_INVALID_ARG_VALUE",
                "append: cannot append a LinkBuffer to itself".to_owned(),
            ));
        };
        let empty = LinkBuffer::with_pool(them.pool().clone());
        me.append(std::mem::replace(&mut *them, empty));
        Ok(())
    }

    /// Makes every pending byte readable.
    #[napi(catch_unwind)]
    pub fn flush(&self) {
        self.buf().flush();
    }
}
