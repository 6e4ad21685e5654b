//! The server name (SNI) a client sent, read from its ClientHello. rustls' unbuffered server
//! connection does not expose it (0.23), so the server session reads it from the plaintext
//! handshake records before rustls decrypts anything in place, the way rustls itself
//! normalizes it: a DNS name in lower case; an IP literal is not a server name.

/// Most handshake bytes collected while looking for the ClientHello (the largest message
/// rustls accepts).
const MAX_HELLO: usize = 0xffff;

/// Collects the plaintext handshake records that start a connection until they hold the
/// whole ClientHello. Each byte is looked at a bounded number of times, however the client
/// splits its records.
#[derive(Default)]
pub(crate) struct SniReader {
    /// The start of a record not yet complete.
    record: Vec<u8>,
    /// The handshake bytes of the complete records so far.
    hs: Vec<u8>,
}

/// What [`SniReader::feed`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sni {
    /// More bytes are needed.
    More,
    /// The ClientHello is complete (or can never be): its server name, if any.
    Done(Option<String>),
}

impl SniReader {
    /// Feeds the next bytes from the client.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Sni {
        while !bytes.is_empty() {
            let need = if self.record.len() < 5 {
                5 - self.record.len()
            } else {
                5 + usize::from(u16::from_be_bytes([self.record[3], self.record[4]]))
                    - self.record.len()
            };
            let n = need.min(bytes.len());
            self.record.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.record[0] != 22 {
                return Sni::Done(None); // not a handshake record: rustls fails the handshake
            }
            let len = match self.record.get(3..5) {
                Some(l) => usize::from(u16::from_be_bytes([l[0], l[1]])),
                None => continue,
            };
            if self.record.len() == 5 + len {
                self.hs.extend_from_slice(&self.record[5..]);
                self.record.clear();
                if let Some(done) = self.hello() {
                    return done;
                }
            }
        }
        Sni::More
    }

    /// The result once the handshake bytes hold the ClientHello (or show there is none).
    fn hello(&self) -> Option<Sni> {
        let hs = &self.hs;
        if hs.len() < 4 {
            return None;
        }
        if hs[0] != 1 {
            return Some(Sni::Done(None));
        }
        let len = usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]);
        if len > MAX_HELLO {
            return Some(Sni::Done(None));
        }
        (hs.len() >= 4 + len).then(|| Sni::Done(server_name(&hs[4..4 + len])))
    }
}

/// A reader over a byte slice whose reads fail (`None`) past the end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }

    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }

    /// A vector with a `width`-byte length prefix.
    fn vec(&mut self, width: usize) -> Option<&'a [u8]> {
        let n = if width == 1 { self.u8()? } else { self.u16()? };
        self.take(n)
    }
}

/// The host name of the server_name extension of a ClientHello body.
fn server_name(hello: &[u8]) -> Option<String> {
    let mut c = Cursor(hello);
    c.take(2 + 32)?; // legacy_version, random
    c.vec(1)?; // legacy_session_id
    c.vec(2)?; // cipher_suites
    c.vec(1)?; // legacy_compression_methods
    let mut ext = Cursor(c.vec(2)?);
    while !ext.0.is_empty() {
        let typ = ext.u16()?;
        let body = ext.vec(2)?;
        if typ != 0 {
            continue;
        }
        let mut list = Cursor(Cursor(body).vec(2)?);
        while !list.0.is_empty() {
            let kind = list.u8()?;
            let name = list.vec(2)?;
            if kind == 0 {
                let name = std::str::from_utf8(name).ok()?;
                if name.parse::<std::net::IpAddr>().is_ok() {
                    return None;
                }
                return Some(name.to_ascii_lowercase());
            }
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{Sni, SniReader};

    /// A ClientHello record carrying `name` (or no server_name extension), cut into records of
    /// at most `fragment` body bytes.
    fn hello(name: Option<&str>, fragment: usize) -> Vec<u8> {
        let mut ext = vec![0, 43, 0, 3, 2, 3, 4]; // supported_versions first
        if let Some(n) = name {
            let mut entry = vec![0];
            entry.extend_from_slice(&(n.len() as u16).to_be_bytes());
            entry.extend_from_slice(n.as_bytes());
            let mut list = (entry.len() as u16).to_be_bytes().to_vec();
            list.extend_from_slice(&entry);
            ext.extend_from_slice(&[0, 0]);
            ext.extend_from_slice(&(list.len() as u16).to_be_bytes());
            ext.extend_from_slice(&list);
        }
        let mut body = vec![3, 3];
        body.extend_from_slice(&[9; 32]);
        body.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend_from_slice(&ext);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend_from_slice(&body);
        let mut out = Vec::new();
        for piece in hs.chunks(fragment) {
            out.extend_from_slice(&[22, 3, 1]);
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
        out
    }

    #[test]
    fn the_server_name_is_read_from_whole_split_and_fragmented_hellos() {
        for fragment in [1, 7, 1 << 14] {
            let wire = hello(Some("Example.COM"), fragment);
            for chunk in [1, 3, wire.len()] {
                let mut r = SniReader::default();
                let mut found = Sni::More;
                for piece in wire.chunks(chunk) {
                    assert_eq!(found, Sni::More, "done before the last byte");
                    found = r.feed(piece);
                }
                assert_eq!(found, Sni::Done(Some("example.com".into())));
            }
        }
    }

    #[test]
    fn no_extension_an_ip_literal_and_garbage_give_no_name() {
        assert_eq!(
            SniReader::default().feed(&hello(None, 1 << 14)),
            Sni::Done(None)
        );
        let ip = hello(Some("127.0.0.1"), 1 << 14);
        assert_eq!(SniReader::default().feed(&ip), Sni::Done(None));
        assert_eq!(
            SniReader::default().feed(b"GET / HTTP/1.1\r\n"),
            Sni::Done(None)
        );
        let mut cut = hello(Some("a.example"), 1 << 14);
        cut.truncate(cut.len() - 3);
        assert_eq!(SniReader::default().feed(&cut), Sni::More);
    }
}
