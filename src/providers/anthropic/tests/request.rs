//! Request translation: messages, system prompts, tools, media, sampling and thinking.

use super::*;

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
