//! Errors as the proxy answers them: OpenAI's error JSON with the status a client expects,
//! `Retry-After` on 429s, and the request id on every response.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::keys::Refusal;
use crate::error::{Error, Kind};

/// OpenAI's error body (`message`, `type`, `param`, `code`).
pub fn error_body(kind: &str, message: &str, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// A JSON response with `status`.
pub fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// A response with `status` and OpenAI's error body.
pub fn error_response(status: StatusCode, kind: &str, message: &str, code: Option<&str>) -> Response {
    json_response(status, &error_body(kind, message, code))
}

/// How a core error answers, whatever the error format: its HTTP status and OpenAI error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The upstream's status when it sent an error status, else the kind's.
    pub status: StatusCode,
    /// OpenAI's error `type` for the kind.
    pub kind: &'static str,
}

/// The status and error type a core error answers with: the upstream's status when it sent
/// one, else by kind.
pub fn failure_of(err: &Error) -> Failure {
    let (fallback, kind) = match err.kind() {
        Kind::InvalidArgument | Kind::BadRequest | Kind::InvalidHeader | Kind::Serialization => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        Kind::ContextWindowExceeded | Kind::ContentPolicy => (StatusCode::BAD_REQUEST, "invalid_request_error"),
        Kind::Authentication => (StatusCode::UNAUTHORIZED, "authentication_error"),
        Kind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error"),
        Kind::NotFound | Kind::EndpointNotSupported => (StatusCode::NOT_FOUND, "not_found_error"),
        Kind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout_error"),
        Kind::Network | Kind::Streaming | Kind::ResponseTooLarge => (StatusCode::BAD_GATEWAY, "api_error"),
        Kind::ServiceUnavailable => (StatusCode::SERVICE_UNAVAILABLE, "api_error"),
        Kind::Server | Kind::Cancelled => (StatusCode::INTERNAL_SERVER_ERROR, "api_error"),
    };
    let status = err
        .status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
        .unwrap_or(fallback);
    Failure { status, kind }
}

/// A core error as OpenAI's error JSON, with its status and `Retry-After`.
pub fn from_core(err: &Error) -> Response {
    let failure = failure_of(err);
    let mut response = error_response(failure.status, failure.kind, err.message(), None);
    add_retry_after(&mut response, err);
    response
}

/// Sets `Retry-After` (whole seconds, rounded up) when the error says how long to wait.
pub fn add_retry_after(response: &mut Response, err: &Error) {
    let wait = err.retry_after().map(|w| w.as_secs() + u64::from(w.subsec_nanos() > 0));
    set_retry_after(response, wait);
}

/// A request a key's settings refused: its status, with `Retry-After` on a 429.
pub fn refused(refusal: &Refusal) -> Response {
    let mut response = error_response(refusal.status, refusal.kind, &refusal.message, None);
    set_retry_after(&mut response, refusal.retry_after);
    response
}

/// Sets `Retry-After` to `seconds`, when given.
pub fn set_retry_after(response: &mut Response, seconds: Option<u64>) {
    if let Some(value) = seconds.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        response.headers_mut().insert("retry-after", value);
    }
}
