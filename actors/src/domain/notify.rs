//! Notifications: what Suture tells people without being asked (a fix
//! waiting for review, a pull request opened, the kill switch flipped, a
//! budget spent, a breaker tripped), and the two payloads it speaks: a
//! generic JSON object and Slack's incoming-webhook format.
//!
//! Pure: the delivery (queue, retries, timeouts) is `clients::notify`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::duration;

/// Where a part that cannot see the guard hands its notifications (the
/// engine wires it through the guard's check).
pub type NotifyFn = std::sync::Arc<dyn Fn(Notification) + Send + Sync>;

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// A ticket was queued for a coding agent.
    FixCandidate,
    /// A fix passed its tests and waits in Suture's review queue.
    FixAwaitingReview,
    /// A draft pull request was opened.
    PrOpened,
    /// A ticket needs a person (agent attempts used up, a fix that failed).
    Escalation,
    /// The kill switch was engaged or disengaged (sent even while engaged).
    KillSwitch,
    /// A token or money budget is spent for its window.
    BudgetExhausted,
    /// A breaker opened (LLM, GitHub, a signature's fix loop) or review
    /// fatigue lowered the autonomy.
    BreakerTripped,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::FixCandidate => "fix_candidate",
            NotificationKind::FixAwaitingReview => "fix_awaiting_review",
            NotificationKind::PrOpened => "pr_opened",
            NotificationKind::Escalation => "escalation",
            NotificationKind::KillSwitch => "kill_switch",
            NotificationKind::BudgetExhausted => "budget_exhausted",
            NotificationKind::BreakerTripped => "breaker_tripped",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub kind: NotificationKind,
    pub at_ms: i64,
    /// One line.
    pub title: String,
    /// The details, in words (scrubbed by whoever made it).
    pub text: String,
    pub ticket: Option<String>,
    /// A link for a person (a pull request).
    pub url: Option<String>,
}

impl Notification {
    pub fn new(kind: NotificationKind, at_ms: i64, title: &str, text: impl Into<String>) -> Self {
        Self {
            kind,
            at_ms,
            title: title.to_string(),
            text: text.into(),
            ticket: None,
            url: None,
        }
    }

    pub fn ticket(mut self, id: &str) -> Self {
        self.ticket = Some(id.to_string());
        self
    }

    pub fn url(mut self, url: &str) -> Self {
        self.url = Some(url.to_string());
        self
    }
}

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// `{"kind", "at_ms", "title", "text", "ticket", "url", "source": "suture"}`.
    #[default]
    Json,
    /// Slack's incoming webhook: `{"text": "..."}` in Slack's markup.
    Slack,
}

/// One receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// The environment variable holding the URL (a Slack webhook URL is a
    /// secret: it never goes in a file).
    pub url_env: String,
    pub format: WebhookFormat,
    /// The kinds this receiver wants; empty: all.
    pub events: Vec<NotificationKind>,
}

impl WebhookConfig {
    pub fn wants(&self, kind: NotificationKind) -> bool {
        self.events.is_empty() || self.events.contains(&kind)
    }
}

/// `[notify]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[[notify.webhooks]]`; none: nothing is sent.
    pub webhooks: Vec<WebhookConfig>,
    /// Notifications waiting to be sent. Full: new ones are dropped and
    /// counted, so a receiver that is down never holds up a stage.
    pub queue: usize,
    /// Longest one delivery may take.
    #[serde(with = "duration")]
    pub timeout: Duration,
    /// Extra tries after a failure (connection error, timeout, 429, 5xx).
    pub max_retries: u32,
    /// Wait before the first retry, doubled for each next one.
    #[serde(with = "duration")]
    pub retry_backoff: Duration,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            webhooks: Vec::new(),
            queue: 1_000,
            timeout: Duration::from_secs(5),
            max_retries: 3,
            retry_backoff: Duration::from_secs(1),
        }
    }
}

/// The body for `format`.
pub fn payload(format: WebhookFormat, notification: &Notification) -> Value {
    match format {
        WebhookFormat::Json => json!({
            "source": "suture",
            "kind": notification.kind.as_str(),
            "at_ms": notification.at_ms,
            "title": notification.title,
            "text": notification.text,
            "ticket": notification.ticket,
            "url": notification.url,
        }),
        WebhookFormat::Slack => {
            let mut text = format!("*{}*", slack_escape(&notification.title));
            if let Some(ticket) = &notification.ticket {
                text.push_str(&format!(" ({})", slack_escape(ticket)));
            }
            if !notification.text.is_empty() {
                text.push('\n');
                text.push_str(&slack_escape(&notification.text));
            }
            if let Some(url) = &notification.url {
                text.push_str(&format!("\n<{}|open>", slack_escape(url)));
            }
            json!({ "text": text })
        }
    }
}

/// Slack's three control characters, so data never becomes a mention or a
/// link (`<!channel>`, `<https://evil|click>`).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Notification {
        Notification::new(
            NotificationKind::PrOpened,
            5,
            "Fix opened for review",
            "KeyError <!channel> in cart",
        )
        .ticket("T-3")
        .url("https://github.com/o/r/pull/7")
    }

    #[test]
    fn the_json_payload_names_every_field() {
        let body = payload(WebhookFormat::Json, &sample());
        assert_eq!(body["kind"], "pr_opened");
        assert_eq!(body["ticket"], "T-3");
        assert_eq!(body["url"], "https://github.com/o/r/pull/7");
        assert_eq!(body["source"], "suture");
    }

    #[test]
    fn slack_text_cannot_mention_or_link_from_data() {
        let body = payload(WebhookFormat::Slack, &sample());
        let text = body["text"].as_str().expect("text");
        assert!(text.starts_with("*Fix opened for review* (T-3)"), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(
            text.ends_with("<https://github.com/o/r/pull/7|open>"),
            "{text}"
        );
    }

    #[test]
    fn a_receiver_gets_the_kinds_it_asked_for() {
        let all = WebhookConfig::default();
        assert!(all.wants(NotificationKind::KillSwitch));
        let some = WebhookConfig {
            events: vec![NotificationKind::PrOpened],
            ..WebhookConfig::default()
        };
        assert!(some.wants(NotificationKind::PrOpened));
        assert!(!some.wants(NotificationKind::KillSwitch));
    }
}
