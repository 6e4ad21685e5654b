//! The few libuv functions the inline engine needs, declared here and resolved at load time
//! from the running node binary (which exports libuv), plus an owned-handle wrapper.

use std::ffi::{c_int, c_void};

/// `uv_handle_type` values (stable across libuv 1.x).
const UV_POLL: c_int = 8;
const UV_TIMER: c_int = 13;
/// `uv_poll_event::UV_READABLE`.
pub const UV_READABLE: c_int = 1;

type PollCb = unsafe extern "C" fn(handle: *mut c_void, status: c_int, events: c_int);
type TimerCb = unsafe extern "C" fn(handle: *mut c_void);
type CloseCb = unsafe extern "C" fn(handle: *mut c_void);

extern "C" {
    fn uv_handle_size(kind: c_int) -> usize;
    fn uv_poll_init(event_loop: *mut c_void, handle: *mut c_void, fd: c_int) -> c_int;
    fn uv_poll_start(handle: *mut c_void, events: c_int, cb: PollCb) -> c_int;
    fn uv_timer_init(event_loop: *mut c_void, handle: *mut c_void) -> c_int;
    fn uv_timer_start(handle: *mut c_void, cb: TimerCb, timeout: u64, repeat: u64) -> c_int;
    fn uv_timer_stop(handle: *mut c_void) -> c_int;
    fn uv_close(handle: *mut c_void, cb: CloseCb);
    fn uv_ref(handle: *mut c_void);
    fn uv_unref(handle: *mut c_void);
}

/// A libuv handle we allocated. Its memory is freed by the close callback, after libuv is
/// done with it; `data` (the handle's first field in every libuv 1.x) carries our context.
pub struct UvHandle {
    ptr: *mut c_void,
}

unsafe extern "C" fn free_handle(handle: *mut c_void) {
    // SAFETY: `handle` was allocated by `UvHandle::alloc` as a boxed slice of `u64`s whose
    // length we stored in the word just before it.
    unsafe {
        let base = (handle as *mut u64).sub(1);
        let words = *base as usize;
        drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
            base,
            words + 1,
        )));
    }
}

impl UvHandle {
    fn alloc(kind: c_int, data: *mut c_void) -> UvHandle {
        // SAFETY: uv_handle_size only reads its argument.
        let size = unsafe { uv_handle_size(kind) };
        let words = size.div_ceil(8);
        // One extra leading word remembers the allocation's length for `free_handle`.
        let mut mem = vec![0u64; words + 1].into_boxed_slice();
        mem[0] = words as u64;
        let base = Box::into_raw(mem) as *mut u64;
        // SAFETY: base points to words + 1 u64s; the handle starts after the length word.
        let ptr = unsafe { base.add(1) } as *mut c_void;
        // SAFETY: `void* data` is the first field of every uv handle.
        unsafe { *(ptr as *mut *mut c_void) = data };
        UvHandle { ptr }
    }

    /// A `uv_poll_t` watching `fd` for readability on `event_loop`, calling `cb`.
    pub fn poll(
        event_loop: *mut c_void,
        fd: c_int,
        data: *mut c_void,
        cb: PollCb,
    ) -> Result<UvHandle, c_int> {
        let h = UvHandle::alloc(UV_POLL, data);
        // SAFETY: h.ptr is a zeroed block of uv_handle_size(UV_POLL) bytes.
        let rc = unsafe { uv_poll_init(event_loop, h.ptr, fd) };
        if rc != 0 {
            // SAFETY: never initialised by libuv: free it directly.
            unsafe { free_handle(h.ptr) };
            return Err(rc);
        }
        // SAFETY: initialised above.
        let rc = unsafe { uv_poll_start(h.ptr, UV_READABLE, cb) };
        if rc != 0 {
            h.close();
            return Err(rc);
        }
        Ok(h)
    }

    /// A `uv_timer_t` on `event_loop` (not started).
    pub fn timer(event_loop: *mut c_void, data: *mut c_void) -> Result<UvHandle, c_int> {
        let h = UvHandle::alloc(UV_TIMER, data);
        // SAFETY: h.ptr is a zeroed block of uv_handle_size(UV_TIMER) bytes.
        let rc = unsafe { uv_timer_init(event_loop, h.ptr) };
        if rc != 0 {
            // SAFETY: never initialised by libuv.
            unsafe { free_handle(h.ptr) };
            return Err(rc);
        }
        Ok(h)
    }

    /// The context pointer stored in the handle.
    ///
    /// # Safety
    /// `handle` must be a handle created by this module.
    pub unsafe fn data(handle: *mut c_void) -> *mut c_void {
        // SAFETY: by the caller's contract, `data` is the handle's first field.
        unsafe { *(handle as *mut *mut c_void) }
    }

    /// (Re)starts this timer handle to fire once after `ms`.
    pub fn timer_start(&self, ms: u64, cb: TimerCb) {
        // SAFETY: self is an initialised timer handle (only `timer` creates those users).
        unsafe { uv_timer_start(self.ptr, cb, ms, 0) };
    }

    /// Stops this timer handle.
    pub fn timer_stop(&self) {
        // SAFETY: as in timer_start.
        unsafe { uv_timer_stop(self.ptr) };
    }

    /// Whether this handle keeps the event loop alive.
    pub fn set_ref(&self, referenced: bool) {
        // SAFETY: self is an initialised handle.
        unsafe {
            if referenced {
                uv_ref(self.ptr)
            } else {
                uv_unref(self.ptr)
            }
        }
    }

    /// Closes the handle; libuv frees it through the close callback.
    pub fn close(self) {
        // SAFETY: self is an initialised handle, closed once (self is consumed).
        unsafe { uv_close(self.ptr, free_handle) };
    }
}
