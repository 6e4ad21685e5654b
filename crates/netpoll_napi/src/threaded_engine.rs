//! The threaded engine: N reactor threads (core `ThreadedShard`s), each calling JS through
//! one long-lived threadsafe function, only when its "wake pending" flag flips.
//!
//! The reactor threads never keep the process alive by themselves: a shard's threadsafe
//! function does, while it is ref'd — while JS asks for it (`set_ref`), or while the shard
//! has closed connections still writing their output (see `ThreadedShard::lingering`).

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::ptr;
use std::rc::Rc;
use std::sync::OnceLock;

use napi::sys;
use netpoll_core::batch::Batch;
use netpoll_core::config::ShardConfig;
use netpoll_core::placement::Policy;
use netpoll_core::threaded::{Command, ThreadedShard};

use crate::js_call::BatchCallbacks;

/// What a shard's threadsafe function reaches through its context pointer.
struct ShardCtx {
    index: u32,
    shard: OnceLock<ThreadedShard>,
    callbacks: Rc<BatchCallbacks>,
    batch: RefCell<Batch>,
    /// This shard's function (set once it is created).
    tsfn: Cell<sys::napi_threadsafe_function>,
    /// Whether JS asked the engine to keep the process alive (shared by all shards).
    wanted: Rc<Cell<bool>>,
    /// Whether the function is ref'd now.
    referenced: Cell<bool>,
}

impl ShardCtx {
    /// Refs the function while JS wants it or the shard has lingering closes; unrefs it
    /// otherwise. On the JS thread only.
    fn sync_ref(&self, env: sys::napi_env) {
        let lingering = self.shard.get().is_some_and(|s| s.lingering());
        let referenced = self.wanted.get() || lingering;
        if self.referenced.replace(referenced) == referenced {
            return;
        }
        // SAFETY: a live function of this env (set before any call reaches here), on the JS
        // thread.
        unsafe {
            if referenced {
                sys::napi_ref_threadsafe_function(env, self.tsfn.get());
            } else {
                sys::napi_unref_threadsafe_function(env, self.tsfn.get());
            }
        }
    }
}

/// The raw threadsafe function, callable from the reactor thread.
#[derive(Clone, Copy)]
struct Tsfn(sys::napi_threadsafe_function);
// SAFETY: napi_call_threadsafe_function is documented as callable from any thread.
unsafe impl Send for Tsfn {}
// SAFETY: as above; the handle itself is never mutated.
unsafe impl Sync for Tsfn {}

unsafe extern "C" fn call_js(
    env: sys::napi_env,
    _js_cb: sys::napi_value,
    context: *mut c_void,
    _data: *mut c_void,
) {
    if env.is_null() {
        return; // the function is being torn down
    }
    // SAFETY: context is the ShardCtx, freed only by `finalize` after the function is gone.
    let ctx = unsafe { &*(context as *const ShardCtx) };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let Some(shard) = ctx.shard.get() else {
            return;
        };
        let mut batch = ctx.batch.borrow_mut();
        shard.take_events(&mut batch);
        if !batch.is_empty() {
            ctx.callbacks.deliver(ctx.index, &batch, None);
        }
        drop(batch);
        // Held for lingering closes only (every close is sent by `send`, which refs): the
        // reactor wakes JS when they may be over, to let go of the process.
        if ctx.referenced.get() && !ctx.wanted.get() {
            ctx.sync_ref(env);
        }
    }));
    if outcome.is_err() {
        eprintln!("netpoll: a panic while delivering a threaded batch was caught");
    }
}

unsafe extern "C" fn finalize(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // SAFETY: data is the Box<ShardCtx> leaked in `ThreadedEngine::new`, freed once here.
    drop(unsafe { Box::from_raw(data as *mut ShardCtx) });
}

/// The threaded engine (see the module docs).
pub struct ThreadedEngine {
    env: sys::napi_env,
    shards: Vec<(*const ShardCtx, Tsfn)>,
    /// Whether JS asked the engine to keep the process alive (see `ShardCtx::wanted`).
    wanted: Rc<Cell<bool>>,
}

impl ThreadedEngine {
    /// Starts `pollers` reactor threads placing connections by `policy`.
    pub fn new(
        env: sys::napi_env,
        pollers: u32,
        config: ShardConfig,
        policy: Policy,
        callbacks: BatchCallbacks,
    ) -> napi::Result<ThreadedEngine> {
        let mut notifies = Vec::new();
        let callbacks = Rc::new(callbacks);
        let mut engine = ThreadedEngine {
            env,
            shards: Vec::new(),
            wanted: Rc::new(Cell::new(false)),
        };
        for index in 0..pollers.max(1) {
            let ctx = Box::into_raw(Box::new(ShardCtx {
                index,
                shard: OnceLock::new(),
                callbacks: callbacks.clone(),
                batch: RefCell::new(Batch::default()),
                tsfn: Cell::new(ptr::null_mut()),
                wanted: engine.wanted.clone(),
                referenced: Cell::new(false),
            }));
            let mut name = ptr::null_mut();
            let mut tsfn = ptr::null_mut();
            // SAFETY: env is live; ctx stays valid until `finalize`.
            let status = unsafe {
                sys::napi_create_string_utf8(env, c"netpoll:shard".as_ptr(), 13, &mut name);
                sys::napi_create_threadsafe_function(
                    env,
                    ptr::null_mut(),
                    ptr::null_mut(),
                    name,
                    0,
                    1,
                    ctx.cast(),
                    Some(finalize),
                    ctx.cast(),
                    Some(call_js),
                    &mut tsfn,
                )
            };
            if status != sys::Status::napi_ok {
                // SAFETY: the function was not created, so finalize will not free ctx.
                drop(unsafe { Box::from_raw(ctx) });
                return Err(napi::Error::from_reason(
                    "creating a threadsafe function failed",
                ));
            }
            let tsfn = Tsfn(tsfn);
            // SAFETY: tsfn was just created on this env; ctx is live (owned by the function).
            unsafe {
                sys::napi_unref_threadsafe_function(env, tsfn.0);
                (*ctx).tsfn.set(tsfn.0);
            }
            engine.shards.push((ctx, tsfn));
            let notify = Box::new(move || {
                let tsfn = tsfn;
                // SAFETY: the reactor threads are joined before the function is released.
                unsafe {
                    sys::napi_call_threadsafe_function(
                        tsfn.0,
                        ptr::null_mut(),
                        sys::ThreadsafeFunctionCallMode::nonblocking,
                    )
                };
            });
            notifies.push(notify as Box<dyn Fn() + Send + Sync>);
        }
        let shards = ThreadedShard::spawn_group("netpoll-shard", config, policy, notifies)
            .map_err(|e| napi::Error::from_reason(e.to_string()))?;
        for ((ctx, _), shard) in engine.shards.iter().zip(shards) {
            // SAFETY: ctx is live (owned by the function until finalize).
            let _ = unsafe { &**ctx }.shard.set(shard);
        }
        Ok(engine)
    }

    /// Number of shards.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// The shard `index`.
    pub fn shard(&self, index: u32) -> napi::Result<&ThreadedShard> {
        let (ctx, _) = self
            .shards
            .get(index as usize)
            .ok_or_else(|| napi::Error::from_reason(format!("no shard {index}")))?;
        // SAFETY: ctx is live until the engine releases its function in `destroy`.
        unsafe { &**ctx }
            .shard
            .get()
            .ok_or_else(|| napi::Error::from_reason("shard stopped"))
    }

    /// The shard the placement policy picks for a new connection.
    pub fn pick_shard(&self) -> napi::Result<u32> {
        Ok(self.shard(0)?.pick_shard() as u32)
    }

    /// Queues commands on shard `index` with one wake. A graceful close may leave output
    /// to write: the shard's function is ref'd at once, before the process could exit.
    pub fn send(&self, index: u32, commands: Vec<Command>) -> napi::Result<()> {
        let closes = commands
            .iter()
            .any(|c| matches!(c, Command::Close(_, false)));
        self.shard(index)?.send(commands);
        if closes {
            // SAFETY: ctx is live until the engine releases its function in `destroy`.
            unsafe { &*self.shards[index as usize].0 }.sync_ref(self.env);
        }
        Ok(())
    }

    /// Whether a batch of any shard is being delivered to JS now (its `call_js` is on the
    /// stack: the engine must not be freed).
    pub fn delivering(&self) -> bool {
        self.shards.iter().any(|(ctx, _)| {
            // SAFETY: ctx is live until the engine releases its function in `destroy`.
            unsafe { &**ctx }.batch.try_borrow_mut().is_err()
        })
    }

    /// Whether the engine keeps the process alive (a shard with lingering closes keeps it
    /// alive regardless, until they are over).
    pub fn set_ref(&self, referenced: bool) {
        self.wanted.set(referenced);
        for (ctx, _) in &self.shards {
            // SAFETY: ctx is live until the engine releases its function in `destroy`.
            unsafe { &**ctx }.sync_ref(self.env);
        }
    }

    /// Stops and joins every reactor thread (closing their connections), then releases the
    /// threadsafe functions.
    pub fn destroy(&mut self) {
        for (ctx, tsfn) in self.shards.drain(..) {
            // SAFETY: ctx is live until the function is released just below. Stopping joins
            // the reactor thread, so no notify follows the release.
            if let Some(shard) = unsafe { &*ctx }.shard.get() {
                shard.stop();
            }
            // SAFETY: released once; finalize frees ctx afterwards.
            unsafe {
                sys::napi_release_threadsafe_function(
                    tsfn.0,
                    sys::ThreadsafeFunctionReleaseMode::abort,
                )
            };
        }
    }
}

impl Drop for ThreadedEngine {
    fn drop(&mut self) {
        self.destroy();
    }
}
