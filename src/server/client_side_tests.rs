//! `user_config` and client-side credentials through a real proxy, against mock upstreams that
//! record what reached them.

use std::time::Duration;

use serde_json::{json, Value};

use super::ServeOptions;
use crate::config::{ClientConfig, Secret};
use crate::deployments::config::parse;
use crate::mock::{Fault, MockConfig, MockServer, RecordedRequest};
use crate::Client;

/// The proxy's own secrets: its client's key and its deployment's key.
const SERVER_KEYS: [&str; 2] = ["sk-server-own", "sk-server-deployment"];

/// A proxy (no master key) whose group `team` is `openai/gpt-4o-mini` at `upstream`, and whose
/// other models go to `upstream` too; its base URL.
async fn proxy(upstream: &MockServer, allow: bool) -> (String, tokio::sync::oneshot::Sender<()>) {
    let config = json!({"model_list": [{"model_name": "team", "litellm_params": {
        "model": "openai/gpt-4o-mini", "api_base": upstream.base_url(), "api_key": SERVER_KEYS[1]}}]});
    let spec = parse(&config, &|_| None).unwrap();
    let own = ClientConfig {
        api_key: Secret::new(SERVER_KEYS[0]),
        base_url: Some(upstream.base_url()),
        max_retries: 0,
        ..ClientConfig::default()
    };
    let client = Client::with_deployments(own, spec, Duration::from_secs(1)).unwrap();
    let options = ServeOptions {
        allow_client_side_credentials: allow,
        allow_user_config: allow,
        ..ServeOptions::default()
    };
    super::tests::spawn(client, options).await
}

/// A chat request for `model` with `extra` merged into the body: status and parsed body (a
/// stream's events as one string).
async fn chat(at: &str, model: &str, extra: Value) -> (u16, Value) {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let response = reqwest::Client::new()
        .post(format!("{at}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn message(answer: &Value) -> &str {
    answer["error"]["message"].as_str().unwrap_or_default()
}

/// Whether a recorded request shows any of the server's secrets, in a header or the body.
fn shows_server_keys(request: &RecordedRequest) -> bool {
    let seen = format!("{:?} {}", request.headers, request.json().unwrap_or_default());
    SERVER_KEYS.iter().any(|key| seen.contains(key))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_settings_both_are_refused_naming_the_setting() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, false).await;
    let (status, answer) = chat(&at, "team", json!({"user_config": {"model_list": []}})).await;
    assert_eq!(status, 400);
    assert!(
        message(&answer).contains("general_settings.allow_user_config"),
        "{answer}"
    );
    for field in ["api_key", "api_base", "base_url", "api_version"] {
        let (status, answer) = chat(&at, "team", json!({field: "http://127.0.0.1:9"})).await;
        assert_eq!(status, 400, "{field}");
        assert!(message(&answer).contains("general_settings.allow_client_side_credentials"));
        assert!(message(&answer).starts_with(field));
    }
    assert_eq!(upstream.request_count(), 0, "a refused request never goes upstream");
    // Sent as null, a field is not given.
    assert_eq!(chat(&at, "team", json!({"api_key": null})).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_callers_key_replaces_the_servers_at_the_servers_host_or_the_callers() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let theirs = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, true).await;

    // Only a key: the deployment's own host, its model, the caller's key; the field is not sent.
    let (status, answer) = chat(&at, "team", json!({"api_key": "sk-caller"})).await;
    assert_eq!(status, 200, "{answer}");
    let sent = &upstream.requests()[0];
    assert_eq!(sent.header("authorization"), Some("Bearer sk-caller"));
    assert_eq!(sent.json().unwrap()["model"], "gpt-4o-mini");
    assert!(sent.json().unwrap().get("api_key").is_none());

    // A host and a key: the caller's host gets the deployment's model with the caller's key.
    let extra = json!({"api_key": "sk-caller", "api_base": theirs.base_url(), "api_version": "2024-02-01"});
    assert_eq!(chat(&at, "team", extra).await.0, 200);
    // A model that names no group goes as given; `base_url` is `api_base`'s alias.
    assert_eq!(chat(&at, "gpt-4o", json!({"base_url": theirs.base_url()})).await.0, 200);
    let seen = theirs.requests();
    assert_eq!(seen[0].header("authorization"), Some("Bearer sk-caller"));
    assert_eq!(seen[0].json().unwrap()["model"], "gpt-4o-mini");
    // A host without a key: no key at all goes there.
    assert_eq!(seen[1].header("authorization"), None);
    assert_eq!(seen[1].json().unwrap()["model"], "gpt-4o");
    assert!(!seen.iter().chain(&upstream.requests()).any(shows_server_keys));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_are_refused_before_anything_is_sent() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, true).await;
    for (extra, says) in [
        (
            json!({"api_base": "ftp://127.0.0.1"}),
            "api_base must be an http:// or https:// URL",
        ),
        (
            json!({"base_url": "not a url"}),
            "base_url must be an http:// or https:// URL",
        ),
        (json!({"api_key": 5}), "api_key must be a string"),
        (
            json!({"api_key": "a\nb"}),
            "api_key holds characters a header cannot carry",
        ),
        (
            json!({"api_version": "2024-02-01"}),
            "api_version goes with api_key or api_base",
        ),
        (
            json!({"api_base": "http://127.0.0.1:9", "base_url": "http://127.0.0.1:9"}),
            "not both",
        ),
        (
            json!({"api_key": "k", "user_config": {}}),
            "send user_config or api_key/api_base/api_version, not both",
        ),
    ] {
        let (status, answer) = chat(&at, "team", extra.clone()).await;
        assert_eq!(status, 400, "{extra}");
        assert!(message(&answer).contains(says), "{extra}: {answer}");
    }
    assert_eq!(upstream.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_config_routes_with_its_own_retries_and_fallbacks_and_streams() {
    let upstream = MockServer::start(MockConfig::default()).unwrap();
    let first = MockServer::start(MockConfig::default()).unwrap();
    let second = MockServer::start(MockConfig::default()).unwrap();
    let (at, _stop) = proxy(&upstream, true).await;
    let user_config = json!({
        "model_list": [
            {"model_name": "mine", "litellm_params": {"model": "openai/m1", "api_base": first.base_url(),
                "api_key": "sk-caller-1"}},
            {"model_name": "spare", "litellm_params": {"model": "openai/m2", "api_base": second.base_url()}},
        ],
        "num_retries": 0,
        "fallbacks": [{"mine": ["spare"]}],
    });
    first.push_faults(vec![Fault::with_status(500)]);
    let (status, answer) = chat(&at, "mine", json!({"user_config": user_config})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model"], "m2", "the fallback answered");
    assert_eq!(first.requests()[0].header("authorization"), Some("Bearer sk-caller-1"));
    let fallback = &second.requests()[0];
    assert_eq!(fallback.header("authorization"), None, "no key of the server's");
    assert!(fallback.json().unwrap().get("user_config").is_none());

    let (status, events) = chat(&at, "mine", json!({"user_config": user_config, "stream": true})).await;
    assert_eq!(status, 200, "{events}");
    let events = events.as_str().unwrap();
    assert!(
        events.contains(r#""content":"hi""#) && events.ends_with("data: [DONE]\n\n"),
        "{events}"
    );
    assert_eq!(first.request_count(), 2);
    assert_eq!(upstream.request_count(), 0, "the server's own deployments are not used");
    assert!(!first.requests().iter().chain(&second.requests()).any(shows_server_keys));

    // A model that is not in the caller's model_list, and a bad field, are 400s with paths.
    let (status, answer) = chat(&at, "team", json!({"user_config": user_config})).await;
    assert_eq!(status, 400);
    assert!(message(&answer).contains("no deployment in user_config.model_list"));
    let mut bad = user_config.clone();
    bad["model_list"][1]["litellm_params"]["api_key"] = json!("os.environ/OPENAI_API_KEY");
    let (status, answer) = chat(&at, "mine", json!({"user_config": bad})).await;
    assert_eq!(status, 400);
    assert!(message(&answer).starts_with("user_config.model_list[1].litellm_params.api_key: `os.environ/`"));
    let many: Vec<Value> = (0..=super::client_side::MAX_USER_DEPLOYMENTS)
        .map(|_| user_config["model_list"][0].clone())
        .collect();
    let (status, answer) = chat(&at, "mine", json!({"user_config": {"model_list": many}})).await;
    assert_eq!(status, 400);
    assert!(message(&answer).contains("at most 32 deployments"));
    assert_eq!(first.request_count(), 2);
}
