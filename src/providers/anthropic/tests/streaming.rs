//! Stream translation: event transcripts into OpenAI chunks, errors and hostile numbers.

use super::*;

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
