//! Chat chunks -> Messages API events.

use serde_json::{json, Value};

use crate::error::{Error, Kind};
use crate::server::anthropic::stream::{EventWriter, MAX_TOOL_CALLS};
use crate::types::ChatCompletionChunk;

fn chunk(delta: Value, finish: Option<&str>) -> ChatCompletionChunk {
    serde_json::from_value(json!({"id": "chatcmpl-s", "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}))
    .unwrap()
}

fn usage(prompt: u64, completion: u64) -> ChatCompletionChunk {
    serde_json::from_value(json!({"id": "chatcmpl-s", "model": "gpt-x", "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}}))
    .unwrap()
}

/// The (event name, data) pairs of an SSE body; every event's `type` matches its name.
fn parse(bytes: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.ends_with("\n\n"), "{text:?}");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str());
            (name, data)
        })
        .collect()
}

fn run(chunks: &[ChatCompletionChunk]) -> Vec<(String, Value)> {
    let mut writer = EventWriter::new("alias");
    let mut out = Vec::new();
    for c in chunks {
        writer.chunk(c, &mut out);
    }
    writer.finish(&mut out);
    parse(&out)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn text_streams_as_one_block_with_usage_at_the_end() {
    let events = run(&[
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hel"}), None),
        chunk(json!({"content": "lo \"world\"\n"}), None),
        chunk(json!({}), Some("stop")),
        usage(12, 3),
    ]);
    assert_eq!(
        names(&events),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let start = &events[0].1["message"];
    assert_eq!(
        (start["id"].as_str(), start["model"].as_str()),
        (Some("msg_chatcmpl-s"), Some("gpt-x"))
    );
    assert_eq!(events[1].1["content_block"], json!({"type": "text", "text": ""}));
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "Hello \"world\"\n");
    assert_eq!(
        events[5].1["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(events[5].1["usage"], json!({"input_tokens": 12, "output_tokens": 3}));
}

#[test]
fn thinking_text_and_tool_calls_get_their_own_blocks() {
    let call = |index: u32, id: Option<&str>, name: Option<&str>, args: &str| {
        chunk(
            json!({"tool_calls": [{"index": index, "id": id, "function": {"name": name, "arguments": args}}]}),
            None,
        )
    };
    let events = run(&[
        chunk(json!({"reasoning_content": "Plan."}), None),
        chunk(json!({"content": "Let me look."}), None),
        call(0, Some("call_a"), Some("get_weather"), ""),
        call(0, None, None, "{\"city\":"),
        call(0, None, None, "\"Paris\"}"),
        call(1, None, Some("now"), "{}"),
        chunk(json!({}), Some("tool_calls")),
    ]);
    let starts: Vec<(u64, Value)> = events
        .iter()
        .filter(|(n, _)| n == "content_block_start")
        .map(|(_, d)| (d["index"].as_u64().unwrap(), d["content_block"].clone()))
        .collect();
    assert_eq!(
        starts[0],
        (0, json!({"type": "thinking", "thinking": "", "signature": ""}))
    );
    assert_eq!(starts[1], (1, json!({"type": "text", "text": ""})));
    assert_eq!(
        starts[2],
        (
            2,
            json!({"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}})
        )
    );
    assert_eq!(starts[3].0, 3);
    assert!(starts[3].1["id"].as_str().unwrap().starts_with("toolu_"));
    let partial: String = events
        .iter()
        .filter(|(_, d)| d["index"] == 2)
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&partial).unwrap(),
        json!({"city": "Paris"})
    );
    let stops: Vec<u64> = events
        .iter()
        .filter(|(n, _)| n == "content_block_stop")
        .map(|(_, d)| d["index"].as_u64().unwrap())
        .collect();
    assert_eq!(stops, [0, 1, 2, 3]);
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[test]
fn an_empty_stream_still_opens_and_closes_the_message() {
    let events = run(&[]);
    assert_eq!(names(&events), ["message_start", "message_delta", "message_stop"]);
    assert_eq!(events[0].1["message"]["model"], "alias");
    assert!(events[0].1["message"]["id"].as_str().unwrap().starts_with("msg_"));
}

#[test]
fn a_broken_stream_ends_with_an_error_event() {
    let mut writer = EventWriter::new("alias");
    let mut out = Vec::new();
    writer.chunk(&chunk(json!({"content": "partial"}), None), &mut out);
    writer.fail(&Error::new(Kind::Streaming, "the connection closed"), &mut out);
    let events = parse(&out);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(
        data["error"],
        json!({"type": "api_error", "message": "the connection closed"})
    );
    let mut out = Vec::new();
    EventWriter::new("m").fail(&Error::new(Kind::RateLimited, "slow down"), &mut out);
    assert_eq!(parse(&out)[0].1["error"]["type"], "rate_limit_error");
}

#[test]
fn tool_calls_past_the_cap_are_dropped() {
    let many: Vec<ChatCompletionChunk> = (0..=u32::try_from(MAX_TOOL_CALLS).unwrap())
        .map(|i| chunk(json!({"tool_calls": [{"index": i, "id": format!("c{i}"), "function": {"name": "f", "arguments": "{}"}}]}), None))
        .collect();
    let events = run(&many);
    let opened = events.iter().filter(|(n, _)| n == "content_block_start").count();
    assert_eq!(opened, MAX_TOOL_CALLS);
}
