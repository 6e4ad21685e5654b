//! [`TlsSession`]: one rustls connection per TLS socket, driven the way a shard drives it —
//! ciphertext slices in, plaintext into a caller's buffer; plaintext batches in, TLS records out
//! through one vectored write.
//!
//! # Design
//!
//! * **Input.** The caller reads ciphertext from the socket into its own buffer and hands it to
//!   [`TlsSession::decrypt`] together with the buffer the plaintext should land in (the shard's
//!   lent sink). `decrypt` alternates "deliver plaintext" and "feed more records" until the
//!   input is used up or the output is full, and reports how much of each it used; ciphertext
//!   it did not consume stays with the caller (that is the read backpressure: a full sink stops
//!   consumption, and rustls then refuses more than 16 KiB of undelivered plaintext).
//! * **Output.** [`TlsSession::encrypt`] takes every buffer of one flush at once; rustls joins
//!   them into full-size records (small responses of a batch share records). The records wait
//!   inside rustls until [`TlsSession::write_tls_to`] hands all of them (up to 64) to one
//!   `write_vectored` call on the socket. A short write keeps the rest for the next call.
//! * **Close.** [`TlsSession::send_close_notify`] queues the alert; the caller writes it out and
//!   then shuts the socket's write side (FIN) — the same for a full close and a half-close. A
//!   peer's `close_notify` shows as [`Decrypted::peer_closed`] once every plaintext byte before
//!   it has been delivered. A socket EOF goes to [`TlsSession::on_eof`], which is `Ok` only
//!   after a `close_notify`: an abrupt EOF is a truncation, `ECONNRESET`, never a clean end.
//! * **Errors.** A failed record or handshake makes the session dead: every later call returns
//!   the same error. rustls has queued an alert for the peer by then, so the caller should
//!   still [`TlsSession::write_tls_to`] once before closing the socket.
//! * **Memory.** Per session, rustls holds at most: one record being reassembled (≤ 16 KiB +
//!   overhead; a handshake message ≤ 64 KiB), 16 KiB of decrypted plaintext not yet delivered,
//!   and `TlsLimits::max_pending_output` bytes of plaintext/records not yet written.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{Connection, HandshakeKind, ProtocolVersion};

use super::ciphers;
use super::context::{ClientContext, SecureContext};
use super::errors::{self, code as tls_code};
use super::info::{CipherInfo, PeerCertificate, TlsInfo};
use super::verify::{ClientAuth, ServerAuth};
use crate::error::{code, NetError};

/// What one [`TlsSession::decrypt`] call did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decrypted {
    /// Ciphertext bytes consumed from the front of the input.
    pub consumed: usize,
    /// Plaintext bytes written to the front of the output.
    pub written: usize,
    /// The handshake completed during this call ([`TlsSession::info`] is now available).
    pub handshake_completed: bool,
    /// The peer sent `close_notify` and every plaintext byte before it has been delivered.
    /// Ciphertext after it is ignored (not consumed).
    pub peer_closed: bool,
}

enum Side {
    Server(Arc<ClientAuth>),
    Client {
        auth: Arc<ServerAuth>,
        name: ServerName<'static>,
        text: String,
    },
}

/// One TLS connection's protocol state (see the module docs).
pub struct TlsSession {
    conn: Connection,
    side: Side,
    info: Option<TlsInfo>,
    error: Option<NetError>,
    peer_closed: bool,
    close_sent: bool,
    /// Decrypted bytes inside rustls not yet delivered.
    plaintext_waiting: usize,
}

impl TlsSession {
    /// The server side of a new connection, with the context's current certificates.
    pub fn server(ctx: &SecureContext) -> Result<TlsSession, NetError> {
        let snap = ctx.snapshot();
        let mut conn =
            rustls::ServerConnection::new(snap.config).map_err(|e| errors::from_rustls(&e))?;
        conn.set_buffer_limit(Some(snap.limits.max_pending_output));
        Ok(TlsSession::with(
            Connection::Server(conn),
            Side::Server(snap.auth),
        ))
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
        let mut conn = rustls::ClientConnection::new(ctx.config.clone(), name.clone())
            .map_err(|e| errors::from_rustls(&e))?;
        conn.set_buffer_limit(Some(ctx.limits.max_pending_output));
        let side = Side::Client {
            auth: ctx.auth.clone(),
            name,
            text: servername.to_string(),
        };
        Ok(TlsSession::with(Connection::Client(conn), side))
    }

    fn with(conn: Connection, side: Side) -> TlsSession {
        TlsSession {
            conn,
            side,
            info: None,
            error: None,
            peer_closed: false,
            close_sent: false,
            plaintext_waiting: 0,
        }
    }

    /// Feeds `ciphertext` and delivers plaintext into `plaintext` (see the module docs).
    /// An empty `ciphertext` only delivers what is already decrypted.
    pub fn decrypt(
        &mut self,
        ciphertext: &[u8],
        plaintext: &mut [u8],
    ) -> Result<Decrypted, NetError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut out = Decrypted::default();
        loop {
            while out.written < plaintext.len() {
                match self.conn.reader().read(&mut plaintext[out.written..]) {
                    Ok(0) => {
                        out.peer_closed = true;
                        break;
                    }
                    Ok(n) => {
                        out.written += n;
                        self.plaintext_waiting = self.plaintext_waiting.saturating_sub(n);
                    }
                    Err(_) => break, // WouldBlock: nothing decrypted is waiting
                }
            }
            let rest = &ciphertext[out.consumed..];
            // A full sink stops the input only once decrypted bytes wait for it: handshake
            // records need no sink space.
            let sink_full = out.written == plaintext.len() && self.plaintext_waiting > 0;
            if out.peer_closed || rest.is_empty() || sink_full || self.peer_closed {
                break;
            }
            let n = match self.conn.read_tls(&mut &rest[..]) {
                Ok(n) => n,
                Err(e) => {
                    return Err(
                        self.fail(NetError::new(tls_code::ERR_SSL_DECODE_ERROR, e.to_string()))
                    )
                }
            };
            if n == 0 {
                break;
            }
            out.consumed += n;
            match self.conn.process_new_packets() {
                Ok(state) => {
                    self.peer_closed = state.peer_has_closed();
                    self.plaintext_waiting = state.plaintext_bytes_to_read();
                }
                Err(e) => return Err(self.fail(errors::from_rustls(&e))),
            }
            if self.info.is_none() && !self.conn.is_handshaking() {
                self.info = Some(self.build_info());
                out.handshake_completed = true;
            }
        }
        Ok(out)
    }

    fn fail(&mut self, err: NetError) -> NetError {
        self.error = Some(err.clone());
        err
    }

    /// Encrypts the buffers of one flush, in order; returns how many plaintext bytes were
    /// taken (less than offered when `max_pending_output` is reached: offer the rest after
    /// [`TlsSession::write_tls_to`] drained records). Before the handshake completes the
    /// plaintext waits inside rustls and goes out right after it.
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
        let slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
        self.conn
            .writer()
            .write_vectored(&slices)
            .map_err(|e| NetError::new(tls_code::ERR_SSL_HANDSHAKE_FAILURE, e.to_string()))
    }

    /// Whether TLS records (handshake messages, application data, alerts) wait to be written.
    pub fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes waiting records with ONE `write_vectored` call on `sink` (up to 64 records);
    /// returns the bytes written. `WouldBlock` and short writes keep the rest queued.
    pub fn write_tls_to(&mut self, sink: &mut dyn Write) -> io::Result<usize> {
        self.conn.write_tls(sink)
    }

    /// Whether the handshake is still running.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
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
        if !self.close_sent {
            self.close_sent = true;
            self.conn.send_close_notify();
        }
    }

    /// Whether the peer's `close_notify` has arrived (plaintext before it may still wait).
    pub fn peer_closed(&self) -> bool {
        self.peer_closed
    }

    /// The socket reached EOF: `Ok` after the peer's `close_notify`; otherwise the session was
    /// truncated and the error is `ECONNRESET` (or the error that already ended it).
    pub fn on_eof(&mut self) -> Result<(), NetError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.peer_closed {
            return Ok(());
        }
        let message = if self.conn.is_handshaking() {
            "socket disconnected before secure TLS connection was established"
        } else {
            "TLS connection truncated: EOF without close_notify"
        };
        let err = NetError::new(crate::error::errno_code(libc::ECONNRESET), message);
        Err(self.fail(err))
    }

    fn build_info(&self) -> TlsInfo {
        let protocol = match self.conn.protocol_version() {
            Some(ProtocolVersion::TLSv1_3) => "TLSv1.3",
            _ => "TLSv1.2",
        };
        let (name, standard_name) = self
            .conn
            .negotiated_cipher_suite()
            .map_or(("unknown", "unknown"), |s| ciphers::names(s.suite()));
        let peer = self.conn.peer_certificates();
        let (servername, authorized, authorization_error) = match &self.side {
            Side::Server(auth) => {
                let sni = match &self.conn {
                    Connection::Server(s) => s.server_name().map(str::to_string),
                    Connection::Client(_) => None,
                };
                let (ok, err) = auth.authorize(peer);
                (sni, ok, err)
            }
            Side::Client { auth, name, text } => {
                let err = if auth.rejects() {
                    None // the handshake would have failed
                } else {
                    match peer {
                        Some(p) => auth.authorize(p, name),
                        None => Some(errors::unknown_issuer(&[])),
                    }
                };
                (Some(text.clone()), err.is_none(), err)
            }
        };
        TlsInfo {
            protocol,
            cipher: CipherInfo {
                name,
                standard_name,
                version: protocol,
            },
            alpn_protocol: self.conn.alpn_protocol().map(<[u8]>::to_vec),
            servername,
            authorized,
            authorization_error,
            peer_certificate: peer.and_then(|p| p.first()).map(PeerCertificate::from_der),
            session_reused: self.conn.handshake_kind() == Some(HandshakeKind::Resumed),
        }
    }
}
