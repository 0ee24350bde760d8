//! UDP load: datagrams at a fixed target rate, then a drain wait, then loss
//! measured against the server's own accepted counter.
//!
//! Senders are plain blocking sockets on OS threads (not tokio): a connected
//! `send` in a tight loop is the cheapest way to push datagrams, and pacing
//! needs nothing fancier than "every ~1 ms, send what the rate says is due".
//! Pacing is computed from elapsed time, so oversleeping only makes the
//! next burst bigger; it never lowers the average rate.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};

use crate::cli::UdpArgs;
use crate::metrics::{Scrape, Target, diff};
use crate::payloads::{PayloadGen, TEMPLATE_COUNT};
use crate::procfs::{KernelDrops, ProcFigures, ProcWatch};
use crate::stats::{per_sec, round1};

/// Pause between bursts in paced mode.
const TICK: Duration = Duration::from_millis(1);
/// How often the drain wait polls /metrics.
const POLL: Duration = Duration::from_millis(100);

#[derive(Default)]
struct SendResult {
    sent: u64,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
}

/// One sending thread. `rate` is this thread's share; 0 = unpaced.
fn sender(addr: SocketAddr, rate: u64, duration: Duration, seed: u64) -> Result<SendResult> {
    let bind: SocketAddr = if addr.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let sock = UdpSocket::bind(bind).context("binding UDP socket")?;
    sock.connect(addr)
        .with_context(|| format!("connecting UDP socket to {addr}"))?;
    let mut payloads = PayloadGen::new(seed);
    let mut buf = String::with_capacity(1024);
    let mut out = SendResult::default();
    // Bound one burst so a thread that fell behind still re-checks the clock.
    let burst_cap = (rate / 100).max(64);
    let mut attempted: u64 = 0;
    let start = Instant::now();
    let end = start + duration;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let due = if rate == 0 {
            attempted + burst_cap
        } else {
            let owed = (rate as f64 * now.duration_since(start).as_secs_f64()) as u64;
            owed.min(attempted + burst_cap)
        };
        while attempted < due {
            buf.clear();
            payloads.write_event(&mut buf);
            attempted += 1;
            match sock.send(buf.as_bytes()) {
                Ok(n) => {
                    out.sent += 1;
                    out.bytes += n as u64;
                }
                Err(e) => {
                    out.errors += 1;
                    if out.first_error.is_none() {
                        out.first_error = Some(e.to_string());
                    }
                }
            }
        }
        if rate > 0 {
            std::thread::sleep(TICK);
        }
    }
    Ok(out)
}

/// Splits the rate over `sockets` threads and sums what they did.
fn send_all(
    addr: SocketAddr,
    rate: u64,
    sockets: usize,
    duration: Duration,
    seed: u64,
) -> Result<SendResult> {
    let n = sockets as u64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let share = rate / n + u64::from(i < rate % n);
                let seed = seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                scope.spawn(move || sender(addr, share, duration, seed))
            })
            .collect();
        let mut total = SendResult::default();
        for h in handles {
            let r = h
                .join()
                .map_err(|_| anyhow!("UDP sender thread panicked"))??;
            total.sent += r.sent;
            total.bytes += r.bytes;
            total.errors += r.errors;
            if total.first_error.is_none() {
                total.first_error = r.first_error;
            }
        }
        Ok(total)
    })
}

fn accepted(s: &Scrape) -> f64 {
    s.sum("suture_events_accepted_total", &[("source", "udp")])
}

/// What the server's counters said, once the drain wait ended.
struct Drain {
    accepted: u64,
    /// From the first datagram to the last observed change of the counter.
    active: Duration,
    /// From the end of sending to the end of the wait.
    waited: Duration,
    capped: bool,
    /// Scrapes that failed (a server saturated by UDP may answer /metrics
    /// late); the wait goes on through them, up to the cap.
    failed_scrapes: u64,
    error: Option<String>,
    /// Datagrams the server counted as refused (rejected or dropped).
    refused: u64,
    rejected: BTreeMap<String, u64>,
    dropped: BTreeMap<String, u64>,
}

pub async fn run(args: &UdpArgs, seed: u64) -> Result<(Value, String)> {
    if args.sockets == 0 {
        bail!("--sockets must be at least 1");
    }
    let addr = args
        .addr
        .to_socket_addrs()
        .with_context(|| format!("resolving {}", args.addr))?
        .next()
        .ok_or_else(|| anyhow!("{} resolves to no address", args.addr))?;
    let metrics = args
        .common
        .metrics_url
        .as_deref()
        .map(|u| Target::parse(u, "/metrics"))
        .transpose()?;
    let before = match &metrics {
        Some(t) => Some(
            Scrape::fetch(t)
                .await
                .context("reading --metrics-url before the run")?,
        ),
        None => None,
    };
    let kernel_before = KernelDrops::read(addr.port());
    let mut server = args.common.server_pid.map(ProcWatch::server);
    let mut client = ProcWatch::this_process();
    client.start_cpu();
    if let Some(s) = &mut server {
        s.start_cpu();
    }

    let start = Instant::now();
    let (rate, sockets, duration) = (args.rate, args.sockets, args.duration);
    let sent = tokio::task::spawn_blocking(move || send_all(addr, rate, sockets, duration, seed))
        .await
        .context("UDP sender task")??;
    let send_end = Instant::now();
    let send_time = send_end.duration_since(start);
    client.end_cpu();
    if let Some(s) = &mut server {
        s.end_cpu();
    }

    let drain = match (&metrics, &before) {
        (Some(t), Some(b)) => Some(
            drain(
                t,
                b,
                args,
                sent.sent,
                addr.port(),
                kernel_before,
                start,
                send_end,
                server.as_mut(),
            )
            .await,
        ),
        _ => None,
    };
    let kernel_drops = KernelDrops::read(addr.port()).and_then(|k| k.since(kernel_before));
    let server_figs = server.as_ref().map(ProcWatch::figures);
    let client_figs = client.figures();
    Ok(report(
        args,
        addr,
        &sent,
        send_time,
        drain.as_ref(),
        kernel_drops,
        server_figs,
        client_figs,
    ))
}

/// Waits for the server to finish with what was sent, since UDP ingest is
/// queued server-side and only counted once durably committed. It stops
/// when, by a successful scrape:
/// - every datagram sent is accounted for (accepted + refused by the
///   server + dropped by the kernel's receive buffer), or
/// - the accepted counter has not moved for `--settle` while the server's
///   ingest queue gauge (if it exports one) reads empty and (with
///   `--server-pid`) the server has been near idle for the last second;
///
/// or when `--drain-cap` has passed since sending ended. A failed scrape
/// (a server saturated by UDP may answer /metrics late) never ends the wait.
#[allow(clippy::too_many_arguments)]
async fn drain(
    t: &Target,
    before: &Scrape,
    args: &UdpArgs,
    sent: u64,
    udp_port: u16,
    kernel_before: Option<KernelDrops>,
    start: Instant,
    send_end: Instant,
    mut server: Option<&mut ProcWatch>,
) -> Drain {
    let f = [("source", "udp")];
    let rejected = |s: &Scrape| s.sum("suture_events_rejected_total", &f);
    let dropped = |s: &Scrape| s.sum("suture_udp_datagrams_dropped_total", &[]);
    let mut last = before.clone();
    let mut last_value = accepted(before);
    let mut last_change = send_end;
    let mut error = None;
    let mut failed_scrapes = 0;
    let mut capped = false;
    // Server CPU is sampled once per `settle_check` so short gaps between
    // bursts of work do not look like idleness.
    let settle_check = Duration::from_secs(1);
    let mut cpu_mark = None;
    let mut cpu_mark_at = Instant::now();
    let mut server_idle = server.is_none();
    if let Some(sv) = server.as_deref_mut() {
        sv.idle_since_last(&mut cpu_mark);
    }
    loop {
        tokio::time::sleep(POLL).await;
        if let Some(sv) = server.as_deref_mut() {
            if cpu_mark_at.elapsed() >= settle_check {
                cpu_mark_at = Instant::now();
                server_idle = sv.idle_since_last(&mut cpu_mark).unwrap_or(true);
            }
        }
        let now = Instant::now();
        match Scrape::fetch(t).await {
            Ok(s) => {
                let v = accepted(&s);
                if v != last_value {
                    last_value = v;
                    last_change = now;
                    if let Some(sv) = server.as_deref_mut() {
                        sv.end_cpu();
                    }
                }
                let kernel = KernelDrops::read(udp_port)
                    .and_then(|k| k.since(kernel_before))
                    .map_or(0.0, |k| k.count() as f64);
                // Suture counts a dropped datagram under both counters, another
                // server might under one: max() never double-counts.
                let refused = (rejected(&s) - rejected(before)).max(dropped(&s) - dropped(before));
                let accounted = (v - accepted(before)) + refused + kernel;
                let queue_empty = s.sum("suture_ingest_queue_depth", &[]) <= 0.0;
                last = s;
                if accounted >= sent as f64
                    || (queue_empty
                        && server_idle
                        && now.duration_since(last_change) >= args.settle)
                {
                    break;
                }
            }
            Err(e) => {
                failed_scrapes += 1;
                error = Some(format!("{e:#}"));
            }
        }
        if Instant::now().duration_since(send_end) >= args.drain_cap {
            capped = true;
            break;
        }
    }
    let refused = (rejected(&last) - rejected(before))
        .max(dropped(&last) - dropped(before))
        .max(0.0) as u64;
    let rej = |s: &Scrape| s.by_label("suture_events_rejected_total", &f, "reason");
    let drop = |s: &Scrape| s.by_label("suture_udp_datagrams_dropped_total", &[], "reason");
    Drain {
        accepted: (accepted(&last) - accepted(before)).max(0.0) as u64,
        active: last_change.duration_since(start),
        waited: Instant::now().duration_since(send_end),
        capped,
        failed_scrapes,
        error,
        refused,
        rejected: diff(&rej(before), &rej(&last)),
        dropped: diff(&drop(before), &drop(&last)),
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    args: &UdpArgs,
    addr: SocketAddr,
    s: &SendResult,
    send_time: Duration,
    d: Option<&Drain>,
    kernel_drops: Option<KernelDrops>,
    server: Option<ProcFigures>,
    client: ProcFigures,
) -> (Value, String) {
    let mean = s.bytes.checked_div(s.sent).unwrap_or(0);
    let loss = d.map(|d| {
        if s.sent == 0 {
            0.0
        } else {
            (s.sent as f64 - d.accepted as f64) / s.sent as f64 * 100.0
        }
    });
    // Sent but neither accepted, refused by the server, nor dropped by the kernel.
    let unaccounted = d.map(|d| {
        s.sent
            .saturating_sub(d.accepted)
            .saturating_sub(d.refused)
            .saturating_sub(kernel_drops.map_or(0, KernelDrops::count))
    });
    let rate_label = if args.rate == 0 {
        "max".to_string()
    } else {
        format!("{}/s", args.rate)
    };
    let json = json!({
        "label": args.common.label,
        "mode": "udp",
        "addr": addr.to_string(),
        "target_rate": args.rate,
        "sockets": args.sockets,
        "duration_s": (send_time.as_secs_f64() * 100.0).round() / 100.0,
        "sent": s.sent,
        "sent_per_sec": round1(per_sec(s.sent, send_time)),
        "mean_datagram_bytes": mean,
        "payload_templates": TEMPLATE_COUNT,
        "send_errors": s.errors,
        "first_send_error": s.first_error,
        "server_counters": d.map(|d| json!({
            "accepted_udp": d.accepted,
            "accepted_per_sec": round1(per_sec(d.accepted, d.active)),
            "active_s": d.active.as_secs_f64(),
            "drain_wait_s": d.waited.as_secs_f64(),
            "drain_capped": d.capped,
            "drain_failed_scrapes": d.failed_scrapes,
            "drain_last_error": d.error,
            "refused_udp": d.refused,
            "rejected_udp": d.rejected,
            "dropped_udp": d.dropped,
        })),
        "loss_pct": loss.map(|l| (l * 100.0).round() / 100.0),
        "unaccounted": unaccounted,
        "kernel_udp_drops": kernel_drops.map(KernelDrops::count),
        "kernel_udp_drops_scope": kernel_drops.map(KernelDrops::scope),
        "server": server.as_ref().map(ProcFigures::to_json),
        "client": client.to_json(),
    });

    let mut t = String::new();
    t.push_str(&format!("suture-bench udp → {addr}\n"));
    t.push_str(&format!(
        "  target rate {rate_label}, {} socket(s), sent for {:.2}s\n",
        args.sockets,
        send_time.as_secs_f64()
    ));
    t.push_str(&format!(
        "  sent           {:>10}   {:>10.1}/s   (mean datagram {mean} B)\n",
        s.sent,
        per_sec(s.sent, send_time)
    ));
    t.push_str(&format!("  send errors    {}", s.errors));
    if let Some(e) = &s.first_error {
        t.push_str(&format!("   (first: {e})"));
    }
    t.push('\n');
    match d {
        Some(d) => {
            t.push_str(&format!(
                "  accepted       {:>10}   {:>10.1}/s   (over {:.2}s until the counter settled)\n",
                d.accepted,
                per_sec(d.accepted, d.active),
                d.active.as_secs_f64()
            ));
            t.push_str(&format!(
                "  loss           {:.2}%   = kernel {} + server refused {} + unaccounted {}   (drain wait {:.1}s{})\n",
                loss.unwrap_or(0.0),
                kernel_drops.map_or("?".into(), |k| k.count().to_string()),
                d.refused,
                unaccounted.unwrap_or(0),
                d.waited.as_secs_f64(),
                if d.capped { ", hit the cap" } else { "" }
            ));
            if unaccounted.unwrap_or(0) > 0 {
                t.push_str(
                    "                 unaccounted = still in the server's pipeline when the wait \
                     ended, or lost uncounted (a longer --settle/--drain-cap tells which)\n",
                );
            }
            if !d.rejected.is_empty() || !d.dropped.is_empty() {
                t.push_str(&format!(
                    "  server counted rejected(udp) {:?}, dropped {:?}\n",
                    d.rejected, d.dropped
                ));
            }
            if let Some(e) = &d.error {
                t.push_str(&format!(
                    "  metrics        {} scrape(s) failed while draining (last: {e})\n",
                    d.failed_scrapes
                ));
            }
        }
        None => t.push_str("  accepted       - (pass --metrics-url to measure loss)\n"),
    }
    if let Some(k) = kernel_drops {
        t.push_str(&format!(
            "  kernel drops   {:>10}   (receive buffer full; {})\n",
            k.count(),
            k.scope()
        ));
    }
    if let Some(sv) = &server {
        t.push_str(&format!("  server proc    {}\n", sv.line()));
    }
    t.push_str(&format!("  client proc    {}\n", client.line()));
    (json, t)
}
