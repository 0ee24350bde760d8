//! Command-line interface: one subcommand per ingest path, plus two hidden
//! helpers that `bench/run.sh` uses so it needs neither curl nor python.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Load generator for Suture's ingest paths. A benchmark, not a test: it
/// reports figures and never judges them.
#[derive(Debug, Parser)]
#[command(name = "suture-bench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Keep-alive HTTP/1.1 connections POSTing events back to back; measures
    /// ack latency (a 200 means the event is durably stored).
    Http(HttpArgs),
    /// Fire-and-forget UDP datagrams at a fixed rate; measures loss by
    /// diffing the server's accepted counter.
    Udp(UdpArgs),
    /// Keep-alive connections POSTing a real Sentry envelope (fixture) to
    /// /api/{project}/envelope/, each with its own event_id; any
    /// Sentry-compatible server (Suture, Bugsink).
    Sentry(SentryArgs),
    /// Poll a URL until it answers 200 (used by run.sh to wait for /healthz).
    #[command(hide = true)]
    WaitHealthy {
        url: String,
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Print a free TCP port and a free UDP port on 127.0.0.1 (used by run.sh).
    #[command(hide = true)]
    FreePorts,
}

/// Options shared by both load subcommands.
#[derive(Debug, Args)]
pub struct Common {
    /// Server process id: report its peak and current RSS and its CPU use.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Prometheus endpoint of the server, to diff its counters around the run.
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// Print one JSON object instead of the readable block.
    #[arg(long)]
    pub json: bool,
    /// Free text copied into the JSON report, to tell scenarios apart.
    #[arg(long)]
    pub label: Option<String>,
    /// Seed for the payload generator (default: from the clock).
    #[arg(long)]
    pub seed: Option<u64>,
}

#[derive(Debug, Args)]
pub struct HttpArgs {
    /// Server base URL (path defaults to /v1/events) or the full endpoint URL.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    pub url: String,
    /// Number of concurrent keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Measured duration (e.g. 10s, 500ms, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Events per request; above 1 the body is a JSON array.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Unmeasured load before the measured window, to fill caches and queues.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Per-request timeout; a timed-out request counts as an error and its
    /// connection is replaced.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// After a 429 the connection sleeps for Retry-After, capped at this
    /// (100 ms when the header is absent); 0 means count 429s and go on at once.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub max_backoff: Duration,
    /// Client runtime worker threads. One leaves the other core to the server.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct UdpArgs {
    /// Server UDP address.
    #[arg(long, default_value = "127.0.0.1:12201")]
    pub addr: String,
    /// Target datagrams per second over all sockets; 0 = as fast as possible.
    #[arg(long, default_value_t = 50_000)]
    pub rate: u64,
    /// How long to send.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Sending sockets, each on its own thread.
    #[arg(long, default_value_t = 1)]
    pub sockets: usize,
    /// After sending, stop waiting once the accepted counter has been still
    /// this long, the server's ingest queue gauge reads empty and (with
    /// --server-pid) the server has been near idle for a second. The wait
    /// ends at once when every datagram is accounted for (accepted, refused,
    /// or dropped by the kernel), so a long value costs nothing then; 5 s,
    /// not 1 s, because one group commit of tens of thousands of events can
    /// take seconds, during which the counter stands still.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub settle: Duration,
    /// Longest wait after sending, in any case.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub drain_cap: Duration,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Debug, Args)]
pub struct SentryArgs {
    /// Server base URL; requests go to {url}/api/{project}/envelope/.
    #[arg(long, default_value = "http://127.0.0.1:8787")]
    pub url: String,
    /// Sentry project id (the number at the end of the DSN).
    #[arg(long, default_value_t = 1)]
    pub project: u64,
    /// Public key (the user part of the DSN), sent in X-Sentry-Auth.
    #[arg(long)]
    pub key: String,
    /// The uncompressed envelope to send (bench/record.py writes it).
    #[arg(long, default_value = "bench/fixtures/sentry-python-envelope.json")]
    pub fixture: String,
    /// identity, or br (brotli, as sentry-python sends with the brotli module installed).
    #[arg(long, default_value = "identity")]
    pub encoding: String,
    /// For br: distinct bodies compressed before the run; more requests than this reuse ids.
    #[arg(long, default_value_t = 200_000)]
    pub pool: u64,
    /// Concurrent keep-alive connections, one request in flight each.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Client runtime worker threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Server process id: report its RSS and CPU use.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[arg(long)]
    pub json: bool,
    #[arg(long)]
    pub label: Option<String>,
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Parses `10s`, `250ms`, `1.5s`, `2m`, `100us` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {s:?}: expected e.g. 10s, 500ms, 2m"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => value,
        "ms" => value / 1e3,
        "us" | "µs" => value / 1e6,
        "m" | "min" => value * 60.0,
        other => return Err(format!("invalid duration unit {other:?} in {s:?}")),
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("invalid duration {s:?}"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("s").is_err());
    }
}
