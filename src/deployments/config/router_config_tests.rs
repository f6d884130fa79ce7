//! [`super::parse_router_config`]: a caller's `RouterConfig`, as LiteLLM's proxy guide sends it
//! in `user_config`.

use std::time::Duration;

use serde_json::{json, Value};

use super::parse_router_config;
use crate::deployments::spec::RouterSpec;
use crate::error::Kind;

fn ok(config: &Value) -> RouterSpec {
    parse_router_config(config, "user_config").unwrap_or_else(|e| panic!("{e}"))
}

fn err(config: &Value) -> String {
    let error = parse_router_config(config, "user_config").expect_err("the config should be rejected");
    assert_eq!(error.kind(), Kind::InvalidArgument);
    error.to_string()
}

/// The guide's `user_config`, with the values its `os.getenv(...)` calls would give.
fn guide() -> Value {
    json!({
        "model_list": [
            {
                "model_name": "user-azure-instance",
                "litellm_params": {
                    "model": "azure/chatgpt-v-2",
                    "api_key": "azure-key",
                    "api_version": "2024-02-01",
                    "api_base": "http://127.0.0.1:9/azure",
                    "timeout": 10,
                },
                "tpm": 240000,
                "rpm": 1800,
            },
            {
                "model_name": "user-openai-instance",
                "litellm_params": {"model": "gpt-3.5-turbo", "api_key": "openai-key", "timeout": 10},
                "tpm": 240000,
                "rpm": 1800,
            },
        ],
        "num_retries": 2,
        "allowed_fails": 3,
        "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
    })
}

#[test]
fn the_guides_user_config_reads_as_deployments_and_router_settings() {
    let spec = ok(&guide());
    let [azure, openai] = &spec.deployments[..] else {
        panic!("two deployments expected")
    };
    assert_eq!(azure.group, "user-azure-instance");
    assert_eq!(azure.api_key.as_ref().unwrap().expose(), "azure-key");
    assert_eq!(azure.api_base.as_deref(), Some("http://127.0.0.1:9/azure"));
    assert_eq!(azure.api_version.as_deref(), Some("2024-02-01"));
    assert_eq!((azure.rpm, azure.tpm), (Some(1800), Some(240_000)));
    assert_eq!(azure.timeout, Some(Duration::from_secs(10)));
    assert_eq!(openai.model, "gpt-3.5-turbo");
    assert_eq!(spec.settings.num_retries, Some(2));
    assert_eq!(spec.settings.allowed_fails, 3);
    assert_eq!(
        spec.settings.fallbacks,
        vec![(
            "user-azure-instance".to_owned(),
            vec!["user-openai-instance".to_owned()]
        )]
    );
    assert!(spec.cache.is_none());
}

#[test]
fn the_environment_is_never_read() {
    // PATH is set in every test process: reading it would prove the environment was read.
    let mut config = guide();
    config["model_list"][1]["litellm_params"]["api_key"] = json!("os.environ/PATH");
    assert_eq!(
        err(&config),
        "user_config.model_list[1].litellm_params.api_key: `os.environ/` is not read here (it would read the \
         server's environment); give the value itself"
    );
    let mut config = guide();
    config["model_list"][0]["model_info"] = json!({"base_model": "os.environ/PATH"});
    assert!(err(&config).starts_with("user_config.model_list[0].model_info.base_model: `os.environ/`"));
    let mut config = guide();
    config["environment_variables"] = json!({"PATH": "/bin"});
    assert!(err(&config).starts_with("user_config.environment_variables: unknown key"));
}

#[test]
fn wrong_values_name_their_path_under_user_config() {
    let cases = [
        (
            "num_retries",
            json!(-1),
            "user_config.num_retries: must not be negative, got -1",
        ),
        (
            "fallbacks",
            json!([{"nope": ["user-openai-instance"]}]),
            "user_config.fallbacks[0].nope: no deployment in model_list has the model_name \"nope\", so these \
             fallbacks can never apply",
        ),
        (
            "num_retrys",
            json!(2),
            "user_config.num_retrys: unknown key; did you mean `num_retries`?",
        ),
    ];
    for (key, value, message) in cases {
        let mut config = guide();
        config[key] = value;
        assert_eq!(err(&config), message);
    }
    let mut config = guide();
    config["model_list"][0]["litellm_params"]["api_base"] = json!("ftp://x");
    assert_eq!(
        err(&config),
        "user_config.model_list[0].litellm_params.api_base: expected an http:// or https:// URL, got \"ftp://x\""
    );
    config["model_list"][0]["litellm_params"]["api_key"] = json!(5);
    config["model_list"][0]["litellm_params"]["api_base"] = json!("http://127.0.0.1:9");
    assert_eq!(
        err(&config),
        "user_config.model_list[0].litellm_params.api_key: expected a string, got <hidden>"
    );
    assert_eq!(
        err(&json!({"num_retries": 1})),
        "user_config.model_list: is required, got null"
    );
    assert_eq!(err(&json!([1])), "user_config: expected a mapping, got a list");
}
