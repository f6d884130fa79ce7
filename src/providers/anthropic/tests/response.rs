//! Response translation: text, tool use, thinking, stop reasons and malformed bodies.

use super::*;

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
