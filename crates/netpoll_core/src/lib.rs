//! netpoll_core: the pure-Rust core of netpoll for Node.js.
#![deny(missing_docs)]
