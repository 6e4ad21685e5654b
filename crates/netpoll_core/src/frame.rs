//! Length-prefixed frames over a [`LinkBuffer`]: a 4-byte big-endian payload length, then
//! that many payload bytes.
//!
//! ```text
//!   +--------+--------+--------+--------+-------------- ... --+
//!   |     length (u32, big-endian)      |  payload (length bytes) |
//!   +--------+--------+--------+--------+-------------- ... --+
//! ```
//!
//! [`FrameDecoder::decode`] takes whole frames off the front of the readable bytes. A peer
//! can't make it allocate or wait for more than its `max_frame` limit: a declared length over
//! the limit is refused with [`ERR_FRAME_TOO_LARGE`](crate::error::code::ERR_FRAME_TOO_LARGE)
//! as soon as the 4 header bytes are readable, before any body byte is awaited or copied.

use bytes::Bytes;

use crate::buffer::LinkBuffer;
use crate::error::{code, NetError};

/// Size of the length prefix: 4 bytes.
pub const HEADER_LEN: usize = 4;

/// The length prefix of a frame whose payload has `len` bytes: `len` as a big-endian `u32`.
pub fn encode_header(len: u32) -> [u8; HEADER_LEN] {
    len.to_be_bytes()
}

/// Decodes length-prefixed frames from a [`LinkBuffer`], refusing any frame whose declared
/// payload length exceeds `max_frame`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameDecoder {
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder accepting payloads of at most `max_frame` bytes.
    pub fn new(max_frame: usize) -> FrameDecoder {
        FrameDecoder { max_frame }
    }

    /// The largest payload length this decoder accepts.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Takes the next whole frame off the front of `buf`'s readable bytes and returns its
    /// payload (without the header).
    ///
    /// - `Ok(Some(payload))`: a whole frame was readable; its header and payload are consumed.
    ///   The payload is a zero-copy view when it lies in one chunk (see
    ///   [`LinkBuffer::next`]); an empty frame gives an empty `Bytes`.
    /// - `Ok(None)`: fewer than a whole frame is readable (header or payload incomplete);
    ///   nothing is consumed. Call again when more bytes arrive.
    /// - `Err(_)` with code `ERR_FRAME_TOO_LARGE`: the header declares more than
    ///   [`max_frame`](Self::max_frame) bytes. Returned as soon as the header is readable,
    ///   whatever follows it; nothing is consumed, and the stream can't be resynchronised
    ///   (the caller closes the connection).
    pub fn decode(&self, buf: &mut LinkBuffer) -> Result<Option<Bytes>, NetError> {
        let mut header = [0u8; HEADER_LEN];
        if buf.peek_into(&mut header).is_err() {
            return Ok(None);
        }
        let declared = u32::from_be_bytes(header);
        let len = match usize::try_from(declared) {
            Ok(len) if len <= self.max_frame => len,
            _ => {
                return Err(NetError::new(
                    code::ERR_FRAME_TOO_LARGE,
                    format!(
                        "frame of {declared} bytes exceeds the maximum of {} bytes",
                        self.max_frame
                    ),
                ))
            }
        };
        if buf.len() - HEADER_LEN < len {
            return Ok(None);
        }
        buf.skip(HEADER_LEN)
            .expect("the header bytes were just peeked");
        let payload = buf.next(len).expect("the payload length was just checked");
        Ok(Some(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_header, FrameDecoder, HEADER_LEN};
    use crate::buffer::{BufferPool, LinkBuffer, PoolConfig};
    use crate::error::code;

    /// A buffer with tiny chunks, so frames cross chunk boundaries.
    fn small_buffer() -> LinkBuffer {
        let pool = BufferPool::new(PoolConfig {
            max_cached_bytes: 1 << 16,
            min_class_size: 8,
            max_class_size: 1 << 12,
            ..PoolConfig::default()
        });
        LinkBuffer::with_chunk_size(pool, 8)
    }

    fn push(buf: &mut LinkBuffer, bytes: &[u8]) {
        buf.write_binary(bytes);
        buf.flush();
    }

    fn frame(payload: &[u8]) -> Vec<u8> {
        let len = u32::try_from(payload.len()).unwrap();
        let mut out = encode_header(len).to_vec();
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn header_is_big_endian() {
        assert_eq!(encode_header(0x0102_0304), [1, 2, 3, 4]);
        assert_eq!(encode_header(0), [0; HEADER_LEN]);
    }

    #[test]
    fn incomplete_frames_consume_nothing() {
        let dec = FrameDecoder::new(100);
        let mut buf = small_buffer();
        assert_eq!(dec.decode(&mut buf), Ok(None));
        let bytes = frame(b"hello, world");
        for (i, &b) in bytes.iter().enumerate() {
            assert_eq!(dec.decode(&mut buf), Ok(None), "after {i} bytes");
            assert_eq!(buf.len(), i);
            push(&mut buf, &[b]);
        }
        assert_eq!(
            dec.decode(&mut buf).unwrap().as_deref(),
            Some(&b"hello, world"[..])
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn several_frames_in_one_read() {
        let dec = FrameDecoder::new(1000);
        let mut buf = small_buffer();
        let payloads: [&[u8]; 4] = [b"a", b"", &[7; 300], b"last"];
        let mut wire: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        wire.extend_from_slice(&[0, 0]);
        push(&mut buf, &wire);
        for p in payloads {
            assert_eq!(dec.decode(&mut buf).unwrap().as_deref(), Some(p));
        }
        assert_eq!(dec.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 2);
    }

    #[test]
    fn limit_is_inclusive() {
        let dec = FrameDecoder::new(5);
        assert_eq!(dec.max_frame(), 5);
        let mut buf = small_buffer();
        push(&mut buf, &frame(b"12345"));
        assert_eq!(
            dec.decode(&mut buf).unwrap().as_deref(),
            Some(&b"12345"[..])
        );
    }

    #[test]
    fn oversized_header_fails_before_the_body() {
        let dec = FrameDecoder::new(5);
        let mut buf = small_buffer();
        push(&mut buf, &encode_header(6));
        let err = dec.decode(&mut buf).unwrap_err();
        assert!(err.is(code::ERR_FRAME_TOO_LARGE));
        assert_eq!(
            err.message,
            "frame of 6 bytes exceeds the maximum of 5 bytes"
        );
        assert_eq!(buf.len(), HEADER_LEN, "nothing consumed");
        let huge = FrameDecoder::new(1 << 20);
        let mut buf = small_buffer();
        push(&mut buf, &encode_header(u32::MAX));
        assert!(huge
            .decode(&mut buf)
            .unwrap_err()
            .is(code::ERR_FRAME_TOO_LARGE));
    }

    #[test]
    fn pending_bytes_are_not_decoded() {
        let dec = FrameDecoder::new(10);
        let mut buf = small_buffer();
        buf.write_binary(&frame(b"xy"));
        assert_eq!(dec.decode(&mut buf), Ok(None));
        buf.flush();
        assert_eq!(dec.decode(&mut buf).unwrap().as_deref(), Some(&b"xy"[..]));
    }
}
