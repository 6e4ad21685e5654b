//! [`TlsSession`]: one rustls connection per TLS socket, driven the way a shard drives it —
//! ciphertext slices in, plaintext into a caller's buffer; plaintext batches in, TLS records out
//! through one write.
//!
//! # Design
//!
//! The session runs rustls' *unbuffered* API, so that no byte is copied more than needed
//! (the buffered API copied ciphertext into its own buffer 4 KiB at a time, zeroing it as it
//! grew, and every plaintext byte twice on the way out):
//!
//! * **Input.** The caller reads ciphertext into its own buffer and hands it to
//!   [`TlsSession::decrypt`] together with the buffer the plaintext should land in (the
//!   shard's lent sink). During the handshake (and for a TLS 1.2 session) rustls decrypts the
//!   records in place and copies each record's plaintext into a queue of its own, from where it
//!   is copied into the sink. A TLS 1.3 session then runs its own record layer
//!   (`traffic.rs`), which opens each record straight into the sink. The session takes all the
//!   ciphertext it is given:
//!   an incomplete record at the end (or a handshake message still being joined) is kept
//!   in the session, and the caller reads the next bytes right behind it with
//!   [`TlsSession::read_room`]. When the sink is full, the plaintext of the record at hand
//!   waits in the session ([`TlsSession::waiting_plaintext`]) and so do the records after it; the
//!   caller then reads no more until the sink has room (that is the read backpressure).
//! * **Output.** [`TlsSession::encrypt`] takes every buffer of one flush at once; small
//!   buffers are joined so the small responses of a batch share records, large ones are
//!   encrypted from where they are. The records wait in one buffer until
//!   [`TlsSession::write_tls_to`] hands them to one write on the socket. A short write keeps
//!   the rest for the next call.
//! * **Close.** [`TlsSession::send_close_notify`] queues the alert; the caller writes it out and
//!   then shuts the socket's write side (FIN) — the same for a full close and a half-close. A
//!   peer's `close_notify` shows as [`Decrypted::peer_closed`] once every plaintext byte before
//!   it has been delivered. A socket EOF goes to [`TlsSession::on_eof`], which is `Ok` only
//!   after a `close_notify`: an abrupt EOF is a truncation, `ECONNRESET`, never a clean end.
//! * **Errors.** A failed record or handshake makes the session dead: every later call returns
//!   the same error. rustls has queued an alert for the peer by then, so the caller should
//!   still [`TlsSession::write_tls_to`] once before closing the socket.
//! * **Memory.** Per session: at most one incomplete record (a handshake message being
//!   joined: ≤ 64 KiB) when no plaintext waits, and otherwise what one read brought (as
//!   ciphertext, or as plaintext after a write), and
//!   `TlsLimits::max_pending_output` bytes of plaintext/records not yet written. An idle
//!   session holds no buffer: emptied buffers go to a small per-thread pool the next
//!   session's records are written into (see `queue.rs`).

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::CommonState;
use std::io::{self, Write};

use super::context::{ClientContext, SecureContext, ServerSnapshot};
use super::errors::{self, code as tls_code};
use super::info::TlsInfo;
use super::queue::ByteQueue;
use super::records::{Action, Buffers, Step, StepError};
use super::side::Side;
use super::sni::{Sni, SniReader};
use super::traffic::Traffic;
use crate::error::{code, NetError};

mod ending;
mod handover;

/// Most ciphertext held while waiting for the rest of a record or handshake message (a
/// handshake message ≤ 64 KiB as rustls allows, and the start of the record after it).
const MAX_HELD: usize = 0x10000 + 18 * 1024;

/// Most states stepped through for one encrypt or close (each is a record or a message).
const MAX_STEPS: usize = 64;

/// What one [`TlsSession::decrypt`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decrypted {
    /// Plaintext bytes written to the front of the output.
    pub written: usize,
    /// The handshake completed during this call ([`TlsSession::info`] is now available).
    pub handshake_completed: bool,
    /// The peer sent `close_notify` and every plaintext byte before it has been delivered.
    /// Ciphertext after it is ignored.
    pub peer_closed: bool,
}

/// rustls' unbuffered connection of either side during the handshake (and for a TLS 1.2
/// session, after it); a TLS 1.3 session's own record layer after it.
enum Conn {
    Server(UnbufferedServerConnection),
    Client(UnbufferedClientConnection),
    Traffic(Box<Traffic>),
    /// Only while the connection is handed from rustls to [`Traffic`].
    Moving,
}

/// Runs `process_tls_records` over `$buf` on either side's connection and hands the state
/// to [`Buffers::step`]; evaluates to `(discard, step result)`.
macro_rules! process {
    ($conn:expr, $buf:expr, $io:expr, $sink:expr, $action:expr) => {
        match $conn {
            Conn::Server(c) => {
                let status = c.process_tls_records($buf);
                let step = $io.step(status.state, $sink, $action);
                (status.discard, step)
            }
            Conn::Client(c) => {
                let status = c.process_tls_records($buf);
                let step = $io.step(status.state, $sink, $action);
                (status.discard, step)
            }
            Conn::Traffic(_) | Conn::Moving => {
                (0, Err(StepError::Tls(rustls::Error::HandshakeNotComplete)))
            }
        }
    };
}

/// One TLS connection's protocol state (see the module docs).
pub struct TlsSession {
    conn: Conn,
    side: Side,
    /// Ciphertext not processed yet.
    input: ByteQueue,
    io: Buffers,
    /// Plaintext accepted plus records not yet written, at most.
    limit: usize,
    /// A server reading the client's SNI (rustls' unbuffered server does not expose it).
    sni: Option<SniReader>,
    servername: Option<String>,
    info: Option<TlsInfo>,
    error: Option<NetError>,
    peer_closed: bool,
    close_sent: bool,
}

impl TlsSession {
    /// The server side of a new connection, with the context's current certificates.
    pub fn server(ctx: &SecureContext) -> Result<TlsSession, NetError> {
        TlsSession::server_with(ctx.snapshot())
    }

    /// The server side of a new connection with the settings of `snap` (e.g. a listener's
    /// with the certificates an SNI callback chose, [`ServerSnapshot::with_certificates_of`]).
    pub fn server_with(snap: ServerSnapshot) -> Result<TlsSession, NetError> {
        let conn =
            UnbufferedServerConnection::new(snap.config).map_err(|e| errors::from_rustls(&e))?;
        let mut s = TlsSession::with(
            Conn::Server(conn),
            Side::Server(snap.auth),
            snap.limits.max_pending_output,
        );
        s.sni = Some(SniReader::default());
        Ok(s)
    }

    /// The client side of a connection to `servername` (a DNS name, sent as SNI and checked
    /// against the certificate; or an IP address, checked against its IP SANs, no SNI).
    pub fn client(ctx: &ClientContext, servername: &str) -> Result<TlsSession, NetError> {
        let name = ServerName::try_from(servername.to_string()).map_err(|_| {
            NetError::new(
                code::ERR_INVALID_ADDRESS,
                format!("invalid TLS servername {servername:?}"),
            )
        })?;
        let conn = UnbufferedClientConnection::new(ctx.config.clone(), name.clone())
            .map_err(|e| errors::from_rustls(&e))?;
        let side = Side::Client {
            auth: ctx.auth.clone(),
            name,
            text: servername.to_string(),
        };
        let mut s = TlsSession::with(Conn::Client(conn), side, ctx.limits.max_pending_output);
        // The ClientHello.
        s.run(&Action::None).map(|_| s)
    }

    fn with(conn: Conn, side: Side, limit: usize) -> TlsSession {
        TlsSession {
            conn,
            side,
            input: ByteQueue::default(),
            io: Buffers::default(),
            limit,
            sni: None,
            servername: None,
            info: None,
            error: None,
            peer_closed: false,
            close_sent: false,
        }
    }

    /// rustls' view of the connection while rustls runs it.
    fn common(&self) -> Option<&CommonState> {
        match &self.conn {
            Conn::Server(c) => Some(c),
            Conn::Client(c) => Some(c),
            Conn::Traffic(_) | Conn::Moving => None,
        }
    }

    /// Takes all of `ciphertext` (rustls decrypts it in place) and delivers plaintext into
    /// `plaintext` (see the module docs). An empty `ciphertext` only goes on with what the
    /// session holds.
    pub fn decrypt(
        &mut self,
        ciphertext: &mut [u8],
        plaintext: &mut [u8],
    ) -> Result<Decrypted, NetError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if matches!(self.conn, Conn::Traffic(_)) {
            return self.open_records(ciphertext, plaintext);
        }
        self.read_sni(ciphertext);
        let mut out = Decrypted {
            written: self.io.stash.take_into(plaintext),
            ..Decrypted::default()
        };
        if self.peer_closed {
            out.peer_closed = self.io.stash.is_empty();
            return Ok(out);
        }
        let in_place = self.input.is_empty();
        if !in_place {
            self.input.extend(ciphertext);
        }
        let mut off = 0;
        let mut idle = false;
        let result = loop {
            if !self.io.stash.is_empty() {
                break Ok(());
            }
            let buf = if in_place {
                &mut ciphertext[off..]
            } else {
                self.input.filled_mut()
            };
            let sink = &mut plaintext[out.written..];
            let (discard, step) = process!(&mut self.conn, buf, self.io, sink, &Action::None);
            let (step, extra) = match step {
                Ok(s) => s,
                Err(e) => break Err((discard, e)),
            };
            if in_place {
                off += discard + extra;
            } else {
                self.input.consume(discard + extra);
            }
            out.handshake_completed |= self.check_established();
            match step {
                Step::Read(n) => out.written += n,
                Step::Progress => {}
                Step::PeerClosed => {
                    self.peer_closed = true;
                    break Ok(());
                }
                Step::Idle(_) => {
                    idle = true;
                    break Ok(());
                }
                Step::Handshaking | Step::Closed => break Ok(()),
            }
        };
        if let Err((discard, e)) = result {
            if in_place {
                off += discard;
            } else {
                self.input.consume(discard);
            }
            if in_place {
                self.input.extend(&ciphertext[off..]);
            }
            return Err(self.fail_step(e));
        }
        if self.peer_closed {
            self.input.release(); // ignored after close_notify
            out.peer_closed = self.io.stash.is_empty();
        } else if in_place {
            self.input.extend(&ciphertext[off..]);
        }
        if self.io.stash.is_empty() && self.input.len() > MAX_HELD {
            let e = NetError::new(tls_code::ERR_SSL_DECODE_ERROR, "message buffer full");
            return Err(self.fail(e));
        }
        if idle && !self.peer_closed {
            self.enter_traffic()?;
        }
        Ok(out)
    }

    /// When the session holds the start of an incomplete record, `want` bytes right after
    /// it for the caller's next socket read (then [`TlsSession::commit_read`] and
    /// [`TlsSession::decrypt`] with no ciphertext); `None` when it holds nothing.
    pub fn read_room(&mut self, want: usize) -> Option<&mut [u8]> {
        (!self.input.is_empty()).then(|| self.input.spare(want))
    }

    /// Ciphertext bytes the session holds (not processed yet).
    pub fn held_ciphertext(&self) -> usize {
        self.input.len()
    }

    /// `n` bytes were read into the last [`TlsSession::read_room`].
    pub fn commit_read(&mut self, n: usize) {
        self.input.commit(n);
        if self.sni.is_some() {
            let held = self.input.filled();
            let fresh = held[held.len() - n..].to_vec();
            self.read_sni(&fresh);
        }
    }

    /// Keeps `ciphertext` for a later [`TlsSession::decrypt`] (the caller's sink had no room).
    pub fn hold(&mut self, ciphertext: &[u8]) {
        self.read_sni(ciphertext);
        self.input.extend(ciphertext);
    }

    /// Decrypted plaintext bytes waiting for sink space: one record's after a full sink, or
    /// what a write meanwhile had to decrypt of the ciphertext held (rustls lets it encrypt
    /// only once no complete record is left). While any wait, read no more ciphertext.
    pub fn waiting_plaintext(&self) -> usize {
        self.io.stash.len()
    }

    fn read_sni(&mut self, bytes: &[u8]) {
        if let Some(reader) = &mut self.sni {
            if let Sni::Done(name) = reader.feed(bytes) {
                self.servername = name;
                self.sni = None;
            }
        }
    }

    /// Notes a completed handshake; returns whether it completed just now.
    fn check_established(&mut self) -> bool {
        let Some(common) = self.common() else {
            return false;
        };
        if self.info.is_some() || common.is_handshaking() {
            return false;
        }
        let info = self.side.info(common, self.servername.clone());
        self.sni = None;
        self.info = Some(info);
        true
    }

    /// Steps rustls over the held ciphertext with `action` for when application data may be
    /// sent; `Some` once it ran.
    fn run(&mut self, action: &Action<'_>) -> Result<Option<usize>, NetError> {
        for _ in 0..MAX_STEPS {
            let buf = self.input.filled_mut();
            let (discard, step) = process!(&mut self.conn, buf, self.io, &mut [], action);
            let (step, extra) = match step {
                Ok(s) => s,
                Err(e) => {
                    self.input.consume(discard);
                    return Err(self.fail_step(e));
                }
            };
            self.input.consume(discard + extra);
            match step {
                Step::Idle(done) => return Ok(done),
                Step::Handshaking | Step::Closed => return Ok(None),
                Step::PeerClosed => self.peer_closed = true,
                Step::Read(_) | Step::Progress => {}
            }
        }
        Ok(None)
    }

    fn fail_step(&mut self, e: StepError) -> NetError {
        let err = match e {
            StepError::Tls(e) => errors::from_rustls(&e),
            StepError::Encrypt(e) => {
                NetError::new(tls_code::ERR_SSL_HANDSHAKE_FAILURE, e.to_string())
            }
        };
        // The alert rustls queued for the peer: while it has records queued, a step hands
        // them out before looking at any input (looking at more input after an error could
        // fail again and queue a second fatal alert).
        for _ in 0..MAX_STEPS {
            if !self.common().is_some_and(CommonState::wants_write) {
                break;
            }
            let buf = self.input.filled_mut();
            let (discard, step) = process!(&mut self.conn, buf, self.io, &mut [], &Action::None);
            match step {
                Ok((Step::Progress | Step::Read(_), extra)) => self.input.consume(discard + extra),
                _ => break,
            }
        }
        self.fail(err)
    }

    /// Encrypts the buffers of one flush, in order; returns how many plaintext bytes were
    /// taken (less than offered when `max_pending_output` is reached: offer the rest after
    /// [`TlsSession::write_tls_to`] drained records). Before the handshake completes the
    /// plaintext waits in the session and goes out right after it.
    pub fn encrypt(&mut self, bufs: &[&[u8]]) -> Result<usize, NetError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.close_sent {
            return Err(NetError::new(
                code::ERR_CONN_CLOSED,
                "write after TLS close_notify",
            ));
        }
        let room = self
            .limit
            .saturating_sub(self.io.out.len() + self.io.early.len());
        if room == 0 {
            return Ok(0);
        }
        if self.info.is_none() {
            let before = self.io.early.len();
            for b in bufs {
                let left = before + room - self.io.early.len();
                self.io.early.extend_from_slice(&b[..b.len().min(left)]);
            }
            return Ok(self.io.early.len() - before);
        }
        if let Conn::Traffic(t) = &mut self.conn {
            return t
                .seal(bufs, room, &mut self.io.out)
                .map_err(|e| self.fail(e));
        }
        let taken = self.run(&Action::Write(bufs, room))?;
        if taken.is_some() {
            self.enter_traffic()?;
        }
        Ok(taken.unwrap_or(0))
    }

    /// Whether TLS records (handshake messages, application data, alerts) wait to be written.
    pub fn wants_write(&self) -> bool {
        !self.io.out.is_empty()
    }

    /// Writes waiting records with ONE `write` call on `sink`; returns the bytes written.
    /// `WouldBlock` and short writes keep the rest queued.
    pub fn write_tls_to(&mut self, sink: &mut dyn Write) -> io::Result<usize> {
        if self.io.out.is_empty() {
            return Ok(0);
        }
        let n = sink.write(self.io.out.filled())?;
        self.io.out.consume(n);
        Ok(n)
    }

    /// Whether the handshake is still running.
    pub fn is_handshaking(&self) -> bool {
        self.common().is_some_and(CommonState::is_handshaking)
    }

    /// Whether the session's own TLS 1.3 record layer runs it (after a TLS 1.3 handshake,
    /// once rustls handed it over; a TLS 1.2 session stays on rustls').
    pub fn runs_own_records(&self) -> bool {
        matches!(self.conn, Conn::Traffic(_))
    }

    /// The session's state once the handshake completed.
    pub fn info(&self) -> Option<&TlsInfo> {
        self.info.as_ref()
    }

    /// The error that ended the session, if one did.
    pub fn error(&self) -> Option<&NetError> {
        self.error.as_ref()
    }

    /// Queues `close_notify` (for a close or a half-close). Write it out with
    /// [`TlsSession::write_tls_to`], then shut the socket's write side. Later writes fail.
    pub fn send_close_notify(&mut self) {
        if !self.close_sent && self.error.is_none() {
            self.close_sent = true;
            if let Conn::Traffic(t) = &mut self.conn {
                t.close_notify(&mut self.io.out);
            } else if self.info.is_some() {
                let _ = self.run(&Action::CloseNotify);
            }
        }
    }

    /// Whether the peer's `close_notify` has arrived (plaintext before it may still wait).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }
}
