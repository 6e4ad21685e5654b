//! `netpoll-bench`: a native, single-threaded, event-driven (mio) load generator for the
//! echo servers of netpoll, Node's `net` and Go's netpoll. See [`cli::USAGE`].
#![deny(missing_docs)]

mod async_load;
mod bridge_modes;
mod cli;
mod conn_rate;
mod conn_set;
mod echo;
mod framed_conn;
mod h2_load;
mod histogram;
mod http1_load;
mod idle;
mod pattern;
mod phase;
mod report;
mod server_stats;
mod streaming;
mod target;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{}", cli::USAGE);
        return;
    }
    let o = match cli::parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("netpoll-bench: {e}\n{}", cli::USAGE);
            std::process::exit(2);
        }
    };
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
        "conn-rate" => conn_rate::run(&conn_rate::ConnRatePlan {
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
        }),
    };
    if let Err(e) = result {
        eprintln!("netpoll-bench {}: {e}", o.mode);
        std::process::exit(2);
    }
}
