//! Chat completion -> Messages API `message`.

use serde_json::{json, Value};

use crate::server::anthropic::response::message_of;
use crate::types::ChatCompletionResponse;

fn answer(value: Value) -> ChatCompletionResponse {
    serde_json::from_value(value).expect("a chat completion")
}

#[test]
fn text_tool_calls_and_usage() {
    let done = answer(
        json!({"id": "chatcmpl-1", "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "tool_calls",
        "message": {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "", "type": "function", "function": {"name": "now", "arguments": ""}},
        ]}}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 7, "total_tokens": 107,
            "prompt_tokens_details": {"cached_tokens": 60, "cache_creation_tokens": 10}}}),
    );
    let m = message_of(&done, "alias");
    assert_eq!(m["id"], "msg_chatcmpl-1");
    assert_eq!(
        (m["type"].as_str(), m["role"].as_str(), m["model"].as_str()),
        (Some("message"), Some("assistant"), Some("gpt-x"))
    );
    assert_eq!(m["content"][0], json!({"type": "text", "text": "Checking."}));
    assert_eq!(
        m["content"][1],
        json!({"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    assert!(m["content"][2]["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(m["content"][2]["input"], json!({}));
    assert_eq!(
        (m["stop_reason"].as_str(), &m["stop_sequence"]),
        (Some("tool_use"), &Value::Null)
    );
    assert_eq!(
        m["usage"],
        json!({"input_tokens": 30, "output_tokens": 7, "cache_read_input_tokens": 60, "cache_creation_input_tokens": 10})
    );
}

#[test]
fn stop_reasons() {
    let with = |finish: Value, extra: Value| {
        let mut choice = json!({"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": finish});
        if let (Value::Object(c), Value::Object(e)) = (&mut choice, extra) {
            c.extend(e);
        }
        let m = message_of(&answer(json!({"id": "msg_1", "choices": [choice]})), "alias");
        assert_eq!((m["id"].as_str(), m["model"].as_str()), (Some("msg_1"), Some("alias")));
        assert_eq!(m["usage"], json!({"input_tokens": 0, "output_tokens": 0}));
        (
            m["stop_reason"].as_str().unwrap().to_owned(),
            m["stop_sequence"].clone(),
        )
    };
    let none = json!({});
    assert_eq!(with(json!("stop"), none.clone()).0, "end_turn");
    assert_eq!(with(json!("length"), none.clone()).0, "max_tokens");
    assert_eq!(with(json!("content_filter"), none.clone()).0, "refusal");
    assert_eq!(with(json!("tool_calls"), none.clone()).0, "tool_use");
    assert_eq!(with(Value::Null, none).0, "end_turn");
    assert_eq!(
        with(json!("stop"), json!({"stop_sequence": "END"})),
        ("stop_sequence".to_owned(), json!("END"))
    );
}

#[test]
fn thinking_comes_first() {
    let signed = json!([{"type": "thinking", "thinking": "t", "signature": "s"}]);
    let from_claude = answer(json!({"choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": "A", "reasoning_content": "t", "thinking_blocks": signed}}]}));
    let m = message_of(&from_claude, "m");
    assert_eq!(m["content"], json!([signed[0], {"type": "text", "text": "A"}]));
    let from_other = answer(json!({"choices": [{"index": 0, "message": {"content": "", "reasoning_content": "why"}}]}));
    assert_eq!(
        message_of(&from_other, "m")["content"],
        json!([{"type": "thinking", "thinking": "why", "signature": ""}])
    );
    let empty = answer(json!({"choices": []}));
    assert_eq!(message_of(&empty, "m")["content"], json!([]));
}
