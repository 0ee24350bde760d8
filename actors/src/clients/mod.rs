//! Clients of the outside world, each with timeouts and typed errors:
//! the [`llm`] (async-openai), [`git`] (subprocesses under a deadline) and
//! [`github`] (octocrab), and [`notify`] (webhooks). They share one TLS
//! stack, built by [`http_client`].

pub mod git;
pub mod github;
pub mod llm;
pub mod notify;

use std::time::Duration;

/// An HTTP client with a total timeout per request (async-openai and
/// octocrab set none) and rustls with ring, the one TLS stack of the build.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // reqwest is built without a default crypto provider (see Cargo.toml);
    // ring is installed as the process default. Failing means one is
    // installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .build()
}
