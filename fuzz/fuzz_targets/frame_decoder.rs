//! Fuzz target: `FrameDecoder` over a byte stream that arrives in fuzzer-chosen pieces,
//! checked against a reference decoder working on one contiguous slice.
//!
//! Input layout: 2 bytes of `max_frame` (big-endian), 1 byte of first chunk size, 1 byte
//! `k` then `k % 16` piece lengths, then the stream itself. The stream is fed piece by piece
//! (the lengths cycle; a zero length feeds nothing), alternately through `write_binary` +
//! `flush` and `reserve` + `commit`, and after each piece every whole frame is decoded. Each
//! result must equal the reference's; a refused frame must leave the buffer untouched and ends
//! the stream; a decode that returns no frame must not take memory from the pool. At the end
//! every payload handed out is compared again with the stream.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use netpoll_core::buffer::{BufferPool, LinkBuffer, PoolConfig};
use netpoll_core::error::code;
use netpoll_core::frame::{FrameDecoder, HEADER_LEN};

/// What the reference decoder finds at `pos` in the first `fed` bytes of the stream.
#[derive(Debug, PartialEq, Eq)]
enum Expect {
    /// A whole frame whose payload is `stream[start..start + len]`.
    Frame { start: usize, len: usize },
    /// Not enough bytes yet.
    Incomplete,
    /// The declared length exceeds the limit.
    TooLarge,
}

/// The reference: a plain reading of the format over contiguous bytes.
fn reference(avail: &[u8], max_frame: usize) -> Expect {
    let Some(header) = avail.get(..HEADER_LEN) else {
        return Expect::Incomplete;
    };
    let len = u32::from_be_bytes(header.try_into().expect("4 bytes")) as usize;
    if len > max_frame {
        Expect::TooLarge
    } else if avail.len() - HEADER_LEN >= len {
        Expect::Frame {
            start: HEADER_LEN,
            len,
        }
    } else {
        Expect::Incomplete
    }
}

fn split_input(data: &[u8]) -> Option<(usize, usize, Vec<usize>, &[u8])> {
    let (&[hi, lo, chunk, k], rest) = data.split_first_chunk::<4>()?;
    let k = usize::from(k % 16);
    let lens = rest.get(..k)?.iter().map(|&b| usize::from(b)).collect();
    let max_frame = usize::from(u16::from_be_bytes([hi, lo]));
    Some((max_frame, 1 + usize::from(chunk), lens, &rest[k..]))
}

fuzz_target!(|data: &[u8]| {
    let Some((max_frame, first_chunk, mut lens, stream)) = split_input(data) else {
        return;
    };
    if lens.iter().all(|&n| n == 0) {
        lens = vec![stream.len().max(1)];
    }
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes: 0,
        min_class_size: 64,
        max_class_size: 1 << 17,
        ..PoolConfig::default()
    });
    let decoder = FrameDecoder::new(max_frame);
    let mut buf = LinkBuffer::with_chunk_size(pool.clone(), first_chunk);
    let mut payloads: Vec<(Bytes, usize)> = Vec::new();
    let (mut fed, mut pos, mut piece) = (0, 0, 0);
    'feed: while fed < stream.len() {
        let n = lens[piece % lens.len()].min(stream.len() - fed);
        let bytes = &stream[fed..fed + n];
        if piece % 2 == 0 {
            buf.write_binary(bytes);
            buf.flush();
        } else {
            buf.reserve(n)[..n].copy_from_slice(bytes);
            buf.commit(n).expect("n <= spare");
        }
        piece += 1;
        fed += n;
        loop {
            assert_eq!(buf.len(), fed - pos, "unconsumed bytes");
            let in_use = pool.stats().bytes_in_use;
            let got = decoder.decode(&mut buf);
            match (reference(&stream[pos..fed], max_frame), got) {
                (Expect::Frame { start, len }, Ok(Some(payload))) => {
                    assert_eq!(&payload[..], &stream[pos + start..pos + start + len]);
                    payloads.push((payload, pos + start));
                    pos += start + len;
                }
                (Expect::Incomplete, Ok(None)) => {
                    assert_eq!(pool.stats().bytes_in_use, in_use, "no allocation");
                    break;
                }
                (Expect::TooLarge, Err(e)) => {
                    assert!(e.is(code::ERR_FRAME_TOO_LARGE), "{e:?}");
                    assert_eq!(buf.len(), fed - pos, "nothing consumed on error");
                    assert_eq!(pool.stats().bytes_in_use, in_use, "no allocation");
                    break 'feed;
                }
                (want, got) => panic!("at {pos} of {fed}: expected {want:?}, got {got:?}"),
            }
        }
    }
    for (payload, start) in &payloads {
        assert_eq!(
            &payload[..],
            &stream[*start..*start + payload.len()],
            "a payload changed"
        );
    }
    drop(payloads);
    drop(buf);
    assert_eq!(pool.stats().bytes_in_use, 0, "every chunk back in the pool");
});
