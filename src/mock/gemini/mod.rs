//! Mock Google Gemini answers, under `/v1beta/models/{model}:{method}` (and `/v1/models/...`).
//!
//! * `:generateContent` answers one `GenerateContentResponse`.
//! * `:streamGenerateContent?alt=sse` answers SSE events, one `GenerateContentResponse` each
//!   (one per word, or per configured stream piece, `chunk_delay` apart); the last one carries
//!   `finishReason` and the full `usageMetadata`. Without `alt=sse` (Google's JSON-array form)
//!   the mock answers 400.
//! * `:embedContent` / `:batchEmbedContents` answer deterministic vectors (the OpenAI mock's
//!   vector function; 768 values unless `outputDimensionality` says otherwise; at most
//!   [`MAX_BATCH_EMBED`](crate::providers::gemini::MAX_BATCH_EMBED) requests per batch, each naming the path's model).
//!
//! The key must come in the `x-goog-api-key` header or the `key` query parameter, else the
//! answer is 403 `PERMISSION_DENIED`. Bodies are validated (non-empty `contents`, roles `user` /
//! `model`, non-empty `parts`); a bad body is 400 `INVALID_ARGUMENT`. Every error uses Google's
//! shape `{"error": {"code", "message", "status"}}`.
//!
//! The reply echoes the last user text (or the configured / fault reply), honouring
//! `maxOutputTokens` (`MAX_TOKENS` finish) and `candidateCount`. After a turn of function
//! responses, the reply reports them (`get_weather returned {"temp":21}`). Two conventions on
//! the last user text, checked before any configured reply:
//!
//! * `call:NAME {json args}` (e.g. `call:get_weather {"city":"Paris"}`), when the request
//!   declares function tools, answers with a `functionCall` part for `NAME` (args `{}` when
//!   omitted).
//! * `blocked:...` answers with `promptFeedback.blockReason: "SAFETY"` and no candidates.
//!
//! Faults apply as for chat: a status >= 400 without a body answers in Google's error shape (a
//! 429 with `retry_after` also carries a `RetryInfo` detail); `error_event` sends a
//! `data: {"error": ...}` event after `cut_after` (or 0) pieces; `cut_after`, `malformed`,
//! `delay` and `reply` behave as for chat.
//!
//! This module checks the path, method and key and answers faults; generation is in `generate`,
//! embeddings in `embed`.

mod embed;
mod generate;

#[cfg(test)]
mod tests;

use bytes::Bytes;
use hyper::header::HeaderValue;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Value};

use super::body::MockBody;
use super::faults::{format_retry_after, Fault};
use super::respond::{answer, plain};
use super::state::Shared;
use embed::embed;
use generate::generate;

const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=UTF-8");
const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Google's canonical status name for an HTTP status.
fn status_name(code: u16) -> &'static str {
    match code {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        c if c >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

/// A Google error document.
pub(crate) fn google_error(code: u16, message: &str) -> Value {
    json!({"error": {"code": code, "message": message, "status": status_name(code)}})
}

fn default_error(code: u16, model: &str, fault: &Fault) -> Value {
    let message = match code {
        400 => "Request contains an invalid argument.".to_owned(),
        401 => "Request had invalid authentication credentials.".to_owned(),
        403 => "The caller does not have permission".to_owned(),
        404 => format!("models/{model} is not found for API version v1beta, or is not supported for generateContent."),
        429 => "You exceeded your current quota, please check your plan and billing details.".to_owned(),
        500 => "An internal error has occurred. Please retry or report the issue.".to_owned(),
        503 => "The model is overloaded. Please try again later.".to_owned(),
        504 => "Deadline expired before operation could complete.".to_owned(),
        c if c >= 500 => "An internal error has occurred (mock fault).".to_owned(),
        _ => "Request failed (mock fault).".to_owned(),
    };
    let mut doc = google_error(code, &message);
    if let (429, Some(secs)) = (code, fault.retry_after) {
        doc["error"]["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{}s", format_retry_after(secs)),
        }]);
    }
    doc
}

fn response(status: StatusCode, bytes: impl Into<Bytes>, content_type: HeaderValue, cut: bool) -> Response<MockBody> {
    plain(status, bytes.into(), content_type, cut)
}

fn error_response(code: u16, message: &str) -> Response<MockBody> {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    let bytes = serde_json::to_vec(&google_error(code, message)).unwrap_or_default();
    response(status, bytes, JSON, false)
}

fn bad_request(message: &str) -> Response<MockBody> {
    error_response(400, message)
}

fn query_param<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Serves one request under `/v1beta/models/`.
pub(crate) async fn handle(
    shared: &Shared,
    seq: u64,
    parts: &hyper::http::request::Parts,
    body: &Bytes,
) -> Response<MockBody> {
    let path = parts.uri.path();
    let query = parts.uri.query();
    let target = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))
        .unwrap_or("");
    let Some((model, method)) = target.rsplit_once(':') else {
        return error_response(404, &format!("Method not found: {path}"));
    };
    if parts.method != Method::POST {
        return error_response(
            405,
            &format!("Method {} is not allowed for {path}; use POST.", parts.method),
        );
    }
    if !matches!(
        method,
        "generateContent" | "streamGenerateContent" | "embedContent" | "batchEmbedContents"
    ) {
        return error_response(404, &format!("Method not found: {method}"));
    }
    let header_key = parts.headers.get("x-goog-api-key").is_some_and(|v| !v.is_empty());
    let query_key = query_param(query, "key").is_some_and(|k| !k.is_empty());
    if !header_key && !query_key {
        return error_response(
            403,
            "Method doesn't allow unregistered callers (callers without established identity). \
             Please use API Key or other form of API consumer identity to call this API.",
        );
    }
    answer(shared, |fault| match scripted(model, fault) {
        Some(resp) => resp,
        None => match method {
            "generateContent" => generate(shared, seq, model, body, fault, false),
            "streamGenerateContent" if query_param(query, "alt") == Some("sse") => {
                generate(shared, seq, model, body, fault, true)
            }
            "streamGenerateContent" => bad_request("The mock serves streamGenerateContent with alt=sse only."),
            "embedContent" => embed(model, body, fault, false),
            _ => embed(model, body, fault, true),
        },
    })
    .await
}

/// The answer a fault scripts outright (an error status, or a verbatim body), if any.
fn scripted(model: &str, fault: &Fault) -> Option<Response<MockBody>> {
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();
    let verbatim = |body: &Value| match body {
        Value::String(text) => (Bytes::from(text.clone()), TEXT),
        other => (Bytes::from(serde_json::to_vec(other).unwrap_or_default()), JSON),
    };
    if let Some(status) = status.filter(|s| s.as_u16() >= 400) {
        let (bytes, content_type) = match &fault.body {
            Some(body) => verbatim(body),
            None => (
                Bytes::from(serde_json::to_vec(&default_error(status.as_u16(), model, fault)).unwrap_or_default()),
                JSON,
            ),
        };
        return Some(response(status, bytes, content_type, cut));
    }
    let (bytes, content_type) = verbatim(fault.body.as_ref()?);
    Some(response(status.unwrap_or(StatusCode::OK), bytes, content_type, cut))
}
