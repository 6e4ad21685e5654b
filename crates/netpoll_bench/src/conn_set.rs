//! A set of framed connections driven by one `mio::Poll` on this thread.

use std::io;
use std::ops::Range;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::framed_conn::{ConnError, FramedConn};
use crate::pattern::Pattern;
use crate::target::Target;

/// Connections opened together while setting up, so that no listen backlog overflows.
const SETUP_CHUNK: usize = 256;

/// One answered request.
pub struct Completion {
    /// The connection.
    pub conn: usize,
    /// From the request being queued to its verified response, ns.
    pub latency_ns: u64,
    /// From the connection's connect call to this response, ns.
    pub since_connect_ns: u64,
}

/// Framed connections to one target; a connection's id is its index and its mio token.
pub struct ConnSet {
    poll: Poll,
    events: Events,
    target: Target,
    pattern: Pattern,
    payload: usize,
    /// The connections, open or not.
    pub conns: Vec<FramedConn>,
    alive: Vec<bool>,
    ready: Vec<(usize, bool)>,
    /// Connections lost to an error or an unexpected close.
    pub errors: u64,
}

impl ConnSet {
    /// An empty set for `payload`-byte requests to `target`.
    pub fn new(target: Target, payload: usize) -> io::Result<Self> {
        Ok(ConnSet {
            poll: Poll::new()?,
            events: Events::with_capacity(1024),
            target,
            pattern: Pattern::new(payload),
            payload,
            conns: Vec::new(),
            alive: Vec::new(),
            ready: Vec::new(),
            errors: 0,
        })
    }

    /// Starts connecting a new connection. `Ok(None)` when the server's backlog is full
    /// (a Unix socket says `EAGAIN`): try again later.
    pub fn open(&mut self, depth: usize, budget: Option<u64>) -> io::Result<Option<usize>> {
        let mut stream = match self.target.connect() {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) => return Err(e),
        };
        let id = self.conns.len();
        self.poll.registry().register(
            &mut stream,
            Token(id),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.conns
            .push(FramedConn::new(stream, id, self.payload, depth, budget));
        self.alive.push(true);
        Ok(Some(id))
    }

    /// Opens `n` connections, a chunk at a time, each sending one request and waiting for its
    /// answer, so the server has accepted and served all of them on return. Any error fails.
    pub fn open_served(&mut self, n: usize, timeout: Duration) -> Result<Range<usize>, String> {
        let first = self.conns.len();
        let deadline = Instant::now() + timeout;
        while self.conns.len() < first + n {
            let chunk_start = self.conns.len();
            let chunk_end = (chunk_start + SETUP_CHUNK).min(first + n);
            while self.conns.len() < chunk_end {
                match self.open(1, Some(1)).map_err(|e| format!("connect: {e}"))? {
                    Some(_) => {}
                    None => self
                        .turn(Duration::from_millis(1), |_| {})
                        .map_err(|e| e.to_string())?,
                }
            }
            while !self.conns[chunk_start..chunk_end]
                .iter()
                .all(FramedConn::finished)
            {
                if self.errors > 0 {
                    return Err(format!(
                        "{} connection(s) failed while opening",
                        self.errors
                    ));
                }
                if Instant::now() > deadline {
                    return Err(format!("opening {n} connections took over {timeout:?}"));
                }
                self.turn(Duration::from_millis(100), |_| {})
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(first..first + n)
    }

    /// Gives connection `id` a new window and budget and sends what they allow.
    pub fn start(&mut self, id: usize, depth: usize, budget: Option<u64>) {
        let c = &mut self.conns[id];
        c.depth = depth;
        c.budget = budget;
        if let Err(e) = c.fill_and_write(&self.pattern) {
            self.lose(id, ConnError::Io(e));
        }
    }

    /// Waits up to `timeout` for readiness and serves every ready connection: completes
    /// connects, reads and verifies responses (`done` is called for each), refills windows and
    /// writes.
    pub fn turn(&mut self, timeout: Duration, mut done: impl FnMut(Completion)) -> io::Result<()> {
        match self.poll.poll(&mut self.events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(self.events.iter().map(|e| {
            (
                e.token().0,
                e.is_readable() || e.is_read_closed() || e.is_error(),
            )
        }));
        for &(id, readable) in &ready {
            if !self.alive[id] {
                continue;
            }
            if let Err(e) = self.serve(id, readable, &mut done) {
                self.lose(id, e);
            }
        }
        self.ready = ready;
        Ok(())
    }

    fn serve(
        &mut self,
        id: usize,
        readable: bool,
        done: &mut impl FnMut(Completion),
    ) -> Result<(), ConnError> {
        let c = &mut self.conns[id];
        if !c.connected {
            if !c.stream.connected().map_err(ConnError::Io)? {
                return Ok(());
            }
            c.connected = true;
        }
        if readable {
            c.read_responses(&self.pattern, |latency_ns, since_connect_ns| {
                done(Completion {
                    conn: id,
                    latency_ns,
                    since_connect_ns,
                })
            })?;
        }
        c.fill_and_write(&self.pattern).map_err(ConnError::Io)
    }

    fn lose(&mut self, id: usize, e: ConnError) {
        if self.errors < 3 {
            eprintln!("netpoll-bench: connection {id} lost: {e}");
        }
        self.alive[id] = false;
        self.errors += 1;
        let _ = self.poll.registry().deregister(&mut self.conns[id].stream);
    }
}
