//! Chat completion -> Messages API `message` (the rules are listed on the parent module).

use serde_json::{json, Map, Value};

use crate::types::{ChatCompletionResponse, Usage};

/// A message id: the upstream's id with Anthropic's `msg_` prefix (a fresh one when it is empty).
pub(super) fn message_id(upstream: &str) -> String {
    if upstream.starts_with("msg_") {
        upstream.to_owned()
    } else if upstream.is_empty() {
        format!("msg_{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..))
    } else {
        format!("msg_{upstream}")
    }
}

/// A tool-use id for a call the upstream sent without one.
pub(super) fn tool_use_id() -> String {
    format!("toolu_{:016x}{:08x}", fastrand::u64(..), fastrand::u32(..))
}

/// Anthropic's `stop_reason` for a `finish_reason`; `tools` says whether the answer calls tools.
pub(super) fn stop_reason(finish_reason: Option<&str>, tools: bool) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        _ if tools => "tool_use",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Token counts in Anthropic's terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Tokens {
    /// Prompt tokens not read from (nor written to) the cache.
    pub(super) input: u64,
    /// Completion tokens.
    pub(super) output: u64,
    /// Prompt tokens read from the cache, when reported.
    pub(super) cache_read: Option<u64>,
    /// Prompt tokens written to the cache, when reported.
    pub(super) cache_write: Option<u64>,
}

impl Tokens {
    /// The counts of a chat-completions usage.
    pub(super) fn of(usage: &Usage) -> Self {
        let details = usage.prompt_tokens_details.as_ref();
        let cache_read = details.and_then(|d| d.cached_tokens);
        let cache_write = details
            .and_then(|d| d.extra.get("cache_creation_tokens"))
            .and_then(Value::as_u64);
        Tokens {
            input: usage
                .prompt_tokens
                .saturating_sub(cache_read.unwrap_or(0))
                .saturating_sub(cache_write.unwrap_or(0)),
            output: usage.completion_tokens,
            cache_read,
            cache_write,
        }
    }

    /// Anthropic's `usage` object.
    pub(super) fn to_json(self) -> Value {
        let mut usage = Map::with_capacity(4);
        usage.insert("input_tokens".to_owned(), Value::from(self.input));
        usage.insert("output_tokens".to_owned(), Value::from(self.output));
        if let Some(n) = self.cache_read {
            usage.insert("cache_read_input_tokens".to_owned(), Value::from(n));
        }
        if let Some(n) = self.cache_write {
            usage.insert("cache_creation_input_tokens".to_owned(), Value::from(n));
        }
        Value::Object(usage)
    }
}

/// The tool input an arguments string encodes: the object, else `{}`.
fn tool_input(arguments: &str) -> Value {
    match serde_json::from_str::<Value>(arguments) {
        Ok(input @ Value::Object(_)) => input,
        _ => json!({}),
    }
}

/// A chat completion as a Messages API `message` (its first choice; `model` when the answer
/// names none).
pub(super) fn message_of(answer: &ChatCompletionResponse, model: &str) -> Value {
    let choice = answer.choices.first();
    let mut content = Vec::new();
    let mut tools = false;
    if let Some(message) = choice.map(|c| &c.message) {
        match (message.extra.get("thinking_blocks"), &message.reasoning_content) {
            (Some(Value::Array(blocks)), _) if !blocks.is_empty() => content.extend(blocks.iter().cloned()),
            (_, Some(text)) if !text.is_empty() => {
                content.push(json!({"type": "thinking", "thinking": text, "signature": ""}));
            }
            _ => {}
        }
        for text in [&message.content, &message.refusal].into_iter().flatten() {
            if !text.is_empty() {
                content.push(json!({"type": "text", "text": text}));
            }
        }
        for call in message.tool_calls.iter().flatten() {
            tools = true;
            let id = if call.id.is_empty() {
                tool_use_id()
            } else {
                call.id.clone()
            };
            content.push(json!({
                "type": "tool_use",
                "id": id,
                "name": call.function.name,
                "input": tool_input(&call.function.arguments),
            }));
        }
    }
    let finish = choice.and_then(|c| c.finish_reason.as_deref());
    let sequence = choice
        .and_then(|c| c.extra.get("stop_sequence"))
        .and_then(Value::as_str)
        .filter(|_| finish == Some("stop") && !tools);
    let stop = if sequence.is_some() {
        "stop_sequence"
    } else {
        stop_reason(finish, tools)
    };
    let usage = answer.usage.as_ref().map(Tokens::of).unwrap_or_default();
    json!({
        "id": message_id(&answer.id),
        "type": "message",
        "role": "assistant",
        "model": if answer.model.is_empty() { model } else { &answer.model },
        "content": content,
        "stop_reason": stop,
        "stop_sequence": sequence,
        "usage": usage.to_json(),
    })
}
