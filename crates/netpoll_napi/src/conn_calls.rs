//! `NativeEngine`'s calls on one connection: close (graceful, aborting or with RST), read
//! pause, half-close, timers, socket options and addresses, forwarded to the inline shard or
//! to the owning reactor thread.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::shard::Shard;
use netpoll_core::stream::Stream;
use netpoll_core::threaded::Command;

use crate::convert::{addresses, to_napi, ConnAddresses};
use crate::engine::{ask, conn, Engine, NativeEngine};

#[napi]
impl NativeEngine {
    /// Closes a connection (gracefully: queued output is written first, unless `abort`).
    #[napi(catch_unwind)]
    pub fn close(&self, shard: u32, index: u32, generation: u32, abort: bool) -> napi::Result<()> {
        let id = conn(index, generation);
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| s.close(id, abort)),
            Engine::Threaded(t) => t.send(shard, vec![Command::Close(id, abort)])?,
        }
        Ok(())
    }

    /// Pauses or resumes reading a connection (read backpressure).
    #[napi(catch_unwind)]
    pub fn pause_read(
        &self,
        shard: u32,
        index: u32,
        generation: u32,
        paused: bool,
    ) -> napi::Result<()> {
        let id = conn(index, generation);
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| s.pause_read(id, paused)),
            Engine::Threaded(t) => t.send(shard, vec![Command::PauseRead(id, paused)])?,
        }
        Ok(())
    }

    /// Resets a connection: `SO_LINGER` 0 and an aborting close, so the peer gets RST and
    /// queued output is dropped (Node's `resetAndDestroy()`). Reports nothing.
    #[napi(catch_unwind)]
    pub fn reset(&self, shard: u32, index: u32, generation: u32) -> napi::Result<()> {
        let id = conn(index, generation);
        let linger = |stream: Option<&Stream>| {
            if let Some(st) = stream {
                let _ = st.reset_on_close();
            }
        };
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| {
                linger(s.stream(id));
                s.close(id, true)
            }),
            Engine::Threaded(t) => t.send(
                shard,
                vec![
                    Command::WithStream(id, Box::new(linger)),
                    Command::Close(id, true),
                ],
            )?,
        }
        Ok(())
    }

    /// Half-closes a connection: FIN after the output written so far; reading goes on. An
    /// error from `shutdown` (inline) is thrown; threaded, it comes as the `closed` record.
    #[napi(catch_unwind)]
    pub fn shutdown_write(&self, shard: u32, index: u32, generation: u32) -> napi::Result<()> {
        let id = conn(index, generation);
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| s.shutdown_write(id)).map_err(to_napi)?,
            Engine::Threaded(t) => t.send(shard, vec![Command::ShutdownWrite(id)])?,
        }
        Ok(())
    }

    /// Sets a timer of a connection: kind 1 = read (arm for `ms`, 0 cancels), 2 = write
    /// timeout, 3 = idle timeout (0 = none).
    #[napi(catch_unwind)]
    pub fn set_timer(
        &self,
        shard: u32,
        index: u32,
        generation: u32,
        kind: u32,
        ms: f64,
    ) -> napi::Result<()> {
        let id = conn(index, generation);
        let ms = ms.max(0.0) as u64;
        let command = match kind {
            1 => Command::ReadTimeout(id, ms),
            2 => Command::WriteTimeout(id, ms),
            3 => Command::IdleTimeout(id, ms),
            _ => {
                return Err(napi::Error::new(
                    Status::InvalidArg,
                    format!("bad timer kind {kind}"),
                ))
            }
        };
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| apply_timer(s, command)),
            Engine::Threaded(t) => t.send(shard, vec![command])?,
        }
        Ok(())
    }

    /// Applies socket options to a TCP connection: `noDelay`, and keepalive after
    /// `keepAliveMs` of idleness (negative: leave as is; 0: off).
    #[napi(catch_unwind)]
    pub fn set_socket_options(
        &self,
        shard: u32,
        index: u32,
        generation: u32,
        no_delay: Option<bool>,
        keep_alive_ms: f64,
    ) -> napi::Result<()> {
        let apply = move |stream: Option<&Stream>| {
            if let Some(st) = stream.filter(|s| s.is_tcp()) {
                if let Some(nd) = no_delay {
                    let _ = st.set_nodelay(nd);
                }
                if keep_alive_ms >= 0.0 {
                    let idle =
                        (keep_alive_ms > 0.0).then(|| Duration::from_millis(keep_alive_ms as u64));
                    let _ = st.set_keepalive(idle);
                }
            }
        };
        let id = conn(index, generation);
        match self.engine()? {
            Engine::Inline(e) => e.with_shard(|s| apply(s.stream(id))),
            Engine::Threaded(t) => t.send(shard, vec![Command::WithStream(id, Box::new(apply))])?,
        }
        Ok(())
    }

    /// Local and remote addresses of a connection (`null` once it is closed).
    #[napi(catch_unwind)]
    pub fn addresses(
        &self,
        shard: u32,
        index: u32,
        generation: u32,
    ) -> napi::Result<Option<ConnAddresses>> {
        let id = conn(index, generation);
        match self.engine()? {
            Engine::Inline(e) => Ok(e.with_shard(|s| addresses(s.stream(id)))),
            Engine::Threaded(t) => ask(t, shard, |reply| {
                Command::WithStream(id, Box::new(move |s| reply(addresses(s))))
            }),
        }
    }
}

fn apply_timer(s: &mut Shard, command: Command) {
    match command {
        Command::ReadTimeout(id, 0) => s.cancel_read_timeout(id),
        Command::ReadTimeout(id, ms) => s.arm_read_timeout(id, ms),
        Command::WriteTimeout(id, ms) => s.set_write_timeout(id, ms),
        Command::IdleTimeout(id, ms) => s.set_idle_timeout(id, ms),
        _ => {}
    }
}
