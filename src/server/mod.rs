//! Running the sidecar: start the engine, bind the listeners, serve until a
//! signal, then shut down in order (stop accepting, let in-flight requests
//! get their acknowledgement, commit what is queued, stop the actors, flush).

pub mod http;
pub mod intake;
pub mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use suture_actors::{Engine, EngineHandle};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// A started sidecar: its bound addresses and the means to stop it.
pub struct Running {
    pub http_addr: SocketAddr,
    pub udp_addr: SocketAddr,
    pub engine: EngineHandle,
    stop: CancellationToken,
    udp_stop: Arc<AtomicBool>,
    http_task: Option<JoinHandle<std::io::Result<()>>>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
    engine_owner: Option<Engine>,
    engine_runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Running {
    /// A runtime may not be dropped inside async code; this one is stopped
    /// without waiting (after [`Running::shutdown`] there is nothing left).
    fn drop(&mut self) {
        self.udp_stop.store(true, Ordering::Relaxed);
        if let Some(runtime) = self.engine_runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Starts the engine and both listeners. Ports 0 bind ephemeral ports
/// (tests read the bound addresses from [`Running`]).
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let token = std::env::var(&config.admin.token_env).ok();
    start_with_admin_token(config, token).await
}

/// [`start`] with the admin token given (tests; `start` reads it from the
/// variable `admin.token_env` names). Named tokens still come from their
/// variables.
pub async fn start_with_admin_token(
    config: Config,
    admin_token: Option<String>,
) -> anyhow::Result<Running> {
    let tokens = config.admin.tokens_from_env(admin_token);
    start_with_tokens(config, tokens).await
}

/// [`start`] with every admin token given with its name.
pub async fn start_with_tokens(
    config: Config,
    admin_tokens: Vec<(String, String)>,
) -> anyhow::Result<Running> {
    let github_webhook_secret = std::env::var(&config.github.webhook_secret_env)
        .ok()
        .filter(|s| !s.trim().is_empty());
    start_with_secrets(
        config,
        Secrets {
            admin_tokens,
            github_webhook_secret,
        },
    )
    .await
}

/// The secrets the sidecar reads from its environment at start, given
/// (tests; [`start`] reads them from the variables the config names).
#[derive(Default)]
pub struct Secrets {
    /// Admin tokens with their names.
    pub admin_tokens: Vec<(String, String)>,
    /// The GitHub webhook's HMAC secret.
    pub github_webhook_secret: Option<String>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").finish_non_exhaustive()
    }
}

/// [`start`] with its secrets given.
pub async fn start_with_secrets(config: Config, secrets: Secrets) -> anyhow::Result<Running> {
    let Secrets {
        admin_tokens,
        github_webhook_secret,
    } = secrets;
    let config = Arc::new(config);
    // Refused before anything starts: an admin API open to the network.
    if !config.server.http_addr.ip().is_loopback() && admin_tokens.is_empty() {
        anyhow::bail!(
            http::auth::AdminAuth::new(None, config.server.http_addr)
                .err()
                .map_or_else(
                    || "the admin API needs a token".to_string(),
                    |e| e.to_string()
                )
        );
    }
    crate::telemetry::prometheus();
    // The engine gets a runtime of its own: under load the HTTP runtime's
    // run queues hold hundreds of request tasks, and a group commit's flush
    // completion queued behind them added tens of milliseconds to every
    // acknowledgement. On its own runtime the writer is woken at once.
    let engine_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("suture-engine")
        .enable_all()
        .build()
        .context("cannot start the engine runtime")?;
    let engine_owner = engine_runtime
        .spawn(Engine::start(config.engine()))
        .await
        .context("the engine failed to start")??;
    let engine = engine_owner.handle();

    let listener = tokio::net::TcpListener::bind(config.server.http_addr)
        .await
        .with_context(|| format!("cannot bind server.http_addr {}", config.server.http_addr))?;
    let http_addr = listener.local_addr()?;
    let dashboard_sessions = Arc::new(http::dashboard::session::Sessions::new(
        config.admin.session_idle,
    ));
    let admin_auth = Arc::new(
        http::auth::AdminAuth::with_tokens(admin_tokens, http_addr)?
            .with_sessions(dashboard_sessions.clone()),
    );
    if !admin_auth.has_token() {
        tracing::info!(
            "no admin token ({} is unset): the admin API answers only local requests that a web page cannot make",
            config.admin.token_env
        );
    }
    let socket = udp::bind(config.server.udp_addr, config.server.udp_recv_buffer)
        .with_context(|| format!("cannot bind server.udp_addr {}", config.server.udp_addr))?;
    let udp_addr = socket.local_addr()?;

    let stop = CancellationToken::new();
    let state = http::AppState {
        engine: engine.clone(),
        config: config.clone(),
        started: Instant::now(),
        intake: Arc::new(intake::Intake::new(&config)),
        github_webhook_secret: github_webhook_secret.map(|s| Arc::from(s.trim())),
        dashboard_sessions,
    };
    let http_stop = stop.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(
            listener,
            http::router(state, admin_auth)
                .into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move { http_stop.cancelled().await })
        .await
    });
    let udp_stop = Arc::new(AtomicBool::new(false));
    let udp_threads = udp::spawn(&socket, &config, engine.clone(), udp_stop.clone())?;
    tracing::info!(%http_addr, %udp_addr, "suture is serving");
    Ok(Running {
        http_addr,
        udp_addr,
        engine,
        stop,
        udp_stop,
        http_task: Some(http_task),
        udp_threads,
        engine_owner: Some(engine_owner),
        engine_runtime: Some(engine_runtime),
    })
}

/// How long a stop waits for the engine once its store has failed.
const STOP_ON_A_FAILED_STORE: std::time::Duration = std::time::Duration::from_secs(10);

impl Running {
    /// Stops accepting, waits for in-flight requests, then stops the engine in order.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        if let Some(Ok(Err(error))) = match self.http_task.take() {
            Some(task) => Some(task.await),
            None => None,
        } {
            tracing::warn!(%error, "HTTP server ended with an error");
        }
        self.udp_stop.store(true, Ordering::Relaxed);
        let threads = std::mem::take(&mut self.udp_threads);
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        if let (Some(engine), Some(runtime)) =
            (self.engine_owner.take(), self.engine_runtime.take())
        {
            // A store that failed (a full disk) can write nothing more, and
            // sled may block on it while the stages stop: the stop is then
            // bounded. Nothing acknowledged is at stake: every 200 came
            // after the sync of its batch.
            let failed = engine.handle().store().sync_failure();
            let stopping = runtime.spawn(engine.shutdown());
            match failed {
                Some(failure) => {
                    if tokio::time::timeout(STOP_ON_A_FAILED_STORE, stopping)
                        .await
                        .is_err()
                    {
                        tracing::error!(%failure, "the engine did not stop within {STOP_ON_A_FAILED_STORE:?} on a failed store; exiting anyway (every acknowledged event was synced before its 200)");
                    }
                }
                None => {
                    let _ = stopping.await;
                }
            }
            runtime.shutdown_background();
        }
        tracing::info!("suture stopped");
    }

    /// Serves until SIGTERM/SIGINT (then shuts down) or until the actor tree
    /// escalates (an error).
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        let escalated = match self.engine_owner.as_mut() {
            Some(engine) => tokio::select! {
                _ = shutdown_signal() => false,
                _ = engine.stopped() => true,
            },
            None => false,
        };
        if escalated {
            self.stop.cancel();
            self.udp_stop.store(true, Ordering::Relaxed);
            anyhow::bail!("the actor tree stopped after repeated failures; see the log above");
        }
        tracing::info!("shutting down");
        self.shutdown().await;
        Ok(())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
