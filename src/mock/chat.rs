//! Chat-completions logic of the mock provider: request validation, the reply text, token
//! estimates and the OpenAI-shaped documents (whole responses and SSE chunk streams).

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Map, Value};

use super::faults::{error_body, error_event_object};
use super::logprobs;
use crate::tokens::{Counter, Encoding};

/// Reply used when there is nothing to echo.
pub(crate) const FALLBACK_REPLY: &str = "Hello! This is the liter_llm mock provider.";

/// `system_fingerprint` of every mock response.
const FINGERPRINT: &str = "fp_mock";

/// Largest `n` accepted, as OpenAI.
const MAX_N: u64 = 128;

/// A 400 answer: status plus an OpenAI error document.
#[derive(Debug)]
pub(crate) struct BadRequest {
    pub(crate) body: Value,
}

impl BadRequest {
    pub(crate) fn new(message: impl AsRef<str>, param: Option<&str>, code: Option<&str>) -> Self {
        BadRequest {
            body: error_body(message.as_ref(), "invalid_request_error", param, code),
        }
    }
}

/// The parts of a chat request the mock needs.
#[derive(Debug)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    pub(crate) stream: bool,
    pub(crate) include_usage: bool,
    pub(crate) n: usize,
    pub(crate) max_tokens: Option<u64>,
    pub(crate) prompt_tokens: u64,
    /// Text of the last user message, if any.
    pub(crate) last_user_text: Option<String>,
    /// `top_logprobs` when `logprobs: true` was asked for.
    pub(crate) logprobs: Option<usize>,
    /// The `response_format` object, if any.
    pub(crate) response_format: Option<Value>,
    /// Reasoning text, for reasoning models (see [`reasoning_for`]).
    pub(crate) reasoning: Option<&'static str>,
}

/// What a mock reasoning model (a name containing `reasoner` or `thinking`) thinks aloud.
pub(crate) fn reasoning_for(model: &str) -> Option<&'static str> {
    (model.contains("reasoner") || model.contains("thinking"))
        .then_some("The user wrote a message; the mock provider replies to it.")
}

/// Best-effort model name of a (possibly invalid) body, for error messages.
pub(crate) fn sniff_model(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value.get("model")?.as_str().map(str::to_owned)
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn invalid_type(param: &str, expected: &str, got: &Value) -> BadRequest {
    BadRequest::new(
        format!(
            "Invalid type for '{param}': expected {expected}, but got {} instead.",
            type_name(got)
        ),
        Some(param),
        Some("invalid_type"),
    )
}

pub(crate) fn optional_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid_type(key, "a boolean", other)),
    }
}

fn optional_count(obj: &Map<String, Value>, key: &str, max: u64) -> Result<Option<u64>, BadRequest> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64() {
            Some(v) if (1..=max).contains(&v) => Ok(Some(v)),
            Some(_) | None if value.is_number() => Err(BadRequest::new(
                format!("Invalid '{key}': integer must be between 1 and {max}, got {value}."),
                Some(key),
                Some("integer_out_of_range"),
            )),
            _ => Err(invalid_type(key, "an integer", value)),
        },
    }
}

/// Text of a message `content`: the string itself, or the `text` parts of a part list joined
/// with a space.
pub(crate) fn content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut out = String::new();
            for part in parts {
                let text = match part {
                    Value::String(s) => Some(s.as_str()),
                    Value::Object(p) => p.get("text").and_then(Value::as_str),
                    _ => None,
                };
                if let Some(text) = text {
                    if !out.is_empty() {
                        out.push(' ');
                    }
                    out.push_str(text);
                }
            }
            out
        }
        _ => String::new(),
    }
}

/// Deterministic token estimate: a quarter of the characters, rounded up.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4)
}

/// Validates an OpenAI chat request body.
pub(crate) fn parse_request(body: &[u8]) -> Result<ChatRequest, BadRequest> {
    let value: Value = serde_json::from_slice(body).map_err(|_| {
        BadRequest::new(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your \
             HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
            None,
            None,
        )
    })?;
    let Value::Object(obj) = value else {
        return Err(BadRequest::new(
            "Invalid request body: expected a JSON object.",
            None,
            None,
        ));
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => {
            return Err(BadRequest::new(
                "you must provide a model parameter",
                Some("model"),
                None,
            ));
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(BadRequest::new(
                "you must provide a model parameter",
                Some("model"),
                None,
            ));
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(invalid_type("model", "a string", other)),
    };
    let messages = match obj.get("messages") {
        None | Some(Value::Null) => {
            return Err(BadRequest::new(
                "Missing required parameter: 'messages'.",
                Some("messages"),
                Some("missing_required_parameter"),
            ));
        }
        Some(Value::Array(items)) => items,
        Some(other) => return Err(invalid_type("messages", "an array", other)),
    };
    if messages.is_empty() {
        return Err(BadRequest::new(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let mut last_user_text = None;
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(invalid_type(&format!("messages[{i}]"), "an object", message));
        };
        let role = match message.get("role") {
            Some(Value::String(role)) => role.as_str(),
            None | Some(Value::Null) => {
                return Err(BadRequest::new(
                    format!("Missing required parameter: 'messages[{i}].role'."),
                    Some(&format!("messages[{i}].role")),
                    Some("missing_required_parameter"),
                ));
            }
            Some(other) => return Err(invalid_type(&format!("messages[{i}].role"), "a string", other)),
        };
        if role == "user" {
            last_user_text = Some(content_text(message.get("content")));
        }
    }
    let stream = optional_bool(&obj, "stream")?.unwrap_or(false);
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(opts)) => optional_bool(opts, "include_usage")?.unwrap_or(false),
        Some(other) => return Err(invalid_type("stream_options", "an object", other)),
    };
    let n = optional_count(&obj, "n", MAX_N)?.unwrap_or(1) as usize;
    let max_tokens = optional_count(&obj, "max_tokens", u64::MAX)?;
    let max_completion = optional_count(&obj, "max_completion_tokens", u64::MAX)?;
    let max_tokens = match (max_tokens, max_completion) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let logprobs = logprobs::requested(&obj)?;
    let response_format = match obj.get("response_format") {
        None | Some(Value::Null) => None,
        Some(format @ Value::Object(_)) => Some(format.clone()),
        Some(other) => return Err(invalid_type("response_format", "an object", other)),
    };
    let prompt_tokens = Counter::for_model(&model).request(&obj).max(1);
    Ok(ChatRequest {
        reasoning: reasoning_for(&model),
        model,
        stream,
        include_usage,
        n,
        max_tokens,
        prompt_tokens,
        last_user_text,
        logprobs,
        response_format,
    })
}

/// The reply actually sent, after `max_tokens` truncation.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) text: String,
    pub(crate) finish_reason: &'static str,
    /// Completion tokens of one choice.
    pub(crate) tokens: u64,
}

/// Completion tokens of a reply text: o200k_base, as OpenAI's current models bill them.
fn reply_tokens(text: &str) -> u64 {
    Encoding::O200kBase.count(text)
}

/// Applies the `max_tokens` limit to `text`: a reply over the limit is cut to its longest
/// prefix of at most `limit` tokens ending at a word (or, when the first word is already too
/// long, at a character) and bills exactly `limit`, as a provider that stopped generating at
/// the limit does.
pub(crate) fn make_reply(text: String, max_tokens: Option<u64>) -> Reply {
    let tokens = reply_tokens(&text);
    match max_tokens {
        Some(limit) if tokens > limit => {
            let longest = |bounds: &[usize]| {
                let fits = bounds.partition_point(|&end| reply_tokens(&text[..end]) <= limit);
                fits.checked_sub(1).map(|i| bounds[i])
            };
            let words: Vec<usize> = text
                .char_indices()
                .filter(|&(i, c)| i > 0 && c.is_whitespace())
                .map(|(i, _)| i)
                .collect();
            let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
            let cut = longest(&words).or_else(|| longest(&chars)).unwrap_or(0);
            let mut text = text;
            text.truncate(cut);
            Reply {
                tokens: limit.max(1),
                text,
                finish_reason: "length",
            }
        }
        _ => Reply {
            tokens: tokens.max(1),
            text,
            finish_reason: "stop",
        },
    }
}

/// Identity shared by every document of one response.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub(crate) id: &'a str,
    pub(crate) created: u64,
    pub(crate) model: &'a str,
}

/// Usage of `n` choices, reasoning tokens included in the completion tokens.
fn usage_json(req: &ChatRequest, reply: &Reply) -> Value {
    let reasoning = req.reasoning.map_or(0, reply_tokens) * req.n as u64;
    let (prompt, completion) = (req.prompt_tokens, reply.tokens * req.n as u64 + reasoning);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

/// The whole `chat.completion` document.
pub(crate) fn completion_body(env: &Envelope<'_>, req: &ChatRequest, reply: &Reply) -> Vec<u8> {
    let logprobs = req
        .logprobs
        .map_or(Value::Null, |top| logprobs::choice(&reply.text, top, 0));
    let choices: Vec<Value> = (0..req.n)
        .map(|index| {
            let mut message = json!({"role": "assistant", "content": reply.text, "refusal": null, "annotations": []});
            if let Some(reasoning) = req.reasoning {
                message["reasoning_content"] = json!(reasoning);
            }
            json!({
                "index": index,
                "message": message,
                "logprobs": logprobs,
                "finish_reason": reply.finish_reason,
            })
        })
        .collect();
    let doc = json!({
        "id": env.id,
        "object": "chat.completion",
        "created": env.created,
        "model": env.model,
        "choices": choices,
        "usage": usage_json(req, reply),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}

/// Splits `text` into pieces that each start at a word, keeping whitespace attached to the
/// following word, so the pieces concatenate back to `text` exactly.
pub(crate) fn split_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut prev_space = true;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if space && !prev_space && i > start {
            pieces.push(&text[start..i]);
            start = i;
        }
        prev_space = space;
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

/// Splits `text` into exactly `parts` pieces of nearly equal character counts (trailing pieces
/// are empty when `text` has fewer characters than `parts`).
pub(crate) fn split_even(text: &str, parts: usize) -> Vec<&str> {
    let parts = parts.max(1);
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars = bounds.len() - 1;
    let (base, extra) = (chars / parts, chars % parts);
    let mut pieces = Vec::with_capacity(parts);
    let mut at = 0;
    for k in 0..parts {
        let len = base + usize::from(k < extra);
        pieces.push(&text[bounds[at]..bounds[at + len]]);
        at += len;
    }
    pieces
}

/// Splits `text` (a prefix of the concatenation of `given`) at the boundaries of `given`;
/// pieces past the end of `text` are dropped and the last one is shortened.
pub(crate) fn split_given<'a>(text: &'a str, given: &[String]) -> Vec<&'a str> {
    let mut pieces = Vec::with_capacity(given.len());
    let mut at = 0;
    for piece in given {
        if at >= text.len() && !piece.is_empty() {
            break;
        }
        let end = (at + piece.len()).min(text.len());
        match text.get(at..end) {
            Some(slice) => pieces.push(slice),
            None => break,
        }
        at = end;
    }
    pieces
}

/// How a stream ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEnd {
    /// Finish chunk, optional usage chunk, `[DONE]`.
    Complete,
    /// Stop after the content chunks and drop the connection.
    Cut,
    /// Send an `{"error": ...}` event and end the body cleanly, without `[DONE]`.
    Error(Value),
}

/// What to put in a stream.
#[derive(Debug)]
pub(crate) struct StreamPlan<'a> {
    pub(crate) pieces: Vec<&'a str>,
    /// Number of content pieces to send before the end (all when `None`).
    pub(crate) limit: Option<usize>,
    pub(crate) malformed: bool,
    pub(crate) end: StreamEnd,
}

/// Pre-serialised SSE events, concatenated in one buffer with the end offset of each event.
#[derive(Debug)]
pub(crate) struct Events {
    pub(crate) data: Bytes,
    pub(crate) ends: Vec<usize>,
}

struct EventWriter {
    buf: BytesMut,
    ends: Vec<usize>,
}

impl EventWriter {
    fn push(&mut self, parts: &[&[u8]]) {
        self.buf.put_slice(b"data: ");
        for part in parts {
            self.buf.put_slice(part);
        }
        self.buf.put_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }
}

/// Builds every SSE event of a streamed completion.
pub(crate) fn stream_events(env: &Envelope<'_>, req: &ChatRequest, reply: &Reply, plan: &StreamPlan<'_>) -> Events {
    let model = serde_json::to_string(env.model).unwrap_or_else(|_| "\"mock\"".to_owned());
    let mut prefix = String::with_capacity(160);
    let _ = write!(
        prefix,
        "{{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{model},\
         \"service_tier\":\"default\",\"system_fingerprint\":\"{FINGERPRINT}\",\"choices\":[",
        env.id, env.created
    );
    let suffix: &[u8] = if req.include_usage { b"],\"usage\":null}" } else { b"]}" };
    let sent = plan.limit.map_or(plan.pieces.len(), |l| l.min(plan.pieces.len()));
    let approx = (prefix.len() + 110) * req.n * (sent + 3) + reply.text.len() * req.n + 256;
    let mut w = EventWriter {
        buf: BytesMut::with_capacity(approx),
        ends: Vec::with_capacity(req.n * (sent + 3) + 2),
    };
    let p = prefix.as_bytes();
    let heads: Vec<Vec<u8>> = (0..req.n)
        .map(|i| format!("{{\"index\":{i},\"delta\":").into_bytes())
        .collect();

    for head in &heads {
        w.push(&[
            p,
            head,
            b"{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}",
            suffix,
        ]);
    }
    if plan.malformed {
        w.push(&[p, b"{\"index\":0,\"delta\":{\"content\":\"unterminated"]);
    }
    if let Some(reasoning) = req.reasoning {
        let delta = json!({ "reasoning_content": reasoning }).to_string();
        for head in &heads {
            w.push(&[
                p,
                head,
                delta.as_bytes(),
                b",\"logprobs\":null,\"finish_reason\":null}",
                suffix,
            ]);
        }
    }
    let mut position = 0;
    for piece in &plan.pieces[..sent] {
        let escaped = serde_json::to_string(piece).unwrap_or_default();
        let tail = match req.logprobs {
            None => Cow::Borrowed(&b"},\"logprobs\":null,\"finish_reason\":null}"[..]),
            Some(top) => {
                let (content, next) = logprobs::content(piece, top, position);
                position = next;
                let doc = json!({ "content": content, "refusal": null });
                Cow::Owned(format!("}},\"logprobs\":{doc},\"finish_reason\":null}}").into_bytes())
            }
        };
        for head in &heads {
            w.push(&[p, head, b"{\"content\":", escaped.as_bytes(), &tail, suffix]);
        }
    }
    match &plan.end {
        StreamEnd::Complete => {
            let finish = format!("{{}},\"logprobs\":null,\"finish_reason\":\"{}\"}}", reply.finish_reason);
            for head in &heads {
                w.push(&[p, head, finish.as_bytes(), suffix]);
            }
            if req.include_usage {
                let usage = usage_json(req, reply);
                let usage = serde_json::to_string(&usage).unwrap_or_default();
                w.push(&[p, b"],\"usage\":", usage.as_bytes(), b"}"]);
            }
            w.buf.put_slice(b"data: [DONE]\n\n");
            w.ends.push(w.buf.len());
        }
        StreamEnd::Cut => {}
        StreamEnd::Error(value) => {
            let doc = json!({ "error": error_event_object(value) });
            let doc = serde_json::to_string(&doc).unwrap_or_default();
            w.push(&[doc.as_bytes()]);
        }
    }
    Events {
        data: w.buf.freeze(),
        ends: w.ends,
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn words_keep_whitespace() {
        let text = "  Hello big\n world! ";
        let pieces = split_words(text);
        assert_eq!(pieces, vec!["  Hello", " big", "\n world!", " "]);
        assert_eq!(pieces.concat(), text);
        assert!(split_words("").is_empty());
    }

    #[test]
    fn even_split_is_exact() {
        let text = "héllo wörld";
        for parts in 1..20 {
            let pieces = split_even(text, parts);
            assert_eq!(pieces.len(), parts);
            assert_eq!(pieces.concat(), text);
        }
        assert_eq!(split_even("abcdefg", 3), vec!["abc", "de", "fg"]);
    }

    #[test]
    fn given_pieces_follow_truncation() {
        let given: Vec<String> = ["Hel", "lo, ", "wor", "ld"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(split_given("Hello, world", &given), vec!["Hel", "lo, ", "wor", "ld"]);
        assert_eq!(split_given("Hello", &given), vec!["Hel", "lo"]);
    }

    #[test]
    fn replies_over_max_tokens_are_cut_to_the_limit_on_a_char_boundary() {
        let text = "The quick brown fox jumps over the lazy dog, then naps in the sun.";
        let reply = make_reply(text.to_owned(), Some(4));
        assert_eq!(reply.text, "The quick brown fox");
        assert_eq!((reply.finish_reason, reply.tokens), ("length", 4));
        let reply = make_reply("日本語のテキストです".to_owned(), Some(2));
        assert!(reply_tokens(&reply.text) <= 2 && !reply.text.is_empty());
        assert_eq!(reply.tokens, 2);
        let reply = make_reply(text.to_owned(), None);
        assert_eq!((reply.finish_reason, reply.tokens), ("stop", reply_tokens(text)));
    }

    #[test]
    fn content_parts_are_joined() {
        let parts = json!([
            {"type": "text", "text": "a"},
            {"type": "image_url", "image_url": {}},
            {"type": "text", "text": "b"},
        ]);
        assert_eq!(content_text(Some(&parts)), "a b");
    }

    #[test]
    fn validation_errors() {
        assert!(parse_request(b"nope").is_err());
        assert!(parse_request(br#"{"messages":[{"role":"user","content":"x"}]}"#).is_err());
        assert!(parse_request(br#"{"model":"m"}"#).is_err());
        assert!(parse_request(br#"{"model":"m","messages":[]}"#).is_err());
        assert!(parse_request(br#"{"model":"m","messages":[{"role":"user"}],"n":0}"#).is_err());
        let ok = parse_request(br#"{"model":"m","messages":[{"role":"user","content":"abcde"}],"n":2}"#);
        let ok = ok.map_err(|e| e.body.to_string()).expect("valid request");
        // As tiktoken counts it for an unknown model: 3 per message + role + content + 3.
        let messages = json!([{"role":"user","content":"abcde"}]);
        assert_eq!(ok.prompt_tokens, crate::tokens::count_prompt_tokens("m", &messages));
        assert_eq!(ok.n, 2);
    }
}
