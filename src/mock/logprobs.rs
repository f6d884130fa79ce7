//! Log probabilities of the mock provider (`logprobs: true`, `top_logprobs: k`).
//!
//! The reply's tokens are runs of letters and digits, or single other characters, each with the
//! whitespace before it, so they concatenate back to the content exactly. Log probabilities are
//! deterministic, between -0.98 and -0.01; the `k` alternatives start with the token itself and
//! fall by 1.5 each. `top_logprobs` must be 0 to 20 and needs `logprobs: true`, as for OpenAI.

use serde_json::{json, Map, Value};

use super::chat::{invalid_type, optional_bool, BadRequest};

/// `Some(top_logprobs)` when the request asks for log probabilities (`logprobs: true`).
pub(crate) fn requested(obj: &Map<String, Value>) -> Result<Option<usize>, BadRequest> {
    let top = match obj.get("top_logprobs") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(k) if k <= MAX_TOP_LOGPROBS => Some(k as usize),
            _ if value.is_number() => {
                return Err(BadRequest::new(
                    format!("Invalid 'top_logprobs': integer must be between 0 and 20, got {value}."),
                    Some("top_logprobs"),
                    Some("integer_out_of_range"),
                ))
            }
            _ => return Err(invalid_type("top_logprobs", "an integer", value)),
        },
    };
    Ok(match (optional_bool(obj, "logprobs")?.unwrap_or(false), top) {
        (true, top) => Some(top.unwrap_or(0)),
        (false, Some(_)) => {
            return Err(BadRequest::new(
                "Invalid value for 'logprobs': must be true when 'top_logprobs' is set.",
                Some("logprobs"),
                None,
            ))
        }
        (false, None) => None,
    })
}

/// Splits `text` into mock tokens (see the module docs).
fn tokens(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c.is_whitespace()
            && chars
                .peek()
                .is_some_and(|(_, n)| n.is_whitespace() || n.is_alphanumeric())
        {
            continue;
        }
        if c.is_alphanumeric() {
            while chars.next_if(|(_, n)| n.is_alphanumeric()).is_some() {}
        }
        let end = chars.peek().map_or(text.len(), |(i, _)| *i);
        out.push(&text[start..end]);
        start = end;
    }
    out
}

/// Largest `top_logprobs`, as OpenAI.
const MAX_TOP_LOGPROBS: u64 = 20;

/// Alternatives offered after the token itself.
const ALTERNATIVES: [&str; 20] = [
    " the", " a", ",", ".", " and", " of", " to", " in", " is", " it", " that", " for", " on", " with", " as", " I",
    " you", " this", " be", "!",
];

fn entry(token: &str, logprob: f64) -> Value {
    json!({"token": token, "logprob": logprob, "bytes": token.as_bytes()})
}

/// The log probability of the token at `position`.
fn logprob_at(token: &str, position: usize) -> f64 {
    let seed = (position * 7919 + token.len() * 31) % 98;
    -((seed as f64) + 1.0) / 100.0
}

/// The `content` entries for `text`, numbering tokens from `first`; returns the entries and
/// the position after the last one.
pub(crate) fn content(text: &str, top: usize, first: usize) -> (Vec<Value>, usize) {
    let mut position = first;
    let entries = tokens(text)
        .into_iter()
        .map(|token| {
            let logprob = logprob_at(token, position);
            position += 1;
            let alternatives = ALTERNATIVES.iter().filter(|alt| **alt != token);
            let top_logprobs: Vec<Value> = std::iter::once(token)
                .chain(alternatives.copied())
                .take(top)
                .enumerate()
                .map(|(j, alt)| entry(alt, logprob - 1.5 * j as f64))
                .collect();
            let mut item = entry(token, logprob);
            item["top_logprobs"] = Value::Array(top_logprobs);
            item
        })
        .collect();
    (entries, position)
}

/// The choice `logprobs` object for `text`.
pub(crate) fn choice(text: &str, top: usize, first: usize) -> Value {
    json!({"content": content(text, top, first).0, "refusal": null})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_rebuild_the_text_and_alternatives_are_sorted() {
        let text = "Hello there, world";
        let value = choice(text, 3, 0);
        let entries = value["content"].as_array().expect("content");
        let joined: String = entries.iter().map(|t| t["token"].as_str().unwrap_or("")).collect();
        assert_eq!(joined, text);
        for t in entries {
            let lp = t["logprob"].as_f64().unwrap_or(0.0);
            assert!((-0.99..0.0).contains(&lp));
            let top = t["top_logprobs"].as_array().expect("top");
            assert_eq!(top.len(), 3);
            assert_eq!(top[0]["token"], t["token"]);
            assert!(top
                .windows(2)
                .all(|w| w[0]["logprob"].as_f64() > w[1]["logprob"].as_f64()));
            let bytes: Vec<u8> = t["bytes"]
                .as_array()
                .expect("bytes")
                .iter()
                .filter_map(Value::as_u64)
                .filter_map(|b| u8::try_from(b).ok())
                .collect();
            assert_eq!(bytes, t["token"].as_str().unwrap_or("").as_bytes());
        }
        assert_eq!(content("a b", 0, 5).1, 7);
        assert_eq!(
            tokens(r#"{"a": 12, "bc":[x]}  ok"#),
            ["{", "\"", "a", "\"", ":", " 12", ",", " ", "\"", "bc", "\"", ":", "[", "x", "]", "}", "  ok"]
        );
        assert_eq!(tokens("  "), ["  "]);
        assert!(choice("x", 0, 0)["content"][0]["top_logprobs"]
            .as_array()
            .is_some_and(Vec::is_empty));
    }
}
