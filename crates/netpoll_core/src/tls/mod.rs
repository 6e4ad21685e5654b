//! TLS for netpoll connections, on rustls: Node's `tls` options and errors, one
//! [`TlsSession`] per TLS socket between the socket and the connection's buffers.
//!
//! | file | concept |
//! |---|---|
//! | `options` | Node's option names as plain Rust values ([`ServerOptions`], [`ClientOptions`]) |
//! | `context` | [`SecureContext`] (shared, reloadable server config, SNI) and [`ClientContext`] (shared session store) |
//! | `session` | [`TlsSession`]: ciphertext ↔ plaintext for one socket, close_notify, truncation |
//! | `verify` | `rejectUnauthorized` semantics, `authorized` / `authorizationError` |
//! | `errors` | rustls errors → Node's codes (`CERT_HAS_EXPIRED`, `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`, …) |
//! | `info` | what JS sees: protocol, cipher, ALPN, servername, peer certificate |
//! | `ticketer` | session tickets under Node-style `ticketKeys`, bounded by `sessionTimeout` |
//! | `ciphers` | Node's `ciphers` string → rustls suites; OpenSSL/IANA names |
//! | `pem` | PEM `cert` / `key` / `ca` |
//! | `x509` | a small DER reader for `getPeerCertificate()` fields |
//!
//! # Design
//!
//! **Provider: aws-lc-rs**, chosen by measurement (rustls 0.23.48, release build, one thread
//! doing client and server in memory, ECDSA P-256 certificate, TLS 1.3; best of two alternated
//! runs on the shared 2-core VM; throwaway program, not committed):
//!
//! | | ring 0.17.14 | aws-lc-rs 1.19 |
//! |---|---|---|
//! | full handshakes/s, X25519 | 2983 | 3246 |
//! | resumed handshakes/s, X25519 | 4311 | 4381 |
//! | full handshakes/s, P-256 key exchange | 1794 | 2574 |
//! | full handshakes/s, each provider's default groups | 557 (P-384 first) | 2860 |
//! | AES-128-GCM seal + open, MB/s | 2794 | 3542 |
//! | AES-256-GCM seal + open, MB/s | 2653 | 3252 |
//!
//! aws-lc-rs is ahead on every row, and has the hybrid post-quantum group (X25519MLKEM768)
//! that current OpenSSL/Node peers offer. It costs a C build (cc + cmake, ~70 s once). Key
//! exchange preference is X25519, P-256, P-384, X25519MLKEM768 (see [`context::provider`]).
//!
//! **Not supported** (rustls lacks them): TLS 1.0/1.1, CBC and RSA-key-exchange suites (so
//! `ciphers` can only choose among nine AEAD suites), encrypted private keys (`passphrase`),
//! PFX, CRLs given as PEM (`crl`), OCSP stapling requests, renegotiation, `ecdhCurve`.
//!
//! # Integration with the shard (the next step)
//!
//! A TLS connection is a plain connection with a `TlsSession` beside its socket; JS never sees
//! ciphertext and every plain-path rule keeps holding.
//! * **Accept / dial.** The listener's `SecureContext` (or the dial's `ClientContext` +
//!   servername) makes the session when the socket is registered; the shard arms a
//!   handshake timer (`handshakeTimeout`, default 120 s → `ERR_TLS_HANDSHAKE_TIMEOUT`) and
//!   writes the ClientHello (client) with `write_tls_to` right away.
//! * **Read path.** On readable, the shard reads ciphertext with its usual per-wake budget into
//!   a per-shard scratch buffer (not the connection's input), then calls
//!   `decrypt(scratch, sink_tail)` where `sink_tail` is the free space of the JS-lent slab the
//!   plaintext would have been read into on a plain connection; `written` bytes become the
//!   batch record exactly as a plain read's would. Unconsumed ciphertext (sink full, or read
//!   backpressure engaged) is kept in a small per-connection ciphertext `LinkBuffer` and fed
//!   first on the next wake; while it is non-empty the connection is not read from the kernel,
//!   so the high-water mark, counted on plaintext buffered for JS, still stops reading.
//!   `handshake_completed` → emit the connect/secure event (with `info()`), cancel the
//!   handshake timer; `peer_closed` → the same half-close/EOF event a FIN gives today; socket
//!   EOF → `on_eof()`: `Ok` is a clean end, `Err` (ECONNRESET) closes with that error.
//!   During the handshake `decrypt` produces no plaintext but may queue handshake records:
//!   after every `decrypt`, if `wants_write()`, write them (below).
//! * **Write path.** A flush of the connection's output `LinkBuffer` passes all its readable
//!   chunks to `encrypt` (one call per flush, so a batch's responses share records), releases
//!   the bytes it took, then calls `write_tls_to(&mut socket)`: one `writev` of all records.
//!   `WouldBlock` or a short write leaves records inside rustls (≤ `max_pending_output`) and
//!   arms WRITABLE as today; the write timeout runs while `wants_write()` or untaken output
//!   remains. The output cap keeps counting plaintext not yet taken by `encrypt` plus the
//!   session's pending bytes.
//! * **Close.** `close()` / half-close: `send_close_notify`, `write_tls_to`, then
//!   `shutdown(Write)` — FIN follows close_notify. On a session error, write once more (the
//!   alert rustls queued), then close with the error's code.
//! * **Timers and limits** apply unchanged: idle/read timeouts see plaintext progress; the
//!   handshake timer is the only new one.

pub mod ciphers;
pub mod context;
pub mod errors;
pub mod info;
pub mod options;
pub mod pem;
pub mod session;
pub mod ticketer;
pub mod verify;
pub mod x509;

pub use context::{ClientContext, SecureContext};
pub use info::{CipherInfo, PeerCertificate, TlsInfo};
pub use options::{ClientOptions, CommonOptions, Identity, ServerOptions, TlsLimits, TlsVersion};
pub use session::{Decrypted, TlsSession};
