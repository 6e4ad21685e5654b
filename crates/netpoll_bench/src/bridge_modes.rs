//! The request/response modes of issue #14's rows (`http1`, `h2`, `grpc`): their options and
//! how the command line becomes a plan.

use bytes::Bytes;

use crate::async_load::Timing;
use crate::cli::Options;
use crate::h2_load::{Call, H2Plan};
use crate::http1_load::Http1Plan;

/// Options of the http1, h2 and grpc modes.
pub struct RpcOptions {
    /// Request path (http1, h2).
    pub path: String,
    /// The body every answer must carry (http1, h2).
    pub expect: String,
    /// Streams in flight per connection (h2, grpc).
    pub streams: usize,
    /// `unary` or `stream` (grpc).
    pub call: String,
    /// Messages per streaming call (grpc).
    pub messages: u32,
}

impl Default for RpcOptions {
    fn default() -> Self {
        RpcOptions {
            path: "/".into(),
            expect: "hello world\n".into(),
            streams: 10,
            call: "unary".into(),
            messages: 50,
        }
    }
}

impl RpcOptions {
    /// Takes `flag value` if it is one of these options (`Ok(false)`: not one of them).
    pub fn parse(&mut self, flag: &str, value: &str) -> Result<bool, String> {
        let int = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: {value:?} is not a count"))
        };
        match flag {
            "--path" => self.path = value.into(),
            "--expect" => self.expect = value.replace("\\n", "\n"),
            "--streams" => self.streams = int()?.max(1),
            "--messages" => self.messages = int()? as u32,
            "--call" if ["unary", "stream"].contains(&value) => self.call = value.into(),
            "--call" => return Err("--call is unary or stream".into()),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Runs the http1, h2 or grpc mode of `o`.
pub fn run(o: &Options) -> Result<(), String> {
    let timing = Timing {
        warmup: o.warmup,
        duration: o.duration,
        server_pid: o.server_pid,
    };
    let r = &o.rpc;
    if o.mode == "http1" {
        return crate::http1_load::run(&Http1Plan {
            target: o.target.clone(),
            connections: o.connections.unwrap_or(100),
            path: r.path.clone(),
            expect: r.expect.clone(),
            timing,
        });
    }
    let call = match (o.mode.as_str(), r.call.as_str()) {
        ("h2", _) => Call::Get {
            path: r.path.clone(),
            expect: Bytes::from(r.expect.clone()),
        },
        (_, "stream") => Call::Stream(r.messages),
        _ => Call::Unary,
    };
    crate::h2_load::run(&H2Plan {
        target: o.target.clone(),
        connections: o.connections.unwrap_or(10),
        streams: r.streams,
        call,
        timing,
    })
}
