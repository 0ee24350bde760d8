//! Sentry envelope load: N keep-alive connections POSTing a real
//! sentry-python envelope (bench/fixtures) to `/api/{project}/envelope/`
//! with `X-Sentry-Auth`, one request in flight each, back to back.
//!
//! Works against any Sentry-compatible server (Suture, Bugsink), so both are
//! driven by the same client. Every request carries its own `event_id`
//! (rewritten in the envelope header and in the event item, same length, so
//! item `length`s stay right): a server that drops duplicate ids must still
//! take every request. For `--encoding br` the bodies are compressed before
//! the timed run (a pool of `--pool` distinct bodies, quality 4 like
//! sentry-python), so the client spends no CPU on compression while
//! measuring. Only 200s count.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, header};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cli::SentryArgs;
use crate::http_load::{connect, exchange};
use crate::metrics::Target;
use crate::procfs::{ProcFigures, ProcWatch};
use crate::stats::{Histogram, per_sec, round1};

/// The fixture, with where its event id sits.
struct Envelope {
    raw: Vec<u8>,
    /// Byte offsets of every occurrence of the original 32-hex event id.
    id_at: Vec<usize>,
}

impl Envelope {
    fn load(path: &str) -> Result<Self> {
        let raw = std::fs::read(path).with_context(|| format!("reading fixture {path}"))?;
        let header_end = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
        let header: Value = serde_json::from_slice(&raw[..header_end])
            .context("the fixture's first line is not an envelope header (JSON)")?;
        let id = header["event_id"]
            .as_str()
            .filter(|id| id.len() == 32)
            .context("the envelope header has no 32-hex event_id")?
            .as_bytes()
            .to_vec();
        let id_at: Vec<usize> = raw
            .windows(32)
            .enumerate()
            .filter(|(_, w)| *w == id)
            .map(|(i, _)| i)
            .collect();
        if id_at.len() < 2 {
            bail!(
                "expected the event id in the header and in the event item, found it {} time(s)",
                id_at.len()
            );
        }
        Ok(Envelope { raw, id_at })
    }

    /// The envelope with event id number `n` (distinct for distinct `n`).
    fn with_id(&self, seed: u64, n: u64) -> Vec<u8> {
        let id = format!("{:016x}{:016x}", mix(seed), mix(seed ^ n.wrapping_add(1)));
        let mut body = self.raw.clone();
        for &at in &self.id_at {
            body[at..at + 32].copy_from_slice(id.as_bytes());
        }
        body
    }
}

/// splitmix64: ids that look random, without a dependency.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 2);
    // Quality 4 as sentry-python; a 64 KiB window is plenty for a ~6 KiB
    // body and spares the default 4 MiB window's tables on every call.
    let params = brotli::enc::BrotliEncoderParams {
        quality: 4,
        lgwin: 16,
        size_hint: body.len(),
        ..Default::default()
    };
    brotli::BrotliCompress(&mut &body[..], &mut out, &params).expect("compressing into memory");
    out
}

/// Distinct brotli bodies, compressed on all cores before the run.
fn br_pool(env: &Envelope, seed: u64, size: u64) -> Vec<Bytes> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let chunks: Vec<Vec<Bytes>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..size)
                        .step_by(threads as usize)
                        .map(|n| Bytes::from(brotli(&env.with_id(seed, n))))
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("compressor thread"))
            .collect()
    });
    chunks.into_iter().flatten().collect()
}

struct Shared {
    target: Target,
    auth: String,
    env: Envelope,
    br: Option<Vec<Bytes>>,
    next: AtomicU64,
    seed: u64,
    timeout: Duration,
}

#[derive(Default)]
struct Tally {
    hist: Histogram,
    requests: u64,
    ok: u64,
    other: std::collections::BTreeMap<u16, u64>,
    errors: u64,
    first_error: Option<String>,
}

async fn conn_task(s: Arc<Shared>, record_from: Instant, end: Instant) -> Tally {
    let mut t = Tally::default();
    let mut sender = None;
    while Instant::now() < end {
        let measured = Instant::now() >= record_from;
        let conn = match &mut sender {
            Some(c) => c,
            None => match connect(&s.target).await {
                Ok(c) => sender.insert(c),
                Err(e) => {
                    t.errors += u64::from(measured);
                    t.first_error.get_or_insert(format!("{e:#}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        // A server may close the connection after each reply (gunicorn's sync
        // workers do: no keep-alive). That is not a failed request: reconnect.
        if conn.ready().await.is_err() {
            sender = None;
            continue;
        }
        let n = s.next.fetch_add(1, Ordering::Relaxed);
        let mut req = Request::post(s.target.path.as_str())
            .header(header::HOST, s.target.authority.as_str())
            .header(header::CONTENT_TYPE, "application/x-sentry-envelope")
            .header("x-sentry-auth", s.auth.as_str());
        let body = match &s.br {
            Some(pool) => {
                req = req.header(header::CONTENT_ENCODING, "br");
                pool[(n % pool.len() as u64) as usize].clone()
            }
            None => Bytes::from(s.env.with_id(s.seed, n)),
        };
        let req = req.body(Full::new(body)).expect("valid request");
        let t0 = Instant::now();
        let res = tokio::time::timeout(s.timeout, exchange(conn, req)).await;
        let latency = t0.elapsed();
        match res {
            Ok(Ok((status, _))) => {
                if measured {
                    t.requests += 1;
                    if status.as_u16() == 200 {
                        t.ok += 1;
                        t.hist.record(latency);
                    } else {
                        *t.other.entry(status.as_u16()).or_insert(0) += 1;
                    }
                }
            }
            Ok(Err(e)) => {
                t.errors += u64::from(measured);
                t.first_error.get_or_insert(format!("{e:#}"));
                sender = None;
            }
            Err(_) => {
                t.errors += u64::from(measured);
                t.first_error
                    .get_or_insert(format!("timed out after {:?}", s.timeout));
                sender = None;
            }
        }
    }
    t
}

pub async fn run(args: &SentryArgs, seed: u64) -> Result<(Value, String)> {
    let url = format!(
        "{}/api/{}/envelope/",
        args.url.trim_end_matches('/'),
        args.project
    );
    let target = Target::parse(&url, "/")?;
    let env = Envelope::load(&args.fixture)?;
    let br = match args.encoding.as_str() {
        "identity" => None,
        "br" => Some(br_pool(&env, seed, args.pool)),
        other => bail!("--encoding {other:?}: expected identity or br"),
    };
    let body_bytes = br.as_ref().map_or(env.raw.len(), |p| p[0].len());
    drop(connect(&target).await.context("server not reachable")?);

    let shared = Arc::new(Shared {
        target,
        auth: format!(
            "Sentry sentry_version=7, sentry_key={}, sentry_client=suture-bench/0.1",
            args.key
        ),
        env,
        br,
        next: AtomicU64::new(0),
        seed,
        timeout: args.timeout,
    });
    let mut server = args.server_pid.map(ProcWatch::server);
    let mut client = ProcWatch::this_process();
    let start = Instant::now();
    let (record_from, end) = (start + args.warmup, start + args.warmup + args.duration);
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(conn_task(shared.clone(), record_from, end)))
        .collect();
    tokio::time::sleep_until(record_from).await;
    client.start_cpu();
    if let Some(s) = &mut server {
        s.start_cpu();
    }
    tokio::time::sleep_until(end).await;
    client.end_cpu();
    if let Some(s) = &mut server {
        s.end_cpu();
    }
    let mut total = Tally::default();
    for task in tasks {
        let t = task.await.context("connection task")?;
        total.hist.merge(t.hist);
        total.requests += t.requests;
        total.ok += t.ok;
        total.errors += t.errors;
        for (k, v) in t.other {
            *total.other.entry(k).or_insert(0) += v;
        }
        total.first_error = total.first_error.or(t.first_error);
    }
    let sent = shared.next.load(Ordering::Relaxed);
    let reused = shared
        .br
        .as_ref()
        .map_or(0, |p| sent.saturating_sub(p.len() as u64));
    Ok(report(
        args,
        &url,
        total,
        body_bytes,
        reused,
        server.as_ref().map(ProcWatch::figures),
        client.figures(),
    ))
}

fn report(
    args: &SentryArgs,
    url: &str,
    mut t: Tally,
    body_bytes: usize,
    reused: u64,
    server: Option<ProcFigures>,
    client: ProcFigures,
) -> (Value, String) {
    let rate = per_sec(t.ok, args.duration);
    let p50 = t.hist.percentile(50.0).map(|d| d.as_secs_f64() * 1e3);
    let json = json!({
        "label": args.label,
        "mode": "sentry",
        "url": url,
        "encoding": args.encoding,
        "connections": args.connections,
        "duration_s": args.duration.as_secs_f64(),
        "body_bytes": body_bytes,
        "requests": t.requests,
        "events_200": t.ok,
        "events_per_sec": round1(rate),
        "latency_p50_ms": p50,
        "latency": t.hist.summary_json(),
        "other_status": t.other.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "errors": t.errors,
        "first_error": t.first_error,
        "reused_event_ids": reused,
        "server": server.as_ref().map(ProcFigures::to_json),
        "client": client.to_json(),
    });
    let mut s = format!(
        "suture-bench sentry → {url} ({}, {} B bodies)\n  {} connections, {:?} measured after {:?} warmup\n",
        args.encoding, body_bytes, args.connections, args.duration, args.warmup
    );
    s.push_str(&format!(
        "  200s           {:>10}   {:>10.1} events/s\n",
        t.ok, rate
    ));
    s.push_str(&format!(
        "  latency        {}   (200s only)\n",
        t.hist.summary_line()
    ));
    s.push_str(&format!(
        "  other status   {:?}   errors {} {}\n",
        t.other,
        t.errors,
        t.first_error.as_deref().unwrap_or("")
    ));
    if reused > 0 {
        s.push_str(&format!(
            "  WARNING        {reused} requests reused an event id: raise --pool\n"
        ));
    }
    if let Some(f) = &server {
        s.push_str(&format!("  server proc    {}\n", f.line()));
    }
    s.push_str(&format!("  client proc    {}\n", client.line()));
    (json, s)
}
