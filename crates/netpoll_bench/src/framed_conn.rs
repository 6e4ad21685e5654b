//! One client connection of the framed protocol (4-byte big-endian length + payload) with a
//! window of requests in flight, each response verified byte for byte.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

use crate::pattern::{fail_verification, Pattern};
use crate::target::Stream;

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;

/// How a connection ended.
#[derive(Debug)]
pub enum ConnError {
    /// The server closed the connection with requests in flight.
    Eof,
    /// An I/O error (connect, read or write).
    Io(io::Error),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Eof => f.write_str("closed by the server with requests in flight"),
            ConnError::Io(e) => write!(f, "{e}"),
        }
    }
}

/// A framed connection: requests are appended to an output buffer and written as one
/// stream; responses are matched in order (the servers answer in order).
pub struct FramedConn {
    /// The stream.
    pub stream: Stream,
    id: usize,
    payload: usize,
    /// Requests kept in flight (1: ping-pong).
    pub depth: usize,
    /// Requests left to send; `None`: unlimited.
    pub budget: Option<u64>,
    /// Whether the connect has completed.
    pub connected: bool,
    seq: u64,
    out: Vec<u8>,
    out_pos: usize,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    inflight: VecDeque<(Instant, usize)>,
    /// When the connect was started.
    pub started: Instant,
}

impl FramedConn {
    /// A connection `id` over a connecting `stream`, with `payload`-byte requests.
    pub fn new(
        stream: Stream,
        id: usize,
        payload: usize,
        depth: usize,
        budget: Option<u64>,
    ) -> Self {
        FramedConn {
            stream,
            id,
            payload,
            depth,
            budget,
            connected: false,
            seq: 0,
            out: Vec::new(),
            out_pos: 0,
            input: vec![0; READ_CHUNK.max(2 * (payload + 4))],
            in_start: 0,
            in_end: 0,
            inflight: VecDeque::new(),
            started: Instant::now(),
        }
    }

    /// Whether every budgeted request has been answered.
    pub fn finished(&self) -> bool {
        self.budget == Some(0) && self.inflight.is_empty()
    }

    /// Queues requests up to the window and the budget, then writes what the socket takes.
    pub fn fill_and_write(&mut self, pattern: &Pattern) -> io::Result<()> {
        if !self.connected {
            return Ok(());
        }
        let now = Instant::now();
        while self.inflight.len() < self.depth && self.budget != Some(0) {
            let offset = Pattern::offset(self.id, self.seq);
            self.seq += 1;
            self.out
                .extend_from_slice(&(self.payload as u32).to_be_bytes());
            self.out
                .extend_from_slice(pattern.slice(offset, self.payload));
            self.inflight.push_back((now, offset));
            if let Some(b) = self.budget.as_mut() {
                *b -= 1;
            }
        }
        self.write_pending()
    }

    /// Writes queued bytes (and what TLS still holds) until done or the socket is full.
    pub fn write_pending(&mut self) -> io::Result<()> {
        while self.out_pos < self.out.len() {
            match self.stream.write(&self.out[self.out_pos..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.out_pos += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        self.stream.flush_some()
    }

    /// Reads until the socket is drained, verifying every complete response and calling
    /// `done(latency_ns, since_connect_ns)` for it. A wrong byte ends the process (see [`fail_verification`]).
    pub fn read_responses(
        &mut self,
        pattern: &Pattern,
        mut done: impl FnMut(u64, u64),
    ) -> Result<(), ConnError> {
        loop {
            if self.in_end == self.input.len() {
                self.input.copy_within(self.in_start..self.in_end, 0);
                self.in_end -= self.in_start;
                self.in_start = 0;
            }
            let room = self.input.len() - self.in_end;
            let n = match self.stream.read(&mut self.input[self.in_end..]) {
                Ok(0) => return Err(ConnError::Eof),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ConnError::Io(e)),
            };
            self.in_end += n;
            let now = Instant::now();
            self.parse(pattern, now, &mut done);
            // A short read emptied the socket's queue; bytes arriving later raise a new edge,
            // so the read that would only say `WouldBlock` is skipped.
            if n < room {
                return Ok(());
            }
        }
    }

    fn parse(&mut self, pattern: &Pattern, now: Instant, done: &mut impl FnMut(u64, u64)) {
        while self.in_end - self.in_start >= 4 {
            let head = &self.input[self.in_start..self.in_start + 4];
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            let Some(&(sent, offset)) = self.inflight.front() else {
                fail_verification(&format!(
                    "connection {}: a response nobody asked for",
                    self.id
                ));
            };
            if len != self.payload {
                fail_verification(&format!(
                    "connection {}: response length {len}, expected {}",
                    self.id, self.payload
                ));
            }
            if self.in_end - self.in_start < 4 + len {
                return;
            }
            let body = &self.input[self.in_start + 4..self.in_start + 4 + len];
            if let Err(m) = pattern.verify(offset, body) {
                fail_verification(&format!("connection {}: payload {m}", self.id));
            }
            self.in_start += 4 + len;
            self.inflight.pop_front();
            let since_connect = now.duration_since(self.started).as_nanos() as u64;
            done(now.duration_since(sent).as_nanos() as u64, since_connect);
        }
        if self.in_start == self.in_end {
            self.in_start = 0;
            self.in_end = 0;
        }
    }
}
