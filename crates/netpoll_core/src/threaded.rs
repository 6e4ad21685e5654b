//! The threaded engine: a [`Shard`] on its own reactor thread, fed by a command queue and
//! handing its events over in batches.
//!
//! # Wake-ups
//!
//! Both directions cost one wake per batch, never one per event. The reactor appends its
//! events to the shared outbox and calls `notify` only when the "wake pending" flag flips
//! from clear to set; the consumer clears the flag *before* taking the outbox, so nothing is
//! ever left behind without a wake. Commands are queued the same way: the first command
//! after the reactor drained the queue wakes it (`mio::Waker`), the rest ride along.
//!
//! # Groups and placement
//!
//! Shards started together by [`ThreadedShard::spawn_group`] share a [`Balancer`]. A
//! listener registered with `hand_off` (one accepting shard for the whole group, where the
//! OS cannot balance accepts with `SO_REUSEPORT`) passes each accepted stream to the shard
//! the policy picks, as an [`Command::Adopt`] on that shard's queue.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use mio::Waker;

use crate::batch::Batch;
use crate::buffer::release_idle_memory;
use crate::config::ShardConfig;
use crate::placement::{Balancer, Policy};
use crate::shard::{Shard, ShardStats, WAKER_TOKEN};

mod queue;
mod reactor;

use queue::{enqueue, lock, Group, Shared};
pub use queue::{Command, Reply, StreamFn};
use reactor::Reactor;

/// A shard running on its own thread (see the module docs). Dropping it stops and joins
/// the thread, closing every connection and listener on it.
pub struct ThreadedShard {
    shared: Arc<Shared>,
    group: Arc<Group>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl ThreadedShard {
    /// Starts a reactor thread named `name`; `notify` is called (on the reactor thread)
    /// whenever events wait in the outbox and no wake is pending. A group of one.
    pub fn spawn(
        name: String,
        config: ShardConfig,
        notify: Box<dyn Fn() + Send + Sync>,
    ) -> std::io::Result<ThreadedShard> {
        let mut group = Self::spawn_group(&name, config, Policy::RoundRobin, vec![notify])?;
        Ok(group.remove(0))
    }

    /// Starts one reactor thread per `notify` (named `<prefix>-<index>`), sharing a
    /// placement `policy`. On an error, the threads already started are stopped.
    pub fn spawn_group(
        prefix: &str,
        config: ShardConfig,
        policy: Policy,
        notify: Vec<Box<dyn Fn() + Send + Sync>>,
    ) -> std::io::Result<Vec<ThreadedShard>> {
        let group = Arc::new(Group {
            balancer: Balancer::new(policy, notify.len()),
            peers: OnceLock::new(),
        });
        let mut prepared = Vec::new();
        for notify in notify {
            let shard = Shard::new(config.clone())?;
            let waker = Waker::new(shard.registry(), WAKER_TOKEN)?;
            let shared = Arc::new(Shared::new(waker, notify));
            prepared.push((shard, shared));
        }
        let peers = prepared.iter().map(|(_, shared)| shared.clone()).collect();
        let _ = group.peers.set(peers);
        let mut shards = Vec::new();
        for (index, (shard, shared)) in prepared.into_iter().enumerate() {
            let reactor = Reactor::new(shard, shared.clone(), group.clone(), index);
            let thread = std::thread::Builder::new()
                .name(format!("{prefix}-{index}"))
                .spawn(move || reactor.run())?;
            shards.push(ThreadedShard {
                shared,
                group: group.clone(),
                thread: Mutex::new(Some(thread)),
            });
        }
        Ok(shards)
    }

    /// The shard the group's placement policy picks for a new connection (dials).
    pub fn pick_shard(&self) -> usize {
        self.group.balancer.pick()
    }

    /// Queues commands, waking the reactor only if no earlier command is still waiting (that
    /// one's wake covers these too: the reactor takes the whole queue at once).
    pub fn send(&self, commands: impl IntoIterator<Item = Command>) {
        let pending = &self.shared.closes_pending;
        // Counted before the reactor can see them (they are queued under its lock).
        let counted = commands.into_iter().inspect(|c| {
            if matches!(c, Command::Close(_, false)) {
                pending.fetch_add(1, Ordering::SeqCst);
            }
        });
        enqueue(&self.shared, counted);
    }

    /// Whether the shard has connections closed by their owner that still write their queued
    /// output ([`Shard::lingering`]), or may have: a graceful close sent is counted from
    /// [`ThreadedShard::send`] on, until the reactor applied it. A consumer keeps the process
    /// alive while this holds; when it may have stopped holding, the reactor wakes the
    /// consumer (`notify`, or the wake already pending) even with no events to hand over.
    pub fn lingering(&self) -> bool {
        self.shared.closes_pending.load(Ordering::SeqCst) > 0 || self.stats().lingering > 0
    }

    /// Takes every event the reactor has reported since the last call (clearing the wake
    /// flag first, so a reactor appending meanwhile wakes again).
    pub fn take_events(&self, into: &mut Batch) {
        self.shared.wake_pending.store(false, Ordering::SeqCst);
        let shrink = self.shared.shrink_taken.swap(false, Ordering::SeqCst);
        let mut outbox = lock(&self.shared.outbox);
        std::mem::swap(&mut *outbox, into);
        outbox.clear();
        if shrink {
            outbox.shrink();
        }
        drop(outbox);
        if shrink {
            // That memory went back to the reactor's arena after the reactor trimmed it.
            release_idle_memory();
        }
        if self.shared.reads_held.swap(false, Ordering::SeqCst) {
            let _ = self.shared.waker.wake();
        }
    }

    /// The shard's counters as of its last round.
    pub fn stats(&self) -> ShardStats {
        *lock(&self.shared.stats)
    }

    /// Stops the reactor thread and waits for it; every connection and listener on it is
    /// closed. Called by `Drop` too.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.waker.wake();
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

impl Drop for ThreadedShard {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests;
