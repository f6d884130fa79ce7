//! The one error type of the core, shaped like reqwest's: a boxed inner with a [`Kind`].
//!
//! Provider HTTP errors are mapped by status and by the provider's error code/message:
//! 401/403 -> `Authentication`, 429 -> `RateLimited`, 404 -> `NotFound`, 502/503/504/529 ->
//! `ServiceUnavailable`, other 5xx -> `Server`, other 4xx -> `BadRequest` (refined to
//! `ContextWindowExceeded` or `ContentPolicy` when the body says so).

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::redact;

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, one variant per public exception class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Invalid arguments detected before any request (maps to `ValueError`).
    InvalidArgument,
    /// 401 / 403, or a missing key.
    Authentication,
    /// 429, or a local rate limit that could not be met in time.
    RateLimited,
    /// 400, 422 and other 4xx.
    BadRequest,
    /// The prompt does not fit the model's context window.
    ContextWindowExceeded,
    /// The provider refused the content.
    ContentPolicy,
    /// 404.
    NotFound,
    /// 500 and unlisted 5xx.
    Server,
    /// 502, 503, 504, 529.
    ServiceUnavailable,
    /// Connect, response-header or read timeout.
    Timeout,
    /// Connection refused/reset, DNS and other transport failures.
    Network,
    /// The stream broke before its end.
    Streaming,
    /// The provider has no such endpoint.
    EndpointNotSupported,
    /// A header name or value is invalid.
    InvalidHeader,
    /// A body could not be serialised or parsed.
    Serialization,
    /// A server sent more than a configured size limit allows (see `config::Limits`).
    ResponseTooLarge,
    /// The request never ran: its provider batch job was cancelled first.
    Cancelled,
}

/// A core error. Cheap to move (one pointer).
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: Kind,
    message: String,
    status: Option<u16>,
    body: Option<Value>,
    request_id: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    retry_after: Option<Duration>,
}

impl Error {
    /// A new error of `kind` with a readable message.
    pub fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                status: None,
                body: None,
                request_id: None,
                provider: None,
                model: None,
                retry_after: None,
            }),
        }
    }

    /// Builds the error for a non-success HTTP response from its status and raw body.
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        let parsed: Option<Value> = serde_json::from_slice(body).ok();
        let message = parsed.as_ref().and_then(provider_message).unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                format!("HTTP {status}")
            } else {
                truncate(text, 500).to_owned()
            }
        });
        let code = parsed.as_ref().and_then(provider_code);
        let kind = classify(status, code.as_deref(), &message);
        let body = parsed.unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
        let mut err = Error::new(kind, message);
        err.inner.status = Some(status);
        err.inner.body = Some(body);
        err
    }

    /// Builds the error for an `{"error": ...}` object received inside a stream.
    pub fn from_stream_event(value: Value) -> Self {
        let message = provider_message(&value).unwrap_or_else(|| "the provider sent an error event".to_owned());
        let code = provider_code(&value);
        let status = value
            .get("error")
            .and_then(|e| e.get("status").or_else(|| e.get("code")))
            .and_then(Value::as_u64)
            .and_then(|s| u16::try_from(s).ok())
            .filter(|s| (400..600).contains(s));
        let kind = match status {
            Some(s) => classify(s, code.as_deref(), &message),
            None => classify_code(code.as_deref(), &message).unwrap_or(Kind::Server),
        };
        let mut err = Error::new(kind, message);
        err.inner.status = status;
        err.inner.body = Some(value);
        err
    }

    /// The kind of error.
    pub fn kind(&self) -> Kind {
        self.inner.kind
    }
    /// A readable message (no key material ever enters it).
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// The HTTP status, when a response was received.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }
    /// The provider's parsed error body (or its raw text as a JSON string).
    pub fn body(&self) -> Option<&Value> {
        self.inner.body.as_ref()
    }
    /// The provider's request id, from `x-request-id` / `request-id`.
    pub fn request_id(&self) -> Option<&str> {
        self.inner.request_id.as_deref()
    }
    /// The provider name, when known.
    pub fn provider(&self) -> Option<&str> {
        self.inner.provider.as_deref()
    }
    /// The model of the failed request, when known.
    pub fn model(&self) -> Option<&str> {
        self.inner.model.as_deref()
    }
    /// How long the provider asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }
    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == Kind::Timeout
    }

    /// Attaches the request id.
    #[must_use]
    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.inner.request_id = id;
        self
    }
    /// Attaches the provider and model of the request.
    #[must_use]
    pub fn with_context(mut self, provider: &str, model: Option<&str>) -> Self {
        if self.inner.provider.is_none() {
            self.inner.provider = Some(provider.to_owned());
        }
        if self.inner.model.is_none() {
            self.inner.model = model.map(str::to_owned);
        }
        self
    }

    /// Puts `prefix` (e.g. `requests[3]: `) in front of the message.
    #[must_use]
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.inner.message.insert_str(0, prefix);
        self
    }

    /// Attaches the HTTP status of the response that caused the error.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.inner.status = Some(status);
        self
    }

    /// Attaches the provider's retry hint.
    #[must_use]
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.inner.retry_after = after;
        self
    }

    /// Replaces the kind, for provider translators that can classify better than the status
    /// alone (e.g. a token-limit message on a 400).
    #[must_use]
    pub fn with_kind(mut self, kind: Kind) -> Self {
        self.inner.kind = kind;
        self
    }

    /// Masks every occurrence of `secret` in the message, the body (values and object keys)
    /// and the request id, so a provider that echoes the key back cannot leak it through an
    /// exception, a log line or a batch record.
    #[must_use]
    pub fn redact(mut self, secret: &str) -> Self {
        if let Cow::Owned(clean) = redact::text(&self.inner.message, secret) {
            self.inner.message = clean;
        }
        if let Some(body) = self.inner.body.as_mut() {
            redact::value(body, secret);
        }
        if let Some(id) = &self.inner.request_id {
            if let Cow::Owned(clean) = redact::text(id, secret) {
                self.inner.request_id = Some(clean);
            }
        }
        self
    }

    /// Maps a transport error from reqwest; `streaming` marks failures after the body started.
    pub fn from_reqwest(err: &reqwest::Error, streaming: bool) -> Self {
        let detail = describe_reqwest(err);
        if err.is_timeout() {
            let what = if streaming {
                "no data arrived from the stream within the timeout"
            } else {
                "the request timed out"
            };
            Error::new(Kind::Timeout, format!("{what} ({detail})"))
        } else if streaming {
            Error::new(Kind::Streaming, format!("the stream broke before its end: {detail}"))
        } else if err.is_decode() {
            Error::new(
                Kind::Serialization,
                format!("could not decode the response body: {detail}"),
            )
        } else if err.is_builder() {
            Error::new(Kind::InvalidArgument, format!("invalid request: {detail}"))
        } else {
            Error::new(Kind::Network, format!("network error: {detail}"))
        }
    }
}

/// Describes a reqwest error with its source chain, without the URL (which could carry a query key).
fn describe_reqwest(err: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = String::new();
    let mut source = err.source();
    while let Some(s) = source {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s.to_string());
        source = s.source();
    }
    if out.is_empty() {
        let kind = if err.is_connect() {
            "connection failed"
        } else if err.is_body() {
            "error reading the body"
        } else if err.is_request() {
            "error sending the request"
        } else {
            "transport error"
        };
        out.push_str(kind);
    }
    out
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The provider's own message: `error.message`, `message`, `error` (string) or `detail`.
fn provider_message(body: &Value) -> Option<String> {
    let err = body.get("error");
    err.and_then(|e| e.get("message"))
        .or_else(|| body.get("message"))
        .or_else(|| err.filter(|e| e.is_string()))
        .or_else(|| body.get("detail"))
        .and_then(|m| match m {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        })
}

/// The provider's machine-readable code: `error.code`, `error.type`, or top-level `code`/`type`.
fn provider_code(body: &Value) -> Option<String> {
    let err = body.get("error").filter(|e| e.is_object()).unwrap_or(body);
    ["code", "type", "status"]
        .iter()
        .filter_map(|k| err.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

fn classify_code(code: Option<&str>, message: &str) -> Option<Kind> {
    let code = code.unwrap_or("").to_ascii_lowercase();
    let msg = message.to_ascii_lowercase();
    if code.contains("context_length")
        || code.contains("context_window")
        || msg.contains("context length")
        || msg.contains("context window")
        || msg.contains("maximum context")
        || msg.contains("prompt is too long")
        || msg.contains("too many tokens")
    {
        Some(Kind::ContextWindowExceeded)
    } else if code.contains("content_policy")
        || code.contains("content_filter")
        || msg.contains("content policy")
        || msg.contains("content management policy")
        || msg.contains("safety system")
    {
        Some(Kind::ContentPolicy)
    } else if code.contains("rate_limit") {
        Some(Kind::RateLimited)
    } else if code.contains("overloaded") {
        Some(Kind::ServiceUnavailable)
    } else {
        None
    }
}

fn classify(status: u16, code: Option<&str>, message: &str) -> Kind {
    match status {
        401 | 403 => Kind::Authentication,
        429 => Kind::RateLimited,
        404 => Kind::NotFound,
        502..=504 | 529 => Kind::ServiceUnavailable,
        500..=599 => Kind::Server,
        _ => match classify_code(code, message) {
            Some(k @ (Kind::ContextWindowExceeded | Kind::ContentPolicy)) => k,
            _ => Kind::BadRequest,
        },
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        match (&i.provider, i.status) {
            (Some(p), Some(s)) => write!(f, "{p} returned HTTP {s}: {}", i.message)?,
            (Some(p), None) => write!(f, "{p}: {}", i.message)?,
            (None, Some(s)) => write!(f, "HTTP {s}: {}", i.message)?,
            (None, None) => f.write_str(&i.message)?,
        }
        if let Some(m) = &i.model {
            write!(f, " (model {m})")?;
        }
        if let Some(id) = &i.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("status", &self.inner.status)
            .field("message", &self.inner.message)
            .finish_non_exhaustive()
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_statuses() {
        let cases = [
            (401, Kind::Authentication),
            (403, Kind::Authentication),
            (429, Kind::RateLimited),
            (400, Kind::BadRequest),
            (422, Kind::BadRequest),
            (418, Kind::BadRequest),
            (404, Kind::NotFound),
            (500, Kind::Server),
            (501, Kind::Server),
            (502, Kind::ServiceUnavailable),
            (503, Kind::ServiceUnavailable),
            (504, Kind::ServiceUnavailable),
            (529, Kind::ServiceUnavailable),
        ];
        for (status, kind) in cases {
            assert_eq!(Error::from_response(status, b"{}").kind(), kind, "status {status}");
        }
    }

    #[test]
    fn refines_bad_request_from_body() {
        let ctx = br#"{"error":{"message":"This model's maximum context length is 8192 tokens","code":"context_length_exceeded"}}"#;
        let e = Error::from_response(400, ctx);
        assert_eq!(e.kind(), Kind::ContextWindowExceeded);
        assert!(e.to_string().contains("maximum context length"));
        let policy = br#"{"error":{"message":"blocked","code":"content_policy_violation"}}"#;
        assert_eq!(Error::from_response(400, policy).kind(), Kind::ContentPolicy);
        let anthropic = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 200001 tokens"}}"#;
        assert_eq!(Error::from_response(400, anthropic).kind(), Kind::ContextWindowExceeded);
    }

    #[test]
    fn keeps_raw_text_body() {
        let e = Error::from_response(502, b"<html>bad gateway</html>");
        assert_eq!(e.body(), Some(&Value::String("<html>bad gateway</html>".into())));
        assert!(e.message().contains("bad gateway"));
    }

    #[test]
    fn display_is_one_sentence_with_context() {
        let e = Error::from_response(429, br#"{"error":{"message":"Slow down"}}"#)
            .with_context("openai", Some("gpt-4o"))
            .with_request_id(Some("req_1".into()));
        assert_eq!(
            e.to_string(),
            "openai returned HTTP 429: Slow down (model gpt-4o) [request id req_1]"
        );
    }

    #[test]
    fn redacts_an_echoed_key() {
        let e = Error::from_response(
            401,
            br#"{"error":{"message":"Incorrect API key provided: sk-live-1234"}}"#,
        )
        .redact("sk-live-1234");
        assert!(!e.to_string().contains("sk-live-1234"));
        assert!(!e.body().unwrap().to_string().contains("sk-live-1234"));
        assert!(e.to_string().contains("[redacted]"));
    }

    #[test]
    fn stream_error_event() {
        let e = Error::from_stream_event(
            serde_json::json!({"error": {"message": "overloaded", "type": "overloaded_error"}}),
        );
        assert_eq!(e.kind(), Kind::ServiceUnavailable);
        let e = Error::from_stream_event(serde_json::json!({"error": {"message": "boom", "code": 500}}));
        assert_eq!(e.kind(), Kind::Server);
        assert_eq!(e.status(), Some(500));
    }
}
