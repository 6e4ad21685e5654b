//! The inline engine: one shard whose poll fd is watched by Node's own event loop
//! (`uv_poll`), run on the JS thread with no thread hop; a `uv_timer` wakes it for its timers,
//! and once after each burst, when the shard has been quiet for `QUIET_INTERVAL`, to give back
//! the memory the burst left (`release_idle_memory`). Both handles keep the process alive while
//! JS asks for it (`set_ref`), or while the shard has closed connections still writing their
//! output (`Shard::lingering`). While the shard is nearly idle, its busy connections are
//! watched by their own `uv_poll` instead (`direct.rs`): a request then costs no nested poll.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::io;
use std::time::Duration;

use napi::sys;
use netpoll_core::batch::Batch;
use netpoll_core::buffer::{release_idle_memory, QuietTimer, QUIET_INTERVAL};
use netpoll_core::config::ShardConfig;
use netpoll_core::event::{ConnId, EventSink};
use netpoll_core::lent_sink::LentSink;
use netpoll_core::shard::Shard;

use crate::direct::{DirectCtx, DirectSet, Release};
use crate::js_call::BatchCallbacks;
use crate::uv::UvHandle;

/// Everything the libuv callbacks reach through the handles' `data` pointer.
struct Inner {
    shard: RefCell<Shard>,
    batch: RefCell<Batch>,
    callbacks: BatchCallbacks,
    poll: RefCell<Option<UvHandle>>,
    timer: RefCell<Option<UvHandle>>,
    /// Whether JS asked the engine to keep the process alive.
    wanted: Cell<bool>,
    /// Whether the handles are ref'd now.
    referenced: Cell<bool>,
    quiet: RefCell<QuietTimer>,
    /// Connections watched by their own `uv_poll` (see `direct.rs`).
    direct: RefCell<DirectSet>,
    /// Node's loop, for the handles of direct connections.
    event_loop: *mut c_void,
}

/// The inline engine (see the module docs). `destroy` (or drop) stops both handles.
pub struct InlineEngine {
    inner: Box<Inner>,
}

unsafe extern "C" fn on_poll(handle: *mut c_void, _status: i32, _events: i32) {
    // SAFETY: the handle's data is the Inner of a live engine: handles are closed (and get
    // no further callbacks) before their Inner is dropped.
    let inner = unsafe { &*(UvHandle::data(handle) as *const Inner) };
    inner.run();
}

unsafe extern "C" fn on_timer(handle: *mut c_void) {
    // SAFETY: as in on_poll.
    let inner = unsafe { &*(UvHandle::data(handle) as *const Inner) };
    inner.run();
}

unsafe extern "C" fn on_direct(handle: *mut c_void, _status: c_int, _events: c_int) {
    // SAFETY: a direct handle's data is its DirectCtx, alive while the handle is open (the
    // handle is closed before the context is dropped, and a closed handle gets no callback);
    // its engine is the Inner of a live engine, as in on_poll. Both are copied out first:
    // the round may close this handle and drop the context.
    let (inner, id) = unsafe {
        let ctx = &*(UvHandle::data(handle) as *const DirectCtx);
        (&*(ctx.engine as *const Inner), ctx.id)
    };
    // An error shows as readable (libuv reports EPOLLERR/EPOLLHUP to a reader): the read
    // meets it.
    inner.round(|shard, sink| Ok(shard.direct_readable(id, sink)));
}

impl Inner {
    /// Runs one round of the shard and hands its events to JS. A panic in the round (a
    /// bug, or an injected fault) closes the connection being served with an error, and
    /// the engine carries on.
    fn run(&self) {
        self.round(|shard, sink| shard.run_once(Some(Duration::ZERO), sink));
    }

    /// Runs `step` on the shard with the round's sink, then hands its events to JS (see
    /// `run`).
    fn round(&self, step: impl Fn(&mut Shard, &mut dyn EventSink) -> io::Result<u64>) {
        if self.quiet.borrow_mut().due() {
            self.batch.borrow_mut().shrink();
            release_idle_memory();
        }
        // The round reads straight into the JS slab when one can be lent (no copy).
        let lent = self.callbacks.lend();
        let mut used = 0usize;
        let round = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut batch = self.batch.borrow_mut();
            batch.clear();
            let mut shard = self.shard.borrow_mut();
            let result = match lent {
                Some((ptr, len)) => {
                    // SAFETY: `lend` gave `len` bytes of JS-owned memory that nothing else
                    // refers to and that stays valid until JS runs, which is after this round.
                    let mem = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
                    let mut sink = LentSink {
                        batch: &mut batch,
                        mem,
                        used: &mut used,
                    };
                    step(&mut shard, &mut sink)
                }
                None => step(&mut shard, &mut *batch),
            };
            match result {
                Ok(0) => {}
                Ok(_) => self.quiet.borrow_mut().activity(),
                Err(e) => eprintln!("netpoll: inline poll failed: {e}"),
            }
        }));
        if round.is_err() {
            // The borrows of the round were released while unwinding.
            let mut batch = self.batch.borrow_mut();
            self.shard.borrow_mut().recover(&mut *batch);
        }
        self.sync_direct();
        let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // Only the batch is borrowed while JS runs: JS calls back into the engine freely
            // (the shard is not borrowed), and nothing it calls touches the batch.
            let batch = self.batch.borrow();
            if !batch.is_empty() {
                self.callbacks.deliver(0, &batch, lent.map(|_| used));
            }
        }));
        if delivered.is_err() {
            eprintln!("netpoll: a panic while delivering a batch was caught");
        }
        self.rearm_timer();
        self.sync_ref();
    }

    /// Hands direct connections that left the steady state back to the shard's poll, and
    /// watches the shard's new candidates. Runs after every shard call, before libuv polls
    /// again or JS runs.
    fn sync_direct(&self) {
        let mut shard = self.shard.borrow_mut();
        let leaving: Vec<ConnId> = {
            let set = self.direct.borrow();
            if set.is_empty() {
                Vec::new()
            } else {
                set.ids().filter(|id| !shard.direct_steady(*id)).collect()
            }
        };
        for id in leaving {
            self.direct.borrow_mut().unwatch(id);
            shard.undirect(id);
        }
        let engine = self as *const Inner as *const c_void;
        for (id, fd) in shard.take_direct() {
            let watched = self.direct.borrow_mut().watch(
                self.event_loop,
                engine,
                (id, fd),
                on_direct,
                self.referenced.get(),
            );
            if watched.is_err() {
                shard.undirect(id);
            }
        }
    }

    /// Refs the handles (poll, timer, direct connections') while JS wants it or the shard has
    /// lingering closes (their output must reach the peer before the process exits); unrefs
    /// them otherwise.
    fn sync_ref(&self) {
        let referenced = self.wanted.get() || self.shard.borrow().lingering() > 0;
        if self.referenced.replace(referenced) == referenced {
            return;
        }
        for handle in [&self.poll, &self.timer] {
            if let Some(h) = handle.borrow().as_ref() {
                h.set_ref(referenced);
            }
        }
        self.direct.borrow().set_ref(referenced);
    }

    /// Starts the timer for the shard's next deadline (0 ms when budgets left work over, or
    /// when reads were held for a batch JS has taken by now).
    fn rearm_timer(&self) {
        let shard = self.shard.borrow();
        let timeout = if shard.has_held_reads() {
            Some(Duration::ZERO)
        } else {
            shard.poll_timeout()
        };
        drop(shard);
        let timeout = self.quiet.borrow().timeout(timeout);
        if let Some(timer) = self.timer.borrow().as_ref() {
            match timeout {
                Some(d) => timer.timer_start(d.as_millis() as u64, on_timer),
                None => timer.timer_stop(),
            }
        }
    }
}

impl InlineEngine {
    /// Creates the shard and starts watching it on the env's event loop.
    pub fn new(
        env: sys::napi_env,
        config: ShardConfig,
        callbacks: BatchCallbacks,
    ) -> napi::Result<InlineEngine> {
        let shard = Shard::new(config).map_err(|e| napi::Error::from_reason(e.to_string()))?;
        let fd = shard.poll_fd();
        let inner = Box::new(Inner {
            shard: RefCell::new(shard),
            batch: RefCell::new(Batch::default()),
            callbacks,
            poll: RefCell::new(None),
            timer: RefCell::new(None),
            wanted: Cell::new(false),
            referenced: Cell::new(false),
            quiet: RefCell::new(QuietTimer::new(QUIET_INTERVAL)),
            direct: RefCell::new(DirectSet::default()),
            event_loop: std::ptr::null_mut(),
        });
        let mut event_loop = std::ptr::null_mut();
        // SAFETY: env is live (we are in a napi call).
        unsafe { sys::napi_get_uv_event_loop(env, &mut event_loop) };
        let mut inner = inner;
        inner.event_loop = event_loop as *mut c_void;
        let release = Release::new(&inner.direct);
        inner.shard.borrow_mut().set_direct_host(Box::new(release));
        let data = &*inner as *const Inner as *mut c_void;
        let loop_ptr = event_loop as *mut c_void;
        let uv_err = |rc| napi::Error::from_reason(format!("libuv handle init failed: {rc}"));
        let poll = UvHandle::poll(loop_ptr, fd, data, on_poll).map_err(uv_err)?;
        let timer = UvHandle::timer(loop_ptr, data).map_err(uv_err)?;
        poll.set_ref(false);
        timer.set_ref(false);
        *inner.poll.borrow_mut() = Some(poll);
        *inner.timer.borrow_mut() = Some(timer);
        Ok(InlineEngine { inner })
    }

    /// Runs `f` on the shard, then re-arms the timer (the call may have armed timers) and
    /// refs the handles if it left a close lingering.
    pub fn with_shard<R>(&self, f: impl FnOnce(&mut Shard) -> R) -> R {
        let r = f(&mut self.inner.shard.borrow_mut());
        self.inner.sync_direct();
        self.inner.rearm_timer();
        self.inner.sync_ref();
        r
    }

    /// Whether a batch is being delivered to JS now (its `run` is on the stack: the engine
    /// must not be freed).
    pub fn delivering(&self) -> bool {
        self.inner.batch.try_borrow_mut().is_err()
    }

    /// Whether the engine keeps the process alive (lingering closes keep it alive
    /// regardless, until they are over).
    pub fn set_ref(&self, referenced: bool) {
        self.inner.wanted.set(referenced);
        self.inner.sync_ref();
    }

    /// Stops watching the shard and closes it with all its connections.
    pub fn destroy(&mut self) {
        if let Some(poll) = self.inner.poll.borrow_mut().take() {
            poll.close();
        }
        if let Some(timer) = self.inner.timer.borrow_mut().take() {
            timer.close();
        }
        self.inner.shard.borrow_mut().close_all();
    }
}

impl Drop for InlineEngine {
    fn drop(&mut self) {
        self.destroy();
    }
}
