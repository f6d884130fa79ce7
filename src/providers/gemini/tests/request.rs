//! Request paths and translation: roles, media, tools, generation config and schemas.

use super::*;

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
