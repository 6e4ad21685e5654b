//! A batch of shard events in the flat form a driver hands to JS in one call.
//!
//! # Memory layout
//!
//! [`Batch::bytes`] holds the bytes read from every connection of the batch, back to back, in
//! memory the batch owns and reuses from one batch to the next (never handed out itself).
//! `records` holds [`RECORD_LEN`] `u32`s per event: `[kind, index, generation, a, b]`, whose
//! `a`/`b` depend on the kind (see [`RecordKind`]); a data record names its bytes by offset
//! and length. Errors are kept aside in `errors`, named from a record by their position + 1
//! (0 = no error).
//!
//! A driver hands the bytes on in memory of the consumer's own, never as a view of this
//! batch: the Node binding copies them into JS-owned Buffers (the threaded engine, for each
//! batch it takes from a reactor), or has the shard read straight into JS-owned memory it
//! lends for the round, with this batch keeping only the records
//! ([`LentSink`](crate::lent_sink::LentSink), inline engine). Either way a view JS keeps
//! stays valid however long it keeps it, and the batch's memory is free for the next round.

use crate::error::NetError;
use crate::event::{ConnId, EventSink, ListenerId, TimeoutKind};

/// `u32`s per record.
pub const RECORD_LEN: usize = 5;

/// The kind of a record, its first `u32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum RecordKind {
    /// Bytes of a connection: `a` = offset in `data`, `b` = length.
    Data = 1,
    /// A connection was accepted: `a` = listener id, `b` = 0 if the listener is on this
    /// shard, else 1 + the index of the shard that accepted it and handed it over.
    Accepted = 2,
    /// A dial finished: `a` = error number (0 = connected), `b` = the dial's tag.
    Connected = 3,
    /// All output queued on the connection was written: `b` = the last write sequence number
    /// covered (threaded engine; 0 inline).
    Flushed = 4,
    /// The peer finished sending (FIN).
    ReadClosed = 5,
    /// A timer fired: `a` = 1 read, 2 write, 3 idle.
    Timeout = 6,
    /// The connection is closed: `a` = error number (0 = clean).
    Closed = 7,
    /// A listener failed: `index` = listener id, `a` = error number.
    ListenerError = 8,
    /// The TLS handshake of a connection accepted on a listener failed (the connection is
    /// gone and was never reported): `index` = listener id, `a` = error number, `b` as for
    /// `Accepted`.
    TlsClientError = 9,
    /// A connection of a listener with an SNI callback sent a server name and waits for the
    /// answer: `a` = listener id, `b` as for `Accepted`. Always followed by its `SniName`.
    SniRequest = 10,
    /// The server name of the `SniRequest` before it: `a` = offset in `data`, `b` = length
    /// (UTF-8).
    SniName = 11,
}

/// One batch of events (see the module docs).
#[derive(Default, Debug)]
pub struct Batch {
    /// Memory the bytes are read into: initialised once when it grows, never zeroed again;
    /// the first `used` bytes are the batch's data.
    buf: Vec<u8>,
    used: usize,
    /// See [`Batch::set_backlog`].
    backlog: usize,
    /// Flat records, [`RECORD_LEN`] `u32`s each.
    pub records: Vec<u32>,
    /// Errors named by records.
    pub errors: Vec<NetError>,
    /// Tags of dials, by connection, that `connected` records carry (threaded engine).
    pub dial_tags: Vec<(ConnId, u32)>,
}

impl Batch {
    /// Whether the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The bytes read, back to back (records name them by offset and length).
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.used]
    }

    /// Input bytes delivered earlier and still waiting for the consumer elsewhere (the
    /// threaded outbox): they count towards [`EventSink::pending_input`].
    pub fn set_backlog(&mut self, bytes: usize) {
        self.backlog = bytes;
    }

    /// Empties the batch, keeping its memory.
    pub fn clear(&mut self) {
        self.used = 0;
        self.records.clear();
        self.errors.clear();
    }

    /// Frees the memory an empty batch kept from its largest round (its bytes and records
    /// grow to the peak of a burst and are otherwise never given back). A batch with events
    /// is left alone. Drivers call it after a quiet interval (see
    /// [`QuietTimer`](crate::buffer::QuietTimer)).
    pub fn shrink(&mut self) {
        if self.is_empty() && self.used == 0 {
            self.buf = Vec::new();
            self.records = Vec::new();
            self.errors = Vec::new();
        }
    }

    /// Moves every event of `other` to the end of this batch. Into an empty batch (the
    /// threaded outbox the consumer has just taken) it moves by swapping memory, not copying.
    pub fn append(&mut self, other: &mut Batch) {
        if self.records.is_empty() && self.used == 0 && self.errors.is_empty() {
            std::mem::swap(&mut self.buf, &mut other.buf);
            std::mem::swap(&mut self.used, &mut other.used);
            std::mem::swap(&mut self.records, &mut other.records);
            std::mem::swap(&mut self.errors, &mut other.errors);
            other.clear();
            return;
        }
        let data_base = self.used as u32;
        let error_base = self.errors.len() as u32;
        for r in other.records.chunks_exact(RECORD_LEN) {
            let mut r: [u32; RECORD_LEN] = r.try_into().expect("record length");
            match r[0] {
                k if k == RecordKind::Data as u32 => {
                    let conn = ConnId {
                        index: r[1],
                        generation: r[2],
                    };
                    self.push_data(conn, r[3] + data_base, r[4]);
                    continue;
                }
                k if k == RecordKind::SniName as u32 => r[3] += data_base,
                k if (k == RecordKind::Connected as u32
                    || k == RecordKind::Closed as u32
                    || k == RecordKind::ListenerError as u32
                    || k == RecordKind::TlsClientError as u32)
                    && r[3] != 0 =>
                {
                    r[3] += error_base
                }
                _ => {}
            }
            self.records.extend_from_slice(&r);
        }
        let bytes = other.bytes();
        self.read_buffer(bytes.len())[..bytes.len()].copy_from_slice(bytes);
        self.used += bytes.len();
        self.errors.append(&mut other.errors);
        other.clear();
    }

    /// Adds a `Data` record of `len` bytes at `offset`; bytes that continue the last record's
    /// (same connection, right after it) extend that record instead, so the consumer gets
    /// one view of a connection's consecutive reads rather than one per read.
    pub fn push_data(&mut self, conn: ConnId, offset: u32, len: u32) {
        let n = self.records.len();
        if n >= RECORD_LEN {
            let last = &mut self.records[n - RECORD_LEN..];
            if last[0] == RecordKind::Data as u32
                && (last[1], last[2]) == (conn.index, conn.generation)
                && last[3] + last[4] == offset
            {
                last[4] += len;
                return;
            }
        }
        self.push(RecordKind::Data, conn, offset, len);
    }

    /// Adds a record.
    pub fn push(&mut self, kind: RecordKind, conn: ConnId, a: u32, b: u32) {
        self.records
            .extend_from_slice(&[kind as u32, conn.index, conn.generation, a, b]);
    }

    /// Adds an `SniRequest` record and its `SniName`, whose bytes are `len` bytes at `offset`.
    pub fn push_sni(&mut self, listener: ListenerId, origin: u32, conn: ConnId, at: (u32, u32)) {
        self.push(RecordKind::SniRequest, conn, listener.0, origin);
        self.push(RecordKind::SniName, conn, at.0, at.1);
    }

    fn error_ref(&mut self, error: Option<NetError>) -> u32 {
        match error {
            None => 0,
            Some(e) => {
                self.errors.push(e);
                self.errors.len() as u32
            }
        }
    }

    fn dial_tag(&mut self, conn: ConnId) -> u32 {
        match self.dial_tags.iter().position(|(c, _)| *c == conn) {
            Some(i) => self.dial_tags.swap_remove(i).1,
            None => 0,
        }
    }
}

impl EventSink for Batch {
    fn read_buffer(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() < self.used + min {
            self.buf
                .resize((self.used + min).max(self.buf.len() * 2), 0);
        }
        &mut self.buf[self.used..]
    }

    fn data(&mut self, conn: ConnId, len: usize) {
        let offset = self.used;
        self.used += len;
        self.push_data(conn, offset as u32, len as u32);
    }

    fn accepted(&mut self, listener: ListenerId, conn: ConnId) {
        self.push(RecordKind::Accepted, conn, listener.0, 0);
    }

    fn connected(&mut self, conn: ConnId, result: Result<(), NetError>) {
        let tag = self.dial_tag(conn);
        let a = self.error_ref(result.err());
        self.push(RecordKind::Connected, conn, a, tag);
    }

    fn flushed(&mut self, conn: ConnId) {
        self.push(RecordKind::Flushed, conn, 0, 0);
    }

    fn read_closed(&mut self, conn: ConnId) {
        self.push(RecordKind::ReadClosed, conn, 0, 0);
    }

    fn timeout(&mut self, conn: ConnId, kind: TimeoutKind) {
        let a = match kind {
            TimeoutKind::Read => 1,
            TimeoutKind::Write => 2,
            TimeoutKind::Idle => 3,
        };
        self.push(RecordKind::Timeout, conn, a, 0);
    }

    fn closed(&mut self, conn: ConnId, error: Option<NetError>) {
        let a = self.error_ref(error);
        self.push(RecordKind::Closed, conn, a, 0);
    }

    fn pending_input(&self) -> usize {
        self.used + self.backlog
    }

    fn listener_error(&mut self, listener: ListenerId, error: NetError) {
        let a = self.error_ref(Some(error));
        let id = ConnId {
            index: listener.0,
            generation: 0,
        };
        self.push(RecordKind::ListenerError, id, a, 0);
    }

    fn accepted_from(&mut self, listener: ListenerId, conn: ConnId, origin: u32) {
        self.push(RecordKind::Accepted, conn, listener.0, origin);
    }

    fn tls_client_error(&mut self, listener: ListenerId, origin: u32, error: NetError) {
        let a = self.error_ref(Some(error));
        let id = ConnId {
            index: listener.0,
            generation: 0,
        };
        self.push(RecordKind::TlsClientError, id, a, origin);
    }

    fn sni_request(&mut self, listener: ListenerId, origin: u32, conn: ConnId, name: &str) -> bool {
        let offset = self.used;
        self.read_buffer(name.len())[..name.len()].copy_from_slice(name.as_bytes());
        self.used += name.len();
        self.push_sni(listener, origin, conn, (offset as u32, name.len() as u32));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shrink_frees_an_empty_batch_and_leaves_one_with_events() {
        let conn = ConnId {
            index: 1,
            generation: 1,
        };
        let mut batch = Batch::default();
        batch.read_buffer(1 << 20);
        batch.data(conn, 100);
        batch.shrink();
        assert_eq!(batch.bytes().len(), 100, "events are kept");
        assert!(batch.buf.len() >= 1 << 20);
        batch.clear();
        assert!(batch.buf.len() >= 1 << 20, "clear keeps the memory");
        batch.shrink();
        assert_eq!((batch.buf.capacity(), batch.records.capacity()), (0, 0));
        batch.read_buffer(10)[..3].copy_from_slice(b"abc");
        batch.data(conn, 3);
        assert_eq!(batch.bytes(), b"abc", "a shrunk batch grows again");
    }

    #[test]
    fn append_rebases_the_error_of_every_record_that_carries_one() {
        // Threaded reactors append batches; a record's `a` must still name its own error
        // (a TLS client error once named the first error of the batch it was appended to:
        // another connection's close reason, and its own was lost).
        let conn = ConnId {
            index: 1,
            generation: 1,
        };
        let mut first = Batch::default();
        first.closed(conn, Some(NetError::new("ECONNRESET", "the first batch's")));
        let mut second = Batch::default();
        second.tls_client_error(ListenerId(3), 0, NetError::new("ERR_X", "tls client"));
        second.closed(conn, Some(NetError::new("ERR_Y", "closed")));
        second.listener_error(ListenerId(3), NetError::new("ERR_Z", "listener"));
        second.connected(conn, Err(NetError::new("ERR_W", "dial")));
        first.append(&mut second);
        let codes: Vec<&str> = first
            .records
            .chunks_exact(RECORD_LEN)
            .map(|r| &*first.errors[r[3] as usize - 1].code)
            .collect();
        assert_eq!(codes, ["ECONNRESET", "ERR_X", "ERR_Y", "ERR_Z", "ERR_W"]);
    }

    #[test]
    fn append_rebases_the_server_name_of_an_sni_request() {
        let conn = ConnId {
            index: 4,
            generation: 2,
        };
        let mut first = Batch::default();
        first.read_buffer(3)[..3].copy_from_slice(b"abc");
        first.data(conn, 3);
        let mut second = Batch::default();
        assert!(second.sni_request(ListenerId(7), 2, conn, "alpha.test"));
        first.append(&mut second);
        let r: Vec<&[u32]> = first.records.chunks_exact(RECORD_LEN).collect();
        assert_eq!(r[1], [RecordKind::SniRequest as u32, 4, 2, 7, 2]);
        assert_eq!(r[2][0], RecordKind::SniName as u32);
        let name = &first.bytes()[r[2][3] as usize..(r[2][3] + r[2][4]) as usize];
        assert_eq!(name, b"alpha.test");
    }

    #[test]
    fn consecutive_reads_of_a_connection_become_one_record_and_append_keeps_every_byte() {
        let (a, b) = (
            ConnId {
                index: 1,
                generation: 1,
            },
            ConnId {
                index: 2,
                generation: 1,
            },
        );
        let read = |batch: &mut Batch, conn: ConnId, bytes: &[u8]| {
            batch.read_buffer(bytes.len())[..bytes.len()].copy_from_slice(bytes);
            batch.data(conn, bytes.len());
        };
        let views = |batch: &Batch| -> Vec<(u32, Vec<u8>)> {
            let bytes = batch.bytes();
            let at = |r: &[u32]| bytes[r[3] as usize..(r[3] + r[4]) as usize].to_vec();
            batch
                .records
                .chunks_exact(RECORD_LEN)
                .map(|r| (r[1], at(r)))
                .collect()
        };
        let mut first = Batch::default();
        read(&mut first, a, b"ab");
        read(&mut first, a, b"cd");
        read(&mut first, b, b"x");
        read(&mut first, a, b"e");
        first.read_closed(a);
        read(&mut first, a, b"f");
        // The ReadClosed record between the last two reads shows as an empty view.
        let expected: [(u32, &[u8]); 5] = [(1, b"abcd"), (2, b"x"), (1, b"e"), (1, b""), (1, b"f")];
        assert_eq!(views(&first), expected.map(|(i, v)| (i, v.to_vec())));
        // Appended: the first read of the second batch continues the last of the first.
        let mut second = Batch::default();
        read(&mut second, a, b"gh");
        read(&mut second, b, b"y");
        first.append(&mut second);
        assert!(second.is_empty() && second.bytes().is_empty());
        let got = views(&first);
        assert_eq!(got[4], (1, b"fgh".to_vec()));
        assert_eq!(got[5], (2, b"y".to_vec()));
        // Into an empty batch, append moves the memory: same records, same bytes.
        let mut empty = Batch::default();
        let expected = views(&first);
        empty.append(&mut first);
        assert_eq!(views(&empty), expected);
        assert!(first.is_empty() && first.bytes().is_empty());
    }
}
