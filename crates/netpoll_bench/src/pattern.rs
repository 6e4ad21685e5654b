//! The bytes the load generator sends, and their byte-for-byte verification.
//!
//! Every payload is a window of one pattern with period 251 (a prime) whose bytes within a
//! period are all distinct, so a payload shifted by anything but a multiple of 251 (another
//! request's echo, a lost or duplicated byte) differs at its first byte. Each request starts
//! at its own offset, derived from the connection and the sequence number.

use std::fmt;

/// Period of the pattern.
pub const PERIOD: usize = 251;

/// The pattern, long enough for any payload of up to `max_len` bytes at any offset.
pub struct Pattern {
    bytes: Vec<u8>,
}

impl Pattern {
    /// A pattern for payloads of up to `max_len` bytes.
    pub fn new(max_len: usize) -> Self {
        // 113 is odd, so i * 113 is distinct modulo 256 for the 251 values of i.
        let bytes = (0..max_len + PERIOD)
            .map(|i| ((i % PERIOD) * 113 + 17) as u8)
            .collect();
        Pattern { bytes }
    }

    /// The offset of request `seq` on connection `conn`.
    pub fn offset(conn: usize, seq: u64) -> usize {
        ((conn as u64).wrapping_mul(7).wrapping_add(seq) % PERIOD as u64) as usize
    }

    /// `len` bytes starting at `offset` (< [`PERIOD`]).
    pub fn slice(&self, offset: usize, len: usize) -> &[u8] {
        &self.bytes[offset..offset + len]
    }

    /// Checks `got` against `len = got.len()` bytes at `offset`.
    pub fn verify(&self, offset: usize, got: &[u8]) -> Result<(), Mismatch> {
        let want = self.slice(offset, got.len());
        if got == want {
            return Ok(());
        }
        let at = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
        Err(Mismatch {
            at,
            got: got[at],
            want: want[at],
        })
    }
}

/// The first wrong byte of an echoed payload.
#[derive(Debug)]
pub struct Mismatch {
    /// Position in the payload (or in the stream).
    pub at: usize,
    /// Byte received.
    pub got: u8,
    /// Byte expected.
    pub want: u8,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "byte {} is {:#04x}, expected {:#04x}",
            self.at, self.got, self.want
        )
    }
}

/// Ends the process with status 3 after a verification failure: the benchmark must never
/// report numbers for a server that echoes wrong bytes.
pub fn fail_verification(what: &str) -> ! {
    eprintln!("netpoll-bench: VERIFICATION FAILED: {what}");
    std::process::exit(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_payloads_differ_at_their_first_byte() {
        let p = Pattern::new(64);
        for shift in 1..PERIOD {
            assert_ne!(p.slice(0, 1), p.slice(shift, 1));
        }
        assert!(p.verify(5, p.slice(5, 64)).is_ok());
        let e = p.verify(5, p.slice(6, 64)).unwrap_err();
        assert_eq!(e.at, 0);
    }
}
