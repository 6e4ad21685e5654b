//! TLS for netpoll connections, on rustls: Node's `tls` options and errors, one
//! [`TlsSession`] per TLS socket between the socket and the connection's buffers.
//!
//! | file | concept |
//! |---|---|
//! | `options` | Node's option names as plain Rust values ([`ServerOptions`], [`ClientOptions`]) |
//! | `context` | [`SecureContext`] (shared, reloadable server config, SNI) and [`ClientContext`] (shared session store) |
//! | `session` | [`TlsSession`]: ciphertext ↔ plaintext for one socket, close_notify, truncation |
//! | `records` | what the session does with each state of rustls' unbuffered connection |
//! | `queue` | the session's byte buffers, reused through a small per-thread pool |
//! | `sni` | the client's server name, read from its ClientHello |
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
//! **Copies: the unbuffered API.** The session runs rustls' unbuffered API
//! (`UnbufferedServerConnection` / `UnbufferedClientConnection`). The buffered API cost, per
//! received byte: a copy into rustls' record buffer (4 KiB per `read_tls`, the buffer zeroed
//! as it grew and shrunk back when empty), in-place decryption, a copy to rustls' plaintext
//! queue, a copy to the sink; and per sent record an allocation freed after the write. Now:
//! decryption in place in the caller's buffer, rustls' copy to its plaintext queue (0.23 has
//! no way around it), one copy into the sink; records are encrypted into one output buffer
//! that, like the ciphertext held between reads, comes from a per-thread pool of zeroed-once
//! allocations. Measured on the 16 KiB echo (server profile, alternated runs): memset and
//! malloc/free gone, ~8% less server CPU per request; the remaining memmove is mostly the
//! copy into the sink (cold JS memory) and JS's own copies. rustls 0.23's unbuffered
//! `encrypt` copies each record once more than the buffered path (into the caller's buffer),
//! which about cancels the saved `read_tls` copy. The unbuffered server does not expose the
//! client's SNI, so the session reads it from the ClientHello itself (`sni.rs`).
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
//! * **Read path** (`Shard::read_tls`, `shard/tls.rs`). Unchanged up to the kernel read,
//!   except that ciphertext is read into the shard's scratch buffer (one read of
//!   `read_size`, the read budget counts ciphertext) — or, when the session holds the start
//!   of an incomplete record, right behind it (`read_room`) — instead of
//!   `sink.read_buffer(want)`. The sink's buffer becomes the plaintext destination:
//!   `decrypt(ciphertext, sink.read_buffer(..))` decrypts in place and copies the plaintext
//!   into it, then `sink.data(id, written)` reports it exactly as a plain read reports `n`,
//!   so JS reads decrypted bytes from its lent slab with no further copy. While plaintext
//!   waits in the session (the sink was full: `waiting_plaintext`) the kernel is not read and
//!   the connection goes to `ready_conns` for the next round, as a full sink does today. The
//!   high-water check (`pending_input`, `read_held`) is unchanged, so it counts plaintext
//!   buffered for JS. `peer_closed` → `sink.read_closed(id)`. Kernel EOF → `on_eof()`: `Ok`
//!   → `read_closed`; `Err` (`ECONNRESET`) → `self.fail(id, Some(err), sink)`. A `decrypt`
//!   error → one `write_tls_to` (the alert), then `fail` with it. After every `decrypt`, if
//!   `wants_write()` (handshake flights, key updates), write records as below.
//! * **Write path** (`Shard::write`/`write_bytes` → `write_with`). When nothing is queued:
//!   `encrypt(bufs)` (all buffers of the flush at once: a batch's responses share records),
//!   then `write_tls_to(&mut conn.stream)` — one `write` of every record. Plaintext
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
mod side;
pub(crate) mod sni;
pub mod ticketer;
mod traffic;
pub mod verify;
pub mod x509;

pub use context::{ClientContext, SecureContext};
pub use endpoint::{ClientTls, ServerTls, DEFAULT_HANDSHAKE_TIMEOUT_MS};
pub use info::{CipherInfo, PeerCertificate, TlsInfo};
pub use options::{ClientOptions, CommonOptions, Identity, ServerOptions, TlsLimits, TlsVersion};
pub use session::{Decrypted, TlsSession};
