//! The http1, h2 and grpc modes against small servers over loopback: a right answer gives a
//! report (exit 0), a wrong one ends the run with exit status 3 (never a figure).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::thread;

use bytes::Bytes;
use http::{HeaderMap, Response};

/// Runs the load generator for a short while against `addr`; its exit code and stdout.
fn run(mode: &str, addr: &str, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_netpoll-bench"))
        .args([mode, "--target", &format!("tcp://{addr}")])
        .args([
            "--connections",
            "2",
            "--warmup",
            "0.05",
            "--duration",
            "0.2",
        ])
        .args(extra)
        .output()
        .expect("netpoll-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), stdout)
}

/// An HTTP/1.1 server answering every request on a connection with `response`.
fn http1_server(response: &'static [u8]) -> String {
    let ln = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for s in ln.incoming() {
            let Ok(mut s) = s else { return };
            thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        if s.write_all(response).is_err() {
                            return;
                        }
                    }
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn http1_verifies_content_length_and_chunked_bodies() {
    let ok = http1_server(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n");
    let (code, out) = run("http1", &ok, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"errors\":0") && !out.contains("\"requests\":0,"),
        "{out}"
    );

    let chunked = http1_server(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld\n\r\n0\r\n\r\n",
    );
    assert_eq!(run("http1", &chunked, &[]).0, 0);

    let wrong = http1_server(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello World\n");
    assert_eq!(run("http1", &wrong, &[]).0, 3);
    let status = http1_server(b"HTTP/1.1 500 Oops\r\nContent-Length: 12\r\n\r\nhello world\n");
    assert_eq!(run("http1", &status, &[]).0, 3);
}

/// What the h2 test server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// `hello world\n` to a GET.
    Hello,
    /// A gRPC answer: these JSON messages, then `grpc-status`.
    Grpc(&'static [&'static str], &'static str),
}

/// An h2c server on a thread of its own (tokio current-thread).
fn h2_server(answer: Answer) -> String {
    let ln = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = ln.local_addr().unwrap().to_string();
    ln.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, async move {
            let ln = tokio::net::TcpListener::from_std(ln).unwrap();
            loop {
                let Ok((s, _)) = ln.accept().await else {
                    return;
                };
                tokio::task::spawn_local(async move {
                    let Ok(mut conn) = h2::server::handshake(s).await else {
                        return;
                    };
                    while let Some(Ok((req, mut respond))) = conn.accept().await {
                        tokio::task::spawn_local(async move {
                            let mut body = req.into_body();
                            while let Some(Ok(d)) = body.data().await {
                                let _ = body.flow_control().release_capacity(d.len());
                            }
                            let grpc = matches!(answer, Answer::Grpc(..));
                            let res = Response::builder()
                                .status(200)
                                .header(
                                    "content-type",
                                    if grpc {
                                        "application/grpc"
                                    } else {
                                        "text/plain"
                                    },
                                )
                                .body(())
                                .unwrap();
                            let Ok(mut send) = respond.send_response(res, false) else {
                                return;
                            };
                            match answer {
                                Answer::Hello => {
                                    let _ =
                                        send.send_data(Bytes::from_static(b"hello world\n"), true);
                                }
                                Answer::Grpc(messages, status) => {
                                    for m in messages {
                                        let mut f = vec![0u8];
                                        f.extend_from_slice(&(m.len() as u32).to_be_bytes());
                                        f.extend_from_slice(m.as_bytes());
                                        let _ = send.send_data(Bytes::from(f), false);
                                    }
                                    let mut t = HeaderMap::new();
                                    t.insert("grpc-status", status.parse().unwrap());
                                    let _ = send.send_trailers(t);
                                }
                            }
                        });
                    }
                });
            }
        });
    });
    addr
}

#[test]
fn h2_verifies_the_body() {
    let (code, out) = run("h2", &h2_server(Answer::Hello), &["--streams", "3"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("\"mode\":\"h2\"") && out.contains("\"errors\":0"),
        "{out}"
    );
    let other = ["--streams", "3", "--expect", "hello there\\n"];
    assert_eq!(run("h2", &h2_server(Answer::Hello), &other).0, 3);
}

#[test]
fn grpc_verifies_messages_and_status() {
    let unary = h2_server(Answer::Grpc(&["{\"text\":\"hello\"}"], "0"));
    assert_eq!(run("grpc", &unary, &["--call", "unary"]).0, 0);
    let stream = h2_server(Answer::Grpc(&["{\"i\":0}", "{\"i\":1}", "{\"i\":2}"], "0"));
    assert_eq!(
        run("grpc", &stream, &["--call", "stream", "--messages", "3"]).0,
        0
    );
    // One message short, a wrong message, a failed status: each is a wrong answer.
    assert_eq!(
        run("grpc", &stream, &["--call", "stream", "--messages", "4"]).0,
        3
    );
    let wrong = h2_server(Answer::Grpc(&["{\"text\":\"hullo\"}"], "0"));
    assert_eq!(run("grpc", &wrong, &["--call", "unary"]).0, 3);
    let failed = h2_server(Answer::Grpc(&["{\"text\":\"hello\"}"], "13"));
    assert_eq!(run("grpc", &failed, &["--call", "unary"]).0, 3);
}
