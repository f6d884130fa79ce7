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

/// A body as the chunks it arrived in, so a large binary answer (speech, file content) is
/// copied once, into its final buffer, instead of being joined first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunks(Vec<Bytes>);

impl Chunks {
    /// Total length in bytes.
    pub fn len(&self) -> usize {
        self.0.iter().map(Bytes::len).sum()
    }

    /// Whether the body is empty.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    /// The chunks, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Bytes> {
        self.0.iter()
    }

    /// The body in one buffer (no copy when it arrived in one chunk).
    pub fn into_bytes(mut self) -> Bytes {
        if self.0.len() <= 1 {
            return self.0.pop().unwrap_or_default();
        }
        let mut buf = BytesMut::with_capacity(self.len());
        for chunk in &self.0 {
            buf.extend_from_slice(chunk);
        }
        buf.freeze()
    }
}

/// Reads a whole body as its chunks; the timeout bounds each gap between reads, not the total.
///
/// # Errors
/// As [`next_chunk`].
pub async fn read_chunks(mut resp: reqwest::Response, timeout: Duration) -> Result<Chunks> {
    read_rest(&mut resp, timeout, Vec::new()).await
}

/// Reads a whole body into one buffer; the timeout bounds each gap between reads. A body that
/// arrives in one chunk (a typical chat answer) is returned as is, with no allocation.
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
    Ok(read_rest(&mut resp, timeout, vec![first, second]).await?.into_bytes())
}

/// Appends the rest of the body to `chunks`.
async fn read_rest(resp: &mut reqwest::Response, timeout: Duration, mut chunks: Vec<Bytes>) -> Result<Chunks> {
    while let Some(chunk) = next_chunk(resp, timeout, false).await? {
        chunks.push(chunk);
    }
    Ok(Chunks(chunks))
}

/// The provider's request id, from `x-request-id` or `request-id`.
pub fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .or_else(|| headers.get("request-id"))
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_join_once_and_keep_a_single_chunk_as_is() {
        let one = Bytes::from_static(b"abc");
        assert_eq!(Chunks(vec![one.clone()]).into_bytes().as_ptr(), one.as_ptr());
        let many = Chunks(vec![
            Bytes::from_static(b"ab"),
            Bytes::new(),
            Bytes::from_static(b"cde"),
        ]);
        assert_eq!((many.len(), many.is_empty()), (5, false));
        assert_eq!(many.into_bytes(), Bytes::from_static(b"abcde"));
        assert!(Chunks::default().is_empty() && Chunks::default().into_bytes().is_empty());
    }
}
