//! Calling JS from outside a JS frame (a libuv callback or a threadsafe-function callback):
//! the batch callbacks, with a handle scope and `napi_make_callback`, so that microtasks and
//! Promise continuations run after each batch as they do after a `net` 'data' event.

use std::ptr;

use napi::sys;
use netpoll_core::batch::Batch;
use netpoll_core::error::NetError;

/// References to the two JS functions a batch is delivered to, and the async context they
/// run in. Lives on the JS thread only.
pub struct BatchCallbacks {
    env: sys::napi_env,
    on_batch: sys::napi_ref,
    after_batch: sys::napi_ref,
    resource: sys::napi_ref,
    context: sys::napi_async_context,
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
    /// Keeps `on_batch(shard, data, records, errors)` and `after_batch()` alive for calls from
    /// outside JS frames.
    pub fn new(
        env: sys::napi_env,
        on_batch: sys::napi_value,
        after_batch: sys::napi_value,
    ) -> napi::Result<BatchCallbacks> {
        let mut cb = BatchCallbacks {
            env,
            on_batch: ptr::null_mut(),
            after_batch: ptr::null_mut(),
            resource: ptr::null_mut(),
            context: ptr::null_mut(),
        };
        check!(sys::napi_create_reference(
            env,
            on_batch,
            1,
            &mut cb.on_batch
        ));
        check!(sys::napi_create_reference(
            env,
            after_batch,
            1,
            &mut cb.after_batch
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

    /// Delivers `batch` of shard `shard` to JS, then calls `after_batch` once every microtask
    /// the batch queued has run. Must run on the JS thread, outside any JS frame.
    pub fn deliver(&self, shard: u32, batch: &Batch) {
        let env = self.env;
        let mut scope = ptr::null_mut();
        // SAFETY: on the JS thread with a live env.
        if unsafe { sys::napi_open_handle_scope(env, &mut scope) } != sys::Status::napi_ok {
            return;
        }
        let result = self
            .batch_args(shard, batch)
            .and_then(|args| self.call(self.on_batch, &args))
            .and_then(|_| self.call(self.after_batch, &[]));
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

    fn batch_args(&self, shard: u32, batch: &Batch) -> napi::Result<Vec<sys::napi_value>> {
        let env = self.env;
        let mut shard_v = ptr::null_mut();
        check!(sys::napi_create_uint32(env, shard, &mut shard_v));
        // The bytes go to JS-owned memory: views JS keeps stay valid as long as it holds them.
        let data = batch.bytes();
        let mut data_v = ptr::null_mut();
        let mut data_ptr = ptr::null_mut();
        check!(sys::napi_create_buffer_copy(
            env,
            data.len(),
            data.as_ptr().cast(),
            &mut data_ptr,
            &mut data_v
        ));
        let records = &batch.records;
        let mut ab = ptr::null_mut();
        let mut ab_ptr: *mut std::ffi::c_void = ptr::null_mut();
        check!(sys::napi_create_arraybuffer(
            env,
            records.len() * 4,
            &mut ab_ptr,
            &mut ab
        ));
        if !records.is_empty() {
            // SAFETY: ab_ptr is a fresh ArrayBuffer of records.len() * 4 bytes.
            unsafe { ptr::copy_nonoverlapping(records.as_ptr(), ab_ptr.cast(), records.len()) };
        }
        let mut records_v = ptr::null_mut();
        check!(sys::napi_create_typedarray(
            env,
            sys::TypedarrayType::uint32_array,
            records.len(),
            ab,
            0,
            &mut records_v
        ));
        let errors_v = error_array(env, &batch.errors)?;
        Ok(vec![shard_v, data_v, records_v, errors_v])
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
            sys::napi_delete_reference(self.env, self.after_batch);
            sys::napi_delete_reference(self.env, self.resource);
        }
    }
}
