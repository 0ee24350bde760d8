//! Configuration of the engine's parts. Each section is a `#[serde(default)]`
//! struct whose defaults are argued on the field, so a config file only names
//! what it changes. The `suture` shell gathers these sections with its own
//! (server, logging) into the file `config.toml` documents.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::clients::git::RepoConfig;
pub use crate::clients::github::GitHubConfig;
pub use crate::clients::llm::config::LlmConfig;
pub use crate::domain::analyzer::AnalyzerConfig;
pub use crate::domain::audit::AuditConfig;
pub use crate::domain::coder::config::AgentConfig;
pub use crate::domain::control::{AutonomyConfig, LimitsConfig};
pub use crate::domain::debounce::QueueConfig;
pub use crate::domain::deploy::DeployConfig;
/// Kept here so `#[serde(with = "suture_actors::config::duration")]` reads naturally.
pub use crate::domain::duration;
pub use crate::domain::gate::config::GateConfig;
pub use crate::domain::notify::NotifyConfig;
pub use crate::domain::scrub::ScrubConfig;
pub use crate::domain::signature::SignatureConfig;
pub use crate::domain::tickets::TicketsConfig;
pub use crate::domain::triage::TriageConfig;
pub use crate::domain::verify::VerifyConfig;

/// Everything the engine needs to start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub store: StoreConfig,
    pub ingest: IngestConfig,
    pub queue: QueueConfig,
    pub signature: SignatureConfig,
    pub supervision: SupervisionConfig,
    pub gate: GateConfig,
    pub scrub: ScrubConfig,
    pub llm: LlmConfig,
    pub analyzer: AnalyzerConfig,
    pub triage: TriageConfig,
    pub repo: RepoConfig,
    pub tickets: TicketsConfig,
    pub github: GitHubConfig,
    pub agent: AgentConfig,
    pub autonomy: AutonomyConfig,
    pub audit: AuditConfig,
    pub notify: NotifyConfig,
    pub limits: LimitsConfig,
    pub verify: VerifyConfig,
    pub deploy: DeployConfig,
}

/// `[store]`: where and how events are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The sled database directory. Relative paths are relative to the working directory.
    pub path: PathBuf,
    /// Raw events kept per signature from its first occurrences. The first
    /// events show how an error started, which is what a triager asks first.
    pub samples_first: u16,
    /// Raw events kept per signature from its latest occurrences (a ring),
    /// so the sample stays current while raw storage stays bounded.
    pub samples_latest: u16,
    /// The ring of latest samples takes at most one event per signature per
    /// this interval: a flood of one error must not become a flood of
    /// sample writes, and one per second is as current as a reader needs.
    #[serde(with = "duration")]
    pub samples_latest_interval: Duration,
    /// Distinct `release` values remembered per signature; older ones are
    /// dropped first. Enough to see a regression across recent deploys.
    pub max_releases_per_signature: usize,
    /// Deploys made from releases first seen in events, at most this many
    /// per environment in any hour. A `release` in an event is the
    /// sender's to choose: anyone holding a browser DSN could otherwise
    /// mint a deploy (and a gate run over every signature) per event. A
    /// release over the cap is still recorded, so it never becomes a
    /// deploy later either; deploy markers (`POST /v1/deploys`, admin
    /// authenticated) are not capped.
    pub release_deploys_per_hour: u32,
    /// The same cap over all environments together: environment names are
    /// the sender's to choose too.
    pub release_deploys_per_hour_total: u32,
    /// sled's page cache, in MiB. sled defaults to 1 GiB, too much for a sidecar.
    pub cache_mb: u64,
    /// What a flush (and so an HTTP 200) guarantees. See [`Durability`].
    pub durability: Durability,
}

/// What "on disk" means for an acknowledged event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// sled's flush: the log is written and `sync_file_range` waits until
    /// the device has it. Survives a killed process and a kernel crash; a
    /// power cut can still lose what the disk's volatile cache held, until
    /// sled's own periodic `fsync` (every 500 ms).
    Flush,
    /// sled's flush, then `fdatasync` on its data file: survives a power cut
    /// too. The default, because a 200 promises the event is on disk; group
    /// commit amortizes the extra sync over every request in the group.
    Fsync,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./data"),
            samples_first: 5,
            samples_latest: 5,
            samples_latest_interval: Duration::from_secs(1),
            max_releases_per_signature: 20,
            release_deploys_per_hour: 6,
            release_deploys_per_hour_total: 24,
            cache_mb: 64,
            durability: Durability::Fsync,
        }
    }
}

impl StoreConfig {
    /// [`StoreConfig::samples_latest_interval`] in milliseconds.
    pub fn samples_latest_interval_ms(&self) -> i64 {
        i64::try_from(self.samples_latest_interval.as_millis()).unwrap_or(i64::MAX)
    }
}

/// `[ingest]`: the bounded edge in front of the writer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest accepted event (HTTP body or datagram), in bytes. 1 MiB is
    /// Relay's limit for one event after decompression.
    pub max_event_bytes: usize,
    /// Events waiting for the writer. When full, HTTP answers 429 and UDP
    /// drops and counts: the mailboxes behind it are unbounded, so this is
    /// where backpressure lives. 20,000 events is under a second of the
    /// writer's throughput and bounds the memory a burst can take (tens of MiB).
    pub queue_capacity: usize,
    /// Bytes of events waiting for the writer (each event's JSON size).
    /// The event bound alone lets a burst of large events take 20,000 MiB;
    /// 64 MiB holds tens of thousands of typical events (a few KiB each)
    /// and 64 of the largest. When full, as when `queue_capacity` is: HTTP
    /// answers 429, UDP drops and counts (`queue_bytes_full`).
    pub queue_bytes: usize,
    /// Most events written under one flush. Bounds the latency a single
    /// group commit adds to the requests that wait on it.
    pub max_commit_events: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            max_event_bytes: 1024 * 1024,
            queue_capacity: 20_000,
            queue_bytes: 64 * 1024 * 1024,
            max_commit_events: 4096,
        }
    }
}

/// `[supervision]`: how the root supervisor restarts failed actors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionConfig {
    /// First restart delay; doubled for each recent restart of the same child.
    #[serde(with = "duration")]
    pub backoff_initial: Duration,
    /// Longest restart delay.
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// Restarts of one child tolerated within `restart_window`; one more
    /// escalates (the engine stops and the process exits non-zero), because a
    /// child that keeps dying is better handled by the service manager.
    pub max_restarts: u32,
    #[serde(with = "duration")]
    pub restart_window: Duration,
}

impl Default for SupervisionConfig {
    fn default() -> Self {
        Self {
            backoff_initial: Duration::from_millis(50),
            backoff_max: Duration::from_secs(5),
            max_restarts: 10,
            restart_window: Duration::from_secs(60),
        }
    }
}
