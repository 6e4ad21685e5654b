//! Model test: random sequences of LinkBuffer writer and reader operations checked against a
//! plain `Vec<u8>` model (pending bytes, readable bytes), byte for byte.
//!
//! Chunks are tiny (64 bytes at first) so that a few dozen bytes already cross chunk
//! boundaries. Every view handed out is kept until the end of the case and checked again, so a
//! view that was overwritten or freed by a later operation (release, reuse by the pool) fails.
//! At the end, every byte must be back in the pool.

use std::io::IoSlice;

use bytes::Bytes;
use netpoll_core::buffer::{BufferError, BufferPool, LinkBuffer, PoolConfig};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    // Writer.
    WriteBinary(Vec<u8>),
    WriteByte(u8),
    WriteString(String),
    /// malloc(n), fill the first `filled` bytes (the rest must stay zero), then malloc_ack to
    /// keep `keep_frac`/255 of all pending bytes.
    MallocAck {
        n: usize,
        filled: usize,
        seed: u8,
        keep_frac: u8,
    },
    WriteBytes(Vec<u8>),
    /// write_direct before `remain_frac`/255 of the pending bytes.
    WriteDirect {
        data: Vec<u8>,
        remain_frac: u8,
    },
    /// Append a buffer holding `readable` (of which `skip` are read first) and `pending`.
    Append {
        readable: Vec<u8>,
        skip: usize,
        pending: Vec<u8>,
    },
    /// Slice `n` readable bytes off and append them back as pending bytes.
    AppendOwnSlice(usize),
    /// malloc_ack / write_direct beyond the pending bytes: must fail and change nothing.
    BadWriterArgs,
    Flush,
    // Socket side.
    ReserveCommit(Vec<u8>),
    IoSlicesAdvance(usize),
    // Reader.
    Next(usize),
    Peek(usize),
    Skip(usize),
    Until(u8),
    ReadByte,
    ReadBinary(usize),
    ReadInto(usize),
    PeekInto(usize),
    ReadString(usize),
    SliceReadAll(usize),
    Release,
}

fn small_bytes() -> impl Strategy<Value = Vec<u8>> {
    // A small alphabet so that `until` finds delimiters often.
    prop::collection::vec(prop_oneof![3 => b'a'..=b'd', 1 => any::<u8>()], 0..40)
}

fn op() -> impl Strategy<Value = Op> {
    let n = 0usize..80;
    prop_oneof![
        4 => small_bytes().prop_map(Op::WriteBinary),
        1 => any::<u8>().prop_map(Op::WriteByte),
        1 => "[a-cé€😀]{0,8}".prop_map(Op::WriteString),
        2 => (0usize..100, 0usize..100, any::<u8>(), any::<u8>()).prop_map(
            |(n, filled, seed, keep_frac)| Op::MallocAck { n, filled: filled.min(n), seed, keep_frac }
        ),
        2 => small_bytes().prop_map(Op::WriteBytes),
        2 => (small_bytes(), any::<u8>())
            .prop_map(|(data, remain_frac)| Op::WriteDirect { data, remain_frac }),
        1 => (small_bytes(), 0usize..40, small_bytes())
            .prop_map(|(readable, skip, pending)| Op::Append { readable, skip, pending }),
        1 => n.clone().prop_map(Op::AppendOwnSlice),
        1 => Just(Op::BadWriterArgs),
        4 => Just(Op::Flush),
        1 => small_bytes().prop_map(Op::ReserveCommit),
        1 => n.clone().prop_map(Op::IoSlicesAdvance),
        3 => n.clone().prop_map(Op::Next),
        2 => n.clone().prop_map(Op::Peek),
        1 => n.clone().prop_map(Op::Skip),
        2 => (b'a'..=b'e').prop_map(Op::Until),
        1 => Just(Op::ReadByte),
        1 => n.clone().prop_map(Op::ReadBinary),
        1 => n.clone().prop_map(Op::ReadInto),
        1 => n.clone().prop_map(Op::PeekInto),
        1 => n.clone().prop_map(Op::ReadString),
        1 => n.prop_map(Op::SliceReadAll),
        1 => Just(Op::Release),
    ]
}

/// The model: bytes written but not flushed, and bytes readable.
#[derive(Default)]
struct Model {
    pending: Vec<u8>,
    readable: Vec<u8>,
}

impl Model {
    fn not_enough(&self, n: usize) -> BufferError {
        BufferError::NotEnough {
            need: n,
            have: self.readable.len(),
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        self.readable.drain(..n).collect()
    }
}

struct Case {
    buf: LinkBuffer,
    pool: BufferPool,
    model: Model,
    /// Views handed out, with the bytes they must keep showing.
    held: Vec<(Bytes, Vec<u8>)>,
}

impl Case {
    fn hold(&mut self, view: Bytes, expected: Vec<u8>) {
        assert_eq!(&view[..], &expected[..]);
        if self.held.len() < 32 {
            self.held.push((view, expected));
        }
    }

    fn apply(&mut self, op: Op) {
        let (b, m) = (&mut self.buf, &mut self.model);
        match op {
            Op::WriteBinary(data) => {
                b.write_binary(&data);
                m.pending.extend_from_slice(&data);
            }
            Op::WriteByte(x) => {
                b.write_byte(x);
                m.pending.push(x);
            }
            Op::WriteString(s) => {
                b.write_string(&s);
                m.pending.extend_from_slice(s.as_bytes());
            }
            Op::MallocAck {
                n,
                filled,
                seed,
                keep_frac,
            } => {
                let area = b.malloc(n);
                assert_eq!(area.len(), n);
                assert!(area.iter().all(|&x| x == 0), "malloc is zero-filled");
                for (i, x) in area[..filled].iter_mut().enumerate() {
                    *x = seed.wrapping_add(i as u8);
                }
                m.pending
                    .extend((0..filled).map(|i| seed.wrapping_add(i as u8)));
                m.pending.extend(std::iter::repeat_n(0, n - filled));
                assert_eq!(b.malloc_len(), m.pending.len());
                let keep = m.pending.len() * keep_frac as usize / 255;
                b.malloc_ack(keep).unwrap();
                m.pending.truncate(keep);
            }
            Op::WriteBytes(data) => {
                b.write_bytes(Bytes::from(data.clone()));
                m.pending.extend_from_slice(&data);
            }
            Op::WriteDirect { data, remain_frac } => {
                let remain = m.pending.len() * remain_frac as usize / 255;
                b.write_direct(Bytes::from(data.clone()), remain).unwrap();
                let at = m.pending.len() - remain;
                m.pending.splice(at..at, data);
            }
            Op::Append {
                readable,
                skip,
                pending,
            } => {
                let mut other = LinkBuffer::with_chunk_size(self.pool.clone(), 64);
                other.write_binary(&readable);
                other.flush();
                let skip = skip.min(readable.len());
                other.skip(skip).unwrap();
                other.write_binary(&pending);
                b.append(other);
                m.pending.extend_from_slice(&readable[skip..]);
                m.pending.extend_from_slice(&pending);
            }
            Op::AppendOwnSlice(n) => {
                let n = n.min(m.readable.len());
                let s = b.slice(n).unwrap();
                b.append(s);
                let moved = m.take(n);
                m.pending.extend(moved);
            }
            Op::BadWriterArgs => {
                let p = m.pending.len();
                let err = BufferError::NotEnough {
                    need: p + 1,
                    have: p,
                };
                assert_eq!(b.malloc_ack(p + 1), Err(err.clone()));
                assert_eq!(b.write_direct(Bytes::from_static(b"x"), p + 1), Err(err));
            }
            Op::Flush => {
                b.flush();
                let pending = std::mem::take(&mut m.pending);
                m.readable.extend(pending);
            }
            Op::ReserveCommit(data) => {
                let spare = b.reserve(data.len());
                assert!(spare.len() >= data.len().max(1));
                spare[..data.len()].copy_from_slice(&data);
                b.commit(data.len()).unwrap();
                m.pending.extend_from_slice(&data);
                let pending = std::mem::take(&mut m.pending);
                m.readable.extend(pending);
            }
            Op::IoSlicesAdvance(n) => {
                let mut slots = [IoSlice::new(&[]); 64];
                let filled = b.io_slices(&mut slots);
                let joined: Vec<u8> = slots[..filled].iter().flat_map(|s| s.to_vec()).collect();
                assert!(m.readable.starts_with(&joined));
                if filled < slots.len() {
                    assert_eq!(joined, m.readable);
                }
                let n = n.min(m.readable.len());
                b.advance(n).unwrap();
                m.take(n);
            }
            Op::Next(n) => match b.next(n) {
                Ok(view) => {
                    let expected = m.take(n);
                    self.hold(view, expected);
                }
                Err(e) => assert_eq!(e, m.not_enough(n)),
            },
            Op::Peek(n) => match b.peek(n) {
                Ok(view) => {
                    let expected = m.readable[..n].to_vec();
                    self.hold(view, expected);
                }
                Err(e) => assert_eq!(e, m.not_enough(n)),
            },
            Op::Skip(n) => match b.skip(n) {
                Ok(()) => {
                    m.take(n);
                }
                Err(e) => assert_eq!(e, m.not_enough(n)),
            },
            Op::Until(delim) => match m.readable.iter().position(|&x| x == delim) {
                Some(i) => {
                    let view = b.until(delim).unwrap();
                    let expected = m.take(i + 1);
                    self.hold(view, expected);
                }
                None => assert_eq!(b.until(delim), Err(BufferError::NotFound)),
            },
            Op::ReadByte => match m.readable.first() {
                Some(&x) => {
                    assert_eq!(b.read_byte(), Ok(x));
                    m.take(1);
                }
                None => assert_eq!(b.read_byte(), Err(m.not_enough(1))),
            },
            Op::ReadBinary(n) => match b.read_binary(n) {
                Ok(v) => assert_eq!(v, m.take(n)),
                Err(e) => assert_eq!(e, m.not_enough(n)),
            },
            Op::ReadInto(n) => {
                let mut dst = vec![0xa5; n];
                match b.read_into(&mut dst) {
                    Ok(()) => assert_eq!(dst, m.take(n)),
                    Err(e) => {
                        assert_eq!(e, m.not_enough(n));
                        assert!(dst.iter().all(|&x| x == 0xa5), "nothing written on error");
                    }
                }
            }
            Op::PeekInto(n) => {
                let mut dst = vec![0u8; n];
                match b.peek_into(&mut dst) {
                    Ok(()) => assert_eq!(&dst[..], &m.readable[..n]),
                    Err(e) => assert_eq!(e, m.not_enough(n)),
                }
            }
            Op::ReadString(n) => {
                if n > m.readable.len() {
                    assert_eq!(b.read_string(n), Err(m.not_enough(n)));
                } else {
                    match String::from_utf8(m.readable[..n].to_vec()) {
                        Ok(s) => {
                            assert_eq!(b.read_string(n), Ok(s));
                            m.take(n);
                        }
                        Err(e) => assert_eq!(
                            b.read_string(n),
                            Err(BufferError::InvalidUtf8 {
                                valid_up_to: e.utf8_error().valid_up_to()
                            })
                        ),
                    }
                }
            }
            Op::SliceReadAll(n) => match b.slice(n) {
                Ok(mut s) => {
                    let expected = m.take(n);
                    assert_eq!((s.len(), s.malloc_len()), (n, 0));
                    let mut got = Vec::new();
                    while !s.is_empty() {
                        let k = s.len().min(7);
                        got.extend_from_slice(&s.next(k).unwrap());
                    }
                    assert_eq!(got, expected);
                    s.release();
                }
                Err(e) => assert_eq!(e, m.not_enough(n)),
            },
            Op::Release => b.release(),
        }
        assert_eq!(self.buf.len(), self.model.readable.len(), "len()");
        assert_eq!(self.buf.is_empty(), self.model.readable.is_empty());
        assert_eq!(
            self.buf.malloc_len(),
            self.model.pending.len(),
            "malloc_len()"
        );
    }
}

fn run(ops: Vec<Op>) {
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes: 1 << 20,
        min_class_size: 64,
        max_class_size: 1 << 16,
        ..PoolConfig::default()
    });
    let mut case = Case {
        buf: LinkBuffer::with_chunk_size(pool.clone(), 64),
        pool: pool.clone(),
        model: Model::default(),
        held: Vec::new(),
    };
    for op in ops {
        case.apply(op);
    }
    // Drain everything: what was written comes out, in order.
    case.buf.flush();
    let mut rest = std::mem::take(&mut case.model.pending);
    let mut all = std::mem::take(&mut case.model.readable);
    all.append(&mut rest);
    assert_eq!(case.buf.read_binary(all.len()).unwrap(), all);
    assert!(case.buf.is_empty());
    case.buf.release();
    // Views stay unchanged through everything that happened after they were taken.
    for (view, expected) in &case.held {
        assert_eq!(&view[..], &expected[..], "a held view changed");
    }
    drop(case);
    assert_eq!(
        pool.stats().bytes_in_use,
        0,
        "every chunk returned to the pool"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(10_000))]

    #[test]
    fn link_buffer_matches_vec_model(ops in prop::collection::vec(op(), 1..20)) {
        run(ops);
    }
}
