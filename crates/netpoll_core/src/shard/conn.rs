//! One connection's state inside its shard, and the generation-checked slab that holds them.

use std::collections::VecDeque;
use std::path::PathBuf;

use bytes::Bytes;

use super::tls_conn::TlsConn;
use crate::event::ConnId;
use crate::stream::Stream;
use crate::timer::TimerId;

/// Where a connection is in its life. Transitions only go forward:
/// `Connecting → Open → Closing → (slot freed)`, or `Open → (slot freed)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// A dial is in progress: waiting for writability to learn the connect result.
    Connecting,
    /// Established; reads and writes flow.
    Open,
    /// Closed by its owner with output still queued: the shard finishes writing it, then
    /// frees the slot without reporting anything (the owner already knows it is closed).
    Closing,
}

/// A Unix dial waiting for room in the listener's backlog.
pub(crate) struct DialRetry {
    /// The listener's path.
    pub path: PathBuf,
    /// The delay before the try the timer is armed for.
    pub delay_ms: u64,
    /// The timer of the next try.
    pub timer: Option<TimerId>,
}

/// Where a connection's sending side is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum WriteSide {
    /// Open: writes flow.
    #[default]
    Open,
    /// The owner asked for a half-close while output was queued: the FIN follows the queue.
    ShutdownPending,
    /// The FIN was sent (`shutdown(SHUT_WR)` done).
    Shut,
}

/// A connection owned by a shard.
pub(crate) struct Conn {
    pub stream: Stream,
    pub state: ConnState,
    /// Output accepted from the owner but not yet by the kernel, oldest first.
    pub output: VecDeque<Bytes>,
    /// Total bytes in `output`.
    pub output_len: usize,
    /// The owner asked the shard to stop reading (read backpressure).
    pub read_paused: bool,
    /// In the shard's `held_reads` (its consumer was behind when it was readable).
    pub read_held: bool,
    /// The peer's FIN was read; no more reads.
    pub read_closed: bool,
    /// Readiness said the peer closed its side: read until EOF even after a short read
    /// (the FIN raises no further edge).
    pub hup_seen: bool,
    /// Size of the next read, adapted to how full earlier reads were.
    pub read_size: usize,
    /// Last time (shard clock, ms) bytes moved in either direction.
    pub last_activity: u64,
    /// Idle timeout in ms (0 = none) and its timer.
    pub idle_ms: u64,
    pub idle_timer: Option<TimerId>,
    /// Write timeout in ms (0 = none); its timer runs while output is queued and fires
    /// only after that long without progress (see `write_progress`).
    pub write_ms: u64,
    pub write_timer: Option<TimerId>,
    /// Last time (shard clock, ms) queued output made progress: bytes were written, the
    /// peer took bytes out of the kernel (`kernel_unsent` fell), or the write timer was
    /// armed. The write timer fires once this is a whole period ago.
    pub write_progress: u64,
    /// The kernel's unsent byte count of the socket when the write timer last looked.
    pub kernel_unsent: usize,
    /// The read timer armed by the owner while a read waits for bytes.
    pub read_timer: Option<TimerId>,
    /// The dial timer while `Connecting`.
    pub dial_timer: Option<TimerId>,
    /// While `Connecting` to a Unix listener whose backlog was full: when to try again
    /// (boxed: every other connection pays one pointer, not the retry's 48 bytes).
    pub dial_retry: Option<Box<DialRetry>>,
    /// Bytes read from and written to this connection.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Whether the sending side is open, shut, or shut once the output queue drains.
    pub write_side: WriteSide,
    /// The TLS session of a TLS connection (boxed: a plain connection pays one pointer).
    pub tls: Option<Box<TlsConn>>,
    /// Watched by the shard's driver instead of its poll (see `direct.rs`).
    pub direct: bool,
    /// Readable wake-ups through the shard's poll (saturating; see `direct.rs`).
    pub wakes: u16,
}

impl Conn {
    pub fn new(stream: Stream, state: ConnState, read_size: usize, now: u64) -> Conn {
        Conn {
            stream,
            state,
            output: VecDeque::new(),
            output_len: 0,
            read_paused: false,
            read_held: false,
            read_closed: false,
            hup_seen: false,
            read_size,
            last_activity: now,
            idle_ms: 0,
            idle_timer: None,
            write_ms: 0,
            write_timer: None,
            write_progress: now,
            kernel_unsent: 0,
            read_timer: None,
            dial_timer: None,
            dial_retry: None,
            bytes_in: 0,
            bytes_out: 0,
            write_side: WriteSide::Open,
            tls: None,
            direct: false,
            wakes: 0,
        }
    }

    /// Every timer this connection holds, taken out (to cancel them when it closes).
    pub fn take_timers(&mut self) -> impl Iterator<Item = TimerId> {
        [
            self.idle_timer.take(),
            self.write_timer.take(),
            self.read_timer.take(),
            self.dial_timer.take(),
            self.dial_retry.as_mut().and_then(|r| r.timer.take()),
            self.tls.as_mut().and_then(|t| t.timer.take()),
        ]
        .into_iter()
        .flatten()
    }
}

/// A slot holds its connection boxed: the slab then grows by 16-byte slots, and a server
/// of many idle connections pays for each connection once, not for the slab's doubling slack.
struct Slot {
    generation: u32,
    conn: Option<Box<Conn>>,
}

/// A slab of connections whose ids carry the slot's generation, so ids of closed
/// connections (stale commands, stale readiness events after fd reuse) never reach a newer
/// connection in the same slot.
#[derive(Default)]
pub(crate) struct ConnSlab {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl ConnSlab {
    /// Stores `conn` and returns its id.
    pub fn insert(&mut self, conn: Conn) -> ConnId {
        self.live += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            debug_assert!(slot.conn.is_none());
            slot.conn = Some(Box::new(conn));
            return ConnId {
                index,
                generation: slot.generation,
            };
        }
        let index = u32::try_from(self.slots.len()).expect("connection slab overflow");
        self.slots.push(Slot {
            generation: 0,
            conn: Some(Box::new(conn)),
        });
        ConnId {
            index,
            generation: 0,
        }
    }

    /// The live connection `id` names, or `None` if it has closed since.
    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.conn.as_deref_mut()
    }

    /// Removes the connection `id` names; its slot gets a new generation.
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let conn = slot.conn.take()?;
        // Generations keep 31 bits: the mio token carries them beside the index.
        slot.generation = slot.generation.wrapping_add(1) & 0x7fff_ffff;
        self.free.push(id.index);
        self.live -= 1;
        Some(*conn)
    }

    /// Ids of every live connection.
    pub fn ids(&self) -> Vec<ConnId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.conn.is_some())
            .map(|(i, s)| ConnId {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    /// A server of many idle connections pays this struct once per connection: state only
    /// some connections need (a Unix dial's retry, a TLS session) stays behind a pointer.
    #[test]
    fn a_plain_connection_pays_a_pointer_for_rare_state() {
        assert_eq!(std::mem::size_of::<Option<Box<super::DialRetry>>>(), 8);
        // mio's stream is one descriptor (8 bytes) in release builds and carries a
        // selector id in debug builds (24 bytes): the bound is on our own fields.
        let stream = std::mem::size_of::<crate::stream::Stream>();
        let own = std::mem::size_of::<super::Conn>() - stream;
        assert!(
            own <= 184,
            "Conn's own fields grew to {own} bytes (+{stream} of stream)"
        );
    }
}
