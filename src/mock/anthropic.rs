//! Mock Anthropic Messages API answers (`POST /v1/messages`).
//!
//! * The `x-api-key` header is required (any value; 401 `authentication_error` without it) and
//!   so is `anthropic-version` (400 `invalid_request_error` without it). These checks come first
//!   and consume no fault.
//! * The body must be an object with a `model`, a positive integer `max_tokens` and a non-empty
//!   `messages` list of `user`/`assistant` turns; OpenAI-only keys that Anthropic rejects (`n`,
//!   `stop`, `user`, `stream_options`, `response_format`, ...) are 400 "Extra inputs are not
//!   permitted", which catches a translation that leaks them.
//! * The reply echoes the text of the last user turn (its text blocks, or its tool results'
//!   content when it holds only tool results), or the fault's / configured reply, truncated to
//!   `max_tokens` (then `stop_reason` is `max_tokens`).
//! * Tool-call convention: when the request has `tools` and a line of the last user text starts
//!   with `call:`, e.g. `call:get_weather {"city":"Paris"}`, the answer is a single `tool_use` block
//!   for that tool with that input (`{}` when no JSON follows) and `stop_reason` `tool_use`. The
//!   tool must be among the request's tools and the input a JSON object, else the answer is a
//!   400. A fault's `reply` wins over the convention.
//! * `"stream": true` sends the real event sequence (`message_start`, `content_block_start`,
//!   `ping`, `content_block_delta`..., `content_block_stop`, `message_delta`, `message_stop`), one
//!   text delta per word (or per `stream_chunks` / `stream_pieces` piece), tool input as three
//!   `input_json_delta` fragments, `chunk_delay` apart.
//! * Faults behave as for chat: a status >= 400 without a body answers in Anthropic's error shape
//!   (529 is `overloaded_error`, 429 `rate_limit_error`, 500 `api_error`, ...); `cut_after` stops
//!   a stream after that many deltas and drops the connection; `error_event` sends
//!   `event: error` after `cut_after` (or 0) deltas and ends the body (a string becomes the
//!   message of an `api_error`, an object is the error object); `malformed` sends half a body,
//!   or one broken delta in a stream.

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::body::MockBody;
use super::chat;
use super::faults::Fault;
use super::reply::{estimate_tokens, make_reply, Reply};
use super::respond::{answer, json_response, plain, verbatim_body};
use super::split::{split_even, split_given, split_words};
use super::state::Shared;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const SSE: HeaderValue = HeaderValue::from_static("text/event-stream; charset=utf-8");

/// Keys of OpenAI's chat API that the Messages API rejects as extra inputs.
const OPENAI_ONLY: &[&str] = &[
    "n",
    "stop",
    "user",
    "seed",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "stream_options",
    "response_format",
    "frequency_penalty",
    "presence_penalty",
    "max_completion_tokens",
    "parallel_tool_calls",
    "reasoning_effort",
];

/// Number of `input_json_delta` fragments a streamed tool call is split into.
const TOOL_FRAGMENTS: usize = 3;

/// An Anthropic error document.
fn error_doc(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn error_response(status: StatusCode, kind: &str, message: &str) -> Response<MockBody> {
    json_response(status, &error_doc(kind, message))
}

fn bad_request(message: impl AsRef<str>) -> Value {
    error_doc("invalid_request_error", message.as_ref())
}

/// The error Anthropic sends for `status`.
fn default_error(status: u16, model: Option<&str>) -> Value {
    let model = model.unwrap_or("claude-mock");
    match status {
        401 => error_doc("authentication_error", "invalid x-api-key"),
        402 => error_doc(
            "billing_error",
            "Your credit balance is too low to access the Anthropic API.",
        ),
        403 => error_doc(
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
        ),
        404 => error_doc("not_found_error", &format!("model: {model}")),
        413 => error_doc(
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
        ),
        429 => error_doc(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute (mock fault).",
        ),
        504 => error_doc("timeout_error", "Request timed out."),
        529 => error_doc("overloaded_error", "Overloaded"),
        s if s >= 500 => error_doc("api_error", "Internal server error"),
        _ => error_doc("invalid_request_error", "Invalid request (mock fault)."),
    }
}

/// The error object of an in-stream `error` event.
fn event_error(value: &Value) -> Value {
    match value {
        Value::String(message) => json!({"type": "api_error", "message": message}),
        Value::Object(obj) if obj.get("error").is_some_and(Value::is_object) => obj["error"].clone(),
        other => other.clone(),
    }
}

/// Handles `POST /v1/messages`.
pub(crate) async fn messages(shared: &Shared, seq: u64, headers: &HeaderMap, body: &Bytes) -> Response<MockBody> {
    if headers.get("x-api-key").is_none_or(HeaderValue::is_empty) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        );
    }
    if headers.get("anthropic-version").is_none() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "anthropic-version: header is required",
        );
    }
    answer(shared, |fault| respond(shared, seq, body, fault)).await
}

/// The parts of a Messages API request the mock needs.
#[derive(Debug)]
struct MessagesRequest {
    model: String,
    max_tokens: u64,
    stream: bool,
    prompt_tokens: u64,
    last_user_text: Option<String>,
    tools: Vec<String>,
}

/// Text of a content value: the string, or its text blocks joined with a space (tool results
/// when `tool_results` is set).
fn blocks_text(content: Option<&Value>, tool_results: bool) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => {
            let mut out = String::new();
            for block in blocks {
                let piece = match block.get("type").and_then(Value::as_str) {
                    Some("text") if !tool_results => block.get("text").and_then(Value::as_str).map(str::to_owned),
                    Some("tool_result") if tool_results => Some(blocks_text(block.get("content"), false)),
                    _ => None,
                };
                if let Some(piece) = piece.filter(|p| !p.is_empty()) {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(&piece);
                }
            }
            out
        }
        _ => String::new(),
    }
}

fn parse_request(body: &[u8]) -> Result<MessagesRequest, Value> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| bad_request("There was an error parsing the body of your request: it is not valid JSON."))?;
    let Value::Object(obj) = value else {
        return Err(bad_request("The request body must be a JSON object."));
    };
    if let Some(key) = OPENAI_ONLY.iter().find(|k| obj.contains_key(**k)) {
        return Err(bad_request(format!("{key}: Extra inputs are not permitted")));
    }
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        None | Some(Value::Null) => return Err(bad_request("model: Field required")),
        Some(_) => return Err(bad_request("model: Input should be a valid string")),
    };
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) => return Err(bad_request("max_tokens: Field required")),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => return Err(bad_request("max_tokens: Input should be greater than or equal to 1")),
        },
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => return Err(bad_request("messages: at least one message is required")),
        None | Some(Value::Null) => return Err(bad_request("messages: Field required")),
        Some(_) => return Err(bad_request("messages: Input should be a valid list")),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad_request("stream: Input should be a valid boolean")),
    };
    let mut prompt_tokens = match obj.get("system") {
        None | Some(Value::Null) => 0,
        Some(system @ (Value::String(_) | Value::Array(_))) => estimate_tokens(&blocks_text(Some(system), false)),
        Some(_) => return Err(bad_request("system: Input should be a valid string or list")),
    };
    let mut last_user_text = None;
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        if !matches!(role, Some("user" | "assistant")) {
            return Err(bad_request(format!(
                "messages.{i}.role: Input should be 'user' or 'assistant'"
            )));
        }
        let content = message.get("content");
        if !matches!(content, Some(Value::String(_) | Value::Array(_))) {
            return Err(bad_request(format!("messages.{i}.content: Field required")));
        }
        let text = blocks_text(content, false);
        let results = blocks_text(content, true);
        prompt_tokens += estimate_tokens(&text) + estimate_tokens(&results) + 4;
        if role == Some("user") {
            last_user_text = Some(if text.is_empty() { results } else { text });
        }
    }
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(tools)) => {
            let mut names = Vec::with_capacity(tools.len());
            for (i, tool) in tools.iter().enumerate() {
                match tool.get("name").and_then(Value::as_str) {
                    Some(name) => names.push(name.to_owned()),
                    None => return Err(bad_request(format!("tools.{i}.name: Field required"))),
                }
            }
            names
        }
        Some(_) => return Err(bad_request("tools: Input should be a valid list")),
    };
    Ok(MessagesRequest {
        model,
        max_tokens,
        stream,
        prompt_tokens: prompt_tokens.max(1),
        last_user_text,
        tools,
    })
}

/// What the mock model answers.
#[derive(Debug)]
enum Answer {
    Text(Reply),
    Tool { name: String, input: String, tokens: u64 },
}

impl Answer {
    fn stop_reason(&self) -> &'static str {
        match self {
            Answer::Text(reply) if reply.finish_reason == "length" => "max_tokens",
            Answer::Text(_) => "end_turn",
            Answer::Tool { .. } => "tool_use",
        }
    }

    fn output_tokens(&self) -> u64 {
        match self {
            Answer::Text(reply) => reply.tokens,
            Answer::Tool { tokens, .. } => *tokens,
        }
    }
}

/// The `call:NAME {json}` convention (see [`super::tool_call`]), when the request has tools:
/// the first call asked for.
fn tool_call(req: &MessagesRequest) -> Result<Option<Answer>, Value> {
    if req.tools.is_empty() {
        return Ok(None);
    }
    let text = req.last_user_text.as_deref().unwrap_or("");
    let first = super::tool_call::calls(text, &req.tools)
        .map_err(bad_request)?
        .into_iter()
        .next();
    Ok(first.map(|call| {
        let input = call.arguments.to_string();
        Answer::Tool {
            name: call.name,
            tokens: estimate_tokens(&input).max(1) + 10,
            input,
        }
    }))
}

/// The scripted answer of a fault, if it scripts one (an error status, or a verbatim body).
fn scripted(body: &Bytes, fault: &Fault) -> Option<Response<MockBody>> {
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();
    if let Some(status) = status.filter(|s| s.as_u16() >= 400) {
        let (bytes, content_type) = match &fault.body {
            Some(verbatim) => verbatim_body(verbatim),
            None => {
                let doc = default_error(status.as_u16(), chat::sniff_model(body).as_deref());
                (Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()), JSON)
            }
        };
        return Some(plain(status, bytes, content_type, cut));
    }
    let (bytes, content_type) = verbatim_body(fault.body.as_ref()?);
    Some(plain(status.unwrap_or(StatusCode::OK), bytes, content_type, cut))
}

/// What the mock model answers a parsed request: a tool call by the convention, else the
/// reply text (a fault's reply wins over the convention).
fn answer_for(shared: &Shared, req: &MessagesRequest, fault: &Fault) -> Result<Answer, Value> {
    let tool = if fault.reply.is_some() { None } else { tool_call(req)? };
    Ok(tool.unwrap_or_else(|| {
        let text = shared.reply_text(fault, || req.last_user_text.clone().filter(|t| !t.is_empty()));
        Answer::Text(make_reply(text, Some(req.max_tokens)))
    }))
}

fn usage_doc(req: &MessagesRequest, answer: &Answer) -> Value {
    json!({
        "input_tokens": req.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": answer.output_tokens(),
    })
}

/// A whole (not streamed) message answering `req`.
fn message_doc(seq: u64, req: &MessagesRequest, answer: &Answer) -> Value {
    let block = match answer {
        Answer::Text(reply) => json!({"type": "text", "text": reply.text}),
        Answer::Tool { name, input, .. } => json!({
            "type": "tool_use",
            "id": format!("toolu_mock_{seq}"),
            "name": name,
            "input": serde_json::from_str::<Value>(input).unwrap_or_default(),
        }),
    };
    json!({
        "id": format!("msg_mock_{seq}"),
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": [block],
        "stop_reason": answer.stop_reason(),
        "stop_sequence": null,
        "usage": usage_doc(req, answer),
    })
}

/// The message answering one request of a message batch (its `params`), or the error
/// document refusing it (also for a last user message starting with `fail:`).
pub(crate) fn batch_message(shared: &Shared, seq: u64, params: &Value) -> Result<Value, Value> {
    let body = serde_json::to_vec(params).unwrap_or_default();
    let req = parse_request(&body)?;
    if req.stream {
        return Err(bad_request("stream: batch requests cannot stream"));
    }
    if let Some(text) = req
        .last_user_text
        .as_deref()
        .filter(|t| t.starts_with(super::store::FAIL))
    {
        return Err(bad_request(format!("mock failure requested: {text}")));
    }
    let answer = answer_for(shared, &req, &Fault::default())?;
    Ok(message_doc(seq, &req, &answer))
}

fn respond(shared: &Shared, seq: u64, body: &Bytes, fault: &Fault) -> Response<MockBody> {
    if let Some(resp) = scripted(body, fault) {
        return resp;
    }
    let req = match parse_request(body) {
        Ok(req) => req,
        Err(doc) => return json_response(StatusCode::BAD_REQUEST, &doc),
    };
    let answer = match answer_for(shared, &req, fault) {
        Ok(answer) => answer,
        Err(doc) => return json_response(StatusCode::BAD_REQUEST, &doc),
    };
    let status = fault
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    if !req.stream {
        let mut bytes = serde_json::to_vec(&message_doc(seq, &req, &answer)).unwrap_or_default();
        if fault.malformed {
            bytes.truncate(bytes.len() / 2);
        }
        return plain(status, Bytes::from(bytes), JSON, fault.cut_after.is_some());
    }
    let id = format!("msg_mock_{seq}");
    let usage = usage_doc(&req, &answer);

    let pieces: Vec<&str> = match &answer {
        Answer::Text(reply) => match (shared.stream_pieces(fault), shared.behaviour.stream_chunks) {
            (Some(given), _) => split_given(&reply.text, given),
            (None, Some(parts)) => split_even(&reply.text, parts),
            (None, None) => split_words(&reply.text),
        },
        Answer::Tool { input, .. } => split_even(input, TOOL_FRAGMENTS)
            .into_iter()
            .filter(|p| !p.is_empty())
            .collect(),
    };
    let mut w = Writer::default();
    let mut start_usage = usage.clone();
    start_usage["output_tokens"] = json!(1);
    w.event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": id, "type": "message", "role": "assistant", "model": req.model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": start_usage,
        }}),
    );
    let (block, delta_type, delta_key) = match &answer {
        Answer::Text(_) => (json!({"type": "text", "text": ""}), "text_delta", "text"),
        Answer::Tool { name, .. } => (
            json!({"type": "tool_use", "id": format!("toolu_mock_{seq}"), "name": name, "input": {}}),
            "input_json_delta",
            "partial_json",
        ),
    };
    w.event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": block}),
    );
    w.event("ping", &json!({"type": "ping"}));
    if fault.malformed {
        w.raw(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"unterminated\n\n");
    }
    let limit = if fault.error_event.is_some() || fault.cut_after.is_some() {
        fault.cut_after.unwrap_or(0).min(pieces.len())
    } else {
        pieces.len()
    };
    for piece in &pieces[..limit] {
        w.event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": delta_type, delta_key: piece}}),
        );
    }
    let cut = match &fault.error_event {
        Some(error) => {
            w.event("error", &json!({"type": "error", "error": event_error(error)}));
            false
        }
        None if fault.cut_after.is_some() => true,
        None => {
            w.event("content_block_stop", &json!({"type": "content_block_stop", "index": 0}));
            w.event(
                "message_delta",
                &json!({"type": "message_delta",
                    "delta": {"stop_reason": answer.stop_reason(), "stop_sequence": null},
                    "usage": {"output_tokens": answer.output_tokens()}}),
            );
            w.event("message_stop", &json!({"type": "message_stop"}));
            false
        }
    };
    let mut resp = Response::new(MockBody::events(
        w.buf.freeze(),
        w.ends,
        shared.behaviour.chunk_delay,
        cut,
    ));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, SSE);
    headers.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// Serialised SSE events with the end offset of each.
#[derive(Default)]
struct Writer {
    buf: BytesMut,
    ends: Vec<usize>,
}

impl Writer {
    fn event(&mut self, name: &str, data: &Value) {
        self.buf.put_slice(b"event: ");
        self.buf.put_slice(name.as_bytes());
        self.buf.put_slice(b"\ndata: ");
        self.buf.put_slice(&serde_json::to_vec(data).unwrap_or_default());
        self.buf.put_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    fn raw(&mut self, bytes: &[u8]) {
        self.buf.put_slice(bytes);
        self.ends.push(self.buf.len());
    }
}

#[cfg(test)]
mod tests;
