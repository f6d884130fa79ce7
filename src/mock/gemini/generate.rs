//! `:generateContent` and `:streamGenerateContent`: validating a `GenerateContentRequest`, the
//! `call:` / `blocked:` conventions, the reply text and candidates, and the whole response or its
//! SSE events.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::CONTENT_TYPE;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::{bad_request, google_error, response, JSON, SSE};
use crate::mock::body::MockBody;
use crate::mock::faults::Fault;
use crate::mock::reply::{estimate_tokens, make_reply, Reply};
use crate::mock::split::{split_even, split_given, split_words};
use crate::mock::state::Shared;

/// Largest `candidateCount` accepted, as Gemini.
const MAX_CANDIDATES: u64 = 8;

/// The parts of a `GenerateContentRequest` the mock needs.
#[derive(Debug, Default)]
struct GenRequest {
    prompt_tokens: u64,
    last_user_text: Option<String>,
    /// `name returned {response}` for each function response of the last turn.
    tool_results: Vec<String>,
    tools: bool,
    max_tokens: Option<u64>,
    candidates: usize,
    /// A minimal instance of `generationConfig.responseSchema`, as JSON text.
    schema_reply: Option<String>,
}

fn parse_generate(body: &[u8]) -> Result<GenRequest, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON payload received. {e}"))?;
    let Value::Object(obj) = value else {
        return Err("Invalid JSON payload received. Expected an object.".to_owned());
    };
    let contents = match obj.get("contents") {
        Some(Value::Array(c)) if !c.is_empty() => c,
        _ => return Err("* GenerateContentRequest.contents: contents is not specified".to_owned()),
    };
    let mut req = GenRequest {
        candidates: 1,
        ..GenRequest::default()
    };
    let mut prompt = 0u64;
    if let Some(system) = obj.get("systemInstruction") {
        prompt += estimate_tokens(&parts_text(system.get("parts").unwrap_or(&Value::Null)));
    }
    for (i, content) in contents.iter().enumerate() {
        let role = content.get("role").and_then(Value::as_str).unwrap_or("user");
        if role != "user" && role != "model" {
            return Err(format!(
                "Please use a valid role: user, model. (contents[{i}].role is {role:?})"
            ));
        }
        let parts = match content.get("parts") {
            Some(Value::Array(p)) if !p.is_empty() => p,
            _ => {
                return Err(format!(
                    "* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
                ))
            }
        };
        if parts.iter().any(|p| !p.is_object()) {
            return Err(format!(
                "* GenerateContentRequest.contents[{i}].parts: each part must be an object."
            ));
        }
        let text = parts_text(&Value::Array(parts.clone()));
        prompt += estimate_tokens(&text) + 4;
        if role == "user" {
            req.tool_results = parts
                .iter()
                .filter_map(|p| p.get("functionResponse"))
                .map(|r| {
                    let name = r.get("name").and_then(Value::as_str).unwrap_or("function");
                    let response = r.get("response").map(Value::to_string).unwrap_or_default();
                    prompt += estimate_tokens(&response);
                    format!("{name} returned {response}")
                })
                .collect();
            req.last_user_text = Some(text).filter(|t| !t.is_empty());
        }
    }
    req.prompt_tokens = prompt.max(1);
    req.tools = obj
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| tools.iter().any(|t| t.get("functionDeclarations").is_some()));
    let config = obj.get("generationConfig").and_then(Value::as_object);
    let get = |key: &str| config.and_then(|c| c.get(key)).filter(|v| !v.is_null());
    if let Some(v) = get("maxOutputTokens") {
        req.max_tokens = Some(
            v.as_u64()
                .filter(|m| *m >= 1)
                .ok_or("* GenerationConfig.max_output_tokens: must be a positive integer")?,
        );
    }
    if let Some(v) = get("candidateCount") {
        let n = v
            .as_u64()
            .filter(|n| (1..=MAX_CANDIDATES).contains(n))
            .ok_or("* GenerationConfig.candidate_count: must be between 1 and 8")?;
        req.candidates = usize::try_from(n).unwrap_or(1);
    }
    req.schema_reply = get("responseSchema").map(|s| crate::mock::schema::instance(s, s, 0).to_string());
    Ok(req)
}

pub(super) fn parts_text(parts: &Value) -> String {
    parts
        .as_array()
        .map(|p| {
            p.iter()
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// An answer chosen by a convention on the last user text.
enum Special {
    Call { name: String, args: Value },
    Blocked,
}

/// The `call:` / `blocked:` conventions (not applied when a fault scripts the reply).
fn special(req: &GenRequest, fault: &Fault) -> Option<Special> {
    if fault.reply.is_some() {
        return None;
    }
    let last = req.last_user_text.as_deref().unwrap_or("");
    if last.starts_with("blocked:") {
        return Some(Special::Blocked);
    }
    let call = last.strip_prefix("call:").filter(|_| req.tools)?.trim();
    let (name, args) = call.split_once(char::is_whitespace).unwrap_or((call, ""));
    let args = serde_json::from_str::<Value>(args.trim())
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    Some(Special::Call {
        name: name.to_owned(),
        args,
    })
}

fn reply_text(shared: &Shared, req: &GenRequest, fault: &Fault) -> (String, bool) {
    let explicit = shared.stream_pieces(fault).is_some();
    let text = shared.reply_text(fault, || {
        (!req.tool_results.is_empty())
            .then(|| req.tool_results.join("; "))
            .or_else(|| req.schema_reply.clone())
            .or_else(|| req.last_user_text.clone())
    });
    (text, explicit)
}

fn usage_metadata(prompt: u64, completion: u64) -> Value {
    json!({
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion,
        "totalTokenCount": prompt + completion,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    })
}

fn finish_name(reply: &Reply) -> &'static str {
    if reply.finish_reason == "length" {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

pub(super) fn generate(
    shared: &Shared,
    seq: u64,
    model: &str,
    body: &Bytes,
    fault: &Fault,
    stream: bool,
) -> Response<MockBody> {
    let status = fault
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let cut = fault.cut_after.is_some();
    let req = match parse_generate(body) {
        Ok(req) => req,
        Err(message) => return bad_request(&message),
    };
    let id = format!("mock-gemini-{seq}");
    let envelope = |doc: &mut Value| {
        doc["modelVersion"] = json!(model);
        doc["responseId"] = json!(id);
    };
    if let Some(special) = special(&req, fault) {
        let mut doc = match special {
            Special::Blocked => json!({
                "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]},
                "usageMetadata": usage_metadata(req.prompt_tokens, 0),
            }),
            Special::Call { name, args } => {
                let tokens = estimate_tokens(&args.to_string()).max(1);
                let candidates: Vec<Value> = (0..req.candidates)
                    .map(|i| {
                        json!({
                            "content": {"parts": [{"functionCall": {"name": name, "args": args}}], "role": "model"},
                            "finishReason": "STOP", "index": i,
                        })
                    })
                    .collect();
                json!({"candidates": candidates, "usageMetadata": usage_metadata(req.prompt_tokens, tokens * req.candidates as u64)})
            }
        };
        envelope(&mut doc);
        let bytes = serde_json::to_vec(&doc).unwrap_or_default();
        if stream {
            let mut w = Writer::default();
            w.push(&bytes);
            return w.finish(status, shared.behaviour.chunk_delay, false);
        }
        return response(status, bytes, JSON, cut);
    }

    let (text, explicit) = reply_text(shared, &req, fault);
    let reply = make_reply(text, req.max_tokens);
    let completion = reply.tokens * req.candidates as u64;
    let finish = finish_name(&reply);
    if !stream {
        let candidates: Vec<Value> = (0..req.candidates)
            .map(|i| {
                json!({
                    "content": {"parts": [{"text": reply.text}], "role": "model"},
                    "finishReason": finish, "index": i,
                })
            })
            .collect();
        let mut doc = json!({"candidates": candidates, "usageMetadata": usage_metadata(req.prompt_tokens, completion)});
        envelope(&mut doc);
        let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
        if fault.malformed {
            bytes.truncate(bytes.len() / 2);
        }
        return response(status, bytes, JSON, cut);
    }

    let pieces = match (
        explicit,
        shared.behaviour.stream_pieces.as_deref(),
        shared.behaviour.stream_chunks,
    ) {
        (true, Some(given), _) => split_given(&reply.text, given),
        (_, _, Some(parts)) => split_even(&reply.text, parts),
        _ => split_words(&reply.text),
    };
    let pieces = if pieces.is_empty() { vec![""] } else { pieces };
    let limit = if fault.error_event.is_some() || cut {
        fault.cut_after.unwrap_or(0).min(pieces.len())
    } else {
        pieces.len()
    };
    let mut w = Writer::default();
    for (k, piece) in pieces[..limit].iter().enumerate() {
        let last = k + 1 == pieces.len();
        let candidates: Vec<Value> = (0..req.candidates)
            .map(|i| {
                let mut c = json!({"content": {"parts": [{"text": piece}], "role": "model"}, "index": i});
                if last {
                    c["finishReason"] = json!(finish);
                }
                c
            })
            .collect();
        let usage = if last {
            usage_metadata(req.prompt_tokens, completion)
        } else {
            json!({"promptTokenCount": req.prompt_tokens, "totalTokenCount": req.prompt_tokens})
        };
        let mut doc = json!({"candidates": candidates, "usageMetadata": usage});
        envelope(&mut doc);
        w.push(&serde_json::to_vec(&doc).unwrap_or_default());
        if k == 0 && fault.malformed {
            w.push(b"{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"unterminated");
        }
    }
    if let Some(event) = &fault.error_event {
        let doc = match event {
            Value::String(message) => google_error(500, message),
            Value::Object(o) if o.contains_key("error") => event.clone(),
            other => json!({ "error": other }),
        };
        w.push(&serde_json::to_vec(&doc).unwrap_or_default());
        return w.finish(status, shared.behaviour.chunk_delay, false);
    }
    w.finish(status, shared.behaviour.chunk_delay, cut)
}

/// SSE events, concatenated, with the end offset of each.
#[derive(Default)]
struct Writer {
    buf: BytesMut,
    ends: Vec<usize>,
}

impl Writer {
    fn push(&mut self, data: &[u8]) {
        self.buf.put_slice(b"data: ");
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n\r\n");
        self.ends.push(self.buf.len());
    }

    fn finish(self, status: StatusCode, delay: Duration, cut: bool) -> Response<MockBody> {
        let mut resp = Response::new(MockBody::events(self.buf.freeze(), self.ends, delay, cut));
        *resp.status_mut() = status;
        resp.headers_mut().insert(CONTENT_TYPE, SSE);
        resp
    }
}
