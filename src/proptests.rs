//! Property tests of everything that reads wire data: the SSE decoder, the JSON decoders and
//! the provider stream translators never panic, whatever a hostile server sends, and never
//! produce output proportional to a number from the wire.

use std::collections::VecDeque;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::providers::adapter::StreamTranslator;
use crate::providers::{anthropic, gemini};
use crate::sse::{Decoder, Event, SseError};
use crate::types::{ChatCompletionChunk, ChatCompletionResponse, EmbeddingResponse, ToJson};
use crate::usage::TokenBreakdown;

/// Few enough cases that the whole module runs in seconds in a debug build.
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- SSE decoder

/// Everything a decoder reports for a stream: its events and errors, then its end state.
type Outcome = (Vec<Result<Event, SseError>>, bool, Option<String>, Option<u64>);

/// Feeds `bytes` cut at `cuts` (sorted positions), pulling events after every piece.
fn decode(bytes: &[u8], cuts: &[usize]) -> Outcome {
    decode_with(Decoder::new(), bytes, cuts)
}

/// As [`decode`], with a given decoder.
fn decode_with(mut decoder: Decoder, bytes: &[u8], cuts: &[usize]) -> Outcome {
    let mut out = Vec::new();
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&bytes.len())) {
        decoder.feed(&bytes[from..to]);
        from = to;
        loop {
            match decoder.next_event() {
                Ok(Some(event)) => out.push(Ok(event)),
                Ok(None) => break,
                Err(e) => out.push(Err(e)),
            }
        }
    }
    let end = (
        decoder.has_partial(),
        decoder.last_event_id().map(str::to_owned),
        decoder.reconnection_time(),
    );
    (out, end.0, end.1, end.2)
}

/// Bytes shaped like an event stream: field names, line endings, BOMs, invalid UTF-8.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        prop::sample::select(vec![
            &b"data:"[..],
            b"data: ",
            b"event: ",
            b"id: ",
            b"retry: ",
            b"retry: 99999999999999999999999",
            b"\n",
            b"\r",
            b"\r\n",
            b"\n\n",
            b":",
            b" ",
            b"x",
            b"42",
            b"\xEF\xBB\xBF",
            b"\xC3\xA9",
            b"\xE4\xB8",
            b"\xFF",
            b"\0",
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    prop::collection::vec(token, 0..96).prop_map(|parts| parts.concat())
}

/// Sorted cut positions inside a stream of `len` bytes.
fn cuts_of(len: usize, picks: &[Index]) -> Vec<usize> {
    let mut cuts: Vec<usize> = picks.iter().map(|i| i.index(len + 1)).collect();
    cuts.sort_unstable();
    cuts
}

/// One well-formed event: an optional name, data lines and an optional id.
fn sse_event() -> impl Strategy<Value = (Option<String>, Vec<String>, Option<String>)> {
    (
        prop::option::of("[a-z_]{1,8}"),
        prop::collection::vec("[^\r\n]{0,12}", 1..4),
        prop::option::of("[a-zA-Z0-9-]{1,8}"),
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sse_never_panics_and_ignores_split_points(
        bytes in sse_bytes(),
        picks in prop::collection::vec(any::<Index>(), 0..12),
    ) {
        let whole = decode(&bytes, &[]);
        let bytewise: Vec<usize> = (1..bytes.len()).collect();
        prop_assert_eq!(&decode(&bytes, &cuts_of(bytes.len(), &picks)), &whole);
        prop_assert_eq!(&decode(&bytes, &bytewise), &whole);
    }

    #[test]
    fn sse_limit_bounds_events_and_changes_nothing_before_it_trips(
        bytes in sse_bytes(),
        picks in prop::collection::vec(any::<Index>(), 0..12),
        limit in 1usize..48,
    ) {
        let cuts = cuts_of(bytes.len(), &picks);
        let (free, ..) = decode(&bytes, &cuts);
        let (limited, ..) = decode_with(Decoder::with_limit(limit), &bytes, &cuts);
        let tripped = limited.iter().position(|r| *r == Err(SseError::TooLarge));
        let before = &limited[..tripped.unwrap_or(limited.len())];
        prop_assert_eq!(before, &free[..before.len()]);
        if tripped.is_none() {
            prop_assert_eq!(&limited, &free);
        }
        for event in before.iter().flatten() {
            prop_assert!(event.data.len() <= limit);
        }
    }

    #[test]
    fn sse_arbitrary_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        picks in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let whole = decode(&bytes, &[]);
        prop_assert_eq!(decode(&bytes, &cuts_of(bytes.len(), &picks)), whole);
    }

    #[test]
    fn sse_well_formed_events_round_trip(
        events in prop::collection::vec(sse_event(), 0..8),
        crlf in any::<bool>(),
        picks in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::new();
        for (name, lines, id) in &events {
            if let Some(name) = name {
                text.push_str(&format!("event: {name}{eol}"));
            }
            for line in lines {
                text.push_str(&format!("data: {line}{eol}"));
            }
            if let Some(id) = id {
                text.push_str(&format!("id: {id}{eol}"));
            }
            text.push_str(eol);
        }
        let want: Vec<Result<Event, SseError>> = events
            .iter()
            .map(|(name, lines, id)| Ok(Event {
                event: name.clone(),
                data: lines.join("\n"),
                id: id.clone(),
                retry: None,
            }))
            .collect();
        let (got, partial, _, _) = decode(text.as_bytes(), &cuts_of(text.len(), &picks));
        prop_assert_eq!(got, want);
        prop_assert!(!partial);
    }
}

// ---------------------------------------------------------------- JSON decoders

/// Numbers a hostile server might send where a count, index or duration goes.
fn extreme_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            json!(0),
            json!(1),
            json!(-1),
            json!(127),
            json!(128),
            json!(1_u32 << 24),
            json!(u32::MAX - 1),
            json!(u32::MAX),
            json!(u64::from(u32::MAX) + 1),
            json!(i64::MAX),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(0.5),
            json!(-0.0),
            json!(1e30),
            json!(-1e30),
            json!(1e308),
            json!(-1e308),
            json!(5e-324),
        ]),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
    ]
}

/// Keys the decoders look for, so generated documents reach deep into them.
const KEYS: &[&str] = &[
    "id",
    "object",
    "created",
    "model",
    "choices",
    "index",
    "message",
    "delta",
    "content",
    "role",
    "text",
    "finish_reason",
    "usage",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "cached_tokens",
    "completion_tokens_details",
    "reasoning_tokens",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "logprobs",
    "data",
    "embedding",
    "type",
    "error",
    "code",
    "status",
    "details",
    "@type",
    "retryDelay",
    "candidates",
    "parts",
    "finishReason",
    "usageMetadata",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "totalTokenCount",
    "embeddings",
    "values",
    "functionCall",
    "args",
    "thought",
    "promptFeedback",
    "blockReason",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "stop_reason",
    "tool_use",
    "input",
];

/// Strings the decoders compare against, and a few odd ones.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "assistant",
            "text",
            "thinking",
            "tool_use",
            "stop",
            "STOP",
            "SAFETY",
            "MAX_TOKENS",
            "message",
            "error",
            "list",
            "embedding",
            "RESOURCE_EXHAUSTED",
            "1e30s",
            "-5s",
            "NaNs",
            "37s",
            "AAAA",
            "AACAPw==",
            "message_start",
            "content_block_start",
            "content_block_delta",
            "input_json_delta",
            "text_delta",
            "message_delta",
            "message_stop",
        ])
        .prop_map(str::to_owned),
        ".{0,8}",
    ]
}

/// Any JSON value, with extreme numbers and the decoders' keys, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        extreme_number(),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// Runs every wire decoder over `body`; none may panic.
fn decode_all(body: &[u8], status: u16) {
    if let Ok(r) = serde_json::from_slice::<ChatCompletionResponse>(body) {
        let _ = r.usage.as_ref().and_then(TokenBreakdown::from_usage).map(|t| t.total());
        let _ = r.to_json();
    }
    if let Ok(c) = serde_json::from_slice::<ChatCompletionChunk>(body) {
        let _ = c.to_json();
    }
    if let Ok(e) = serde_json::from_slice::<EmbeddingResponse>(body) {
        let _ = e.to_json();
    }
    if let Ok(r) = anthropic::chat_response(body) {
        let _ = r.usage.as_ref().and_then(TokenBreakdown::from_usage).map(|t| t.total());
    }
    if let Ok(r) = gemini::chat_response(body, "m") {
        let _ = r.usage.as_ref().and_then(TokenBreakdown::from_usage).map(|t| t.total());
    }
    let _ = gemini::embed_response(body, "m");
    let _ = Error::from_response(status, body);
    let _ = anthropic::error_from_response(status, body);
    let _ = gemini::error_from_response(status, body);
}

/// Valid bodies of each decoder, to mutate.
fn valid_bodies() -> Vec<Value> {
    vec![
        json!({"id": "c", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi",
                "tool_calls": [{"index": 0, "id": "t", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                "finish_reason": "stop", "logprobs": {"content": [{"token": "a", "logprob": -0.5, "bytes": [97], "top_logprobs": []}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 1}}}),
        json!({"object": "list", "model": "m", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -1.0]}],
            "usage": {"prompt_tokens": 2, "total_tokens": 2}}),
        json!({"id": "msg", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 2,
                "cache_read_input_tokens": 1, "cache_creation_input_tokens": 1}}),
        json!({"candidates": [{"index": 0, "content": {"parts": [{"text": "hi"}, {"functionCall": {"name": "f", "args": {}}}]},
                "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 2, "totalTokenCount": 5, "thoughtsTokenCount": 1}}),
        json!({"embeddings": [{"values": [0.5, 1.0]}], "usageMetadata": {"promptTokenCount": 2}}),
        json!({"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"}]}}),
    ]
}

/// `value` with its `n`-th number (in document order, wrapping) replaced by `with`.
fn replace_number(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    match value {
        Value::Number(_) if *n == 0 => {
            *value = with.clone();
            true
        }
        Value::Number(_) => {
            *n -= 1;
            false
        }
        Value::Array(items) => items.iter_mut().any(|v| replace_number(v, n, with)),
        Value::Object(map) => map.values_mut().any(|v| replace_number(v, n, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        status in any::<u16>(),
    ) {
        decode_all(&bytes, status);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_json(value in json_value(), status in 100u16..600) {
        decode_all(value.to_string().as_bytes(), status);
        decode_all(json!([value]).to_string().as_bytes(), status);
    }

    #[test]
    fn decoders_never_panic_on_valid_bodies_with_extreme_numbers(
        which in any::<Index>(),
        edits in prop::collection::vec((any::<usize>(), extreme_number()), 1..4),
        status in 100u16..600,
    ) {
        let bodies = valid_bodies();
        let mut body = which.get(&bodies).clone();
        for (n, with) in &edits {
            let mut n = n % 32;
            replace_number(&mut body, &mut n, with);
        }
        decode_all(body.to_string().as_bytes(), status);
    }
}

// ---------------------------------------------------------------- stream translators

/// A number, or something else where a number belongs.
fn wire_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => extreme_number(),
        1 => Just(json!("3")),
        1 => Just(Value::Null),
        1 => Just(json!([1])),
    ]
}

/// An Anthropic Messages API stream event.
fn anthropic_event() -> impl Strategy<Value = Event> {
    let usage = || {
        prop::collection::vec(
            (
                prop::sample::select(vec![
                    "input_tokens",
                    "output_tokens",
                    "cache_read_input_tokens",
                    "cache_creation_input_tokens",
                ]),
                wire_number(),
            ),
            0..4,
        )
        .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
    };
    let block = (
        prop::sample::select(vec!["text", "thinking", "tool_use", "server_tool_use", "image"]),
        word(),
    )
        .prop_map(|(kind, text)| json!({"type": kind, "text": text, "thinking": text, "id": text, "name": text}));
    let delta = (
        prop::sample::select(vec![
            "text_delta",
            "thinking_delta",
            "input_json_delta",
            "signature_delta",
        ]),
        word(),
    )
        .prop_map(|(kind, text)| json!({"type": kind, "text": text, "thinking": text, "partial_json": text}));
    let data = prop_oneof![
        usage().prop_map(|u| json!({"type": "message_start", "message": {"id": "m", "model": "c", "usage": u}})),
        (wire_number(), block)
            .prop_map(|(i, b)| json!({"type": "content_block_start", "index": i, "content_block": b})),
        (wire_number(), delta).prop_map(|(i, d)| json!({"type": "content_block_delta", "index": i, "delta": d})),
        (word(), usage())
            .prop_map(|(stop, u)| json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": u})),
        Just(json!({"type": "message_stop"})),
        Just(json!({"type": "ping"})),
        wire_number().prop_map(|i| json!({"type": "content_block_stop", "index": i})),
        Just(json!({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})),
        json_value(),
    ];
    (data, prop::option::of(word())).prop_map(|(data, event)| Event {
        event,
        data: data.to_string(),
        ..Event::default()
    })
}

/// A Gemini `GenerateContentResponse` stream event.
fn gemini_event() -> impl Strategy<Value = Event> {
    let part = prop_oneof![
        word().prop_map(|t| json!({"text": t})),
        word().prop_map(|t| json!({"text": t, "thought": true})),
        word().prop_map(|n| json!({"functionCall": {"name": n, "args": {"a": 1}}})),
        json_value(),
    ];
    let candidate = (
        prop::option::of(wire_number()),
        prop::collection::vec(part, 0..3),
        prop::option::of(word()),
    )
        .prop_map(|(index, parts, reason)| {
            let mut c = Map::new();
            if let Some(i) = index {
                c.insert("index".to_owned(), i);
            }
            c.insert("content".to_owned(), json!({"parts": parts}));
            if let Some(r) = reason {
                c.insert("finishReason".to_owned(), json!(r));
            }
            Value::Object(c)
        });
    let usage = prop::collection::vec(
        (
            prop::sample::select(vec![
                "promptTokenCount",
                "candidatesTokenCount",
                "thoughtsTokenCount",
                "totalTokenCount",
                "toolUsePromptTokenCount",
            ]),
            wire_number(),
        ),
        0..5,
    )
    .prop_map(|pairs| Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()));
    let data = prop_oneof![
        8 => (prop::collection::vec(candidate, 0..4), prop::option::of(usage))
            .prop_map(|(candidates, usage)| json!({"candidates": candidates, "usageMetadata": usage})),
        1 => word().prop_map(|d| json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "RetryInfo", "retryDelay": d}]}})),
        1 => json_value(),
    ];
    data.prop_map(|data| Event {
        data: data.to_string(),
        ..Event::default()
    })
}

/// Most chunks one Gemini event may yield: one per candidate, and a usage chunk.
fn gemini_chunk_bound(event: &Event) -> usize {
    let doc: Value = serde_json::from_str(&event.data).unwrap_or_default();
    doc.get("candidates").and_then(Value::as_array).map_or(0, Vec::len) + 1
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn anthropic_stream_never_panics_and_yields_bounded_output(
        events in prop::collection::vec(anthropic_event(), 0..16),
    ) {
        let mut state = anthropic::StreamState::new();
        let mut out = VecDeque::new();
        for event in &events {
            let before = out.len();
            let _ = state.on_event(event, &mut out);
            // Every Anthropic event yields at most one chunk.
            prop_assert!(out.len() - before <= 1);
        }
    }

    #[test]
    fn gemini_stream_never_panics_and_yields_bounded_output(
        events in prop::collection::vec(gemini_event(), 0..12),
    ) {
        let mut state = gemini::StreamState::new("m");
        let mut out = VecDeque::new();
        for event in &events {
            let before = out.len();
            let _ = state.on_event(event, &mut out);
            prop_assert!(out.len() - before <= gemini_chunk_bound(event));
        }
    }
}
