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
//! **Copies.** The buffered rustls API costs, per received byte: ciphertext copied into the
//! session's record buffer, decrypted in place, copied to rustls' plaintext queue, copied to
//! the caller's sink. rustls' unbuffered API (`UnbufferedServerConnection`) could decrypt in
//! the caller's buffer and save two copies; it is a later optimisation if the TLS benchmarks
//! show the copies (AES-GCM itself runs at ~3.5 GB/s here, so they matter only at the top).
//!
//! # Integration with the shard
//!
//! Implemented in `shard/tls.rs` as described here, with two differences: a failed or
//! timed-out server handshake is reported as its own record (`TlsClientError`, Node's
//! `tlsClientError`) on the listener, and the TLS state of a connection is asked for
//! (`Shard::tls_info`) rather than carried by `accepted`/`connected`.
//!
//! A TLS connection is a plain shard connection with an `Option<TlsSession>` beside its
//! socket; the TLS work runs where the shard runs (the JS thread in inline mode, a reactor
//! thread in threaded mode: a full server handshake is ~0.3 ms of CPU there).
//! * **Accept / dial.** The listener carries an `Arc<SecureContext>`; each accepted socket gets
//!   `TlsSession::server`. A dial carries an `Arc<ClientContext>` (the binding caches one per
//!   option set, so session reuse works across dials) and the servername; when the TCP
//!   connect completes the shard makes `TlsSession::client` and writes the ClientHello with
//!   `write_tls_to`. A handshake timer (a new `TimerKey` kind, `handshakeTimeout`, default
//!   120 s) closes the connection with `ERR_TLS_HANDSHAKE_TIMEOUT`. JS hears of the connection
//!   only when the handshake completes: `EventSink::accepted` / `connected(Ok)` are delayed to
//!   `Decrypted::handshake_completed` (carrying `info()`); a dial's handshake failure is
//!   `connected(Err)`, an accepted one's is counted and reported on the listener (Node's
//!   `tlsClientError`), never as a connection.
//! * **Read path** (`Shard::read_ready`, `shard/io.rs`). Unchanged up to the kernel read,
//!   except that ciphertext is read into the connection's small `tls_in: Vec<u8>` (≤ one read
//!   of `read_size`, the read budget counts ciphertext) instead of `sink.read_buffer(want)`.
//!   That buffer becomes the plaintext destination: `decrypt(&tls_in, sink.read_buffer(..))`,
//!   then `sink.data(id, written)` exactly as a plain read reports `n`, so JS reads decrypted
//!   bytes from its lent slab with no further copy. Consumed ciphertext is drained from
//!   `tls_in`; while bytes remain there (the sink was full) the kernel is not read and the
//!   connection goes to `ready_conns` for the next round, as a full sink does today. The
//!   high-water check (`pending_input`, `read_held`) is unchanged, so it counts plaintext
//!   buffered for JS. `peer_closed` → `sink.read_closed(id)`. Kernel EOF → `on_eof()`: `Ok`
//!   → `read_closed`; `Err` (`ECONNRESET`) → `self.fail(id, Some(err), sink)`. A `decrypt`
//!   error → one `write_tls_to` (the alert), then `fail` with it. After every `decrypt`, if
//!   `wants_write()` (handshake flights, key updates), write records as below.
//! * **Write path** (`Shard::write`/`write_bytes` → `write_with`). When nothing is queued:
//!   `encrypt(bufs)` (all buffers of the flush at once: a batch's responses share records),
//!   then `write_tls_to(&mut conn.stream)` — one `writev` of every record (≤ 64). Plaintext
//!   `encrypt` did not take (session at `max_pending_output`) is queued in `conn.output`
//!   exactly like today's remainder, under `max_output` (`ERR_OUTPUT_LIMIT`); records the
//!   kernel did not take stay in the session (≤ `max_pending_output`). `drain_output` on
//!   writability: `write_tls_to` until `WouldBlock` or `!wants_write()`, then `encrypt` the
//!   queued chunks (≤ 64) and pop what was taken; `flushed` is reported when both are empty;
//!   the write timer runs while either is non-empty.
//! * **Close.** `close` and half-close: `send_close_notify`, `write_tls_to`, and the existing
//!   `Closing` drain before `shutdown(Write)` — FIN always follows close_notify.
//! * **Timeouts and limits** are the plain ones; handshake bytes count as activity for the
//!   idle timer, and only plaintext delivered satisfies a waiting read.

pub mod ciphers;
pub mod context;
pub mod endpoint;
pub mod errors;
pub mod info;
pub mod options;
pub mod pem;
mod queue;
mod records;
pub mod session;
mod sni;
pub mod ticketer;
pub mod verify;
pub mod x509;

pub use context::{ClientContext, SecureContext};
pub use endpoint::{ClientTls, ServerTls, DEFAULT_HANDSHAKE_TIMEOUT_MS};
pub use info::{CipherInfo, PeerCertificate, TlsInfo};
pub use options::{ClientOptions, CommonOptions, Identity, ServerOptions, TlsLimits, TlsVersion};
pub use session::{Decrypted, TlsSession};
