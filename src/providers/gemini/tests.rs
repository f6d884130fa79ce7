//! Unit tests of the Gemini translation on bodies and transcripts shaped like Google's.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::*;
use crate::error::Kind;
use crate::sse::Event;
use crate::types::ChatCompletionChunk;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn translate(v: Value) -> Value {
    serde_json::from_slice(&chat_request(&obj(v)).expect("translates")).expect("json")
}

fn translate_err(v: Value) -> crate::error::Error {
    chat_request(&obj(v)).expect_err("rejected")
}

fn event(data: &str) -> Event {
    Event {
        data: data.to_owned(),
        ..Event::default()
    }
}

fn run_stream(model: &str, events: &[Value]) -> (Vec<ChatCompletionChunk>, StreamState) {
    let mut state = StreamState::new(model);
    let mut out = VecDeque::new();
    for e in events {
        state
            .on_event(&event(&e.to_string()), &mut out)
            .expect("event translates");
    }
    (out.into_iter().collect(), state)
}

// ---- paths ----

#[test]
fn chat_paths() {
    assert_eq!(
        chat_path("gemini-2.5-flash", false).unwrap(),
        "models/gemini-2.5-flash:generateContent"
    );
    assert_eq!(
        chat_path("gemini-2.5-flash", true).unwrap(),
        "models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(
        chat_path("tunedModels/my-tune", false).unwrap(),
        "tunedModels/my-tune:generateContent"
    );
    for bad in [
        "..",
        "../x",
        "tunedModels/../../files",
        "%2e%2e/x",
        "models/.",
        "x\\..\\y",
    ] {
        assert_eq!(
            chat_path(bad, false).unwrap_err().kind(),
            Kind::InvalidArgument,
            "{bad}"
        );
        let err = embed_request(&obj(json!({"input": "a"})), bad).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument, "{bad}");
    }
}

// ---- request translation ----

#[test]
fn system_roles_and_merging() {
    let body = translate(json!({
        "model": "gemini-2.5-flash",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "user", "content": "Again"},
        ],
        "stream": true,
        "stream_options": {"include_usage": true},
        "user": "u-1",
    }));
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]})
    );
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Hi"}, {"text": "there"}]},
            {"role": "model", "parts": [{"text": "Bonjour"}]},
            {"role": "user", "parts": [{"text": "Again"}]},
        ])
    );
    for dropped in ["model", "messages", "stream", "stream_options", "user"] {
        assert!(body.get(dropped).is_none(), "{dropped} must not reach Gemini");
    }
}

#[test]
fn media_parts() {
    let body = translate(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?size=2"}},
        {"type": "image_url", "image_url": "gs://bucket/scan.pdf"},
        {"type": "image_url", "image_url": {"url": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_id": "https://generativelanguage.googleapis.com/v1beta/files/xyz", "format": "video/mp4"}},
    ]}]}));
    assert_eq!(
        body["contents"][0]["parts"],
        json!([
            {"text": "What is this?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}},
            {"fileData": {"fileUri": "https://example.com/cat.JPG?size=2", "mimeType": "image/jpeg"}},
            {"fileData": {"fileUri": "gs://bucket/scan.pdf", "mimeType": "application/pdf"}},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc"}},
            {"inlineData": {"mimeType": "audio/mp3", "data": "UklGRg=="}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
            {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/xyz", "mimeType": "video/mp4"}},
        ])
    );
    let err = translate_err(json!({"messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}]}));
    assert_eq!(err.kind(), Kind::InvalidArgument);
    let err = translate_err(json!({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}]}]}));
    assert_eq!(err.kind(), Kind::InvalidArgument);
}

#[test]
fn tools_calls_and_results() {
    let body = translate(json!({
        "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""},
                 "thought_signature": "c2ln"},
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "{\"temp\": 21}"},
            {"role": "tool", "tool_call_id": "call_b", "content": "12:00"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "get_weather", "description": "Weather by city",
             "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                            "required": ["city"], "additionalProperties": false}, "strict": true}},
            {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
            {"googleSearch": {}},
        ],
        "tool_choice": "required",
        "parallel_tool_calls": true,
    }));
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}, "thoughtSignature": "c2ln"},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_time", "response": {"result": "12:00"}}},
            ]},
        ])
    );
    assert_eq!(
        body["tools"],
        json!([
            {"functionDeclarations": [
                {"name": "get_weather", "description": "Weather by city",
                 "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
                {"name": "get_time"},
            ]},
            {"googleSearch": {}},
        ])
    );
    assert_eq!(body["toolConfig"], json!({"functionCallingConfig": {"mode": "ANY"}}));
    assert!(body.get("parallel_tool_calls").is_none());
}

#[test]
fn tool_choice_modes() {
    let base = |choice: Value| {
        translate(json!({"messages": [{"role": "user", "content": "x"}], "tool_choice": choice}))["toolConfig"]
            ["functionCallingConfig"]
            .clone()
    };
    assert_eq!(base(json!("auto")), json!({"mode": "AUTO"}));
    assert_eq!(base(json!("none")), json!({"mode": "NONE"}));
    assert_eq!(
        base(json!({"type": "function", "function": {"name": "get_weather"}})),
        json!({"mode": "ANY", "allowedFunctionNames": ["get_weather"]})
    );
}

#[test]
fn bad_tool_history_is_invalid_argument() {
    let bad_args = translate_err(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
    ]}));
    assert_eq!(bad_args.kind(), Kind::InvalidArgument);
    assert!(bad_args.message().contains("not valid JSON"), "{}", bad_args.message());
    let unknown_id = translate_err(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "tool", "tool_call_id": "nope", "content": "1"},
    ]}));
    assert_eq!(unknown_id.kind(), Kind::InvalidArgument);
    // A named tool message (legacy `function` role) needs no lookup.
    let named = translate(json!({"messages": [
        {"role": "user", "content": "x"},
        {"role": "function", "name": "f", "content": "[1,2]"},
    ]}));
    assert_eq!(
        named["contents"][0]["parts"][1],
        json!({"functionResponse": {"name": "f", "response": {"result": "[1,2]"}}})
    );
    assert_eq!(translate_err(json!({"messages": []})).kind(), Kind::InvalidArgument);
    assert_eq!(
        translate_err(json!({"messages": [{"role": "system", "content": "only system"}]})).kind(),
        Kind::InvalidArgument
    );
    assert_eq!(
        translate_err(json!({"messages": [{"role": "wizard", "content": "x"}]})).kind(),
        Kind::InvalidArgument
    );
}

#[test]
fn generation_config_mapping() {
    let body = translate(json!({
        "messages": [{"role": "user", "content": "x"}],
        "temperature": 0.2, "top_p": 0.9, "top_k": 40,
        "max_tokens": 100, "max_completion_tokens": 50,
        "stop": "END", "n": 2, "seed": 7,
        "presence_penalty": 0.5, "frequency_penalty": -0.5,
        "reasoning_effort": "low",
        "logprobs": true, "top_logprobs": 3,
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "cachedContent": "cachedContents/abc",
    }));
    assert_eq!(
        body["generationConfig"],
        json!({
            "temperature": 0.2, "topP": 0.9, "topK": 40, "maxOutputTokens": 50,
            "candidateCount": 2, "seed": 7, "presencePenalty": 0.5, "frequencyPenalty": -0.5,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": true},
        })
    );
    assert_eq!(body["safetySettings"][0]["threshold"], "BLOCK_NONE");
    assert_eq!(body["cachedContent"], "cachedContents/abc");
    assert!(body.get("logprobs").is_none() && body.get("top_logprobs").is_none());

    let off = translate(
        json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "none",
        "stop": ["a", "b"], "generationConfig": {"topK": 3, "responseModalities": ["TEXT"]}}),
    );
    assert_eq!(
        off["generationConfig"],
        json!({"stopSequences": ["a", "b"], "thinkingConfig": {"thinkingBudget": 0}, "topK": 3, "responseModalities": ["TEXT"]})
    );
    assert_eq!(thinking_budget("high"), Some(24576));
    let bad = translate_err(json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"}));
    assert_eq!(bad.kind(), Kind::InvalidArgument);
}

#[test]
fn response_format_json_schema_is_sanitised() {
    let body = translate(json!({
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "description": "Full name"},
                "nickname": {"type": ["string", "null"]},
                "kind": {"const": "person"},
                "address": {"$ref": "#/$defs/Address"},
                "tags": {"type": "array", "items": {"type": "string", "additionalProperties": false}},
                "age": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": null},
            },
            "required": ["name"],
            "$defs": {"Address": {"type": "object", "additionalProperties": false,
                                  "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        }}},
    }));
    let config = &body["generationConfig"];
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(
        config["responseSchema"],
        json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "description": "Full name"},
                "nickname": {"type": "string", "nullable": true},
                "kind": {"enum": ["person"]},
                "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "age": {"default": null, "nullable": true, "type": "integer"},
            },
            "required": ["name"],
        })
    );
    let plain =
        translate(json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}));
    assert_eq!(
        plain["generationConfig"],
        json!({"responseMimeType": "application/json"})
    );
}

// ---- response translation ----

#[test]
fn text_response_with_usage() {
    let body = br#"{
      "candidates": [{
        "content": {"parts": [{"text": "Hello"}, {"text": " world"}], "role": "model"},
        "finishReason": "STOP", "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]
      }],
      "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 2, "totalTokenCount": 10,
                        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]},
      "modelVersion": "gemini-2.0-flash-001",
      "responseId": "resp-123"
    }"#;
    let r = chat_response(body, "gemini-2.0-flash").unwrap();
    assert_eq!(r.id, "resp-123");
    assert_eq!(r.object, "chat.completion");
    assert_eq!(r.model, "gemini-2.0-flash-001");
    assert!(r.created > 1_600_000_000);
    let c = &r.choices[0];
    assert_eq!(c.message.role, "assistant");
    assert_eq!(c.message.content.as_deref(), Some("Hello world"));
    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
    assert_eq!(c.extra["native_finish_reason"], "STOP");
    assert!(c.extra.contains_key("safetyRatings"));
    let u = r.usage.unwrap();
    assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (8, 2, 10));

    let bare = chat_response(
        br#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}"#,
        "m",
    )
    .unwrap();
    assert_eq!(bare.model, "m");
    assert!(bare.id.starts_with("chatcmpl-"));
    assert!(bare.usage.is_none());
}

#[test]
fn thinking_and_cached_tokens() {
    let body = br#"{
      "candidates": [{"content": {"parts": [
          {"text": "Let me compare the numbers.", "thought": true},
          {"text": "9.11 is smaller."}], "role": "model"}, "finishReason": "STOP", "index": 0}],
      "usageMetadata": {"promptTokenCount": 1200, "candidatesTokenCount": 5, "totalTokenCount": 1305,
                        "thoughtsTokenCount": 100, "cachedContentTokenCount": 1024},
      "modelVersion": "gemini-2.5-flash"
    }"#;
    let r = chat_response(body, "gemini-2.5-flash").unwrap();
    let m = &r.choices[0].message;
    assert_eq!(m.content.as_deref(), Some("9.11 is smaller."));
    assert_eq!(m.reasoning_content.as_deref(), Some("Let me compare the numbers."));
    let u = r.usage.unwrap();
    assert_eq!(u.prompt_tokens, 1200);
    assert_eq!(u.completion_tokens, 105);
    assert_eq!(u.total_tokens, 1305);
    assert_eq!(u.prompt_tokens_details.unwrap().cached_tokens, Some(1024));
    assert_eq!(u.completion_tokens_details.unwrap().reasoning_tokens, Some(100));
}

#[test]
fn function_call_response() {
    let body = br#"{
      "candidates": [{"content": {"role": "model", "parts": [
          {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2lnMQ=="},
          {"functionCall": {"name": "get_time", "args": {}}}]},
        "finishReason": "STOP", "index": 0}],
      "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 12, "totalTokenCount": 42}
    }"#;
    let r = chat_response(body, "gemini-2.5-pro").unwrap();
    let c = &r.choices[0];
    assert_eq!(c.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(c.message.content, None);
    let calls = c.message.tool_calls.as_ref().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].r#type, "function");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(&calls[0].function.arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(calls[1].function.arguments, "{}");
    assert!(calls[0].id.starts_with("call_") && calls[1].id.starts_with("call_"));
    assert_ne!(calls[0].id, calls[1].id);
    assert_eq!(calls[0].extra["thought_signature"], "c2lnMQ==");

    // The assistant message fed back as history reproduces the call, signature included.
    let history = json!({"messages": [
        {"role": "user", "content": "Weather?"},
        crate::types::ToJson::to_json(&c.message),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "sunny"},
    ]});
    let next = translate(history);
    assert_eq!(next["contents"][1]["parts"][0]["thoughtSignature"], "c2lnMQ==");
    assert_eq!(
        next["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );
}

#[test]
fn finish_reasons() {
    let one = |reason: &str, text: bool| {
        let parts = if text { json!([{"text": "partial"}]) } else { json!([]) };
        let body = json!({"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": reason}]});
        chat_response(body.to_string().as_bytes(), "m")
    };
    let reason = |r: &str| one(r, true).unwrap().choices[0].finish_reason.clone().unwrap();
    assert_eq!(reason("MAX_TOKENS"), "length");
    assert_eq!(reason("SAFETY"), "content_filter");
    assert_eq!(reason("RECITATION"), "content_filter");
    assert_eq!(reason("OTHER"), "stop");
    assert_eq!(
        one("MAX_TOKENS", true).unwrap().choices[0].message.content.as_deref(),
        Some("partial")
    );
    for blocked in ["SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"] {
        assert_eq!(
            one(blocked, false).unwrap_err().kind(),
            Kind::ContentPolicy,
            "{blocked}"
        );
    }
}

#[test]
fn blocked_prompt() {
    let body = br#"{"promptFeedback": {"blockReason": "SAFETY", "safetyRatings": [
        {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}]},
      "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}, "modelVersion": "gemini-2.5-flash"}"#;
    let err = chat_response(body, "m").unwrap_err();
    assert_eq!(err.kind(), Kind::ContentPolicy);
    assert!(err.message().contains("SAFETY"), "{}", err.message());
    let safety_stop = br#"{"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[
        {"category":"HARM_CATEGORY_HARASSMENT","probability":"HIGH","blocked":true}]}]}"#;
    let err = chat_response(safety_stop, "m").unwrap_err();
    assert_eq!(err.kind(), Kind::ContentPolicy);
    assert!(err.message().contains("HARM_CATEGORY_HARASSMENT"), "{}", err.message());
    assert_eq!(chat_response(b"not json", "m").unwrap_err().kind(), Kind::Serialization);
}

// ---- errors ----

#[test]
fn error_bodies() {
    let cases: &[(u16, &str, Kind)] = &[
        (
            400,
            r#"{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"foo\": Cannot find field.","status":"INVALID_ARGUMENT"}}"#,
            Kind::BadRequest,
        ),
        (
            400,
            r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
            Kind::ContextWindowExceeded,
        ),
        (
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}"#,
            Kind::Authentication,
        ),
        (
            403,
            r#"{"error":{"code":403,"message":"Method doesn't allow unregistered callers.","status":"PERMISSION_DENIED"}}"#,
            Kind::Authentication,
        ),
        (
            404,
            r#"{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta","status":"NOT_FOUND"}}"#,
            Kind::NotFound,
        ),
        (
            500,
            r#"{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}"#,
            Kind::Server,
        ),
        (
            503,
            r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
            Kind::ServiceUnavailable,
        ),
    ];
    for (status, body, kind) in cases {
        let err = error_from_response(*status, body.as_bytes());
        assert_eq!(err.kind(), *kind, "{body}");
        assert_eq!(err.status(), Some(*status));
        let parsed: Value = serde_json::from_str(body).unwrap();
        assert_eq!(err.body(), Some(&parsed));
        assert_eq!(err.message(), parsed["error"]["message"].as_str().unwrap());
    }
}

#[test]
fn rate_limit_carries_retry_delay() {
    let body = br#"{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
      "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},
                 {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}}"#;
    let err = error_from_response(429, body);
    assert_eq!(err.kind(), Kind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(37)));
    // streamGenerateContent without alt=sse wraps the error in an array.
    let wrapped = br#"[{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}]"#;
    let err = error_from_response(503, wrapped);
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.message(), "busy");
    let html = error_from_response(502, b"<html>Bad Gateway</html>");
    assert_eq!(html.kind(), Kind::ServiceUnavailable);
}

// ---- streaming ----

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

// ---- embeddings ----

#[test]
fn embed_request_shapes() {
    let (path, body) = embed_request(
        &obj(json!({"model": "gemini-embedding-001", "input": "hello", "dimensions": 256, "encoding_format": "base64", "taskType": "RETRIEVAL_QUERY"})),
        "gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(path, "models/gemini-embedding-001:embedContent");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"content": {"parts": [{"text": "hello"}]}, "outputDimensionality": 256, "taskType": "RETRIEVAL_QUERY"})
    );
    let (path, body) = embed_request(&obj(json!({"input": ["a", "b"]})), "text-embedding-004").unwrap();
    assert_eq!(path, "models/text-embedding-004:batchEmbedContents");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}},
        ]})
    );
    for bad in [
        json!({"input": []}),
        json!({"input": [1, 2]}),
        json!({}),
        json!({"input": ""}),
    ] {
        assert_eq!(embed_request(&obj(bad), "m").unwrap_err().kind(), Kind::InvalidArgument);
    }
}

#[test]
fn embed_response_shapes() {
    let one = embed_response(
        br#"{"embedding": {"values": [0.25, -0.5, 1.0]}}"#,
        "gemini-embedding-001",
    )
    .unwrap();
    assert_eq!(one.object, "list");
    assert_eq!(one.model, "gemini-embedding-001");
    assert_eq!(one.data.len(), 1);
    assert_eq!(one.data[0].embedding.0, vec![0.25, -0.5, 1.0]);
    assert_eq!(one.usage.prompt_tokens, 0);
    let many = embed_response(
        br#"{"embeddings": [{"values": [1.0]}, {"values": [2.0]}, {"values": [3.0]}], "usageMetadata": {"promptTokenCount": 6}}"#,
        "m",
    )
    .unwrap();
    let got: Vec<(u32, f32)> = many.data.iter().map(|d| (d.index, d.embedding.0[0])).collect();
    assert_eq!(got, vec![(0, 1.0), (1, 2.0), (2, 3.0)]);
    assert_eq!(many.usage.total_tokens, 6);
    assert_eq!(
        embed_response(br#"{"nothing": 1}"#, "m").unwrap_err().kind(),
        Kind::Serialization
    );
}

// ---- hostile numbers ----

fn retry_body(delay: &str) -> Vec<u8> {
    json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED",
        "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]}})
    .to_string()
    .into_bytes()
}

#[test]
fn retry_delay_never_panics_and_is_capped() {
    let cap = Some(Duration::from_secs(120));
    let cases: &[(&str, Option<Duration>)] = &[
        ("37s", Some(Duration::from_secs(37))),
        ("1.5s", Some(Duration::from_millis(1500))),
        (" 2s ", Some(Duration::from_secs(2))),
        ("0s", Some(Duration::ZERO)),
        ("0.000000001s", Some(Duration::from_nanos(1))),
        ("120s", cap),
        ("121s", cap),
        ("1e30s", cap),
        ("1e308s", cap),
        ("18446744073709551615s", cap),
        ("99999999999999999999999999s", cap),
        ("-5s", None),
        ("-0.1s", None),
        ("-1e30s", None),
        ("NaNs", None),
        ("nans", None),
        ("infs", None),
        ("-infs", None),
        ("1e400s", None),
        ("s", None),
        ("", None),
        ("5", None),
        ("5ms", None),
        ("fives", None),
    ];
    for (delay, want) in cases {
        let err = error_from_response(429, &retry_body(delay));
        assert_eq!(err.kind(), Kind::RateLimited, "{delay:?}");
        assert_eq!(err.retry_after(), *want, "{delay:?}");
    }
    // The same document as a stream event.
    let mut out = VecDeque::new();
    let doc = String::from_utf8(retry_body("1e30s")).unwrap();
    let err = StreamState::new("m").on_event(&event(&doc), &mut out).unwrap_err();
    assert_eq!(err.retry_after(), cap);
}

#[test]
fn stream_candidate_index_is_bounded() {
    // Regression: an index of u32::MAX used to size a Vec and abort the process.
    for index in [
        json!(128),
        json!(4_294_967_295u64),
        json!(4_294_967_296u64),
        json!(u64::MAX),
    ] {
        let doc = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": index}]});
        let mut out = VecDeque::new();
        let err = StreamState::new("m")
            .on_event(&event(&doc.to_string()), &mut out)
            .unwrap_err();
        assert_eq!(err.kind(), Kind::Streaming, "{index}");
        assert!(err.message().contains("choice index"), "{}", err.message());
        assert!(out.is_empty());
    }
    // The largest index allowed, and indexes that are not unsigned integers (the position).
    for index in [json!(127), json!(-1), json!(1e30), json!("7"), json!(1.5), Value::Null] {
        let doc = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": index}]});
        let (chunks, _) = run_stream("m", &[doc]);
        let want = if index == json!(127) { 127 } else { 0 };
        assert_eq!(chunks[0].choices[0].index, want, "{index}");
    }
}

#[test]
fn response_candidate_index_is_bounded() {
    for index in [json!(128), json!(4_294_967_295u64), json!(u64::MAX)] {
        let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": index}]});
        let err = chat_response(body.to_string().as_bytes(), "m").unwrap_err();
        assert_eq!(err.kind(), Kind::Serialization, "{index}");
        assert!(err.message().contains("choice index"), "{}", err.message());
    }
    let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": 127}]});
    assert_eq!(
        chat_response(body.to_string().as_bytes(), "m").unwrap().choices[0].index,
        127
    );
}

#[test]
fn huge_token_counts_saturate() {
    let max = u64::MAX;
    let body = json!({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": max, "toolUsePromptTokenCount": max,
            "candidatesTokenCount": max, "thoughtsTokenCount": max}});
    let usage = chat_response(body.to_string().as_bytes(), "m").unwrap().usage.unwrap();
    assert_eq!(
        (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens),
        (max, max, max)
    );
    let (chunks, _) = run_stream("m", &[body]);
    assert_eq!(chunks.last().unwrap().usage.as_ref().unwrap().total_tokens, max);
}
