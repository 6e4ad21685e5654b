//! `NativeEngine`: the JS face of the two engines. It converts arguments, forwards them to
//! the core shard (inline) or to a reactor thread's command queue (threaded), and returns
//! plain values; the TypeScript layer builds the public API on top.

use std::sync::mpsc;
use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::addr::Network;
use netpoll_core::config::ShardConfig;
use netpoll_core::event::{ConnId, ListenerId};
use netpoll_core::listener::{ListenOptions, Listener};
use netpoll_core::placement::Policy;
use netpoll_core::shard::{Shard, WriteStatus};
use netpoll_core::threaded::Command;

use crate::convert::{io_err, sum_stats, to_napi, EngineStats};
use crate::inline_engine::InlineEngine;
use crate::js_call::{error_object, BatchCallbacks};
use crate::threaded_engine::ThreadedEngine;
use crate::tls::{server_tls, NativeSecureContext};

/// Options of a native engine (all optional; defaults are the core's `ShardConfig`).
#[napi(object)]
pub struct EngineOptions {
    /// `inline` or `threaded`.
    pub mode: String,
    /// Reactor threads (threaded mode; inline always has one shard).
    pub pollers: u32,
    /// Most output bytes queued per connection before `ERR_OUTPUT_LIMIT`.
    pub max_output: Option<f64>,
    /// Most connections per shard.
    pub max_connections: Option<f64>,
    /// Most input bytes read per shard and not yet taken by JS (see the core's
    /// `ShardConfig::max_pending_input`); the TS layer passes its high-water mark.
    pub max_pending_input: Option<f64>,
    /// Placement over shards: `round-robin` (default), `random` or `least-connections`.
    pub load_balance: Option<String>,
}

/// Where a listener was bound, and its ids on the shards that accept for it.
#[napi(object)]
pub struct ListenInfo {
    /// The bound address (IP or socket path).
    pub address: String,
    /// The bound port (TCP only).
    pub port: Option<u32>,
    /// `IPv4`, `IPv6` or `unix`.
    pub family: String,
    /// Per accepting shard: `[shard, listenerId]` pairs, flattened.
    pub ids: Vec<u32>,
}

/// The engine of a mode (crate-visible for the dial methods in `dial.rs`).
pub(crate) enum Engine {
    Inline(InlineEngine),
    Threaded(ThreadedEngine),
}

/// The native engine behind `configure({ mode })`.
#[napi]
pub struct NativeEngine {
    /// Boxed so the env cleanup hook can reach it at a stable address.
    engine: Box<Option<Engine>>,
    env: napi::sys::napi_env,
}

/// Env teardown (process exit, worker termination): stop reactor threads and close handles
/// before Node destroys what they call into.
unsafe extern "C" fn cleanup(arg: *mut std::ffi::c_void) {
    // SAFETY: arg is the engine slot of a live NativeEngine: its Drop removes this hook
    // before the slot is freed.
    let slot = unsafe { &mut *(arg as *mut Option<Engine>) };
    destroy_engine(slot);
}

fn destroy_engine(slot: &mut Option<Engine>) {
    match slot.take() {
        Some(Engine::Inline(mut e)) => e.destroy(),
        Some(Engine::Threaded(mut t)) => t.destroy(),
        None => {}
    }
}

pub(crate) fn conn(index: u32, generation: u32) -> ConnId {
    ConnId { index, generation }
}

/// Runs `f` on a reactor thread and waits for its answer (rare calls only: addresses,
/// listen, socket options).
pub(crate) fn ask<T: Send + 'static>(
    engine: &ThreadedEngine,
    shard: u32,
    make: impl FnOnce(Box<dyn FnOnce(T) + Send>) -> Command,
) -> napi::Result<T> {
    let (tx, rx) = mpsc::channel();
    let reply = Box::new(move |v: T| {
        let _ = tx.send(v);
    });
    engine.send(shard, vec![make(reply)])?;
    rx.recv_timeout(Duration::from_secs(10))
        .map_err(|_| napi::Error::from_reason("the reactor thread did not answer"))
}

#[napi]
impl Drop for NativeEngine {
    fn drop(&mut self) {
        let slot = &mut *self.engine as *mut Option<Engine>;
        // SAFETY: the hook was added with exactly this function and argument.
        unsafe { napi::sys::napi_remove_env_cleanup_hook(self.env, Some(cleanup), slot.cast()) };
        destroy_engine(&mut self.engine);
    }
}

#[napi]
impl NativeEngine {
    /// Starts an engine delivering batches to
    /// `onBatch(shard, data, base, records, length, errors)`: the first `length` entries of
    /// `records` are the batch's records (reused for every batch: read them during the call),
    /// a record's bytes are `data[base + offset ..][.. length]` (JS-owned memory that is never
    /// written again), `errors` is `undefined` when no record names one.
    #[napi(constructor, catch_unwind)]
    pub fn new(env: Env, options: EngineOptions, on_batch: Function<'_>) -> napi::Result<Self> {
        let mut config = ShardConfig::default();
        if let Some(v) = options.max_output {
            config.max_output = v as usize;
        }
        if let Some(v) = options.max_pending_input {
            config.max_pending_input = (v as usize).max(1);
        }
        if let Some(v) = options.max_connections {
            config.max_connections = v as usize;
        }
        netpoll_core::fault::count_panics();
        let policy = match &options.load_balance {
            Some(name) => Policy::parse(name).map_err(to_napi)?,
            None => Policy::default(),
        };
        let callbacks = BatchCallbacks::new(env.raw(), on_batch.raw())?;
        let engine = match options.mode.as_str() {
            "inline" => Engine::Inline(InlineEngine::new(env.raw(), config, callbacks)?),
            "threaded" => Engine::Threaded(ThreadedEngine::new(
                env.raw(),
                options.pollers,
                config,
                policy,
                callbacks,
            )?),
            other => {
                return Err(napi::Error::new(
                    Status::InvalidArg,
                    format!("mode must be 'inline' or 'threaded', got '{other}'"),
                ))
            }
        };
        let mut engine = Box::new(Some(engine));
        let slot = &mut *engine as *mut Option<Engine>;
        // SAFETY: slot lives as long as the NativeEngine, whose Drop removes the hook.
        unsafe { napi::sys::napi_add_env_cleanup_hook(env.raw(), Some(cleanup), slot.cast()) };
        Ok(NativeEngine {
            engine,
            env: env.raw(),
        })
    }

    pub(crate) fn engine(&self) -> napi::Result<&Engine> {
        self.engine
            .as_ref()
            .as_ref()
            .ok_or_else(|| napi::Error::from_reason("the engine is destroyed"))
    }

    /// Number of shards.
    #[napi(catch_unwind)]
    pub fn shards(&self) -> napi::Result<u32> {
        Ok(match self.engine()? {
            Engine::Inline(_) => 1,
            Engine::Threaded(t) => t.len() as u32,
        })
    }

    /// Binds a listener and starts accepting on it; with `tls`, its connections are TLS
    /// servers with that (shared, reloadable) context, reported once their handshake
    /// completed or failed after `handshake_timeout` ms (default 120000, 0 = none). With
    /// `sni_callback`, a handshake whose client sent a server name is reported (`SniRequest`)
    /// and waits for `sniAnswer`.
    // The arguments mirror JS's call; a napi object cannot carry the context class.
    #[allow(clippy::too_many_arguments)]
    #[napi(catch_unwind)]
    pub fn listen(
        &self,
        network: String,
        address: String,
        backlog: u32,
        ipv6_only: bool,
        tls: Option<&NativeSecureContext>,
        handshake_timeout: Option<f64>,
        sni_callback: Option<bool>,
    ) -> napi::Result<ListenInfo> {
        let sni_callback = sni_callback.unwrap_or(false);
        let tls = tls.map(|c| server_tls(c, handshake_timeout, sni_callback));
        let network = Network::parse(&network).map_err(to_napi)?;
        let mut opts = ListenOptions {
            backlog,
            ipv6_only,
            ..ListenOptions::default()
        };
        let threaded = matches!(self.engine()?, Engine::Threaded(t) if t.len() > 1);
        opts.reuse_port =
            threaded && network.is_tcp() && netpoll_core::sys::supports_reuseport_balancing();
        let mut first = Listener::bind(network, &address, opts.clone()).map_err(to_napi)?;
        if let Some(tls) = tls {
            first.set_tls(tls);
        }
        let local = first.local_addr();
        let info = |ids| ListenInfo {
            address: local.host(),
            port: local.port().map(u32::from),
            family: local.family().to_string(),
            ids,
        };
        match self.engine()? {
            Engine::Inline(e) => {
                let id = e
                    .with_shard(|s| s.add_listener(first))
                    .map_err(|e| io_err(e, "listen"))?;
                Ok(info(vec![0, id.0]))
            }
            Engine::Threaded(t) => {
                let mut listeners = vec![first];
                if opts.reuse_port {
                    for _ in 1..t.len() {
                        listeners.push(listeners[0].bind_shard_copy().map_err(to_napi)?);
                    }
                }
                // Without per-shard copies, shard 0 accepts and hands connections over.
                let hand_off = !opts.reuse_port && t.len() > 1;
                let mut ids = Vec::new();
                for (shard, l) in listeners.into_iter().enumerate() {
                    let id = ask(t, shard as u32, |reply| Command::Listen(l, hand_off, reply))?
                        .map_err(|e| io_err(e, "listen"))?;
                    ids.extend([shard as u32, id.0]);
                }
                Ok(info(ids))
            }
        }
    }

    /// Stops accepting on listener `id` of `shard` and closes it before returning.
    #[napi(catch_unwind)]
    pub fn unlisten(&self, shard: u32, id: u32) -> napi::Result<()> {
        match self.engine()? {
            Engine::Inline(e) => drop(e.with_shard(|s| s.remove_listener(ListenerId(id)))),
            // Waits for the reactor: once this returns, new connections are refused.
            Engine::Threaded(t) => ask(t, shard, |reply| Command::Unlisten(ListenerId(id), reply))?,
        }
        Ok(())
    }

    /// Writes the buffers of `count` connections of one shard: `conns` holds
    /// `[index, generation, bufferCount, seq]` per connection, `bufs` their buffers in order.
    /// Each connection's `bufferCount` is replaced by its status: 0 written, 1 queued (a
    /// `flushed` record follows), 2 + k failed with `errors[k]` (the connection is closed).
    /// Returns `errors`, or `null` when none failed.
    #[napi(catch_unwind)]
    pub fn write_batch<'env>(
        &self,
        env: &'env Env,
        shard: u32,
        mut conns: Uint32ArraySlice<'_>,
        count: u32,
        bufs: Vec<BufferSlice<'_>>,
    ) -> napi::Result<Option<Array<'env>>> {
        // SAFETY: the array is only read and written here, during this synchronous call.
        let conns = unsafe { conns.as_mut() }
            .get_mut(..count as usize * 4)
            .ok_or_else(|| napi::Error::from_reason("writeBatch: count exceeds conns"))?;
        let mut errors = Vec::new();
        let mut next = 0usize;
        let mut slices: Vec<&[u8]> = Vec::new();
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s: &mut Shard| {
                s.as_one_round(|s| {
                    for c in conns.chunks_exact_mut(4) {
                        let n = c[2] as usize;
                        slices.clear();
                        slices.extend(bufs[next..next + n].iter().map(|b| &b[..]));
                        next += n;
                        c[2] = match s.write_caught(conn(c[0], c[1]), &slices) {
                            Ok(WriteStatus::Done) => 0,
                            Ok(WriteStatus::Queued(_)) => 1,
                            Err(err) => {
                                errors.push(err);
                                1 + errors.len() as u32
                            }
                        };
                    }
                })
            }),
            Engine::Threaded(t) => {
                let mut commands = Vec::with_capacity(conns.len() / 4);
                for c in conns.chunks_exact_mut(4) {
                    let n = c[2] as usize;
                    // The reactor thread cannot read JS memory: one copy per connection.
                    let part = &bufs[next..next + n];
                    let mut owned = Vec::with_capacity(part.iter().map(|b| b.len()).sum());
                    for b in part {
                        owned.extend_from_slice(b);
                    }
                    next += n;
                    commands.push(Command::Write(
                        conn(c[0], c[1]),
                        vec![bytes::Bytes::from(owned)],
                        c[3],
                    ));
                    c[2] = 1;
                }
                t.send(shard, commands)?;
            }
        }
        if errors.is_empty() {
            return Ok(None);
        }
        let mut errs = env.create_array(errors.len() as u32)?;
        for (i, e) in errors.iter().enumerate() {
            // SAFETY: error_object returns a value of this env's current scope.
            let v = error_object(env.raw(), e)?;
            errs.set(i as u32, unsafe {
                Unknown::from_raw_unchecked(env.raw(), v)
            })?;
        }
        Ok(Some(errs))
    }

    /// Whether the engine keeps the process alive (the TS layer refs it while anything
    /// user-visible is open).
    #[napi(catch_unwind)]
    pub fn set_ref(&self, referenced: bool) -> napi::Result<()> {
        match self.engine()? {
            Engine::Inline(e) => e.set_ref(referenced),
            Engine::Threaded(t) => t.set_ref(referenced),
        }
        Ok(())
    }

    /// Counters summed over all shards.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> napi::Result<EngineStats> {
        let shards = match self.engine()? {
            Engine::Inline(e) => vec![e.with_shard(|s| s.stats())],
            Engine::Threaded(t) => (0..t.len() as u32)
                .map(|i| t.shard(i).map(|s| s.stats()))
                .collect::<napi::Result<_>>()?,
        };
        Ok(sum_stats(&shards))
    }

    /// Stops the engine: closes every connection and listener, joins reactor threads.
    /// Refused (an Error, nothing done) while a batch is being delivered — from `onBatch`
    /// or a microtask it runs — because the engine is still using itself then: call it
    /// after the batch, e.g. from `setImmediate`.
    #[napi(catch_unwind)]
    pub fn destroy(&mut self) -> napi::Result<()> {
        let delivering = match self.engine.as_ref() {
            Some(Engine::Inline(e)) => e.delivering(),
            Some(Engine::Threaded(t)) => t.delivering(),
            None => false,
        };
        if delivering {
            return Err(napi::Error::new(
                Status::GenericFailure,
                "destroy() cannot run while the engine delivers a batch (from onBatch or a \
                 microtask of it): call it after the batch, e.g. from setImmediate",
            ));
        }
        destroy_engine(&mut self.engine);
        Ok(())
    }
}
