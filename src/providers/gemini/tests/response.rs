//! Response translation and error bodies: text, thinking, function calls, finish reasons,
//! blocked prompts and retry delays.

use super::*;

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
