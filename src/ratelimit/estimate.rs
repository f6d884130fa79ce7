//! Token estimates made before sending, and the provider's actual usage found after.
//!
//! [`estimate_tokens`] is the one place that decides how many tokens a request reserves against
//! a tokens-per-minute limit. The prompt is counted by [`crate::tokens::Counter`]: exactly
//! (o200k/cl100k, as tiktoken counts it, with OpenAI's per-message framing and tool
//! definitions) for OpenAI-family models, and a calibrated estimate for the others. The
//! completion budget is added on top: `max_completion_tokens` / `max_tokens` (the smaller if
//! both, else [`DEFAULT_COMPLETION_TOKENS`]) times `n`. Embedding bodies cost their inputs' tokens
//! (one per given token id). A body that cannot be read costs `ceil(bytes / 4)` plus the default
//! completion budget.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::tokens::Counter;

/// Completion tokens reserved for a chat request that sets neither `max_tokens` nor
/// `max_completion_tokens`.
pub const DEFAULT_COMPLETION_TOKENS: u64 = 256;

fn unreadable(body: &[u8]) -> u64 {
    (body.len() as u64)
        .div_ceil(4)
        .saturating_add(DEFAULT_COMPLETION_TOKENS)
}

/// The members of a request body an estimate reads; the others are skipped, not kept. A member
/// that is present is `Some`, even when it is `null`. The messages stay text, counted from it.
#[derive(Deserialize)]
struct Members<'a> {
    #[serde(borrow, default, deserialize_with = "present_raw")]
    messages: Option<&'a RawValue>,
    #[serde(default, deserialize_with = "present")]
    input: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    tools: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    functions: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    max_tokens: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    max_completion_tokens: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    n: Option<Value>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

fn present_raw<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

fn count(value: Option<&Value>) -> Option<u64> {
    value.and_then(Value::as_u64)
}

/// Tokens of an embeddings `input`: strings are counted, token ids are one each.
fn input_tokens(counter: &Counter, input: &Value) -> u64 {
    match input {
        Value::String(s) => counter.text(s),
        Value::Number(_) => 1,
        Value::Array(items) => items.iter().map(|i| input_tokens(counter, i)).sum(),
        _ => 0,
    }
}

/// Tokens a serialised request body (chat completions or embeddings) reserves for `model`.
///
/// Always at least 1.
pub fn estimate_tokens(body: &[u8], model: &str) -> u64 {
    estimate_split(body, model).0
}

/// [`estimate_tokens`], and the part of it that is the completion budget (0 for embeddings).
pub fn estimate_split(body: &[u8], model: &str) -> (u64, u64) {
    // Only an object is a body (a derived struct would also take an array, member by position);
    // a duplicated member is an error too.
    let object = body.trim_ascii_start().first() == Some(&b'{');
    let Some(body_of) = object.then(|| serde_json::from_slice::<Members>(body).ok()).flatten() else {
        return (unreadable(body), DEFAULT_COMPLETION_TOKENS);
    };
    let counter = Counter::for_model(model);
    let (total, completion) = if body_of.messages.is_some() {
        let completion = match (
            count(body_of.max_tokens.as_ref()),
            count(body_of.max_completion_tokens.as_ref()),
        ) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(DEFAULT_COMPLETION_TOKENS),
        };
        let n = count(body_of.n.as_ref()).unwrap_or(1).max(1);
        let completion = completion.saturating_mul(n);
        let tools = [body_of.tools.as_ref(), body_of.functions.as_ref()];
        let prompt = counter.prompt_raw(body_of.messages, tools);
        (prompt.saturating_add(completion), completion)
    } else if let Some(input) = &body_of.input {
        (input_tokens(&counter, input), 0)
    } else {
        (unreadable(body), DEFAULT_COMPLETION_TOKENS)
    };
    (total.max(1), completion.min(total.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{count_prompt_tokens, count_text_tokens};

    #[test]
    fn chat_prompts_of_openai_models_are_counted_exactly_plus_the_completion_budget() {
        let body = br#"{"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hello world"}],"max_tokens":10}"#;
        let messages =
            serde_json::json!([{"role":"system","content":"Be brief."},{"role":"user","content":"hello world"}]);
        // tiktoken: 3 per message + role + content, plus 3 for the reply priming.
        assert_eq!(count_prompt_tokens("gpt-4o", &messages), 3 + 1 + 3 + 3 + 1 + 2 + 3);
        assert_eq!(estimate_tokens(body, "gpt-4o"), 16 + 10);
    }

    #[test]
    fn other_models_get_the_calibrated_estimate() {
        let body = br#"{"messages":[{"role":"user","content":"hello world, how are you today?"}],"max_tokens":1}"#;
        let messages = serde_json::json!([{"role":"user","content":"hello world, how are you today?"}]);
        let claude = estimate_tokens(body, "claude-sonnet-4-5");
        assert_eq!(claude, count_prompt_tokens("claude-sonnet-4-5", &messages) + 1);
        assert!(claude > estimate_tokens(body, "gpt-4o"));
    }

    #[test]
    fn completion_budget_defaults_and_takes_the_smaller_limit_times_n() {
        let prompt = estimate_tokens(
            br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#,
            "gpt-4o",
        );
        let body = br#"{"messages":[{"role":"user","content":"x"}]}"#;
        assert_eq!(estimate_tokens(body, "gpt-4o"), prompt + DEFAULT_COMPLETION_TOKENS);
        let body = br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":50,"max_completion_tokens":20,"n":3}"#;
        assert_eq!(estimate_tokens(body, "gpt-4o"), prompt + 60);
        let body = br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":null}"#;
        assert_eq!(estimate_tokens(body, "gpt-4o"), prompt + DEFAULT_COMPLETION_TOKENS);
    }

    #[test]
    fn only_an_object_is_read_and_a_null_member_is_still_present() {
        let odd = br#"[{"role":"user","content":"hello"}]"#;
        assert_eq!(
            estimate_split(odd, "gpt-4o"),
            (unreadable(odd), DEFAULT_COMPLETION_TOKENS)
        );
        let twice = br#"{"messages":[],"messages":[]}"#;
        assert_eq!(
            estimate_split(twice, "gpt-4o"),
            (unreadable(twice), DEFAULT_COMPLETION_TOKENS)
        );
        // `messages: null` is a chat body with nothing in it: just the completion budget.
        let empty = br#"{"messages":null,"max_tokens":7,"temperature":0.2,"model":"x"}"#;
        assert_eq!(estimate_split(empty, "gpt-4o"), (7, 7));
    }

    #[test]
    fn tool_definitions_count_towards_the_prompt() {
        let plain = br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":1}"#;
        let tools = br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":1,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}"#;
        assert!(estimate_tokens(tools, "gpt-4o") > estimate_tokens(plain, "gpt-4o") + 5);
    }

    #[test]
    fn embedding_inputs_are_counted() {
        let one = count_text_tokens("text-embedding-3-small", "the quick brown fox");
        assert_eq!(
            estimate_tokens(br#"{"input":"the quick brown fox"}"#, "text-embedding-3-small"),
            one
        );
        assert_eq!(
            estimate_tokens(
                br#"{"input":["the quick brown fox","the quick brown fox"]}"#,
                "text-embedding-3-small"
            ),
            2 * one
        );
        assert_eq!(
            estimate_tokens(br#"{"input":[[1,2,3],[4]]}"#, "text-embedding-3-small"),
            4
        );
    }

    #[test]
    fn unreadable_bodies_fall_back_to_bytes() {
        assert_eq!(estimate_tokens(b"not json!", "m"), 3 + DEFAULT_COMPLETION_TOKENS);
        assert_eq!(estimate_tokens(b"{}", "m"), 1 + DEFAULT_COMPLETION_TOKENS);
    }
}
