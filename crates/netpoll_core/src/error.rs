//! [`NetError`]: the one error type of the core, with the fields of a Node.js system error.
//!
//! Every OS error enters through [`NetError::from_io`], the single place where an errno
//! becomes a Node-style `code` (a `match` over the `libc` constants, so the numbers are
//! right on every platform). The binding copies the fields onto a JS `Error` as they are.
//!
//! # Fields, as Node has them
//!
//! | field | example | note |
//! |---|---|---|
//! | `code` | `"ECONNREFUSED"`, `"ERR_READ_TIMEOUT"` | see [`code`] for ours |
//! | `errno` | `Some(111)` | the **positive** OS errno; Node shows libuv's negative number, so the binding negates it |
//! | `syscall` | `Some("connect")` | `"listen"` for every bind/listen failure, as Node reports them |
//! | `address` | `Some("::1")`, `Some("/tmp/s.sock")` | IPv6 without brackets |
//! | `port` | `Some(7000)` | `None` for Unix sockets |
//! | `message` | `"connect ECONNREFUSED 127.0.0.1:7000"` | `"<syscall> <code> <address>"` as Node builds it |

use std::fmt;
use std::io;

/// `Result` with a [`NetError`].
pub type Result<T> = std::result::Result<T, NetError>;

/// The codes that are not errno names: netpoll's own conditions.
pub mod code {
    /// The connection is closed (locally or by the peer) and cannot be used.
    pub const ERR_CONN_CLOSED: &str = "ERR_CONN_CLOSED";
    /// A read waited longer than its read timeout.
    pub const ERR_READ_TIMEOUT: &str = "ERR_READ_TIMEOUT";
    /// Queued output was not written within the write timeout.
    pub const ERR_WRITE_TIMEOUT: &str = "ERR_WRITE_TIMEOUT";
    /// Nothing was read or written for the idle timeout.
    pub const ERR_IDLE_TIMEOUT: &str = "ERR_IDLE_TIMEOUT";
    /// A frame (or buffered input) exceeded the configured maximum.
    pub const ERR_FRAME_TOO_LARGE: &str = "ERR_FRAME_TOO_LARGE";
    /// Output queued on a connection exceeded the configured maximum.
    pub const ERR_OUTPUT_LIMIT: &str = "ERR_OUTPUT_LIMIT";
    /// The platform is not Linux or macOS.
    pub const ERR_UNSUPPORTED_PLATFORM: &str = "ERR_UNSUPPORTED_PLATFORM";
    /// A network name or address string could not be parsed or does not fit the network.
    pub const ERR_INVALID_ADDRESS: &str = "ERR_INVALID_ADDRESS";
    /// The loop or listener is shutting down and refuses new work.
    pub const ERR_SHUTDOWN: &str = "ERR_SHUTDOWN";
    /// A connection closed because of an internal error (a caught panic).
    pub const ERR_INTERNAL: &str = "ERR_INTERNAL";
    /// A TLS handshake did not complete within the handshake timeout (Node's 120 s default).
    /// The other TLS codes live in `tls::errors::code`.
    pub const ERR_TLS_HANDSHAKE_TIMEOUT: &str = "ERR_TLS_HANDSHAKE_TIMEOUT";
    /// A host name did not resolve (Node's code for `getaddrinfo` failures).
    pub const ENOTFOUND: &str = "ENOTFOUND";
    /// An error without an errno we can name.
    pub const UNKNOWN: &str = "UNKNOWN";
}

/// An error with Node's system-error fields (see the module docs for each field).
///
/// Build one with [`NetError::from_io`] for OS errors, or [`NetError::new`] for netpoll's
/// own conditions; add the address with [`NetError::with_addr`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetError {
    /// Node-style code: an errno name (`"ECONNRESET"`) or one of [`code`].
    pub code: &'static str,
    /// The positive OS errno, when the error came from the OS.
    pub errno: Option<i32>,
    /// The system call that failed (`"connect"`, `"listen"`, `"read"`, …).
    pub syscall: Option<&'static str>,
    /// The address involved: an IP without brackets, or a Unix socket path.
    pub address: Option<String>,
    /// The port involved (TCP only).
    pub port: Option<u16>,
    /// Human-readable message, formatted like Node's (`"connect ECONNREFUSED 127.0.0.1:7000"`).
    pub message: String,
}

impl NetError {
    /// An error with `code` and `message` and no OS details.
    pub fn new(code: &'static str, message: impl Into<String>) -> NetError {
        NetError {
            code,
            errno: None,
            syscall: None,
            address: None,
            port: None,
            message: message.into(),
        }
    }

    /// The error "netpoll supports Linux and macOS" (`ERR_UNSUPPORTED_PLATFORM`).
    pub fn unsupported() -> NetError {
        NetError::new(
            code::ERR_UNSUPPORTED_PLATFORM,
            "netpoll supports Linux and macOS",
        )
    }

    /// Converts an OS error raised by `syscall`. This is the crate's one errno→code point.
    ///
    /// An error with an errno gets the errno's name (unknown numbers: `"UNKNOWN"`, errno kept).
    /// An error without one is named from its [`io::ErrorKind`] (`Unsupported` becomes
    /// `ERR_UNSUPPORTED_PLATFORM`, `TimedOut` `ETIMEDOUT`, …) and keeps its own message.
    pub fn from_io(err: &io::Error, syscall: &'static str) -> NetError {
        let (code, errno) = match err.raw_os_error() {
            Some(n) => (errno_code(n), Some(n)),
            None => (kind_code(err.kind()), None),
        };
        let message = match errno {
            Some(_) => format!("{syscall} {code}"),
            None => format!("{syscall} {code}: {err}"),
        };
        NetError {
            code,
            errno,
            syscall: Some(syscall),
            address: None,
            port: None,
            message,
        }
    }

    /// Whether this error has `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for NetError {}

/// The Node/libuv name of an errno. Guards (not patterns) hold constants that are equal on
/// some platforms (`ENOTSUP` = `EOPNOTSUPP` on Linux), so every arm stays reachable.
pub fn errno_code(errno: i32) -> &'static str {
    match errno {
        libc::E2BIG => "E2BIG",
        libc::EACCES => "EACCES",
        libc::EADDRINUSE => "EADDRINUSE",
        libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
        libc::EAFNOSUPPORT => "EAFNOSUPPORT",
        libc::EAGAIN => "EAGAIN",
        libc::EALREADY => "EALREADY",
        libc::EBADF => "EBADF",
        libc::EBUSY => "EBUSY",
        libc::ECANCELED => "ECANCELED",
        libc::ECONNABORTED => "ECONNABORTED",
        libc::ECONNREFUSED => "ECONNREFUSED",
        libc::ECONNRESET => "ECONNRESET",
        libc::EDESTADDRREQ => "EDESTADDRREQ",
        libc::EEXIST => "EEXIST",
        libc::EFAULT => "EFAULT",
        libc::EHOSTDOWN => "EHOSTDOWN",
        libc::EHOSTUNREACH => "EHOSTUNREACH",
        libc::EINPROGRESS => "EINPROGRESS",
        libc::EINTR => "EINTR",
        libc::EINVAL => "EINVAL",
        libc::EIO => "EIO",
        libc::EISCONN => "EISCONN",
        libc::EISDIR => "EISDIR",
        libc::ELOOP => "ELOOP",
        libc::EMFILE => "EMFILE",
        libc::EMSGSIZE => "EMSGSIZE",
        libc::ENAMETOOLONG => "ENAMETOOLONG",
        libc::ENETDOWN => "ENETDOWN",
        libc::ENETUNREACH => "ENETUNREACH",
        libc::ENFILE => "ENFILE",
        libc::ENOBUFS => "ENOBUFS",
        libc::ENOENT => "ENOENT",
        libc::ENOMEM => "ENOMEM",
        libc::ENOPROTOOPT => "ENOPROTOOPT",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::ENOTCONN => "ENOTCONN",
        libc::ENOTDIR => "ENOTDIR",
        libc::ENOTEMPTY => "ENOTEMPTY",
        libc::ENOTSOCK => "ENOTSOCK",
        libc::ENXIO => "ENXIO",
        libc::EPERM => "EPERM",
        libc::EPIPE => "EPIPE",
        libc::EPROTO => "EPROTO",
        libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
        libc::EPROTOTYPE => "EPROTOTYPE",
        libc::EROFS => "EROFS",
        libc::ESHUTDOWN => "ESHUTDOWN",
        libc::ESPIPE => "ESPIPE",
        libc::ESRCH => "ESRCH",
        libc::ETIMEDOUT => "ETIMEDOUT",
        libc::ETXTBSY => "ETXTBSY",
        libc::EXDEV => "EXDEV",
        n if n == libc::EOPNOTSUPP || n == libc::ENOTSUP => "ENOTSUP",
        _ => code::UNKNOWN,
    }
}

/// The code of an error that carries no errno (built from a kind, or a custom error).
fn kind_code(kind: io::ErrorKind) -> &'static str {
    use io::ErrorKind as K;
    match kind {
        K::Unsupported => code::ERR_UNSUPPORTED_PLATFORM,
        K::NotFound => "ENOENT",
        K::PermissionDenied => "EACCES",
        K::ConnectionRefused => "ECONNREFUSED",
        K::ConnectionReset => "ECONNRESET",
        K::ConnectionAborted => "ECONNABORTED",
        K::NotConnected => "ENOTCONN",
        K::AddrInUse => "EADDRINUSE",
        K::AddrNotAvailable => "EADDRNOTAVAIL",
        K::BrokenPipe => "EPIPE",
        K::AlreadyExists => "EEXIST",
        K::WouldBlock => "EAGAIN",
        K::InvalidInput | K::InvalidData => "EINVAL",
        K::TimedOut => "ETIMEDOUT",
        K::Interrupted => "EINTR",
        K::OutOfMemory => "ENOMEM",
        K::WriteZero | K::UnexpectedEof => code::ERR_CONN_CLOSED,
        _ => code::UNKNOWN,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_errno_keeps_the_number() {
        let n = NetError::from_io(&io::Error::from_raw_os_error(4095), "read");
        assert_eq!(n.code, "UNKNOWN");
        assert_eq!(n.errno, Some(4095));
    }

    #[test]
    fn every_listed_errno_has_its_name() {
        for (n, name) in [
            (libc::ECONNRESET, "ECONNRESET"),
            (libc::ETIMEDOUT, "ETIMEDOUT"),
            (libc::EACCES, "EACCES"),
            (libc::EPIPE, "EPIPE"),
            (libc::EMFILE, "EMFILE"),
            (libc::ENFILE, "ENFILE"),
            (libc::EINVAL, "EINVAL"),
            (libc::EADDRNOTAVAIL, "EADDRNOTAVAIL"),
            (libc::ENAMETOOLONG, "ENAMETOOLONG"),
            (libc::EHOSTUNREACH, "EHOSTUNREACH"),
            (libc::ENETUNREACH, "ENETUNREACH"),
            (libc::EOPNOTSUPP, "ENOTSUP"),
            (libc::EWOULDBLOCK, "EAGAIN"),
        ] {
            assert_eq!(errno_code(n), name);
        }
    }

    #[test]
    fn kind_only_errors_are_named_and_keep_their_text() {
        let e = io::Error::new(
            io::ErrorKind::Unsupported,
            "netpoll supports Linux and macOS",
        );
        let n = NetError::from_io(&e, "listen");
        assert_eq!(n.code, code::ERR_UNSUPPORTED_PLATFORM);
        assert_eq!(n.errno, None);
        assert!(n.message.contains("netpoll supports Linux and macOS"));
        let n = NetError::from_io(&io::ErrorKind::WriteZero.into(), "write");
        assert_eq!(n.code, code::ERR_CONN_CLOSED);
        assert!(NetError::unsupported().is(code::ERR_UNSUPPORTED_PLATFORM));
    }

    #[test]
    fn new_has_no_os_details() {
        let n = NetError::new(code::ERR_SHUTDOWN, format!("{} left", 3));
        assert_eq!((n.errno, n.syscall, n.port), (None, None, None));
        assert_eq!(n.to_string(), "3 left");
        let boxed: Box<dyn std::error::Error> = Box::new(n.clone());
        assert_eq!(boxed.to_string(), "3 left");
    }
}
