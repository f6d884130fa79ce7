//! The proxy against the mock provider, over real HTTP on 127.0.0.1.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::{router, serve, ServeOptions};
use crate::config::{ClientConfig, Secret};
use crate::mock::{Fault, MockConfig, MockServer};
use crate::Client;

/// A proxy in front of `upstream` with master key `sk-master`; its base URL.
async fn proxy(upstream: &MockServer) -> (String, tokio::sync::oneshot::Sender<()>) {
    proxy_with_hint(upstream, None).await
}

/// A proxy with master key `sk-master` in front of `upstream`, speaking the protocol
/// `model_hint` selects; its base URL and the sender that stops it.
pub(super) async fn proxy_with_hint(
    upstream: &MockServer,
    model_hint: Option<&str>,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let client = Client::new(ClientConfig {
        api_key: Secret::new("sk-upstream"),
        base_url: Some(upstream.base_url()),
        model_hint: model_hint.map(str::to_owned),
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap();
    let options = ServeOptions {
        master_key: Some(Secret::new("sk-master")),
        ..ServeOptions::default()
    };
    spawn(client, options).await
}

/// Serves `client` with `options` on a free port until the returned sender is dropped or
/// fired; its base URL.
pub(super) async fn spawn(client: Client, options: ServeOptions) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(
        listener,
        router(Arc::new(client), options),
        async move {
            let _ = stopped.await;
        },
        Duration::from_secs(30),
    ));
    (at, stop)
}

fn post(url: &str, key: &str, body: &Value) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string())
}

async fn json_of(response: reqwest::Response) -> Value {
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_plain_and_streamed_pass_through_with_auth() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello proxy"}],
        "metadata": {"team": "a"}});

    let answer = post(&format!("{at}/v1/chat/completions"), "sk-master", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("x-request-id"));
    let answer: Value = json_of(answer).await;
    assert_eq!(answer["choices"][0]["message"]["content"], "hello proxy");
    assert!(answer["_response_ms"].as_f64().unwrap() >= 0.0);
    let sent = upstream.requests();
    assert_eq!(sent[0].header("authorization"), Some("Bearer sk-upstream"));
    assert!(
        sent[0].json().unwrap().get("metadata").is_none(),
        "metadata never goes upstream"
    );

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = post(&format!("{at}/chat/completions"), "sk-master", &streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let text = events.text().await.unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let content: String = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(content, "hello proxy");

    let denied = post(&format!("{at}/v1/chat/completions"), "sk-wrong", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    assert!(denied.headers().contains_key("x-request-id"));
    let error: Value = json_of(denied).await;
    assert_eq!(error["error"]["code"], "invalid_api_key");
    assert_eq!(upstream.request_count(), 2, "a refused request never goes upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_from_an_anthropic_upstream_is_answered_in_openai_shape() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy_with_hint(&upstream, Some("anthropic")).await;
    let body = json!({"model": "claude-x", "max_tokens": 64, "messages": [{"role": "user", "content": "hi there"}]});

    let answer = post(&format!("{at}/v1/chat/completions"), "sk-master", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answer = json_of(answer).await;
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "hi there");
    assert!(answer["usage"]["total_tokens"].as_u64().unwrap() > 0, "{answer}");
    assert!(answer["_response_ms"].as_f64().unwrap() >= 0.0);
    assert!(answer.get("content").is_none(), "no Anthropic members: {answer}");
    assert!(upstream.requests()[0].path.ends_with("/messages"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_openai_shape_and_status() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let url = format!("{at}/v1/chat/completions");
    let missing = post(&url, "sk-master", &json!({"messages": []})).send().await.unwrap();
    assert_eq!(missing.status(), 400);
    let error: Value = json_of(missing).await;
    assert!(error["error"]["message"].as_str().unwrap().contains("model"));

    upstream.push_faults(vec![Fault {
        status: Some(429),
        retry_after: Some(3.0),
        ..Fault::default()
    }]);
    let limited = post(
        &url,
        "sk-master",
        &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(limited.headers()["retry-after"], "3");
    let error: Value = json_of(limited).await;
    assert_eq!(error["error"]["type"], "rate_limit_error");
    assert!(!error.to_string().contains("sk-upstream"));

    let health = reqwest::get(format!("{at}/health/liveliness")).await.unwrap();
    assert_eq!(health.status(), 200, "health checks need no key");
    let unknown = reqwest::get(format!("{at}/nope")).await.unwrap();
    assert_eq!(unknown.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_go_through() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let answer = post(
        &format!("{at}/v1/embeddings"),
        "sk-master",
        &json!({"model": "text-embedding-3-small", "input": ["a", "b"]}),
    )
    .send()
    .await
    .unwrap();
    let answer = json_of(answer).await;
    assert_eq!(answer["data"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_models_get_the_same_request_and_answer_as_a_list() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let body = json!({"model": "gpt-4o-mini, gpt-4o", "messages": [{"role": "user", "content": "both"}]});
    let answer = post(&format!("{at}/v1/chat/completions"), "sk-master", &body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let answers = json_of(answer).await;
    let models: Vec<&str> = answers
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["model"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["gpt-4o-mini", "gpt-4o"]);
    assert!(answers
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["choices"][0]["message"]["content"] == "both"));
    assert_eq!(upstream.request_count(), 2);
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let refused = post(&format!("{at}/v1/chat/completions"), "sk-master", &streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderations_images_rerank_and_responses_go_through() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let call = |path: &'static str, body: Value| {
        let url = format!("{at}{path}");
        async move { json_of(post(&url, "sk-master", &body).send().await.unwrap()).await }
    };
    let moderation = call("/v1/moderations", json!({"input": "hello"})).await;
    assert_eq!(moderation["results"].as_array().unwrap().len(), 1);
    assert_eq!(
        upstream.requests()[0].json().unwrap()["model"],
        "omni-moderation-latest"
    );
    let images = call(
        "/v1/images/generations",
        json!({"model": "dall-e-3", "prompt": "a fox"}),
    )
    .await;
    assert!(!images["data"].as_array().unwrap().is_empty());
    let ranked = call(
        "/rerank",
        json!({"model": "rerank-v3.5", "query": "q", "documents": ["a q", "b"]}),
    )
    .await;
    assert_eq!(ranked["results"].as_array().unwrap().len(), 2);
    let response = call("/v1/responses", json!({"model": "gpt-4.1-mini", "input": "hi"})).await;
    assert_eq!(response["object"], "response");
    assert_eq!(upstream.request_count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_the_probes_needs_a_key() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let http = reqwest::Client::new();
    let guarded = [
        ("POST", "/v1/chat/completions"),
        ("POST", "/embeddings"),
        ("POST", "/v1/messages"),
        ("POST", "/v1/messages/count_tokens"),
        ("GET", "/v1/models"),
        ("GET", "/v1/files"),
        ("DELETE", "/v1/files/file-1"),
        ("GET", "/batches/batch-1"),
        ("POST", "/key/generate"),
        ("GET", "/key/list"),
        ("GET", "/metrics"),
        ("GET", "/health"),
    ];
    for (method, path) in guarded {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let answer = http
            .request(method.clone(), format!("{at}{path}"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401, "{method} {path} without a key");
        assert!(answer.headers().contains_key("x-request-id"));
    }
    for path in ["/health/liveliness", "/health/readiness"] {
        let answer = http.get(format!("{at}{path}")).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path} is open");
    }
    let unknown = http.get(format!("{at}/no/such/route")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        upstream.request_count(),
        0,
        "nothing unauthenticated reaches the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_request_id_is_answered_back_and_a_bad_one_replaced() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream).await;
    let http = reqwest::Client::new();
    let given = http
        .get(format!("{at}/health/liveliness"))
        .header("x-request-id", "trace-123")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-123");
    let bad = http
        .get(format!("{at}/v1/models"))
        .header("x-request-id", "two words")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let id = bad.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.starts_with("req_") && id.len() == 36, "{id}");
}
