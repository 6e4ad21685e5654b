//! `netpoll-bench`: a native, single-threaded, event-driven (mio) load generator for the
//! echo servers of netpoll, Node's `net` and Go's netpoll. See [`cli::USAGE`].
#![deny(missing_docs)]

mod async_load;
mod bridge_modes;
mod buf_ring;
mod cli;
mod conn_rate;
mod conn_set;
mod echo;
mod framed_conn;
mod gen_cert;
mod h2_load;
mod histogram;
mod http1_load;
mod idle;
mod pattern;
mod phase;
mod report;
mod rpc_opts;
mod serve;
mod serve_proto;
mod serve_uring;
mod server_stats;
mod streaming;
mod target;
mod tls_client;
mod tls_opts;
#[cfg(test)]
mod tls_test;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}\n{}", cli::USAGE, tls_opts::USAGE);
        return;
    }
    if args.first().map(String::as_str) == Some("gen-cert") {
        if let Err(e) = gen_cert::run(&args[1..]) {
            eprintln!("netpoll-bench gen-cert: {e}");
            std::process::exit(2);
        }
        return;
    }
    if args.first().map(String::as_str) == Some("serve") {
        if let Err(e) = serve::main(&args[1..]) {
            eprintln!("netpoll-bench serve: {e}");
            std::process::exit(2);
        }
        return;
    }
    let o = match cli::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("netpoll-bench: {e}\n{}\n{}", cli::USAGE, tls_opts::USAGE);
            std::process::exit(2);
        }
    };
    match o.tls.client_config() {
        Ok(Some(config)) => match o.tls.server_name(&o.target) {
            Ok(name) => tls_client::install(config, name),
            Err(e) => {
                eprintln!("netpoll-bench: {e}");
                std::process::exit(2);
            }
        },
        Ok(None) => {}
        Err(e) => {
            eprintln!("netpoll-bench: {e}");
            std::process::exit(2);
        }
    }
    let result = match o.mode.as_str() {
        "echo" => echo::run(&echo::EchoPlan {
            target: o.target,
            connections: o.connections.unwrap_or(100),
            idle: o.idle,
            depth: o.depth,
            payload: o.payload,
            burst: o.burst,
            warmup: o.warmup,
            duration: o.duration,
            server_pid: o.server_pid,
        }),
        "idle" => match o.server_pid {
            Some(server_pid) => idle::run(&idle::IdlePlan {
                target: o.target,
                connections: o.connections.unwrap_or(10_000),
                server_pid,
                heap_signal: o.heap_signal,
                settle: o.settle,
            }),
            None => Err("idle needs --server-pid".into()),
        },
        "conn-rate" | "handshake" => conn_rate::run(&conn_rate::ConnRatePlan {
            mode: if o.mode == "handshake" {
                "handshake"
            } else {
                "conn-rate"
            },
            target: o.target,
            slots: o.slots,
            payload: o.payload,
            warmup: o.warmup,
            duration: o.duration,
            server_pid: o.server_pid,
        }),
        "http1" | "h2" | "grpc" => bridge_modes::run(&o),
        _ => streaming::run(&streaming::StreamPlan {
            target: o.target,
            window: o.window,
            warmup: o.warmup,
            duration: o.duration,
            server_pid: o.server_pid,
            sink: o.mode == "sink",
        }),
    };
    if let Err(e) = result {
        eprintln!("netpoll-bench {}: {e}", o.mode);
        std::process::exit(2);
    }
}
