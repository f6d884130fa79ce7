//! The Anthropic Messages protocol as an [`Adapter`].

use bytes::Bytes;
use reqwest::header::HeaderValue;
use serde_json::{Map, Value};

use super::{chat_request, chat_response, error_from_response, StreamState, API_VERSION};
use crate::client::relay::Relayed;
use crate::error::Result;
use crate::providers::adapter::{Adapter, Encoded, StreamTranslator, Wire};
use crate::providers::model_list;
use crate::providers::registry::Endpoint;
use crate::types::{ChatCompletionResponse, ModelsListResponse};

/// Anthropic's Messages API (`POST /messages`, `anthropic-version` header).
#[derive(Debug)]
pub struct Anthropic;

impl Adapter for Anthropic {
    fn native_body(&self) -> bool {
        true
    }

    fn encode(&self, _endpoint: Endpoint, body: &Map<String, Value>, _wire: Wire<'_>) -> Result<Encoded> {
        Ok(Encoded {
            body: chat_request(body)?,
            path: None,
        })
    }

    fn fixed_chat_path(&self) -> Option<&'static str> {
        Some("messages")
    }

    fn path(&self, _endpoint: Endpoint, _wire: Wire<'_>) -> Result<String> {
        Ok("messages".to_owned())
    }

    fn headers(&self, headers: &mut reqwest::header::HeaderMap) {
        if !headers.contains_key("anthropic-version") {
            headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        }
    }

    fn chat_response(&self, body: &[u8], _model: &str) -> Result<ChatCompletionResponse> {
        chat_response(body)
    }

    fn chat_relay(&self, body: Bytes, model: &str) -> Result<Relayed> {
        Relayed::typed(self.chat_response(&body, model)?)
    }

    fn stream(&self, _model: &str) -> Option<Box<dyn StreamTranslator>> {
        Some(Box::new(StreamState::new()))
    }

    fn error(&self, status: u16, body: &[u8]) -> crate::error::Error {
        error_from_response(status, body)
    }

    fn models_page(&self) -> Option<(&'static str, &'static str)> {
        // Lists are paged (20 by default); ask for everything at once.
        Some(("limit", "1000"))
    }

    fn models(&self, body: &[u8]) -> Result<ModelsListResponse> {
        model_list(body, "data", "anthropic", |m| {
            let id = m.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            let created = m.get("created_at").and_then(Value::as_str).map_or(0, unix_of);
            (id, created)
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of an RFC 3339 UTC timestamp such as `2025-02-19T00:00:00Z` (0 if unreadable).
pub(crate) fn unix_of(stamp: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| stamp.get(r).and_then(|s| s.parse::<i64>().ok());
    match (num(0..4), num(5..7), num(8..10), num(11..13), num(14..16), num(17..19)) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s
        }
        _ => 0,
    }
}
