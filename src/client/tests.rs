//! Where calls go: every accepted model name stays under its provider's base path.

use bytes::Bytes;
use reqwest::Method;

use super::{Client, Request};
use crate::api::ApiRequest;
use crate::config::ClientConfig;
use crate::error::{Kind, Result};
use crate::providers::registry::Endpoint;
use crate::providers::registry::ProviderConfig;

/// A client whose Azure and Gemini providers live under a base path.
fn client() -> Client {
    let at = |name: &str, base: &str| ProviderConfig {
        name: name.to_owned(),
        base_url: Some(base.to_owned()),
        ..ProviderConfig::default()
    };
    Client::new(ClientConfig {
        providers: vec![
            at("azure", "https://res.example/base"),
            at("gemini", "https://gem.example/v1beta"),
        ],
        ..ClientConfig::default()
    })
    .unwrap()
}

fn chat(model: &str) -> Request {
    Request {
        body: Bytes::from_static(br#"{"messages":[{"role":"user","content":"hi"}],"input":"hi"}"#),
        model: model.to_owned(),
        ..Request::default()
    }
}

/// The URL of every call that puts `name` into a path, or the first error.
fn urls(c: &Client, name: &str) -> Result<Vec<reqwest::Url>> {
    let mut out = Vec::new();
    for endpoint in [Endpoint::Chat, Endpoint::Embeddings] {
        for provider in ["azure", "gemini"] {
            out.push(c.model_call(chat(&format!("{provider}/{name}")), endpoint, false)?.url);
        }
    }
    let images = ApiRequest {
        model: format!("azure/{name}"),
        ..ApiRequest::new(Endpoint::Images, Method::POST, "images/generations")
    };
    out.push(c.api_call(images)?.url);
    Ok(out)
}

#[test]
fn model_names_never_leave_the_provider_path() {
    let c = client();
    let good = [
        "gpt-4.1",
        "gemini-2.5-flash",
        "my.deployment",
        "...",
        "a\\b",
        "x?y#z",
        "%2e%2e%2e",
    ];
    for name in good {
        for url in urls(&c, name).unwrap() {
            let path = url.path();
            let under = path.starts_with("/base/openai/deployments/") || path.starts_with("/v1beta/models/");
            assert!(under, "{name:?}: {url}");
            assert!(url.fragment().is_none(), "{name:?}: {url}");
        }
    }
    let tuned = c
        .model_call(chat("gemini/tunedModels/my-model"), Endpoint::Chat, false)
        .unwrap();
    assert_eq!(tuned.url.path(), "/v1beta/tunedModels/my-model:generateContent");
    let bad = [
        "..",
        ".",
        "../../../../x",
        "%2e%2e",
        "%2E.",
        "a/../b",
        "..\\x",
        "x/..",
        "x/%2e",
    ];
    for name in bad {
        let err = urls(&c, name).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument, "{name:?}");
        assert!(err.message().contains("path segment"), "{}", err.message());
    }
}
