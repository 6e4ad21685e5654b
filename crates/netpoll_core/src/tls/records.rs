//! What a [`super::TlsSession`] does with each state of rustls' unbuffered connection
//! (generic over the client and server side): the buffers the records and the plaintext go
//! through, and the one step that handles a [`ConnectionState`].

use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, WriteTraffic};

use super::queue::ByteQueue;

/// Largest plaintext of one TLS record.
const MAX_FRAGMENT: usize = 16 * 1024;

/// Buffers a flush's chunks at least this large are encrypted from directly; smaller ones
/// are first joined (so the small responses of one batch share records).
const DIRECT: usize = 2 * 1024;

/// Per-record overhead assumed when sizing the output (header, nonce, content type, tag,
/// padding); a larger need is learnt from rustls' `InsufficientSize`.
const RECORD_OVERHEAD: usize = 64;

/// What to do once rustls allows application data.
pub(crate) enum Action<'a> {
    /// Nothing (a read).
    None,
    /// Encrypt these buffers, in order, up to `room` bytes.
    Write(&'a [&'a [u8]], usize),
    /// Queue `close_notify`.
    CloseNotify,
}

/// What one [`Buffers::step`] did.
pub(crate) enum Step {
    /// Plaintext went to the sink (the bytes written) or to the stash; keep going.
    Read(usize),
    /// Handshake records were queued; keep going.
    Progress,
    /// The peer's `close_notify` arrived (reported once).
    PeerClosed,
    /// Nothing more without more ciphertext; `Some(n)`: the action ran (`n` plaintext bytes
    /// taken for a write).
    Idle(Option<usize>),
    /// The handshake still runs, so application data cannot be encrypted yet.
    Handshaking,
    /// Both sides have sent `close_notify`.
    Closed,
}

/// The buffers of one session besides its ciphertext input.
#[derive(Default)]
pub(crate) struct Buffers {
    /// Records not yet written to the socket.
    pub out: ByteQueue,
    /// Decrypted plaintext the sink had no room for.
    pub stash: ByteQueue,
    /// Plaintext offered before the handshake completed.
    pub early: Vec<u8>,
}

/// An error of a step: rustls' own, or one of encrypting.
pub(crate) enum StepError {
    /// The connection failed.
    Tls(rustls::Error),
    /// Encrypting failed (keys exhausted).
    Encrypt(EncryptError),
}

impl From<rustls::Error> for StepError {
    fn from(e: rustls::Error) -> Self {
        StepError::Tls(e)
    }
}

impl From<EncryptError> for StepError {
    fn from(e: EncryptError) -> Self {
        StepError::Encrypt(e)
    }
}

impl Buffers {
    /// Handles one state: plaintext into `sink` (the rest into the stash), handshake
    /// records into the output, and `action` once application data may be sent.
    /// Returns the step and the extra ciphertext bytes to discard.
    pub fn step<Data>(
        &mut self,
        state: Result<ConnectionState<'_, '_, Data>, rustls::Error>,
        sink: &mut [u8],
        action: &Action<'_>,
    ) -> Result<(Step, usize), StepError> {
        Ok(match state? {
            ConnectionState::ReadTraffic(mut r) => {
                let (mut written, mut discard) = (0, 0);
                while let Some(record) = r.next_record() {
                    let record = record?;
                    discard += record.discard;
                    let n = record.payload.len().min(sink.len() - written);
                    sink[written..written + n].copy_from_slice(&record.payload[..n]);
                    written += n;
                    if n < record.payload.len() {
                        self.stash.extend(&record.payload[n..]);
                    }
                }
                (Step::Read(written), discard)
            }
            ConnectionState::EncodeTlsData(mut e) => {
                // `AlreadyEncoded` cannot happen: each state is encoded once.
                let _ = append(
                    &mut self.out,
                    1024,
                    |b| e.encode(b),
                    |e| match e {
                        EncodeError::InsufficientSize(s) => Some(s.required_size),
                        EncodeError::AlreadyEncoded => None,
                    },
                );
                (Step::Progress, 0)
            }
            ConnectionState::TransmitTlsData(t) => {
                // The records are in `out`, written in order by the caller.
                t.done();
                (Step::Progress, 0)
            }
            ConnectionState::PeerClosed => (Step::PeerClosed, 0),
            ConnectionState::Closed => (Step::Closed, 0),
            ConnectionState::WriteTraffic(mut w) => {
                if !self.early.is_empty() {
                    let early = std::mem::take(&mut self.early);
                    seal(&mut self.out, &mut w, &early)?;
                }
                let done = match action {
                    Action::None => None,
                    Action::Write(bufs, room) => Some(self.write(&mut w, bufs, *room)?),
                    Action::CloseNotify => {
                        append(&mut self.out, 64, |b| w.queue_close_notify(b), too_small)?;
                        Some(0)
                    }
                };
                (Step::Idle(done), 0)
            }
            // BlockedHandshake; ReadEarlyData cannot happen (0-RTT is never enabled).
            _ => (Step::Handshaking, 0),
        })
    }

    /// Encrypts `bufs` (up to `room` bytes) into the output; returns the bytes taken.
    fn write<Data>(
        &mut self,
        w: &mut WriteTraffic<'_, Data>,
        bufs: &[&[u8]],
        room: usize,
    ) -> Result<usize, EncryptError> {
        let mut taken = 0;
        let mut joined: Vec<u8> = Vec::new();
        for (i, b) in bufs.iter().enumerate() {
            let b = &b[..b.len().min(room - taken)];
            if b.is_empty() {
                break;
            }
            // A small buffer with no small neighbour to join is sealed where it is.
            let alone = joined.is_empty() && bufs.get(i + 1).is_none_or(|n| n.len() >= DIRECT);
            if b.len() >= DIRECT || alone {
                if !joined.is_empty() {
                    seal(&mut self.out, w, &joined)?;
                    joined.clear();
                }
                seal(&mut self.out, w, b)?;
            } else {
                joined.extend_from_slice(b);
                if joined.len() >= MAX_FRAGMENT {
                    seal(&mut self.out, w, &joined)?;
                    joined.clear();
                }
            }
            taken += b.len();
        }
        if !joined.is_empty() {
            seal(&mut self.out, w, &joined)?;
        }
        Ok(taken)
    }
}

/// Encrypts `data` into records appended to `out`.
fn seal<Data>(
    out: &mut ByteQueue,
    w: &mut WriteTraffic<'_, Data>,
    data: &[u8],
) -> Result<(), EncryptError> {
    let need = data.len() + (data.len() / MAX_FRAGMENT + 1) * RECORD_OVERHEAD;
    append(out, need, |b| w.encrypt(data, b), too_small)
}

/// The size an encrypt call asked for, when it failed for lack of room.
fn too_small(e: &EncryptError) -> Option<usize> {
    match e {
        EncryptError::InsufficientSize(s) => Some(s.required_size),
        _ => None,
    }
}

/// Runs `write` over `need` spare bytes of `out` and appends what it wrote; when it asks
/// for more room (`required` of its error), again with that much.
fn append<E>(
    out: &mut ByteQueue,
    mut need: usize,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    required: impl Fn(&E) -> Option<usize>,
) -> Result<(), E> {
    loop {
        match write(out.spare(need)) {
            Ok(n) => {
                out.commit(n);
                return Ok(());
            }
            Err(e) => match required(&e) {
                Some(more) if more > need => need = more,
                _ => return Err(e),
            },
        }
    }
}
