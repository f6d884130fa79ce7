//! Error documents mapped to error kinds by status and type.

use super::*;

fn anthropic_error(kind: &str, message: &str) -> Vec<u8> {
    json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011"})
        .to_string()
        .into_bytes()
}

#[test]
fn error_responses_map_by_status_and_type() {
    let cases = [
        (
            400,
            "invalid_request_error",
            "messages: roles must alternate",
            Kind::BadRequest,
        ),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 208310 tokens > 200000 maximum",
            Kind::ContextWindowExceeded,
        ),
        (
            400,
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000",
            Kind::ContextWindowExceeded,
        ),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes.",
            Kind::BadRequest,
        ),
        (
            413,
            "request_too_large",
            "prompt is too long",
            Kind::ContextWindowExceeded,
        ),
        (401, "authentication_error", "invalid x-api-key", Kind::Authentication),
        (
            403,
            "permission_error",
            "Your API key does not have permission to use the specified resource.",
            Kind::Authentication,
        ),
        (404, "not_found_error", "model: claude-9", Kind::NotFound),
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
            Kind::RateLimited,
        ),
        (500, "api_error", "Internal server error", Kind::Server),
        (529, "overloaded_error", "Overloaded", Kind::ServiceUnavailable),
        (500, "overloaded_error", "Overloaded", Kind::ServiceUnavailable),
    ];
    for (status, kind, message, expected) in cases {
        let body = anthropic_error(kind, message);
        let err = error_from_response(status, &body);
        assert_eq!(err.kind(), expected, "{status} {kind} {message}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.message(), message);
        assert_eq!(err.body().expect("body")["error"]["type"], kind);
    }
    let html = error_from_response(502, b"<html>Bad Gateway</html>");
    assert_eq!(html.kind(), Kind::ServiceUnavailable);
    assert!(html.message().contains("Bad Gateway"));
}
