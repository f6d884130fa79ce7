//! Hostile numbers: retry delays, candidate indexes and token counts that must neither panic
//! nor overflow.

use super::*;

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
