//! What both ceiling servers (`serve.rs` on epoll, `serve_uring.rs` on io_uring) share: the
//! protocols, their framing check, the sink's acknowledgement step and the SIGUSR2 flag.

use std::sync::atomic::AtomicBool;

/// The sink answers each time its count crosses a multiple of this many bytes.
pub const SINK_ACK: u64 = 1 << 20;
/// Largest frame accepted (as the example servers' default `--max-frame`).
const MAX_FRAME: usize = 16 << 20;

/// Set by SIGUSR2: print the stats line at the next wake-up.
pub(crate) static STATS_WANTED: AtomicBool = AtomicBool::new(false);

/// What the server does with the bytes it reads (see the module doc).
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Protocol {
    Framed,
    Raw,
    Sink,
}

/// The length of the whole frames at the start of `buf`, or Err for a frame over MAX_FRAME.
pub(crate) fn whole_frames(buf: &[u8]) -> Result<usize, ()> {
    let mut at = 0;
    while buf.len() - at >= 4 {
        let n = u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
        if n > MAX_FRAME {
            return Err(());
        }
        if buf.len() - at < 4 + n {
            break;
        }
        at += 4 + n;
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frames_stops_at_a_partial_frame() {
        let mut b = vec![0, 0, 0, 2, 7, 7, 0, 0, 0, 3, 1];
        assert_eq!(whole_frames(&b), Ok(6));
        b.extend_from_slice(&[2, 3]);
        assert_eq!(whole_frames(&b), Ok(13));
        assert_eq!(whole_frames(&[0, 0]), Ok(0));
        assert_eq!(whole_frames(&[0xff, 0, 0, 0]), Err(()));
    }
}
