//! GitHub's webhook deliveries: the signature check and the few events
//! Suture acts on (a fix's pull request closed, merged or not; a review of
//! it). Everything else is acknowledged and ignored.
//!
//! The signature is `X-Hub-Signature-256: sha256=<hex>`, HMAC-SHA256 of the
//! raw body with the webhook's secret, compared in constant time (ring).

use ring::hmac;
use serde_json::Value;

pub use crate::domain::tickets::github_event::{WebhookEvent, ticket_of_branch};

/// Whether `header` is the body's signature under `secret`.
pub fn signature_valid(secret: &[u8], body: &[u8], header: Option<&str>) -> bool {
    let Some(hex) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Some(tag) = decode_hex(hex) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, body, &tag).is_ok()
}

/// The signature GitHub would send for `body` (tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Reads the delivery's event from its `X-GitHub-Event` name and JSON
/// body. `Err` when the body is not the JSON GitHub sends for that event.
pub fn parse_event(name: &str, body: &[u8]) -> Result<WebhookEvent, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let pull = &value["pull_request"];
    let action = value["action"].as_str().unwrap_or_default();
    let pull_fields = || -> Result<(u64, String), String> {
        let number = pull["number"]
            .as_u64()
            .ok_or("pull_request.number is missing")?;
        let head = text(&pull["head"]["ref"]);
        if head.is_empty() {
            return Err("pull_request.head.ref is missing".into());
        }
        Ok((number, head))
    };
    match (name, action) {
        ("pull_request", "closed") => {
            let (number, head) = pull_fields()?;
            let merged = pull["merged"].as_bool().unwrap_or(false);
            let by = if merged {
                text(&pull["merged_by"]["login"])
            } else {
                text(&value["sender"]["login"])
            };
            Ok(WebhookEvent::PullRequestClosed {
                number,
                head,
                merge_commit: merged
                    .then(|| text(&pull["merge_commit_sha"]))
                    .filter(|c| !c.is_empty()),
                by,
            })
        }
        ("pull_request_review", "submitted") => {
            let (number, head) = pull_fields()?;
            let review = &value["review"];
            Ok(WebhookEvent::Review {
                number,
                head,
                state: text(&review["state"]).to_ascii_lowercase(),
                body: text(&review["body"]),
                by: text(&review["user"]["login"]),
            })
        }
        (name, action) => Ok(WebhookEvent::Ignored(
            format!("{name} {action}").trim().to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_right_secret_signs_the_body() {
        let body = br#"{"action":"closed"}"#;
        let header = sign(b"s3cret", body);
        assert!(signature_valid(b"s3cret", body, Some(&header)));
        assert!(!signature_valid(b"other", body, Some(&header)));
        assert!(!signature_valid(b"s3cret", b"{}", Some(&header)));
        assert!(!signature_valid(b"s3cret", body, None));
        assert!(!signature_valid(b"s3cret", body, Some("sha1=abc")));
        assert!(!signature_valid(b"s3cret", body, Some("sha256=zz")));
    }

    #[test]
    fn closed_pull_requests_and_reviews_are_read() {
        let merged = json!({
            "action": "closed",
            "pull_request": {"number": 7, "merged": true, "merge_commit_sha": "abc123",
                "head": {"ref": "suture/fix-T-3-1"}, "merged_by": {"login": "maria"}},
            "sender": {"login": "maria"}
        });
        assert_eq!(
            parse_event("pull_request", merged.to_string().as_bytes()),
            Ok(WebhookEvent::PullRequestClosed {
                number: 7,
                head: "suture/fix-T-3-1".into(),
                merge_commit: Some("abc123".into()),
                by: "maria".into()
            })
        );
        let review = json!({
            "action": "submitted",
            "review": {"state": "CHANGES_REQUESTED", "body": "validate upstream", "user": {"login": "li"}},
            "pull_request": {"number": 7, "head": {"ref": "suture/fix-T-3-1"}}
        });
        let WebhookEvent::Review { state, body, .. } =
            parse_event("pull_request_review", review.to_string().as_bytes()).expect("review")
        else {
            panic!("not a review");
        };
        assert_eq!(
            (state.as_str(), body.as_str()),
            ("changes_requested", "validate upstream")
        );
        assert_eq!(
            parse_event("ping", b"{}"),
            Ok(WebhookEvent::Ignored("ping".into()))
        );
        assert!(parse_event("pull_request", b"not json").is_err());
        assert!(parse_event("pull_request", br#"{"action":"closed","pull_request":{}}"#).is_err());
    }
}
