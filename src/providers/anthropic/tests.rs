//! Tests of the Anthropic translation on bodies and event transcripts shaped like Anthropic's
//! documented examples.

use std::collections::VecDeque;

use serde_json::{json, Map, Value};

use super::*;
use crate::error::Kind;
use crate::sse::{Decoder, Event};
use crate::types::ChatCompletionChunk;

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Translates a request and parses the bytes back.
fn translate(value: Value) -> Value {
    let bytes = chat_request(&obj(value)).expect("request translates");
    serde_json::from_slice(&bytes).expect("valid JSON")
}

fn translate_err(value: Value) -> crate::Error {
    chat_request(&obj(value)).expect_err("request is rejected")
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

// ---------------------------------------------------------------- request

#[test]
fn minimal_request_gets_required_fields_and_defaults() {
    let body = translate(json!({"model": "claude-sonnet-4-5", "messages": [user("Hi")]}));
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": DEFAULT_MAX_TOKENS,
        })
    );
}

#[test]
fn token_limits_prefer_max_completion_tokens() {
    let base = json!({"model": "m", "messages": [user("x")]});
    let mut with_max = base.clone();
    with_max["max_tokens"] = json!(100);
    assert_eq!(translate(with_max)["max_tokens"], 100);
    let mut with_both = base.clone();
    with_both["max_tokens"] = json!(100);
    with_both["max_completion_tokens"] = json!(50);
    assert_eq!(translate(with_both)["max_tokens"], 50);
    let mut bad = base;
    bad["max_tokens"] = json!(0);
    assert_eq!(translate_err(bad).kind(), Kind::InvalidArgument);
}

#[test]
fn system_and_developer_messages_become_top_level_system() {
    let one = translate(json!({"model": "m", "messages": [
        {"role": "system", "content": "Be brief."}, user("Hi"),
    ]}));
    assert_eq!(one["system"], "Be brief.");
    assert_eq!(one["messages"], json!([{"role": "user", "content": "Hi"}]));

    let many = translate(json!({"model": "m", "messages": [
        {"role": "system", "content": "Be brief."},
        user("Hi"),
        {"role": "developer", "content": [
            {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
        ]},
    ]}));
    assert_eq!(
        many["system"],
        json!([
            {"type": "text", "text": "Be brief."},
            {"type": "text", "text": "Answer in French.", "cache_control": {"type": "ephemeral"}},
        ])
    );
    assert_eq!(many["messages"].as_array().map(Vec::len), Some(1));

    let image_in_system = translate_err(json!({"model": "m", "messages": [
        {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x/a.png"}}]},
        user("Hi"),
    ]}));
    assert_eq!(image_in_system.kind(), Kind::InvalidArgument);
}

#[test]
fn consecutive_same_role_messages_are_merged() {
    let body = translate(json!({"model": "m", "messages": [
        user("first"), user("second"),
        {"role": "assistant", "content": "a"}, {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "b"}, user("third"),
    ]}));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "user", "content": "third"},
        ])
    );
}

#[test]
fn tool_round_trip_becomes_tool_use_and_merged_tool_results() {
    let body = translate(json!({"model": "m", "messages": [
        user("Weather in Paris and Rome?"),
        {"role": "assistant", "content": null, "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
        ]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": [{"type": "text", "text": "24C"}]},
        user("Which is warmer?"),
    ]}));
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "24C"}]},
                {"type": "text", "text": "Which is warmer?"},
            ]},
        ])
    );
}

#[test]
fn tool_call_arguments_must_be_a_json_object() {
    let call = |args: &str| {
        json!({"model": "m", "messages": [user("x"), {"role": "assistant", "tool_calls": [
            {"id": "t", "type": "function", "function": {"name": "f", "arguments": args}},
        ]}]})
    };
    let err = translate_err(call("{not json"));
    assert_eq!(err.kind(), Kind::InvalidArgument);
    assert!(err.message().contains("not valid JSON"), "{}", err.message());
    assert_eq!(translate_err(call("[1,2]")).kind(), Kind::InvalidArgument);
    let empty = translate(call(""));
    assert_eq!(empty["messages"][1]["content"][0]["input"], json!({}));
}

#[test]
fn images_and_documents() {
    let body = translate(json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Compare these."},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": "https://example.com/report.pdf?v=2"},
        {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}},
        {"type": "file", "file": {"file_id": "file_011"}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/native.png"}},
    ]}]}));
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Compare these."},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            {"type": "document", "source": {"type": "url", "url": "https://example.com/report.pdf?v=2"}},
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}, "title": "spec.pdf"},
            {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/native.png"}},
        ])
    );
    for bad in [
        json!({"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}),
        json!({"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}),
        json!({"type": "file", "file": {"file_data": "data:text/csv;base64,YSxi"}}),
        json!({"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}),
    ] {
        let err = translate_err(json!({"model": "m", "messages": [{"role": "user", "content": [bad]}]}));
        assert_eq!(err.kind(), Kind::InvalidArgument);
        assert!(err.message().contains("messages[0].content[0]"), "{}", err.message());
    }
}

#[test]
fn cache_control_on_parts_and_messages_is_kept() {
    let body = translate(json!({"model": "m", "messages": [
        {"role": "user", "content": "long context", "cache_control": {"type": "ephemeral"}},
    ]}));
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"type": "text", "text": "long context", "cache_control": {"type": "ephemeral"}}])
    );
}

#[test]
fn sampling_stop_user_and_stream() {
    let body = translate(json!({
        "model": "m", "messages": [user("x")], "temperature": 0.2, "top_p": 0.9, "top_k": 40,
        "stop": "END", "user": "user-42", "stream": true, "stream_options": {"include_usage": true},
        "seed": 7, "frequency_penalty": 0.5, "presence_penalty": 0.1, "logprobs": false, "n": 1,
        "response_format": {"type": "text"}, "service_tier": "default", "metadata": {"trace": "abc"},
        "anthropic_extra": {"x": 1}, "top_logprobs": null,
    }));
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["top_k"], 40);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(body["metadata"], json!({"user_id": "user-42"}));
    assert_eq!(body["stream"], true);
    assert_eq!(body["anthropic_extra"], json!({"x": 1}), "unknown keys pass through");
    for dropped in [
        "stop",
        "user",
        "stream_options",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "n",
        "response_format",
        "service_tier",
        "top_logprobs",
    ] {
        assert!(body.get(dropped).is_none(), "{dropped} should be dropped: {body}");
    }
    let list = translate(json!({"model": "m", "messages": [user("x")], "stop": ["a", "b"], "service_tier": "auto"}));
    assert_eq!(list["stop_sequences"], json!(["a", "b"]));
    assert_eq!(list["service_tier"], "auto");
    assert_eq!(
        translate_err(json!({"model": "m", "messages": [user("x")], "stop": 3})).kind(),
        Kind::InvalidArgument
    );
}

#[test]
fn openai_only_features_are_rejected() {
    for (key, value) in [
        ("n", json!(2)),
        ("logprobs", json!(true)),
        ("top_logprobs", json!(3)),
        ("response_format", json!({"type": "json_object"})),
        (
            "response_format",
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}),
        ),
    ] {
        let mut body = json!({"model": "m", "messages": [user("x")]});
        body[key] = value;
        assert_eq!(translate_err(body).kind(), Kind::InvalidArgument, "{key}");
    }
    let role = translate_err(json!({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}));
    assert!(role.message().contains("function"));
}

fn weather_tool() -> Value {
    json!({"type": "function", "function": {
        "name": "get_weather", "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }})
}

#[test]
fn tools_and_tool_choice_variants() {
    let base = || {
        json!({"model": "m", "messages": [user("x")], "tools": [
            weather_tool(),
            {"type": "function", "function": {"name": "now"}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ]})
    };
    let body = translate(base());
    assert_eq!(
        body["tools"],
        json!([
            {"name": "get_weather", "description": "Current weather", "input_schema":
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
            {"name": "now", "input_schema": {"type": "object", "properties": {}}},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
        ])
    );
    assert!(body.get("tool_choice").is_none());

    let choice = |tool_choice: Value, parallel: Option<bool>| {
        let mut body = base();
        body["tool_choice"] = tool_choice;
        if let Some(parallel) = parallel {
            body["parallel_tool_calls"] = json!(parallel);
        }
        let out = translate(body);
        assert!(out.get("parallel_tool_calls").is_none());
        out["tool_choice"].clone()
    };
    assert_eq!(choice(json!("auto"), None), json!({"type": "auto"}));
    assert_eq!(choice(json!("none"), None), json!({"type": "none"}));
    assert_eq!(choice(json!("required"), None), json!({"type": "any"}));
    assert_eq!(
        choice(json!({"type": "function", "function": {"name": "get_weather"}}), None),
        json!({"type": "tool", "name": "get_weather"})
    );
    assert_eq!(
        choice(json!("required"), Some(false)),
        json!({"type": "any", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        choice(Value::Null, Some(false)),
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(choice(json!("none"), Some(false)), json!({"type": "none"}));
    assert_eq!(choice(Value::Null, Some(true)), Value::Null);

    // No tools: no tool_choice either (Anthropic rejects a choice without tools).
    let bare = translate(json!({"model": "m", "messages": [user("x")], "tool_choice": "auto", "tools": []}));
    assert!(bare.get("tool_choice").is_none() && bare.get("tools").is_none());
    let bad = translate_err(
        json!({"model": "m", "messages": [user("x")], "tools": [weather_tool()], "tool_choice": "sometimes"}),
    );
    assert_eq!(bad.kind(), Kind::InvalidArgument);
}

#[test]
fn reasoning_effort_maps_to_a_thinking_budget() {
    let with = |effort: &str, max: Option<u64>| {
        let mut body = json!({"model": "m", "messages": [user("x")], "reasoning_effort": effort});
        if let Some(max) = max {
            body["max_tokens"] = json!(max);
        }
        chat_request(&obj(body)).map(|b| serde_json::from_slice::<Value>(&b).expect("json"))
    };
    let low = with("low", None).expect("low");
    assert_eq!(low["thinking"], json!({"type": "enabled", "budget_tokens": 1024}));
    assert_eq!(low["max_tokens"], 1024 + DEFAULT_MAX_TOKENS);
    assert!(low.get("reasoning_effort").is_none());
    assert_eq!(with("medium", None).expect("medium")["thinking"]["budget_tokens"], 2048);
    let high = with("high", Some(10_000)).expect("high");
    assert_eq!(high["thinking"]["budget_tokens"], 4096);
    assert_eq!(high["max_tokens"], 10_000);
    assert!(with("none", None).expect("none").get("thinking").is_none());
    assert_eq!(
        with("high", Some(4096)).expect_err("too small").kind(),
        Kind::InvalidArgument
    );
    assert_eq!(
        with("extreme", None).expect_err("unknown").kind(),
        Kind::InvalidArgument
    );

    let given = translate(json!({"model": "m", "messages": [user("x")], "reasoning_effort": "low",
        "thinking": {"type": "enabled", "budget_tokens": 8000}}));
    assert_eq!(given["thinking"], json!({"type": "enabled", "budget_tokens": 8000}));
    assert_eq!(given["max_tokens"], 8000 + DEFAULT_MAX_TOKENS);
}

#[test]
fn thinking_blocks_are_replayed_before_tool_use() {
    let body = translate(json!({"model": "m", "messages": [
        user("x"),
        {"role": "assistant", "content": "", "thinking_blocks": [
            {"type": "thinking", "thinking": "Let me check.", "signature": "sig=="},
        ], "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
    ]}));
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "Let me check.", "signature": "sig=="},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
        ])
    );
}

// ---------------------------------------------------------------- response

#[test]
fn text_response_with_cache_usage() {
    let body = br#"{
      "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF", "type": "message", "role": "assistant",
      "model": "claude-sonnet-4-5-20250929",
      "content": [{"type": "text", "text": "Hi! My name is Claude."}, {"type": "text", "text": " Nice to meet you."}],
      "stop_reason": "end_turn", "stop_sequence": null,
      "usage": {"input_tokens": 2095, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1500, "output_tokens": 503}
    }"#;
    let r = chat_response(body).expect("parses");
    assert_eq!(r.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_eq!(r.object, "chat.completion");
    assert_eq!(r.model, "claude-sonnet-4-5-20250929");
    assert!(r.created > 1_600_000_000);
    let choice = &r.choices[0];
    assert_eq!(choice.message.role, "assistant");
    assert_eq!(
        choice.message.content.as_deref(),
        Some("Hi! My name is Claude. Nice to meet you.")
    );
    assert_eq!(choice.finish_reason.as_deref(), Some("stop"));
    assert!(choice.message.tool_calls.is_none());
    let usage = r.usage.expect("usage");
    assert_eq!(usage.prompt_tokens, 2095 + 100 + 1500);
    assert_eq!(usage.completion_tokens, 503);
    assert_eq!(usage.total_tokens, 2095 + 100 + 1500 + 503);
    let details = usage.prompt_tokens_details.as_ref().expect("details");
    assert_eq!(details.cached_tokens, Some(1500));
    assert_eq!(details.extra["cache_creation_tokens"], 100);
}

#[test]
fn tool_use_and_thinking_response() {
    let body = br#"{
      "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-opus-4-1",
      "content": [
        {"type": "thinking", "thinking": "The user wants the weather.", "signature": "EqQBCgIYAhIM"},
        {"type": "text", "text": "I'll check the weather."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA", "unit": "celsius"}}
      ],
      "stop_reason": "tool_use", "stop_sequence": null,
      "usage": {"input_tokens": 472, "output_tokens": 89}
    }"#;
    let r = chat_response(body).expect("parses");
    let m = &r.choices[0].message;
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(m.content.as_deref(), Some("I'll check the weather."));
    assert_eq!(m.reasoning_content.as_deref(), Some("The user wants the weather."));
    assert_eq!(m.extra["thinking_blocks"][0]["signature"], "EqQBCgIYAhIM");
    let calls = m.tool_calls.as_ref().expect("tool calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(calls[0].r#type, "function");
    assert_eq!(calls[0].function.name, "get_weather");
    let args: Value = serde_json::from_str(&calls[0].function.arguments).expect("arguments are JSON");
    assert_eq!(args, json!({"location": "San Francisco, CA", "unit": "celsius"}));
    let usage = r.usage.expect("usage");
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        (472, 89, 561)
    );

    // Tool use only: content is null, as OpenAI sends it.
    let only = chat_response(
        br#"{"id":"m","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use"}"#,
    )
    .expect("parses");
    assert_eq!(only.choices[0].message.content, None);
    assert_eq!(
        only.choices[0].message.tool_calls.as_ref().expect("calls")[0]
            .function
            .arguments,
        "{}"
    );
}

#[test]
fn stop_reasons_map_to_finish_reasons() {
    for (stop, finish) in [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        ("something_new", "something_new"),
    ] {
        let body = json!({"id": "m", "content": [], "stop_reason": stop, "stop_sequence": null});
        let r = chat_response(body.to_string().as_bytes()).expect("parses");
        assert_eq!(r.choices[0].finish_reason.as_deref(), Some(finish), "{stop}");
        assert_eq!(r.choices[0].message.content.as_deref(), Some(""));
    }
    let seq = chat_response(
        br#"{"id":"m","content":[{"type":"text","text":"1 2"}],"stop_reason":"stop_sequence","stop_sequence":"3"}"#,
    )
    .expect("parses");
    assert_eq!(seq.choices[0].extra["stop_sequence"], "3");
}

#[test]
fn malformed_and_error_bodies() {
    for bad in [
        &b"not json"[..],
        b"[1]",
        br#"{"content":"text"}"#,
        br#"{"content":[{"type":"tool_use","id":"t"}]}"#,
    ] {
        assert_eq!(chat_response(bad).expect_err("malformed").kind(), Kind::Serialization);
    }
    let err = chat_response(br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
        .expect_err("error document");
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.message(), "Overloaded");
}

// ---------------------------------------------------------------- errors

fn anthropic_error(kind: &str, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"})
        .to_string()
        .into_bytes()
}

#[test]
fn error_responses_map_by_status_and_type() {
    let cases = [
        (
            400,
            "invalid_request_error",
            "messages: roles must alternate",
            Kind::BadRequest,
        ),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 208310 tokens > 200000 maximum",
            Kind::ContextWindowExceeded,
        ),
        (
            400,
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000",
            Kind::ContextWindowExceeded,
        ),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
            Kind::BadRequest,
        ),
        (
            413,
            "request_too_large",
            "prompt is too long",
            Kind::ContextWindowExceeded,
        ),
        (401, "authentication_error", "invalid x-api-key", Kind::Authentication),
        (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
            Kind::Authentication,
        ),
        (404, "not_found_error", "model: claude-9", Kind::NotFound),
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            Kind::RateLimited,
        ),
        (500, "api_error", "Internal server error", Kind::Server),
        (529, "overloaded_error", "Overloaded", Kind::ServiceUnavailable),
        (500, "overloaded_error", "Overloaded", Kind::ServiceUnavailable),
    ];
    for (status, kind, message, expected) in cases {
        let body = anthropic_error(kind, message);
        let err = error_from_response(status, &body);
        assert_eq!(err.kind(), expected, "{status} {kind} {message}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.message(), message);
        assert_eq!(err.body().expect("body")["error"]["type"], kind);
    }
    let html = error_from_response(502, b"<html>Bad Gateway</html>");
    assert_eq!(html.kind(), Kind::ServiceUnavailable);
    assert!(html.message().contains("Bad Gateway"));
}

// ---------------------------------------------------------------- streaming

/// Runs an SSE transcript through the decoder and a fresh state.
fn run(transcript: &str) -> (StreamState, Vec<ChatCompletionChunk>, Option<crate::Error>) {
    let mut decoder = Decoder::new();
    decoder.feed(transcript.as_bytes());
    let mut state = StreamState::new();
    let mut out = VecDeque::new();
    let mut error = None;
    while let Some(event) = decoder.next_event().expect("valid SSE") {
        if let Err(err) = state.on_event(&event, &mut out) {
            error = Some(err);
            break;
        }
    }
    (state, out.into_iter().collect(), error)
}

fn text_of(chunks: &[ChatCompletionChunk]) -> String {
    chunks
        .iter()
        .filter_map(|c| c.choices.first())
        .filter_map(|c| c.delta.content.as_deref())
        .collect()
}

const TEXT_STREAM: &str = "event: message_start
data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\", \"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"claude-sonnet-4-5\", \"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 25, \"cache_read_input_tokens\": 10, \"cache_creation_input_tokens\": 0, \"output_tokens\": 1}}}

event: content_block_start
data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\", \"text\": \"\"}}

event: ping
data: {\"type\": \"ping\"}

event: content_block_delta
data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"Hello\"}}

event: content_block_delta
data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"!\"}}

event: content_block_stop
data: {\"type\": \"content_block_stop\", \"index\": 0}

event: message_delta
data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\":null}, \"usage\": {\"output_tokens\": 15}}

event: message_stop
data: {\"type\": \"message_stop\"}

";

#[test]
fn text_stream_yields_openai_chunks_and_usage() {
    let (state, chunks, error) = run(TEXT_STREAM);
    assert!(error.is_none());
    assert!(state.finished());
    assert_eq!(chunks.len(), 5, "{chunks:?}");
    for c in &chunks {
        assert_eq!(c.id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
        assert_eq!(c.model, "claude-sonnet-4-5");
        assert_eq!(c.object, "chat.completion.chunk");
    }
    assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
    assert_eq!(text_of(&chunks), "Hello!");
    assert_eq!(chunks[3].choices[0].finish_reason.as_deref(), Some("stop"));
    let last = &chunks[4];
    assert!(last.choices.is_empty());
    let usage = last.usage.as_ref().expect("usage chunk");
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        (35, 15, 50)
    );
    let details = usage.prompt_tokens_details.as_ref().expect("details");
    assert_eq!(details.cached_tokens, Some(10));
    assert_eq!(details.extra["cache_creation_tokens"], 0);
}

#[test]
fn truncated_stream_is_not_finished() {
    let cut = TEXT_STREAM.split("event: message_delta").next().expect("prefix");
    let (state, chunks, error) = run(cut);
    assert!(error.is_none());
    assert!(!state.finished());
    assert_eq!(text_of(&chunks), "Hello!");
}

const TOOL_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-sonnet-4-5","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, let's check the weather:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":", \"unit\": \"fahrenheit\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"tz\": \"PST\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

#[test]
fn tool_use_stream_indexes_calls_and_splits_arguments() {
    let (state, chunks, error) = run(TOOL_STREAM);
    assert!(error.is_none() && state.finished());
    assert_eq!(text_of(&chunks), "Okay, let's check the weather:");
    let deltas: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices.first())
        .filter_map(|c| c.delta.tool_calls.as_ref())
        .flatten()
        .collect();
    // One opening delta per call, then one per non-empty argument fragment.
    assert_eq!(deltas.len(), 6);
    assert_eq!(deltas[0].index, 0);
    assert_eq!(deltas[0].id.as_deref(), Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"));
    assert_eq!(deltas[0].r#type.as_deref(), Some("function"));
    let opening = deltas[0].function.as_ref().expect("function");
    assert_eq!(
        (opening.name.as_deref(), opening.arguments.as_deref()),
        (Some("get_weather"), Some(""))
    );
    let args = |index: u32| -> String {
        deltas
            .iter()
            .filter(|d| d.index == index)
            .filter_map(|d| d.function.as_ref()?.arguments.as_deref())
            .collect()
    };
    let weather: Value = serde_json::from_str(&args(0)).expect("joined arguments are JSON");
    assert_eq!(weather, json!({"location": "San Francisco, CA", "unit": "fahrenheit"}));
    assert_eq!(deltas[4].index, 1);
    assert_eq!(
        deltas[4].function.as_ref().and_then(|f| f.name.as_deref()),
        Some("get_time")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&args(1)).expect("json"),
        json!({"tz": "PST"})
    );
    let finish: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.finish_reason.as_deref())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    let usage = chunks.last().and_then(|c| c.usage.as_ref()).expect("usage");
    assert_eq!((usage.prompt_tokens, usage.completion_tokens), (472, 89));
}

#[test]
fn thinking_stream_goes_to_reasoning_content() {
    let transcript = r#"event: message_start
data: {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 40, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me solve this step by step:\n\n1. First break down 27 * 453"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "\n2. 453 = 400 + 50 + 3"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "27 * 453 = 12,231"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 100}}

event: message_stop
data: {"type": "message_stop"}

"#;
    let (state, chunks, error) = run(transcript);
    assert!(error.is_none() && state.finished());
    let reasoning: String = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.reasoning_content.as_deref())
        .collect();
    assert_eq!(
        reasoning,
        "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3"
    );
    assert_eq!(text_of(&chunks), "27 * 453 = 12,231");
    // role, 2 thinking, 1 text, finish, usage: the signature adds nothing.
    assert_eq!(chunks.len(), 6);
}

#[test]
fn error_event_is_the_mapped_error() {
    let transcript = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n\
        event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
    let (state, chunks, error) = run(transcript);
    let err = error.expect("error event");
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.message(), "Overloaded");
    assert_eq!(err.status(), None);
    assert_eq!(err.body().expect("body")["error"]["type"], "overloaded_error");
    assert!(!state.finished());
    assert_eq!(chunks.len(), 1);

    for (kind, expected) in [
        ("api_error", Kind::Server),
        ("rate_limit_error", Kind::RateLimited),
        ("invalid_request_error", Kind::BadRequest),
        ("authentication_error", Kind::Authentication),
    ] {
        let event = Event {
            event: Some("error".into()),
            data: json!({"type": "error", "error": {"type": kind, "message": "m"}}).to_string(),
            ..Event::default()
        };
        let err = StreamState::new()
            .on_event(&event, &mut VecDeque::new())
            .expect_err("error");
        assert_eq!(err.kind(), expected, "{kind}");
    }
}

#[test]
fn undecodable_events_are_streaming_errors_and_unknown_ones_are_ignored() {
    let mut state = StreamState::new();
    let mut out = VecDeque::new();
    let event = |name: &str, data: &str| Event {
        event: Some(name.to_owned()),
        data: data.to_owned(),
        ..Event::default()
    };
    let err = state
        .on_event(
            &event(
                "content_block_delta",
                "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"text",
            ),
            &mut out,
        )
        .expect_err("broken JSON");
    assert_eq!(err.kind(), Kind::Streaming);
    state.on_event(&event("ping", ""), &mut out).expect("bare ping");
    state
        .on_event(&event("future_event", r#"{"type":"future_event","x":1}"#), &mut out)
        .expect("unknown events are ignored");
    assert!(out.is_empty());
    assert!(!state.finished());
}

#[test]
fn server_tool_blocks_are_not_tool_calls() {
    let transcript = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_ws","model":"claude-sonnet-4-5","usage":{"input_tokens":10,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\": \"weather\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"web_search_tool_result","tool_use_id":"srvtoolu_1","content":[]}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_9","name":"save","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":30}}

event: message_stop
data: {"type":"message_stop"}

"#;
    let (state, chunks, error) = run(transcript);
    assert!(error.is_none() && state.finished());
    let deltas: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.tool_calls.as_ref())
        .flatten()
        .collect();
    assert_eq!(deltas.len(), 2, "only the client tool: {deltas:?}");
    assert!(deltas.iter().all(|d| d.index == 0));
    assert_eq!(deltas[0].id.as_deref(), Some("toolu_9"));
}

#[test]
fn hostile_numbers_neither_overflow_nor_size_memory() {
    let max = u64::MAX;
    let transcript = format!(
        "data: {{\"type\":\"message_start\",\"message\":{{\"usage\":{{\"input_tokens\":{max},\"cache_read_input_tokens\":{max},\"cache_creation_input_tokens\":{max},\"output_tokens\":{max}}}}}}}\n\n\
         data: {{\"type\":\"content_block_start\",\"index\":{max},\"content_block\":{{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\"}}}}\n\n\
         data: {{\"type\":\"content_block_delta\",\"index\":{max},\"delta\":{{\"type\":\"input_json_delta\",\"partial_json\":\"{{}}\"}}}}\n\n\
         data: {{\"type\":\"content_block_delta\",\"index\":-1,\"delta\":{{\"type\":\"text_delta\",\"text\":\"x\"}}}}\n\n\
         data: {{\"type\":\"message_stop\"}}\n\n"
    );
    let (state, chunks, error) = run(&transcript);
    // A negative block index is undecodable; everything before it translated.
    assert_eq!(error.map(|e| e.kind()), Some(Kind::Streaming));
    assert!(!state.finished());
    assert_eq!(chunks.len(), 3);
    let call = &chunks[2].choices[0].delta.tool_calls.as_ref().unwrap()[0];
    assert_eq!(
        (call.index, call.function.as_ref().unwrap().arguments.as_deref()),
        (0, Some("{}"))
    );
    let body = json!({"type": "message", "content": [], "usage": {"input_tokens": max,
        "cache_read_input_tokens": max, "cache_creation_input_tokens": max, "output_tokens": max}});
    let usage = chat_response(body.to_string().as_bytes()).unwrap().usage.unwrap();
    assert_eq!((usage.prompt_tokens, usage.total_tokens), (max, max));
}
