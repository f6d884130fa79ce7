//! Messages request -> chat-completions body.

use serde_json::{json, Value};

use crate::server::anthropic::request::{translate, Purpose, Translated};

fn create(body: &Value) -> Translated {
    translate(body.to_string().as_bytes(), Purpose::Create).expect("translates")
}

fn refused(body: &Value) -> String {
    translate(body.to_string().as_bytes(), Purpose::Create).expect_err("refused")
}

fn base(messages: Value) -> Value {
    json!({"model": "claude-x", "max_tokens": 64, "messages": messages})
}

#[test]
fn text_system_and_parameters() {
    let mut body = base(json!([{"role": "user", "content": "Hi"}]));
    body["system"] = json!("Be brief.");
    body["temperature"] = json!(0.2);
    body["top_p"] = json!(0.9);
    body["top_k"] = json!(5);
    body["stop_sequences"] = json!(["END"]);
    body["metadata"] = json!({"user_id": "u-1"});
    body["stream"] = json!(true);
    let t = create(&body);
    assert_eq!((t.model.as_str(), t.stream), ("claude-x", true));
    assert_eq!(
        Value::Object(t.body),
        json!({"model": "claude-x", "max_tokens": 64, "temperature": 0.2, "top_p": 0.9, "stop": ["END"],
            "user": "u-1", "stream": true, "stream_options": {"include_usage": true},
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]})
    );
}

#[test]
fn system_blocks_lose_cache_control() {
    let mut body = base(json!([{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]));
    body["system"] = json!([{"type": "text", "text": "A", "cache_control": {"type": "ephemeral"}}]);
    let one = create(&body).body;
    assert_eq!(one["messages"][0], json!({"role": "system", "content": "A"}));
    assert_eq!(one["messages"][1], json!({"role": "user", "content": "Hi"}));
    body["system"] = json!([{"type": "text", "text": "A"}, {"type": "text", "text": "B", "cache_control": {}}]);
    assert_eq!(
        create(&body).body["messages"][0]["content"],
        json!([{"type": "text", "text": "A"}, {"type": "text", "text": "B"}])
    );
}

#[test]
fn images_and_documents_become_parts() {
    let t = create(&base(json!([{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}},
        {"type": "image", "source": {"type": "url", "url": "https://x.test/a.jpg"}},
        {"type": "document", "title": "r.pdf", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
        {"type": "text", "text": "Describe", "cache_control": {"type": "ephemeral"}},
    ]}])));
    assert_eq!(
        t.body["messages"][0]["content"],
        json!([
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}},
            {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "r.pdf"}},
            {"type": "text", "text": "notes"},
            {"type": "text", "text": "Describe"},
        ])
    );
}

#[test]
fn tools_and_tool_choice() {
    let mut body = base(json!([{"role": "user", "content": "Weather?"}]));
    body["tools"] = json!([{"name": "get_weather", "description": "Looks it up",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}, "cache_control": {}}]);
    let function = json!({"type": "function", "function": {"name": "get_weather", "description": "Looks it up",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}});
    assert_eq!(create(&body).body["tools"], json!([function]));
    for (choice, expected) in [
        (json!({"type": "auto"}), json!("auto")),
        (json!({"type": "any"}), json!("required")),
        (json!({"type": "none"}), json!("none")),
        (
            json!({"type": "tool", "name": "get_weather"}),
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
    ] {
        body["tool_choice"] = choice;
        let t = create(&body).body;
        assert_eq!(t["tool_choice"], expected);
        assert!(t.get("parallel_tool_calls").is_none());
    }
    body["tool_choice"] = json!({"type": "auto", "disable_parallel_tool_use": true});
    assert_eq!(create(&body).body["parallel_tool_calls"], json!(false));
    body["tools"] = json!([]);
    let without = create(&body).body;
    assert!(without.get("tools").is_none() && without.get("tool_choice").is_none());
}

#[test]
fn a_tool_use_round_trip_keeps_order() {
    let t = create(&base(json!([
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "toolu_2", "is_error": true, "content": [
                {"type": "text", "text": "no data"},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/map.png"}},
            ]},
            {"type": "text", "text": "Summarise."},
        ]},
    ])));
    assert_eq!(
        t.body["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "no data"},
            {"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://x.test/map.png"}},
                {"type": "text", "text": "Summarise."},
            ]},
        ])
    );
    let only_calls = create(&base(json!([{"role": "assistant", "content": [
        {"type": "tool_use", "id": "t", "name": "f", "input": {}}]}])));
    assert_eq!(only_calls.body["messages"][0]["content"], Value::Null);
}

#[test]
fn thinking_maps_to_reasoning_effort_and_keeps_signed_blocks() {
    let history = json!([
        {"role": "user", "content": "Think"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "thinking", "thinking": "unsigned", "signature": ""},
            {"type": "redacted_thinking", "data": "opaque"},
            {"type": "text", "text": "Done"},
        ]},
    ]);
    let mut body = base(history);
    for (budget, effort) in [(1024, "low"), (3000, "medium"), (10_000, "high")] {
        body["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
        assert_eq!(create(&body).body["reasoning_effort"], effort);
    }
    let kept = create(&body).body;
    assert_eq!(
        kept["messages"][1]["thinking_blocks"],
        json!([{"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "redacted_thinking", "data": "opaque"}])
    );
    assert_eq!(kept["messages"][1]["content"], "Done");
    body["thinking"] = json!({"type": "adaptive"});
    let adaptive = create(&body).body;
    assert!(adaptive.get("reasoning_effort").is_none());
    assert_eq!(
        adaptive["messages"][1]["thinking_blocks"],
        kept["messages"][1]["thinking_blocks"]
    );
    body["thinking"] = json!({"type": "disabled"});
    let off = create(&body).body;
    assert!(off.get("reasoning_effort").is_none());
    assert_eq!(off["messages"][1], json!({"role": "assistant", "content": "Done"}));
}

#[test]
fn output_format_becomes_a_json_schema_and_hints_are_dropped() {
    let mut body = base(json!([{"role": "user", "content": "x"}]));
    body["output_config"] = json!({"effort": "high", "format": {"type": "json_schema", "schema": {"type": "object"}}});
    body["cache_control"] = json!({"type": "ephemeral"});
    body["speed"] = json!("fast");
    let t = create(&body).body;
    assert_eq!(
        t["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}}})
    );
    for dropped in ["output_config", "cache_control", "speed", "reasoning_effort"] {
        assert!(t.get(dropped).is_none(), "{dropped}");
    }
    body["output_config"] = json!({"format": {"type": "text"}});
    assert!(refused(&body).contains("output_config.format"));
}

#[test]
fn count_tokens_needs_no_max_tokens() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    let t = translate(body.to_string().as_bytes(), Purpose::Count).unwrap();
    assert!(t.body.get("max_tokens").is_none());
    assert!(refused(&body).contains("max_tokens"));
}

#[test]
fn bad_input_names_the_field() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases = [
        (json!([1]), "JSON object"),
        (json!({"max_tokens": 5, "messages": user}), "model"),
        (json!({"model": "m", "max_tokens": 0, "messages": user}), "max_tokens"),
        (
            json!({"model": "m", "max_tokens": 5, "messages": []}),
            "at least one message",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "n": 2}),
            "n: unknown parameter",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "container": "c"}),
            "container: unknown",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "stop_sequences": "END"}),
            "stop_sequences",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "metadata": {"user_id": 5}}),
            "metadata.user_id",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "thinking": {"type": "enabled"}}),
            "budget_tokens",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "server tool",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "tools": [{"name": "f"}]}),
            "tools.0.input_schema",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "tools": [{"name": "f", "input_schema": {}}], "tool_choice": {"type": "some"}}),
            "tool_choice.type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": 5}]}),
            "messages.0.content",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "audio"}]}]}),
            "messages.0.content.0",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}),
            "messages.0.content.0.source.type",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}]}),
            "messages.0.content.0.input",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]}),
            "tool_use_id",
        ),
    ];
    for (body, needle) in cases {
        let why = refused(&body);
        assert!(why.contains(needle), "{body}: {why}");
    }
    let not_json = translate(b"{", Purpose::Create).unwrap_err();
    assert!(not_json.contains("not valid JSON"), "{not_json}");
}
