//! Mock Google Gemini answers, under `/v1beta/models/{model}:{method}` (and `/v1/models/...`).
//!
//! * `:generateContent` answers one `GenerateContentResponse`.
//! * `:streamGenerateContent?alt=sse` answers SSE events, one `GenerateContentResponse` each
//!   (one per word, or per configured stream piece, `chunk_delay` apart); the last one carries
//!   `finishReason` and the full `usageMetadata`. Without `alt=sse` (Google's JSON-array form)
//!   the mock answers 400.
//! * `:embedContent` / `:batchEmbedContents` answer deterministic vectors (the OpenAI mock's
//!   vector function; 768 values unless `outputDimensionality` says otherwise; at most
//!   [`MAX_BATCH_EMBED`] requests per batch, each naming the path's model).
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

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::body::MockBody;
use super::embeddings::vector;
use super::faults::{format_retry_after, Fault};
use super::reply::{estimate_tokens, make_reply, Reply};
use super::respond::{answer, plain};
use super::split::{split_even, split_given, split_words};
use super::state::Shared;
use crate::providers::gemini::MAX_BATCH_EMBED;

/// Vector length when the request has no `outputDimensionality`.
const DEFAULT_DIMENSIONS: usize = 768;
/// Largest `outputDimensionality` accepted.
const MAX_DIMENSIONS: u64 = 3072;
/// Largest `candidateCount` accepted, as Gemini.
const MAX_CANDIDATES: u64 = 8;

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
    req.schema_reply = get("responseSchema").map(|s| super::schema::instance(s, s, 0).to_string());
    Ok(req)
}

fn parts_text(parts: &Value) -> String {
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

fn generate(shared: &Shared, seq: u64, model: &str, body: &Bytes, fault: &Fault, stream: bool) -> Response<MockBody> {
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

fn embed(model: &str, body: &Bytes, fault: &Fault, batch: bool) -> Response<MockBody> {
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

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::time::Duration;

    use serde_json::{json, Map, Value};

    use crate::error::{Error, Kind};
    use crate::mock::{Fault, MockConfig, MockServer};
    use crate::providers::gemini::{
        chat_path, chat_request, chat_response, embed_request, embed_response, error_from_response, StreamState,
    };
    use crate::sse::Decoder;
    use crate::types::ChatCompletionChunk;

    fn server(config: MockConfig) -> MockServer {
        MockServer::start(config).expect("mock server starts")
    }

    fn block_on<F: std::future::Future>(fut: F) -> F::Output {
        crate::runtime::get().block_on(fut)
    }

    /// POSTs `body` to `/v1beta/{path}`; returns the status, the body read so far, and whether
    /// the read failed (cut connection).
    fn post(server: &MockServer, path: &str, body: Vec<u8>, key: bool) -> (u16, Vec<u8>, bool) {
        let url = format!("http://127.0.0.1:{}/v1beta/{path}", server.port());
        block_on(async move {
            let client = reqwest::Client::builder().no_proxy().build().expect("client");
            let mut req = client.post(url).header("content-type", "application/json").body(body);
            if key {
                req = req.header("x-goog-api-key", "AIza-test");
            }
            let mut resp = req.send().await.expect("response head");
            let status = resp.status().as_u16();
            let mut bytes = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                    Ok(None) => break (status, bytes, false),
                    Err(_) => break (status, bytes, true),
                }
            }
        })
    }

    fn openai(messages: Value, extra: Value) -> Map<String, Value> {
        let mut body = json!({"model": "gemini-2.5-flash", "messages": messages});
        if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
            b.extend(e);
        }
        match body {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn user(text: &str) -> Value {
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}])
    }

    fn chat(server: &MockServer, body: &Map<String, Value>) -> Result<crate::types::ChatCompletionResponse, Error> {
        let (status, bytes, _) = post(
            server,
            &chat_path("gemini-2.5-flash", false).unwrap(),
            chat_request(body).unwrap(),
            true,
        );
        if status >= 400 {
            return Err(error_from_response(status, &bytes));
        }
        chat_response(&bytes, "gemini-2.5-flash")
    }

    /// Streams `body` through `StreamState`: the chunks, then the error or cut if any.
    fn stream(server: &MockServer, body: &Map<String, Value>) -> (Vec<ChatCompletionChunk>, Option<Error>, bool) {
        let (status, bytes, cut) = post(
            server,
            &chat_path("gemini-2.5-flash", true).unwrap(),
            chat_request(body).unwrap(),
            true,
        );
        if status >= 400 {
            return (Vec::new(), Some(error_from_response(status, &bytes)), false);
        }
        let mut decoder = Decoder::new();
        decoder.feed(&bytes);
        let mut state = StreamState::new("gemini-2.5-flash");
        let mut out = VecDeque::new();
        while let Some(event) = decoder.next_event().expect("valid SSE") {
            if let Err(err) = state.on_event(&event, &mut out) {
                return (out.into_iter().collect(), Some(err), cut);
            }
        }
        assert_eq!(
            state.finished(),
            !cut,
            "a finished stream is exactly one that was not cut"
        );
        (out.into_iter().collect(), None, cut)
    }

    fn text_of(chunks: &[ChatCompletionChunk]) -> String {
        chunks
            .iter()
            .flat_map(|c| c.choices.iter())
            .filter_map(|c| c.delta.content.clone())
            .collect()
    }

    #[test]
    fn generate_echoes_through_the_translator() {
        let server = server(MockConfig::default());
        let r = chat(&server, &openai(user("Hello Gemini"), json!({}))).unwrap();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Hello Gemini"));
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.model, "gemini-2.5-flash");
        assert!(r.id.starts_with("mock-gemini-"));
        let usage = r.usage.unwrap();
        assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
        assert_eq!(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
        let sent = server.requests().pop().unwrap();
        assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(
            sent.json().unwrap()["systemInstruction"]["parts"][0]["text"],
            "Be brief."
        );

        let two = chat(
            &server,
            &openai(user("one two three four five"), json!({"max_tokens": 2, "n": 2})),
        )
        .unwrap();
        assert_eq!(two.choices.len(), 2);
        assert_eq!(two.choices[1].finish_reason.as_deref(), Some("length"));
        assert_eq!(two.choices[1].message.content.as_deref(), Some("one two"));
    }

    #[test]
    fn key_and_body_are_checked() {
        let server = server(MockConfig::default());
        let body = chat_request(&openai(user("x"), json!({}))).unwrap();
        let (status, bytes, _) = post(&server, "models/m:generateContent", body.clone(), false);
        assert_eq!(status, 403);
        let err = error_from_response(status, &bytes);
        assert_eq!(err.kind(), Kind::Authentication);
        assert_eq!(err.body().unwrap()["error"]["status"], "PERMISSION_DENIED");
        let (status, _, _) = post(&server, "models/m:generateContent?key=AIza-q", body, false);
        assert_eq!(status, 200);

        for bad in [
            json!({"contents": []}),
            json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
            json!({"contents": [{"role": "user", "parts": []}]}),
            json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 9}}),
        ] {
            let (status, bytes, _) = post(&server, "models/m:generateContent", bad.to_string().into_bytes(), true);
            assert_eq!(status, 400, "{bad}");
            let err = error_from_response(status, &bytes);
            assert_eq!(err.kind(), Kind::BadRequest);
            assert_eq!(err.body().unwrap()["error"]["status"], "INVALID_ARGUMENT");
        }
        let (status, _, _) = post(&server, "models/m:streamGenerateContent", b"{}".to_vec(), true);
        assert_eq!(status, 400, "only alt=sse streams are served");
        let (status, _, _) = post(&server, "models/m:countTokens", b"{}".to_vec(), true);
        assert_eq!(status, 404);
    }

    #[test]
    fn streams_words_with_final_usage() {
        let server = server(MockConfig::default());
        let (chunks, err, cut) = stream(&server, &openai(user("one two three"), json!({"stream": true})));
        assert!(err.is_none() && !cut);
        assert_eq!(text_of(&chunks), "one two three");
        let content_chunks = chunks.iter().filter(|c| !c.choices.is_empty()).count();
        assert_eq!(content_chunks, 3, "one event per word");
        assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
        assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
        let usage = chunks.last().unwrap().usage.as_ref().expect("usage chunk");
        assert!(usage.completion_tokens > 0);
        assert!(server.requests()[0].query.as_deref() == Some("alt=sse"));

        let pieces = server_with_pieces(&["Hel", "lo", "!"]);
        let (chunks, _, _) = stream(&pieces, &openai(user("ignored"), json!({})));
        let got: Vec<String> = chunks
            .iter()
            .filter_map(|c| c.choices.first()?.delta.content.clone())
            .collect();
        assert_eq!(got, vec!["Hel", "lo", "!"]);
    }

    fn server_with_pieces(pieces: &[&str]) -> MockServer {
        server(MockConfig {
            stream_pieces: Some(pieces.iter().map(|p| (*p).to_owned()).collect()),
            ..MockConfig::default()
        })
    }

    #[test]
    fn function_call_round_trip() {
        let server = server(MockConfig::default());
        let tools = json!({"tools": [{"type": "function", "function": {"name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
        let first = chat(
            &server,
            &openai(user(r#"call:get_weather {"city":"Paris"}"#), tools.clone()),
        )
        .unwrap();
        let choice = &first.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        let call = &choice.message.tool_calls.as_ref().unwrap()[0];
        assert_eq!(call.function.name, "get_weather");
        assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);

        let history = json!([
            {"role": "user", "content": r#"call:get_weather {"city":"Paris"}"#},
            crate::types::ToJson::to_json(&choice.message),
            {"role": "tool", "tool_call_id": call.id, "content": "{\"temp\":21}"},
        ]);
        let second = chat(&server, &openai(history, tools.clone())).unwrap();
        assert_eq!(
            second.choices[0].message.content.as_deref(),
            Some(r#"get_weather returned {"temp":21}"#)
        );

        // Without declared tools the text is just echoed; streamed calls arrive whole.
        let plain = chat(&server, &openai(user("call:get_weather"), json!({}))).unwrap();
        assert_eq!(plain.choices[0].message.content.as_deref(), Some("call:get_weather"));
        let (chunks, err, _) = stream(&server, &openai(user("call:get_weather"), tools));
        assert!(err.is_none());
        let calls = chunks[0].choices[0].delta.tool_calls.as_ref().unwrap();
        assert_eq!(calls[0].function.as_ref().unwrap().arguments.as_deref(), Some("{}"));
        assert_eq!(chunks[0].choices[0].finish_reason.as_deref(), Some("tool_calls"));
    }

    #[test]
    fn blocked_prompts_are_content_policy() {
        let server = server(MockConfig::default());
        let err = chat(&server, &openai(user("blocked: how to"), json!({}))).unwrap_err();
        assert_eq!(err.kind(), Kind::ContentPolicy);
        let (chunks, err, _) = stream(&server, &openai(user("blocked: how to"), json!({})));
        assert!(chunks.is_empty());
        assert_eq!(err.unwrap().kind(), Kind::ContentPolicy);
    }

    #[test]
    fn faults_in_google_shape() {
        let server = server(MockConfig::default());
        server.push_faults(vec![
            Fault {
                retry_after: Some(2.0),
                ..Fault::with_status(429)
            },
            Fault::with_status(503),
            Fault {
                cut_after: Some(1),
                error_event: Some(json!("backend exploded")),
                ..Fault::default()
            },
            Fault {
                cut_after: Some(2),
                ..Fault::default()
            },
            Fault {
                reply: Some("scripted".to_owned()),
                ..Fault::default()
            },
            Fault {
                malformed: true,
                ..Fault::default()
            },
        ]);
        let body = openai(user("alpha beta gamma delta"), json!({}));
        let err = chat(&server, &body).unwrap_err();
        assert_eq!(err.kind(), Kind::RateLimited);
        assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(err.body().unwrap()["error"]["status"], "RESOURCE_EXHAUSTED");
        assert_eq!(chat(&server, &body).unwrap_err().kind(), Kind::ServiceUnavailable);

        let (chunks, err, _) = stream(&server, &body);
        assert_eq!(text_of(&chunks), "alpha");
        let err = err.expect("error event");
        assert_eq!(err.kind(), Kind::Server);
        assert_eq!(err.message(), "backend exploded");

        let (chunks, err, cut) = stream(&server, &body);
        assert!(err.is_none() && cut, "the connection is cut before a finishReason");
        assert_eq!(text_of(&chunks), "alpha beta");

        let r = chat(&server, &body).unwrap();
        assert_eq!(r.choices[0].message.content.as_deref(), Some("scripted"));
        let (chunks, err, _) = stream(&server, &body);
        assert_eq!(
            text_of(&chunks),
            "alpha",
            "the event before the broken one is delivered"
        );
        assert_eq!(err.expect("broken event").kind(), Kind::Streaming);
    }

    #[test]
    fn embeddings_both_shapes() {
        let server = server(MockConfig::default());
        let embed = |body: Value| {
            let body = match body {
                Value::Object(m) => m,
                _ => unreachable!(),
            };
            let (path, bytes) = embed_request(&body, "gemini-embedding-001").unwrap();
            let (status, answer, _) = post(&server, &path, bytes, true);
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
            embed_response(&answer, "gemini-embedding-001").unwrap()
        };
        let one = embed(json!({"input": "hello", "dimensions": 8}));
        assert_eq!(one.data.len(), 1);
        assert_eq!(one.data[0].embedding.0, super::vector("hello", 8));
        let many = embed(json!({"input": ["a", "hello", "c"], "dimensions": 8}));
        assert_eq!(many.data.len(), 3);
        assert_eq!(many.data[1].index, 1);
        assert_eq!(
            many.data[1].embedding.0, one.data[0].embedding.0,
            "same text, same vector"
        );
        assert_eq!(
            embed(json!({"input": "x"})).data[0].embedding.0.len(),
            super::DEFAULT_DIMENSIONS
        );

        let mismatched = json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "a"}]}}]});
        let (status, bytes, _) = post(
            &server,
            "models/gemini-embedding-001:batchEmbedContents",
            mismatched.to_string().into_bytes(),
            true,
        );
        assert_eq!(status, 400);
        assert_eq!(error_from_response(status, &bytes).kind(), Kind::BadRequest);
    }
}
