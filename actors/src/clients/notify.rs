//! Delivers notifications to webhooks (`[notify]`) without ever holding up
//! the one who notifies: [`Notifier::send`] puts the notification on a
//! bounded queue and returns at once; one task posts each to every
//! receiver that wants it, with a timeout, retries with backoff on
//! connection errors, timeouts, 429 and 5xx, and counts what it could not
//! deliver. A full queue drops the new notification and counts it.
//!
//! Whether a notification may leave the sidecar at all (the kill switch) is
//! the permission check's answer, handed in as `permit` when the notifier
//! starts: clients do not know the control layer.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::domain::notify::{Notification, NotificationKind, NotifyConfig, WebhookConfig, payload};

/// Answers whether a notification of a kind may be sent now; `Err` says why not.
pub type Permit = Arc<dyn Fn(NotificationKind) -> Result<(), String> + Send + Sync>;

/// A receiver, its URL read from its variable at start.
#[derive(Clone)]
struct Receiver {
    config: WebhookConfig,
    url: String,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL is a secret (Slack's carries its token).
        f.debug_struct("Receiver")
            .field("url_env", &self.config.url_env)
            .finish()
    }
}

/// Aborts the delivery task when the last notifier is dropped.
struct Delivery(tokio::task::JoinHandle<()>);

impl Drop for Delivery {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Cheap to clone; clones share the queue.
#[derive(Clone)]
pub struct Notifier {
    sender: Option<mpsc::Sender<Notification>>,
    _delivery: Option<Arc<Delivery>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.sender.is_some())
            .finish()
    }
}

impl Notifier {
    /// A notifier that sends nothing (no receivers configured).
    pub fn disabled() -> Self {
        Self {
            sender: None,
            _delivery: None,
        }
    }

    /// Starts delivery to the receivers whose variables are set (`env`
    /// reads a variable). Must run inside a tokio runtime.
    pub fn start(
        config: &NotifyConfig,
        env: impl Fn(&str) -> Option<String>,
        permit: Permit,
    ) -> Result<Self, reqwest::Error> {
        let receivers: Vec<Receiver> = config
            .webhooks
            .iter()
            .filter_map(|hook| match env(&hook.url_env).filter(|u| !u.trim().is_empty()) {
                Some(url) => Some(Receiver {
                    config: hook.clone(),
                    url: url.trim().to_string(),
                }),
                None => {
                    tracing::warn!(variable = %hook.url_env, "a notification webhook's URL variable is unset; it gets nothing");
                    None
                }
            })
            .collect();
        if receivers.is_empty() {
            return Ok(Self::disabled());
        }
        let http = super::http_client(config.timeout)?;
        let (sender, inbox) = mpsc::channel(config.queue.max(1));
        let retry = Retry {
            max_retries: config.max_retries,
            backoff: config.retry_backoff,
        };
        let task = tokio::spawn(deliver(inbox, receivers, http, permit, retry));
        Ok(Self {
            sender: Some(sender),
            _delivery: Some(Arc::new(Delivery(task))),
        })
    }

    /// Queues `notification`; never waits. Dropped (and counted) when the
    /// queue is full or nothing is configured.
    pub fn send(&self, notification: Notification) {
        let Some(sender) = &self.sender else {
            return;
        };
        let kind = notification.kind.as_str();
        if sender.try_send(notification).is_err() {
            metrics::counter!("suture_notifications_total", "kind" => kind, "outcome" => "dropped")
                .increment(1);
            tracing::warn!(
                kind,
                "notification dropped: the queue is full (a receiver is slow or down)"
            );
        }
    }
}

#[derive(Clone, Copy)]
struct Retry {
    max_retries: u32,
    backoff: Duration,
}

async fn deliver(
    mut inbox: mpsc::Receiver<Notification>,
    receivers: Vec<Receiver>,
    http: reqwest::Client,
    permit: Permit,
    retry: Retry,
) {
    while let Some(notification) = inbox.recv().await {
        let kind = notification.kind.as_str();
        // Asked when it is sent, not when it was queued: a switch engaged
        // in between is obeyed.
        if let Err(why) = permit(notification.kind) {
            metrics::counter!("suture_notifications_total", "kind" => kind, "outcome" => "refused")
                .increment(1);
            tracing::info!(kind, %why, "notification not sent");
            continue;
        }
        for receiver in receivers
            .iter()
            .filter(|r| r.config.wants(notification.kind))
        {
            let body = payload(receiver.config.format, &notification);
            let outcome = match post(&http, &receiver.url, &body, retry).await {
                Ok(()) => "sent",
                Err(error) => {
                    tracing::warn!(kind, variable = %receiver.config.url_env, %error, "notification not delivered");
                    "failed"
                }
            };
            metrics::counter!("suture_notifications_total", "kind" => kind, "outcome" => outcome)
                .increment(1);
        }
    }
}

/// Posts `body`, retrying what may pass. The error never holds the URL.
async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &serde_json::Value,
    retry: Retry,
) -> Result<(), String> {
    let mut wait = retry.backoff;
    let mut attempt = 0;
    loop {
        let error = match http.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return Err(format!("answered {status}"));
                }
                format!("answered {status}")
            }
            Err(e) if e.is_timeout() => "timed out".to_string(),
            Err(e) if e.is_connect() => "could not connect".to_string(),
            Err(e) => return Err(e.without_url().to_string()),
        };
        if attempt >= retry.max_retries {
            return Err(format!("{error} ({} tries)", attempt + 1));
        }
        attempt += 1;
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
    }
}
