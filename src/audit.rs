//! `suture audit`: the audit log of a running sidecar, as lines a person
//! reads or as JSON lines a tool reads; `--follow` keeps asking for what
//! came after the last entry printed.

use std::time::Duration;

use serde_json::Value;

use crate::wire::time::format_rfc3339;

/// What `suture audit` was asked for.
#[derive(Debug, Clone, Default)]
pub struct AuditArgs {
    pub since: u64,
    pub ticket: Option<String>,
    pub kind: Option<String>,
    pub limit: usize,
    pub follow: bool,
    pub jsonl: bool,
}

/// How often `--follow` asks for new entries.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

pub async fn run(url: &str, args: AuditArgs) -> anyhow::Result<()> {
    let mut since = args.since;
    loop {
        let mut target = format!(
            "{}/v1/audit?since={since}&limit={}",
            url.trim_end_matches('/'),
            args.limit
        );
        for (key, value) in [("ticket", &args.ticket), ("kind", &args.kind)] {
            if let Some(value) = value {
                target.push_str(&format!("&{key}={}", percent_encode(value)));
            }
        }
        let reply = crate::client::request("GET", &target, None).await?;
        let entries = reply
            .get("entries")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for entry in &entries {
            if args.jsonl {
                println!("{entry}");
            } else {
                println!("{}", render_entry(entry));
            }
        }
        since = reply.get("next").and_then(Value::as_u64).unwrap_or(since);
        // A full page means more is waiting: ask again at once.
        if entries.len() >= args.limit {
            continue;
        }
        if !args.follow {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_INTERVAL).await;
    }
}

/// One line: time, seq, kind, actor, ticket, detail.
pub fn render_entry(entry: &Value) -> String {
    let text = |key: &str| entry.get(key).and_then(Value::as_str).unwrap_or_default();
    let at = entry
        .get("at_ms")
        .and_then(Value::as_i64)
        .map(format_rfc3339)
        .unwrap_or_default();
    let seq = entry.get("seq").and_then(Value::as_u64).unwrap_or_default();
    let ticket = text("ticket");
    let peer = text("peer");
    let mut line = format!("{at} #{seq} {:<24} {}", text("kind"), text("actor"));
    if !peer.is_empty() {
        line.push_str(&format!(" from {peer}"));
    }
    if !ticket.is_empty() {
        line.push_str(&format!(" [{ticket}]"));
    }
    line.push_str(": ");
    line.push_str(&text("detail").replace('\n', " "));
    line
}

/// Query-string escaping for the few characters a ticket id or kind may hold.
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_entry_reads_as_one_line() {
        let line = render_entry(&json!({
            "seq": 7, "at_ms": 1_767_600_000_000i64, "kind": "admin.kill_switch",
            "actor": "alice", "peer": "127.0.0.1:5000", "detail": "engaged:\nbad deploy"
        }));
        assert!(line.contains("#7 admin.kill_switch"), "{line}");
        assert!(line.contains("alice from 127.0.0.1:5000"), "{line}");
        assert!(line.ends_with("engaged: bad deploy"), "{line}");
        assert_eq!(percent_encode("T-1 x&y"), "T-1%20x%26y");
    }
}
