//! Tests of the socket-side helpers.

use std::io::IoSlice;

use bytes::Bytes;

use super::{not_enough, pattern, pool, small};

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
