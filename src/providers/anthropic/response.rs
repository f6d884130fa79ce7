//! Messages API answer -> OpenAI-shaped chat completion.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::error_from_event;
use crate::error::{Error, Kind, Result};
use crate::types::{
    AssistantMessage, ChatCompletionResponse, Choice, FunctionCall, PromptTokensDetails, ToolCall, Usage,
};

/// Seconds since the Unix epoch (Anthropic answers carry no timestamp).
pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// OpenAI `finish_reason` for an Anthropic `stop_reason`.
pub(super) fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" | "pause_turn" => "stop",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        other => other,
    }
    .to_owned()
}

/// Anthropic's token counts, as they accumulate over a stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tokens {
    pub(super) input: u64,
    pub(super) cache_read: u64,
    pub(super) cache_write: u64,
    pub(super) output: u64,
}

impl Tokens {
    /// Overwrites the counts present in an Anthropic `usage` object.
    pub(super) fn update(&mut self, usage: &Value) {
        let read = |key: &str| usage.get(key).and_then(Value::as_u64);
        if let Some(n) = read("input_tokens") {
            self.input = n;
        }
        if let Some(n) = read("cache_read_input_tokens") {
            self.cache_read = n;
        }
        if let Some(n) = read("cache_creation_input_tokens") {
            self.cache_write = n;
        }
        if let Some(n) = read("output_tokens") {
            self.output = n;
        }
    }

    /// The OpenAI-shaped usage: cached and cache-written tokens count as prompt tokens (sums
    /// saturate).
    pub(super) fn usage(&self) -> Usage {
        let prompt = self
            .input
            .saturating_add(self.cache_read)
            .saturating_add(self.cache_write);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: self.output,
            total_tokens: prompt.saturating_add(self.output),
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: Some(self.cache_read),
                extra: Map::from_iter([("cache_creation_tokens".to_owned(), json!(self.cache_write))]),
                ..PromptTokensDetails::default()
            }),
            ..Usage::default()
        }
    }
}

fn malformed(why: impl std::fmt::Display) -> Error {
    Error::new(
        Kind::Serialization,
        format!("the response is not a valid Anthropic message: {why}"),
    )
}

/// Translates a Messages API answer into an OpenAI-shaped chat completion.
///
/// # Errors
/// `Serialization` when the body is not a Messages API message; the mapped provider error
/// when the body is an Anthropic error document.
pub fn chat_response(body: &[u8]) -> Result<ChatCompletionResponse> {
    let value: Value = serde_json::from_slice(body).map_err(malformed)?;
    let Value::Object(message) = value else {
        return Err(malformed("expected a JSON object"));
    };
    if message.get("type").and_then(Value::as_str) == Some("error") {
        return Err(error_from_event(Value::Object(message)));
    }
    let blocks = match message.get("content") {
        Some(Value::Array(blocks)) => blocks.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => return Err(malformed("content is not a list")),
    };
    let mut text: Option<String> = None;
    let mut reasoning: Option<String> = None;
    let mut thinking_blocks = Vec::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let piece = block.get("text").and_then(Value::as_str).unwrap_or("");
                text.get_or_insert_with(String::new).push_str(piece);
            }
            Some("thinking") => {
                let piece = block.get("thinking").and_then(Value::as_str).unwrap_or("");
                reasoning.get_or_insert_with(String::new).push_str(piece);
                thinking_blocks.push(block.clone());
            }
            Some("redacted_thinking") => thinking_blocks.push(block.clone()),
            Some("tool_use") => {
                let id = block.get("id").and_then(Value::as_str).unwrap_or("");
                let name = block
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| malformed("a tool_use block has no name"))?;
                let input = block.get("input").cloned().unwrap_or_else(|| json!({}));
                tool_calls.push(ToolCall {
                    id: id.to_owned(),
                    r#type: "function".to_owned(),
                    function: FunctionCall {
                        name: name.to_owned(),
                        arguments: input.to_string(),
                        ..FunctionCall::default()
                    },
                    ..ToolCall::default()
                });
            }
            // Server tool blocks, citations and future block types carry nothing OpenAI-shaped.
            _ => {}
        }
    }
    let content = match text {
        Some(text) => Some(text),
        None if tool_calls.is_empty() => Some(String::new()),
        None => None,
    };
    let mut extra = Map::new();
    if !thinking_blocks.is_empty() {
        extra.insert("thinking_blocks".to_owned(), Value::Array(thinking_blocks));
    }
    let assistant = AssistantMessage {
        role: "assistant".to_owned(),
        content,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        refusal: None,
        reasoning_content: reasoning,
        extra,
        ..AssistantMessage::default()
    };
    let finish = message.get("stop_reason").and_then(Value::as_str).map(finish_reason);
    let usage = message.get("usage").filter(|u| u.is_object()).map(|u| {
        let mut tokens = Tokens::default();
        tokens.update(u);
        tokens.usage()
    });
    let mut choice_extra = Map::new();
    if let Some(sequence) = message.get("stop_sequence").filter(|s| !s.is_null()) {
        choice_extra.insert("stop_sequence".to_owned(), sequence.clone());
    }
    let text_field = |key: &str| message.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    Ok(ChatCompletionResponse {
        id: text_field("id"),
        object: "chat.completion".to_owned(),
        created: unix_now(),
        model: text_field("model"),
        choices: vec![Choice {
            index: 0,
            message: assistant,
            finish_reason: finish,
            logprobs: None,
            extra: choice_extra,
        }],
        usage,
        ..ChatCompletionResponse::default()
    })
}
