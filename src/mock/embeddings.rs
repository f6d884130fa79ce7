//! Embeddings logic of the mock provider: request validation and OpenAI-shaped responses.
//!
//! `POST /v1/embeddings` accepts `input` as a string, a list of strings, a list of token ids or
//! a list of token-id lists, like OpenAI. Each vector is derived deterministically from its
//! input (a hash seeds a generator; the vector has unit length), so the same text always gets
//! the same vector. `dimensions` sets the length (default 1536); `encoding_format: "base64"`
//! sends little-endian float32 values in base64. More inputs than the server's
//! `max_embedding_inputs` (default 2048, OpenAI's limit) is a 400, as is an empty input.

use bytes::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

use super::body::MockBody;
use super::chat::BadRequest;
use super::faults::Fault;
use super::respond::{answer, json_response, plain, scripted_response, JSON};
use super::state::Shared;
use crate::embeddings::encode_base64;
use crate::tokens::count_text_tokens;

/// Vector length when the request has no `dimensions`.
pub(crate) const DEFAULT_DIMENSIONS: usize = 1536;
/// Largest `dimensions` accepted.
const MAX_DIMENSIONS: u64 = 4096;

/// A validated embeddings request.
#[derive(Debug)]
pub(crate) struct EmbeddingRequest {
    pub(crate) model: String,
    /// Each input's canonical text (token ids joined by commas) and its token count.
    pub(crate) inputs: Vec<(String, u64)>,
    pub(crate) base64: bool,
    pub(crate) dimensions: usize,
}

fn invalid_input(message: impl AsRef<str>) -> BadRequest {
    BadRequest::new(message, Some("input"), Some("invalid_value"))
}

fn token_list(items: &[Value]) -> Option<String> {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        let id = item.as_u64()?;
        if i > 0 {
            out.push(',');
        }
        out.push_str(&id.to_string());
    }
    Some(out)
}

/// Validates an embeddings request body against a limit of `max_inputs` inputs.
pub(crate) fn parse_request(body: &[u8], max_inputs: usize) -> Result<EmbeddingRequest, BadRequest> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| BadRequest::new("We could not parse the JSON body of your request.", None, None))?;
    let Value::Object(obj) = value else {
        return Err(BadRequest::new("The request body must be a JSON object.", None, None));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => {
            return Err(BadRequest::new(
                "you must provide a model parameter",
                Some("model"),
                None,
            ))
        }
    };
    let inputs = parse_input(&obj, &model, max_inputs)?;
    let base64 = match obj.get("encoding_format") {
        None | Some(Value::Null) => false,
        Some(Value::String(f)) if f == "float" => false,
        Some(Value::String(f)) if f == "base64" => true,
        Some(other) => {
            return Err(BadRequest::new(
                format!("Invalid value for 'encoding_format': {other}. Supported values are: 'float' and 'base64'."),
                Some("encoding_format"),
                Some("invalid_value"),
            ))
        }
    };
    let dimensions = match obj.get("dimensions") {
        None | Some(Value::Null) => DEFAULT_DIMENSIONS,
        Some(v) => match v.as_u64() {
            Some(d) if (1..=MAX_DIMENSIONS).contains(&d) => usize::try_from(d).unwrap_or(DEFAULT_DIMENSIONS),
            _ => {
                return Err(BadRequest::new(
                    format!("Invalid 'dimensions': must be an integer between 1 and {MAX_DIMENSIONS}, got {v}."),
                    Some("dimensions"),
                    Some("invalid_value"),
                ))
            }
        },
    };
    Ok(EmbeddingRequest {
        model,
        inputs,
        base64,
        dimensions,
    })
}

fn parse_input(obj: &Map<String, Value>, model: &str, max_inputs: usize) -> Result<Vec<(String, u64)>, BadRequest> {
    let input = obj
        .get("input")
        .ok_or_else(|| BadRequest::new("you must provide an input parameter", Some("input"), None))?;
    let one_text = |text: &str| -> Result<(String, u64), BadRequest> {
        if text.is_empty() {
            return Err(invalid_input(
                "'$.input' is invalid: an input must not be an empty string.",
            ));
        }
        Ok((text.to_owned(), count_text_tokens(model, text).max(1)))
    };
    match input {
        Value::String(text) => Ok(vec![one_text(text)?]),
        Value::Array(items) if items.is_empty() => Err(invalid_input("'$.input' is invalid: the list is empty.")),
        Value::Array(items) if items.len() > max_inputs => Err(invalid_input(format!(
            "'$.input' is invalid: at most {max_inputs} inputs are allowed per request, got {}.",
            items.len()
        ))),
        Value::Array(items) if items.iter().all(Value::is_number) => {
            let text = token_list(items).ok_or_else(|| invalid_input("'$.input' has an invalid token id."))?;
            Ok(vec![(text, items.len() as u64)])
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::String(text) => one_text(text),
                Value::Array(ids) if !ids.is_empty() => token_list(ids)
                    .map(|text| (text, ids.len() as u64))
                    .ok_or_else(|| invalid_input(format!("'$.input[{i}]' has an invalid token id."))),
                _ => Err(invalid_input(format!(
                    "'$.input[{i}]' is invalid: expected a non-empty string or list of token ids."
                ))),
            })
            .collect(),
        _ => Err(invalid_input(
            "'$.input' is invalid: expected a string, a list of strings or token ids.",
        )),
    }
}

/// The deterministic unit vector of `text` with `dimensions` values.
pub(crate) fn vector(text: &str, dimensions: usize) -> Vec<f32> {
    // FNV-1a seeds a xorshift64* generator.
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let mut values: Vec<f32> = (0..dimensions)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let bits = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
            #[allow(clippy::cast_precision_loss)]
            let unit = bits as f32 / (1u64 << 24) as f32;
            unit * 2.0 - 1.0
        })
        .collect();
    let norm = values.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        for v in &mut values {
            *v /= norm;
        }
    }
    values
}

/// The JSON body answering `req`.
pub(crate) fn response_body(req: &EmbeddingRequest) -> Vec<u8> {
    let tokens: u64 = req.inputs.iter().map(|(_, t)| t).sum();
    let per_item = if req.base64 {
        req.dimensions * 4 * 4 / 3 + 64
    } else {
        req.dimensions * 12 + 64
    };
    let mut out = Vec::with_capacity(req.inputs.len() * per_item + 256);
    out.extend_from_slice(br#"{"object":"list","data":["#);
    for (i, (text, _)) in req.inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"object":"embedding","index":"#);
        out.extend_from_slice(i.to_string().as_bytes());
        out.extend_from_slice(br#","embedding":"#);
        let values = vector(text, req.dimensions);
        if req.base64 {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            out.push(b'"');
            out.extend_from_slice(encode_base64(&bytes).as_bytes());
            out.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut out, &values);
        }
        out.push(b'}');
    }
    out.extend_from_slice(br#"],"model":"#);
    let _ = serde_json::to_writer(&mut out, &req.model);
    out.extend_from_slice(format!(r#","usage":{{"prompt_tokens":{tokens},"total_tokens":{tokens}}}}}"#).as_bytes());
    out
}

/// Answers an embeddings request, applying the next queued fault.
pub(crate) async fn handle(shared: &Shared, body: &Bytes) -> Response<MockBody> {
    answer(shared, |fault| embed_response(shared, body, fault)).await
}

fn embed_response(shared: &Shared, body: &Bytes, fault: &Fault) -> Response<MockBody> {
    if let Some(scripted) = scripted_response(body, fault) {
        return scripted;
    }
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();
    let req = match parse_request(body, shared.behaviour.max_embedding_inputs) {
        Ok(req) => req,
        Err(bad) => return json_response(StatusCode::BAD_REQUEST, &bad.body),
    };
    let mut doc = response_body(&req);
    if fault.malformed {
        doc.truncate(doc.len() / 2);
    }
    plain(status.unwrap_or(StatusCode::OK), Bytes::from(doc), JSON, cut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector("hello", 8);
        assert_eq!(a, vector("hello", 8));
        assert_ne!(a, vector("hello!", 8));
        let norm: f32 = a.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    #[test]
    fn validates_inputs() {
        // Text is billed in tiktoken tokens (exact for OpenAI models), token arrays per id.
        let ok = parse_request(
            br#"{"model":"text-embedding-3-small","input":["hello world",[1,2,3]],"dimensions":4}"#,
            10,
        )
        .unwrap();
        assert_eq!(ok.inputs, vec![("hello world".to_owned(), 2), ("1,2,3".to_owned(), 3)]);
        assert_eq!(ok.dimensions, 4);
        assert_eq!(
            parse_request(br#"{"model":"m","input":[5,6]}"#, 10).unwrap().inputs,
            vec![("5,6".to_owned(), 2)]
        );
        for bad in [
            &br#"{"model":"m","input":["a","b","c"]}"#[..],
            br#"{"model":"m","input":[]}"#,
            br#"{"model":"m","input":""}"#,
            br#"{"model":"m"}"#,
            br#"{"input":"x"}"#,
            br#"{"model":"m","input":"x","encoding_format":"hex"}"#,
            br#"{"model":"m","input":"x","dimensions":0}"#,
            br#"{"model":"m","input":[{"a":1}]}"#,
        ] {
            assert!(parse_request(bad, 2).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn base64_and_float_bodies_agree() {
        let mut req = parse_request(
            br#"{"model":"text-embedding-3-small","input":["x","y"],"dimensions":3}"#,
            10,
        )
        .unwrap();
        let floats: Value = serde_json::from_slice(&response_body(&req)).unwrap();
        req.base64 = true;
        let b64: crate::types::EmbeddingResponse = serde_json::from_slice(&response_body(&req)).unwrap();
        assert_eq!(floats["usage"]["total_tokens"], 2);
        assert_eq!(b64.data[1].index, 1);
        for (i, item) in b64.data.iter().enumerate() {
            let expect: Vec<f64> = floats["data"][i]["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let got = item.embedding.to_f64();
            assert_eq!(got.len(), 3);
            for (g, e) in got.iter().zip(&expect) {
                assert!((g - e).abs() < 1e-6);
            }
        }
    }
}
