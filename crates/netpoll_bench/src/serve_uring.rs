//! `netpoll-bench serve --uring`: the ceiling server of [`crate::serve`] on io_uring, the
//! measurement of issue #16's io_uring spike. One thread, one ring; multishot accept, one
//! multishot receive per connection filling buffers of a provided-buffer ring
//! ([`crate::buf_ring`]), answers sent straight from those buffers (no copy) where they hold
//! whole frames, and all the sends of a loop turn submitted with the wait for the next
//! completions: one `io_uring_enter` per turn.
//!
//! Same protocols, framing, verification and `SIGUSR2` stats line as `serve`. One send per
//! connection is in flight at a time (answers leave in order). Backpressure differs: a
//! multishot receive goes on while answers wait, holding buffers; when the ring is empty the
//! kernel ends the receives that find no buffer (`ENOBUFS`) and they are re-armed once a
//! send gives a buffer back.

use crate::buf_ring::BufRing;
use crate::serve_proto::{whole_frames, Protocol, SINK_ACK, STATS_WANTED};
use io_uring::{cqueue, opcode, squeue, types, EnterFlags, IoUring};
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

/// Submission queue entries (sends of one turn beyond this are submitted early).
const SQ_ENTRIES: u32 = 4096;
/// Completion queue entries.
const CQ_ENTRIES: u32 = 16384;
/// Buffers in the provided-buffer ring. The kernel takes them in ring order (FIFO), so every
/// one is touched in turn and the receive copies land in cold memory unless the ring fits in
/// cache: 64 x 32 KiB = 2 MiB (this machine's L2) measured at least as well as 128 x 64 KiB
/// and 512 x 64 KiB; fewer buffers make `ENOBUFS` (re-armed receives) more frequent.
const BUFS: u16 = 64;
/// Bytes per provided buffer (the largest single receive).
const BUF_SIZE: usize = 32 * 1024;
/// The buffer group of the ring.
const GROUP: u16 = 0;

/// Operation tags in the low bits of a request's `user_data` (the fd is in the high bits).
const OP_ACCEPT: u64 = 0;
const OP_RECV: u64 = 1;
const OP_SEND: u64 = 2;

/// An answer waiting to be sent: a received buffer (its first `len` bytes: whole frames or
/// raw bytes) or bytes of our own (frames completed across receives, a sink count).
enum Chunk {
    Lent { bid: u16, len: usize },
    Owned(Vec<u8>),
}

/// A connection's state; its fd is closed only once no request of it is in flight, so a
/// completion never names a reused fd.
#[derive(Default)]
struct Conn {
    /// The start of a frame whose rest has not arrived.
    partial: Vec<u8>,
    /// Answers in order; the front one is being sent, `sent` bytes of it already.
    queue: VecDeque<Chunk>,
    sent: usize,
    sending: bool,
    receiving: bool,
    /// No more reads (end of stream, error): close once the sends in flight are done.
    closing: bool,
    count: u64,
}

/// The io_uring ceiling server. `uring` is declared before `bufs` so that it is dropped (the
/// kernel stops using the buffer ring) before the ring's memory is.
pub struct Server {
    uring: IoUring,
    bufs: BufRing,
    protocol: Protocol,
    conns: Vec<Option<Conn>>,
    /// Connections whose multishot receive ended while they still read (re-armed at the end
    /// of the turn when the ring has a buffer).
    starved: Vec<RawFd>,
    accepting: bool,
}

impl Server {
    /// Sets up the ring (single issuer, deferred task work) and its buffers; fails with the
    /// kernel's error (ENOSYS, EPERM where io_uring is unavailable).
    pub fn new(protocol: Protocol) -> io::Result<Server> {
        let uring = IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_cqsize(CQ_ENTRIES)
            .build(SQ_ENTRIES)?;
        let bufs = BufRing::new(&uring, GROUP, BUFS, BUF_SIZE)?;
        Ok(Server {
            uring,
            bufs,
            protocol,
            conns: Vec::new(),
            starved: Vec::new(),
            accepting: false,
        })
    }

    /// Serves listener `lfd` until an unrecoverable ring error; `tcp` sets `TCP_NODELAY` on
    /// accepted sockets.
    pub fn run(mut self, lfd: RawFd, tcp: bool) -> io::Result<()> {
        // SAFETY: a zeroed sigset_t is valid; emptied, it unblocks SIGUSR2 during the wait
        // (as `serve`'s epoll_pwait does).
        let mut during_wait: libc::sigset_t = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        unsafe { libc::sigemptyset(&mut during_wait) };
        let mut done: Vec<(u64, i32, u32)> = Vec::with_capacity(CQ_ENTRIES as usize);
        loop {
            if !self.accepting {
                let sqe = opcode::AcceptMulti::new(types::Fd(lfd))
                    .flags(libc::SOCK_CLOEXEC)
                    .build();
                self.push(sqe.user_data(tag(lfd, OP_ACCEPT)))?;
                self.accepting = true;
            }
            match self.submit_and_wait(&during_wait) {
                Ok(()) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => return Err(e),
            }
            if STATS_WANTED.swap(false, Ordering::Relaxed) {
                self.print_stats();
            }
            done.extend(
                self.uring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for (data, res, flags) in done.drain(..) {
                let fd = (data >> 2) as RawFd;
                match data & 3 {
                    OP_ACCEPT => self.accepted(res, flags, tcp)?,
                    OP_RECV => self.received(fd, res, flags)?,
                    _ => self.sent(fd, res)?,
                }
            }
            if self.bufs.has_free() {
                for fd in std::mem::take(&mut self.starved) {
                    self.arm_recv(fd)?;
                }
            }
        }
    }

    /// Submits the queued requests and waits for one completion, with `mask` as the signal
    /// mask during the wait: the turn's one `io_uring_enter`.
    fn submit_and_wait(&mut self, mask: &libc::sigset_t) -> io::Result<()> {
        let arg = GetEventsArg {
            sigmask: mask as *const libc::sigset_t as u64,
            sigmask_sz: KERNEL_SIGSET_BYTES,
            min_wait_usec: 0,
            ts: 0,
        };
        let queued = self.uring.submission().len() as u32;
        let flags = EnterFlags::GETEVENTS | EnterFlags::EXT_ARG;
        // SAFETY: `arg` is a valid io_uring_getevents_arg and `mask` a valid sigset_t, both
        // alive for the call; `queued` is the number of entries pushed and not yet submitted.
        unsafe {
            self.uring
                .submitter()
                .enter(queued, 1, flags.bits(), Some(&arg))
        }
        .map(drop)
    }

    /// Queues `sqe`, submitting the queue first when it is full.
    fn push(&mut self, sqe: squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: every buffer a request points to (provided buffers, queued chunks) stays
            // alive and unmoved until its completion: chunks leave a queue only then.
            if unsafe { self.uring.submission().push(&sqe) }.is_ok() {
                return Ok(());
            }
            self.uring.submit()?;
        }
    }

    fn accepted(&mut self, res: i32, flags: u32, tcp: bool) -> io::Result<()> {
        if !cqueue::more(flags) {
            self.accepting = false;
        }
        if res < 0 {
            return Ok(());
        }
        let fd = res;
        if tcp {
            let one: libc::c_int = 1;
            // SAFETY: `one` outlives the call and its size is passed.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_TCP,
                    libc::TCP_NODELAY,
                    (&one as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
        }
        if self.conns.len() <= fd as usize {
            self.conns.resize_with(fd as usize + 1, || None);
        }
        self.conns[fd as usize] = Some(Conn::default());
        self.arm_recv(fd)
    }

    fn arm_recv(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(c) = self.conns[fd as usize].as_mut() else {
            return Ok(());
        };
        if c.closing || c.receiving {
            return Ok(());
        }
        c.receiving = true;
        let sqe = opcode::RecvMulti::new(types::Fd(fd), GROUP).build();
        self.push(sqe.user_data(tag(fd, OP_RECV)))
    }

    fn received(&mut self, fd: RawFd, res: i32, flags: u32) -> io::Result<()> {
        let Some(c) = self.conns[fd as usize].as_mut() else {
            return Ok(());
        };
        let more = cqueue::more(flags);
        if !more {
            c.receiving = false;
        }
        if res == -libc::ENOBUFS {
            if !c.closing {
                self.starved.push(fd);
            }
            return self.settle(fd);
        }
        if res <= 0 {
            c.closing = true;
            return self.settle(fd);
        }
        let bid = cqueue::buffer_select(flags).expect("a receive with data names its buffer");
        self.bufs.took();
        let n = res as usize;
        let data = self.bufs.data(bid, n);
        let mut keep = false;
        let ok = match self.protocol {
            Protocol::Raw => {
                c.queue.push_back(Chunk::Lent { bid, len: n });
                keep = true;
                true
            }
            Protocol::Sink => {
                let before = c.count;
                c.count += n as u64;
                if before / SINK_ACK != c.count / SINK_ACK {
                    c.queue
                        .push_back(Chunk::Owned(c.count.to_be_bytes().to_vec()));
                }
                true
            }
            Protocol::Framed if c.partial.is_empty() => match whole_frames(data) {
                Ok(whole) => {
                    c.partial.extend_from_slice(&data[whole..]);
                    if whole > 0 {
                        c.queue.push_back(Chunk::Lent { bid, len: whole });
                        keep = true;
                    }
                    true
                }
                Err(()) => false,
            },
            Protocol::Framed => {
                c.partial.extend_from_slice(data);
                match whole_frames(&c.partial) {
                    Ok(0) => true,
                    Ok(whole) => {
                        let rest = c.partial.split_off(whole);
                        let frames = std::mem::replace(&mut c.partial, rest);
                        c.queue.push_back(Chunk::Owned(frames));
                        true
                    }
                    Err(()) => false,
                }
            }
        };
        if !keep {
            self.bufs.give_back(bid);
        }
        if !ok {
            c.closing = true;
            // Ends the multishot receive (its last completion comes without MORE).
            // SAFETY: plain syscall on an fd this connection owns.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        } else if !more && !c.closing {
            self.starved.push(fd);
        }
        self.settle(fd)
    }

    fn sent(&mut self, fd: RawFd, res: i32) -> io::Result<()> {
        let Some(c) = self.conns[fd as usize].as_mut() else {
            return Ok(());
        };
        c.sending = false;
        if res < 0 {
            if !c.closing {
                c.closing = true;
                // SAFETY: as in `received`.
                unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
            }
            while let Some(chunk) = c.queue.pop_front() {
                if let Chunk::Lent { bid, .. } = chunk {
                    self.bufs.give_back(bid);
                }
            }
            return self.settle(fd);
        }
        c.sent += res as usize;
        let front_len = match c.queue.front() {
            Some(Chunk::Lent { len, .. }) => *len,
            Some(Chunk::Owned(v)) => v.len(),
            None => 0,
        };
        if c.sent >= front_len {
            c.sent = 0;
            if let Some(Chunk::Lent { bid, .. }) = c.queue.pop_front() {
                self.bufs.give_back(bid);
            }
        }
        self.settle(fd)
    }

    /// Starts the next send of connection `fd`, or closes it when it is closing and idle.
    fn settle(&mut self, fd: RawFd) -> io::Result<()> {
        let Some(c) = self.conns[fd as usize].as_mut() else {
            return Ok(());
        };
        if c.sending {
            return Ok(());
        }
        let Some(front) = c.queue.front() else {
            if c.closing && !c.receiving {
                self.conns[fd as usize] = None;
                // SAFETY: no request of this fd is in flight (not sending, not receiving).
                unsafe { libc::close(fd) };
            }
            return Ok(());
        };
        let bytes = match front {
            Chunk::Lent { bid, len } => self.bufs.data(*bid, *len),
            Chunk::Owned(v) => v,
        };
        let rest = &bytes[c.sent..];
        let sqe = opcode::Send::new(types::Fd(fd), rest.as_ptr(), rest.len() as u32)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        c.sending = true;
        self.push(sqe.user_data(tag(fd, OP_SEND)))
    }

    /// `serve`'s stats line: the bytes the connection table holds (slots, partial frames,
    /// unsent answers of our own, provided buffers held for unsent answers).
    fn print_stats(&self) {
        let live = self.conns.iter().flatten();
        let held: usize = live
            .clone()
            .map(|c| {
                let owned: usize = c
                    .queue
                    .iter()
                    .map(|ch| match ch {
                        Chunk::Owned(v) => v.capacity(),
                        Chunk::Lent { .. } => 0,
                    })
                    .sum();
                c.partial.capacity() + owned
            })
            .sum();
        let heap = self.conns.capacity() * std::mem::size_of::<Option<Conn>>()
            + held
            + self.bufs.lent_bytes();
        println!(
            "stats {{\"heapUsed\":{heap},\"connections\":{}}}",
            live.count()
        );
    }
}

/// The size of the kernel's signal set (`_NSIG / 8`: 64 signals on Linux).
const KERNEL_SIGSET_BYTES: u32 = 8;

/// The kernel's `struct io_uring_getevents_arg`. Ours rather than the crate's `SubmitArgs`,
/// whose signal mask size is `sizeof(sigset_t)` (128): the kernel wants `_NSIG / 8` (8) and
/// refuses anything else with EINVAL.
#[repr(C)]
struct GetEventsArg {
    sigmask: u64,
    sigmask_sz: u32,
    min_wait_usec: u32,
    ts: u64,
}

/// The `user_data` of request `op` on `fd`.
fn tag(fd: RawFd, op: u64) -> u64 {
    (fd as u64) << 2 | op
}
