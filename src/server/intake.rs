//! Reading and decompressing request bodies without letting one client stall
//! the server.
//!
//! - A body must arrive within `server.body_timeout` (a client trickling one
//!   byte a second would otherwise hold its connection and buffer forever)
//!   and within its byte limit, checked on `Content-Length` before a byte
//!   is read.
//! - Decompression is CPU work of up to the envelope limit (100 MiB): it
//!   runs on tokio's blocking pool, never on the async workers that answer
//!   every other request, and at most `sentry.max_concurrent_decodes` at a
//!   time, so a burst of large bodies queues instead of taking every core
//!   and the memory of all of them at once. A body that waits longer than
//!   [`DECODE_WAIT`] for its turn is answered 429.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::wire::decode::{DecodeError, decode_content};
use crate::wire::first_line::decode_first_line;

/// Longest a body waits for a decoding slot before the client is told to
/// retry: long enough to ride out a burst, short enough that a client is
/// not left waiting on a queue it cannot see.
pub const DECODE_WAIT: Duration = Duration::from_secs(5);

/// Why a body was not read or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IntakeError {
    /// 413: above the limit, declared or read.
    #[error("request body above the {limit}-byte limit")]
    TooLarge { limit: usize },
    /// 408: the body did not arrive in time.
    #[error("request body not received within {0:?}")]
    Timeout(Duration),
    /// 429: every decoding slot stayed busy.
    #[error("too many bodies being decompressed; retry later")]
    Busy,
    /// 400: the connection failed mid-body, or a header is not text.
    #[error("{0}")]
    Read(String),
    /// 400 or 413: the encoding is wrong, or the body inflates past the limit.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// Shared by every ingest handler (one per server).
#[derive(Debug)]
pub struct Intake {
    decoders: Arc<Semaphore>,
    body_timeout: Duration,
}

impl Intake {
    pub fn new(config: &Config) -> Self {
        Self {
            decoders: Arc::new(Semaphore::new(config.sentry.max_concurrent_decodes.max(1))),
            body_timeout: config.server.body_timeout,
        }
    }

    /// The whole body, within `limit` bytes and the body timeout.
    pub async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Body,
        limit: usize,
    ) -> Result<Bytes, IntakeError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX)) {
            return Err(IntakeError::TooLarge { limit });
        }
        match tokio::time::timeout(self.body_timeout, axum::body::to_bytes(body, limit)).await {
            Err(_) => Err(IntakeError::Timeout(self.body_timeout)),
            Ok(Ok(bytes)) => Ok(bytes),
            Ok(Err(error)) => {
                let over_limit = std::error::Error::source(&error)
                    .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
                if over_limit {
                    Err(IntakeError::TooLarge { limit })
                } else {
                    Err(IntakeError::Read(format!("cannot read the body: {error}")))
                }
            }
        }
    }

    /// The body undone of its `Content-Encoding`, within `limit` bytes.
    pub async fn decode(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        limit: usize,
    ) -> Result<Vec<u8>, IntakeError> {
        let encoding = content_encoding(headers)?;
        if encoding.is_none() {
            // Nothing to inflate: no CPU worth a slot.
            return Ok(decode_content(&body, None, limit)?);
        }
        self.blocking(move || decode_content(&body, encoding.as_deref(), limit))
            .await
    }

    /// Only the first line of the decoded body, at most `max_line` bytes:
    /// what an unauthenticated request may cost.
    pub async fn first_line(
        &self,
        headers: &HeaderMap,
        body: Bytes,
        max_line: usize,
    ) -> Result<Vec<u8>, IntakeError> {
        let encoding = content_encoding(headers)?;
        self.blocking(move || decode_first_line(&body, encoding.as_deref(), max_line))
            .await
    }

    async fn blocking<F>(&self, work: F) -> Result<Vec<u8>, IntakeError>
    where
        F: FnOnce() -> Result<Vec<u8>, DecodeError> + Send + 'static,
    {
        let permit = tokio::time::timeout(DECODE_WAIT, self.decoders.clone().acquire_owned())
            .await
            .map_err(|_| IntakeError::Busy)?
            .map_err(|_| IntakeError::Busy)?;
        let result = tokio::task::spawn_blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
        .map_err(|e| IntakeError::Read(format!("decoding failed: {e}")))?;
        Ok(result?)
    }
}

fn content_encoding(headers: &HeaderMap) -> Result<Option<String>, IntakeError> {
    headers
        .get(header::CONTENT_ENCODING)
        .map(|value| {
            value
                .to_str()
                .map(str::to_string)
                .map_err(|_| IntakeError::Read("Content-Encoding is not ASCII".into()))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn intake(slots: usize, timeout: Duration) -> Intake {
        let mut config = Config::default();
        config.sentry.max_concurrent_decodes = slots;
        config.server.body_timeout = timeout;
        Intake::new(&config)
    }

    /// A body that sends one byte and then nothing, like a slow-loris client.
    struct Trickle(bool);

    impl hyper::body::Body for Trickle {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
            if self.0 {
                return std::task::Poll::Pending;
            }
            self.0 = true;
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(b"{")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickling_body_times_out() {
        let intake = intake(1, Duration::from_secs(3));
        let result = intake
            .read_body(&HeaderMap::new(), Body::new(Trickle(false)), 1024)
            .await;
        assert_eq!(result, Err(IntakeError::Timeout(Duration::from_secs(3))));
    }

    #[tokio::test]
    async fn declared_and_actual_sizes_are_capped() {
        let intake = intake(1, Duration::from_secs(30));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, "2048".parse().expect("value"));
        let result = intake
            .read_body(&headers, Body::from(vec![b'x'; 2048]), 1024)
            .await;
        assert_eq!(result, Err(IntakeError::TooLarge { limit: 1024 }));
        let result = intake
            .read_body(&HeaderMap::new(), Body::from(vec![b'x'; 2048]), 1024)
            .await;
        assert_eq!(result, Err(IntakeError::TooLarge { limit: 1024 }));
    }

    #[tokio::test]
    async fn decoding_waits_for_a_slot_and_gives_up_busy() {
        let intake = intake(1, Duration::from_secs(30));
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"hello").expect("write");
        let body = Bytes::from(e.finish().expect("finish"));
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_ENCODING, "gzip".parse().expect("value"));
        assert_eq!(
            intake.decode(&headers, body.clone(), 1024).await.as_deref(),
            Ok(&b"hello"[..])
        );
        // Every slot held: the next decode is refused after the wait.
        let held = intake
            .decoders
            .clone()
            .acquire_owned()
            .await
            .expect("permit");
        tokio::time::pause();
        let result = intake.decode(&headers, body, 1024).await;
        assert_eq!(result, Err(IntakeError::Busy));
        drop(held);
    }
}
