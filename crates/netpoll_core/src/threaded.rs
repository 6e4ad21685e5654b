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

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;

use bytes::Bytes;
use mio::Waker;

use crate::batch::{Batch, RecordKind, RECORD_LEN};
use crate::buffer::{release_idle_memory, QuietTimer, QUIET_INTERVAL};
use crate::config::ShardConfig;
use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId};
use crate::listener::Listener;
use crate::placement::{Balancer, Policy};
use crate::shard::{ClientTls, ServerTls, Shard, ShardStats, WriteStatus, WAKER_TOKEN};
use crate::stream::{Dial, Stream};
use crate::tls::TlsInfo;

/// A one-shot answer from the reactor thread.
pub type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// A closure run on the reactor thread with a connection's stream.
pub type StreamFn = Box<dyn FnOnce(Option<&Stream>) + Send>;

/// Work for a reactor thread.
pub enum Command {
    /// Register a listener (its id is reported back through the `reply`); with `true`, its
    /// connections are handed to the shards of the group by the placement policy.
    Listen(Listener, bool, Reply<std::io::Result<ListenerId>>),
    /// Take a connection accepted on listener `ListenerId` of shard `u32` of the group.
    /// With TLS settings, `accepted` waits for the handshake.
    Adopt(Stream, ListenerId, u32, Option<Arc<ServerTls>>),
    /// Stop accepting on a listener and close it; `reply` is called once it is closed.
    Unlisten(ListenerId, Reply<()>),
    /// Start a dial with a timeout in ms (0 = none); its `connected` record carries `tag`.
    Dial(Dial, u64, u32),
    /// A TLS dial: as `Dial`, and its `connected` record follows the handshake.
    DialTls(Dial, u64, u32, Box<ClientTls>),
    /// Answer with the TLS state of a connection (`None`: not TLS, closed, or handshaking).
    TlsInfo(ConnId, Reply<Option<TlsInfo>>),
    /// Cancel the dial with this tag if it is still connecting: its socket is closed and its
    /// `connected` record reports `ABORT_ERR`. A dial whose result was reported already is
    /// left alone (its connection is the owner's, to close).
    CancelDial(u32),
    /// Write bytes; `seq` is reported by the `flushed` record that covers them.
    Write(ConnId, Vec<Bytes>, u32),
    /// Close (gracefully unless `abort`).
    Close(ConnId, bool),
    /// Pause (`true`) or resume reading.
    PauseRead(ConnId, bool),
    /// Half-close: FIN after the output queued so far ([`Shard::shutdown_write`]).
    ShutdownWrite(ConnId),
    /// Arm (ms > 0) or cancel (0) the read timeout.
    ReadTimeout(ConnId, u64),
    /// Set the idle timeout.
    IdleTimeout(ConnId, u64),
    /// Set the write timeout.
    WriteTimeout(ConnId, u64),
    /// Run a closure with the connection's stream (`None` once closed): addresses, options.
    WithStream(ConnId, StreamFn),
    /// Close everything at once and report how many connections were cut.
    CloseAll(Box<dyn FnOnce(usize) + Send>),
}

struct Shared {
    commands: Mutex<Vec<Command>>,
    outbox: Mutex<Batch>,
    wake_pending: AtomicBool,
    /// The reactor holds reads until the consumer takes the outbox: wake it when it does.
    reads_held: AtomicBool,
    /// The reactor released its idle memory: the consumer's next take shrinks the batch it
    /// hands back.
    shrink_taken: AtomicBool,
    stop: AtomicBool,
    /// Graceful closes sent and not yet counted in `stats.lingering` (see
    /// [`ThreadedShard::lingering`]).
    closes_pending: AtomicUsize,
    stats: Mutex<ShardStats>,
    waker: Waker,
    notify: Box<dyn Fn() + Send + Sync>,
}

/// What the shards of one group share.
struct Group {
    balancer: Balancer,
    /// Every shard's queue, by index (set once all are started).
    peers: OnceLock<Vec<Arc<Shared>>>,
}

/// A shard running on its own thread (see the module docs). Dropping it stops and joins
/// the thread, closing every connection and listener on it.
pub struct ThreadedShard {
    shared: Arc<Shared>,
    group: Arc<Group>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn enqueue(shared: &Shared, commands: impl IntoIterator<Item = Command>) {
    let mut queue = lock(&shared.commands);
    let was_empty = queue.is_empty();
    queue.extend(commands);
    drop(queue);
    if was_empty {
        let _ = shared.waker.wake();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn new(waker: Waker, notify: Box<dyn Fn() + Send + Sync>) -> Shared {
        Shared {
            commands: Mutex::new(Vec::new()),
            outbox: Mutex::new(Batch::default()),
            wake_pending: AtomicBool::new(false),
            reads_held: AtomicBool::new(false),
            shrink_taken: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            closes_pending: AtomicUsize::new(0),
            stats: Mutex::new(ShardStats::default()),
            waker,
            notify,
        }
    }
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

/// The reactor thread's side.
struct Reactor {
    shard: Shard,
    shared: Arc<Shared>,
    group: Arc<Group>,
    index: usize,
    batch: Batch,
    /// Per connection, the sequence number of the last write applied (for `flushed`).
    write_seq: HashMap<ConnId, u32>,
    /// Graceful closes applied since the last publish (see [`ThreadedShard::lingering`]).
    closes_applied: usize,
    /// Whether connections lingered at the last publish.
    lingered: bool,
    /// When the shard has been quiet long enough to give back what a burst left.
    quiet: QuietTimer,
}

impl Reactor {
    fn new(shard: Shard, shared: Arc<Shared>, group: Arc<Group>, index: usize) -> Reactor {
        Reactor {
            shard,
            shared,
            group,
            index,
            batch: Batch::default(),
            write_seq: HashMap::new(),
            closes_applied: 0,
            lingered: false,
            quiet: QuietTimer::new(QUIET_INTERVAL),
        }
    }

    /// Runs rounds until stopped. A panic in a round (a bug, or an injected fault) closes
    /// the connection being served with an error and the reactor carries on.
    fn run(mut self) {
        while !self.shared.stop.load(Ordering::SeqCst) {
            let round = std::panic::catch_unwind(AssertUnwindSafe(|| self.round()));
            if round.is_err() {
                self.shard.recover(&mut self.batch);
                self.publish();
            }
        }
        self.shard.close_all();
    }

    fn round(&mut self) {
        if self.quiet.due() {
            self.release_idle_memory();
        }
        if self.apply_commands() {
            self.quiet.activity();
        }
        // Results of the commands go out before the reactor may block in poll.
        self.publish();
        let timeout = self.quiet.timeout(self.shard.poll_timeout());
        // Input the consumer has not taken yet counts against the shard's input limit.
        let backlog = lock(&self.shared.outbox).bytes().len();
        self.batch.set_backlog(backlog);
        match self.shard.run_once(timeout, &mut self.batch) {
            Ok(0) => {}
            Ok(_) => self.quiet.activity(),
            Err(e) => {
                // Only EINTR-like failures are expected here; never spin on a broken poll.
                eprintln!("netpoll: reactor poll failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
        self.place_handoffs();
        self.publish();
        if self.shard.has_held_reads() {
            self.shared.reads_held.store(true, Ordering::SeqCst);
            // Taken meanwhile? Then no wake comes: run again at once.
            if lock(&self.shared.outbox).bytes().is_empty() {
                let _ = self.shared.waker.wake();
            }
        }
    }

    /// The shard was quiet for [`QUIET_INTERVAL`]: frees what the last burst left in its
    /// batches, the buffer pool and this thread's malloc arena.
    fn release_idle_memory(&mut self) {
        self.batch.shrink();
        lock(&self.shared.outbox).shrink();
        release_idle_memory();
        // The consumer's batch is the third one a burst grew: it is swapped into the outbox
        // and shrunk there at its next take, which this wake brings (and which trims again).
        self.shared.shrink_taken.store(true, Ordering::SeqCst);
        if !self.shared.wake_pending.swap(true, Ordering::SeqCst) {
            (self.shared.notify)();
        }
    }

    /// Applies the queued commands, each on its own: a panic in one (see `run`) loses only
    /// that one. Returns whether there were any.
    fn apply_commands(&mut self) -> bool {
        let commands = std::mem::take(&mut *lock(&self.shared.commands));
        let any = !commands.is_empty();
        for command in commands {
            let applied = std::panic::catch_unwind(AssertUnwindSafe(|| self.apply(command)));
            if applied.is_err() {
                self.shard.recover(&mut self.batch);
            }
        }
        any
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Listen(listener, hand_off, reply) => {
                let result = self.shard.add_listener(listener);
                if let (Ok(id), true) = (&result, hand_off) {
                    self.shard.hand_off_accepts(*id);
                }
                reply(result)
            }
            Command::Adopt(stream, listener, origin, Some(tls)) => {
                let sink = &mut self.batch;
                self.shard
                    .adopt_tls(stream, &tls, listener, origin + 1, sink);
                self.took_placed();
            }
            Command::Adopt(stream, listener, origin, None) => {
                if let Some(conn) = self.adopt_placed(stream) {
                    self.batch
                        .push(RecordKind::Accepted, conn, listener.0, origin + 1);
                }
            }
            Command::Unlisten(id, reply) => {
                drop(self.shard.remove_listener(id));
                reply(())
            }
            Command::Dial(dial, timeout, tag) => match self.dial(dial, timeout) {
                Ok(id) => self.batch.dial_tags.push((id, tag)),
                Err(e) => {
                    let id = ConnId {
                        index: u32::MAX,
                        generation: 0,
                    };
                    self.batch.dial_tags.push((id, tag));
                    self.batch
                        .connected(id, Err(NetError::from_io(&e, "connect")));
                }
            },
            Command::DialTls(dial, timeout, tag, tls) => {
                let started = self
                    .dial(dial, timeout)
                    .map_err(|e| NetError::from_io(&e, "connect"));
                let (id, result) = match started {
                    Ok(id) => (id, self.shard.dial_tls(id, &tls)),
                    Err(e) => (
                        ConnId {
                            index: u32::MAX,
                            generation: 0,
                        },
                        Err(e),
                    ),
                };
                self.batch.dial_tags.push((id, tag));
                if let Err(e) = result {
                    self.batch.connected(id, Err(e));
                }
            }
            Command::TlsInfo(id, reply) => reply(self.shard.tls_info(id).cloned()),
            Command::CancelDial(tag) => {
                // The dials still pending are exactly those whose tag the batch still holds.
                let pending = self.batch.dial_tags.iter().find(|(_, t)| *t == tag);
                if let Some(&(id, _)) = pending {
                    self.shard.cancel_dial(id, &mut self.batch);
                }
            }
            Command::Write(id, bufs, seq) => self.write(id, &bufs, seq),
            Command::Close(id, abort) => {
                self.forget(id);
                self.closes_applied += usize::from(!abort);
                self.shard.close(id, abort)
            }
            Command::PauseRead(id, paused) => self.shard.pause_read(id, paused),
            Command::ShutdownWrite(id) => match self.shard.shutdown_write(id) {
                Ok(()) => {}
                Err(e) if e.code == "ERR_CONN_CLOSED" => {}
                Err(e) => self.batch.closed(id, Some(e)),
            },
            Command::ReadTimeout(id, 0) => self.shard.cancel_read_timeout(id),
            Command::ReadTimeout(id, ms) => self.shard.arm_read_timeout(id, ms),
            Command::IdleTimeout(id, ms) => self.shard.set_idle_timeout(id, ms),
            Command::WriteTimeout(id, ms) => self.shard.set_write_timeout(id, ms),
            Command::WithStream(id, f) => f(self.shard.stream(id)),
            Command::CloseAll(reply) => {
                self.write_seq.clear();
                self.batch.dial_tags.clear();
                reply(self.shard.close_all())
            }
        }
    }

    /// Applies a write. The sequence number is kept only for a connection that is still
    /// open afterwards. A write that closes the connection (a socket error, the output
    /// limit) reports it with a `closed` record; one that finds it closed already reports
    /// nothing (its `closed` record went out before, or its owner closed it).
    fn write(&mut self, id: ConnId, bufs: &[Bytes], seq: u32) {
        let was_open = self.shard.stream(id).is_some();
        match self.shard.write_bytes(id, bufs) {
            Ok(status) => {
                self.write_seq.insert(id, seq);
                if status == WriteStatus::Done {
                    self.batch.push(RecordKind::Flushed, id, 0, seq.max(1));
                }
            }
            Err(e) => {
                self.write_seq.remove(&id);
                if was_open && self.shard.stream(id).is_none() {
                    self.batch.closed(id, Some(e));
                }
            }
        }
    }

    /// Drops what the reactor keeps for connection `id`, which its owner closes now: its
    /// write sequence and, if it is still connecting, its dial tag (no `connected` record
    /// follows a dial its owner closed).
    fn forget(&mut self, id: ConnId) {
        self.write_seq.remove(&id);
        self.batch.dial_tags.retain(|(c, _)| *c != id);
    }

    /// Entries the reactor keeps per connection: write sequences and dial tags (tests
    /// check that closed connections leave none behind).
    #[cfg(test)]
    fn tracked(&self) -> (usize, usize) {
        (self.write_seq.len(), self.batch.dial_tags.len())
    }

    /// Starts a dial placed here by the group's policy.
    fn dial(&mut self, dial: Dial, timeout: u64) -> std::io::Result<ConnId> {
        let result = self.shard.dial(dial, timeout);
        self.took_placed();
        result
    }

    /// Takes in a connection the group's policy placed here.
    fn adopt_placed(&mut self, stream: Stream) -> Option<ConnId> {
        let conn = self.shard.adopt_accepted(stream);
        self.took_placed();
        conn
    }

    /// A placed connection is in this shard's count now: the balancer sees it at once (not
    /// only at the next publish), so a burst of placements stays balanced.
    fn took_placed(&self) {
        self.group.balancer.placed(self.index);
        let connections = self.shard.connection_count();
        self.group.balancer.set_load(self.index, connections);
    }

    /// Sends the connections accepted on hand-off listeners to the shards the policy picks
    /// (this one included).
    fn place_handoffs(&mut self) {
        for (stream, listener, tls) in self.shard.take_handoffs() {
            let target = self.group.balancer.pick();
            let peer = self.group.peers.get().and_then(|p| p.get(target));
            match peer {
                Some(peer) if target != self.index => enqueue(
                    peer,
                    [Command::Adopt(stream, listener, self.index as u32, tls)],
                ),
                _ if tls.is_some() => {
                    let tls = tls.expect("checked");
                    self.shard
                        .adopt_tls(stream, &tls, listener, 0, &mut self.batch);
                    self.took_placed();
                }
                _ => {
                    if let Some(conn) = self.adopt_placed(stream) {
                        self.batch.accepted(listener, conn);
                    }
                }
            }
        }
    }

    /// Moves this round's events to the outbox and wakes the consumer if needed.
    fn publish(&mut self) {
        let stats = self.shard.stats();
        self.group.balancer.set_load(self.index, stats.connections);
        *lock(&self.shared.stats) = stats;
        // After the stats: a consumer that sees the closes applied sees their lingering too.
        let closes = std::mem::take(&mut self.closes_applied);
        if closes > 0 {
            // Saturating: a close applied without `send` (a test driving the reactor) was
            // never counted.
            let pending = &self.shared.closes_pending;
            let less = |n: usize| Some(n.saturating_sub(closes));
            let _ = pending.fetch_update(Ordering::SeqCst, Ordering::SeqCst, less);
        }
        let lingered = std::mem::replace(&mut self.lingered, stats.lingering > 0);
        // Nothing lingers now but the consumer may be holding the process for it: wake it.
        let let_go = stats.lingering == 0 && (closes > 0 || lingered);
        if self.batch.is_empty() && !let_go {
            return;
        }
        // Flushed records carry the last write sequence applied; closed connections forget it.
        for r in self.batch.records.chunks_exact_mut(RECORD_LEN) {
            let id = ConnId {
                index: r[1],
                generation: r[2],
            };
            if r[0] == RecordKind::Flushed as u32 && r[4] == 0 {
                // The queue drained: every write applied so far is covered.
                r[4] = self.write_seq.get(&id).copied().unwrap_or(0);
            } else if r[0] == RecordKind::Closed as u32 {
                self.write_seq.remove(&id);
            }
        }
        lock(&self.shared.outbox).append(&mut self.batch);
        if !self.shared.wake_pending.swap(true, Ordering::SeqCst) {
            (self.shared.notify)();
        }
    }
}

#[cfg(test)]
mod tests;
