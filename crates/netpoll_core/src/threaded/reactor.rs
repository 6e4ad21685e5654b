//! The reactor thread's side of a threaded shard: it applies the queued commands, runs its
//! shard's rounds and publishes the events in batches (see the module docs of
//! [`crate::threaded`]).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{Batch, RecordKind, RECORD_LEN};
use crate::buffer::{release_idle_memory, QuietTimer, QUIET_INTERVAL};
use crate::error::NetError;
use crate::event::{ConnId, EventSink};
use crate::shard::{Shard, WriteStatus};
use crate::stream::{Dial, Stream};

use super::queue::{enqueue, lock, Command, Group, Shared};

/// The reactor thread's side.
pub(super) struct Reactor {
    pub(super) shard: Shard,
    pub(super) shared: Arc<Shared>,
    pub(super) group: Arc<Group>,
    pub(super) index: usize,
    pub(super) batch: Batch,
    /// Per connection, the sequence number of the last write applied (for `flushed`).
    pub(super) write_seq: HashMap<ConnId, u32>,
    /// Graceful closes applied since the last publish (see `ThreadedShard::lingering`).
    pub(super) closes_applied: usize,
    /// Whether connections lingered at the last publish.
    pub(super) lingered: bool,
    /// When the shard has been quiet long enough to give back what a burst left.
    pub(super) quiet: QuietTimer,
}

impl Reactor {
    pub(super) fn new(
        shard: Shard,
        shared: Arc<Shared>,
        group: Arc<Group>,
        index: usize,
    ) -> Reactor {
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
    pub(super) fn run(mut self) {
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

    pub(super) fn apply(&mut self, command: Command) {
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
            Command::SniAnswer(id, answer, reply) => {
                let waiting = self.shard.sni_answer(id, answer);
                if let Some(reply) = reply {
                    reply(waiting)
                }
            }
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
    pub(super) fn tracked(&self) -> (usize, usize) {
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
    pub(super) fn publish(&mut self) {
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
