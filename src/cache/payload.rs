//! What the cache keeps: a chat answer (whole or as its stream chunks) or one embedding, its
//! compact encoding for shared backends, and the conversions between whole answers and streams.
//!
//! A stream request is answered from a whole answer by [`split`] (one chunk per choice, then the
//! usage chunk), and a plain request from a stored stream by [`assemble`]; a stored stream
//! replays with its original chunk boundaries.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use crate::types::json::Heap;
use crate::types::{
    AssistantMessage, ChatCompletionChunk, ChatCompletionResponse, Choice, ChoiceLogprobs, Embedding,
    FunctionCallDelta, StreamChoice, StreamDelta, ToJson, ToolCall, ToolCallDelta,
};

/// One cached answer.
// Payloads always live behind an `Arc` (one per entry), so the variants' sizes cost nothing; a
// box would add an allocation to every miss.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A whole chat completion and what it cost (USD, when priced).
    Chat(ChatCompletionResponse, Option<f64>),
    /// A finished stream's chunks and what it cost.
    Stream(Vec<ChatCompletionChunk>, Option<f64>),
    /// One input's vector and its share of the request's prompt tokens.
    Embedding(Embedding, u64),
}

const CHAT: u8 = b'c';
const STREAM: u8 = b's';
const EMBEDDING: u8 = b'e';

impl Payload {
    /// The chat answer, whole (a stored stream is assembled).
    pub fn to_response(&self) -> Option<ChatCompletionResponse> {
        match self {
            Payload::Chat(r, _) => Some(r.clone()),
            Payload::Stream(chunks, _) => Some(assemble(chunks)),
            Payload::Embedding(..) => None,
        }
    }

    /// The chat answer as stream chunks (a whole answer is split).
    pub fn to_chunks(&self) -> Option<Vec<ChatCompletionChunk>> {
        match self {
            Payload::Chat(r, _) => Some(split(r)),
            Payload::Stream(chunks, _) => Some(chunks.clone()),
            Payload::Embedding(..) => None,
        }
    }

    /// What the original call cost.
    pub fn cost(&self) -> Option<f64> {
        match self {
            Payload::Chat(_, c) | Payload::Stream(_, c) => *c,
            Payload::Embedding(..) => None,
        }
    }

    /// The bytes the payload holds in memory (its structs and what they own on the heap, with
    /// the allocator's bookkeeping), for the memory backend's budget.
    pub fn footprint(&self) -> usize {
        use std::mem::size_of;
        size_of::<Payload>()
            + match self {
                Payload::Chat(r, _) => r.heap(),
                Payload::Stream(chunks, _) => chunks.heap(),
                Payload::Embedding(e, _) => e.heap(),
            }
    }

    /// The payload's bytes for a shared backend.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        match self {
            Payload::Chat(r, cost) => {
                out.put_u8(CHAT);
                out.put_f64_le(cost.unwrap_or(f64::NAN));
                out.extend_from_slice(r.to_json().to_string().as_bytes());
            }
            Payload::Stream(chunks, cost) => {
                out.put_u8(STREAM);
                out.put_f64_le(cost.unwrap_or(f64::NAN));
                let items: Vec<_> = chunks.iter().map(ToJson::to_json).collect();
                out.extend_from_slice(serde_json::Value::Array(items).to_string().as_bytes());
            }
            Payload::Embedding(e, tokens) => {
                out.reserve(9 + 4 * e.0.len());
                out.put_u8(EMBEDDING);
                out.put_u64_le(*tokens);
                for v in &e.0 {
                    out.put_f32_le(*v);
                }
            }
        }
        out.freeze()
    }

    /// Reads bytes written by [`Payload::encode`]; `None` for anything else (a corrupt or
    /// foreign entry is a miss, never an error).
    pub fn decode(bytes: &[u8]) -> Option<Payload> {
        let (&tag, rest) = bytes.split_first()?;
        let word = |rest: &[u8]| -> Option<[u8; 8]> { rest.get(..8)?.try_into().ok() };
        match tag {
            CHAT | STREAM => {
                let cost = f64::from_le_bytes(word(rest)?);
                let cost = cost.is_finite().then_some(cost);
                let json = &rest[8..];
                if tag == CHAT {
                    serde_json::from_slice(json).ok().map(|r| Payload::Chat(r, cost))
                } else {
                    serde_json::from_slice(json).ok().map(|c| Payload::Stream(c, cost))
                }
            }
            EMBEDDING => {
                let tokens = u64::from_le_bytes(word(rest)?);
                let floats = &rest[8..];
                if floats.len() % 4 != 0 {
                    return None;
                }
                let values = floats
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                Some(Payload::Embedding(Embedding(values), tokens))
            }
            _ => None,
        }
    }
}

/// Appends an optional fragment to an optional text.
fn append(to: &mut Option<String>, part: Option<&String>) {
    if let Some(part) = part {
        to.get_or_insert_with(String::new).push_str(part);
    }
}

/// One whole answer from a stream's chunks: texts and tool-call arguments concatenated per
/// choice, the last finish reason and usage kept.
pub fn assemble(chunks: &[ChatCompletionChunk]) -> ChatCompletionResponse {
    let mut out = ChatCompletionResponse {
        object: "chat.completion".to_owned(),
        ..ChatCompletionResponse::default()
    };
    let mut choices: BTreeMap<u32, (Choice, BTreeMap<u32, ToolCall>)> = BTreeMap::new();
    for chunk in chunks {
        if out.id.is_empty() {
            out.id.clone_from(&chunk.id);
        }
        if out.created == 0 {
            out.created = chunk.created;
        }
        if out.model.is_empty() {
            out.model.clone_from(&chunk.model);
        }
        if chunk.system_fingerprint.is_some() {
            out.system_fingerprint.clone_from(&chunk.system_fingerprint);
        }
        if chunk.service_tier.is_some() {
            out.service_tier.clone_from(&chunk.service_tier);
        }
        if chunk.usage.is_some() {
            out.usage.clone_from(&chunk.usage);
        }
        for part in &chunk.choices {
            let (choice, calls) = choices.entry(part.index).or_insert_with(|| {
                let choice = Choice {
                    index: part.index,
                    message: AssistantMessage {
                        role: "assistant".to_owned(),
                        ..AssistantMessage::default()
                    },
                    ..Choice::default()
                };
                (choice, BTreeMap::new())
            });
            let d = &part.delta;
            let m = &mut choice.message;
            if let Some(role) = &d.role {
                m.role.clone_from(role);
            }
            append(&mut m.content, d.content.as_ref());
            append(&mut m.refusal, d.refusal.as_ref());
            append(&mut m.reasoning_content, d.reasoning_content.as_ref());
            for call in d.tool_calls.iter().flatten() {
                let whole = calls.entry(call.index).or_insert_with(|| ToolCall {
                    r#type: "function".to_owned(),
                    ..ToolCall::default()
                });
                if let Some(id) = &call.id {
                    whole.id.clone_from(id);
                }
                if let Some(t) = &call.r#type {
                    whole.r#type.clone_from(t);
                }
                if let Some(f) = &call.function {
                    if let Some(name) = &f.name {
                        whole.function.name.push_str(name);
                    }
                    if let Some(args) = &f.arguments {
                        whole.function.arguments.push_str(args);
                    }
                }
            }
            if part.finish_reason.is_some() {
                choice.finish_reason.clone_from(&part.finish_reason);
            }
            if let Some(lp) = &part.logprobs {
                let into = choice.logprobs.get_or_insert_with(ChoiceLogprobs::default);
                for (to, from) in [(&mut into.content, &lp.content), (&mut into.refusal, &lp.refusal)] {
                    if let Some(from) = from {
                        to.get_or_insert_with(Vec::new).extend(from.iter().cloned());
                    }
                }
            }
        }
    }
    out.choices = choices
        .into_values()
        .map(|(mut choice, calls)| {
            if !calls.is_empty() {
                choice.message.tool_calls = Some(calls.into_values().collect());
            }
            choice
        })
        .collect();
    out
}

/// A whole answer as a stream: one chunk per choice carrying all of it, then a usage chunk.
pub fn split(response: &ChatCompletionResponse) -> Vec<ChatCompletionChunk> {
    let chunk = |choices: Vec<StreamChoice>| ChatCompletionChunk {
        id: response.id.clone(),
        object: "chat.completion.chunk".to_owned(),
        created: response.created,
        model: response.model.clone(),
        choices,
        system_fingerprint: response.system_fingerprint.clone(),
        service_tier: response.service_tier.clone(),
        ..ChatCompletionChunk::default()
    };
    let mut out: Vec<ChatCompletionChunk> = response
        .choices
        .iter()
        .map(|c| {
            let m = &c.message;
            let tool_calls = m.tool_calls.as_ref().map(|calls| {
                calls
                    .iter()
                    .zip(0u32..)
                    .map(|(t, index)| ToolCallDelta {
                        index,
                        id: Some(t.id.clone()),
                        r#type: Some(t.r#type.clone()),
                        function: Some(FunctionCallDelta {
                            name: Some(t.function.name.clone()),
                            arguments: Some(t.function.arguments.clone()),
                            ..FunctionCallDelta::default()
                        }),
                        ..ToolCallDelta::default()
                    })
                    .collect()
            });
            chunk(vec![StreamChoice {
                index: c.index,
                delta: StreamDelta {
                    role: Some(m.role.clone()),
                    content: m.content.clone(),
                    tool_calls,
                    refusal: m.refusal.clone(),
                    reasoning_content: m.reasoning_content.clone(),
                    ..StreamDelta::default()
                },
                finish_reason: c.finish_reason.clone(),
                logprobs: c.logprobs.clone(),
                ..StreamChoice::default()
            }])
        })
        .collect();
    if response.usage.is_some() {
        let mut last = chunk(Vec::new());
        last.usage.clone_from(&response.usage);
        out.push(last);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FunctionCall as Call;
    use serde_json::json;

    fn chunks() -> Vec<ChatCompletionChunk> {
        let raw = json!([
            {"id":"c1","created":5,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]},
            {"id":"c1","created":5,"model":"m","choices":[{"index":0,"delta":{"content":"lo"}},
                {"index":1,"delta":{"tool_calls":[{"index":0,"id":"t1","type":"function","function":{"name":"f","arguments":"{\"a\""}}]}}]},
            {"id":"c1","created":5,"model":"m","choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]},"finish_reason":"tool_calls"},
                {"index":0,"delta":{},"finish_reason":"stop"}]},
            {"id":"c1","created":5,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}
        ]);
        serde_json::from_value(raw).unwrap()
    }

    #[test]
    fn assembles_texts_tool_calls_and_usage_per_choice() {
        let r = assemble(&chunks());
        assert_eq!((r.id.as_str(), r.created, r.model.as_str()), ("c1", 5, "m"));
        assert_eq!(r.choices[0].message.content.as_deref(), Some("Hello"));
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
        let call = &r.choices[1].message.tool_calls.as_ref().unwrap()[0];
        let expected = Call {
            name: "f".into(),
            arguments: "{\"a\":1}".into(),
            ..Call::default()
        };
        assert_eq!((call.id.as_str(), &call.function), ("t1", &expected));
        assert_eq!(r.choices[1].finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(r.usage.as_ref().unwrap().total_tokens, 7);
    }

    #[test]
    fn split_then_assemble_gives_the_answer_back() {
        let whole = assemble(&chunks());
        let again = assemble(&split(&whole));
        assert_eq!(again, whole);
        assert_eq!(split(&whole).len(), 3);
    }

    #[test]
    fn footprints_count_what_the_answer_owns() {
        let small = Payload::Chat(assemble(&chunks()), None);
        let mut big = assemble(&chunks());
        big.choices[0].message.content = Some("x".repeat(10_000));
        big.extra.insert("annotations".into(), json!(["y".repeat(5_000)]));
        let big = Payload::Chat(big, None);
        assert!(big.footprint() >= small.footprint() + 15_000);
        let vector = Payload::Embedding(Embedding(vec![0.0; 1000]), 1);
        assert!(vector.footprint() >= 4_000);
    }

    #[test]
    fn encodings_round_trip_and_garbage_is_a_miss() {
        let payloads = [
            Payload::Chat(assemble(&chunks()), Some(0.25)),
            Payload::Stream(chunks(), None),
            Payload::Embedding(Embedding(vec![0.5, -1.25, 3.0]), 9),
        ];
        for p in payloads {
            assert_eq!(Payload::decode(&p.encode()), Some(p.clone()));
            assert!(p.footprint() > 0);
        }
        for bad in [&b""[..], b"c", b"x12345678{}", b"e12345678abc", b"s\0\0\0\0\0\0\0\0[{"] {
            assert_eq!(Payload::decode(bad), None);
        }
    }
}
