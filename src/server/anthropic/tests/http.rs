//! `/v1/messages` through the proxy to the mock provider, over real HTTP on 127.0.0.1: an
//! OpenAI-compatible upstream and an Anthropic one (a full Anthropic -> chat -> Anthropic trip).

use serde_json::{json, Value};

use crate::mock::{Fault, MockConfig, MockServer};

/// A proxy with master key `sk-master` in front of `upstream`, speaking the protocol
/// `model_hint` selects; its base URL and the sender that stops it.
async fn proxy(upstream: &MockServer, model_hint: Option<&str>) -> (String, tokio::sync::oneshot::Sender<()>) {
    crate::server::tests::proxy_with_hint(upstream, model_hint).await
}

/// Posts `body` to `url` as Anthropic SDKs do (`x-api-key`, `anthropic-version`).
async fn post(url: &str, key: &str, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

/// The (event name, data) pairs of an SSE body.
fn events_of(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|event| {
            let (name, data) = event.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            (
                name,
                serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap(),
            )
        })
        .collect()
}

fn hello(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 256, "system": [{"type": "text", "text": "Be kind."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello anthropic"}]}], "stream": stream})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_plain_and_streamed_from_an_openai_upstream() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, None).await;

    let answer = post(&format!("{at}/v1/messages"), "sk-master", &hello(false)).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("x-request-id"));
    let message = json_of(answer).await;
    assert_eq!(message["type"], "message");
    assert_eq!(message["content"], json!([{"type": "text", "text": "hello anthropic"}]));
    assert_eq!(message["stop_reason"], "end_turn");
    assert!(message["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(message["usage"]["output_tokens"].as_u64().unwrap() > 0);
    let sent = upstream.requests()[0].json().unwrap();
    assert_eq!(sent["max_tokens"], 256);
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Be kind."}));

    let streamed = post(&format!("{at}/messages"), "sk-master", &hello(true)).await;
    assert_eq!(streamed.headers()["content-type"], "text/event-stream");
    let events = events_of(&streamed.text().await.unwrap());
    assert_eq!(events.first().unwrap().0, "message_start");
    assert_eq!(events.last().unwrap().0, "message_stop");
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "hello anthropic");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0, "{delta}");
    assert_eq!(
        upstream.requests()[1].json().unwrap()["stream_options"],
        json!({"include_usage": true})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_call_answer_becomes_tool_use() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, None).await;
    let calls = json!({"id": "chatcmpl-t", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_9", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]}}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}});
    upstream.push_faults(vec![Fault {
        body: Some(calls),
        ..Fault::default()
    }]);
    let mut body = hello(false);
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    body["tool_choice"] = json!({"type": "any"});
    let message = json_of(post(&format!("{at}/v1/messages"), "sk-master", &body).await).await;
    assert_eq!(
        message["content"],
        json!([{"type": "tool_use", "id": "call_9", "name": "get_weather", "input": {"city": "Oslo"}}])
    );
    assert_eq!(message["stop_reason"], "tool_use");
    let sent = upstream.requests()[0].json().unwrap();
    assert_eq!(sent["tool_choice"], "required");
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_through_an_anthropic_upstream() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, Some("anthropic")).await;
    let mut body = hello(false);
    body["model"] = json!("claude-mock");
    let message = json_of(post(&format!("{at}/v1/messages"), "sk-master", &body).await).await;
    assert_eq!(message["content"][0]["text"], "hello anthropic");
    let sent = &upstream.requests()[0];
    assert!(sent.path.ends_with("/messages"), "{}", sent.path);
    assert_eq!(sent.json().unwrap()["system"], "Be kind.");

    body["stream"] = json!(true);
    let streamed = post(&format!("{at}/v1/messages"), "sk-master", &body).await;
    let events = events_of(&streamed.text().await.unwrap());
    let text: String = events.iter().filter_map(|(_, d)| d["delta"]["text"].as_str()).collect();
    assert_eq!(text, "hello anthropic");
    assert_eq!(events.last().unwrap().0, "message_stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_anthropic_shape_and_status() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, None).await;
    let url = format!("{at}/v1/messages");

    let mut bad = hello(false);
    bad["max_tokens"] = Value::Null;
    let refused = post(&url, "sk-master", &bad).await;
    assert_eq!(refused.status(), 400);
    let error = json_of(refused).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["type"], "invalid_request_error");
    assert!(error["error"]["message"].as_str().unwrap().contains("max_tokens"));

    upstream.push_faults(vec![Fault {
        status: Some(429),
        retry_after: Some(2.0),
        ..Fault::default()
    }]);
    let limited = post(&url, "sk-master", &hello(false)).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "2");
    let error = json_of(limited).await;
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(!error.to_string().contains("sk-upstream"));

    upstream.push_faults(vec![Fault::with_status(503)]);
    let overloaded = post(&url, "sk-master", &hello(true)).await;
    assert_eq!(overloaded.status(), 503);
    assert_eq!(json_of(overloaded).await["error"]["type"], "overloaded_error");

    upstream.push_faults(vec![Fault {
        cut_after: Some(1),
        ..Fault::default()
    }]);
    let cut = post(&url, "sk-master", &hello(true)).await;
    let events = events_of(&cut.text().await.unwrap());
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    assert_eq!(data["error"]["type"], "api_error");

    let denied = post(&url, "sk-wrong", &hello(false)).await;
    assert_eq!(denied.status(), 401);
    assert_eq!(upstream.request_count(), 3, "refused requests never go upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_counts_the_translated_request() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, None).await;
    let url = format!("{at}/v1/messages/count_tokens");
    let short = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]});
    let long = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi ".repeat(200)}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}]});
    let short_n = json_of(post(&url, "sk-master", &short).await).await["input_tokens"]
        .as_u64()
        .unwrap();
    let long_n = json_of(post(&url, "sk-master", &long).await).await["input_tokens"]
        .as_u64()
        .unwrap();
    assert!(short_n > 0 && long_n > short_n + 150, "{short_n} {long_n}");
    let bad = post(&url, "sk-master", &json!({"model": "gpt-4o"})).await;
    assert_eq!(bad.status(), 400);
    assert_eq!(upstream.request_count(), 0, "counting never calls the provider");
}
