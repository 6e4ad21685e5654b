//! A minimal, bounded DER reader for the few certificate fields JS sees: subject, issuer,
//! validity, serial number and subject alternative names (the shape of Node's
//! `getPeerCertificate()`).
//!
//! # Design
//!
//! `x509-parser` would pull in `nom`, `der-parser`, `asn1-rs`, `oid-registry` and `time` for
//! five fields; this reader walks `Certificate → TBSCertificate` with one TLV function,
//! never allocates more than the strings it returns, never recurses, and rejects any length
//! that runs past its input (so it is safe on hostile bytes: the certificate has already been
//! parsed by webpki when verification is on, but with `reject_unauthorized: false` it has not).
//! Names are reported with OpenSSL's short names (`CN`, `O`, `OU`, `C`, `ST`, `L`,
//! `emailAddress`, …) in certificate order; unknown attribute types keep their dotted OID.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A distinguished name: `(short name, value)` pairs in certificate order, e.g.
/// `[("C", "US"), ("O", "Example"), ("CN", "example.com")]`. Node groups repeated keys into
/// arrays; the binding does that when it builds the JS object.
pub type DistinguishedName = Vec<(String, String)>;

/// The fields of one certificate that Node's `getPeerCertificate()` reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertFields {
    /// The subject name.
    pub subject: DistinguishedName,
    /// The issuer name.
    pub issuer: DistinguishedName,
    /// `notBefore` in OpenSSL's format, as Node's `valid_from`: `"Mar  5 12:00:00 2025 GMT"`.
    pub valid_from: String,
    /// `notAfter` in OpenSSL's format, as Node's `valid_to`.
    pub valid_to: String,
    /// `notBefore` as seconds since the Unix epoch.
    pub not_before_unix: i64,
    /// `notAfter` as seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// The serial number in upper-case hex without leading zero bytes, as Node's `serialNumber`.
    pub serial_number: String,
    /// Subject alternative names as Node's `subjectaltname`: `"DNS:a.example, IP Address:127.0.0.1"`.
    pub subjectaltname: Option<String>,
    /// Whether the subject and issuer names are byte-for-byte equal (a self-issued certificate).
    pub self_issued: bool,
}

/// Parses the fields of a DER certificate; `None` if it is not a well-formed X.509 structure.
pub fn parse(der: &[u8]) -> Option<CertFields> {
    let mut input = der;
    let (_, cert) = expect(&mut input, SEQUENCE)?;
    let mut cert = cert;
    let (_, tbs) = expect(&mut cert, SEQUENCE)?;
    let mut tbs = tbs;
    if tbs.first() == Some(&0xa0) {
        tlv(&mut tbs)?; // [0] EXPLICIT version
    }
    let (_, serial) = expect(&mut tbs, INTEGER)?;
    expect(&mut tbs, SEQUENCE)?; // signature algorithm
    let (_, issuer_raw) = expect(&mut tbs, SEQUENCE)?;
    let (_, validity) = expect(&mut tbs, SEQUENCE)?;
    let (_, subject_raw) = expect(&mut tbs, SEQUENCE)?;
    expect(&mut tbs, SEQUENCE)?; // subjectPublicKeyInfo
    let mut subjectaltname = None;
    while !tbs.is_empty() {
        let (tag, body) = tlv(&mut tbs)?;
        if tag == 0xa3 {
            subjectaltname = find_san(body)?;
        }
    }
    let mut validity = validity;
    let (t1, not_before) = tlv(&mut validity)?;
    let (t2, not_after) = tlv(&mut validity)?;
    let not_before = parse_time(t1, not_before)?;
    let not_after = parse_time(t2, not_after)?;
    Some(CertFields {
        subject: parse_name(subject_raw)?,
        issuer: parse_name(issuer_raw)?,
        valid_from: not_before.openssl_format(),
        valid_to: not_after.openssl_format(),
        not_before_unix: not_before.unix(),
        not_after_unix: not_after.unix(),
        serial_number: hex_upper(strip_zeros(serial), ""),
        subjectaltname,
        self_issued: subject_raw == issuer_raw,
    })
}

/// Bytes as upper-case hex, joined by `sep` (`":"` for Node's `fingerprint256`).
pub fn hex_upper(bytes: &[u8], sep: &str) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    parts.join(sep)
}

const INTEGER: u8 = 0x02;
const OCTET_STRING: u8 = 0x04;
const OID: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// Reads one TLV from the front of `input`: `(tag, contents)`. Only single-byte tags and
/// lengths up to 4 bytes; `None` on truncation.
fn tlv<'a>(input: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    let (body, tail) = rest.split_at(len);
    *input = tail;
    Some((tag, body))
}

/// [`tlv`], requiring `tag`.
fn expect<'a>(input: &mut &'a [u8], tag: u8) -> Option<(u8, &'a [u8])> {
    let got = tlv(input)?;
    (got.0 == tag).then_some(got)
}

fn strip_zeros(mut b: &[u8]) -> &[u8] {
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    b
}

/// Name ::= SEQUENCE OF SET OF SEQUENCE { type OID, value ANY }.
fn parse_name(mut rdns: &[u8]) -> Option<DistinguishedName> {
    let mut out = Vec::new();
    while !rdns.is_empty() {
        let (_, mut set) = expect(&mut rdns, SET)?;
        while !set.is_empty() {
            let (_, mut atv) = expect(&mut set, SEQUENCE)?;
            let (_, oid) = expect(&mut atv, OID)?;
            let (tag, value) = tlv(&mut atv)?;
            out.push((attribute_name(oid), decode_string(tag, value)));
        }
    }
    Some(out)
}

fn attribute_name(oid: &[u8]) -> String {
    let short = match oid {
        [0x55, 0x04, 0x03] => "CN",
        [0x55, 0x04, 0x05] => "serialNumber",
        [0x55, 0x04, 0x06] => "C",
        [0x55, 0x04, 0x07] => "L",
        [0x55, 0x04, 0x08] => "ST",
        [0x55, 0x04, 0x09] => "street",
        [0x55, 0x04, 0x0a] => "O",
        [0x55, 0x04, 0x0b] => "OU",
        [0x55, 0x04, 0x11] => "postalCode",
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress",
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC",
        _ => return dotted_oid(oid),
    };
    short.to_string()
}

fn dotted_oid(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut acc: u64 = 0;
    for &b in oid {
        acc = (acc << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() {
                // The first subidentifier packs two arcs: 40 * first + second.
                let first = (acc / 40).min(2);
                parts.push(first.to_string());
                parts.push((acc - first * 40).to_string());
            } else {
                parts.push(acc.to_string());
            }
            acc = 0;
        }
    }
    parts.join(".")
}

/// Decodes the string types names use: BMPString as UTF-16BE, every other as UTF-8 (lossy;
/// PrintableString and IA5String are ASCII subsets of it).
fn decode_string(tag: u8, value: &[u8]) -> String {
    if tag == 0x1e {
        let units: Vec<u16> = value
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        return String::from_utf16_lossy(&units);
    }
    String::from_utf8_lossy(value).into_owned()
}

/// Finds subjectAltName (2.5.29.17) in the `[3]` extensions and formats it as OpenSSL does.
/// `Some(None)`: well-formed, no SAN.
fn find_san(explicit: &[u8]) -> Option<Option<String>> {
    let mut outer = explicit;
    let (_, mut exts) = expect(&mut outer, SEQUENCE)?;
    while !exts.is_empty() {
        let (_, mut ext) = expect(&mut exts, SEQUENCE)?;
        let (_, oid) = expect(&mut ext, OID)?;
        if oid != [0x55, 0x1d, 0x11] {
            continue;
        }
        if ext.first() == Some(&0x01) {
            tlv(&mut ext)?; // critical
        }
        let (_, mut value) = expect(&mut ext, OCTET_STRING)?;
        let (_, mut names) = expect(&mut value, SEQUENCE)?;
        let mut out = Vec::new();
        while !names.is_empty() {
            let (tag, v) = tlv(&mut names)?;
            match tag {
                0x81 => out.push(format!("email:{}", String::from_utf8_lossy(v))),
                0x82 => out.push(format!("DNS:{}", String::from_utf8_lossy(v))),
                0x86 => out.push(format!("URI:{}", String::from_utf8_lossy(v))),
                0x87 => out.push(format!("IP Address:{}", format_ip(v))),
                _ => {}
            }
        }
        return Some(Some(out.join(", ")));
    }
    Some(None)
}

fn format_ip(v: &[u8]) -> String {
    if let Ok(b) = <[u8; 4]>::try_from(v) {
        return Ipv4Addr::from(b).to_string();
    }
    if let Ok(b) = <[u8; 16]>::try_from(v) {
        return Ipv6Addr::from(b).to_string();
    }
    hex_upper(v, ":")
}

/// A UTC calendar time from a certificate.
struct Time {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// UTCTime (`YYMMDDHHMMSSZ`, years 1950–2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn parse_time(tag: u8, v: &[u8]) -> Option<Time> {
    let digits = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let (year, rest) = match (tag, v.len()) {
        (0x17, 13) => {
            let yy = i64::from(digits(&v[..2])?);
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &v[2..])
        }
        (0x18, 15) => (i64::from(digits(&v[..4])?), &v[4..]),
        _ => return None,
    };
    if rest[10] != b'Z' {
        return None;
    }
    let t = Time {
        year,
        month: digits(&rest[0..2])?,
        day: digits(&rest[2..4])?,
        hour: digits(&rest[4..6])?,
        minute: digits(&rest[6..8])?,
        second: digits(&rest[8..10])?,
    };
    let valid = (1..=12).contains(&t.month)
        && (1..=31).contains(&t.day)
        && t.hour < 24
        && t.minute < 60
        && t.second < 61;
    valid.then_some(t)
}

impl Time {
    /// OpenSSL's `ASN1_TIME_print`: `"Mar  5 12:00:00 2025 GMT"` (day padded with a space).
    fn openssl_format(&self) -> String {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{} {:2} {:02}:{:02}:{:02} {} GMT",
            MONTHS[self.month as usize - 1],
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }

    /// Seconds since the epoch (Howard Hinnant's days-from-civil).
    fn unix(&self) -> i64 {
        let (m, d) = (i64::from(self.month), i64::from(self.day));
        let y = if m <= 2 { self.year - 1 } else { self.year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_encodings() {
        let t = parse_time(0x17, b"250305120000Z").unwrap();
        assert_eq!(t.openssl_format(), "Mar  5 12:00:00 2025 GMT");
        assert_eq!(t.unix(), 1_741_176_000);
        let t = parse_time(0x18, b"19700101000000Z").unwrap();
        assert_eq!(t.unix(), 0);
        assert_eq!(parse_time(0x17, b"491231235959Z").unwrap().year, 2049);
        assert_eq!(parse_time(0x17, b"500101000000Z").unwrap().year, 1950);
        assert!(parse_time(0x17, b"251305120000Z").is_none());
        assert!(parse_time(0x17, b"2503051200Z").is_none());
    }

    #[test]
    fn truncated_and_oversized_lengths_are_rejected() {
        assert!(tlv(&mut &[0x30, 0x05, 1, 2][..]).is_none());
        assert!(tlv(&mut &[0x30, 0x85, 1, 1, 1, 1, 1][..]).is_none());
        assert!(tlv(&mut &[0x30][..]).is_none());
        assert!(parse(&[]).is_none());
        assert!(parse(&[0x30, 0x00]).is_none());
    }

    #[test]
    fn oids_without_a_short_name_are_dotted() {
        assert_eq!(
            dotted_oid(&[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37]),
            "1.3.6.1.4.1.311"
        );
        assert_eq!(attribute_name(&[0x55, 0x04, 0x03]), "CN");
        // Found by the x509 fuzz target: a padded first subidentifier under 80 underflowed.
        assert_eq!(dotted_oid(&[0x80, 0x05]), "0.5");
        assert_eq!(dotted_oid(&[0x09, 0x01]), "0.9.1");
        assert_eq!(dotted_oid(&[0x88, 0x37, 0x03]), "2.999.3");
        assert_eq!(dotted_oid(&[0x80]), "");
    }
}
