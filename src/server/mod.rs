//! Running the sidecar: start the engine, bind the listeners, serve until a
//! signal, then shut down in order (stop accepting, let in-flight requests
//! get their acknowledgement, commit what is queued, stop the actors, flush).

pub mod error;
pub mod http;
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
    http_task: JoinHandle<std::io::Result<()>>,
    udp_threads: Vec<std::thread::JoinHandle<()>>,
    engine_owner: Engine,
}

/// Starts the engine and both listeners. Ports 0 bind ephemeral ports
/// (tests read the bound addresses from [`Running`]).
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let config = Arc::new(config);
    crate::telemetry::prometheus();
    let engine_owner = Engine::start(config.engine()).await?;
    let engine = engine_owner.handle();

    let listener = tokio::net::TcpListener::bind(config.server.http_addr)
        .await
        .with_context(|| format!("cannot bind server.http_addr {}", config.server.http_addr))?;
    let http_addr = listener.local_addr()?;
    let socket = udp::bind(config.server.udp_addr, config.server.udp_recv_buffer)
        .with_context(|| format!("cannot bind server.udp_addr {}", config.server.udp_addr))?;
    let udp_addr = socket.local_addr()?;

    let stop = CancellationToken::new();
    let state = http::AppState {
        engine: engine.clone(),
        config: config.clone(),
        started: Instant::now(),
    };
    let http_stop = stop.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(listener, http::router(state))
            .with_graceful_shutdown(async move { http_stop.cancelled().await })
            .await
    });
    let udp_stop = Arc::new(AtomicBool::new(false));
    let udp_threads = udp::spawn(
        &socket,
        config.server.udp_workers,
        engine.clone(),
        config.ingest.max_event_bytes,
        udp_stop.clone(),
    )?;
    tracing::info!(%http_addr, %udp_addr, "suture is serving");
    Ok(Running {
        http_addr,
        udp_addr,
        engine,
        stop,
        udp_stop,
        http_task,
        udp_threads,
        engine_owner,
    })
}

impl Running {
    /// Stops accepting, waits for in-flight requests, then stops the engine in order.
    pub async fn shutdown(self) {
        self.stop.cancel();
        if let Ok(Err(error)) = self.http_task.await {
            tracing::warn!(%error, "HTTP server ended with an error");
        }
        self.udp_stop.store(true, Ordering::Relaxed);
        let threads = self.udp_threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        self.engine_owner.shutdown().await;
        tracing::info!("suture stopped");
    }

    /// Serves until SIGTERM/SIGINT (then shuts down) or until the actor tree
    /// escalates (an error).
    pub async fn run_until_signal(mut self) -> anyhow::Result<()> {
        let escalated = tokio::select! {
            _ = shutdown_signal() => false,
            _ = self.engine_owner.stopped() => true,
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
