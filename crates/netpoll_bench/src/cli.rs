//! The command line of `netpoll-bench`.

use std::time::Duration;

use crate::target::Target;
use crate::tls_opts::TlsOptions;

/// Usage text.
pub const USAGE: &str = "usage: netpoll-bench MODE --target tcp://HOST:PORT|unix://PATH [options]
modes:
  echo       framed echo over --connections, --depth requests in flight on each
             (1: ping-pong; 16: pipelined; 4 connections x many: multiplexed),
             --idle extra idle connections, --burst connections opened at once mid-run
  idle       open --connections idle connections, report the server's RSS per connection
  conn-rate  --slots at a time: connect, one framed request, close; repeated
  stream     one connection, raw protocol: stream bytes, verify the echo, report GB/s
  handshake  conn-rate over TLS: connect, handshake, one request, close (--resume: resumed)
  gen-cert   --out DIR: an ECDSA P-256 CA, server and client certificate as PEM files
  http1      keep-alive HTTP/1.1 GET --path over --connections, one in flight each; the
             status must be 200 and the body --expect (Content-Length or chunked)
  h2         HTTP/2 (h2c) GET --path, --connections x --streams in flight; body --expect
  grpc       gRPC calls to examples/grpc-server.js's demo.Demo, --connections x --streams:
             --call unary (Echo) or stream (Count of --messages); grpc-status 0 checked
  sink       one connection, sink protocol: stream bytes, check the server's counts, GB/s
  serve      the ceiling server: netpoll-bench serve --listen ADDR --protocol framed|raw|sink
             (one thread, level-triggered epoll, one read and one write per event);
             --uring: the same on io_uring (multishot recv, provided buffers, batched sends)
options:
  --connections N   (echo: 100, idle: 10000)   --idle N (0)   --depth N (1)
  --payload BYTES (1024)   --burst N (0)   --slots N (8)   --window BYTES (4194304)
  --warmup S (1)   --duration S (5)   --server-pid PID
  --heap-signal (idle: SIGUSR2 the server before each sample)   --settle S (idle: 1)
  --path P (/)   --expect TEXT (hello world\\n; \\n is a newline)   --streams N (10)
  --call unary|stream (unary)   --messages N (50)
Prints one JSON line on stdout. Exit status: 0 ok, 2 usage or setup error, 3 wrong byte.";

/// Parsed options.
pub struct Options {
    /// The mode: echo, idle, conn-rate, stream or sink.
    pub mode: String,
    /// The server.
    pub target: Target,
    /// Connections (default depends on the mode).
    pub connections: Option<usize>,
    /// Extra idle connections (echo).
    pub idle: usize,
    /// Requests in flight per connection (echo).
    pub depth: usize,
    /// Payload bytes.
    pub payload: usize,
    /// Connections opened at once mid-run (echo).
    pub burst: usize,
    /// Connections in progress at once (conn-rate).
    pub slots: usize,
    /// Bytes unanswered at most (stream).
    pub window: usize,
    /// Warm-up.
    pub warmup: Duration,
    /// Measurement.
    pub duration: Duration,
    /// Server process to sample.
    pub server_pid: Option<u32>,
    /// Signal the server for heap statistics (idle).
    pub heap_signal: bool,
    /// Settling time before each sample (idle).
    pub settle: Duration,
    /// TLS options (any mode).
    pub tls: TlsOptions,
    /// Options of the http1, h2 and grpc modes.
    pub rpc: crate::rpc_opts::RpcOptions,
}

/// Parses `args` (without the program name).
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mode = args
        .first()
        .filter(|m| !m.starts_with('-'))
        .ok_or("missing MODE")?
        .clone();
    if ![
        "echo",
        "idle",
        "conn-rate",
        "stream",
        "sink",
        "handshake",
        "http1",
        "h2",
        "grpc",
    ]
    .contains(&mode.as_str())
    {
        return Err(format!("unknown mode {mode:?}"));
    }
    let mut target = None;
    let mut o = Options {
        mode,
        target: Target::Unix(Default::default()),
        connections: None,
        idle: 0,
        depth: 1,
        payload: 1024,
        burst: 0,
        slots: 8,
        window: 4 << 20,
        warmup: Duration::from_secs(1),
        duration: Duration::from_secs(5),
        server_pid: None,
        heap_signal: false,
        settle: Duration::from_secs(1),
        tls: TlsOptions::default(),
        rpc: Default::default(),
    };
    let mut it = args[1..].iter();
    while let Some(flag) = it.next() {
        if flag == "--heap-signal" {
            o.heap_signal = true;
            continue;
        }
        if o.tls.parse_flag(flag, &mut it)? {
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let int = || {
            value
                .parse::<usize>()
                .map_err(|_| format!("{flag}: {value:?} is not a count"))
        };
        let secs = || match value.parse::<f64>() {
            Ok(s) if s >= 0.0 && s.is_finite() => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("{flag}: {value:?} is not a number of seconds")),
        };
        match flag.as_str() {
            "--target" => target = Some(Target::parse(value)?),
            "--connections" => o.connections = Some(int()?),
            "--idle" => o.idle = int()?,
            "--depth" => o.depth = int()?.max(1),
            "--payload" => o.payload = int()?,
            "--burst" => o.burst = int()?,
            "--slots" => o.slots = int()?.max(1),
            "--window" => o.window = int()?.max(1),
            "--warmup" => o.warmup = secs()?,
            "--duration" => o.duration = secs()?.max(Duration::from_millis(1)),
            "--server-pid" => o.server_pid = Some(int()? as u32),
            "--settle" => o.settle = secs()?,
            _ if o.rpc.parse(flag, value)? => {}
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    o.target = target.ok_or("missing --target")?;
    if o.mode == "handshake" && !o.tls.enabled {
        return Err("handshake needs --tls".into());
    }
    Ok(o)
}
