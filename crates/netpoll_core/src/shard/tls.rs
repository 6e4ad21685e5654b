//! TLS connections on a shard: a plain connection with a [`TlsConn`] beside its socket (see
//! the integration design in [`crate::tls`]).
//!
//! * **Handshake.** An accepted socket of a TLS listener, or a dial given a client context,
//!   gets a session and a handshake timer; its owner hears of it (`accepted` /
//!   `connected(Ok)`) only once the handshake completed. A failed or timed-out handshake of
//!   an accepted socket is reported on its listener ([`EventSink::tls_client_error`], Node's
//!   `tlsClientError`), never as a connection; a dial's is `connected(Err)`.
//! * **Reads.** Ciphertext is read into the shard's scratch buffer (one read of `read_size`,
//!   the read budget counts it) and decrypted from there into the sink's read buffer
//!   (during the handshake and on TLS 1.2 through rustls' own plaintext queue; a TLS 1.3
//!   session's own record layer opens records straight into the sink), reported with `data`
//!   exactly like a plain read. The session keeps what it cannot
//!   use yet (the start of an incomplete record; the records after one whose plaintext the
//!   sink had no room for), and the next read goes right behind an incomplete record. While
//!   plaintext waits for the sink, the socket is not read and the connection is served again
//!   next round. An idle TLS connection holds no read buffer. A socket EOF without
//!   `close_notify` is `ECONNRESET`.
//! * **Writes.** One flush's buffers are encrypted at once and the records written with one
//!   `write`. Plaintext the session did not take waits in the connection's output queue,
//!   under `max_output`; records the kernel did not take stay in the session. Both are
//!   drained on writability; `flushed` follows when both are empty.
//! * **Close.** A graceful close or half-close queues `close_notify` behind the output and
//!   writes it before the socket closes or shuts its write side.

use std::io::{self, Read};

use super::conn::{Conn, ConnState, WriteSide};
use super::timers::TimerKey;
use super::tls_alert::write_error;
use super::tls_conn::{Pending, TlsConn};
use super::{Shard, WriteStatus};
use crate::error::{code, NetError};
use crate::event::{ConnId, EventSink, ListenerId};
use crate::stream::Stream;
use crate::tls::{ClientTls, ServerTls, TlsInfo, TlsSession};

/// Most queued plaintext chunks offered to one `encrypt` call.
const MAX_CHUNKS: usize = 64;

impl Conn {
    /// Whether output waits: queued plaintext, or TLS records not yet written.
    pub fn output_pending(&self) -> bool {
        !self.output.is_empty() || self.tls.as_ref().is_some_and(|t| t.session.wants_write())
    }
}

/// Writes the session's waiting records until the kernel refuses more; returns the bytes
/// written. A write the peer refused (it is gone) fails with the alert it sent before it
/// went, if any (see [`write_error`]).
fn flush_records(conn: &mut Conn, now: u64) -> Result<usize, NetError> {
    let Some(tls) = conn.tls.as_deref_mut() else {
        return Ok(0);
    };
    let mut total = 0;
    while tls.session.wants_write() {
        match tls.session.write_tls_to(&mut conn.stream) {
            Ok(0) => return Err(NetError::from_io(&io::ErrorKind::WriteZero.into(), "write")),
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(write_error(conn, &e)),
        }
    }
    if total > 0 {
        conn.bytes_out += total as u64;
        conn.last_activity = now;
        conn.write_progress = now;
    }
    Ok(total)
}

/// The buffers of `bufs` after their first `skip` bytes (at most [`MAX_CHUNKS`]), into
/// `out`; returns how many.
fn unsent<'a, B: AsRef<[u8]>>(
    bufs: &'a [B],
    mut skip: usize,
    out: &mut [&'a [u8]; MAX_CHUNKS],
) -> usize {
    let mut n = 0;
    for b in bufs {
        let b = b.as_ref();
        if skip >= b.len() {
            skip -= b.len();
            continue;
        }
        out[n] = &b[skip..];
        n += 1;
        skip = 0;
        if n == MAX_CHUNKS {
            break;
        }
    }
    n
}

impl Shard {
    /// Places a socket accepted on a TLS listener: the handshake starts, and `accepted` is
    /// reported with `listener` and `origin` (see [`EventSink::accepted_from`]) once it
    /// completes. `None` when the connection could not be placed (it is then closed).
    pub fn adopt_tls(
        &mut self,
        stream: Stream,
        tls: &ServerTls,
        listener: ListenerId,
        origin: u32,
        sink: &mut dyn EventSink,
    ) -> Option<ConnId> {
        let snapshot = tls.context.snapshot();
        // Only a listener with an SNI callback keeps the snapshot (to build the chosen one).
        let sni = tls.sni_callback.then(|| snapshot.clone());
        let session = match TlsSession::server_with(snapshot) {
            Ok(s) => s,
            Err(e) => {
                self.stats.events += 1;
                sink.tls_client_error(listener, origin, e);
                return None;
            }
        };
        let id = self.adopt_accepted(stream)?;
        let pending = Pending::Accept { listener, origin };
        self.start_tls(id, session, pending, tls.handshake_timeout_ms);
        if let Some(snapshot) = sni {
            self.wait_for_sni(id, snapshot);
        }
        Some(id)
    }

    /// Makes the dial `id` (still connecting) a TLS client: its `connected(Ok)` waits for the
    /// handshake. Fails with the session's error (e.g. an invalid servername); the dial is
    /// then closed, and not reported (the caller has the error).
    pub fn dial_tls(&mut self, id: ConnId, tls: &ClientTls) -> Result<(), NetError> {
        let session = TlsSession::client(&tls.context, &tls.servername).inspect_err(|_| {
            self.discard(id);
        })?;
        self.start_tls(id, session, Pending::Dial, tls.handshake_timeout_ms);
        Ok(())
    }

    fn start_tls(&mut self, id: ConnId, session: TlsSession, pending: Pending, ms: u64) {
        let timer = (ms > 0).then(|| self.arm(ms, TimerKey::Handshake(id)));
        if let Some(conn) = self.conns.get_mut(id) {
            let mut tls = TlsConn::new(session, pending);
            tls.timer = timer;
            conn.tls = Some(tls);
        }
    }

    /// The TLS state of `id` once its handshake completed (`conn.tls` in JS).
    pub fn tls_info(&mut self, id: ConnId) -> Option<&TlsInfo> {
        self.conns.get_mut(id)?.tls.as_ref()?.session.info()
    }

    /// The handshake timer of `id` fired.
    pub(super) fn handshake_expired(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_deref_mut()) else {
            return;
        };
        tls.timer = None;
        if tls.pending.is_some() {
            let e = NetError::new(code::ERR_TLS_HANDSHAKE_TIMEOUT, "TLS handshake timeout");
            self.fail(id, Some(e), sink);
        }
    }

    /// Reports a connection whose handshake failed (or that closed during it) to whoever
    /// waits for it. Called by `fail` with the connection already discarded.
    pub(super) fn report_tls_failure(
        &mut self,
        id: ConnId,
        pending: Pending,
        error: Option<NetError>,
        sink: &mut dyn EventSink,
    ) {
        let error = error.unwrap_or_else(|| {
            let e = std::io::Error::from_raw_os_error(libc::ECONNRESET);
            let mut e = NetError::from_io(&e, "read");
            e.message =
                "Client network socket disconnected before secure TLS connection was established"
                    .into();
            e
        });
        self.stats.events += 1;
        match pending {
            Pending::Accept { listener, origin } => sink.tls_client_error(listener, origin, error),
            Pending::Dial => sink.connected(id, Err(error)),
        }
    }

    /// The TCP connect of a TLS dial completed: sends the ClientHello.
    pub(super) fn tls_connected(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let now = self.now_ms();
        let conn = self.conns.get_mut(id).expect("live");
        match flush_records(conn, now) {
            Ok(n) => self.stats.bytes_out += n as u64,
            Err(e) => return self.fail(id, Some(e), sink),
        }
        self.read_tls(id, sink);
    }

    /// The read path of a TLS connection (see the module docs).
    pub(super) fn read_tls(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let now = self.round_ms();
        let (min_read, max_read) = (self.config.min_read, self.config.max_read);
        let mut budget = self.config.read_budget;
        // rustls may hold decrypted bytes from an earlier round (the sink was full).
        let mut deliver_first = true;
        loop {
            let Some(conn) = self.conns.get_mut(id) else {
                return;
            };
            let Some(tls) = conn.tls.as_deref_mut() else {
                return;
            };
            if tls.sni.is_some() {
                return self.read_sni(id, sink);
            }
            let reported = tls.pending.is_none();
            if (reported && conn.read_paused) || conn.read_closed || conn.state != ConnState::Open {
                return;
            }
            if sink.pending_input() >= self.config.max_pending_input {
                if !conn.read_held {
                    conn.read_held = true;
                    let had_turn = budget < self.config.read_budget;
                    self.held_reads.hold(id, had_turn);
                }
                return;
            }
            let mut drained = false;
            // Ciphertext just read into the scratch buffer (else into the session's own
            // buffer, right behind the incomplete record it holds).
            let mut fresh = 0;
            if !deliver_first {
                if budget == 0 {
                    if !self.ready_conns.contains(&id) {
                        self.ready_conns.push(id);
                    }
                    return;
                }
                let want = conn.read_size.min(budget).max(1);
                let (room, held) = match tls.session.read_room(want) {
                    Some(room) => (room, true),
                    None => {
                        if self.tls_scratch.len() < want {
                            self.tls_scratch.resize(want.max(max_read), 0);
                        }
                        (&mut self.tls_scratch[..want], false)
                    }
                };
                match conn.stream.read(room) {
                    Ok(0) => return self.tls_eof(id, sink),
                    Ok(n) => {
                        if held {
                            tls.session.commit_read(n);
                        } else {
                            fresh = n;
                        }
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
                        budget -= n;
                        drained = n < want && !conn.hup_seen;
                    }
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => return,
                        io::ErrorKind::Interrupted => continue,
                        _ => return self.fail(id, Some(NetError::from_io(&e, "read")), sink),
                    },
                }
            }
            let ciphertext = fresh + tls.session.held_ciphertext();
            let buf = sink.read_buffer(ciphertext.max(min_read));
            if buf.is_empty() {
                tls.session.hold(&self.tls_scratch[..fresh]);
                if !self.ready_conns.contains(&id) {
                    self.ready_conns.push(id);
                }
                return;
            }
            let room = buf.len();
            let result = tls.session.decrypt(&mut self.tls_scratch[..fresh], buf);
            let done = match result {
                Ok(d) => d,
                Err(e) => {
                    let _ = flush_records(conn, now); // the alert, best effort
                    return self.fail(id, Some(e), sink);
                }
            };
            let sink_full = done.written == room;
            deliver_first = sink_full;
            let input_left = tls.session.waiting_plaintext() > 0;
            let wrote = match flush_records(conn, now) {
                Ok(n) => n,
                Err(e) => return self.fail(id, Some(e), sink),
            };
            self.stats.bytes_out += wrote as u64;
            // Records written here may be the last ones a flush left waiting (the write path
            // met a full socket): with the socket writable again no writability edge follows,
            // so the drain of the plaintext still queued, and the `flushed` report the owner
            // waits for, happen now.
            let resume = wrote > 0
                && conn.tls.as_ref().is_some_and(|t| {
                    !t.session.wants_write() && (t.owes_flush || !conn.output.is_empty())
                });
            if done.handshake_completed {
                self.tls_established(id, sink);
            }
            if done.written > 0 {
                self.stats.events += 1;
                sink.data(id, done.written);
            }
            if resume {
                self.drain_and_report(id, sink);
            }
            if done.peer_closed {
                if let Some(conn) = self.conns.get_mut(id) {
                    conn.read_closed = true;
                    self.stats.events += 1;
                    sink.read_closed(id);
                }
                return;
            }
            if drained && !input_left && !sink_full {
                return; // later bytes raise a new readiness edge
            }
        }
    }

    /// The handshake of `id` completed: tells its owner.
    fn tls_established(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let Some(tls) = self.conns.get_mut(id).and_then(|c| c.tls.as_deref_mut()) else {
            return;
        };
        let timer = tls.timer.take();
        let pending = tls.pending.take();
        if let Some(t) = timer {
            self.timers.cancel(t);
        }
        self.stats.events += 1;
        match pending {
            Some(Pending::Accept { listener, origin }) => sink.accepted_from(listener, id, origin),
            Some(Pending::Dial) => sink.connected(id, Ok(())),
            None => {}
        }
    }

    /// The socket of TLS connection `id` reached EOF.
    fn tls_eof(&mut self, id: ConnId, sink: &mut dyn EventSink) {
        let conn = self.conns.get_mut(id).expect("live");
        let tls = conn.tls.as_deref_mut().expect("a TLS connection");
        match tls.session.on_eof() {
            Ok(()) if tls.pending.is_none() => {
                conn.read_closed = true;
                self.stats.events += 1;
                sink.read_closed(id);
            }
            Ok(()) => self.fail(id, None, sink),
            Err(e) => self.fail(id, Some(e), sink),
        }
    }

    /// The write path of a TLS connection: `write_with` for a connection with a session.
    pub(super) fn write_tls<B: AsRef<[u8]>>(
        &mut self,
        id: ConnId,
        bufs: &[B],
        keep: impl Fn(&B) -> bytes::Bytes,
    ) -> Result<WriteStatus, NetError> {
        let now = self.round_ms();
        let conn = self.conns.get_mut(id).expect("caller checked");
        let total: usize = bufs.iter().map(|b| b.as_ref().len()).sum();
        let mut taken = 0;
        // Encrypt and write until all is out or the kernel is full (records wait in the
        // session then, and writability resumes the rest).
        while conn.output.is_empty() && taken < total {
            let tls = conn.tls.as_deref_mut().expect("a TLS connection");
            let mut slices = [&[][..]; MAX_CHUNKS];
            let n = unsent(bufs, taken, &mut slices);
            let mut took = 0;
            let flushed = tls.session.encrypt(&slices[..n]).and_then(|n| {
                took = n;
                flush_records(conn, now)
            });
            taken += took;
            match flushed {
                Ok(n) => self.stats.bytes_out += n as u64,
                Err(e) => {
                    self.discard(id);
                    return Err(e);
                }
            }
            let tls = conn.tls.as_deref().expect("a TLS connection");
            if tls.session.wants_write() || took == 0 {
                break;
            }
        }
        let status = self.queue_remainder(id, bufs, taken, total - taken, keep)?;
        let conn = self.conns.get_mut(id).expect("live");
        if !conn.output_pending() {
            return Ok(WriteStatus::Done);
        }
        conn.tls.as_deref_mut().expect("TLS").owes_flush = true;
        if conn.write_timer.is_none() && conn.write_ms > 0 {
            let ms = conn.write_ms;
            self.arm_write_timer(id, ms);
        }
        Ok(match status {
            WriteStatus::Done => WriteStatus::Queued(1),
            queued => queued,
        })
    }

    /// Writes the waiting records and the queued plaintext of TLS connection `id` until the
    /// kernel refuses more; queues `close_notify` behind the output of a closing or
    /// half-closing connection. `Ok(true)`: nothing is left.
    pub(super) fn drain_tls(&mut self, id: ConnId) -> Result<bool, NetError> {
        let now = self.now_ms();
        let conn = self.conns.get_mut(id).expect("caller checked");
        loop {
            let n = flush_records(conn, now)?;
            self.stats.bytes_out += n as u64;
            let closing =
                conn.state == ConnState::Closing || conn.write_side == WriteSide::ShutdownPending;
            let tls = conn.tls.as_deref_mut().expect("a TLS connection");
            if tls.session.wants_write() {
                return Ok(false);
            }
            if conn.output.is_empty() {
                if closing && tls.pending.is_none() {
                    tls.session.send_close_notify();
                    if tls.session.wants_write() {
                        continue;
                    }
                }
                break;
            }
            let chunks: Vec<&[u8]> = conn
                .output
                .iter()
                .take(MAX_CHUNKS)
                .map(|b| &b[..])
                .collect();
            let mut taken = tls.session.encrypt(&chunks)?;
            if taken == 0 {
                return Ok(false);
            }
            conn.output_len -= taken;
            self.stats.bytes_queued -= taken;
            while taken > 0 {
                let front = conn.output.front_mut().expect("taken bytes were queued");
                if front.len() <= taken {
                    taken -= front.len();
                    conn.output.pop_front();
                } else {
                    let _ = front.split_to(taken);
                    taken = 0;
                }
            }
        }
        if let Some(t) = conn.write_timer.take() {
            self.timers.cancel(t);
        }
        Ok(true)
    }

    /// Whether the owner's last write of TLS connection `id` waits for a `flushed` report
    /// (records written for the handshake alone are not reported); clears it.
    pub(super) fn take_owed_flush(&mut self, id: ConnId) -> bool {
        self.conns
            .get_mut(id)
            .and_then(|c| c.tls.as_deref_mut())
            .is_some_and(|t| std::mem::take(&mut t.owes_flush))
    }

    /// Queues `close_notify` on TLS connection `id` when no plaintext waits before it (else
    /// the drain queues it behind that plaintext), and writes what the kernel takes.
    pub(super) fn tls_close_notify(&mut self, id: ConnId) -> Result<(), NetError> {
        let now = self.now_ms();
        let conn = self.conns.get_mut(id).expect("caller checked");
        let Some(tls) = conn.tls.as_deref_mut() else {
            return Ok(());
        };
        if tls.pending.is_some() || !conn.output.is_empty() {
            return Ok(());
        }
        tls.session.send_close_notify();
        let n = flush_records(conn, now)?;
        self.stats.bytes_out += n as u64;
        Ok(())
    }
}
