//! `chat-bench`: a load tool for any WebSocket chat server that speaks the Ktor tutorial's
//! protocol (a greeting on connect, then every text frame broadcast as `[name]: text`).
//!
//! It only ever connects to loopback addresses, bounds every run in time, and raises its own
//! file-descriptor limit. Every line it sends carries sender, sequence number and send time,
//! so every receiver measures latency and detects loss and reordering. Results print as a
//! table and as one JSON line.
//!
//! ```text
//! chat-bench --addr 127.0.0.1:8080 --pid PID idle --connections 10000
//! chat-bench --addr 127.0.0.1:8080 broadcast --connections 1000 --senders 10 --lines 200 --window 16
//! chat-bench --addr 127.0.0.1:8080 latency --connections 1000 --senders 10 --rate 20 --seconds 10
//! chat-bench --addr 127.0.0.1:8080 fanout --connections 19000 --seconds 10
//! chat-bench --addr 127.0.0.1:8080 storm --connections 10000 --missed 20
//! chat-bench --addr 127.0.0.1:8080 --pid PID noise --connections 10 --frames 100000
//! ```

mod churn;
mod flood;
mod line;
mod net;
mod noise;
mod report;
mod rooms;
mod run;
mod storm;
mod tally;

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;

/// Load tool for WebSocket chat servers that speak the Ktor tutorial's protocol.
/// Loopback only.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The server's address; must be loopback.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The chat's path.
    #[arg(long, default_value = "/chat")]
    path: String,
    /// Spread connections over source addresses 127.0.0.1 … 127.0.0.N (more than ~28,000
    /// connections need more than one).
    #[arg(long, default_value_t = 1)]
    sources: u8,
    /// Further nodes of the same chat (a cluster): connections are spread over --addr and
    /// these in turn. Repeat for more.
    #[arg(long)]
    also: Vec<SocketAddr>,
    /// Speak TLS (wss) to the server, trusting only this PEM certificate.
    #[arg(long, value_name = "FILE")]
    tls_ca: Option<String>,
    /// The server's process id, to report its memory and CPU time; repeat for every process
    /// of a cluster (its nodes, its Redis), whose figures are then summed.
    #[arg(long)]
    pid: Vec<u32>,
    /// Connections opened at once while connecting.
    #[arg(long, default_value_t = 100)]
    connect_batch: usize,
    /// Give up on the whole run after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    max_seconds: f64,
    #[command(subcommand)]
    mode: run::Mode,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    for addr in std::iter::once(cli.addr).chain(cli.also.iter().copied()) {
        if let Err(e) = net::check_loopback(addr) {
            eprintln!("chat-bench: {e}");
            return ExitCode::from(2);
        }
    }
    if let Some(ca) = &cli.tls_ca {
        if let Err(e) = net::use_tls(ca) {
            eprintln!("chat-bench: {e}");
            return ExitCode::from(2);
        }
    }
    let fd_limit = net::raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chat-bench: cannot start tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    let target = run::Target {
        addr: cli.addr,
        also: cli.also,
        path: cli.path,
        sources: cli.sources,
        pid: cli.pid,
        batch: cli.connect_batch.max(1),
        fd_limit,
    };
    let local = tokio::task::LocalSet::new();
    let limit = std::time::Duration::from_secs_f64(cli.max_seconds);
    let outcome = local.block_on(&runtime, async {
        tokio::time::timeout(limit, run::run(target, cli.mode)).await
    });
    match outcome {
        Ok(Ok(result)) => {
            report::print(&result);
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            eprintln!("chat-bench: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!(
                "chat-bench: gave up after {} s (--max-seconds)",
                cli.max_seconds
            );
            ExitCode::FAILURE
        }
    }
}
