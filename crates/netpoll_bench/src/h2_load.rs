//! `h2` and `grpc`: HTTP/2 (h2c, prior knowledge) over `--connections`, `--streams` requests in
//! flight on each (h2load's `-c`/`-m`), with the `h2` crate.
//! - `h2`: GET `--path`; each answer must be status 200 with body `--expect`.
//! - `grpc`: calls to the `demo.Demo` service of `examples/grpc-server.js` (JSON messages):
//!   `--call unary` sends Echo `{"text":"hello"}` and wants `{"text":"hello"}` back;
//!   `--call stream` sends Count `{"n":M}` (`--messages M`) and wants `{"i":0}` … `{"i":M-1}`.
//!   Every answer must be status 200 with `content-type: application/grpc` and end with
//!   `grpc-status: 0` in its trailers. A request is one call.

use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use h2::client::SendRequest;
use http::{HeaderMap, Method, Request};

use crate::async_load::{self, Shared, Timing, Worker};
use crate::pattern::fail_verification;
use crate::report::Report;
use crate::target::Target;

/// What each stream asks.
#[derive(Clone)]
pub enum Call {
    /// A GET whose body must be the string.
    Get {
        /// The path.
        path: String,
        /// The body wanted.
        expect: Bytes,
    },
    /// A unary gRPC Echo.
    Unary,
    /// A server-streaming gRPC Count of this many messages.
    Stream(u32),
}

/// An HTTP/2 run.
pub struct H2Plan {
    /// The server.
    pub target: Target,
    /// Connections.
    pub connections: usize,
    /// Streams in flight per connection.
    pub streams: usize,
    /// What each stream asks.
    pub call: Call,
    /// Warm-up, measurement, server.
    pub timing: Timing,
}

/// Runs `plan` and prints its report.
pub fn run(plan: &H2Plan) -> Result<(), String> {
    let mut report = Report::new(match plan.call {
        Call::Get { .. } => "h2",
        _ => "grpc",
    });
    report
        .str("transport", "tcp")
        .int("connections", plan.connections as u64)
        .int("streams", plan.streams as u64);
    match plan.call {
        Call::Unary => report.str("call", "unary"),
        Call::Stream(n) => report.str("call", "stream").int("messages", u64::from(n)),
        Call::Get { .. } => &mut report,
    };
    async_load::run(&plan.timing, report, |tally| async move {
        let mut workers: Vec<Worker> = Vec::new();
        for _ in 0..plan.connections {
            let tcp = async_load::connect(&plan.target).await?;
            // Generous windows (as h2load's defaults) and no small-DATA-frame budget: gRPC
            // sends each message as its own DATA frame, and the server here is trusted.
            let (send, conn) = h2::client::Builder::new()
                .initial_window_size(1 << 20)
                .initial_connection_window_size(16 << 20)
                .data_frame_budget(1 << 30)
                .handshake(tcp)
                .await
                .map_err(|e| format!("h2 handshake: {e}"))?;
            let lost = tally.clone();
            tokio::task::spawn_local(async move {
                if let Err(e) = conn.await {
                    lost.borrow_mut().lost(&format!("h2 connection: {e}"));
                }
            });
            // One verified call per connection before the clock starts, so that even the
            // shortest run (--quick) checks an answer on every connection.
            one(&mut send.clone(), &plan.call).await?;
            for _ in 0..plan.streams {
                let (send, call) = (send.clone(), plan.call.clone());
                workers.push(Box::pin(serve(send, call, tally.clone())));
            }
        }
        Ok(workers)
    })
}

/// One stream slot: a request at a time until an error (counted) or the end of the run.
async fn serve(mut send: SendRequest<Bytes>, call: Call, tally: Shared) {
    loop {
        let sent = Instant::now();
        if let Err(e) = one(&mut send, &call).await {
            return tally.borrow_mut().lost(&e);
        }
        tally.borrow_mut().done(sent);
    }
}

/// Sends one request and verifies its answer (a wrong answer ends the process).
async fn one(send: &mut SendRequest<Bytes>, call: &Call) -> Result<(), String> {
    let e = |e: h2::Error| e.to_string();
    *send = send.clone().ready().await.map_err(e)?;
    let (path, body) = match call {
        Call::Get { path, .. } => (path.as_str(), None),
        Call::Unary => ("/demo.Demo/Echo", Some(grpc_frame(b"{\"text\":\"hello\"}"))),
        Call::Stream(n) => (
            "/demo.Demo/Count",
            Some(grpc_frame(format!("{{\"n\":{n}}}").as_bytes())),
        ),
    };
    let mut req = Request::builder()
        .uri(format!("http://bench{path}"))
        .method(if body.is_some() {
            Method::POST
        } else {
            Method::GET
        });
    if body.is_some() {
        req = req
            .header("content-type", "application/grpc")
            .header("te", "trailers");
    }
    let req = req.body(()).map_err(|e| e.to_string())?;
    let (answer, mut stream) = send.send_request(req, body.is_none()).map_err(e)?;
    if let Some(b) = body {
        stream.send_data(b, true).map_err(e)?;
    }
    let res = answer.await.map_err(e)?;
    if res.status() != 200 {
        fail_verification(&format!("status {}", res.status()));
    }
    let grpc = !matches!(call, Call::Get { .. });
    if grpc
        && res
            .headers()
            .get("content-type")
            .is_none_or(|v| !v.as_bytes().starts_with(b"application/grpc"))
    {
        fail_verification(&format!(
            "content-type {:?}",
            res.headers().get("content-type")
        ));
    }
    let trailers_only = grpc_status(res.headers());
    let mut body = res.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(e)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    match call {
        Call::Get { expect, .. } => {
            if data != expect {
                fail_verification(&format!("body {:?}", String::from_utf8_lossy(&data)));
            }
            Ok(())
        }
        Call::Unary => {
            verify_messages(
                &mut data,
                &mut std::iter::once(b"{\"text\":\"hello\"}".to_vec()),
            );
            verify_status(trailers_only, body.trailers().await.map_err(e)?)
        }
        Call::Stream(n) => {
            let mut want = (0..*n).map(|i| format!("{{\"i\":{i}}}").into_bytes());
            verify_messages(&mut data, &mut want);
            verify_status(trailers_only, body.trailers().await.map_err(e)?)
        }
    }
}

/// A gRPC message: not compressed, 4-byte big-endian length, the bytes.
fn grpc_frame(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + msg.len());
    b.extend_from_slice(&[0]);
    b.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    b.extend_from_slice(msg);
    b.freeze()
}

/// Every message of `data` must be the next of `want`, and none of `want` may be left.
fn verify_messages(data: &mut BytesMut, want: &mut dyn Iterator<Item = Vec<u8>>) {
    for w in want {
        if data.len() < 5 || data[0] != 0 {
            fail_verification("a gRPC message is missing or compressed");
        }
        let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        if data.len() < 5 + len || data[5..5 + len] != w[..] {
            fail_verification(&format!(
                "gRPC message {:?}, expected {:?}",
                String::from_utf8_lossy(&data[5.min(data.len())..(5 + len).min(data.len())]),
                String::from_utf8_lossy(&w)
            ));
        }
        data.advance(5 + len);
    }
    if !data.is_empty() {
        fail_verification("more gRPC messages than expected");
    }
}

fn grpc_status(h: &HeaderMap) -> Option<Vec<u8>> {
    h.get("grpc-status").map(|v| v.as_bytes().to_vec())
}

/// The call must end with `grpc-status: 0` (in the trailers, or a trailers-only answer).
fn verify_status(
    trailers_only: Option<Vec<u8>>,
    trailers: Option<HeaderMap>,
) -> Result<(), String> {
    let status = trailers.as_ref().and_then(grpc_status).or(trailers_only);
    if status.as_deref() != Some(b"0") {
        let message = trailers
            .as_ref()
            .and_then(|t| t.get("grpc-message").cloned());
        fail_verification(&format!("grpc-status {status:?} ({message:?})"));
    }
    Ok(())
}
