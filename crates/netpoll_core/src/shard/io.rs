//! The read and write paths of a shard.
//!
//! Reads drain a readable connection into the sink's memory until the kernel has no more
//! (a short read means drained: epoll and kqueue raise a new edge for later bytes), up to a
//! per-wake budget; the read size adapts to how full the last reads were. Writes go out
//! with one `writev` per call; a remainder the kernel does not take is queued (copied, or
//! kept by reference) and finished by the shard on writability.

use std::io::{self, IoSlice, Read, Write};

use bytes::Bytes;

use super::conn::ConnState;
use super::Shard;
use crate::error::NetError;
use crate::event::{ConnId, EventSink};

/// Most buffers passed to one `writev` (well under every platform's IOV_MAX).
const MAX_IOV: usize = 64;

/// What became of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStatus {
    /// Every byte was handed to the kernel.
    Done,
    /// This many bytes wait in the connection's output queue; [`EventSink::flushed`] is
    /// reported when the kernel has taken them all.
    Queued(usize),
}

impl Shard {
    pub(super) fn read_ready(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        crate::fault::check(crate::fault::Site::Decode);
        if self.conns.get_mut(id).is_some_and(|c| c.tls.is_some()) {
            return self.read_tls(id, sink);
        }
        let now = self.round_ms();
        let (min_read, max_read) = (self.config.min_read, self.config.max_read);
        let mut budget = self.config.read_budget;
        loop {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            if conn.read_paused || conn.read_closed || conn.state != ConnState::Open {
                return;
            }
            if sink.pending_input() >= self.config.max_pending_input {
                // The consumer is behind: read this one again once it caught up.
                if !conn.read_held {
                    conn.read_held = true;
                    let had_turn = budget < self.config.read_budget;
                    self.held_reads.hold(id, had_turn);
                }
                return;
            }
            if budget == 0 {
                if !self.ready_conns.contains(&id) {
                    self.ready_conns.push(id);
                }
                return;
            }
            let want = conn.read_size.min(budget).max(1);
            let buf = sink.read_buffer(want);
            let want = want.min(buf.len());
            if want == 0 {
                // The sink is full for this round: read this one again in the next.
                if !self.ready_conns.contains(&id) {
                    self.ready_conns.push(id);
                }
                return;
            }
            match conn.stream.read(&mut buf[..want]) {
                Ok(0) => {
                    conn.read_closed = true;
                    self.stats.events += 1;
                    sink.read_closed(id);
                    // A reset after the FIN leaves its error pending behind the end of
                    // stream, with no readiness edge to come: close with it now.
                    if let Ok(Some(e)) = conn.stream.take_error() {
                        self.fail(id, Some(NetError::from_io(&e, "read")), sink);
                    }
                    return;
                }
                Ok(n) => {
                    conn.bytes_in += n as u64;
                    conn.last_activity = now;
                    conn.read_size = if n == want {
                        (conn.read_size * 2).min(max_read)
                    } else if n < conn.read_size / 4 {
                        (conn.read_size / 2).max(min_read)
                    } else {
                        conn.read_size
                    };
                    self.stats.bytes_in += n as u64;
                    self.stats.events += 1;
                    sink.data(id, n);
                    budget -= n;
                    if n < want && !self.conns.get_mut(id).is_some_and(|c| c.hup_seen) {
                        return; // drained: later bytes raise a new readiness edge
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let error = NetError::from_io(&e, "read");
                    self.fail(id, Some(error), sink);
                    return;
                }
            }
        }
    }

    /// The socket reported an error or a full hang-up. A connection still reading finds out
    /// by its next read; one whose peer already finished sending (no more reads) would
    /// never notice, so it is closed here: with the socket's error (a reset after the FIN),
    /// or cleanly when nothing is left to write.
    pub(super) fn hung_up(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if conn.state != ConnState::Open || !conn.read_closed {
            return;
        }
        match conn.stream.take_error() {
            Ok(Some(e)) => self.fail(id, Some(NetError::from_io(&e, "read")), sink),
            Ok(None) if !conn.output_pending() => self.fail(id, None, sink),
            _ => {} // output queued: its write reports the failure
        }
    }

    pub(super) fn write_ready(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        if !conn.output_pending() {
            return;
        }
        self.drain_and_report(id, sink);
    }

    /// Drains the output of `id` and reports `flushed` once it is empty (a TLS connection's
    /// only if its owner waits for it).
    pub(super) fn drain_and_report(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let Some(conn) = self.conns.get_mut(id) else {
            return;
        };
        let tls = conn.tls.is_some();
        let drained = if tls {
            self.drain_tls(id)
        } else {
            self.drain_output(id)
        };
        match drained {
            Ok(true) => {
                let closing = self.conns.get_mut(id).map(|c| c.state) == Some(ConnState::Closing);
                if closing {
                    self.discard(id);
                } else if let Err(e) = self.after_drain(id) {
                    self.fail(id, Some(e), sink);
                } else if !tls || self.take_owed_flush(id) {
                    self.stats.events += 1;
                    sink.flushed(id);
                }
            }
            Ok(false) => {}
            Err(e) => self.fail(id, Some(e), sink),
        }
    }

    /// Writes queued output until the kernel refuses more. `Ok(true)`: the queue is empty.
    fn drain_output(&mut self, id: ConnId) -> Result<bool, NetError> {
        let now = self.now_ms();
        let conn = self.conns.get_mut(id).expect("caller checked");
        while !conn.output.is_empty() {
            let slices: Vec<IoSlice<'_>> = conn
                .output
                .iter()
                .take(MAX_IOV)
                .map(|b| IoSlice::new(b))
                .collect();
            match conn.stream.write_vectored(&slices) {
                // The queue never holds an empty buffer: 0 means the socket takes no more.
                Ok(0) => return Err(NetError::from_io(&io::ErrorKind::WriteZero.into(), "write")),
                Ok(mut n) => {
                    conn.bytes_out += n as u64;
                    conn.output_len -= n;
                    conn.last_activity = now;
                    conn.write_progress = now;
                    self.stats.bytes_out += n as u64;
                    self.stats.bytes_queued -= n;
                    while n > 0 {
                        let front = conn.output.front_mut().expect("written bytes were queued");
                        if front.len() <= n {
                            n -= front.len();
                            conn.output.pop_front();
                        } else {
                            let _ = front.split_to(n);
                            n = 0;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(NetError::from_io(&e, "write")),
            }
        }
        if let Some(t) = conn.write_timer.take() {
            self.timers.cancel(t);
        }
        Ok(true)
    }

    /// Writes `bufs` to `id` after any output already queued: one `writev` when nothing is
    /// queued, the remainder copied into the output queue. Fails with `ERR_CONN_CLOSED` for
    /// a closed connection, with `ERR_OUTPUT_LIMIT` when the queue would pass
    /// [`ShardConfig::max_output`](crate::config::ShardConfig::max_output), or with the
    /// socket error; on `ERR_OUTPUT_LIMIT` and socket errors the connection is closed (and
    /// not reported: the caller has the error).
    pub fn write(&mut self, id: ConnId, bufs: &[&[u8]]) -> Result<WriteStatus, NetError> {
        self.current = Some(id);
        let result = self.write_with(id, bufs, |b| Bytes::copy_from_slice(b));
        self.current = None;
        result
    }

    /// Like [`Shard::write`], for buffers the shard may keep by reference (no copy).
    pub fn write_bytes(&mut self, id: ConnId, bufs: &[Bytes]) -> Result<WriteStatus, NetError> {
        self.current = Some(id);
        let result = self.write_with(id, bufs, Bytes::clone);
        self.current = None;
        result
    }

    fn write_with<B: AsRef<[u8]>>(
        &mut self,
        id: ConnId,
        bufs: &[B],
        keep: impl Fn(&B) -> Bytes,
    ) -> Result<WriteStatus, NetError> {
        let now = self.round_ms();
        let Some(conn) = self.conns.get_mut(id) else {
            return Err(NetError::new("ERR_CONN_CLOSED", "the connection is closed"));
        };
        if conn.state != ConnState::Open {
            return Err(NetError::new("ERR_CONN_CLOSED", "the connection is closed"));
        }
        crate::fault::check(crate::fault::Site::Write);
        if conn.tls.is_some() {
            return self.write_tls(id, bufs, keep);
        }
        let total: usize = bufs.iter().map(|b| b.as_ref().len()).sum();
        let mut written = 0;
        if conn.output.is_empty() {
            written = match write_direct(&mut conn.stream, bufs) {
                Ok(n) => n,
                Err(e) => {
                    self.discard(id);
                    return Err(NetError::from_io(&e, "write"));
                }
            };
            conn.bytes_out += written as u64;
            conn.last_activity = now;
            self.stats.bytes_out += written as u64;
        }
        self.queue_remainder(id, bufs, written, total - written, keep)
    }

    /// Queues the last `remainder` bytes of `bufs` (the first `written` went out) behind the
    /// connection's output, under `max_output`; closes the connection when it would pass.
    pub(super) fn queue_remainder<B: AsRef<[u8]>>(
        &mut self,
        id: ConnId,
        bufs: &[B],
        written: usize,
        remainder: usize,
        keep: impl Fn(&B) -> Bytes,
    ) -> Result<WriteStatus, NetError> {
        let max_output = self.config.max_output;
        let conn = self.conns.get_mut(id).expect("caller checked");
        if remainder == 0 {
            // Nothing of this write waits; an empty write behind queued output is covered
            // by that output's `flushed`.
            return Ok(match conn.output_len {
                0 => WriteStatus::Done,
                queued => WriteStatus::Queued(queued),
            });
        }
        if conn.output_len + remainder > max_output {
            self.discard(id);
            return Err(NetError::new(
                "ERR_OUTPUT_LIMIT",
                format!("output queued on the connection would exceed {max_output} bytes"),
            ));
        }
        let mut skip = written;
        for buf in bufs {
            let len = buf.as_ref().len();
            if skip >= len {
                skip -= len;
                continue;
            }
            let mut kept = keep(buf);
            let _ = kept.split_to(skip);
            skip = 0;
            conn.output.push_back(kept);
        }
        conn.output_len += remainder;
        self.stats.bytes_queued += remainder;
        let queued = conn.output_len;
        if conn.write_timer.is_none() && conn.write_ms > 0 {
            let ms = conn.write_ms;
            self.arm_write_timer(id, ms);
        }
        Ok(WriteStatus::Queued(queued))
    }
}

/// Writes as much of `bufs` as the kernel takes now; returns the byte count. Empty buffers
/// are skipped: a write of nothing is no system call (and not a `WriteZero` failure).
fn write_direct<B: AsRef<[u8]>>(stream: &mut impl Write, bufs: &[B]) -> io::Result<usize> {
    let mut written = 0;
    let mut first = 0; // index of the first buffer not fully written
    let mut offset = 0; // bytes of bufs[first] already written
    while first < bufs.len() {
        let slices: Vec<IoSlice<'_>> = std::iter::once(&bufs[first].as_ref()[offset..])
            .chain(bufs[first + 1..].iter().map(|b| b.as_ref()))
            .filter(|b| !b.is_empty())
            .take(MAX_IOV)
            .map(IoSlice::new)
            .collect();
        if slices.is_empty() {
            break; // only empty buffers are left
        }
        let n = match stream.write_vectored(&slices) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        written += n;
        let mut n = n + offset;
        offset = 0;
        while first < bufs.len() {
            let len = bufs[first].as_ref().len();
            if n >= len {
                n -= len;
                first += 1;
            } else {
                offset = n;
                break;
            }
        }
    }
    Ok(written)
}
