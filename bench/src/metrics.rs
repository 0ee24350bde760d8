//! Talking to the server outside the load itself: URL targets, one-shot GETs
//! (healthz, /metrics) and a minimal Prometheus text parser for the
//! counters the reports diff.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where to connect and what to put in the request line.
#[derive(Debug, Clone)]
pub struct Target {
    /// host:port to connect to.
    pub connect: String,
    /// Host header value.
    pub authority: String,
    pub path: String,
}

impl Target {
    /// Parses an `http://` URL; `default_path` applies when the URL has none.
    pub fn parse(url: &str, default_path: &str) -> Result<Self> {
        let uri: Uri = url.parse().with_context(|| format!("bad URL {url:?}"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some(other) => bail!("only http:// is supported, got {other}://"),
            None => bail!("URL {url:?} needs a scheme, e.g. http://127.0.0.1:8787"),
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow!("URL {url:?} has no host"))?;
        let port = uri.port_u16().unwrap_or(80);
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") | Some("/") => default_path.to_string(),
            Some(p) => p.to_string(),
        };
        let host_for_connect = host.trim_start_matches('[').trim_end_matches(']');
        let connect = if host_for_connect.contains(':') {
            format!("[{host_for_connect}]:{port}")
        } else {
            format!("{host_for_connect}:{port}")
        };
        Ok(Target {
            connect,
            authority: uri
                .authority()
                .map(|a| a.to_string())
                .unwrap_or_else(|| host.to_string()),
            path,
        })
    }
}

/// One GET on a fresh connection, whole body read.
pub async fn get(target: &Target, timeout: Duration) -> Result<(StatusCode, Bytes)> {
    let fut = async {
        let stream = TcpStream::connect(&target.connect)
            .await
            .with_context(|| format!("connecting to {}", target.connect))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP handshake")?;
        let driver = tokio::spawn(conn);
        let req = Request::get(target.path.as_str())
            .header(hyper::header::HOST, target.authority.as_str())
            .body(Empty::<Bytes>::new())
            .context("building request")?;
        let resp = sender.send_request(req).await.context("sending GET")?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading body")?
            .to_bytes();
        driver.abort();
        Ok((status, body))
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| anyhow!("GET {} timed out", target.path))?
}

/// Polls until the URL answers 200, or fails after `timeout`.
pub async fn wait_healthy(url: &str, timeout: Duration) -> Result<()> {
    let target = Target::parse(url, "/healthz")?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::from("no attempt");
    while tokio::time::Instant::now() < deadline {
        match get(&target, Duration::from_secs(2)).await {
            Ok((s, _)) if s == StatusCode::OK => return Ok(()),
            Ok((s, _)) => last = format!("status {s}"),
            Err(e) => last = format!("{e:#}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{url} not healthy after {timeout:?}: {last}")
}

/// One scrape of the server's counters.
#[derive(Debug, Default, Clone)]
pub struct Scrape {
    samples: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    pub async fn fetch(target: &Target) -> Result<Self> {
        let (status, body) = get(target, Duration::from_secs(5)).await?;
        if status != StatusCode::OK {
            bail!("GET {} answered {status}", target.path);
        }
        Ok(Self::parse(&String::from_utf8_lossy(&body)))
    }

    /// Parses Prometheus text exposition: `name{k="v",...} value [ts]`.
    pub fn parse(text: &str) -> Self {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, labels, rest) = match line.find('{') {
                Some(open) => {
                    let Some(close) = line.rfind('}') else {
                        continue;
                    };
                    (
                        &line[..open],
                        parse_labels(&line[open + 1..close]),
                        &line[close + 1..],
                    )
                }
                None => match line.split_once(char::is_whitespace) {
                    Some((n, r)) => (n, BTreeMap::new(), r),
                    None => continue,
                },
            };
            let Some(value) = rest.split_whitespace().next().and_then(|v| v.parse().ok()) else {
                continue;
            };
            samples.push((name.to_string(), labels, value));
        }
        Scrape { samples }
    }

    /// Sum of `name` over label sets that contain every `(key, value)` in
    /// `filter`. Absent means 0: counters appear only once incremented.
    pub fn sum(&self, name: &str, filter: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(n, labels, _)| {
                n == name
                    && filter
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, v)| v)
            .sum()
    }

    /// `name` restricted by `filter`, summed per value of label `by`.
    pub fn by_label(&self, name: &str, filter: &[(&str, &str)], by: &str) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        for (n, labels, v) in &self.samples {
            if n == name
                && filter
                    .iter()
                    .all(|(k, fv)| labels.get(*k).map(String::as_str) == Some(*fv))
            {
                let key = labels.get(by).cloned().unwrap_or_default();
                *out.entry(key).or_insert(0.0) += v;
            }
        }
        out
    }
}

fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq].trim().to_string();
        let after = rest[eq + 1..].trim_start();
        let Some(body) = after.strip_prefix('"') else {
            break;
        };
        let mut value = String::new();
        let mut chars = body.char_indices();
        let mut end = body.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, e)) = chars.next() {
                        value.push(if e == 'n' { '\n' } else { e });
                    }
                }
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(key, value);
        rest = &body[end.min(body.len())..];
    }
    out
}

/// Counter differences between two scrapes.
pub fn diff(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v - before.get(k).copied().unwrap_or(0.0)).max(0.0) as u64,
            )
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP suture_events_accepted_total events stored
# TYPE suture_events_accepted_total counter
suture_events_accepted_total{source="udp"} 1200
suture_events_accepted_total{source="http"} 34
suture_events_rejected_total{source="udp",reason="invalid_json"} 3
suture_events_rejected_total{reason="too_large",source="udp"} 2
suture_udp_datagrams_dropped_total{reason="queue_full"} 7
suture_up 1
"#;

    #[test]
    fn sums_by_label() {
        let s = Scrape::parse(TEXT);
        let acc = "suture_events_accepted_total";
        assert_eq!(s.sum(acc, &[("source", "udp")]), 1200.0);
        assert_eq!(s.sum(acc, &[]), 1234.0);
        assert_eq!(
            s.sum("suture_events_rejected_total", &[("source", "udp")]),
            5.0
        );
        assert_eq!(
            s.sum("suture_events_rejected_total", &[("source", "http")]),
            0.0
        );
        assert_eq!(s.sum("absent_total", &[]), 0.0);
        assert_eq!(s.sum("suture_up", &[]), 1.0);
        let by = s.by_label(
            "suture_events_rejected_total",
            &[("source", "udp")],
            "reason",
        );
        assert_eq!(by.get("too_large"), Some(&2.0));
    }

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8787", "/v1/events").expect("parses");
        assert_eq!(t.connect, "127.0.0.1:8787");
        assert_eq!(t.path, "/v1/events");
        let t = Target::parse("http://localhost:9/metrics", "/x").expect("parses");
        assert_eq!(
            (t.connect.as_str(), t.path.as_str()),
            ("localhost:9", "/metrics")
        );
        assert!(Target::parse("https://x", "/").is_err());
    }
}
