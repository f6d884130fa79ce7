//! `:embedContent` and `:batchEmbedContents`: deterministic vectors (the OpenAI mock's vector
//! function) of the requested dimensionality, at most [`MAX_BATCH_EMBED`] requests per batch.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Map, Value};

use super::generate::parts_text;
use super::{bad_request, response, JSON};
use crate::mock::body::MockBody;
use crate::mock::embeddings::vector;
use crate::mock::faults::Fault;
use crate::providers::gemini::MAX_BATCH_EMBED;

/// Vector length when the request has no `outputDimensionality`.
pub(super) const DEFAULT_DIMENSIONS: usize = 768;
/// Largest `outputDimensionality` accepted.
const MAX_DIMENSIONS: u64 = 3072;

fn dimensions(request: &Map<String, Value>) -> Result<usize, String> {
    match request.get("outputDimensionality") {
        None | Some(Value::Null) => Ok(DEFAULT_DIMENSIONS),
        Some(v) => v
            .as_u64()
            .filter(|d| (1..=MAX_DIMENSIONS).contains(d))
            .and_then(|d| usize::try_from(d).ok())
            .ok_or_else(|| {
                format!("* EmbedContentRequest.output_dimensionality: must be between 1 and {MAX_DIMENSIONS}")
            }),
    }
}

fn embed_text(request: &Map<String, Value>) -> Result<String, String> {
    let text = request
        .get("content")
        .and_then(|c| c.get("parts"))
        .map(parts_text)
        .unwrap_or_default();
    if text.is_empty() {
        return Err("* EmbedContentRequest.content: contains an empty Part.".to_owned());
    }
    Ok(text)
}

pub(super) fn embed(model: &str, body: &Bytes, fault: &Fault, batch: bool) -> Response<MockBody> {
    let status = fault
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let doc = match embed_doc(model, body, batch) {
        Ok(doc) => doc,
        Err(message) => return bad_request(&message),
    };
    let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
    if fault.malformed {
        bytes.truncate(bytes.len() / 2);
    }
    response(status, bytes, JSON, fault.cut_after.is_some())
}

fn embed_doc(model: &str, body: &Bytes, batch: bool) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    let Value::Object(obj) = value else {
        return Err("Invalid JSON payload received. Expected an object.".to_owned());
    };
    let one = |request: &Map<String, Value>| -> Result<Value, String> {
        let text = embed_text(request)?;
        Ok(json!({ "values": vector(&text, dimensions(request)?) }))
    };
    if !batch {
        return Ok(json!({ "embedding": one(&obj)? }));
    }
    let requests = match obj.get("requests") {
        Some(Value::Array(r)) if !r.is_empty() => r,
        _ => return Err("* BatchEmbedContentsRequest.requests: requests is not specified".to_owned()),
    };
    if requests.len() > MAX_BATCH_EMBED {
        return Err(format!(
            "* BatchEmbedContentsRequest.requests: at most {MAX_BATCH_EMBED} requests can be in one batch"
        ));
    }
    let expected = format!("models/{model}");
    let mut embeddings = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let Value::Object(request) = request else {
            return Err(format!("* BatchEmbedContentsRequest.requests[{i}]: must be an object"));
        };
        let named = request.get("model").and_then(Value::as_str).unwrap_or("");
        if named != expected {
            return Err(format!(
                "* BatchEmbedContentsRequest.requests[{i}].model: the model ({named:?}) must match the model in the URL ({expected})"
            ));
        }
        embeddings.push(one(request)?);
    }
    Ok(json!({ "embeddings": embeddings }))
}
