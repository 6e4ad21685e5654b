//! The reactor shard: one `mio::Poll`, the connections and listeners registered on it, their
//! timers, and the read/write/accept paths.
//!
//! # Threading
//!
//! A `Shard` is single-threaded (`!Sync`): whoever owns it drives it with
//! [`Shard::run_once`] and calls its methods. The *inline* engine owns it on the JS thread and
//! runs it when Node's own loop sees the poll fd readable ([`Shard::poll_fd`]); the *threaded*
//! engine ([`crate::threaded`]) owns it on a reactor thread and feeds it commands. Everything
//! else (reads, writes, timers, accept, backpressure) is the same code for both.
//!
//! # Identity
//!
//! Connections are named by [`ConnId`] (slot + generation); the mio token of a connection
//! carries both, so readiness events for a closed connection whose fd number was reused are
//! recognised as stale and ignored.

mod accept;
mod close;
mod conn;
mod dial;
mod direct;
mod half_close;
mod held;
mod io;
mod recover;
mod stats;

pub use direct::{DirectHost, PROMOTE_AFTER};
pub use io::WriteStatus;
pub use stats::ShardStats;
pub use tls_sni::SniAnswer;
mod timers;
mod tls;
mod tls_alert;
mod tls_conn;
mod tls_sni;

pub use crate::tls::{ClientTls, ServerTls, DEFAULT_HANDSHAKE_TIMEOUT_MS};

use std::io as stdio;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::config::ShardConfig;
use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId};
use crate::listener::Listener;
use crate::stream::Stream;
use crate::timer::TimerWheel;
use conn::{Conn, ConnSlab, ConnState};
use held::HeldReads;
use timers::TimerKey;

/// How long a connection closed with output still queued may take to write it when it has
/// no write timeout of its own, in ms.
pub const CLOSE_LINGER_MS: u64 = 30_000;
const LISTENER_BIT: usize = 1 << (usize::BITS - 1);
/// Token of the shard's waker (threaded engine).
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);
const _: () = assert!(
    usize::BITS == 64,
    "connection tokens pack index and generation"
);

fn conn_token(id: ConnId) -> Token {
    Token(id.index as usize | ((id.generation as usize) << 32))
}

/// A reactor shard (see the module docs).
pub struct Shard {
    poll: Poll,
    events: Events,
    config: ShardConfig,
    conns: ConnSlab,
    listeners: Vec<Option<ListenerSlot>>,
    timers: TimerWheel<TimerKey>,
    /// Connections that still had data when their read budget ran out, and listeners that
    /// still had connections when their accept budget ran out: served again next round.
    ready_conns: Vec<ConnId>,
    ready_listeners: Vec<ListenerId>,
    /// Readable connections not read because the consumer was behind (see
    /// [`ShardConfig::max_pending_input`]).
    held_reads: HeldReads,
    /// The connection being served, so that a panic can be pinned on it (see `recover`).
    current: Option<ConnId>,
    /// Accepted on hand-off listeners, waiting for the engine to place them.
    handoffs: Vec<Handoff>,
    epoch: Instant,
    /// The clock read once after a poll returned, for the reads of that round
    /// ([`Shard::round_ms`]); `None` outside [`Shard::run_once`].
    round_clock: Option<u64>,
    stats: ShardStats,
    /// Connections in [`ConnState::Closing`].
    lingering: usize,
    /// Where TLS connections' ciphertext is read (one for the shard, zeroed once; see
    /// `shard/tls.rs`), so an idle TLS connection keeps no read buffer of its own.
    tls_scratch: Vec<u8>,
    /// The driver watching busy connections directly, if it offers to (see `direct.rs`).
    direct_host: Option<Box<dyn DirectHost>>,
    /// Connections to hand to the driver (see [`Shard::take_direct`]).
    direct_candidates: Vec<ConnId>,
    /// Direct connections whose hand-back to the poll failed, to close with the error.
    direct_failed: Vec<(ConnId, NetError)>,
    /// Connections with `direct` set.
    direct: usize,
}

/// A connection accepted on a hand-off listener: its stream, its listener, and the listener's
/// TLS settings if it speaks TLS.
pub type Handoff = (Stream, ListenerId, Option<std::sync::Arc<ServerTls>>);

struct ListenerSlot {
    listener: Listener,
    /// Accepting is paused after EMFILE/ENFILE until the backoff timer fires.
    backing_off: bool,
    /// Accepted connections go to `handoffs` instead of this shard.
    hand_off: bool,
}

impl Shard {
    /// Creates a shard with its own poll instance.
    pub fn new(config: ShardConfig) -> stdio::Result<Shard> {
        Ok(Shard {
            poll: Poll::new()?,
            events: Events::with_capacity(config.events_capacity),
            config,
            conns: ConnSlab::default(),
            listeners: Vec::new(),
            timers: TimerWheel::new(),
            ready_conns: Vec::new(),
            ready_listeners: Vec::new(),
            handoffs: Vec::new(),
            current: None,
            held_reads: HeldReads::default(),
            epoch: Instant::now(),
            round_clock: None,
            stats: ShardStats::default(),
            lingering: 0,
            tls_scratch: Vec::new(),
            direct_host: None,
            direct_candidates: Vec::new(),
            direct_failed: Vec::new(),
            direct: 0,
        })
    }

    /// The poll's file descriptor: readable whenever the shard has events to process
    /// (for the inline engine, which watches it from Node's event loop).
    pub fn poll_fd(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.poll.as_raw_fd()
    }

    /// The registry, to create a `mio::Waker` for this shard (threaded engine).
    pub(crate) fn registry(&self) -> &mio::Registry {
        self.poll.registry()
    }

    /// Milliseconds since the shard started: the clock of its timers.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// [`Shard::now_ms`] as read when this round began — inside [`Shard::run_once`] (after its
    /// poll returned) or [`Shard::as_one_round`]; a round is native work only (the owner runs
    /// after it), so the reading stays current. The clock itself elsewhere. One clock read
    /// per round instead of one per connection read or write.
    pub(super) fn round_ms(&self) -> u64 {
        self.round_clock.unwrap_or_else(|| self.now_ms())
    }

    /// Runs `f` (native work only, e.g. one batch of the owner's writes) as one round: the
    /// reads and writes in it take their time from one clock read.
    pub fn as_one_round<R>(&mut self, f: impl FnOnce(&mut Shard) -> R) -> R {
        let outer = self.round_clock.replace(self.now_ms());
        let result = f(self);
        self.round_clock = outer;
        result
    }

    /// The shard's configuration.
    pub fn config(&self) -> &ShardConfig {
        &self.config
    }

    /// Counters of this shard.
    pub fn stats(&self) -> ShardStats {
        ShardStats {
            connections: self.conns.len(),
            lingering: self.lingering,
            direct: self.direct,
            listeners: self.listeners.iter().filter(|l| l.is_some()).count(),
            timers: self.timers.len(),
            ..self.stats
        }
    }

    /// Whether reads are held until the consumer takes the input it has (see
    /// [`ShardConfig::max_pending_input`]): the driver runs the shard again after that.
    pub fn has_held_reads(&self) -> bool {
        !self.held_reads.is_empty()
    }

    /// Connections closed by their owner (reported to nobody) that still write the output
    /// they had queued, until it is written or their write timeout (or [`CLOSE_LINGER_MS`])
    /// cuts it. A driver keeps the process alive while there are any, as `net` does for a
    /// socket that was `end()`ed: the peer must get that output.
    pub fn lingering(&self) -> usize {
        self.lingering
    }

    /// Whether work is left that must run without waiting for new readiness (budgets ran
    /// out): the driver should call [`Shard::run_once`] again with a zero timeout.
    pub fn has_ready_work(&self) -> bool {
        !self.ready_conns.is_empty()
            || !self.ready_listeners.is_empty()
            || !self.direct_failed.is_empty()
    }

    /// How long the driver may block in [`Shard::run_once`] before a timer is due
    /// (`None`: no timer armed; zero when ready work is waiting).
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.has_ready_work() {
            return Some(Duration::ZERO);
        }
        let deadline = self.timers.next_deadline()?;
        Some(Duration::from_millis(
            deadline.saturating_sub(self.now_ms()),
        ))
    }

    /// Waits up to `timeout` (`None`: until something happens) for readiness, then performs
    /// all reads, writes, accepts and expired timers, reporting them to `sink`. Returns the
    /// number of events reported.
    pub fn run_once(
        &mut self,
        timeout: Option<Duration>,
        sink: &mut dyn EventSink,
    ) -> stdio::Result<u64> {
        let before = self.stats.events;
        if !self.held_reads.is_empty() && sink.pending_input() < self.config.max_pending_input {
            let order = self.held_reads.release(&mut self.ready_conns);
            for id in order {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.read_held = false;
                    self.ready_conns.push(id);
                }
            }
        }
        let timeout = if self.has_ready_work() {
            Some(Duration::ZERO)
        } else {
            timeout
        };
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == stdio::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        crate::fault::check(crate::fault::Site::Reactor);
        self.round_clock = Some(self.now_ms());
        self.report_direct_failures(sink);
        self.serve_ready(sink);
        let events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        for event in events.iter() {
            let token = event.token();
            if token == WAKER_TOKEN {
                continue;
            }
            if token.0 & LISTENER_BIT != 0 {
                self.accept(ListenerId((token.0 & !LISTENER_BIT) as u32), sink);
                continue;
            }
            let id = ConnId {
                index: (token.0 & 0xffff_ffff) as u32,
                generation: (token.0 >> 32) as u32,
            };
            let Some(state) = self.conn_state(id) else {
                continue; // stale: the connection closed and its slot moved on
            };
            self.current = Some(id);
            // Recorded before anything reads: the FIN raises no further edge, so a short
            // read in this event (the connect's, or the one below) must not mean "drained".
            if event.is_read_closed() || event.is_error() {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.hup_seen = true;
                }
            }
            if state == ConnState::Connecting {
                if event.is_writable() || event.is_error() || event.is_write_closed() {
                    self.finish_connect(id, sink);
                    if event.is_error() || (event.is_read_closed() && event.is_write_closed()) {
                        self.hung_up(id, sink);
                    }
                }
                continue;
            }
            if event.is_writable() || event.is_error() {
                self.write_ready(id, sink);
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                self.note_readable(id);
                self.read_ready(id, sink);
            }
            if event.is_error() || (event.is_read_closed() && event.is_write_closed()) {
                self.hung_up(id, sink);
            }
        }
        self.current = None;
        self.events = events;
        self.round_clock = None;
        self.expire_timers(sink);
        Ok(self.stats.events - before)
    }

    fn conn_state(&mut self, id: ConnId) -> Option<ConnState> {
        self.conns.get_mut(id).map(|c| c.state)
    }

    fn serve_ready(&mut self, sink: &mut dyn EventSink) {
        for id in std::mem::take(&mut self.ready_listeners) {
            self.accept(id, sink);
        }
        for id in std::mem::take(&mut self.ready_conns) {
            self.read_ready(id, sink);
        }
    }

    /// Registers `listener`; the shard accepts its connections from the next
    /// [`Shard::run_once`] on.
    pub fn add_listener(&mut self, mut listener: Listener) -> stdio::Result<ListenerId> {
        let index = match self.listeners.iter().position(|l| l.is_none()) {
            Some(i) => i,
            None => {
                self.listeners.push(None);
                self.listeners.len() - 1
            }
        };
        let id = ListenerId(index as u32);
        self.poll.registry().register(
            &mut listener,
            Token(LISTENER_BIT | index),
            Interest::READABLE,
        )?;
        self.listeners[index] = Some(ListenerSlot {
            listener,
            backing_off: false,
            hand_off: false,
        });
        // Connections may already be waiting in the backlog.
        self.ready_listeners.push(id);
        Ok(id)
    }

    /// The listener `id`, if registered.
    pub fn listener(&self, id: ListenerId) -> Option<&Listener> {
        self.listeners
            .get(id.0 as usize)?
            .as_ref()
            .map(|s| &s.listener)
    }

    /// Stops accepting on `id` and closes it (a Unix socket file is removed).
    pub fn remove_listener(&mut self, id: ListenerId) -> Option<Listener> {
        let mut slot = self.listeners.get_mut(id.0 as usize)?.take()?;
        let _ = self.poll.registry().deregister(&mut slot.listener);
        self.ready_listeners.retain(|l| *l != id);
        Some(slot.listener)
    }

    /// Places an established stream (accepted elsewhere, or by a test) on this shard.
    pub fn adopt(&mut self, stream: Stream) -> stdio::Result<ConnId> {
        self.insert(stream, ConnState::Open)
    }

    fn insert(&mut self, stream: Stream, state: ConnState) -> stdio::Result<ConnId> {
        let now = self.now_ms();
        let id = self
            .conns
            .insert(Conn::new(stream, state, self.config.min_read, now));
        let conn = self.conns.get_mut(id).expect("just inserted");
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut conn.stream, conn_token(id), interest)
        {
            self.conns.remove(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Number of connections on the shard.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Ids of every connection on the shard.
    pub fn connection_ids(&self) -> Vec<ConnId> {
        self.conns.ids()
    }

    /// Stops (`true`) or resumes (`false`) reading `id` (read backpressure).
    pub fn pause_read(&mut self, id: ConnId, paused: bool) {
        if let Some(conn) = self.conns.get_mut(id) {
            let resumed = conn.read_paused && !paused;
            conn.read_paused = paused;
            // Bytes that arrived while paused raised no new edge: look again.
            if resumed && !self.ready_conns.contains(&id) {
                self.ready_conns.push(id);
            }
        }
    }

    /// The stream of `id`: addresses, socket options.
    pub fn stream(&mut self, id: ConnId) -> Option<&Stream> {
        self.conns.get_mut(id).map(|c| &c.stream)
    }

    /// Whether `id` is open and its peer has not finished sending.
    pub fn is_active(&mut self, id: ConnId) -> bool {
        self.conns
            .get_mut(id)
            .is_some_and(|c| c.state == ConnState::Open && !c.read_closed)
    }

    /// Bytes queued on `id` and not yet accepted by the kernel.
    pub fn queued_output(&mut self, id: ConnId) -> usize {
        self.conns.get_mut(id).map_or(0, |c| c.output_len)
    }
}
