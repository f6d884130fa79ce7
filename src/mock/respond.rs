//! Building mock responses and applying scripted faults to them: JSON and plain bodies (whole
//! or cut half-way), fault headers (Retry-After, extra headers), fault-scripted error or
//! verbatim bodies, and [`answer`], the wait-then-respond shape every faultable endpoint shares.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde_json::Value;

use super::body::MockBody;
use super::chat;
use super::faults::{default_error, format_retry_after, Fault};
use super::state::Shared;

/// `Content-Type` of JSON bodies.
pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<MockBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(MockBody::full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, JSON);
    resp
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn apply_fault_headers(resp: &mut Response<MockBody>, fault: &Fault) {
    let headers = resp.headers_mut();
    if let Some(secs) = fault.retry_after {
        if let Ok(value) = HeaderValue::from_str(&format_retry_after(secs)) {
            headers.insert(RETRY_AFTER, value);
        }
    }
    if let Some(ms) = fault.retry_after_ms {
        if let Ok(value) = HeaderValue::from_str(&ms.to_string()) {
            headers.insert(RETRY_AFTER_MS, value);
        }
    }
    for (name, value) in &fault.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
}

/// A fault's explicit body: JSON values as JSON, strings as plain text.
pub(crate) fn verbatim_body(body: &Value) -> (Bytes, HeaderValue) {
    match body {
        Value::String(text) => (Bytes::from(text.clone()), TEXT),
        other => (Bytes::from(serde_json::to_vec(other).unwrap_or_default()), JSON),
    }
}

/// Takes the next fault, waits the configured latency plus the fault's delay, answers with
/// `respond` and adds the fault's headers: the common shape of every faultable endpoint.
pub(crate) async fn answer(shared: &Shared, respond: impl FnOnce(&Fault) -> Response<MockBody>) -> Response<MockBody> {
    let fault = shared.pop_fault().unwrap_or_default();
    let wait = shared.behaviour.latency + fault.delay.unwrap_or(Duration::ZERO);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let mut resp = respond(&fault);
    apply_fault_headers(&mut resp, &fault);
    resp
}

/// The response a fault scripts outright (an error status, or a verbatim body), if any.
pub(crate) fn scripted_response(body: &Bytes, fault: &Fault) -> Option<Response<MockBody>> {
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();
    if let Some(status) = status.filter(|s| s.as_u16() >= 400) {
        let (bytes, content_type) = match &fault.body {
            Some(verbatim) => verbatim_body(verbatim),
            None => {
                let model = chat::sniff_model(body);
                let doc = default_error(status.as_u16(), model.as_deref());
                (Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()), JSON)
            }
        };
        return Some(plain(status, bytes, content_type, cut));
    }
    let verbatim = fault.body.as_ref()?;
    let (bytes, content_type) = verbatim_body(verbatim);
    Some(plain(status.unwrap_or(StatusCode::OK), bytes, content_type, cut))
}

pub(crate) fn plain(status: StatusCode, bytes: Bytes, content_type: HeaderValue, cut: bool) -> Response<MockBody> {
    let body = if cut {
        MockBody::half_then_cut(bytes)
    } else {
        MockBody::full(bytes)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}
