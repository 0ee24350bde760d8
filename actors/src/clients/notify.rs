//! Delivers notifications to webhooks (`[notify]`) without ever holding up
//! the one who notifies: [`Notifier::send`] puts the notification on each
//! wanting receiver's bounded queue and returns at once; one task per
//! receiver posts them, with a timeout, retries with backoff on connection
//! errors, timeouts, 429 and 5xx, and counts what it could not deliver. A
//! full queue drops the new notification and counts it. One receiver per
//! task: a receiver that hangs delays only its own notifications.
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

/// Aborts a receiver's delivery task when the last notifier is dropped.
struct Delivery(tokio::task::JoinHandle<()>);

impl Drop for Delivery {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One receiver's queue, and the task that empties it.
struct Queue {
    wants: WebhookConfig,
    sender: mpsc::Sender<Notification>,
    _delivery: Delivery,
}

/// Cheap to clone; clones share the queues.
#[derive(Clone)]
pub struct Notifier {
    queues: Arc<Vec<Queue>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("receivers", &self.queues.len())
            .finish()
    }
}

impl Notifier {
    /// A notifier that sends nothing (no receivers configured).
    pub fn disabled() -> Self {
        Self {
            queues: Arc::new(Vec::new()),
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
        let retry = Retry {
            max_retries: config.max_retries,
            backoff: config.retry_backoff,
        };
        let queues = receivers
            .into_iter()
            .map(|receiver| {
                let (sender, inbox) = mpsc::channel(config.queue.max(1));
                let wants = receiver.config.clone();
                let task = tokio::spawn(deliver(
                    inbox,
                    receiver,
                    http.clone(),
                    permit.clone(),
                    retry,
                ));
                Queue {
                    wants,
                    sender,
                    _delivery: Delivery(task),
                }
            })
            .collect();
        Ok(Self {
            queues: Arc::new(queues),
        })
    }

    /// Queues `notification` for each receiver that wants it; never
    /// waits. Dropped (and counted) where a queue is full.
    pub fn send(&self, notification: Notification) {
        let kind = notification.kind.as_str();
        for queue in self
            .queues
            .iter()
            .filter(|q| q.wants.wants(notification.kind))
        {
            if queue.sender.try_send(notification.clone()).is_err() {
                metrics::counter!("suture_notifications_total", "kind" => kind, "outcome" => "dropped")
                    .increment(1);
                tracing::warn!(kind, variable = %queue.wants.url_env, "notification dropped: the receiver's queue is full (it is slow or down)");
            }
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
    receiver: Receiver,
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::domain::notify::WebhookFormat;

    fn config(queue: usize) -> NotifyConfig {
        NotifyConfig {
            webhooks: vec![WebhookConfig {
                url_env: "HOOK".into(),
                format: WebhookFormat::Json,
                events: Vec::new(),
            }],
            queue,
            timeout: Duration::from_secs(5),
            max_retries: 2,
            retry_backoff: Duration::from_millis(10),
        }
    }

    async fn received(server: &MockServer, count: usize) -> Vec<wiremock::Request> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let requests = server.received_requests().await.unwrap_or_default();
            if requests.len() >= count || std::time::Instant::now() > deadline {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn a_5xx_is_retried_until_it_is_delivered() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&server)
            .await;
        let uri = server.uri();
        let notifier = Notifier::start(&config(10), |_| Some(uri.clone()), Arc::new(|_| Ok(())))
            .expect("start");
        notifier.send(Notification::new(
            NotificationKind::Escalation,
            1,
            "needs a person",
            "x",
        ));
        let requests = received(&server, 3).await;
        assert_eq!(requests.len(), 3, "two 503s, then delivered");
        let body: serde_json::Value = serde_json::from_slice(&requests[2].body).expect("json");
        assert_eq!(body["kind"], "escalation");
    }

    #[tokio::test]
    async fn what_the_kill_switch_refuses_is_not_sent_but_its_own_notice_is() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let uri = server.uri();
        let permit: Permit = Arc::new(|kind| {
            if kind == NotificationKind::KillSwitch {
                Ok(())
            } else {
                Err("the kill switch is engaged".into())
            }
        });
        let notifier = Notifier::start(&config(10), |_| Some(uri.clone()), permit).expect("start");
        notifier.send(Notification::new(NotificationKind::PrOpened, 1, "pr", ""));
        notifier.send(Notification::new(
            NotificationKind::KillSwitch,
            2,
            "engaged",
            "",
        ));
        let requests = received(&server, 1).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let requests = if requests.len() == 1 {
            server.received_requests().await.unwrap_or_default()
        } else {
            requests
        };
        assert_eq!(requests.len(), 1);
        let body: serde_json::Value = serde_json::from_slice(&requests[0].body).expect("json");
        assert_eq!(body["kind"], "kill_switch");
    }

    #[test]
    fn without_a_url_nothing_is_started() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let notifier =
                Notifier::start(&config(1), |_| None, Arc::new(|_| Ok(()))).expect("start");
            assert_eq!(notifier.queues.len(), 0);
            notifier.send(Notification::new(NotificationKind::Escalation, 1, "x", ""));
        });
    }
}
