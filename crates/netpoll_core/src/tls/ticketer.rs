//! Session tickets sealed with AES-256-GCM under Node-style 48-byte `ticketKeys`, valid for
//! `sessionTimeout`.
//!
//! # Design
//!
//! rustls' own ticketer has a fixed 12-hour lifetime and random keys; Node lets servers share
//! keys (a cluster resuming each other's sessions) and bound resumption by `sessionTimeout`.
//! A ticket is `key name (16) ‖ nonce (12) ‖ AES-256-GCM(issued-at (8, big-endian secs) ‖
//! session state)`, with the key name as associated data. A ticket with another key name, a
//! bad tag, or older than the timeout decrypts to `None`, so the handshake falls back to a full
//! one (never an error).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use rustls::server::ProducesTickets;

/// A [`ProducesTickets`] for one set of ticket keys.
pub struct Ticketer {
    name: [u8; 16],
    key: LessSafeKey,
    lifetime: Duration,
}

impl std::fmt::Debug for Ticketer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticketer")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Ticketer {
    /// A ticketer for `keys` (16 bytes of name, 32 of AES key) whose tickets last `lifetime`.
    pub fn new(keys: &[u8; 48], lifetime: Duration) -> Ticketer {
        let mut name = [0u8; 16];
        name.copy_from_slice(&keys[..16]);
        let key = UnboundKey::new(&AES_256_GCM, &keys[16..]).expect("AES-256 key is 32 bytes");
        Ticketer {
            name,
            key: LessSafeKey::new(key),
            lifetime,
        }
    }

    /// 48 random bytes for a context without `ticketKeys`.
    pub fn random_keys() -> [u8; 48] {
        let mut keys = [0u8; 48];
        aws_lc_rs::rand::fill(&mut keys).expect("system random source");
        keys
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ProducesTickets for Ticketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        u32::try_from(self.lifetime.as_secs()).unwrap_or(u32::MAX)
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).ok()?;
        let mut sealed = Vec::with_capacity(8 + plain.len() + 16);
        sealed.extend_from_slice(&now_secs().to_be_bytes());
        sealed.extend_from_slice(plain);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&self.name),
                &mut sealed,
            )
            .ok()?;
        let mut out = Vec::with_capacity(16 + NONCE_LEN + sealed.len());
        out.extend_from_slice(&self.name);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Some(out)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        if ticket.len() < 16 + NONCE_LEN + 8 + 16 || ticket[..16] != self.name {
            return None;
        }
        let nonce = Nonce::try_assume_unique_for_key(&ticket[16..16 + NONCE_LEN]).ok()?;
        let mut body = ticket[16 + NONCE_LEN..].to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(&self.name), &mut body)
            .ok()?;
        let issued = u64::from_be_bytes(plain[..8].try_into().ok()?);
        let age = now_secs().saturating_sub(issued);
        (age < self.lifetime.as_secs()).then(|| plain[8..].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let keys = Ticketer::random_keys();
        let t = Ticketer::new(&keys, Duration::from_secs(300));
        let sealed = t.encrypt(b"state").unwrap();
        assert_eq!(t.decrypt(&sealed).as_deref(), Some(&b"state"[..]));
        let same_keys = Ticketer::new(&keys, Duration::from_secs(300));
        assert_eq!(same_keys.decrypt(&sealed).as_deref(), Some(&b"state"[..]));
        let other = Ticketer::new(&Ticketer::random_keys(), Duration::from_secs(300));
        assert_eq!(other.decrypt(&sealed), None);
        let mut bad = sealed.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(t.decrypt(&bad), None);
        assert_eq!(t.decrypt(&sealed[..20]), None);
    }

    #[test]
    fn an_expired_ticket_does_not_resume() {
        let t = Ticketer::new(&Ticketer::random_keys(), Duration::ZERO);
        let mut sealed = t.encrypt(b"state").unwrap();
        // Re-seal with an issue time 10 s in the past.
        let mut body = (now_secs() - 10).to_be_bytes().to_vec();
        body.extend_from_slice(b"state");
        let nonce = [7u8; NONCE_LEN];
        t.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&t.name),
                &mut body,
            )
            .unwrap();
        sealed.truncate(16);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&body);
        assert_eq!(t.decrypt(&sealed), None);
    }
}
