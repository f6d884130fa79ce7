//! OpenAI embeddings requests -> Gemini `embedContent` / `batchEmbedContents`, and back.
//!
//! One input goes to `models/{model}:embedContent` as `{"content": {"parts": [{"text"}]}}`;
//! several go to `models/{model}:batchEmbedContents` as `{"requests": [...]}`, each request
//! naming `models/{model}`. `dimensions` becomes `outputDimensionality`. Gemini-specific keys
//! (`taskType`, `title`, ...) are copied into every request; `encoding_format` and `user` are
//! dropped (Gemini always answers with float arrays, which decode the same way). Token-id inputs
//! are not supported (Gemini embeds text only).

use serde_json::{json, Map, Value};

use super::resource_name;
use crate::error::{Error, Kind, Result};
use crate::providers::path_escape;
use crate::types::{EmbeddingResponse, Usage};

/// Most requests one `batchEmbedContents` call accepts; larger batches must be split.
pub const MAX_BATCH_EMBED: usize = 100;

/// OpenAI keys that are translated or dropped rather than passed through.
const HANDLED: &[&str] = &["model", "input", "dimensions", "encoding_format", "user"];

fn invalid(message: impl Into<String>) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

/// The URL path (relative to the base URL) and JSON body of an OpenAI-shaped embeddings
/// request for `model`: `models/{model}:embedContent` for one input, else
/// `models/{model}:batchEmbedContents`.
///
/// # Errors
/// `InvalidArgument` when `input` is missing, empty, or not a string or a list of non-empty
/// strings.
pub fn embed_request(body: &Map<String, Value>, model: &str) -> Result<(String, Vec<u8>)> {
    let texts: Vec<&str> = match body.get("input") {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .ok_or_else(|| invalid(format!("input[{i}] must be a string (Gemini embeds text only)")))
            })
            .collect::<Result<_>>()?,
        Some(Value::Array(_)) => return Err(invalid("input must not be empty")),
        _ => return Err(invalid("input must be a string or a list of strings")),
    };
    if let Some(i) = texts.iter().position(|t| t.is_empty()) {
        return Err(invalid(format!("input[{i}] must not be an empty string")));
    }
    let mut common = Map::new();
    match body.get("dimensions") {
        None | Some(Value::Null) => {}
        Some(d) if d.as_u64().is_some_and(|d| d > 0) => {
            common.insert("outputDimensionality".to_owned(), d.clone());
        }
        Some(_) => return Err(invalid("dimensions must be a positive integer")),
    }
    for (k, v) in body {
        if !HANDLED.contains(&k.as_str()) {
            common.insert(k.clone(), v.clone());
        }
    }
    let name = resource_name(model);
    let request = |text: &str, with_model: bool| {
        let mut req = Map::new();
        if with_model {
            req.insert("model".to_owned(), json!(name));
        }
        req.insert("content".to_owned(), json!({"parts": [{"text": text}]}));
        for (k, v) in &common {
            req.insert(k.clone(), v.clone());
        }
        Value::Object(req)
    };
    let (path, doc) = if let [one] = texts.as_slice() {
        (format!("{}:embedContent", path_escape(&name)?), request(one, false))
    } else {
        let requests: Vec<Value> = texts.iter().map(|t| request(t, true)).collect();
        (
            format!("{}:batchEmbedContents", path_escape(&name)?),
            json!({ "requests": requests }),
        )
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
    Ok((path, bytes))
}

/// Translates an `embedContent` (`{"embedding": {"values"}}`) or `batchEmbedContents`
/// (`{"embeddings": [{"values"}]}`) answer into an OpenAI-shaped [`EmbeddingResponse`], vectors
/// in request order. Usage comes from `usageMetadata.promptTokenCount` when present, else 0.
///
/// # Errors
/// `Serialization` when the body has neither shape; the provider's error for an `{"error": ...}`
/// document.
pub fn embed_response(body: &[u8], model: &str) -> Result<EmbeddingResponse> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        Error::new(
            Kind::Serialization,
            format!("could not decode the Gemini embeddings: {e}"),
        )
    })?;
    if doc.get("error").is_some_and(|e| !e.is_null()) {
        return Err(super::response::error_from_value(doc, None));
    }
    let vectors: Vec<&Value> = if let Some(one) = doc.get("embedding") {
        vec![one]
    } else if let Some(Value::Array(many)) = doc.get("embeddings") {
        many.iter().collect()
    } else {
        return Err(Error::new(
            Kind::Serialization,
            "the Gemini embeddings answer has neither `embedding` nor `embeddings`",
        ));
    };
    let data: Vec<Value> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            json!({
                "object": "embedding",
                "index": index,
                "embedding": v.get("values").cloned().unwrap_or_else(|| json!([])),
            })
        })
        .collect();
    let tokens = doc
        .pointer("/usageMetadata/promptTokenCount")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let out = json!({"object": "list", "data": data, "model": model});
    let mut response: EmbeddingResponse = serde_json::from_value(out).map_err(|e| {
        Error::new(
            Kind::Serialization,
            format!("could not decode the Gemini embeddings: {e}"),
        )
    })?;
    response.usage = Usage {
        prompt_tokens: tokens,
        total_tokens: tokens,
        ..Usage::default()
    };
    Ok(response)
}
