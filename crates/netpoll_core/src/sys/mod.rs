//! The few raw socket calls mio lacks, one backend per platform. **The only module with
//! `cfg(target_os)`.**
//!
//! # Backend contract
//!
//! Each backend is one file and exports exactly the items re-exported below, with the same
//! signatures (the re-export list is the contract: a backend missing one fails to build):
//!
//! * `unix.rs`, for Linux and macOS: the real calls, through `socket2` and `libc`.
//!   - Every socket it creates is non-blocking and close-on-exec, and on macOS has
//!     `SO_NOSIGPIPE` (sockets from `accept` get it from [`set_nosigpipe`]).
//!   - [`send`] and [`send_vectored`] never raise `SIGPIPE`: on Linux they pass
//!     `MSG_NOSIGNAL` (which plain `write`/`writev` cannot), on macOS the socket option
//!     covers them. A closed peer is an `EPIPE` error, never a signal.
//! * `unsupported.rs`, for every other target: each call fails with an [`io::Error`] of
//!   kind [`io::ErrorKind::Unsupported`] and the message [`UNSUPPORTED`] ("netpoll supports
//!   Linux and macOS"); the getters of capabilities answer `false`. Nothing panics and
//!   nothing pretends to succeed. (It is also built, and tested, under `cfg(test)` on
//!   Linux/macOS so that it cannot rot.)
//!
//! Non-Unix targets do not build at all (a `compile_error!` says why): mio offers no Unix
//! sockets there, and the Node packages only ship Linux and macOS binaries, whose loader
//! reports `ERR_UNSUPPORTED_PLATFORM` everywhere else.
//!
//! Errors are returned as the OS gave them (`io::Error` with its errno); the callers turn
//! them into [`NetError`](crate::error::NetError)s with their syscall and address.
//!
//! [`io::Error`]: std::io::Error
//! [`io::ErrorKind::Unsupported`]: std::io::ErrorKind::Unsupported

#[cfg(not(unix))]
compile_error!("netpoll supports Linux and macOS");

#[cfg(any(target_os = "linux", target_os = "macos"))]
mod unix;
#[cfg(any(target_os = "linux", target_os = "macos"))]
use self::unix as imp;

#[cfg(any(test, not(any(target_os = "linux", target_os = "macos"))))]
mod unsupported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
use self::unsupported as imp;

pub use self::imp::{
    bind_local, bind_tcp, bind_unix, claim_tcp_port, connect_tcp, connect_unix,
    connect_unix_socket, ignore_sigpipe, keepalive_idle, nodelay, recv_buffer, send, send_buffer,
    send_vectored, set_keepalive, set_linger_zero, set_nodelay, set_nosigpipe, set_recv_buffer,
    set_send_buffer, socket_file_id, supports_reuseport_balancing, tcp_client, unix_client,
    unsent_bytes, IOV_MAX,
};

use std::io;

/// How [`bind_tcp`] sets up a listening TCP socket (the listener's options, in the terms of
/// the socket calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpBind {
    /// Pending-connection queue length for `listen(2)`.
    pub backlog: u32,
    /// Set `SO_REUSEPORT`.
    pub reuse_port: bool,
    /// For IPv6 addresses: `IPV6_V6ONLY`.
    pub ipv6_only: bool,
}

/// The mmap threshold [`fix_malloc_thresholds`] sets: blocks of 8 MiB or more are mapped (and
/// unmapped when freed); smaller ones come from the heap, whose freed memory is reused
/// without new page faults. At 1 MiB, the threaded engine's batch Buffers and the JS copies of
/// a stream's input (1-8 MiB each) were fresh mappings, each faulted in, zeroed and unmapped:
/// about half the server CPU of streaming one connection through it (2,070 → 990-1,350 µs/MiB
/// measured, inline unchanged, `soak --attack` RSS unchanged).
pub const MMAP_THRESHOLD: usize = 8 << 20;

/// The trim threshold [`fix_malloc_thresholds`] sets: a free arena top over 1 MiB is returned
/// to the OS on `free`.
pub const TRIM_THRESHOLD: usize = 1 << 20;

/// With glibc, sets the fixed [`MMAP_THRESHOLD`] and [`TRIM_THRESHOLD`] (process-wide, once),
/// instead of the dynamic ones that rise with each large block freed and then keep the
/// free tops of thread arenas resident. Does nothing elsewhere.
pub fn fix_malloc_thresholds() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static FIXED: std::sync::Once = std::sync::Once::new();
        // SAFETY: mallopt only sets allocator parameters, under the allocator's own lock.
        FIXED.call_once(|| unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
        });
    }
}

/// Asks the allocator to return its free pages to the OS (glibc's `malloc_trim`, which walks
/// every arena); does nothing elsewhere.
pub fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists, under its own locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The message of every error of the `unsupported` backend.
pub const UNSUPPORTED: &str = "netpoll supports Linux and macOS";

/// Identity of a file system object (device and inode numbers), to recognise a socket file
/// as the one we created even after someone replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    /// Device number (`st_dev`).
    pub dev: u64,
    /// Inode number (`st_ino`).
    pub ino: u64,
}

/// Whether `err` means the process or system ran out of descriptors or socket memory
/// (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): an accept loop must back off, not retry.
pub fn is_fd_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The longest Unix socket path, in bytes, that fits `sockaddr_un.sun_path` with its
/// terminating NUL: 107 on Linux, 103 on macOS.
pub fn unix_path_max() -> usize {
    use std::mem::{offset_of, size_of};
    size_of::<libc::sockaddr_un>() - offset_of!(libc::sockaddr_un, sun_path) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_exhaustion_errnos() {
        for n in [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM] {
            assert!(is_fd_exhaustion(&io::Error::from_raw_os_error(n)));
        }
        assert!(!is_fd_exhaustion(&io::Error::from_raw_os_error(
            libc::ECONNRESET
        )));
        assert!(!is_fd_exhaustion(&io::ErrorKind::OutOfMemory.into()));
    }

    #[test]
    fn unix_path_max_matches_the_platform() {
        let max = unix_path_max();
        assert!(max == 107 || max == 103, "{max}");
    }
}
