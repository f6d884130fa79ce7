//! Token estimates made before sending, and the provider's actual usage found after.
//!
//! [`estimate_tokens`] is the one place that decides how many tokens a request reserves against
//! a tokens-per-minute limit; an exact tokenizer can replace its prompt part without touching the
//! limiter. Today it is a documented estimate: every message costs `ceil(chars / 4) + 4` (its
//! text parts joined by a space, as the built-in mock counts them), plus the completion budget
//! (`max_completion_tokens` / `max_tokens`, the smaller if both, else
//! [`DEFAULT_COMPLETION_TOKENS`]) times `n`. Embedding bodies (`input`) cost `ceil(chars / 4)` per
//! string and one token per given token id. Tool schemas, images and audio are not counted. A
//! body that cannot be read costs `ceil(bytes / 4)` plus the default completion budget.
//!
//! [`total_tokens_in`] and [`UsageScanner`] find `"total_tokens": N` in a response body or in a
//! stream's bytes without parsing the JSON, so reconciling costs one byte scan.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Completion tokens reserved for a chat request that sets neither `max_tokens` nor
/// `max_completion_tokens`.
pub const DEFAULT_COMPLETION_TOKENS: u64 = 256;

/// Tokens added per chat message for its role and framing.
const PER_MESSAGE_TOKENS: u64 = 4;

/// Estimated tokens of a serialised request body (chat completions or embeddings) for `model`.
///
/// Always at least 1. `model` is unused today; it is there so a per-model tokenizer can be
/// plugged in behind this signature.
pub fn estimate_tokens(body: &[u8], model: &str) -> u64 {
    let _ = model;
    let counts = match serde_json::from_slice::<BodyCounts>(body) {
        Ok(counts) => counts,
        Err(_) => {
            return (body.len() as u64)
                .div_ceil(4)
                .saturating_add(DEFAULT_COMPLETION_TOKENS)
        }
    };
    let mut total = counts.input;
    if counts.has_messages {
        total = total.saturating_add(counts.prompt);
        let completion = match (counts.max_tokens, counts.max_completion_tokens) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).unwrap_or(DEFAULT_COMPLETION_TOKENS),
        };
        total = total.saturating_add(completion.saturating_mul(counts.n.unwrap_or(1).max(1)));
    } else if !counts.has_input {
        total = (body.len() as u64)
            .div_ceil(4)
            .saturating_add(DEFAULT_COMPLETION_TOKENS);
    }
    total.max(1)
}

fn text_tokens(chars: u64) -> u64 {
    chars.div_ceil(4)
}

/// What the estimate needs from a body; everything else is skipped without allocating.
#[derive(Default)]
struct BodyCounts {
    has_messages: bool,
    prompt: u64,
    has_input: bool,
    input: u64,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    n: Option<u64>,
}

enum Field {
    Messages,
    Input,
    MaxTokens,
    MaxCompletionTokens,
    N,
    Content,
    Text,
    Other,
}

impl<'de> de::Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "messages" => Field::Messages,
                    "input" => Field::Input,
                    "max_tokens" => Field::MaxTokens,
                    "max_completion_tokens" => Field::MaxCompletionTokens,
                    "n" => Field::N,
                    "content" => Field::Content,
                    "text" => Field::Text,
                    _ => Field::Other,
                })
            }
        }
        d.deserialize_str(FieldVisitor)
    }
}

/// An optional non-negative integer; anything else reads as `None`.
struct Count(Option<u64>);

impl<'de> de::Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;
        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a count")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
        }
        d.deserialize_any(CountVisitor)
    }
}

impl<'de> de::Deserialize<'de> for BodyCounts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = BodyCounts;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a request object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BodyCounts, A::Error> {
                let mut out = BodyCounts::default();
                while let Some(key) = map.next_key::<Field>()? {
                    match key {
                        Field::Messages => {
                            out.has_messages = true;
                            out.prompt = map.next_value_seed(Messages)?;
                        }
                        Field::Input => {
                            out.has_input = true;
                            out.input = map.next_value_seed(Input)?;
                        }
                        Field::MaxTokens => out.max_tokens = map.next_value::<Count>()?.0,
                        Field::MaxCompletionTokens => out.max_completion_tokens = map.next_value::<Count>()?.0,
                        Field::N => out.n = map.next_value::<Count>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_map(BodyVisitor)
    }
}

/// `messages`: the sum over messages of `ceil(chars / 4) + 4`.
struct Messages;

impl<'de> DeserializeSeed<'de> for Messages {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Messages {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of messages")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut total = 0u64;
        while let Some(chars) = seq.next_element_seed(Message)? {
            total = total.saturating_add(text_tokens(chars) + PER_MESSAGE_TOKENS);
        }
        Ok(total)
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
}

/// One message: the characters of its `content` (0 when absent).
struct Message;

impl<'de> DeserializeSeed<'de> for Message {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Message {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        let mut chars = 0;
        while let Some(key) = map.next_key::<Field>()? {
            if matches!(key, Field::Content) {
                chars = map.next_value_seed(Content)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(chars)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(0)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
}

/// A `content`: a string, or a list of parts whose texts are joined with a space.
struct Content;

impl<'de> DeserializeSeed<'de> for Content {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Content {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message content")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        Ok(v.chars().count() as u64)
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let (mut chars, mut parts) = (0u64, 0u64);
        while let Some(part) = seq.next_element_seed(Part)? {
            if let Some(c) = part {
                chars = chars.saturating_add(c);
                parts += 1;
            }
        }
        Ok(chars + parts.saturating_sub(1))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(0)
    }
}

/// One content part: `Some(chars)` for a string or an object with a string `text`.
struct Part;

impl<'de> DeserializeSeed<'de> for Part {
    type Value = Option<u64>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<u64>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Part {
    type Value = Option<u64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a content part")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Option<u64>, E> {
        Ok(Some(v.chars().count() as u64))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<u64>, A::Error> {
        let mut text = None;
        while let Some(key) = map.next_key::<Field>()? {
            if matches!(key, Field::Text) {
                text = map.next_value_seed(Content)?.into();
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(text)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<u64>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Option<u64>, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<u64>, E> {
        Ok(None)
    }
}

/// Embeddings `input`: a string, a list of strings, a list of token ids or a list of such lists.
struct Input;

impl<'de> DeserializeSeed<'de> for Input {
    type Value = u64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Input {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("embedding input")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        Ok(text_tokens(v.chars().count() as u64))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<u64, E> {
        Ok(1)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<u64, E> {
        Ok(1)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<u64, E> {
        Ok(1)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut total = 0u64;
        while let Some(n) = seq.next_element_seed(Input)? {
            total = total.saturating_add(n);
        }
        Ok(total)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<u64, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(0)
    }
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

    #[test]
    fn chat_estimate_matches_the_mock_prompt_count_plus_the_completion_budget() {
        let body = br#"{"model":"m","messages":[{"role":"system","content":"abcd"},{"role":"user","content":"hello world"}],"max_tokens":10}"#;
        // ceil(4/4)+4 + ceil(11/4)+4 + 10
        assert_eq!(estimate_tokens(body, "m"), 5 + 7 + 10);
    }

    #[test]
    fn completion_budget_defaults_and_takes_the_smaller_limit_times_n() {
        let body = br#"{"messages":[{"role":"user","content":""}]}"#;
        assert_eq!(estimate_tokens(body, "m"), 4 + DEFAULT_COMPLETION_TOKENS);
        let body = br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":50,"max_completion_tokens":20,"n":3}"#;
        assert_eq!(estimate_tokens(body, "m"), 5 + 60);
        let body = br#"{"messages":[{"role":"user","content":"x"}],"max_tokens":null}"#;
        assert_eq!(estimate_tokens(body, "m"), 5 + DEFAULT_COMPLETION_TOKENS);
    }

    #[test]
    fn content_parts_are_joined_with_a_space_and_non_text_parts_skipped() {
        let body = br#"{"messages":[{"role":"user","content":[{"type":"text","text":"abc"},{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"de"}]}],"max_tokens":1}"#;
        // "abc de" = 6 chars -> 2, + 4, + 1
        assert_eq!(estimate_tokens(body, "m"), 7);
    }

    #[test]
    fn characters_not_bytes_are_counted_and_escapes_decoded() {
        let body = r#"{"messages":[{"role":"user","content":"héllo 世界\n\u00e9"}],"max_tokens":1}"#;
        // 10 chars -> 3
        assert_eq!(estimate_tokens(body.as_bytes(), "m"), 3 + 4 + 1);
    }

    #[test]
    fn embedding_inputs_are_counted() {
        assert_eq!(estimate_tokens(br#"{"model":"e","input":"abcdefgh"}"#, "e"), 2);
        assert_eq!(estimate_tokens(br#"{"input":["abcd","abcde"]}"#, "e"), 3);
        assert_eq!(estimate_tokens(br#"{"input":[[1,2,3],[4]]}"#, "e"), 4);
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
