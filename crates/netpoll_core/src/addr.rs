//! Networks (`"tcp"`, `"tcp4"`, `"tcp6"`, `"unix"`), addresses, and address resolution.
//!
//! # Address strings
//!
//! | network | accepted forms | example |
//! |---|---|---|
//! | `tcp`, `tcp4`, `tcp6` | `host:port`, `[ipv6]:port`, `:port` | `127.0.0.1:0`, `[::1]:7000`, `localhost:80`, `:8080` |
//! | `unix` | a file system path | `/tmp/app.sock` |
//!
//! The port is decimal (no service names). An IPv6 literal must be in brackets. A host that
//! is not an IP literal is resolved with the system resolver (see [`resolve`]).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use crate::error::{code, NetError, Result};
use crate::sys;

/// The kind of socket an address string names, as in netpoll and Go's `net`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Network {
    /// TCP over IPv4 or IPv6, whichever the address is.
    Tcp,
    /// TCP over IPv4 only.
    Tcp4,
    /// TCP over IPv6 only.
    Tcp6,
    /// A Unix domain stream socket.
    Unix,
}

impl Network {
    /// Parses `"tcp"`, `"tcp4"`, `"tcp6"` or `"unix"` (exactly, lower case); anything else is
    /// an `ERR_INVALID_ADDRESS` error naming the valid ones.
    pub fn parse(s: &str) -> Result<Network> {
        match s {
            "tcp" => Ok(Network::Tcp),
            "tcp4" => Ok(Network::Tcp4),
            "tcp6" => Ok(Network::Tcp6),
            "unix" => Ok(Network::Unix),
            _ => Err(NetError::new(
                code::ERR_INVALID_ADDRESS,
                format!("unknown network {s:?}: expected one of tcp, tcp4, tcp6, unix"),
            )),
        }
    }

    /// The name [`Network::parse`] accepts for this network.
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Tcp => "tcp",
            Network::Tcp4 => "tcp4",
            Network::Tcp6 => "tcp6",
            Network::Unix => "unix",
        }
    }

    /// Whether this is one of the TCP networks.
    pub fn is_tcp(self) -> bool {
        self != Network::Unix
    }

    /// Whether an IP address of this family belongs to the network (`Unix`: never).
    fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Network::Tcp => true,
            Network::Tcp4 => ip.is_ipv4(),
            Network::Tcp6 => ip.is_ipv6(),
            Network::Unix => false,
        }
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A socket address: IP + port, or a Unix socket path.
///
/// `Display` gives the combined form Node prints in messages: `127.0.0.1:80`, `[::1]:80`,
/// `/tmp/app.sock`. The parts Node puts in `address`/`port`/`family` fields come from
/// [`NetAddr::host`], [`NetAddr::port`] and [`NetAddr::family`] (IPv6 without brackets).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetAddr {
    /// An IPv4 or IPv6 socket address.
    Inet(SocketAddr),
    /// The path of a Unix domain socket.
    Unix(PathBuf),
}

impl NetAddr {
    /// The address without the port: `"127.0.0.1"`, `"::1"` (no brackets), or the path.
    pub fn host(&self) -> String {
        match self {
            NetAddr::Inet(a) => a.ip().to_string(),
            NetAddr::Unix(p) => p.to_string_lossy().into_owned(),
        }
    }

    /// The port of an IP address; `None` for a Unix path.
    pub fn port(&self) -> Option<u16> {
        match self {
            NetAddr::Inet(a) => Some(a.port()),
            NetAddr::Unix(_) => None,
        }
    }

    /// Node's `family` field: `"IPv4"`, `"IPv6"` or `"unix"`.
    pub fn family(&self) -> &'static str {
        match self {
            NetAddr::Inet(SocketAddr::V4(_)) => "IPv4",
            NetAddr::Inet(SocketAddr::V6(_)) => "IPv6",
            NetAddr::Unix(_) => "unix",
        }
    }

    /// The IP socket address, if this is one.
    pub fn as_inet(&self) -> Option<SocketAddr> {
        match self {
            NetAddr::Inet(a) => Some(*a),
            NetAddr::Unix(_) => None,
        }
    }

    /// The Unix socket path, if this is one.
    pub fn as_unix_path(&self) -> Option<&Path> {
        match self {
            NetAddr::Inet(_) => None,
            NetAddr::Unix(p) => Some(p),
        }
    }
}

impl From<SocketAddr> for NetAddr {
    fn from(a: SocketAddr) -> NetAddr {
        NetAddr::Inet(a)
    }
}

impl fmt::Display for NetAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetAddr::Inet(a) => write!(f, "{a}"),
            NetAddr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Errors name the address they concern, as Node's do.
impl NetError {
    /// Fills `address` and `port` from `addr` and appends it to the message, as Node does
    /// (`"connect ECONNREFUSED 127.0.0.1:7000"`, `"listen EADDRINUSE [::1]:80"`). Calling it
    /// again replaces the address rather than appending a second one.
    pub fn with_addr(mut self, addr: &NetAddr) -> NetError {
        if let Some(old) = self.address.take() {
            let old_suffix = format!(" {}", joined(&old, self.port));
            if self.message.ends_with(&old_suffix) {
                self.message.truncate(self.message.len() - old_suffix.len());
            }
        }
        self.address = Some(addr.host());
        self.port = addr.port();
        self.message.push(' ');
        self.message.push_str(&addr.to_string());
        self
    }
}

/// `host:port` as [`NetAddr`]'s `Display` writes it (brackets around IPv6).
fn joined(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) if host.contains(':') => format!("[{host}]:{p}"),
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// Turns `address` into the socket addresses it names on `network`, in resolver order.
///
/// - `unix`: the path itself. An empty path or one with a NUL byte is `ERR_INVALID_ADDRESS`
///   (abstract sockets are not supported); a path longer than the OS's `sun_path` allows
///   ([`sys::unix_path_max`]) is `ENAMETOOLONG`.
/// - IP literals (`1.2.3.4:80`, `[::1]:80`) resolve to themselves, with no system call. A
///   literal of the wrong family for `tcp4`/`tcp6` is `ERR_INVALID_ADDRESS`.
/// - `:port` means every interface: `0.0.0.0` for `tcp4`, `::` for `tcp6`, and for `tcp`
///   both, `::` first: a listener binds the first that works, so it gets a dual-stack `::`
///   socket (as Node's `listen(port)` does) or `0.0.0.0` where IPv6 is unavailable.
/// - Host names go to the system resolver (`getaddrinfo` through `ToSocketAddrs`). **This
///   blocks**, for as long as DNS takes: call it from a worker thread, never from a shard or
///   the JS thread. Results are filtered by family for `tcp4`/`tcp6`, order kept. A failed
///   or empty lookup is `ENOTFOUND` with syscall `getaddrinfo`.
pub fn resolve(network: Network, address: &str) -> Result<Vec<NetAddr>> {
    if network == Network::Unix {
        return unix_path(address).map(|p| vec![NetAddr::Unix(p)]);
    }
    let (host, port) = split_host_port(address)?;
    if host.is_empty() {
        let any = |ip: IpAddr| NetAddr::Inet(SocketAddr::new(ip, port));
        let v4 = any(Ipv4Addr::UNSPECIFIED.into());
        let v6 = any(Ipv6Addr::UNSPECIFIED.into());
        return Ok(match network {
            Network::Tcp4 => vec![v4],
            Network::Tcp6 => vec![v6],
            _ => vec![v6, v4],
        });
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if !network.admits(&ip) {
            return Err(NetError::new(
                code::ERR_INVALID_ADDRESS,
                format!("address {host} is not valid for network {network}"),
            ));
        }
        return Ok(vec![NetAddr::Inet(SocketAddr::new(ip, port))]);
    }
    let found = (host, port)
        .to_socket_addrs()
        .map_err(|_| not_found(host))?;
    let addrs: Vec<NetAddr> = found
        .filter(|a| network.admits(&a.ip()))
        .map(NetAddr::Inet)
        .collect();
    if addrs.is_empty() {
        return Err(not_found(host));
    }
    Ok(addrs)
}

/// The error of a failed lookup (or one with no address of the network's family), as
/// Node reports it: `getaddrinfo ENOTFOUND <host>`.
fn not_found(host: &str) -> NetError {
    let mut e = NetError::new(code::ENOTFOUND, format!("getaddrinfo ENOTFOUND {host}"));
    e.syscall = Some("getaddrinfo");
    e.address = Some(host.to_string());
    e
}

/// Splits `host:port`, `[v6]:port` or `:port` (Go's `net.SplitHostPort` rules).
fn split_host_port(address: &str) -> Result<(&str, u16)> {
    let invalid = |why: &str| {
        NetError::new(
            code::ERR_INVALID_ADDRESS,
            format!("invalid address {address:?}: {why}"),
        )
    };
    let Some(colon) = address.rfind(':') else {
        return Err(invalid("missing port"));
    };
    let (host, port) = (&address[..colon], &address[colon + 1..]);
    let host = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .ok_or_else(|| invalid("missing ']'"))?
    } else if host.contains(':') {
        return Err(invalid("an IPv6 address needs brackets, as in [::1]:80"));
    } else {
        host
    };
    if host.contains(['[', ']']) {
        return Err(invalid("unexpected bracket"));
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("the port must be a decimal number"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| invalid("the port must be at most 65535"))?;
    Ok((host, port))
}

/// Validates a Unix socket path (see [`resolve`]).
fn unix_path(address: &str) -> Result<PathBuf> {
    if address.is_empty() || address.contains('\0') {
        return Err(NetError::new(
            code::ERR_INVALID_ADDRESS,
            format!("invalid unix socket path {address:?}"),
        ));
    }
    let max = sys::unix_path_max();
    if address.len() > max {
        let mut e = NetError::new(
            "ENAMETOOLONG",
            format!(
                "unix socket path is {} bytes, longer than the {max} this OS allows: {address}",
                address.len()
            ),
        );
        e.errno = Some(libc::ENAMETOOLONG);
        e.address = Some(address.to_string());
        return Err(e);
    }
    Ok(PathBuf::from(address))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn errno_becomes_node_code_and_message() {
        let e = io::Error::from_raw_os_error(libc::ECONNREFUSED);
        let addr = NetAddr::Inet("127.0.0.1:7000".parse().unwrap());
        let n = NetError::from_io(&e, "connect").with_addr(&addr);
        assert_eq!(n.code, "ECONNREFUSED");
        assert_eq!(n.errno, Some(libc::ECONNREFUSED));
        assert_eq!(n.syscall, Some("connect"));
        assert_eq!(n.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(n.port, Some(7000));
        assert_eq!(n.message, "connect ECONNREFUSED 127.0.0.1:7000");
        assert_eq!(n.to_string(), n.message);
    }

    #[test]
    fn ipv6_address_field_has_no_brackets_and_with_addr_replaces() {
        let e = io::Error::from_raw_os_error(libc::EADDRINUSE);
        let a: SocketAddr = "[::1]:80".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:81".parse().unwrap();
        let n = NetError::from_io(&e, "listen").with_addr(&NetAddr::Inet(a));
        assert_eq!(n.address.as_deref(), Some("::1"));
        assert_eq!(n.message, "listen EADDRINUSE [::1]:80");
        let n = n.with_addr(&NetAddr::Inet(b));
        assert_eq!(n.message, "listen EADDRINUSE 127.0.0.1:81");
        assert_eq!(n.port, Some(81));
    }

    #[test]
    fn unix_path_has_no_port() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        let n = NetError::from_io(&e, "connect").with_addr(&NetAddr::Unix("/tmp/x.sock".into()));
        assert_eq!(n.message, "connect ENOENT /tmp/x.sock");
        assert_eq!(n.port, None);
        assert_eq!(n.address.as_deref(), Some("/tmp/x.sock"));
    }

    fn inet(network: Network, s: &str) -> Vec<String> {
        resolve(network, s)
            .unwrap()
            .iter()
            .map(|a| a.to_string())
            .collect()
    }

    #[test]
    fn networks_parse_and_print() {
        for n in ["tcp", "tcp4", "tcp6", "unix"] {
            assert_eq!(Network::parse(n).unwrap().to_string(), n);
        }
        let e = Network::parse("udp").unwrap_err();
        assert_eq!(e.code, code::ERR_INVALID_ADDRESS);
        assert!(e.message.contains("tcp, tcp4, tcp6, unix"), "{e}");
        assert!(Network::parse("TCP").is_err());
        assert!(Network::Tcp6.is_tcp() && !Network::Unix.is_tcp());
    }

    #[test]
    fn literals_resolve_without_lookup() {
        assert_eq!(inet(Network::Tcp, "127.0.0.1:80"), ["127.0.0.1:80"]);
        assert_eq!(inet(Network::Tcp6, "[::1]:0"), ["[::1]:0"]);
        assert_eq!(inet(Network::Tcp4, "10.0.0.1:65535"), ["10.0.0.1:65535"]);
    }

    #[test]
    fn empty_host_means_every_interface() {
        assert_eq!(inet(Network::Tcp4, ":80"), ["0.0.0.0:80"]);
        assert_eq!(inet(Network::Tcp6, ":80"), ["[::]:80"]);
        assert_eq!(inet(Network::Tcp, ":80"), ["[::]:80", "0.0.0.0:80"]);
    }

    #[test]
    fn wrong_family_literal_is_rejected() {
        let e = resolve(Network::Tcp4, "[::1]:80").unwrap_err();
        assert_eq!(e.code, code::ERR_INVALID_ADDRESS);
        assert!(resolve(Network::Tcp6, "127.0.0.1:80").is_err());
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:http",
            "127.0.0.1:65536",
            "::1:80",
            "[::1:80",
            "[::1]]:80",
            "127.0.0.1:-1",
        ] {
            let e = resolve(Network::Tcp, bad).unwrap_err();
            assert_eq!(e.code, code::ERR_INVALID_ADDRESS, "{bad}: {e}");
        }
    }

    #[test]
    fn localhost_resolves_and_filters_by_family() {
        let v4 = resolve(Network::Tcp4, "localhost:9").unwrap();
        assert!(v4.iter().all(|a| a.family() == "IPv4"));
        assert!(v4.iter().all(|a| a.port() == Some(9)));
    }

    #[test]
    fn lookup_failures_are_enotfound() {
        // Built directly: a real failed lookup would need DNS, which tests must not use.
        let e = not_found("db.internal");
        assert_eq!((e.code, e.syscall), (code::ENOTFOUND, Some("getaddrinfo")));
        assert_eq!(e.address.as_deref(), Some("db.internal"));
        assert_eq!(e.message, "getaddrinfo ENOTFOUND db.internal");
    }

    #[test]
    fn unix_paths() {
        assert_eq!(
            resolve(Network::Unix, "/tmp/a.sock").unwrap(),
            [NetAddr::Unix("/tmp/a.sock".into())]
        );
        assert_eq!(
            resolve(Network::Unix, "").unwrap_err().code,
            code::ERR_INVALID_ADDRESS
        );
        assert!(resolve(Network::Unix, "/tmp/a\0b").is_err());
        let long = format!("/tmp/{}", "x".repeat(sys::unix_path_max()));
        let e = resolve(Network::Unix, &long).unwrap_err();
        assert_eq!(e.code, "ENAMETOOLONG");
        assert_eq!(e.errno, Some(libc::ENAMETOOLONG));
        let fits = format!("/{}", "x".repeat(sys::unix_path_max() - 1));
        assert!(resolve(Network::Unix, &fits).is_ok());
    }

    #[test]
    fn node_style_parts() {
        let a = NetAddr::from("[::1]:80".parse::<SocketAddr>().unwrap());
        assert_eq!(
            (a.host(), a.port(), a.family()),
            ("::1".into(), Some(80), "IPv6")
        );
        assert_eq!(a.to_string(), "[::1]:80");
        let u = NetAddr::Unix("/tmp/s".into());
        assert_eq!(
            (u.host(), u.port(), u.family()),
            ("/tmp/s".into(), None, "unix")
        );
        assert_eq!(u.as_unix_path(), Some(Path::new("/tmp/s")));
        assert!(u.as_inet().is_none() && a.as_inet().is_some());
    }
}
