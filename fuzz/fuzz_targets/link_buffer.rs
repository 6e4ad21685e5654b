//! Fuzz target: the input is a program of `LinkBuffer` operations, run against the real buffer
//! and a model of two byte vectors (pending bytes, readable bytes); every result must match
//! the model byte for byte.
//!
//! The first two bytes choose the setup: the first chunk size (1..=64 bytes, so a few dozen
//! bytes already cross chunks) and whether the pool caches freed chunks (when it does not,
//! every chunk is really freed and AddressSanitizer sees any use after free; when it does, a
//! reused chunk would overwrite a stale view, which the final re-check of the held views sees).
//! Each following byte is an opcode, followed by the operands it reads. Running out of input
//! ends the program. At the end everything pending is flushed and read back, every view handed
//! out is compared with the bytes it showed when taken, and, once the buffer and all views are
//! dropped, the pool must have every byte back.
#![no_main]

use std::io::IoSlice;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use netpoll_core::buffer::{BufferError, BufferPool, LinkBuffer, PoolConfig};

/// The operands of the program, read front to back; exhausted input reads as zeros.
struct Program<'a> {
    data: &'a [u8],
}

impl Program<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn size(&mut self) -> usize {
        usize::from(self.byte())
    }

    /// Up to 255 bytes taken from the input.
    fn bytes(&mut self) -> Vec<u8> {
        let n = self.size().min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head.to_vec()
    }

    /// `total * frac / 255` for a fraction byte read from the input.
    fn part_of(&mut self, total: usize) -> usize {
        total * self.size() / 255
    }
}

/// The real buffer, its model and everything handed out that must stay unchanged.
struct Run {
    pool: BufferPool,
    buf: LinkBuffer,
    pending: Vec<u8>,
    readable: Vec<u8>,
    /// Views with the bytes they showed when taken.
    views: Vec<(Bytes, Vec<u8>)>,
    /// Independent buffers split off with `slice`, with their expected contents.
    slices: Vec<(LinkBuffer, Vec<u8>)>,
}

impl Run {
    fn not_enough(&self, need: usize) -> BufferError {
        BufferError::NotEnough {
            need,
            have: self.readable.len(),
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.readable.drain(..n).collect()
    }

    fn hold(&mut self, view: Bytes, expected: Vec<u8>) {
        assert_eq!(&view[..], &expected[..], "a fresh view");
        if self.views.len() < 64 {
            self.views.push((view, expected));
        }
    }

    fn flush_model(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.readable.extend(pending);
    }

    fn step(&mut self, op: u8, p: &mut Program<'_>) {
        match op % 26 {
            0 => {
                let data = p.bytes();
                self.buf.write_binary(&data);
                self.pending.extend(data);
            }
            1 => {
                let b = p.byte();
                self.buf.write_byte(b);
                self.pending.push(b);
            }
            2 => {
                let s = String::from_utf8_lossy(&p.bytes()).into_owned();
                self.buf.write_string(&s);
                self.pending.extend_from_slice(s.as_bytes());
            }
            3 => {
                let (n, filled, seed) = (p.size(), p.size(), p.byte());
                let filled = filled.min(n);
                let area = self.buf.malloc(n);
                assert_eq!(area.len(), n);
                assert!(area.iter().all(|&b| b == 0), "malloc is zero-filled");
                for (i, b) in area[..filled].iter_mut().enumerate() {
                    *b = seed ^ i as u8;
                }
                self.pending.extend((0..filled).map(|i| seed ^ i as u8));
                self.pending.resize(self.pending.len() + n - filled, 0);
                let keep = p.part_of(self.pending.len());
                self.buf.malloc_ack(keep).expect("keep <= malloc_len");
                self.pending.truncate(keep);
            }
            4 => {
                let data = p.bytes();
                self.buf.write_bytes(Bytes::from(data.clone()));
                self.pending.extend(data);
            }
            5 => {
                let data = p.bytes();
                let remain = p.part_of(self.pending.len());
                self.buf
                    .write_direct(Bytes::from(data.clone()), remain)
                    .expect("remain <= malloc_len");
                let at = self.pending.len() - remain;
                self.pending.splice(at..at, data);
            }
            6 => {
                let mut other = LinkBuffer::with_chunk_size(self.pool.clone(), 1 + p.size());
                let (readable, pending) = (p.bytes(), p.bytes());
                let skip = p.size().min(readable.len());
                other.write_binary(&readable);
                other.flush();
                other.skip(skip).expect("skip <= len");
                other.write_binary(&pending);
                self.buf.append(other);
                self.pending.extend_from_slice(&readable[skip..]);
                self.pending.extend(pending);
            }
            7 => {
                let n = p.size().min(self.readable.len());
                let own = self.buf.slice(n).expect("n <= len");
                self.buf.append(own);
                let moved = self.take(n);
                self.pending.extend(moved);
            }
            8 | 9 => {
                self.buf.flush();
                self.flush_model();
            }
            10 => {
                let data = p.bytes();
                let spare = self.buf.reserve(data.len());
                assert!(spare.len() >= data.len().max(1));
                spare[..data.len()].copy_from_slice(&data);
                let too_many = self.buf.spare_len() + 1;
                assert!(self.buf.commit(too_many).is_err());
                self.buf.commit(data.len()).expect("n <= spare");
                self.pending.extend(data);
                self.flush_model();
            }
            11 => {
                let mut slots = [IoSlice::new(&[]); 8];
                let filled = self.buf.io_slices(&mut slots);
                let joined: Vec<u8> = slots[..filled].iter().flat_map(|s| s.to_vec()).collect();
                assert!(self.readable.starts_with(&joined));
                if filled < slots.len() {
                    assert_eq!(joined, self.readable);
                }
                let all: Vec<u8> = self.buf.readable_slices().flatten().copied().collect();
                assert_eq!(all, self.readable);
                let n = p.size().min(self.readable.len());
                self.buf.advance(n).expect("n <= len");
                self.take(n);
            }
            12 => {
                let n = p.size();
                match self.buf.next(n) {
                    Ok(view) => {
                        let expected = self.take(n);
                        self.hold(view, expected);
                    }
                    Err(e) => assert_eq!(e, self.not_enough(n)),
                }
            }
            13 => {
                let n = p.size();
                match self.buf.peek(n) {
                    Ok(view) => {
                        let expected = self.readable[..n].to_vec();
                        self.hold(view, expected);
                    }
                    Err(e) => assert_eq!(e, self.not_enough(n)),
                }
            }
            14 => {
                let n = p.size();
                match self.buf.skip(n) {
                    Ok(()) => drop(self.take(n)),
                    Err(e) => assert_eq!(e, self.not_enough(n)),
                }
            }
            15 => {
                let delim = p.byte();
                match self.readable.iter().position(|&b| b == delim) {
                    Some(i) => {
                        let view = self.buf.until(delim).expect("delimiter is readable");
                        let expected = self.take(i + 1);
                        self.hold(view, expected);
                    }
                    None => assert_eq!(self.buf.until(delim), Err(BufferError::NotFound)),
                }
            }
            16 => match self.readable.first().copied() {
                Some(b) => {
                    assert_eq!(self.buf.read_byte(), Ok(b));
                    self.take(1);
                }
                None => assert_eq!(self.buf.read_byte(), Err(self.not_enough(1))),
            },
            17 => {
                let n = p.size();
                match self.buf.read_binary(n) {
                    Ok(v) => assert_eq!(v, self.take(n)),
                    Err(e) => assert_eq!(e, self.not_enough(n)),
                }
            }
            18 => {
                let n = p.size();
                let consume = p.byte() & 1 == 1;
                let mut dst = vec![0xa5; n];
                let result = if consume {
                    self.buf.read_into(&mut dst)
                } else {
                    self.buf.peek_into(&mut dst)
                };
                match result {
                    Ok(()) if consume => assert_eq!(dst, self.take(n)),
                    Ok(()) => assert_eq!(dst[..], self.readable[..n]),
                    Err(e) => {
                        assert_eq!(e, self.not_enough(n));
                        assert!(dst.iter().all(|&b| b == 0xa5), "nothing written on error");
                    }
                }
            }
            19 => {
                let n = p.size();
                if n > self.readable.len() {
                    assert_eq!(self.buf.read_string(n), Err(self.not_enough(n)));
                    assert_eq!(self.buf.read_string_lossy(n), Err(self.not_enough(n)));
                    return;
                }
                match String::from_utf8(self.readable[..n].to_vec()) {
                    Ok(s) => {
                        assert_eq!(self.buf.read_string(n), Ok(s));
                        self.take(n);
                    }
                    Err(e) => {
                        let valid_up_to = e.utf8_error().valid_up_to();
                        let err = BufferError::InvalidUtf8 { valid_up_to };
                        assert_eq!(self.buf.read_string(n), Err(err));
                        let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                        assert_eq!(self.buf.read_string_lossy(n), Ok(lossy));
                        self.take(n);
                    }
                }
            }
            20 => {
                let n = p.size();
                match self.buf.slice(n) {
                    Ok(slice) => {
                        assert_eq!((slice.len(), slice.malloc_len()), (n, 0));
                        let expected = self.take(n);
                        if self.slices.len() < 16 {
                            self.slices.push((slice, expected));
                        }
                    }
                    Err(e) => assert_eq!(e, self.not_enough(n)),
                }
            }
            21 => self.buf.release(),
            22 => {
                let p_len = self.pending.len();
                let err = BufferError::NotEnough {
                    need: p_len + 1,
                    have: p_len,
                };
                assert_eq!(self.buf.malloc_ack(p_len + 1), Err(err.clone()));
                let x = Bytes::from_static(b"x");
                assert_eq!(self.buf.write_direct(x, p_len + 1), Err(err));
            }
            23 => {
                // Drop one held view or slice: its chunk may go back to the pool now.
                let i = p.size();
                if i & 1 == 0 && !self.views.is_empty() {
                    let i = i / 2 % self.views.len();
                    self.views.swap_remove(i);
                } else if !self.slices.is_empty() {
                    let i = i / 2 % self.slices.len();
                    self.slices.swap_remove(i);
                }
            }
            24 => {
                // A large contiguous write, over the largest adaptive chunk size (64 KiB).
                let n = (usize::from(p.byte()) << 9) + p.size();
                let seed = p.byte();
                let data: Vec<u8> = (0..n).map(|i| seed ^ (i >> 3) as u8).collect();
                self.buf.write_binary(&data);
                self.pending.extend(data);
            }
            _ => {
                // Read part of a held slice: slices are independent readers of shared chunks.
                if self.slices.is_empty() {
                    return;
                }
                let i = p.size() % self.slices.len();
                let (slice, expected) = &mut self.slices[i];
                let n = p.size().min(slice.len());
                let got = slice.next(n).expect("n <= len");
                let want: Vec<u8> = expected.drain(..n).collect();
                assert_eq!(&got[..], &want[..]);
                slice.release();
            }
        }
        assert_eq!(self.buf.len(), self.readable.len(), "len()");
        assert_eq!(self.buf.is_empty(), self.readable.is_empty(), "is_empty()");
        assert_eq!(self.buf.malloc_len(), self.pending.len(), "malloc_len()");
    }

    /// Drains everything and re-checks every view; then all memory must be back in the pool.
    fn finish(mut self) {
        self.buf.flush();
        self.flush_model();
        let all = std::mem::take(&mut self.readable);
        assert_eq!(self.buf.read_binary(all.len()), Ok(all));
        assert!(self.buf.is_empty());
        self.buf.release();
        for (view, expected) in &self.views {
            assert_eq!(&view[..], &expected[..], "a held view changed");
        }
        for (slice, expected) in &mut self.slices {
            let got = slice.read_binary(slice.len()).expect("whole slice");
            assert_eq!(&got, expected, "a held slice changed");
        }
        let pool = self.pool.clone();
        drop(self);
        assert_eq!(pool.stats().bytes_in_use, 0, "every chunk back in the pool");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut p = Program { data };
    let first_chunk = 1 + usize::from(p.byte() % 64);
    let max_cached_bytes = if p.byte() & 1 == 0 { 0 } else { 1 << 20 };
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes,
        min_class_size: 64,
        max_class_size: 1 << 17,
        ..PoolConfig::default()
    });
    let mut run = Run {
        buf: LinkBuffer::with_chunk_size(pool.clone(), first_chunk),
        pool,
        pending: Vec::new(),
        readable: Vec::new(),
        views: Vec::new(),
        slices: Vec::new(),
    };
    while !p.data.is_empty() {
        let op = p.byte();
        run.step(op, &mut p);
    }
    run.finish();
});
