//! Stream translation: text, thoughts, tool calls and errors from SSE events.

use super::*;

fn sse_text_events() -> Vec<Value> {
    vec![
        json!({"candidates": [{"content": {"parts": [{"text": "The"}], "role": "model"}, "index": 0}],
               "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
               "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}),
        json!({"candidates": [{"content": {"parts": [{"text": " sky is"}], "role": "model"}, "index": 0}],
               "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
               "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}),
        json!({"candidates": [{"content": {"parts": [{"text": " blue."}], "role": "model"}, "finishReason": "STOP", "index": 0}],
               "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4, "totalTokenCount": 33, "thoughtsTokenCount": 20},
               "modelVersion": "gemini-2.5-flash", "responseId": "r-1"}),
    ]
}

#[test]
fn stream_text_with_usage() {
    let (chunks, state) = run_stream("gemini-2.5-flash", &sse_text_events());
    assert!(state.finished());
    assert_eq!(chunks.len(), 4);
    assert!(chunks
        .iter()
        .all(|c| c.id == "r-1" && c.object == "chat.completion.chunk"));
    assert!(chunks.iter().all(|c| c.model == "gemini-2.5-flash"));
    assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
    assert_eq!(chunks[1].choices[0].delta.role, None);
    let text: String = chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|c| c.delta.content.clone())
        .collect();
    assert_eq!(text, "The sky is blue.");
    assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(chunks[1].choices[0].finish_reason, None);
    let usage = chunks[3].usage.as_ref().unwrap();
    assert!(chunks[3].choices.is_empty());
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        (9, 24, 33)
    );
    assert!(chunks[..3].iter().all(|c| c.usage.is_none()));
}

#[test]
fn stream_not_finished_until_finish_reason() {
    let events = sse_text_events();
    let (chunks, state) = run_stream("m", &events[..2]);
    assert_eq!(chunks.len(), 2);
    assert!(!state.finished());
}

#[test]
fn stream_thoughts_and_tool_calls() {
    let events = vec![
        json!({"candidates": [{"content": {"parts": [{"text": "Need the weather tool.", "thought": true}], "role": "model"}, "index": 0}]}),
        json!({"candidates": [{"content": {"parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
            {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}], "role": "model"},
            "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10, "totalTokenCount": 30}}),
    ];
    let (chunks, state) = run_stream("gemini-2.5-flash", &events);
    assert!(state.finished());
    assert_eq!(
        chunks[0].choices[0].delta.reasoning_content.as_deref(),
        Some("Need the weather tool.")
    );
    assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
    let calls = chunks[1].choices[0].delta.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].index, calls[1].index), (0, 1));
    let f = calls[1].function.as_ref().unwrap();
    assert_eq!(f.name.as_deref(), Some("get_weather"));
    assert_eq!(f.arguments.as_deref(), Some(r#"{"city":"Rome"}"#));
    assert!(calls[0].id.as_deref().unwrap().starts_with("call_"));
    assert_eq!(chunks[1].choices[0].finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(chunks[2].usage.as_ref().unwrap().total_tokens, 30);
}

#[test]
fn stream_errors() {
    let mut state = StreamState::new("m");
    let mut out = VecDeque::new();
    let err = state
        .on_event(
            &event(r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#),
            &mut out,
        )
        .unwrap_err();
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.message(), "The model is overloaded.");

    let blocked = r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":5}}"#;
    let err = StreamState::new("m").on_event(&event(blocked), &mut out).unwrap_err();
    assert_eq!(err.kind(), Kind::ContentPolicy);

    let err = StreamState::new("m")
        .on_event(&event("{not json"), &mut out)
        .unwrap_err();
    assert_eq!(err.kind(), Kind::Streaming);

    // A safety stop before any text is an error; after some text it is a content_filter finish.
    let stop = r#"{"candidates":[{"finishReason":"SAFETY","index":0}]}"#;
    let err = StreamState::new("m").on_event(&event(stop), &mut out).unwrap_err();
    assert_eq!(err.kind(), Kind::ContentPolicy);
    assert!(out.is_empty());
    let mut state = StreamState::new("m");
    state
        .on_event(
            &event(r#"{"candidates":[{"content":{"parts":[{"text":"Once"}]},"index":0}]}"#),
            &mut out,
        )
        .unwrap();
    state.on_event(&event(stop), &mut out).unwrap();
    assert_eq!(
        out.back().unwrap().choices[0].finish_reason.as_deref(),
        Some("content_filter")
    );
    assert!(state.finished());
}
