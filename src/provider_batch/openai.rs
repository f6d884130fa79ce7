//! OpenAI's batch API: the input uploaded as a JSONL file (`POST /files`, purpose `batch`), a
//! batch created from it (`POST /batches`), polled (`GET /batches/{id}`), cancelled, and its
//! output and error files downloaded.

use bytes::Bytes;
use reqwest::header::HeaderValue;
use reqwest::Method;
use serde_json::{json, Value};

use super::manifest::PartState;
use super::Seen;
use crate::api::{parse, segment, ApiRequest, Payload, Upload};
use crate::client::Client;
use crate::error::Result;
use crate::providers::registry::Endpoint;

/// Most pages of batches read when looking for one whose creation went unanswered.
const FIND_PAGES: usize = 20;

/// A call to the job's provider (routed by `via`, counted as a files or batches call).
fn call(endpoint: Endpoint, method: Method, path: String, via: &str) -> ApiRequest {
    ApiRequest {
        via: via.to_owned(),
        ..ApiRequest::new(endpoint, method, path)
    }
}

/// Uploads a part's JSONL input; returns the file id.
pub(super) async fn upload(client: &Client, via: &str, name: String, data: Bytes) -> Result<String> {
    let upload = Upload {
        fields: vec![("purpose".into(), "batch".into())],
        field: "file".into(),
        data,
        filename: name,
        content_type: HeaderValue::from_static("application/jsonl"),
    };
    let req = ApiRequest {
        payload: Payload::Form(upload),
        ..call(Endpoint::Files, Method::POST, "files".into(), via)
    };
    let file: Value = parse(&client.api(req).await?.body, "file object")?;
    Ok(text(&file, "id").unwrap_or_default())
}

/// Creates a batch from an uploaded input file.
pub(super) async fn create(client: &Client, via: &str, input_file_id: &str, window: &str, job: &str) -> Result<Seen> {
    let body = json!({
        "input_file_id": input_file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": window,
        "metadata": {"liter_llm_job": job},
    });
    let req = ApiRequest {
        payload: Payload::Json(Bytes::from(body.to_string())),
        once: true,
        ..call(Endpoint::Batches, Method::POST, "batches".into(), via)
    };
    seen(&client.api(req).await?.body)
}

/// A batch as it stands (`cancel`: asks to cancel it first).
pub(super) async fn status(client: &Client, via: &str, batch_id: &str, cancel: bool) -> Result<Seen> {
    let id = segment("batch_id", batch_id)?;
    let req = if cancel {
        call(Endpoint::Batches, Method::POST, format!("batches/{id}/cancel"), via)
    } else {
        call(Endpoint::Batches, Method::GET, format!("batches/{id}"), via)
    };
    seen(&client.api(req).await?.body)
}

/// The batch created from `input_file_id`, if any (newest first, a bounded number of pages).
pub(super) async fn find(client: &Client, via: &str, input_file_id: &str) -> Result<Option<Seen>> {
    let mut after: Option<String> = None;
    for _ in 0..FIND_PAGES {
        let mut req = call(Endpoint::Batches, Method::GET, "batches".into(), via);
        req.query.push(("limit", "100".into()));
        if let Some(a) = &after {
            req.query.push(("after", a.clone()));
        }
        let page: Value = parse(&client.api(req).await?.body, "batch list")?;
        let data = page.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(batch) = data
            .iter()
            .find(|b| text(b, "input_file_id").as_deref() == Some(input_file_id))
        {
            return Ok(Some(seen_of(batch)));
        }
        if page.get("has_more") != Some(&Value::Bool(true)) || data.is_empty() {
            break;
        }
        after = data.last().and_then(|b| text(b, "id"));
    }
    Ok(None)
}

/// The content of a result file.
pub(super) async fn file(client: &Client, via: &str, file_id: &str) -> Result<Bytes> {
    let id = segment("file_id", file_id)?;
    let req = call(Endpoint::Files, Method::GET, format!("files/{id}/content"), via);
    Ok(client.api_chunks(req).await?.0.into_bytes())
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn seen(body: &[u8]) -> Result<Seen> {
    let batch: Value = parse(body, "batch object")?;
    Ok(seen_of(&batch))
}

/// What a batch object says of the batch.
fn seen_of(batch: &Value) -> Seen {
    let state = match batch.get("status").and_then(Value::as_str).unwrap_or_default() {
        "completed" => PartState::Completed,
        "failed" => PartState::Failed,
        "expired" => PartState::Expired,
        "cancelled" => PartState::Cancelled,
        "cancelling" => PartState::Cancelling,
        _ => PartState::Running,
    };
    let count = |k: &str| batch["request_counts"][k].as_u64().unwrap_or(0);
    let errors = batch["errors"]["data"].as_array().map(|all| {
        all.iter()
            .filter_map(|e| e.get("message").and_then(Value::as_str))
            .take(5)
            .collect::<Vec<_>>()
            .join("; ")
    });
    Seen {
        id: text(batch, "id").unwrap_or_default(),
        state,
        succeeded: count("completed"),
        failed: count("failed"),
        total: count("total"),
        output_file_id: text(batch, "output_file_id"),
        error_file_id: text(batch, "error_file_id"),
        errors: errors.filter(|e| !e.is_empty()),
    }
}
