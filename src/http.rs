//! The pooled reqwest client and the small pieces of HTTP every call shares.
//!
//! One `reqwest::Client` per `LlmClient`: keep-alive pooling, HTTP/2 when offered over TLS,
//! rustls, gzip/brotli/zstd decoding, proxies from `HTTPS_PROXY`/`NO_PROXY`, and
//! `User-Agent: liter-llm/<version>`. Auth headers are marked sensitive so they never print,
//! and redirects are not followed, so the key only ever goes to the configured host.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};

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

/// Reads one body chunk, bounding the wait by `timeout`. `Ok(None)` at the end of the body.
///
/// # Errors
/// `Timeout` when nothing arrives in time; otherwise the mapped transport error.
pub async fn next_chunk(resp: &mut reqwest::Response, timeout: Duration, streaming: bool) -> Result<Option<Bytes>> {
    match tokio::time::timeout(timeout, resp.chunk()).await {
        Ok(Ok(chunk)) => Ok(chunk),
        Ok(Err(e)) => Err(Error::from_reqwest(&e, streaming)),
        Err(_) => Err(Error::new(
            Kind::Timeout,
            format!("no data arrived within {:.1}s", timeout.as_secs_f64()),
        )),
    }
}

/// Reads a whole body; the timeout bounds each gap between reads, not the total.
///
/// # Errors
/// As [`next_chunk`].
pub async fn read_body(mut resp: reqwest::Response, timeout: Duration) -> Result<Bytes> {
    let Some(first) = next_chunk(&mut resp, timeout, false).await? else {
        return Ok(Bytes::new());
    };
    let Some(second) = next_chunk(&mut resp, timeout, false).await? else {
        return Ok(first);
    };
    let hint = resp.content_length().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let mut buf = BytesMut::with_capacity(hint.max(first.len() + second.len()));
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);
    while let Some(chunk) = next_chunk(&mut resp, timeout, false).await? {
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// The provider's request id, from `x-request-id` or `request-id`.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
