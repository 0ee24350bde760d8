//! Loading `config.toml` and `SUTURE_<SECTION>__<KEY>` overrides.
//!
//! Every section is a `#[serde(default)]` struct with unknown keys denied, so
//! a file names only what it changes and a typo fails at start. Errors name
//! the file (or the environment variable) and the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use suture_actors::config::{
    AgentConfig, AnalyzerConfig, AutonomyConfig, EngineConfig, GateConfig, GitHubConfig,
    IngestConfig, LlmConfig, QueueConfig, RepoConfig, ScrubConfig, SignatureConfig, StoreConfig,
    SupervisionConfig, TicketsConfig, TriageConfig,
};

/// The whole configuration, one field per `[section]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
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
    pub audit: suture_actors::config::AuditConfig,
    pub notify: suture_actors::config::NotifyConfig,
    pub limits: suture_actors::config::LimitsConfig,
    pub verify: suture_actors::config::VerifyConfig,
    pub deploy: suture_actors::config::DeployConfig,
    pub sentry: SentryConfig,
    pub gelf: GelfConfig,
    /// `[[projects]]`: Sentry projects and the public keys that may send to them.
    pub projects: Vec<ProjectConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            log: LogConfig::default(),
            admin: AdminConfig::default(),
            store: StoreConfig::default(),
            ingest: IngestConfig::default(),
            queue: QueueConfig::default(),
            signature: SignatureConfig::default(),
            supervision: SupervisionConfig::default(),
            sentry: SentryConfig::default(),
            gelf: GelfConfig::default(),
            gate: GateConfig::default(),
            scrub: ScrubConfig::default(),
            llm: LlmConfig::default(),
            analyzer: AnalyzerConfig::default(),
            triage: TriageConfig::default(),
            repo: RepoConfig::default(),
            tickets: TicketsConfig::default(),
            github: GitHubConfig::default(),
            agent: AgentConfig::default(),
            autonomy: AutonomyConfig::default(),
            audit: Default::default(),
            notify: Default::default(),
            limits: Default::default(),
            verify: Default::default(),
            deploy: Default::default(),
            projects: vec![ProjectConfig {
                id: 1,
                name: "default".into(),
                keys: vec![DEFAULT_PUBLIC_KEY.into()],
            }],
        }
    }
}

/// The public key of the default project. Well known on purpose, so a
/// fresh sidecar accepts Sentry SDKs out of the box (`suture dsn` prints
/// it); the sidecar listens on loopback, where a well-known key is no
/// secret worth having. Give projects their own keys before exposing it.
pub const DEFAULT_PUBLIC_KEY: &str = "5e17c0de5e17c0de5e17c0de5e17c0de";

/// `[[projects]]`: one Sentry project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// The number at the end of the DSN and in `/api/{id}/envelope/`.
    pub id: u64,
    pub name: String,
    /// Public keys (the DSN's user part) accepted for this project.
    pub keys: Vec<String>,
}

impl Config {
    /// The project a public key belongs to.
    pub fn project_of_key(&self, key: &str) -> Option<&ProjectConfig> {
        self.projects
            .iter()
            .find(|p| p.keys.iter().any(|k| k == key))
    }
}

/// `[sentry]`: the Sentry-compatible endpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SentryConfig {
    /// Largest envelope (or store body) in bytes, compressed or not: a body
    /// that decompresses past it is refused with 413 once the limit is
    /// reached, so a compression bomb never takes more memory. 100 MiB is
    /// Relay's `max_envelope_size`; events inside are still limited to
    /// `ingest.max_event_bytes` (Relay's `max_event_size`, 1 MiB).
    pub max_envelope_bytes: usize,
    /// Most items in one envelope, of any type. SDKs send a handful; the cap
    /// bounds the framing work a body of millions of empty items would cost.
    pub max_envelope_items: usize,
    /// Most `event` items in one envelope. SDKs send one event per envelope
    /// (the envelope header's `event_id` names it), so more is not an SDK.
    pub max_events_per_envelope: usize,
    /// Most `session` and `sessions` items in one envelope: Relay's
    /// `max_session_count`, 100.
    pub max_sessions_per_envelope: usize,
    /// Largest `session` or `sessions` payload, in bytes. Parsed as JSON, so
    /// bounded well below the envelope: an aggregate of 100 buckets is about
    /// 10 KiB; 100 KiB is Relay's limit for a comparable item (a check-in).
    pub max_session_bytes: usize,
    /// Request bodies decompressed at once, each on the blocking pool. Two
    /// cores' worth by default: decompression is CPU bound, and a burst of
    /// large bodies queues (then gets 429) instead of taking every core.
    pub max_concurrent_decodes: usize,
}

impl Default for SentryConfig {
    fn default() -> Self {
        Self {
            max_envelope_bytes: 100 * 1024 * 1024,
            max_envelope_items: 1000,
            max_events_per_envelope: 1,
            max_sessions_per_envelope: 100,
            max_session_bytes: 100 * 1024,
            max_concurrent_decodes: 2,
        }
    }
}

impl SentryConfig {
    /// The per-envelope caps, for the framer.
    pub fn envelope_limits(&self) -> crate::wire::sentry::limits::EnvelopeLimits {
        crate::wire::sentry::limits::EnvelopeLimits {
            max_items: self.max_envelope_items,
            max_events: self.max_events_per_envelope,
            max_sessions: self.max_sessions_per_envelope,
            max_session_bytes: self.max_session_bytes,
        }
    }
}

/// `[gelf]`: GELF messages on the UDP socket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GelfConfig {
    /// Highest syslog level stored as an error (0 emergency, 3 error,
    /// 4 warning, 6 info, 7 debug). Loggers send every line; only errors
    /// are exceptions. Lines above it are counted as filtered.
    pub max_level: u8,
    /// Whether a message carrying a stack trace (a logged exception) is an
    /// error whatever its level.
    pub accept_stack_traces: bool,
    /// How long the chunks of a message may take to arrive. 5 s, as Graylog.
    #[serde(with = "suture_actors::config::duration")]
    pub chunk_expiry: std::time::Duration,
    /// Most bytes held by incomplete chunked messages; chunks past it are
    /// dropped with their message. 32 MiB is 256 messages of GELF's maximum
    /// size (128 chunks of 1 KiB) waiting at once.
    pub chunk_memory_bytes: usize,
}

impl Default for GelfConfig {
    fn default() -> Self {
        Self {
            max_level: 3,
            accept_stack_traces: true,
            chunk_expiry: std::time::Duration::from_secs(5),
            chunk_memory_bytes: 32 * 1024 * 1024,
        }
    }
}

/// `[admin]`: who may use the admin API (see `server::http::auth`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// The environment variable holding the admin token. Set and not
    /// empty: every admin request needs `Authorization: Bearer <token>`.
    /// Unset: the admin API answers only on a loopback listener, and only
    /// requests a web page cannot make. The token never goes in this file.
    pub token_env: String,
    /// More tokens, each with a name: name → the environment variable that
    /// holds it (`{ alice = "SUTURE_TOKEN_ALICE" }`). The audit log and
    /// the kill switch record which token acted; the token in `token_env`
    /// is named `admin`.
    pub tokens: std::collections::BTreeMap<String, String>,
    /// A dashboard session ends after this long without a request (the
    /// browser's own session ends it sooner).
    #[serde(with = "suture_actors::config::duration")]
    pub session_idle: std::time::Duration,
}

impl AdminConfig {
    /// Every configured token whose variable is set, with its name.
    pub fn tokens_from_env(&self, admin_token: Option<String>) -> Vec<(String, String)> {
        admin_token
            .map(|t| ("admin".to_string(), t))
            .into_iter()
            .chain(self.tokens.iter().filter_map(|(name, var)| {
                std::env::var(var).ok().map(|token| (name.clone(), token))
            }))
            .filter(|(_, token)| !token.trim().is_empty())
            .collect()
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            token_env: "SUTURE_ADMIN_TOKEN".into(),
            tokens: std::collections::BTreeMap::new(),
            session_idle: std::time::Duration::from_secs(8 * 3600),
        }
    }
}

/// `[server]`: the listeners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Ingest, admin API and metrics. Loopback by default: a sidecar serves
    /// its own host; expose it deliberately.
    pub http_addr: SocketAddr,
    /// GELF and native JSON datagrams.
    pub udp_addr: SocketAddr,
    /// Largest HTTP request body, in bytes. A batch holds many events, each
    /// still limited by `ingest.max_event_bytes`.
    pub max_body_bytes: usize,
    /// Longest an HTTP request waits for its events to be made durable
    /// before answering 503 (the events may still be stored).
    #[serde(with = "suture_actors::config::duration")]
    pub ack_timeout: std::time::Duration,
    /// Longest an ingest request may take to send its body (408 after). A
    /// client trickling bytes would otherwise hold a connection and its
    /// buffer for as long as it likes; 30 s moves 100 MiB at 30 Mbit/s.
    #[serde(with = "suture_actors::config::duration")]
    pub body_timeout: std::time::Duration,
    /// Most events in one `POST /v1/events` batch (413 above). Bounds what
    /// one request asks of the writer; the body limit alone allows tens of
    /// thousands of small events.
    pub max_events_per_request: usize,
    /// Kernel receive buffer asked for the UDP socket, in bytes. Bursts
    /// beyond it are dropped by the kernel before Suture sees them; 16 MiB
    /// holds about a third of a second of a 50,000 datagrams/s flood.
    pub udp_recv_buffer: usize,
    /// Threads reading and parsing datagrams. Two: parsing and signing is
    /// the UDP path's cost, and one thread dropped datagrams at 50,000/s on
    /// two cores where two did not as often (see the README's figures).
    pub udp_workers: usize,
    /// Origins whose pages may post events from a browser (CORS on the
    /// ingest routes: the Sentry endpoints and `/v1/events`). `["*"]`: any
    /// page, as Sentry's default "allowed domains"; the admin API never
    /// answers cross-origin requests.
    pub cors_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8787)),
            udp_addr: SocketAddr::from(([127, 0, 0, 1], 12201)),
            max_body_bytes: 10 * 1024 * 1024,
            ack_timeout: std::time::Duration::from_secs(30),
            body_timeout: std::time::Duration::from_secs(30),
            max_events_per_request: 1000,
            udp_recv_buffer: 16 * 1024 * 1024,
            udp_workers: 2,
            cors_origins: vec!["*".into()],
        }
    }
}

/// `[log]`: what the process writes to stderr.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// A `tracing` filter (`info`, `suture=debug,warn`); `RUST_LOG` wins when set.
    pub level: String,
    /// `text` for people, `json` for log shippers.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("invalid configuration in {origin}: key `{key}`: {message}")]
    Value {
        origin: String,
        key: String,
        message: String,
    },
}

impl Config {
    /// Loads `path` (a missing file is fine only when `required` is false:
    /// the default path may be absent, an explicit one may not), then applies
    /// environment overrides.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        Self::load_with_env(path, required, std::env::vars())
    }

    /// [`Config::load`] with the environment given, for tests.
    pub fn load_with_env(
        path: &Path,
        required: bool,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match std::fs::read_to_string(path) {
            Ok(text) => text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Syntax {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => toml::Table::new(),
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let overridden = apply_env(&mut table, env);
        let origin_of = |key: &str| {
            overridden
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, var)| format!("environment variable {var}"))
                .unwrap_or_else(|| path.display().to_string())
        };
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            ConfigError::Value {
                origin: origin_of(&key),
                message: e.into_inner().to_string(),
                key,
            }
        })
    }

    /// The engine's part of the configuration.
    pub fn engine(&self) -> EngineConfig {
        EngineConfig {
            store: self.store.clone(),
            ingest: self.ingest.clone(),
            queue: self.queue.clone(),
            signature: self.signature.clone(),
            supervision: self.supervision.clone(),
            gate: self.gate.clone(),
            scrub: self.scrub.clone(),
            llm: self.llm.clone(),
            analyzer: self.analyzer.clone(),
            triage: self.triage.clone(),
            repo: self.repo.clone(),
            tickets: self.tickets.clone(),
            github: self.github.clone(),
            agent: self.agent.clone(),
            autonomy: self.autonomy.clone(),
            audit: self.audit.clone(),
            notify: self.notify.clone(),
            limits: self.limits.clone(),
            verify: self.verify.clone(),
            deploy: self.deploy.clone(),
        }
    }
}

/// Applies `SUTURE_<SECTION>__<KEY>=value` overrides. A value that parses
/// as a TOML value (number, boolean, array) is taken as one; anything else is
/// a string. Returns the (`section.key`, variable) pairs applied.
fn apply_env(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Vec<(String, String)> {
    let mut applied = Vec::new();
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("SUTURE_") else {
            continue;
        };
        let Some((section, key)) = rest.split_once("__") else {
            continue;
        };
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        let entry = table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(section_table) = entry {
            section_table.insert(key.clone(), value);
            applied.push((format!("{section}.{key}"), name.clone()));
        }
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).expect("write");
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Config::load_with_env(&path, true, env)
    }

    #[test]
    fn missing_default_file_gives_defaults() {
        let config = Config::load_with_env(Path::new("/nonexistent/config.toml"), false, [])
            .expect("defaults");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let error = Config::load_with_env(Path::new("/nonexistent/c.toml"), true, []).unwrap_err();
        assert!(error.to_string().contains("/nonexistent/c.toml"), "{error}");
    }

    #[test]
    fn file_values_and_env_overrides() {
        let config = load(
            "[queue]\ndebounce = \"5s\"\n[store]\npath = \"/tmp/x\"\n",
            &[
                ("SUTURE_SERVER__HTTP_ADDR", "127.0.0.1:9999"),
                ("SUTURE_QUEUE__MAX_BATCH", "7"),
                ("UNRELATED", "1"),
            ],
        )
        .expect("valid");
        assert_eq!(config.queue.debounce, Duration::from_secs(5));
        assert_eq!(config.queue.max_batch, 7);
        assert_eq!(config.server.http_addr.port(), 9999);
        assert_eq!(config.store.path, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn bad_value_names_key_and_file() {
        let error = load("[queue]\ndebounce = \"soon\"\n", &[]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("queue.debounce"), "{text}");
        assert!(text.contains("config.toml"), "{text}");
    }

    #[test]
    fn bad_env_value_names_the_variable() {
        let error = load("", &[("SUTURE_SERVER__HTTP_ADDR", "nowhere")]).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("SUTURE_SERVER__HTTP_ADDR"), "{text}");
        assert!(text.contains("server.http_addr"), "{text}");
    }

    #[test]
    fn unknown_key_is_refused() {
        let error = load("[queue]\ndebounse = \"5s\"\n", &[]).unwrap_err();
        assert!(error.to_string().contains("debounse"), "{error}");
    }

    #[test]
    fn capture_sections_and_projects() {
        let config = load(
            "[gelf]\nmax_level = 4\n[[projects]]\nid = 3\nname = \"web\"\nkeys = [\"k1\", \"k2\"]\n",
            &[
                ("SUTURE_GELF__CHUNK_EXPIRY", "2s"),
                ("SUTURE_SENTRY__MAX_ENVELOPE_BYTES", "1000"),
                ("SUTURE_SERVER__CORS_ORIGINS", "[\"https://app.example.com\"]"),
            ],
        )
        .expect("valid");
        assert_eq!(config.gelf.max_level, 4);
        assert_eq!(config.gelf.chunk_expiry, Duration::from_secs(2));
        assert_eq!(config.sentry.max_envelope_bytes, 1000);
        assert_eq!(config.server.cors_origins, ["https://app.example.com"]);
        assert_eq!(
            config.projects.len(),
            1,
            "a file's projects replace the default"
        );
        assert_eq!(config.project_of_key("k2").map(|p| p.id), Some(3));
        assert!(config.project_of_key(DEFAULT_PUBLIC_KEY).is_none());
        let error = load(
            "[[projects]]\nid = 1\nname = \"x\"\nkeys = []\nkey = \"typo\"\n",
            &[],
        )
        .unwrap_err();
        assert!(error.to_string().contains("key"), "{error}");
    }

    #[test]
    fn llm_and_scrub_sections() {
        let config = load(
            "[llm]\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.1:8b\"\n\
             [scrub]\ndisabled = [\"ipv4\"]\n[[scrub.patterns]]\nname = \"order\"\nregex = \"ord_[0-9]+\"\n",
            &[("SUTURE_LLM__BREAKER_COOLDOWN", "30s")],
        )
        .expect("valid");
        assert_eq!(config.llm.model, "llama3.1:8b");
        assert_eq!(config.llm.breaker_cooldown, Duration::from_secs(30));
        assert_eq!(config.engine().scrub.patterns.len(), 1);

        let error = load(
            "[[scrub.patterns]]\nname = \"order\"\nregex = \"ord_(\"\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("scrub.patterns[0].regex"), "{error}");
        assert!(error.contains("invalid regex"), "{error}");
        let error = load("[scrub]\ndisabled = [\"ipv5\"]\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("scrub.disabled"), "{error}");
        let error = load("[llm]\ntimeout = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(error.contains("llm.timeout"), "{error}");
    }

    #[test]
    fn shipped_config_file_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml");
        let config = Config::load_with_env(&path, true, []).expect("config.toml parses");
        assert_eq!(
            config,
            Config::default(),
            "config.toml must document the defaults"
        );
    }
}
