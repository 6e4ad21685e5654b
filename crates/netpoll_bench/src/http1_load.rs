//! `http1`: keep-alive HTTP/1.1 GETs over `--connections`, one request in flight on each
//! (no pipelining); every response's status and body are verified, with either a
//! `Content-Length` or a chunked body.

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::async_load::{self, Shared, Timing, Worker};
use crate::pattern::fail_verification;
use crate::report::Report;
use crate::target::Target;

/// An HTTP/1.1 run.
pub struct Http1Plan {
    /// The server.
    pub target: Target,
    /// Keep-alive connections.
    pub connections: usize,
    /// The request path.
    pub path: String,
    /// The body every response must carry (status 200).
    pub expect: String,
    /// Warm-up, measurement, server.
    pub timing: Timing,
}

/// Runs `plan` and prints its report.
pub fn run(plan: &Http1Plan) -> Result<(), String> {
    let mut report = Report::new("http1");
    report
        .str("transport", "tcp")
        .int("connections", plan.connections as u64)
        .int("depth", 1);
    let request = format!("GET {} HTTP/1.1\r\nHost: bench\r\n\r\n", plan.path).into_bytes();
    async_load::run(&plan.timing, report, |tally| async move {
        let mut opening = Vec::new();
        for _ in 0..plan.connections {
            let target = plan.target.clone();
            opening.push(tokio::task::spawn_local(async move {
                async_load::connect(&target).await
            }));
        }
        let mut workers: Vec<Worker> = Vec::new();
        for o in opening {
            let mut c = Conn {
                stream: o.await.map_err(|e| e.to_string())??,
                buf: Vec::with_capacity(16 * 1024),
                chunk: vec![0u8; 16 * 1024],
            };
            // One verified exchange per connection before the clock starts, so that even the
            // shortest run (--quick) checks every connection's answer.
            c.exchange(&request, plan.expect.as_bytes()).await?;
            workers.push(Box::pin(serve(
                c,
                request.clone(),
                plan.expect.clone().into_bytes(),
                tally.clone(),
            )));
        }
        Ok(workers)
    })
}

/// One connection's requests, one at a time, until an error (counted) or the end of the run.
async fn serve(mut c: Conn, request: Vec<u8>, expect: Vec<u8>, tally: Shared) {
    loop {
        let sent = Instant::now();
        if let Err(e) = c.exchange(&request, &expect).await {
            return tally.borrow_mut().lost(&e);
        }
        tally.borrow_mut().done(sent);
    }
}

/// A keep-alive connection and its input buffer.
struct Conn {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
    chunk: Vec<u8>,
}

impl Conn {
    /// Sends `request` and reads its response, which must be status 200 with body `expect`
    /// (a wrong answer ends the process; `Err` is a lost connection).
    async fn exchange(&mut self, request: &[u8], expect: &[u8]) -> Result<(), String> {
        self.stream
            .write_all(request)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            match parse_response(&self.buf) {
                Ok(Some(r)) => {
                    if r.status != 200 || r.body != expect {
                        fail_verification(&format!(
                            "status {}, body {:?}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ));
                    }
                    if r.consumed != self.buf.len() {
                        fail_verification("bytes after the response (pipelining depth is 1)");
                    }
                    self.buf.clear();
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => fail_verification(&e),
            }
            match self.stream.read(&mut self.chunk).await {
                Ok(0) => return Err("closed by the server".into()),
                Ok(n) => self.buf.extend_from_slice(&self.chunk[..n]),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// A whole response.
#[derive(Debug, PartialEq)]
struct Response {
    status: u16,
    body: Vec<u8>,
    /// Bytes of `buf` it took.
    consumed: usize,
}

/// Parses one response from the start of `buf`: `Ok(None)` while incomplete, `Err` when it is
/// not HTTP/1.1 this client understands (no `Connection: close`, a length or chunked body).
fn parse_response(buf: &[u8]) -> Result<Option<Response>, String> {
    let Some(head_end) = find(buf, b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (mut length, mut chunked) = (None, false);
    for line in lines {
        let (name, value) = line.split_once(':').ok_or("header without ':'")?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            return Err("the server closes the keep-alive connection".into());
        }
    }
    let body_at = head_end + 4;
    if chunked {
        return parse_chunked(buf, body_at, status);
    }
    let length = length.ok_or("neither content-length nor chunked")?;
    if buf.len() < body_at + length {
        return Ok(None);
    }
    Ok(Some(Response {
        status,
        body: buf[body_at..body_at + length].to_vec(),
        consumed: body_at + length,
    }))
}

/// A chunked body from `at` (chunk extensions and trailers are skipped).
fn parse_chunked(buf: &[u8], mut at: usize, status: u16) -> Result<Option<Response>, String> {
    let mut body = Vec::new();
    loop {
        let Some(line_end) = find(&buf[at..], b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&buf[at..at + line_end]).map_err(|_| "chunk size")?;
        let hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(hex, 16).map_err(|_| format!("chunk size {line:?}"))?;
        at += line_end + 2;
        if size == 0 {
            // Trailers (none expected), then the empty line.
            let Some(end) = find(&buf[at..], b"\r\n") else {
                return Ok(None);
            };
            if end != 0 {
                let Some(t) = find(&buf[at..], b"\r\n\r\n") else {
                    return Ok(None);
                };
                at += t + 2;
            }
            return Ok(Some(Response {
                status,
                body,
                consumed: at + 2,
            }));
        }
        if buf.len() < at + size + 2 {
            return Ok(None);
        }
        if &buf[at + size..at + size + 2] != b"\r\n" {
            return Err("chunk not followed by CRLF".into());
        }
        body.extend_from_slice(&buf[at..at + size]);
        at += size + 2;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_and_chunked_bodies_and_waits_for_the_rest() {
        let cl = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello";
        let r = parse_response(cl).unwrap().unwrap();
        assert_eq!(
            (r.status, &r.body[..], r.consumed),
            (200, &b"hello"[..], cl.len())
        );
        assert_eq!(parse_response(&cl[..cl.len() - 1]).unwrap(), None);
        let ch = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=1\r\nlo\r\n0\r\n\r\n";
        let r = parse_response(ch).unwrap().unwrap();
        assert_eq!(
            (r.status, &r.body[..], r.consumed),
            (404, &b"hello"[..], ch.len())
        );
        for cut in 0..ch.len() {
            assert_eq!(parse_response(&ch[..cut]).unwrap(), None, "cut at {cut}");
        }
        let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        assert!(parse_response(close).is_err());
    }
}
