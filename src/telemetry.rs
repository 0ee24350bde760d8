//! Logging and the Prometheus recorder.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the tracing subscriber once (later calls are no-ops, so tests
/// that start several servers in one process do not fail).
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: escape codes in a log file or a journal
    // are noise to whoever greps it.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// How often the histograms' recorded samples are folded into their
/// summaries. The exporter's own `install` does this every 5 s too.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use. The
/// `metrics` facade has one global recorder, so servers in one process share it.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first; then ours just renders nothing.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        spawn_upkeep(handle.clone());
        handle
    })
}

/// Folds the histograms' samples into their summaries every few seconds.
///
/// A recorder made by `build_recorder` keeps every histogram sample in a
/// buffer until something calls `run_upkeep` (a scrape of `/metrics` does,
/// through `render`). A sidecar nobody scrapes would otherwise grow by
/// every ack latency, batch size and gate duration it ever recorded: the
/// soak run measured about 15 MiB an hour at its load. A plain thread, not
/// a tokio task, because the recorder can be created outside a runtime and
/// must outlive any one of them (tests start several servers).
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "metrics upkeep thread not started: histograms grow until /metrics is scraped");
    }
}

/// Describes every metric of the engine's catalogue, once.
fn describe() {
    use suture_actors::telemetry::{METRICS, MetricKind};
    for metric in METRICS {
        match metric.kind {
            MetricKind::Counter => metrics::describe_counter!(metric.name, metric.help),
            MetricKind::Gauge => metrics::describe_gauge!(metric.name, metric.help),
            MetricKind::Histogram => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The recorder comes with its upkeep thread: without it, histogram
    /// samples pile up until someone scrapes `/metrics`. A spawned thread
    /// names itself once it runs, so the test waits for the name (with a
    /// deadline) rather than reading it right after the spawn.
    #[test]
    fn the_recorder_starts_its_upkeep_thread() {
        super::prometheus();
        let thread_names = || -> Vec<String> {
            std::fs::read_dir("/proc/self/task")
                .expect("tasks")
                .filter_map(Result::ok)
                .filter_map(|task| std::fs::read_to_string(task.path().join("comm")).ok())
                .map(|comm| comm.trim().to_owned())
                .collect()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut names = thread_names();
        while !names.iter().any(|n| n == "metrics-upkeep") && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            names = thread_names();
        }
        assert!(names.iter().any(|n| n == "metrics-upkeep"), "{names:?}");
    }
}
