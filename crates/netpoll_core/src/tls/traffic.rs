//! [`Traffic`]: the TLS 1.3 record layer a [`super::TlsSession`] runs itself once rustls has
//! completed the handshake.
//!
//! # Design
//!
//! rustls 0.23's unbuffered API copies every record's plaintext into a `Vec` of its own on
//! the way in (and its records into another on the way out), and the session then copied it
//! again into the sink: at 16 KiB those copies were ~11 % of a TLS echo server's time. So
//! after the handshake the session hands the connection to rustls' kernel API
//! (`dangerous_into_kernel_connection`, made for kTLS): rustls keeps the key schedule (it
//! derives the next keys on a KeyUpdate and stores a client's session tickets) and this module
//! does what the kernel would — RFC 8446 §5 records with aws-lc-rs' AEADs, the same provider
//! rustls runs on:
//!
//! * **In.** Each complete record is authenticated and decrypted straight from the read
//!   buffer into the sink (`open_separate_gather`), or in place when the sink has no room for
//!   it (the plaintext then waits in the session's stash). Application data is delivered;
//!   `close_notify` ends the input; a KeyUpdate switches the receiving keys (and, when asked
//!   for, queues ours); a client's NewSessionTicket goes to rustls' session store. Anything
//!   else is a fatal error with the alert OpenSSL would send, queued for the peer.
//! * **Out.** A buffer of at least 2 KiB is encrypted from where it is into the output
//!   (`seal_out_of_place_scatter`, one pass); smaller neighbours are first copied together so
//!   that the small responses of one flush share records.
//! * **Limits.** A record longer than 2¹⁴ + 256 bytes, or whose inner plaintext (content,
//!   type, padding) exceeds 2¹⁴ + 1 bytes, is `record_overflow`; a post-handshake message is
//!   at most 64 KiB. Before the sending key reaches its suite's confidentiality limit (2²⁴
//!   records for AES-GCM) a KeyUpdate replaces it, as rustls would.
//!
//! Only TLS 1.3 sessions come here; a TLS 1.2 session stays on rustls' record layer.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey, NONCE_LEN};
use rustls::client::ClientConnectionData;
use rustls::kernel::KernelConnection;
use rustls::server::ServerConnectionData;
use rustls::{AlertDescription, ConnectionTrafficSecrets, ExtractedSecrets};

use super::errors::{self, code as tls_code};
use super::queue::ByteQueue;
use crate::error::NetError;

/// Record header: type, legacy version, length.
const HEADER: usize = 5;
/// AEAD tag of every TLS 1.3 suite.
const TAG: usize = 16;
/// Largest plaintext of one record.
const MAX_PLAINTEXT: usize = 16 * 1024;
/// Largest ciphertext of one record (RFC 8446 §5.2).
const MAX_CIPHERTEXT: usize = MAX_PLAINTEXT + 256;
/// Buffers at least this large are encrypted from where they are; smaller ones are joined.
const DIRECT: usize = 2 * 1024;
/// Largest post-handshake message accepted (a NewSessionTicket is far smaller).
const MAX_MESSAGE: usize = 0x10000;

const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;
const NEW_SESSION_TICKET: u8 = 4;
const KEY_UPDATE: u8 = 24;

/// rustls' key schedule of either side.
pub(crate) enum Kernel {
    /// A server's.
    Server(KernelConnection<ServerConnectionData>),
    /// A client's (it also stores the session tickets that arrive).
    Client(KernelConnection<ClientConnectionData>),
}

impl Kernel {
    fn update(&mut self, receive: bool) -> Result<(u64, ConnectionTrafficSecrets), rustls::Error> {
        match (self, receive) {
            (Kernel::Server(k), true) => k.update_rx_secret(),
            (Kernel::Server(k), false) => k.update_tx_secret(),
            (Kernel::Client(k), true) => k.update_rx_secret(),
            (Kernel::Client(k), false) => k.update_tx_secret(),
        }
    }
}

/// One direction's key, IV and record sequence number.
struct Keys {
    key: LessSafeKey,
    iv: [u8; NONCE_LEN],
    seq: u64,
}

impl Keys {
    fn new((seq, secrets): (u64, ConnectionTrafficSecrets)) -> Result<Keys, NetError> {
        let (alg, key, iv) = match &secrets {
            ConnectionTrafficSecrets::Aes128Gcm { key, iv } => (&aead::AES_128_GCM, key, iv),
            ConnectionTrafficSecrets::Aes256Gcm { key, iv } => (&aead::AES_256_GCM, key, iv),
            ConnectionTrafficSecrets::Chacha20Poly1305 { key, iv } => {
                (&aead::CHACHA20_POLY1305, key, iv)
            }
            _ => return Err(internal("unsupported traffic secret")),
        };
        let key = UnboundKey::new(alg, key.as_ref()).map_err(|_| internal("bad traffic key"))?;
        let iv = iv.as_ref().try_into().map_err(|_| internal("bad IV"))?;
        Ok(Keys {
            key: LessSafeKey::new(key),
            iv,
            seq,
        })
    }

    /// The nonce of the next record (RFC 8446 §5.3), advancing the sequence number.
    fn next_nonce(&mut self) -> Nonce {
        let mut nonce = self.iv;
        for (n, s) in nonce[NONCE_LEN - 8..]
            .iter_mut()
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        self.seq += 1;
        Nonce::assume_unique_for_key(nonce)
    }
}

/// What one [`Traffic::open`] did.
#[derive(Default)]
pub(crate) struct Opened {
    /// Ciphertext bytes used (whole records).
    pub consumed: usize,
    /// Plaintext bytes written to the front of the sink.
    pub written: usize,
    /// The peer's `close_notify` arrived; what follows it was not looked at.
    pub peer_closed: bool,
}

/// The record layer of one TLS 1.3 connection after its handshake (see the module docs).
pub(crate) struct Traffic {
    kernel: Kernel,
    tx: Keys,
    rx: Keys,
    /// Records sealed with one key before it is replaced.
    rekey_at: u64,
    /// A post-handshake message being joined across records.
    message: Vec<u8>,
    /// `close_notify` was sent: nothing more may be.
    closed: bool,
}

impl Traffic {
    /// Takes over from rustls with the secrets and key schedule it handed out.
    pub fn new(secrets: ExtractedSecrets, kernel: Kernel) -> Result<Traffic, NetError> {
        let suite = match &kernel {
            Kernel::Server(k) => k.negotiated_cipher_suite(),
            Kernel::Client(k) => k.negotiated_cipher_suite(),
        };
        let limit = suite
            .tls13()
            .ok_or_else(|| internal("not a TLS 1.3 suite"))?
            .common
            .confidentiality_limit;
        Ok(Traffic {
            kernel,
            tx: Keys::new(secrets.tx)?,
            rx: Keys::new(secrets.rx)?,
            rekey_at: limit.saturating_sub(1024).max(1),
            message: Vec::new(),
            closed: false,
        })
    }

    /// Opens the complete records at the front of `input` (in place when needed) into `sink`;
    /// plaintext the sink has no room for goes to `stash`, and no record is opened while the
    /// stash holds any. Alerts and KeyUpdates of ours go to `out`. On an error the alert for
    /// the peer is queued in `out` and the session must end.
    pub fn open(
        &mut self,
        input: &mut [u8],
        sink: &mut [u8],
        stash: &mut ByteQueue,
        out: &mut ByteQueue,
    ) -> Result<Opened, NetError> {
        let mut done = Opened::default();
        let result = self.open_records(input, sink, stash, out, &mut done);
        result.map(|()| done).map_err(|(e, alert)| {
            if let Some(alert) = alert {
                let _ = self.seal_alert(out, alert);
            }
            self.closed = true;
            e
        })
    }

    fn open_records(
        &mut self,
        input: &mut [u8],
        sink: &mut [u8],
        stash: &mut ByteQueue,
        out: &mut ByteQueue,
        done: &mut Opened,
    ) -> Result<(), Failure> {
        while stash.is_empty() {
            let rest = &mut input[done.consumed..];
            if rest.len() < HEADER {
                return Ok(());
            }
            let mut header = [0u8; HEADER];
            header.copy_from_slice(&rest[..HEADER]);
            let len = usize::from(u16::from_be_bytes([header[3], header[4]]));
            if header[0] != APPLICATION_DATA {
                return Err(unexpected("a record that is not application data"));
            }
            if len > MAX_CIPHERTEXT {
                return Err(overflow());
            }
            if rest.len() < HEADER + len {
                return Ok(());
            }
            if len < TAG + 1 {
                return Err(bad_mac());
            }
            let body = &mut rest[HEADER..HEADER + len];
            // Content, content type and padding together: at most 2^14 + 1 (RFC 8446 §5.4).
            let inner = len - TAG;
            if inner > MAX_PLAINTEXT + 1 {
                return Err(overflow());
            }
            let room = sink.len() - done.written;
            let nonce = self.rx.next_nonce();
            let aad = Aad::from(header);
            // Straight into the sink when it has room; else in place (the rest is stashed).
            let plain: &[u8] = if inner <= room {
                let to = &mut sink[done.written..done.written + inner];
                let (ciphertext, tag) = body.split_at(inner);
                self.rx
                    .key
                    .open_separate_gather(nonce, aad, ciphertext, tag, to)
                    .map_err(|_| bad_mac())?;
                to
            } else {
                self.rx
                    .key
                    .open_in_place(nonce, aad, body)
                    .map_err(|_| bad_mac())?
            };
            done.consumed += HEADER + len;
            // Inner plaintext: content, content type, zero padding.
            let Some(end) = plain.iter().rposition(|&b| b != 0) else {
                return Err(unexpected("a record with no content type"));
            };
            let content = &plain[..end];
            match plain[end] {
                APPLICATION_DATA => {
                    if !self.message.is_empty() {
                        return Err(unexpected("application data inside a handshake message"));
                    }
                    if inner <= room {
                        done.written += end;
                    } else {
                        // Into the sink as far as it has room, below.
                        stash.extend(content);
                    }
                }
                HANDSHAKE if !content.is_empty() => {
                    self.message.extend_from_slice(content);
                    self.handshake_messages(out)?;
                }
                ALERT if self.message.is_empty() => match content {
                    [_, 0] => {
                        done.peer_closed = true;
                        return Ok(());
                    }
                    [_, 90] => {} // user_canceled: a warning, ignored (RFC 8446 §6.1)
                    [_, d] => {
                        let e = errors::from_rustls(&rustls::Error::AlertReceived((*d).into()));
                        return Err((e, None));
                    }
                    _ => return Err(decode("an alert of the wrong length")),
                },
                _ => return Err(unexpected("a record of an unexpected content type")),
            }
            if !stash.is_empty() {
                done.written += stash.take_into(&mut sink[done.written..]);
            }
        }
        Ok(())
    }

    /// Handles the complete post-handshake messages joined so far.
    fn handshake_messages(&mut self, out: &mut ByteQueue) -> Result<(), Failure> {
        while self.message.len() >= 4 {
            let m = &self.message;
            let len = usize::from(m[1]) << 16 | usize::from(m[2]) << 8 | usize::from(m[3]);
            if len > MAX_MESSAGE {
                return Err(decode("a post-handshake message too large"));
            }
            if m.len() < 4 + len {
                return Ok(());
            }
            let body = &m[4..4 + len];
            match (m[0], &mut self.kernel) {
                (NEW_SESSION_TICKET, Kernel::Client(k)) => k
                    .handle_new_session_ticket(body)
                    .map_err(|e| (errors::from_rustls(&e), Some(AlertDescription::DecodeError)))?,
                (KEY_UPDATE, _) => {
                    let requested = match body {
                        [0] => false,
                        [1] => true,
                        _ => return Err(decode("a malformed KeyUpdate")),
                    };
                    // The keys change at a record boundary: nothing may follow in its record.
                    if m.len() != 4 + len {
                        return Err(unexpected("a KeyUpdate not at the end of its record"));
                    }
                    let next = self.kernel.update(true).map_err(key_error);
                    self.rx = next.and_then(Keys::new).map_err(internal_failure)?;
                    if requested && !self.closed {
                        self.send_key_update(out).map_err(internal_failure)?;
                    }
                }
                _ => return Err(unexpected("an unexpected post-handshake message")),
            }
            self.message.drain(..4 + len);
        }
        if self.message.is_empty() {
            self.message = Vec::new();
        }
        Ok(())
    }

    /// Queues a KeyUpdate (not requesting the peer's) and switches to the next sending key.
    fn send_key_update(&mut self, out: &mut ByteQueue) -> Result<(), NetError> {
        self.seal_record(out, HANDSHAKE, &[&[KEY_UPDATE, 0, 0, 1, 0]], 5)?;
        self.tx = Keys::new(self.kernel.update(false).map_err(key_error)?)?;
        Ok(())
    }

    /// Encrypts `bufs` in order, up to `room` bytes, into records appended to `out`; returns
    /// the plaintext bytes taken.
    pub fn seal(
        &mut self,
        bufs: &[&[u8]],
        room: usize,
        out: &mut ByteQueue,
    ) -> Result<usize, NetError> {
        let mut taken = 0;
        // Small buffers waiting to share a record: bufs[group..end], `joined` bytes of them.
        let (mut group, mut end, mut joined) = (0, 0, 0);
        for (i, b) in bufs.iter().enumerate() {
            let n = b.len().min(room - taken);
            if n == 0 {
                break;
            }
            if joined > 0 && (n >= DIRECT || joined + n > MAX_PLAINTEXT) {
                self.seal_record(out, APPLICATION_DATA, &bufs[group..end], joined)?;
                joined = 0;
            }
            if n >= DIRECT {
                for chunk in b[..n].chunks(MAX_PLAINTEXT) {
                    self.seal_record(out, APPLICATION_DATA, &[chunk], chunk.len())?;
                }
            } else {
                if joined == 0 {
                    group = i;
                }
                joined += n;
                end = i + 1;
            }
            taken += n;
        }
        if joined > 0 {
            self.seal_record(out, APPLICATION_DATA, &bufs[group..end], joined)?;
        }
        Ok(taken)
    }

    /// Queues `close_notify`; nothing can be sent after it.
    pub fn close_notify(&mut self, out: &mut ByteQueue) {
        if !self.closed {
            let _ = self.seal_alert(out, AlertDescription::CloseNotify);
            self.closed = true;
        }
    }

    /// Queues an alert: a warning for `close_notify`, else fatal.
    fn seal_alert(&mut self, out: &mut ByteQueue, alert: AlertDescription) -> Result<(), NetError> {
        if self.closed {
            return Ok(());
        }
        let level = if alert == AlertDescription::CloseNotify {
            1
        } else {
            2
        };
        self.seal_record(out, ALERT, &[&[level, u8::from(alert)]], 2)
    }

    /// Seals the first `len` bytes of `parts` (together ≤ 16 KiB) as one record of `content_type`
    /// appended to `out`.
    fn seal_record(
        &mut self,
        out: &mut ByteQueue,
        content_type: u8,
        parts: &[&[u8]],
        len: usize,
    ) -> Result<(), NetError> {
        if self.closed {
            return Err(NetError::new(
                crate::error::code::ERR_CONN_CLOSED,
                "write after TLS close_notify",
            ));
        }
        if self.tx.seq >= self.rekey_at && content_type == APPLICATION_DATA {
            self.send_key_update(out)?;
        }
        let record = HEADER + len + 1 + TAG;
        let buf = out.spare(record);
        let wire = u16::try_from(record - HEADER).map_err(|_| internal("record too large"))?;
        let [hi, lo] = wire.to_be_bytes();
        let header = [APPLICATION_DATA, 3, 3, hi, lo];
        buf[..HEADER].copy_from_slice(&header);
        let (body, extra) = buf[HEADER..].split_at_mut(len);
        let nonce = self.tx.next_nonce();
        let sealed = match parts {
            [one] => self.tx.key.seal_out_of_place_scatter(
                nonce,
                Aad::from(header),
                &one[..len],
                body,
                &[content_type],
                extra,
            ),
            _ => {
                let mut at = 0;
                for p in parts {
                    let n = p.len().min(len - at);
                    body[at..at + n].copy_from_slice(&p[..n]);
                    at += n;
                }
                self.tx.key.seal_in_place_scatter(
                    nonce,
                    Aad::from(header),
                    body,
                    &[content_type],
                    extra,
                )
            }
        };
        sealed.map_err(|_| internal("encryption failed"))?;
        out.commit(record);
        Ok(())
    }
}

fn internal(what: &str) -> NetError {
    NetError::new(
        tls_code::ERR_SSL_HANDSHAKE_FAILURE,
        format!("TLS record layer: {what}"),
    )
}

fn key_error(e: rustls::Error) -> NetError {
    errors::from_rustls(&e)
}

/// A failed record: the error, and the alert to send the peer (none after the peer's own).
type Failure = (NetError, Option<AlertDescription>);

fn internal_failure(e: NetError) -> Failure {
    (e, Some(AlertDescription::InternalError))
}

fn bad_mac() -> Failure {
    let e = errors::from_rustls(&rustls::Error::DecryptError);
    (e, Some(AlertDescription::BadRecordMac))
}

fn overflow() -> Failure {
    let e = errors::from_rustls(&rustls::Error::PeerSentOversizedRecord);
    (e, Some(AlertDescription::RecordOverflow))
}

fn unexpected(what: &str) -> Failure {
    let c = tls_code::ERR_SSL_UNEXPECTED_MESSAGE;
    let e = NetError::new(c, format!("unexpected message: {what}"));
    (e, Some(AlertDescription::UnexpectedMessage))
}

fn decode(what: &str) -> Failure {
    let e = NetError::new(
        tls_code::ERR_SSL_DECODE_ERROR,
        format!("decode error: {what}"),
    );
    (e, Some(AlertDescription::DecodeError))
}
