//! The pooled reqwest client and the small pieces of HTTP every call shares.
//!
//! One `reqwest::Client` per `LlmClient`: keep-alive pooling, HTTP/2 when offered over TLS,
//! rustls, gzip/brotli/zstd decoding, proxies from `HTTPS_PROXY`/`NO_PROXY`, and
//! `User-Agent: liter-llm/<version>`. Auth headers are marked sensitive so they never print,
//! and redirects are not followed, so the key only ever goes to the configured host.

use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use tokio::time::Instant;

use crate::config::ClientConfig;
use crate::error::{Error, Kind, Result};

/// The `User-Agent` we send.
pub const USER_AGENT_VALUE: &str = concat!("liter-llm/", env!("CARGO_PKG_VERSION"));

/// Validates one header pair.
///
/// # Errors
/// `InvalidHeader` when the name or value cannot be sent; the message names the header only.
pub fn header_pair(name: &str, value: &str) -> Result<(HeaderName, HeaderValue)> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::new(Kind::InvalidHeader, format!("invalid header name {name:?}")))?;
    let v = HeaderValue::from_str(value)
        .map_err(|_| Error::new(Kind::InvalidHeader, format!("invalid value for header {name:?}")))?;
    Ok((n, v))
}

/// Builds the default headers: content type, user agent and the configured extras. The key is
/// not among them: each call adds its provider's auth header (see `providers::route`).
fn default_headers(config: &ClientConfig) -> Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    for (name, value) in &config.extra_headers {
        let (n, v) = header_pair(name, value)?;
        headers.insert(n, v);
    }
    Ok(headers)
}

/// Builds the pooled HTTP client for one `LlmClient`.
///
/// # Errors
/// `InvalidHeader` for bad extra headers; `Network` if TLS cannot be initialised.
pub fn build(config: &ClientConfig) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .default_headers(default_headers(config)?)
        .connect_timeout(config.timeout)
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        // LLM APIs do not redirect; following one could carry the key or the body elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::new(Kind::Network, format!("could not build the HTTP client: {e}")))
}

/// How long a read may wait: the gap allowed between reads, and the call's overall deadline.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Longest wait for response headers and longest gap between body reads.
    pub read: Duration,
    /// When the whole call must be over, and the `total_timeout` that set it.
    deadline: Option<(Instant, Duration)>,
}

impl Timing {
    /// Per-read waits of `read`; a call deadline `total` from now, if given.
    pub fn new(read: Duration, total: Option<Duration>) -> Self {
        let deadline = total.and_then(|t| Instant::now().checked_add(t).map(|at| (at, t)));
        Timing { read, deadline }
    }

    /// Time left before the deadline (`None` without one).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|(at, _)| at.saturating_duration_since(Instant::now()))
    }

    /// Awaits `fut` for at most one read wait (or until the deadline, if that comes first).
    ///
    /// # Errors
    /// `Timeout`: `idle` describes a missed read wait; a missed deadline names `total_timeout`.
    pub async fn within<T>(&self, fut: impl Future<Output = T>, idle: impl FnOnce() -> String) -> Result<T> {
        let by_read = Instant::now().checked_add(self.read);
        match self.deadline {
            Some((at, total)) if by_read.is_none_or(|r| at <= r) => {
                tokio::time::timeout_at(at, fut).await.map_err(|_| over_deadline(total))
            }
            _ => tokio::time::timeout(self.read, fut)
                .await
                .map_err(|_| Error::new(Kind::Timeout, idle())),
        }
    }
}

/// The error for a call that ran past its `total_timeout`.
pub fn over_deadline(total: Duration) -> Error {
    Error::new(
        Kind::Timeout,
        format!("the call did not finish within total_timeout={}s", total.as_secs_f64()),
    )
}

/// A cap on a body's decoded size, with the setting that raises it (for the error message).
#[derive(Clone, Copy, Debug)]
pub struct Cap {
    /// What is capped, for the message (`the response`, `a stream event`).
    pub what: &'static str,
    /// The most bytes accepted.
    pub max: u64,
    /// The `LlmClient` argument that sets it.
    pub setting: &'static str,
}

impl Cap {
    /// The error for a body past the cap.
    pub fn exceeded(&self) -> Error {
        Error::new(
            Kind::ResponseTooLarge,
            format!(
                "{} is larger than {}={} bytes (decoded size); raise it with LlmClient({}=...) if \
                 answers this large are expected",
                self.what, self.setting, self.max, self.setting
            ),
        )
    }

    /// Fails once `len` bytes are past the cap.
    fn check(&self, len: u64) -> Result<()> {
        if len > self.max {
            Err(self.exceeded())
        } else {
            Ok(())
        }
    }
}

/// Reads one body chunk within the call's timing. `Ok(None)` at the end of the body. Chunks
/// are counted after decompression by the caller, so a compressed bomb meets its cap.
///
/// # Errors
/// `Timeout` when nothing arrives in time; otherwise the mapped transport error.
pub async fn next_chunk(resp: &mut reqwest::Response, timing: &Timing, streaming: bool) -> Result<Option<Bytes>> {
    let read = timing.read.as_secs_f64();
    timing
        .within(resp.chunk(), || format!("no data arrived within {read:.1}s"))
        .await?
        .map_err(|e| Error::from_reqwest(&e, streaming))
}

/// A body as the chunks it arrived in, so a large binary answer (speech, file content) is
/// copied once, into its final buffer, instead of being joined first; a body that arrived in
/// one chunk (a typical JSON answer) is held without any allocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Chunks {
    /// A body that arrived in at most one chunk.
    One(Bytes),
    /// A body that arrived in several chunks.
    Many(Vec<Bytes>),
}

impl Default for Chunks {
    fn default() -> Self {
        Chunks::One(Bytes::new())
    }
}

impl Chunks {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.iter().map(Bytes::len).sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.iter().all(Bytes::is_empty)
    }

    /// The chunks, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        match self {
            Chunks::One(one) => std::slice::from_ref(one).iter(),
            Chunks::Many(many) => many.iter(),
        }
    }

    /// The body in one buffer (no copy when it arrived in one chunk).
    pub fn into_bytes(self) -> Bytes {
        match self {
            Chunks::One(one) => one,
            Chunks::Many(many) => {
                let mut buf = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
                for chunk in &many {
                    buf.extend_from_slice(chunk);
                }
                buf.freeze()
            }
        }
    }
}

/// Reads a whole body, failing once it passes `cap`.
///
/// # Errors
/// As [`next_chunk`]; `ResponseTooLarge` past the cap.
pub async fn read_chunks(mut resp: reqwest::Response, timing: &Timing, cap: Cap) -> Result<Chunks> {
    announced(&resp, cap)?;
    let Some(first) = next_chunk(&mut resp, timing, false).await? else {
        return Ok(Chunks::default());
    };
    cap.check(first.len() as u64)?;
    let Some(second) = next_chunk(&mut resp, timing, false).await? else {
        return Ok(Chunks::One(first));
    };
    let mut len = (first.len() + second.len()) as u64;
    cap.check(len)?;
    let mut chunks = vec![first, second];
    while let Some(chunk) = next_chunk(&mut resp, timing, false).await? {
        len += chunk.len() as u64;
        cap.check(len)?;
        chunks.push(chunk);
    }
    Ok(Chunks::Many(chunks))
}

/// Fails at once when the announced length (known only for undecoded bodies) passes the cap.
fn announced(resp: &reqwest::Response, cap: Cap) -> Result<()> {
    resp.content_length().map_or(Ok(()), |len| cap.check(len))
}

/// Reads at most `max` bytes of an error body; the rest is dropped with the connection. Returns
/// the bytes and whether the body was cut: at the cap, or by a failed or timed-out read (what
/// had arrived is kept).
pub async fn read_error_body(mut resp: reqwest::Response, timing: &Timing, max: u64) -> (Bytes, bool) {
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut buf = BytesMut::new();
    loop {
        let chunk = match next_chunk(&mut resp, timing, false).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => return (buf.freeze(), false),
            Err(_) => return (buf.freeze(), true),
        };
        let room = max - buf.len();
        if chunk.len() > room {
            buf.extend_from_slice(&chunk[..room]);
            return (buf.freeze(), true);
        }
        buf.extend_from_slice(&chunk);
    }
}

/// Longest request id kept; a longer header is cut (after redaction).
const MAX_REQUEST_ID: usize = 256;

/// The provider's request id, from `x-request-id` or `request-id`, with `secret` masked and at
/// most 256 bytes kept.
pub fn request_id(headers: &HeaderMap, secret: &str) -> Option<String> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("request-id"))
        .and_then(|v| v.to_str().ok())
        .map(|id| crate::redact::cut(id, MAX_REQUEST_ID, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_once_and_keep_a_single_chunk_as_is() {
        let one = Bytes::from_static(b"abc");
        assert_eq!(Chunks::One(one.clone()).into_bytes().as_ptr(), one.as_ptr());
        let many = Chunks::Many(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!((many.len(), many.is_empty()), (5, false));
        assert_eq!(many.into_bytes(), Bytes::from_static(b"abcde"));
        assert!(Chunks::default().is_empty() && Chunks::default().into_bytes().is_empty());
    }
}
