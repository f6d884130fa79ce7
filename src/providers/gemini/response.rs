//! Gemini `GenerateContentResponse` and error documents -> OpenAI-shaped results.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use crate::error::{Error, Kind, Result};
use crate::providers::choice_index;
use crate::retry::MAX_RETRY_AFTER_DELAY;
use crate::types::{ChatCompletionResponse, CompletionTokensDetails, PromptTokensDetails, Usage};

/// Finish reasons meaning the candidate was stopped by a safety or policy filter.
const POLICY_STOPS: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
];

/// Finish reasons that are an error when the candidate produced nothing.
const BLOCKING_STOPS: &[&str] = &["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY"];

/// Candidate keys copied into the choice's extras as they are.
const CANDIDATE_EXTRAS: &[&str] = &[
    "safetyRatings",
    "citationMetadata",
    "groundingMetadata",
    "urlContextMetadata",
    "finishMessage",
    "avgLogprobs",
];

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// A fresh id with `prefix`, unique within the process and unlikely to repeat across runs.
pub(crate) fn fresh_id(prefix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:012x}{n:x}", fastrand::u64(..) >> 16)
}

/// OpenAI finish reason of a Gemini `finishReason`; `called` says whether the candidate called
/// functions.
pub(crate) fn finish_reason(reason: &str, called: bool) -> &'static str {
    match reason {
        "MAX_TOKENS" => "length",
        r if POLICY_STOPS.contains(&r) => "content_filter",
        _ if called => "tool_calls",
        _ => "stop",
    }
}

/// Whether `reason` blocks a candidate that has produced nothing.
pub(crate) fn is_blocking(reason: &str) -> bool {
    BLOCKING_STOPS.contains(&reason)
}

fn count(meta: &Value, key: &str) -> u64 {
    meta.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// OpenAI usage of a Gemini `usageMetadata` (sums saturate).
pub(crate) fn usage(meta: &Value) -> Usage {
    let prompt = count(meta, "promptTokenCount").saturating_add(count(meta, "toolUsePromptTokenCount"));
    let thoughts = count(meta, "thoughtsTokenCount");
    let completion = count(meta, "candidatesTokenCount").saturating_add(thoughts);
    let total = match count(meta, "totalTokenCount") {
        0 => prompt.saturating_add(completion),
        t => t,
    };
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: total,
        prompt_tokens_details: Some(PromptTokensDetails {
            cached_tokens: Some(count(meta, "cachedContentTokenCount")),
            ..PromptTokensDetails::default()
        }),
        completion_tokens_details: Some(CompletionTokensDetails {
            reasoning_tokens: Some(thoughts),
            ..CompletionTokensDetails::default()
        }),
        extra: Map::new(),
    }
}

/// The error for a prompt blocked by `promptFeedback`, if it was.
pub(crate) fn prompt_blocked(doc: &Value) -> Option<Error> {
    let feedback = doc.get("promptFeedback")?;
    let reason = feedback.get("blockReason").and_then(Value::as_str)?;
    if reason.is_empty() {
        return None;
    }
    let detail = feedback
        .get("blockReasonMessage")
        .and_then(Value::as_str)
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    Some(Error::new(
        Kind::ContentPolicy,
        format!("Gemini blocked the prompt (blockReason {reason}){detail}"),
    ))
}

/// The error for a candidate stopped by a safety filter before producing anything.
pub(crate) fn candidate_blocked(reason: &str, candidate: &Value) -> Error {
    let categories: Vec<&str> = candidate
        .get("safetyRatings")
        .and_then(Value::as_array)
        .map(|ratings| {
            ratings
                .iter()
                .filter(|r| r.get("blocked").and_then(Value::as_bool) == Some(true))
                .filter_map(|r| r.get("category").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let detail = if categories.is_empty() {
        String::new()
    } else {
        format!(" ({})", categories.join(", "))
    };
    Error::new(
        Kind::ContentPolicy,
        format!("Gemini stopped the answer for safety reasons (finishReason {reason}){detail}"),
    )
}

/// What one candidate's parts amount to.
#[derive(Debug, Default)]
pub(crate) struct Parts {
    pub(crate) text: Option<String>,
    pub(crate) thoughts: Option<String>,
    /// `(id, name, arguments JSON, thought signature)` per function call.
    pub(crate) calls: Vec<(Option<String>, String, String, Option<String>)>,
}

pub(crate) fn read_parts(candidate: &Value) -> Parts {
    let mut out = Parts::default();
    let Some(parts) = candidate.pointer("/content/parts").and_then(Value::as_array) else {
        return out;
    };
    for part in parts {
        if let Some(call) = part.get("functionCall") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or("").to_owned();
            let args = call
                .get("args")
                .filter(|a| !a.is_null())
                .cloned()
                .unwrap_or_else(|| json!({}));
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let sig = part.get("thoughtSignature").and_then(Value::as_str).map(str::to_owned);
            out.calls.push((id, name, args.to_string(), sig));
        } else if let Some(text) = part.get("text").and_then(Value::as_str) {
            let slot = if part.get("thought").and_then(Value::as_bool) == Some(true) {
                &mut out.thoughts
            } else {
                &mut out.text
            };
            slot.get_or_insert_with(String::new).push_str(text);
        }
    }
    out
}

/// An OpenAI tool call (as JSON) of one Gemini function call.
pub(crate) fn tool_call_json(call: &(Option<String>, String, String, Option<String>)) -> Value {
    let (id, name, args, sig) = call;
    let mut value = json!({
        "id": id.clone().unwrap_or_else(|| fresh_id("call_")),
        "type": "function",
        "function": {"name": name, "arguments": args},
    });
    if let Some(sig) = sig {
        value["thought_signature"] = json!(sig);
    }
    value
}

fn serde_error(what: &str, e: &serde_json::Error) -> Error {
    Error::new(Kind::Serialization, format!("could not decode the Gemini {what}: {e}"))
}

/// Translates a `GenerateContentResponse` body into an OpenAI-shaped chat completion. `model`
/// fills `model` when the body has no `modelVersion`.
///
/// # Errors
/// `ContentPolicy` when the prompt was blocked (`promptFeedback.blockReason`) or every candidate
/// was stopped by a safety filter without producing anything; `Serialization` for a body that
/// is not a JSON object; the provider's error for an `{"error": ...}` document.
pub fn chat_response(body: &[u8], model: &str) -> Result<ChatCompletionResponse> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| serde_error("response", &e))?;
    if !doc.is_object() {
        return Err(Error::new(
            Kind::Serialization,
            "the Gemini response is not a JSON object",
        ));
    }
    if doc.get("error").is_some_and(|e| !e.is_null()) {
        return Err(error_from_value(doc, None));
    }
    let candidates = doc
        .get("candidates")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if candidates.is_empty() {
        if let Some(err) = prompt_blocked(&doc) {
            return Err(err);
        }
    }
    let mut choices = Vec::with_capacity(candidates.len());
    let mut blocked = None;
    let mut any_output = false;
    for (position, candidate) in candidates.iter().enumerate() {
        let parts = read_parts(candidate);
        let reason = candidate.get("finishReason").and_then(Value::as_str);
        let produced = parts.text.is_some() || !parts.calls.is_empty();
        any_output |= produced;
        if let Some(r) = reason.filter(|r| is_blocking(r) && !produced) {
            blocked.get_or_insert_with(|| candidate_blocked(r, candidate));
        }
        let mut message = json!({"role": "assistant", "content": parts.text});
        if let Some(thoughts) = &parts.thoughts {
            message["reasoning_content"] = json!(thoughts);
        }
        if !parts.calls.is_empty() {
            message["tool_calls"] = Value::Array(parts.calls.iter().map(tool_call_json).collect());
        }
        let mut choice = json!({
            "index": choice_index(candidate.get("index"), position, Kind::Serialization)?,
            "message": message,
            "finish_reason": reason.map(|r| finish_reason(r, !parts.calls.is_empty())),
            "logprobs": null,
        });
        if let Some(r) = reason {
            choice["native_finish_reason"] = json!(r);
        }
        for key in CANDIDATE_EXTRAS {
            if let Some(v) = candidate.get(*key) {
                choice[*key] = v.clone();
            }
        }
        choices.push(choice);
    }
    if let (Some(err), false) = (blocked, any_output) {
        return Err(err);
    }
    let model = doc
        .get("modelVersion")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .unwrap_or(model);
    let id = doc
        .get("responseId")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map_or_else(|| fresh_id("chatcmpl-"), str::to_owned);
    let mut out = json!({
        "id": id,
        "object": "chat.completion",
        "created": unix_now(),
        "model": model,
        "choices": choices,
    });
    if let Some(feedback) = doc.get("promptFeedback") {
        out["prompt_feedback"] = feedback.clone();
    }
    let mut response: ChatCompletionResponse = serde_json::from_value(out).map_err(|e| serde_error("response", &e))?;
    response.usage = doc.get("usageMetadata").map(usage);
    Ok(response)
}

/// Token-limit wording in Gemini's 400 messages.
fn is_token_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("exceeds the maximum number of tokens")
        || m.contains("input token count")
        || m.contains("token count exceeds")
        || m.contains("too many tokens")
        || m.contains("context window")
        || m.contains("context length")
}

/// `google.rpc.RetryInfo.retryDelay` (e.g. `"37s"`, `"1.5s"`) from an error's details, capped
/// at [`MAX_RETRY_AFTER_DELAY`]; a negative, non-finite or unreadable delay is none.
fn retry_delay(error: &Value) -> Option<Duration> {
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("RetryInfo"))
        })
        .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .and_then(parse_delay)
}

/// Seconds of a protobuf `Duration` string such as `"1.5s"`, at most [`MAX_RETRY_AFTER_DELAY`].
fn parse_delay(text: &str) -> Option<Duration> {
    let secs = text.trim().strip_suffix('s')?.parse::<f64>().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(secs.min(MAX_RETRY_AFTER_DELAY)).ok()
}

/// Kind refinement from Gemini's error `status` string and message.
fn refine(kind: Kind, error: &Value, message: &str) -> Kind {
    let status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let api_key_invalid = message.contains("API key not valid")
        || error.get("details").and_then(Value::as_array).is_some_and(|d| {
            d.iter()
                .any(|x| x.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        });
    match kind {
        Kind::BadRequest | Kind::ContentPolicy if api_key_invalid => Kind::Authentication,
        Kind::BadRequest | Kind::ContentPolicy if is_token_limit(message) => Kind::ContextWindowExceeded,
        Kind::BadRequest | Kind::Server => match status {
            "UNAUTHENTICATED" | "PERMISSION_DENIED" => Kind::Authentication,
            "RESOURCE_EXHAUSTED" => Kind::RateLimited,
            "NOT_FOUND" => Kind::NotFound,
            "UNAVAILABLE" | "DEADLINE_EXCEEDED" => Kind::ServiceUnavailable,
            _ => kind,
        },
        _ => kind,
    }
}

/// Error of an `{"error": {...}}` document, with `status` when it came as an HTTP answer.
pub(crate) fn error_from_value(doc: Value, status: Option<u16>) -> Error {
    let error = doc.get("error").cloned().unwrap_or(Value::Null);
    let err = match status {
        Some(s) => Error::from_response(s, &serde_json::to_vec(&doc).unwrap_or_default()),
        None => Error::from_stream_event(doc),
    };
    let kind = refine(err.kind(), &error, err.message());
    let retry = retry_delay(&error);
    let err = err.with_kind(kind);
    match retry {
        Some(after) => err.with_retry_after(Some(after)),
        None => err,
    }
}

/// Builds the error for a non-success Gemini answer from its status and raw body
/// (`{"error": {"code", "message", "status", "details"}}`, or that document inside a one-element
/// array as `streamGenerateContent` without `alt=sse` sends it).
///
/// The kind follows the HTTP status and Gemini's `status` string: 400 `INVALID_ARGUMENT` /
/// `FAILED_PRECONDITION` -> `BadRequest` (`ContextWindowExceeded` for token-limit messages,
/// `Authentication` for an invalid API key), 401 / 403 -> `Authentication`, 404 -> `NotFound`,
/// 429 `RESOURCE_EXHAUSTED` -> `RateLimited` (with the `RetryInfo` delay as `retry_after`), 500
/// -> `Server`, 503 `UNAVAILABLE` / 504 -> `ServiceUnavailable`. The message is Gemini's own;
/// the status and the parsed body are kept.
pub fn error_from_response(status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(mut items)) if items.len() == 1 && items[0].get("error").is_some() => {
            error_from_value(items.remove(0), Some(status))
        }
        Ok(doc @ Value::Object(_)) if doc.get("error").is_some_and(Value::is_object) => {
            let error = doc.get("error").cloned().unwrap_or(Value::Null);
            let err = Error::from_response(status, body);
            let kind = refine(err.kind(), &error, err.message());
            let retry = retry_delay(&error);
            let err = err.with_kind(kind);
            match retry {
                Some(after) => err.with_retry_after(Some(after)),
                None => err,
            }
        }
        _ => Error::from_response(status, body),
    }
}
