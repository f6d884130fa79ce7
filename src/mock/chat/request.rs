//! Validation of an OpenAI chat-completions request body: the fields the mock needs
//! ([`ChatRequest`]), OpenAI-shaped 400 documents for bad ones ([`BadRequest`]), and the helpers
//! other endpoints share (typed optional fields, message content text, the model of a bad body).

use serde_json::{Map, Value};

use crate::mock::faults::error_body;
use crate::mock::logprobs;
use crate::tokens::Counter;

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
    /// The contents of the `tool` messages that end the conversation, one per line, if it
    /// ends with tool results.
    pub(crate) tool_results: Option<String>,
    /// The names of the request's function tools.
    pub(crate) tools: Vec<String>,
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

/// The function names of a request's `tools`.
fn tool_names(obj: &serde_json::Map<String, Value>) -> Result<Vec<String>, BadRequest> {
    let tools = match obj.get("tools") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(tools)) => tools,
        Some(other) => return Err(invalid_type("tools", "an array", other)),
    };
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            tool.pointer("/function/name")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    BadRequest::new(
                        format!("Missing required parameter: 'tools[{i}].function.name'."),
                        Some(&format!("tools[{i}].function.name")),
                        Some("missing_required_parameter"),
                    )
                })
        })
        .collect()
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
    let mut tool_results: Option<String> = None;
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
        if role == "tool" {
            let text = content_text(message.get("content"));
            tool_results = Some(match tool_results.take() {
                Some(before) => before + "\n" + &text,
                None => text,
            });
        } else {
            tool_results = None;
        }
    }
    let tools = tool_names(&obj)?;
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
        tool_results,
        tools,
        logprobs,
        response_format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
