//! Scripted faults for the mock provider, and the realistic OpenAI error bodies it sends.
//!
//! A [`Fault`] describes how to misbehave for exactly one request to a served endpoint: an
//! error status, a slow start, a stream cut short, a body that is not JSON, or an in-stream error
//! event. Faults are queued with [`MockServer::push_faults`](super::MockServer::push_faults) and
//! consumed in FIFO order, one per request.

use std::time::Duration;

use serde_json::{json, Value};

/// How the mock server misbehaves for one chat request.
///
/// Every field is optional; a default `Fault` serves the request normally (it still consumes a
/// queue slot, which is handy for "fail the second request only" scripts).
///
/// * `status` >= 400 answers with that status and `body` (or a realistic OpenAI error body for
///   the status when `body` is `None`). `status` < 400 answers the request normally with that
///   status code, or with `body` verbatim when given.
/// * `delay` waits before the response headers, on top of the server's configured latency.
/// * `cut_after` closes the connection early: a stream stops after that many content chunks
///   without `[DONE]`; a non-stream response sends its headers and half of its body.
/// * `malformed` sends a 200 whose body is not valid JSON (a stream gets one broken `data:` line
///   right after the role chunk and then continues).
/// * `error_event` (streams only) sends `data: {"error": ...}` after `cut_after` (or 0) content
///   chunks and ends the stream without `[DONE]`. A string becomes the error's `message`.
/// * `reply` replaces the reply text for this request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fault {
    /// HTTP status to answer with.
    pub status: Option<u16>,
    /// Body to send instead of the normal one: a JSON value, or a string sent as plain text.
    pub body: Option<Value>,
    /// Extra response headers (they replace default headers of the same name).
    pub headers: Vec<(String, String)>,
    /// Seconds for the `Retry-After` header.
    pub retry_after: Option<f64>,
    /// Milliseconds for the `retry-after-ms` header.
    pub retry_after_ms: Option<u64>,
    /// Wait this long before sending the response headers.
    pub delay: Option<Duration>,
    /// Close the connection after this many content chunks (non-stream: after half the body).
    pub cut_after: Option<usize>,
    /// Answer 200 with a body that is not valid JSON.
    pub malformed: bool,
    /// Streams: send this as an in-band `{"error": ...}` event and end the stream.
    pub error_event: Option<Value>,
    /// Reply text for this request instead of the configured reply or the echo.
    pub reply: Option<String>,
}

impl Fault {
    /// A fault answering with `status` and the default error body for it.
    pub fn with_status(status: u16) -> Self {
        Fault {
            status: Some(status),
            ..Fault::default()
        }
    }

    /// Checks the fault for values the server cannot send (bad status, header names or values,
    /// negative or non-finite `retry_after`). Returns a human-readable reason.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(status) = self.status {
            if !(200..=599).contains(&status) {
                return Err(format!("status must be between 200 and 599, got {status}"));
            }
        }
        if let Some(secs) = self.retry_after {
            if !secs.is_finite() || secs < 0.0 {
                return Err(format!("retry_after must be a finite number >= 0, got {secs}"));
            }
        }
        for (name, value) in &self.headers {
            if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(format!("invalid header name {name:?}"));
            }
            if hyper::header::HeaderValue::from_str(value).is_err() {
                return Err(format!("invalid value for header {name:?}"));
            }
        }
        Ok(())
    }
}

/// Formats seconds for `Retry-After`: whole numbers without a fraction, others as given.
pub(crate) fn format_retry_after(secs: f64) -> String {
    if secs.fract() == 0.0 && secs < 1e15 {
        format!("{}", secs as u64)
    } else {
        format!("{secs}")
    }
}

/// Builds an OpenAI-shaped error document.
pub(crate) fn error_body(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({
        "error": {
            "message": message,
            "type": kind,
            "param": param,
            "code": code,
        }
    })
}

/// The error body OpenAI would send for `status`; `model` personalises some messages.
pub(crate) fn default_error(status: u16, model: Option<&str>) -> Value {
    let model = model.unwrap_or("gpt-4o-mini");
    match status {
        400 => error_body("Invalid request (mock fault).", "invalid_request_error", None, None),
        401 => error_body(
            "Incorrect API key provided: sk-mock***. You can find your API key at \
             https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        402 => error_body(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
        403 => error_body(
            "You are not allowed to access this resource (mock fault).",
            "invalid_request_error",
            None,
            Some("permission_denied"),
        ),
        404 => error_body(
            &format!("The model `{model}` does not exist or you do not have access to it."),
            "invalid_request_error",
            None,
            Some("model_not_found"),
        ),
        408 => error_body("Request timed out.", "timeout", None, Some("timeout")),
        409 => error_body(
            "Request conflicted with another request (mock fault).",
            "invalid_request_error",
            None,
            Some("conflict"),
        ),
        413 => error_body(
            "Request too large (mock fault).",
            "invalid_request_error",
            None,
            Some("request_too_large"),
        ),
        422 => error_body(
            "Unprocessable request (mock fault).",
            "invalid_request_error",
            None,
            None,
        ),
        429 => error_body(
            &format!(
                "Rate limit reached for {model} in organization org-mock on requests per min (RPM): \
                 Limit 500, Used 500, Requested 1. Please try again in 120ms."
            ),
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        500 => error_body(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            Some("server_error"),
        ),
        502 => error_body("Bad gateway.", "server_error", None, Some("bad_gateway")),
        503 => error_body(
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
            Some("overloaded"),
        ),
        504 => error_body("Gateway timeout.", "timeout", None, Some("timeout")),
        s if s >= 500 => error_body(
            "The server had an error (mock fault).",
            "server_error",
            None,
            Some("server_error"),
        ),
        _ => error_body("Invalid request (mock fault).", "invalid_request_error", None, None),
    }
}

/// The error object of an in-stream error event: objects are used as is, strings become the
/// message of a `server_error`.
pub(crate) fn error_event_object(value: &Value) -> Value {
    match value {
        Value::String(message) => json!({
            "message": message,
            "type": "server_error",
            "param": null,
            "code": null,
        }),
        other => other.clone(),
    }
}
