//! Unit tests of `LinkBuffer`: every method, its edge cases, and the sharing guarantees.

use std::io::IoSlice;

use bytes::Bytes;

use super::{LinkBuffer, DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE};
use crate::buffer::{BufferError, BufferPool, PoolConfig};

/// A private pool (tests run in parallel, so the global pool's counters are not ours).
fn pool() -> BufferPool {
    BufferPool::new(PoolConfig {
        max_cached_bytes: 16 << 20,
        min_class_size: 64,
        max_class_size: 1 << 20,
    })
}

/// A buffer whose chunks hold 64 bytes at first, to cross chunk boundaries with little data.
fn small(pool: &BufferPool) -> LinkBuffer {
    LinkBuffer::with_chunk_size(pool.clone(), 64)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn not_enough(need: usize, have: usize) -> BufferError {
    BufferError::NotEnough { need, have }
}

#[test]
fn empty_buffer_reads() {
    let pool = pool();
    let mut b = LinkBuffer::with_pool(pool.clone());
    assert!(b.is_empty());
    assert_eq!((b.len(), b.malloc_len()), (0, 0));
    assert_eq!(b.next(0).unwrap(), Bytes::new());
    assert_eq!(b.peek(0).unwrap(), Bytes::new());
    assert_eq!(b.read_binary(0).unwrap(), Vec::<u8>::new());
    assert_eq!(b.read_string(0).unwrap(), "");
    assert_eq!(b.slice(0).unwrap().len(), 0);
    b.skip(0).unwrap();
    assert_eq!(b.next(1), Err(not_enough(1, 0)));
    assert_eq!(b.peek(1), Err(not_enough(1, 0)));
    assert_eq!(b.skip(1), Err(not_enough(1, 0)));
    assert_eq!(b.read_byte(), Err(not_enough(1, 0)));
    assert_eq!(b.read_binary(2), Err(not_enough(2, 0)));
    assert_eq!(b.read_string(3).unwrap_err(), not_enough(3, 0));
    assert_eq!(b.slice(1).unwrap_err(), not_enough(1, 0));
    assert_eq!(b.until(b'\n'), Err(BufferError::NotFound));
    b.release();
    b.flush();
    assert_eq!(
        pool.stats().bytes_in_use,
        0,
        "an empty buffer allocates nothing"
    );
}

#[test]
fn writes_are_pending_until_flush() {
    let pool = pool();
    let mut b = LinkBuffer::with_pool(pool);
    b.write_binary(b"ab");
    b.write_string("cd");
    b.write_byte(b'e');
    b.write_binary(b"");
    assert_eq!((b.len(), b.malloc_len()), (0, 5));
    assert_eq!(b.next(1), Err(not_enough(1, 0)));
    b.flush();
    assert_eq!((b.len(), b.malloc_len()), (5, 0));
    assert!(!b.is_empty());
    b.write_binary(b"fg");
    assert_eq!((b.len(), b.malloc_len()), (5, 2));
    assert_eq!(b.next(6), Err(not_enough(6, 5)));
    assert_eq!(&b.next(5).unwrap()[..], b"abcde");
    b.flush();
    assert_eq!(&b.next(2).unwrap()[..], b"fg");
}

#[test]
fn next_is_zero_copy_within_a_chunk() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_binary(b"hello world");
    b.flush();
    let a = b.next(5).unwrap();
    let c = b.next(6).unwrap();
    assert_eq!((&a[..], &c[..]), (&b"hello"[..], &b" world"[..]));
    assert_eq!(a.as_ptr().wrapping_add(5), c.as_ptr(), "views of one chunk");
}

#[test]
fn write_flush_write_flush_stays_contiguous() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_binary(b"abc");
    b.flush();
    b.write_binary(b"def");
    b.flush();
    assert_eq!(b.segment_count(), 1, "adjacent ranges merge at flush");
    let all = b.next(6).unwrap();
    assert_eq!(&all[..], b"abcdef");
}

#[test]
fn reads_spanning_many_chunks() {
    let pool = pool();
    let mut b = small(&pool);
    let data = pattern(5000, 7);
    for piece in data.chunks(50) {
        b.write_binary(piece);
    }
    b.flush();
    assert!(b.segment_count() > 5);
    assert_eq!(b.len(), 5000);
    assert_eq!(&b.peek(5000).unwrap()[..], &data[..]);
    assert_eq!(b.len(), 5000, "peek does not advance");
    assert_eq!(&b.next(120).unwrap()[..], &data[..120]);
    b.skip(1000).unwrap();
    assert_eq!(b.read_byte().unwrap(), data[1120]);
    assert_eq!(b.read_binary(879).unwrap(), &data[1121..2000]);
    assert_eq!(&b.next(3000).unwrap()[..], &data[2000..]);
    assert!(b.is_empty());
}

#[test]
fn until_finds_delimiters_including_at_chunk_boundaries() {
    let pool = pool();
    let mut b = small(&pool);
    // The first chunk holds exactly 64 bytes; its last byte is a delimiter, and so is the
    // first byte of the next chunk.
    let mut first = vec![b'a'; 63];
    first.push(b'\n');
    b.write_binary(&first);
    b.write_binary(b"\nxyz\n");
    b.write_binary(b"tail-without-delim");
    b.flush();
    assert!(b.segment_count() >= 2);
    assert_eq!(&b.until(b'\n').unwrap()[..], &first[..]);
    assert_eq!(&b.until(b'\n').unwrap()[..], b"\n");
    assert_eq!(&b.until(b'\n').unwrap()[..], b"xyz\n");
    assert_eq!(b.until(b'\n'), Err(BufferError::NotFound));
    assert_eq!(b.len(), 18, "a failed until consumes nothing");
    // Delimiter only in pending bytes: not found either.
    b.write_binary(b"\n");
    assert_eq!(b.until(b'\n'), Err(BufferError::NotFound));
    b.flush();
    assert_eq!(&b.until(b'\n').unwrap()[..], b"tail-without-delim\n");
}

#[test]
fn until_across_a_boundary_copies_once() {
    let pool = pool();
    let mut b = small(&pool);
    b.write_binary(&[b'x'; 60]);
    b.write_binary(b"0123456789;"); // does not fit in the 4 spare bytes: new chunk
    b.write_bytes(Bytes::from_static(b"ab"));
    b.write_bytes(Bytes::from_static(b"c;"));
    b.flush();
    b.skip(60).unwrap();
    assert_eq!(&b.until(b';').unwrap()[..], b"0123456789;");
    assert_eq!(&b.until(b';').unwrap()[..], b"abc;");
}

#[test]
fn read_string_strict_and_lossy() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_string("héllo");
    b.write_binary(&[0xff, b'!']);
    b.flush();
    assert_eq!(b.read_string(6).unwrap(), "héllo");
    assert_eq!(
        b.read_string(2),
        Err(BufferError::InvalidUtf8 { valid_up_to: 0 })
    );
    assert_eq!(b.len(), 2, "nothing consumed on invalid UTF-8");
    assert_eq!(b.read_string_lossy(2).unwrap(), "\u{fffd}!");
    assert_eq!(b.read_string_lossy(1), Err(not_enough(1, 0)));
}

#[test]
fn read_binary_is_a_copy_and_read_byte_walks_chunks() {
    let pool = pool();
    let mut b = small(&pool);
    let data = pattern(200, 1);
    b.write_binary(&data[..100]);
    b.write_binary(&data[100..]);
    b.flush();
    let copy = b.read_binary(10).unwrap();
    assert_eq!(copy, &data[..10]);
    for &expected in &data[10..] {
        assert_eq!(b.read_byte().unwrap(), expected);
    }
    assert_eq!(b.read_byte(), Err(not_enough(1, 0)));
}

#[test]
fn slice_is_an_independent_reader_without_copy() {
    let pool = pool();
    let mut b = small(&pool);
    let data = pattern(300, 3);
    b.write_binary(&data[..100]);
    b.write_binary(&data[100..]);
    b.flush();
    let first_ptr = b.peek(1).unwrap().as_ptr();
    let mut s = b.slice(150).unwrap();
    assert_eq!((s.len(), s.malloc_len(), b.len()), (150, 0, 150));
    assert_eq!(s.peek(1).unwrap().as_ptr(), first_ptr, "same memory");
    // Reading, writing and releasing the original does not touch the slice.
    assert_eq!(&b.next(150).unwrap()[..], &data[150..]);
    b.write_binary(&pattern(500, 99));
    b.flush();
    b.skip(500).unwrap();
    b.release();
    drop(b);
    // The slice writes to a chunk of its own, after its shared bytes.
    s.write_binary(b"more");
    s.flush();
    assert_eq!(&s.next(150).unwrap()[..], &data[..150]);
    assert_eq!(&s.next(4).unwrap()[..], b"more");
    s.release();
    drop(s);
    assert_eq!(pool.stats().bytes_in_use, 0);
}

#[test]
fn views_survive_release_and_reuse_of_the_memory() {
    let pool = pool();
    let small_data = pattern(100, 11);
    let large_data = pattern(40_000, 13);
    let (small_view, large_view, spanning_view, slice_view);
    {
        let mut b = LinkBuffer::with_pool(pool.clone());
        b.write_binary(&small_data);
        b.write_binary(&large_data);
        b.flush();
        small_view = b.next(100).unwrap();
        large_view = b.next(30_000).unwrap();
        let mut s = b.slice(5_000).unwrap();
        slice_view = s.next(5_000).unwrap();
        spanning_view = {
            b.write_binary(&pattern(5_000, 17)); // new chunk: the next read spans two
            b.flush();
            b.next(10_000).unwrap()
        };
        b.release();
        s.release();
    }
    let held = pool.stats().bytes_in_use;
    assert!(held > 0, "views keep their chunks out of the pool");
    // Reuse every cached buffer, and allocate more, writing other bytes everywhere.
    for round in 0..20u8 {
        let mut other = LinkBuffer::with_pool(pool.clone());
        for _ in 0..20 {
            other.write_binary(&vec![round; 3000]);
            other.malloc(50_000).fill(round ^ 0x5a);
        }
        other.flush();
        while !other.is_empty() {
            let n = other.len().min(7000);
            assert!(other
                .next(n)
                .unwrap()
                .iter()
                .all(|&x| x == round || x == round ^ 0x5a));
        }
        other.release();
    }
    assert!(pool.stats().hits > 0, "the pool did reuse memory meanwhile");
    assert_eq!(&small_view[..], &small_data[..]);
    assert_eq!(&large_view[..], &large_data[..30_000]);
    assert_eq!(&slice_view[..], &large_data[30_000..35_000]);
    let mut expected = large_data[35_000..].to_vec();
    expected.extend_from_slice(&pattern(5_000, 17));
    assert_eq!(&spanning_view[..], &expected[..]);
    assert_eq!(pool.stats().bytes_in_use, held);
    drop((small_view, large_view, slice_view, spanning_view));
    assert_eq!(
        pool.stats().bytes_in_use,
        0,
        "everything returns once the views drop"
    );
}

#[test]
fn views_can_move_to_other_threads() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_binary(b"threaded");
    b.flush();
    let view = b.next(8).unwrap();
    drop(b);
    let back = std::thread::spawn(move || view.to_vec()).join().unwrap();
    assert_eq!(back, b"threaded");
}

#[test]
fn malloc_is_zero_filled_even_on_reused_memory() {
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes: 1 << 20,
        min_class_size: 4096,
        max_class_size: 4096,
    });
    let mut dirty = LinkBuffer::with_pool(pool.clone());
    dirty.write_binary(&[0xee; 4096]);
    dirty.flush();
    let ptr = dirty.peek(1).unwrap().as_ptr();
    drop(dirty);
    let mut b = LinkBuffer::with_pool(pool.clone());
    let m = b.malloc(4096);
    assert_eq!(m.as_ptr(), ptr, "the same memory was reused");
    assert!(m.iter().all(|&x| x == 0));
    m[..2].copy_from_slice(b"ok");
    assert_eq!(b.malloc_len(), 4096);
    b.malloc_ack(2).unwrap();
    b.flush();
    assert_eq!(&b.next(2).unwrap()[..], b"ok");
    assert!(b.malloc(0).is_empty());
    assert_eq!(b.malloc_len(), 0);
}

#[test]
fn malloc_ack_shrinks_and_reuses_the_space() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_binary(b"head");
    b.malloc(100)[..3].copy_from_slice(b"abc");
    assert_eq!(b.malloc_len(), 104);
    assert_eq!(b.malloc_ack(200), Err(not_enough(200, 104)));
    assert_eq!(b.malloc_len(), 104, "a failed ack changes nothing");
    b.malloc_ack(7).unwrap();
    assert_eq!(b.malloc_len(), 7);
    b.write_binary(b"def");
    b.flush();
    assert_eq!(
        b.segment_count(),
        1,
        "the next write reused the given-back space"
    );
    assert_eq!(&b.next(10).unwrap()[..], b"headabcdef");
    // Acking everything away after a flush rewinds to the frozen mark.
    b.malloc(50);
    b.malloc_ack(0).unwrap();
    b.write_byte(b'z');
    b.flush();
    assert_eq!(b.segment_count(), 1);
    assert_eq!(b.read_byte().unwrap(), b'z');
}

#[test]
fn malloc_ack_across_a_chunk_boundary() {
    let pool = pool();
    let mut b = small(&pool);
    b.write_binary(&[1; 60]);
    b.malloc(100).fill(2); // does not fit: new chunk
    b.write_bytes(Bytes::from_static(&[3; 10]));
    b.write_binary(&[4; 5]);
    assert_eq!(b.malloc_len(), 175);
    b.malloc_ack(58).unwrap(); // drops the 2s, the 3s, the 4s and two of the 1s
    assert_eq!(b.malloc_len(), 58);
    b.write_binary(&[5; 2]);
    b.flush();
    let mut expected = vec![1; 58];
    expected.extend_from_slice(&[5; 2]);
    assert_eq!(&b.next(60).unwrap()[..], &expected[..]);
    assert!(b.is_empty());
}

#[test]
fn malloc_ack_keeps_slices_of_the_tail_chunk_intact() {
    // A slice of the tail chunk appended back as pending data must survive an ack that
    // discards the tail's own pending bytes (the frozen mark stops the rewind).
    let mut a = LinkBuffer::with_pool(pool());
    a.write_binary(b"0123456789");
    a.flush();
    let s = a.slice(4).unwrap();
    a.write_binary(b"xy");
    a.append(s);
    a.write_binary(b"zz");
    assert_eq!(a.malloc_len(), 8);
    a.malloc_ack(6).unwrap();
    a.write_binary(b"!");
    a.flush();
    assert_eq!(&a.next(13).unwrap()[..], b"456789xy0123!");
}

#[test]
fn write_direct_inserts_before_the_remaining_bytes() {
    let mut b = LinkBuffer::with_pool(pool());
    b.malloc(4).copy_from_slice(b"HEAD");
    b.malloc(4).copy_from_slice(b"TAIL");
    let body = Bytes::from_static(b"-body-");
    assert_eq!(
        b.write_direct(body.clone(), 9),
        Err(not_enough(9, 8)),
        "remain_len beyond the pending bytes"
    );
    b.write_direct(Bytes::new(), 4).unwrap();
    b.write_direct(body.clone(), 4).unwrap();
    assert_eq!(b.malloc_len(), 14);
    b.write_direct(Bytes::from_static(b"<"), 14).unwrap(); // at the very front
    b.write_direct(Bytes::from_static(b">"), 0).unwrap(); // at the very end
    b.write_direct(Bytes::from_static(b"|"), 3).unwrap(); // inside a split segment again
    b.write_byte(b'.');
    b.flush();
    let all = b.next(b.len()).unwrap();
    assert_eq!(&all[..], b"<HEAD-body-TA|IL>.");
    b.write_binary(b"x");
    b.flush();
    b.write_direct(Bytes::from_static(b"y"), 0).unwrap();
    b.flush();
    assert_eq!(
        &b.next(2).unwrap()[..],
        b"xy",
        "readable bytes are never split"
    );
}

#[test]
fn write_direct_splits_shared_segments() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_bytes(Bytes::from_static(b"abcdef"));
    b.write_direct(Bytes::from_static(b"123"), 2).unwrap();
    b.flush();
    assert_eq!(&b.next(9).unwrap()[..], b"abcd123ef");
}

#[test]
fn write_bytes_is_by_reference() {
    let mut b = LinkBuffer::with_pool(pool());
    let data = Bytes::from(pattern(1000, 5));
    b.write_bytes(data.clone());
    b.write_bytes(Bytes::new());
    assert_eq!(b.malloc_len(), 1000);
    b.flush();
    let view = b.next(1000).unwrap();
    assert_eq!(view.as_ptr(), data.as_ptr(), "no copy");
}

#[test]
fn append_takes_unread_and_pending_data_by_reference() {
    let pool = pool();
    let mut a = LinkBuffer::with_pool(pool.clone());
    a.write_binary(b"A-readable|");
    a.flush();
    a.write_binary(b"A-pending|");
    let mut other = LinkBuffer::with_pool(pool.clone());
    other.write_binary(b"xxB-readable|");
    other.flush();
    other.skip(2).unwrap();
    let other_ptr = other.peek(1).unwrap().as_ptr();
    other.write_binary(b"B-pending|");
    a.append(other);
    assert_eq!((a.len(), a.malloc_len()), (11, 10 + 11 + 10));
    a.write_binary(b"A-after");
    a.flush();
    assert_eq!(&a.next(11).unwrap()[..], b"A-readable|");
    assert_eq!(&a.next(10).unwrap()[..], b"A-pending|");
    let b_part = a.next(11).unwrap();
    assert_eq!(&b_part[..], b"B-readable|");
    assert_eq!(b_part.as_ptr(), other_ptr, "appended without a copy");
    assert_eq!(&a.next(17).unwrap()[..], b"B-pending|A-after");
    a.append(LinkBuffer::with_pool(pool.clone()));
    assert_eq!(a.malloc_len(), 0);
    a.release();
    drop((a, b_part));
    assert_eq!(pool.stats().bytes_in_use, 0);
}

#[test]
fn reserve_and_commit_fill_without_zeroing() {
    let pool = pool();
    let mut b = small(&pool);
    assert_eq!(b.spare_len(), 0);
    assert_eq!(b.commit(1), Err(not_enough(1, 0)));
    let spare = b.reserve(10);
    assert!(spare.len() >= 64);
    spare[..5].copy_from_slice(b"hello");
    let spare_len = b.spare_len();
    assert_eq!(
        b.commit(spare_len + 1),
        Err(not_enough(spare_len + 1, spare_len))
    );
    b.commit(5).unwrap();
    assert_eq!((b.len(), b.malloc_len()), (5, 0));
    b.reserve(1)[..6].copy_from_slice(b" world");
    b.commit(6).unwrap();
    assert_eq!(b.segment_count(), 1, "consecutive commits stay contiguous");
    // A reservation larger than the spare takes a new chunk.
    let big = b.reserve(1000);
    assert!(big.len() >= 1000);
    big[..3].copy_from_slice(b"!!!");
    b.commit(3).unwrap();
    b.commit(0).unwrap();
    assert_eq!(&b.next(14).unwrap()[..], b"hello world!!!");
}

#[test]
fn io_slices_and_advance_after_partial_writes() {
    let pool = pool();
    let mut b = small(&pool);
    let data = pattern(300, 21);
    for piece in data.chunks(60) {
        b.write_bytes(Bytes::copy_from_slice(piece));
    }
    b.write_binary(b"pending");
    assert_eq!(
        b.io_slices(&mut [IoSlice::new(&[]); 3]),
        0,
        "nothing readable yet"
    );
    b.flush();
    {
        let mut slots = [IoSlice::new(&[]); 3];
        assert_eq!(b.io_slices(&mut slots), 3);
        assert_eq!(&*slots[0], &data[..60]);
        let mut many = [IoSlice::new(&[]); 16];
        let n = b.io_slices(&mut many);
        assert_eq!(n, 6);
        let joined: Vec<u8> = many[..n].iter().flat_map(|s| s.iter().copied()).collect();
        assert_eq!(&joined[..300], &data[..]);
        assert_eq!(&joined[300..], b"pending");
        let via_iter: Vec<u8> = b.readable_slices().flatten().copied().collect();
        assert_eq!(via_iter, joined);
    }
    // The kernel took 130 bytes.
    b.advance(130).unwrap();
    {
        let mut slots = [IoSlice::new(&[]); 3];
        assert_eq!(b.io_slices(&mut slots), 3);
        assert_eq!(&*slots[0], &data[130..180]);
    }
    assert_eq!(b.advance(1000), Err(not_enough(1000, 177)));
    b.advance(177).unwrap();
    assert_eq!(b.io_slices(&mut [IoSlice::new(&[]); 3]), 0);
}

#[test]
fn chunk_size_adapts() {
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes: 0,
        ..PoolConfig::default()
    });
    let mut b = LinkBuffer::with_pool(pool.clone());
    let mut expected = 0;
    let mut size = DEFAULT_CHUNK_SIZE;
    for _ in 0..8 {
        b.write_binary(&vec![7; size]); // fills the chunk: the next write takes a new one
        expected += size;
        assert_eq!(pool.stats().bytes_in_use, expected);
        size = (size * 2).min(MAX_CHUNK_SIZE);
    }
    // One large write gets one chunk of its own size: a zero-copy read.
    b.write_binary(&vec![9; 200_000]);
    b.flush();
    b.skip(b.len() - 200_000).unwrap();
    let view = b.peek(200_000).unwrap();
    assert!(view.iter().all(|&x| x == 9));
    assert_eq!(b.segment_count(), 1);
    drop(view);
    b.skip(200_000).unwrap();
    b.release();
    assert_eq!(pool.stats().bytes_in_use, 0);
    // After release the size starts small again.
    b.write_byte(1);
    assert_eq!(pool.stats().bytes_in_use, DEFAULT_CHUNK_SIZE);
}

#[test]
fn release_keeps_what_is_unread() {
    let pool = pool();
    let mut b = LinkBuffer::with_pool(pool.clone());
    b.write_binary(b"abcdef");
    b.flush();
    b.skip(2).unwrap();
    b.release();
    b.write_binary(b"gh");
    b.release();
    assert_eq!(b.malloc_len(), 2);
    b.flush();
    assert_eq!(&b.next(6).unwrap()[..], b"cdefgh");
    b.release();
    assert_eq!(
        pool.stats().bytes_in_use,
        0,
        "an empty released buffer holds no memory"
    );
}

#[test]
fn everything_returns_to_the_pool() {
    let pool = pool();
    {
        let mut b = small(&pool);
        let mut views = Vec::new();
        for i in 0..50u8 {
            b.write_binary(&pattern(37 * i as usize, i));
            b.malloc(13);
            b.malloc_ack(b.malloc_len() - 5).unwrap();
            b.flush();
            if b.len() > 100 {
                views.push(b.next(100).unwrap());
                let mut s = b.slice(b.len() / 2).unwrap();
                s.skip(1).unwrap();
                views.push(s.next(s.len()).unwrap());
            }
        }
        assert!(pool.stats().bytes_in_use > 0);
    }
    assert_eq!(pool.stats().bytes_in_use, 0);
    assert!(pool.stats().bytes_cached > 0);
}

#[test]
fn link_buffer_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LinkBuffer>();
    check::<BufferPool>();
}

#[test]
fn debug_output_names_the_cursors() {
    let mut b = LinkBuffer::with_pool(pool());
    b.write_binary(b"abc");
    let text = format!("{b:?}");
    assert!(text.contains("malloc_len: 3"), "{text}");
}
