//! What the JS-side handle of a reactor shares with its thread: the command queue, the
//! outbox of events and the flags that decide the wake-ups (see the module docs of
//! [`crate::threaded`]), and what the shards of one group share.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use mio::Waker;

use crate::batch::Batch;
use crate::event::{ConnId, ListenerId};
use crate::listener::Listener;
use crate::placement::Balancer;
use crate::shard::{ClientTls, ServerTls, ShardStats, SniAnswer};
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
    /// The owner's answer to a connection's SNI request ([`Shard::sni_answer`]); `reply`, if
    /// any, hears whether the connection was still waiting for it.
    SniAnswer(ConnId, SniAnswer, Option<Reply<bool>>),
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

pub(super) struct Shared {
    pub(super) commands: Mutex<Vec<Command>>,
    pub(super) outbox: Mutex<Batch>,
    pub(super) wake_pending: AtomicBool,
    /// The reactor holds reads until the consumer takes the outbox: wake it when it does.
    pub(super) reads_held: AtomicBool,
    /// The reactor released its idle memory: the consumer's next take shrinks the batch it
    /// hands back.
    pub(super) shrink_taken: AtomicBool,
    pub(super) stop: AtomicBool,
    /// Graceful closes sent and not yet counted in `stats.lingering` (see
    /// `ThreadedShard::lingering`).
    pub(super) closes_pending: AtomicUsize,
    pub(super) stats: Mutex<ShardStats>,
    pub(super) waker: Waker,
    pub(super) notify: Box<dyn Fn() + Send + Sync>,
}

/// What the shards of one group share.
pub(super) struct Group {
    pub(super) balancer: Balancer,
    /// Every shard's queue, by index (set once all are started).
    pub(super) peers: OnceLock<Vec<Arc<Shared>>>,
}

pub(super) fn enqueue(shared: &Shared, commands: impl IntoIterator<Item = Command>) {
    let mut queue = lock(&shared.commands);
    let was_empty = queue.is_empty();
    queue.extend(commands);
    drop(queue);
    if was_empty {
        let _ = shared.waker.wake();
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind: keep going.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    pub(super) fn new(waker: Waker, notify: Box<dyn Fn() + Send + Sync>) -> Shared {
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
