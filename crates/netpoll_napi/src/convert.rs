//! Conversions between core values and the plain JS objects and errors of the binding.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use netpoll_core::addr::NetAddr;
use netpoll_core::error::NetError;
use netpoll_core::shard::ShardStats;
use netpoll_core::stream::Stream;

/// Local and remote address of a connection.
#[napi(object)]
pub struct ConnAddresses {
    /// Local IP or socket path.
    pub local_address: Option<String>,
    /// Local port.
    pub local_port: Option<u32>,
    /// Remote IP or socket path.
    pub remote_address: Option<String>,
    /// Remote port.
    pub remote_port: Option<u32>,
    /// `IPv4`, `IPv6` or `unix`.
    pub family: Option<String>,
}

/// Counters summed over every shard of the engine.
#[napi(object)]
pub struct EngineStats {
    /// Open connections.
    pub connections: f64,
    /// Registered listeners.
    pub listeners: f64,
    /// Timers armed.
    pub timers: f64,
    /// Bytes read.
    pub bytes_in: f64,
    /// Bytes written.
    pub bytes_out: f64,
    /// Bytes queued for output.
    pub bytes_queued: f64,
    /// Events delivered.
    pub events: f64,
    /// Connections accepted.
    pub accepted: f64,
    /// Times accepting paused for lack of file descriptors (EMFILE/ENFILE).
    pub accept_backoffs: f64,
    /// Open connections of each shard, by shard index.
    pub connections_per_shard: Vec<f64>,
    /// Connections watched by their own `uv_poll` instead of their shard's poll (inline
    /// engine, busy connections of a nearly idle shard).
    pub direct_connections: f64,
    /// Panics caught in the addon since it loaded (each turned into an error or a closed
    /// connection, never a crash). Zero unless there is a bug or an injected fault.
    pub panics: f64,
}

/// A core error as a napi error whose message is `netpoll:` + JSON of its fields; the TS
/// layer turns it back into an `Error` with `code`, `errno`, `syscall`, `address`, `port`.
pub fn to_napi(e: NetError) -> napi::Error {
    fn quote(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 2);
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
    let mut json = format!(
        "{{\"code\":{},\"message\":{}",
        quote(e.code),
        quote(&e.message)
    );
    if let Some(n) = e.errno {
        json.push_str(&format!(",\"errno\":{}", -n));
    }
    if let Some(s) = e.syscall {
        json.push_str(&format!(",\"syscall\":{}", quote(s)));
    }
    if let Some(a) = &e.address {
        json.push_str(&format!(",\"address\":{}", quote(a)));
    }
    if let Some(p) = e.port {
        json.push_str(&format!(",\"port\":{p}"));
    }
    json.push('}');
    napi::Error::new(Status::GenericFailure, format!("netpoll:{json}"))
}

pub fn io_err(e: std::io::Error, syscall: &'static str) -> napi::Error {
    to_napi(NetError::from_io(&e, syscall))
}

pub fn addresses(stream: Option<&Stream>) -> Option<ConnAddresses> {
    let stream = stream?;
    let (local, remote) = (stream.local_addr(), stream.peer_addr());
    Some(ConnAddresses {
        local_address: local.as_ref().map(NetAddr::host),
        local_port: local.as_ref().and_then(NetAddr::port).map(u32::from),
        remote_address: remote.as_ref().map(NetAddr::host),
        remote_port: remote.as_ref().and_then(NetAddr::port).map(u32::from),
        family: local.as_ref().map(|a| a.family().to_string()),
    })
}

/// The counters of every shard, summed (connections also per shard).
pub fn sum_stats(shards: &[ShardStats]) -> EngineStats {
    let sum = |f: fn(&ShardStats) -> f64| shards.iter().map(f).sum::<f64>();
    EngineStats {
        connections: sum(|s| s.connections as f64),
        listeners: sum(|s| s.listeners as f64),
        timers: sum(|s| s.timers as f64),
        bytes_in: sum(|s| s.bytes_in as f64),
        bytes_out: sum(|s| s.bytes_out as f64),
        bytes_queued: sum(|s| s.bytes_queued as f64),
        events: sum(|s| s.events as f64),
        accepted: sum(|s| s.accepted as f64),
        accept_backoffs: sum(|s| s.accept_backoffs as f64),
        connections_per_shard: shards.iter().map(|s| s.connections as f64).collect(),
        direct_connections: sum(|s| s.direct as f64),
        panics: netpoll_core::fault::panics() as f64,
    }
}
