//! Calling JS from outside a JS frame (a libuv callback or a threadsafe-function callback):
//! the batch callback, with a handle scope and `napi_make_callback`, so that microtasks and
//! Promise continuations run after each batch as they do after a `net` 'data' event.
//!
//! A batch costs no allocation in the steady state: its bytes are appended to a JS-owned
//! slab Buffer (see [`Slab`]) and its records copied into one reused `Uint32Array`.

use std::cell::RefCell;
use std::ptr;

use napi::sys;
use netpoll_core::batch::Batch;
use netpoll_core::error::NetError;

/// Bytes of a batch at most this long are copied into the shared slab; longer ones get a
/// Buffer of their own. Either way a view JS keeps pins the whole Buffer it views (a 3-byte
/// view keeps all 256 KiB of a slab alive): a connection's input still buffered after its
/// handler ran is copied out when small (`unpin` in `lib/core/buffer-chain.ts`).
const SLAB_COPY_MAX: usize = 16 * 1024;
/// Size of a slab.
const SLAB_SIZE: usize = 256 * 1024;
/// Free bytes of a slab below which a round's reads start a new one: one connection's read
/// budget, so a slab never limits a round to less.
const LEND_MIN: usize = 64 * 1024;

/// A JS-owned Buffer that batch bytes are appended to, like Node's own Buffer pool: each
/// batch's bytes go to a region never written before, so every view JS took of an earlier
/// batch keeps its bytes. When it is full (or JS detached it) the next batch starts a new one;
/// the old one lives on for as long as JS holds views of it.
struct Slab {
    buffer: sys::napi_ref,
    used: usize,
}

/// The JS-owned `Uint32Array` the records of each batch are copied into. Only `onBatch`
/// sees it, and it reads it before returning, so it is reused for every batch.
struct Records {
    array: sys::napi_ref,
    capacity: usize,
}

/// References to the JS function a batch is delivered to, the async context it runs in and
/// the JS-owned memory batches are copied into. Lives on the JS thread only.
pub struct BatchCallbacks {
    env: sys::napi_env,
    on_batch: sys::napi_ref,
    resource: sys::napi_ref,
    context: sys::napi_async_context,
    slab: RefCell<Option<Slab>>,
    records: RefCell<Option<Records>>,
}

macro_rules! check {
    ($call:expr) => {{
        // SAFETY: every napi call here gets a live env and values of the current scope.
        let status = unsafe { $call };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::from(status),
                format!("{} failed", stringify!($call)),
            ));
        }
    }};
}

impl BatchCallbacks {
    /// Keeps `on_batch(shard, data, base, records, length, errors)` alive for calls from
    /// outside JS frames.
    pub fn new(env: sys::napi_env, on_batch: sys::napi_value) -> napi::Result<BatchCallbacks> {
        let mut cb = BatchCallbacks {
            env,
            on_batch: ptr::null_mut(),
            resource: ptr::null_mut(),
            context: ptr::null_mut(),
            slab: RefCell::new(None),
            records: RefCell::new(None),
        };
        check!(sys::napi_create_reference(
            env,
            on_batch,
            1,
            &mut cb.on_batch
        ));
        let mut resource = ptr::null_mut();
        check!(sys::napi_create_object(env, &mut resource));
        check!(sys::napi_create_reference(
            env,
            resource,
            1,
            &mut cb.resource
        ));
        let mut name = ptr::null_mut();
        check!(sys::napi_create_string_utf8(
            env,
            c"netpoll:batch".as_ptr(),
            13,
            &mut name
        ));
        check!(sys::napi_async_init(env, resource, name, &mut cb.context));
        Ok(cb)
    }

    /// Delivers `batch` of shard `shard` to JS; the microtasks it queued (Promise
    /// continuations, the batched write) run before this returns. Must run on the JS thread,
    /// outside any JS frame.
    ///
    /// `lent`: the round read into memory from [`BatchCallbacks::lend`], this many bytes
    /// (its records name them from the start of that memory); `None`: the bytes are the
    /// batch's own, copied here.
    pub fn deliver(&self, shard: u32, batch: &Batch, lent: Option<usize>) {
        let env = self.env;
        let mut scope = ptr::null_mut();
        // SAFETY: on the JS thread with a live env.
        if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
            return;
        }
        let result = self
            .batch_args(shard, batch, lent)
            .and_then(|args| self.call(self.on_batch, &args));
        if let Err(e) = result {
            // Only a bug of ours gets here (the TS layer catches user errors): surface it as
            // an uncaught exception rather than losing it.
            report_fatal(env, &e);
        }
        // SAFETY: scope was opened above.
        unsafe { sys::napi_close_handle_scope(env, scope) };
    }

    fn call(&self, func: sys::napi_ref, args: &[sys::napi_value]) -> napi::Result<()> {
        let env = self.env;
        let mut f = ptr::null_mut();
        check!(sys::napi_get_reference_value(env, func, &mut f));
        let mut recv = ptr::null_mut();
        check!(sys::napi_get_reference_value(env, self.resource, &mut recv));
        let mut out = ptr::null_mut();
        // SAFETY: f, recv and args are values of the current handle scope.
        let status = unsafe {
            sys::napi_make_callback(
                env,
                self.context,
                recv,
                f,
                args.len(),
                args.as_ptr(),
                &mut out,
            )
        };
        if status == sys::Status::napi_pending_exception {
            let mut exception = ptr::null_mut();
            // SAFETY: an exception is pending; taking it lets us rethrow it as uncaught.
            unsafe {
                sys::napi_get_and_clear_last_exception(env, &mut exception);
                sys::napi_fatal_exception(env, exception);
            }
            return Ok(());
        }
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(
                napi::Status::from(status),
                "napi_make_callback failed".to_string(),
            ));
        }
        Ok(())
    }

    /// `(shard, data, base, records, length, errors)`: the batch's bytes are
    /// `data[base + offset ..]`, its records the first `length` entries of `records`.
    fn batch_args(
        &self,
        shard: u32,
        batch: &Batch,
        lent: Option<usize>,
    ) -> napi::Result<[sys::napi_value; 6]> {
        let env = self.env;
        let mut shard_v = ptr::null_mut();
        check!(sys::napi_create_uint32(env, shard, &mut shard_v));
        let (data_v, base) = match lent {
            // The round read into the slab memory `lend` gave: its bytes are there already.
            Some(used) => {
                let (value, _, base) = self.current_slab()?.ok_or_else(|| {
                    napi::Error::from_reason("the slab lent for the round is gone".to_string())
                })?;
                self.commit_slab(used);
                (value, base)
            }
            None => self.data_buffer(batch.bytes())?,
        };
        let mut base_v = ptr::null_mut();
        check!(sys::napi_create_uint32(env, base as u32, &mut base_v));
        let records_v = self.records_array(&batch.records)?;
        let mut length_v = ptr::null_mut();
        check!(sys::napi_create_uint32(
            env,
            batch.records.len() as u32,
            &mut length_v
        ));
        let errors_v = if batch.errors.is_empty() {
            let mut undefined = ptr::null_mut();
            check!(sys::napi_get_undefined(env, &mut undefined));
            undefined
        } else {
            error_array(env, &batch.errors)?
        };
        Ok([shard_v, data_v, base_v, records_v, length_v, errors_v])
    }

    /// Lends the free end of the slab (a new slab when less than [`LEND_MIN`] bytes are free)
    /// for the next round's reads, which then land in JS-owned memory: `deliver` with the
    /// number of bytes used hands them over without a copy. The memory is only valid until
    /// JS next runs, and JS must not run before that `deliver`. `None` if no slab could be
    /// made (the round then reads into the batch, which is copied).
    pub fn lend(&self) -> Option<(*mut u8, usize)> {
        let env = self.env;
        let mut scope = ptr::null_mut();
        // SAFETY: on the JS thread with a live env.
        if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
            return None;
        }
        let lent = self
            .slab_with_room(LEND_MIN)
            .ok()
            // SAFETY: used <= SLAB_SIZE, the size of the memory at `start`.
            .map(|(_, start, used)| (unsafe { start.add(used) }, SLAB_SIZE - used));
        // SAFETY: opened above.
        unsafe { sys::napi_close_handle_scope(env, scope) };
        lent
    }

    /// The slab Buffer holding a copy of `data` (at most [`SLAB_COPY_MAX`] bytes, else a
    /// Buffer of its own), and where in it the copy starts.
    fn data_buffer(&self, data: &[u8]) -> napi::Result<(sys::napi_value, usize)> {
        let env = self.env;
        if data.len() > SLAB_COPY_MAX {
            let mut value = ptr::null_mut();
            let mut out = ptr::null_mut();
            check!(sys::napi_create_buffer_copy(
                env,
                data.len(),
                data.as_ptr().cast(),
                &mut out,
                &mut value
            ));
            return Ok((value, 0));
        }
        let (value, start, base) = self.slab_with_room(data.len())?;
        if !data.is_empty() {
            // SAFETY: `start` is the live backing store of the slab (SLAB_SIZE bytes, held by
            // our reference) and base + data.len() <= SLAB_SIZE. [base, base + len) was never
            // handed to JS, so no view JS holds changes.
            unsafe { ptr::copy_nonoverlapping(data.as_ptr(), start.add(base), data.len()) };
        }
        self.commit_slab(data.len());
        Ok((value, base))
    }

    /// The slab (its Buffer, its memory and the bytes used) with at least `room` bytes free:
    /// the current one, or a new one when it is full or JS detached it.
    fn slab_with_room(&self, room: usize) -> napi::Result<(sys::napi_value, *mut u8, usize)> {
        let env = self.env;
        if let Some((value, start, used)) = self.current_slab()? {
            if used + room <= SLAB_SIZE {
                return Ok((value, start, used));
            }
        }
        let mut slab = self.slab.borrow_mut();
        if let Some(s) = slab.take() {
            // SAFETY: our reference; JS views keep the Buffer alive without it.
            unsafe { sys::napi_delete_reference(env, s.buffer) };
        }
        let mut value = ptr::null_mut();
        let mut start = ptr::null_mut();
        check!(sys::napi_create_buffer(
            env, SLAB_SIZE, &mut start, &mut value
        ));
        let mut buffer = ptr::null_mut();
        check!(sys::napi_create_reference(env, value, 1, &mut buffer));
        *slab = Some(Slab { buffer, used: 0 });
        Ok((value, start.cast(), 0))
    }

    /// The slab (its Buffer, its memory and the bytes used), unless there is none or JS
    /// detached it (transferred its ArrayBuffer: it then reports no bytes, so its memory is
    /// asked for every time).
    fn current_slab(&self) -> napi::Result<Option<(sys::napi_value, *mut u8, usize)>> {
        let env = self.env;
        let slab = self.slab.borrow();
        let Some(s) = slab.as_ref() else {
            return Ok(None);
        };
        let mut value = ptr::null_mut();
        check!(sys::napi_get_reference_value(env, s.buffer, &mut value));
        let mut start = ptr::null_mut();
        let mut len = 0usize;
        check!(sys::napi_get_buffer_info(env, value, &mut start, &mut len));
        if len != SLAB_SIZE || start.is_null() {
            return Ok(None);
        }
        Ok(Some((value, start.cast(), s.used)))
    }

    /// `n` more bytes of the slab were handed to JS.
    fn commit_slab(&self, n: usize) {
        if let Some(s) = self.slab.borrow_mut().as_mut() {
            s.used += n;
        }
    }

    /// The shared records array with `records` copied to its start (grown when too small).
    fn records_array(&self, records: &[u32]) -> napi::Result<sys::napi_value> {
        let env = self.env;
        let mut slot = self.records.borrow_mut();
        if let Some(r) = slot.as_ref() {
            let mut value = ptr::null_mut();
            check!(sys::napi_get_reference_value(env, r.array, &mut value));
            let mut kind = 0;
            let mut len = 0usize;
            let mut data = ptr::null_mut();
            let mut ab = ptr::null_mut();
            let mut offset = 0usize;
            // Asked every time, like the slab: a detached array reports no elements.
            check!(sys::napi_get_typedarray_info(
                env,
                value,
                &mut kind,
                &mut len,
                &mut data,
                &mut ab,
                &mut offset
            ));
            if len == r.capacity && len >= records.len() && !data.is_null() {
                // SAFETY: `data` is the live backing store of the Uint32Array `value` of
                // `len` >= records.len() elements, held by our reference.
                unsafe { ptr::copy_nonoverlapping(records.as_ptr(), data.cast(), records.len()) };
                return Ok(value);
            }
            // SAFETY: our reference, dropped before the array is replaced.
            unsafe { sys::napi_delete_reference(env, r.array) };
            *slot = None;
        }
        let capacity = records.len().next_power_of_two().max(1024);
        let mut ab = ptr::null_mut();
        let mut data: *mut std::ffi::c_void = ptr::null_mut();
        check!(sys::napi_create_arraybuffer(
            env,
            capacity * 4,
            &mut data,
            &mut ab
        ));
        // SAFETY: `data` is the fresh ArrayBuffer's capacity * 4 bytes, capacity >= len.
        unsafe { ptr::copy_nonoverlapping(records.as_ptr(), data.cast(), records.len()) };
        let mut value = ptr::null_mut();
        check!(sys::napi_create_typedarray(
            env,
            sys::TypedarrayType::uint32_array,
            capacity,
            ab,
            0,
            &mut value
        ));
        let mut array = ptr::null_mut();
        check!(sys::napi_create_reference(env, value, 1, &mut array));
        *slot = Some(Records { array, capacity });
        Ok(value)
    }
}

/// JS objects `{ code, errno, syscall, address, port, message }` for `errors`.
pub fn error_array(env: sys::napi_env, errors: &[NetError]) -> napi::Result<sys::napi_value> {
    let mut arr = ptr::null_mut();
    check!(sys::napi_create_array_with_length(
        env,
        errors.len(),
        &mut arr
    ));
    for (i, e) in errors.iter().enumerate() {
        let obj = error_object(env, e)?;
        check!(sys::napi_set_element(env, arr, i as u32, obj));
    }
    Ok(arr)
}

fn js_string(env: sys::napi_env, s: &str) -> napi::Result<sys::napi_value> {
    let mut v = ptr::null_mut();
    check!(sys::napi_create_string_utf8(
        env,
        s.as_ptr().cast(),
        s.len() as isize,
        &mut v
    ));
    Ok(v)
}

fn set_prop(
    env: sys::napi_env,
    obj: sys::napi_value,
    key: &str,
    value: sys::napi_value,
) -> napi::Result<()> {
    let k = js_string(env, key)?;
    check!(sys::napi_set_property(env, obj, k, value));
    Ok(())
}

fn set_str(env: sys::napi_env, obj: sys::napi_value, key: &str, value: &str) -> napi::Result<()> {
    set_prop(env, obj, key, js_string(env, value)?)
}

fn set_num(env: sys::napi_env, obj: sys::napi_value, key: &str, value: f64) -> napi::Result<()> {
    let mut v = ptr::null_mut();
    check!(sys::napi_create_double(env, value, &mut v));
    set_prop(env, obj, key, v)
}

/// One error as a plain JS object (the TS layer turns it into an `Error`).
pub fn error_object(env: sys::napi_env, e: &NetError) -> napi::Result<sys::napi_value> {
    let mut obj = ptr::null_mut();
    check!(sys::napi_create_object(env, &mut obj));
    set_str(env, obj, "code", e.code)?;
    set_str(env, obj, "message", &e.message)?;
    if let Some(errno) = e.errno {
        set_num(env, obj, "errno", -(errno as f64))?;
    }
    if let Some(syscall) = e.syscall {
        set_str(env, obj, "syscall", syscall)?;
    }
    if let Some(address) = &e.address {
        set_str(env, obj, "address", address)?;
    }
    if let Some(port) = e.port {
        set_num(env, obj, "port", port as f64)?;
    }
    Ok(obj)
}

fn report_fatal(env: sys::napi_env, e: &napi::Error) {
    let msg = format!("netpoll: delivering a batch failed: {e}");
    let mut s = ptr::null_mut();
    let mut err = ptr::null_mut();
    // SAFETY: on the JS thread inside an open handle scope.
    unsafe {
        sys::napi_create_string_utf8(env, msg.as_ptr().cast(), msg.len() as isize, &mut s);
        sys::napi_create_error(env, ptr::null_mut(), s, &mut err);
        sys::napi_fatal_exception(env, err);
    }
}

impl Drop for BatchCallbacks {
    fn drop(&mut self) {
        // SAFETY: created in `new` on this env; dropped on the JS thread.
        unsafe {
            sys::napi_async_destroy(self.env, self.context);
            sys::napi_delete_reference(self.env, self.on_batch);
            sys::napi_delete_reference(self.env, self.resource);
            if let Some(slab) = self.slab.get_mut().take() {
                sys::napi_delete_reference(self.env, slab.buffer);
            }
            if let Some(records) = self.records.get_mut().take() {
                sys::napi_delete_reference(self.env, records.array);
            }
        }
    }
}
