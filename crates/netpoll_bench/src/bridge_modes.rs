//! The request/response modes of issue #14's rows (`http1`, `h2`, `grpc`): their options and
//! how the command line becomes a plan.

use bytes::Bytes;

use crate::async_load::Timing;
use crate::cli::Options;
use crate::h2_load::{Call, H2Plan};
use crate::http1_load::Http1Plan;

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
