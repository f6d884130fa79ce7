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
//!
//! [`total_tokens_in`] and [`UsageScanner`] find `"total_tokens": N` in a response body or in a
//! stream's bytes without parsing the JSON, so reconciling costs one byte scan.

use serde_json::{Map, Value};

use crate::tokens::Counter;

/// Completion tokens reserved for a chat request that sets neither `max_tokens` nor
/// `max_completion_tokens`.
pub const DEFAULT_COMPLETION_TOKENS: u64 = 256;

fn unreadable(body: &[u8]) -> u64 {
    (body.len() as u64)
        .div_ceil(4)
        .saturating_add(DEFAULT_COMPLETION_TOKENS)
}

fn count(body: &Map<String, Value>, key: &str) -> Option<u64> {
    body.get(key).and_then(Value::as_u64)
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
    let Ok(map) = serde_json::from_slice::<Map<String, Value>>(body) else {
        return unreadable(body);
    };
    let counter = Counter::for_model(model);
    let total = if map.contains_key("messages") {
        let completion = match (count(&map, "max_tokens"), count(&map, "max_completion_tokens")) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(DEFAULT_COMPLETION_TOKENS),
        };
        let n = count(&map, "n").unwrap_or(1).max(1);
        counter.request(&map).saturating_add(completion.saturating_mul(n))
    } else if let Some(input) = map.get("input") {
        input_tokens(&counter, input)
    } else {
        unreadable(body)
    };
    total.max(1)
}

/// The key the scanners look for.
const TOTAL_KEY: &[u8] = b"\"total_tokens\"";

/// Parses `: N` after a key that ends at `at`; `None` unless the number is complete in `buf`.
fn number_after(buf: &[u8], mut at: usize) -> Option<u64> {
    while buf.get(at).is_some_and(|b| *b == b' ') {
        at += 1;
    }
    if buf.get(at) != Some(&b':') {
        return None;
    }
    at += 1;
    while buf.get(at).is_some_and(|b| *b == b' ') {
        at += 1;
    }
    let start = at;
    let mut value = 0u64;
    while let Some(&b) = buf.get(at) {
        if !b.is_ascii_digit() {
            break;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        at += 1;
    }
    // Digits that run to the end of the buffer may continue in the next chunk.
    (at > start && at < buf.len()).then_some(value)
}

/// Every complete `"total_tokens": N` in `buf`, in order (keys inside JSON strings are escaped,
/// so they never match).
fn scan(buf: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let mut from = 0;
    std::iter::from_fn(move || {
        while from + TOTAL_KEY.len() <= buf.len() {
            let rel = buf[from..].iter().position(|b| *b == b'"')?;
            let at = from + rel;
            from = at + 1;
            if buf.len() - at >= TOTAL_KEY.len()
                && &buf[at..at + TOTAL_KEY.len()] == TOTAL_KEY
                && (at == 0 || buf[at - 1] != b'\\')
            {
                if let Some(v) = number_after(buf, at + TOTAL_KEY.len()) {
                    from = at + TOTAL_KEY.len();
                    return Some(v);
                }
            }
        }
        None
    })
}

/// The last `"total_tokens": N` in a whole response body (the provider's `usage.total_tokens`).
pub fn total_tokens_in(body: &[u8]) -> Option<u64> {
    // A trailing number needs a terminator; a bare `}` always follows in JSON.
    scan(body).last()
}

/// Finds the usage of a streamed response in its raw bytes, across chunk boundaries.
#[derive(Debug, Default)]
pub struct UsageScanner {
    carry: Vec<u8>,
    scratch: Vec<u8>,
    total: Option<u64>,
}

/// Bytes kept from the end of one chunk so a key split across chunks is still found.
const CARRY: usize = 48;

impl UsageScanner {
    /// Feeds the next bytes of the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.carry);
        self.scratch.extend_from_slice(chunk);
        if let Some(v) = scan(&self.scratch).last() {
            self.total = Some(v);
        }
        let keep = self.scratch.len().min(CARRY);
        self.carry.clear();
        self.carry.extend_from_slice(&self.scratch[self.scratch.len() - keep..]);
    }

    /// The last total seen so far.
    pub fn total(&self) -> Option<u64> {
        self.total
    }
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

    #[test]
    fn total_tokens_is_found_and_escaped_keys_are_ignored() {
        let body = br#"{"choices":[{"message":{"content":"say \"total_tokens\": 9"}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens": 7}}"#;
        assert_eq!(total_tokens_in(body), Some(7));
        assert_eq!(total_tokens_in(br#"{"usage":null}"#), None);
        assert_eq!(total_tokens_in(br#"{"total_tokens":12"#), None);
    }

    #[test]
    fn the_scanner_finds_usage_split_across_chunks() {
        let stream = b"data: {\"choices\":[],\"usage\":null}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":1234}}\n\ndata: [DONE]\n\n";
        for split in 0..stream.len() {
            let mut scanner = UsageScanner::default();
            scanner.feed(&stream[..split]);
            scanner.feed(&stream[split..]);
            assert_eq!(scanner.total(), Some(1234), "split at {split}");
        }
        for size in 1..8 {
            let mut scanner = UsageScanner::default();
            for chunk in stream.chunks(size) {
                scanner.feed(chunk);
            }
            assert_eq!(scanner.total(), Some(1234), "chunks of {size}");
        }
    }
}
