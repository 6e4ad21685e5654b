//! Tests of the reader methods.

use bytes::Bytes;

use super::{not_enough, pattern, pool, small};
use crate::buffer::{BufferError, LinkBuffer};

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
fn read_into_and_peek_into_copy_across_chunks() {
    let pool = pool();
    let mut b = small(&pool);
    let data = pattern(300, 5);
    b.write_binary(&data[..100]);
    b.write_bytes(Bytes::copy_from_slice(&data[100..150]));
    b.write_binary(&data[150..]);
    b.flush();
    let mut dst = [0u8; 120];
    b.peek_into(&mut dst).unwrap();
    assert_eq!(&dst[..], &data[..120]);
    assert_eq!(b.len(), 300, "peek_into does not consume");
    b.read_into(&mut dst).unwrap();
    assert_eq!(&dst[..], &data[..120]);
    let mut rest = [0u8; 181];
    assert_eq!(b.read_into(&mut rest), Err(not_enough(181, 180)));
    assert_eq!(b.peek_into(&mut rest), Err(not_enough(181, 180)));
    assert_eq!(b.len(), 180, "a failed read_into consumes nothing");
    b.read_into(&mut rest[..180]).unwrap();
    assert_eq!(&rest[..180], &data[120..]);
    b.read_into(&mut []).unwrap();
}
