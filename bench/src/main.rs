//! `suture-bench`: load generator for Suture's ingest paths.
//!
//! A benchmark, not a test: it drives the HTTP and UDP ingest endpoints of a
//! running server and reports throughput, ack latency, loss and the server's
//! memory and CPU. See bench/README.md.

mod cli;
mod http_load;
mod metrics;
mod payloads;
mod procfs;
mod sentry_load;
mod stats;
mod udp_load;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use clap::Parser;

use cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    // Errors are printed as one chained line, never as anyhow's Debug form,
    // which adds a backtrace whenever RUST_BACKTRACE happens to be set.
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("suture-bench: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    // The client shares the machine with the server: HTTP load runs on a
    // small runtime (`--threads`, default 1); UDP senders are OS threads and
    // the runtime only polls /metrics, so one worker is plenty there.
    let threads = match &cli.command {
        Command::Http(a) => a.threads.max(1),
        Command::Sentry(a) => a.threads.max(1),
        _ => 1,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .context("building tokio runtime")?;
    rt.block_on(dispatch(cli.command))
}

async fn dispatch(cmd: Command) -> Result<()> {
    let (json, text, as_json) = match cmd {
        Command::Http(a) => {
            let (j, t) = http_load::run(&a, seed(a.common.seed)).await?;
            (j, t, a.common.json)
        }
        Command::Udp(a) => {
            let (j, t) = udp_load::run(&a, seed(a.common.seed)).await?;
            (j, t, a.common.json)
        }
        Command::Sentry(a) => {
            let (j, t) = sentry_load::run(&a, seed(a.seed)).await?;
            (j, t, a.json)
        }
        Command::WaitHealthy { url, timeout } => return metrics::wait_healthy(&url, timeout).await,
        Command::FreePorts => return free_ports(),
    };
    if as_json {
        println!("{json}");
    } else {
        print!("{text}");
    }
    Ok(())
}

fn seed(explicit: Option<u64>) -> u64 {
    explicit.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5u64)
    })
}

/// Prints a free TCP port and a free UDP port on 127.0.0.1, for run.sh.
/// The sockets close before the server binds; the race is harmless here.
fn free_ports() -> Result<()> {
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").context("binding a TCP port")?;
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").context("binding a UDP port")?;
    println!(
        "{} {}",
        tcp.local_addr().context("TCP local addr")?.port(),
        udp.local_addr().context("UDP local addr")?.port()
    );
    Ok(())
}
