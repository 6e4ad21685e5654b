//! Tests of the writer methods.

use bytes::Bytes;

use super::{not_enough, pattern, pool, small};
use crate::buffer::{BufferPool, LinkBuffer, PoolConfig};

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
fn malloc_is_zero_filled_even_on_reused_memory() {
    let pool = BufferPool::new(PoolConfig {
        max_cached_bytes: 1 << 20,
        min_class_size: 4096,
        max_class_size: 4096,
        ..PoolConfig::default()
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
