//! HTTP load: N keep-alive HTTP/1.1 connections, each with one POST in
//! flight, sent back to back.
//!
//! Each connection is a raw `hyper::client::conn::http1` handshake over its
//! own TCP stream rather than a pooled client: no pool bookkeeping, and the
//! connection count is exactly `--connections`. A 200 from Suture means the
//! event is durable (group commit), so request latency *is* ack latency.
//!
//! A request counts towards the figures when it was *issued* inside the
//! measured window (after warmup, before the end); its reply may land after
//! the end. That keeps slow replies in the latency figures instead of
//! silently cutting them off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::cli::HttpArgs;
use crate::metrics::{Scrape, Target, diff};
use crate::payloads::{PayloadGen, TEMPLATE_COUNT};
use crate::procfs::{ProcFigures, ProcWatch};
use crate::stats::{Histogram, per_sec, round1};

/// Retry-After wait when a 429 carries no usable header.
const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// Pause before reconnecting after a connection error, so a dead server
/// does not turn the client into a busy loop.
const RECONNECT_PAUSE: Duration = Duration::from_millis(100);

#[derive(Clone, Copy)]
struct Window {
    record_from: Instant,
    end: Instant,
}

struct Params {
    target: Target,
    batch: usize,
    timeout: Duration,
    max_backoff: Duration,
    seed: u64,
}

/// What one connection saw inside the measured window.
#[derive(Default)]
struct ConnResult {
    hist: Histogram,
    requests: u64,
    ok: u64,
    too_many: u64,
    other: BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
    body_bytes: u64,
}

impl ConnResult {
    fn error(&mut self, e: impl std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(e.to_string());
        }
    }

    fn merge(&mut self, o: ConnResult) {
        self.hist.merge(o.hist);
        self.requests += o.requests;
        self.ok += o.ok;
        self.too_many += o.too_many;
        for (k, v) in o.other {
            *self.other.entry(k).or_insert(0) += v;
        }
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
        self.body_bytes += o.body_bytes;
    }
}

pub(crate) async fn connect(target: &Target) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.connect)
        .await
        .with_context(|| format!("connecting to {}", target.connect))?;
    // Small requests, one in flight: Nagle would only add delay.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    // The driver ends by itself when the sender is dropped or the peer closes.
    tokio::spawn(conn);
    Ok(sender)
}

/// Sends one request and reads the whole reply (needed to reuse the
/// connection). Returns the status and any Retry-After, in seconds.
pub(crate) async fn exchange(
    sender: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<Duration>)> {
    sender.ready().await.context("connection not ready")?;
    let resp = sender.send_request(req).await.context("sending request")?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    resp.into_body()
        .collect()
        .await
        .context("reading response body")?;
    Ok((status, retry_after))
}

async fn conn_task(id: u64, p: Arc<Params>, w: Window) -> ConnResult {
    let mut out = ConnResult::default();
    let mut payloads = PayloadGen::new(p.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    loop {
        let now = Instant::now();
        if now >= w.end {
            break;
        }
        let measured = now >= w.record_from;
        if sender.as_ref().is_some_and(SendRequest::is_closed) {
            sender = None;
        }
        let s = match &mut sender {
            Some(s) => s,
            None => match connect(&p.target).await {
                Ok(s) => sender.insert(s),
                Err(e) => {
                    if measured {
                        out.error(format!("{e:#}"));
                    }
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                    continue;
                }
            },
        };

        let mut body = String::with_capacity(p.batch * 900 + 2);
        if p.batch == 1 {
            payloads.write_event(&mut body);
        } else {
            payloads.write_batch(p.batch, &mut body);
        }
        let len = body.len() as u64;
        let req = match Request::post(p.target.path.as_str())
            .header(header::HOST, p.target.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
        {
            Ok(r) => r,
            Err(e) => {
                out.error(format!("building request: {e}"));
                break;
            }
        };

        let t0 = Instant::now();
        let res = tokio::time::timeout(p.timeout, exchange(s, req)).await;
        let latency = t0.elapsed();
        match res {
            Ok(Ok((status, retry_after))) => {
                if measured {
                    out.requests += 1;
                    out.body_bytes += len;
                    match status.as_u16() {
                        200 => {
                            out.ok += 1;
                            out.hist.record(latency);
                        }
                        429 => out.too_many += 1,
                        code => *out.other.entry(code).or_insert(0) += 1,
                    }
                }
                if status == StatusCode::TOO_MANY_REQUESTS && !p.max_backoff.is_zero() {
                    let wait = retry_after.unwrap_or(DEFAULT_BACKOFF).min(p.max_backoff);
                    tokio::time::sleep_until((Instant::now() + wait).min(w.end)).await;
                }
            }
            Ok(Err(e)) => {
                if measured {
                    out.error(format!("{e:#}"));
                }
                sender = None;
            }
            Err(_) => {
                if measured {
                    out.error(format!("request timed out after {:?}", p.timeout));
                }
                sender = None;
            }
        }
    }
    out
}

async fn scrape(target: Option<&Target>) -> Option<Scrape> {
    Scrape::fetch(target?).await.ok()
}

/// Runs the HTTP load and returns the report as JSON plus readable text.
pub async fn run(args: &HttpArgs, seed: u64) -> Result<(Value, String)> {
    if args.connections == 0 || args.batch == 0 {
        bail!("--connections and --batch must be at least 1");
    }
    let target = Target::parse(&args.url, "/v1/events")?;
    let metrics = args
        .common
        .metrics_url
        .as_deref()
        .map(|u| Target::parse(u, "/metrics"))
        .transpose()?;

    // Fail fast, with a clear message, when nothing listens.
    drop(connect(&target).await.context("server not reachable")?);

    let mut server = args.common.server_pid.map(ProcWatch::server);
    let mut client = ProcWatch::this_process();
    let params = Arc::new(Params {
        target: target.clone(),
        batch: args.batch,
        timeout: args.timeout,
        max_backoff: args.max_backoff,
        seed,
    });
    let start = Instant::now();
    let w = Window {
        record_from: start + args.warmup,
        end: start + args.warmup + args.duration,
    };
    let tasks: Vec<_> = (0..args.connections as u64)
        .map(|id| tokio::spawn(conn_task(id, params.clone(), w)))
        .collect();

    tokio::time::sleep_until(w.record_from).await;
    let before = scrape(metrics.as_ref()).await;
    client.start_cpu();
    if let Some(s) = &mut server {
        s.start_cpu();
    }
    tokio::time::sleep_until(w.end).await;
    client.end_cpu();
    if let Some(s) = &mut server {
        s.end_cpu();
    }

    let mut total = ConnResult::default();
    for t in tasks {
        match t.await {
            Ok(r) => total.merge(r),
            Err(e) => total.error(format!("connection task failed: {e}")),
        }
    }
    let after = scrape(metrics.as_ref()).await;
    let server_figs = server.as_ref().map(ProcWatch::figures);
    let client_figs = client.figures();

    Ok(report(
        args,
        &target,
        total,
        before.zip(after),
        server_figs,
        client_figs,
    ))
}

fn report(
    args: &HttpArgs,
    target: &Target,
    mut r: ConnResult,
    scrapes: Option<(Scrape, Scrape)>,
    server: Option<ProcFigures>,
    client: ProcFigures,
) -> (Value, String) {
    let window = args.duration;
    let events = r.ok * args.batch as u64;
    let policy = if args.max_backoff.is_zero() {
        "count only: no wait after 429".to_string()
    } else {
        format!(
            "after a 429 the connection sleeps Retry-After (default {:?}), capped at {:?}",
            DEFAULT_BACKOFF, args.max_backoff
        )
    };
    let counters = scrapes.map(|(b, a)| {
        let f = [("source", "http")];
        let acc = |s: &Scrape| s.sum("suture_events_accepted_total", &f);
        let rej = |s: &Scrape| s.by_label("suture_events_rejected_total", &f, "reason");
        (
            (acc(&a) - acc(&b)).max(0.0) as u64,
            diff(&rej(&b), &rej(&a)),
        )
    });
    let mean_body = r.body_bytes.checked_div(r.requests).unwrap_or(0);

    let json = json!({
        "label": args.common.label,
        "mode": "http",
        "url": format!("http://{}{}", target.authority, target.path),
        "connections": args.connections,
        "batch": args.batch,
        "duration_s": window.as_secs_f64(),
        "warmup_s": args.warmup.as_secs_f64(),
        "client_threads": args.threads,
        "requests": r.requests,
        "requests_per_sec": round1(per_sec(r.requests, window)),
        "events_acked": events,
        "events_per_sec": round1(per_sec(events, window)),
        "mean_body_bytes": mean_body,
        "payload_templates": TEMPLATE_COUNT,
        "ack_latency": r.hist.summary_json(),
        "status": {
            "200": r.ok,
            "429": r.too_many,
            "other": r.other.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        },
        "errors": r.errors,
        "first_error": r.first_error,
        "retry_after_policy": policy,
        "server_counters": counters.as_ref().map(|(acc, rej)| json!({
            "accepted_http": acc,
            "rejected_http": rej,
        })),
        "server": server.as_ref().map(ProcFigures::to_json),
        "client": client.to_json(),
    });

    let mut t = String::new();
    t.push_str(&format!(
        "suture-bench http → http://{}{}\n",
        target.authority, target.path
    ));
    t.push_str(&format!(
        "  {} connections, batch {}, {:?} measured after {:?} warmup, {} client thread(s)\n",
        args.connections, args.batch, window, args.warmup, args.threads
    ));
    t.push_str(&format!(
        "  requests       {:>10}   {:>10.1}/s\n",
        r.requests,
        per_sec(r.requests, window)
    ));
    t.push_str(&format!(
        "  events acked   {:>10}   {:>10.1}/s   (mean body {mean_body} B)\n",
        events,
        per_sec(events, window)
    ));
    t.push_str(&format!(
        "  ack latency    {}   (200s only)\n",
        r.hist.summary_line()
    ));
    let other: Vec<String> = r.other.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    t.push_str(&format!(
        "  status         200: {}  429: {}  other: {}\n",
        r.ok,
        r.too_many,
        if other.is_empty() {
            "0".to_string()
        } else {
            other.join(", ")
        }
    ));
    t.push_str(&format!("  errors         {}", r.errors));
    if let Some(e) = &r.first_error {
        t.push_str(&format!("   (first: {e})"));
    }
    t.push('\n');
    if let Some((acc, rej)) = &counters {
        t.push_str(&format!(
            "  server counted accepted(http) +{acc}, rejected(http) {rej:?}\n"
        ));
    }
    if let Some(s) = &server {
        t.push_str(&format!("  server proc    {}\n", s.line()));
    }
    t.push_str(&format!("  client proc    {}\n", client.line()));
    t.push_str(&format!("  429 policy     {policy}\n"));
    (json, t)
}
