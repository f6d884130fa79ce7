//! Anthropic's Message Batches: created with every request in one body
//! (`POST /messages/batches`), polled, cancelled, and its results read as JSONL from
//! `/messages/batches/{id}/results` at the provider's own base URL (the `results_url` a batch
//! names is not followed: the key only goes to the provider's host).

use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;

use super::manifest::PartState;
use super::Seen;
use crate::api::{parse, segment, ApiRequest, Payload};
use crate::client::Client;
use crate::error::Result;
use crate::providers::anthropic::unix_of;
use crate::providers::registry::Endpoint;

/// Most pages of batches read when looking for one whose creation went unanswered.
const FIND_PAGES: usize = 20;
/// Clock difference allowed between us and the provider when matching creation times.
const SKEW_SECS: i64 = 600;

fn call(method: Method, path: String, via: &str) -> ApiRequest {
    ApiRequest {
        via: via.to_owned(),
        ..ApiRequest::new(Endpoint::MessageBatches, method, path)
    }
}

/// Creates a message batch from its whole body (`{"requests": [...]}`).
pub(super) async fn create(client: &Client, via: &str, body: Bytes) -> Result<Seen> {
    let req = ApiRequest {
        payload: Payload::Json(body),
        once: true,
        ..call(Method::POST, "messages/batches".into(), via)
    };
    seen(&client.api(req).await?.body)
}

/// A batch as it stands (`cancel`: asks to cancel it first).
pub(super) async fn status(client: &Client, via: &str, batch_id: &str, cancel: bool) -> Result<Seen> {
    let id = segment("batch_id", batch_id)?;
    let req = if cancel {
        call(Method::POST, format!("messages/batches/{id}/cancel"), via)
    } else {
        call(Method::GET, format!("messages/batches/{id}"), via)
    };
    seen(&client.api(req).await?.body)
}

/// A batch of `count` requests created at or after `since` (unix seconds, less the allowed
/// skew) that is not one of `taken`, if any: the one a creation that went unanswered made.
pub(super) async fn find(
    client: &Client,
    via: &str,
    count: usize,
    since: u64,
    taken: &[String],
) -> Result<Option<Seen>> {
    let since = i64::try_from(since).unwrap_or(i64::MAX) - SKEW_SECS;
    let mut after: Option<String> = None;
    for _ in 0..FIND_PAGES {
        let mut req = call(Method::GET, "messages/batches".into(), via);
        req.query.push(("limit", "100".into()));
        if let Some(a) = &after {
            req.query.push(("after_id", a.clone()));
        }
        let page: Value = parse(&client.api(req).await?.body, "message batch list")?;
        let data = page.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
        let found = data.iter().map(seen_of).zip(&data).find(|(s, raw)| {
            let created = raw.get("created_at").and_then(Value::as_str).map_or(0, unix_of);
            created >= since && s.total == count as u64 && !taken.contains(&s.id)
        });
        if let Some((s, _)) = found {
            return Ok(Some(s));
        }
        if page.get("has_more") != Some(&Value::Bool(true)) || data.is_empty() {
            break;
        }
        after = data
            .last()
            .and_then(|b| b.get("id"))
            .and_then(Value::as_str)
            .map(str::to_owned);
    }
    Ok(None)
}

/// A batch's results (JSONL, one line per request).
pub(super) async fn results(client: &Client, via: &str, batch_id: &str) -> Result<Bytes> {
    let id = segment("batch_id", batch_id)?;
    let req = call(Method::GET, format!("messages/batches/{id}/results"), via);
    Ok(client.api_chunks(req).await?.0.into_bytes())
}

fn seen(body: &[u8]) -> Result<Seen> {
    let batch: Value = parse(body, "message batch")?;
    Ok(seen_of(&batch))
}

/// What a message batch object says of the batch.
fn seen_of(batch: &Value) -> Seen {
    let count = |k: &str| batch["request_counts"][k].as_u64().unwrap_or(0);
    let cancel_asked = !batch["cancel_initiated_at"].is_null();
    let state = match batch
        .get("processing_status")
        .and_then(Value::as_str)
        .unwrap_or_default()
    {
        "ended" if cancel_asked => PartState::Cancelled,
        "ended" => PartState::Completed,
        "canceling" => PartState::Cancelling,
        _ => PartState::Running,
    };
    let failed = count("errored")
        .saturating_add(count("canceled"))
        .saturating_add(count("expired"));
    Seen {
        id: batch.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        state,
        succeeded: count("succeeded"),
        failed,
        total: count("processing")
            .saturating_add(count("succeeded"))
            .saturating_add(failed),
        output_file_id: None,
        error_file_id: None,
        errors: None,
    }
}
