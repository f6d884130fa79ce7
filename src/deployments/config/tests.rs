use std::time::Duration;

use serde_json::{json, Value};

use super::parse;
use crate::deployments::spec::{RouterSpec, Strategy};
use crate::deployments::yaml::{load_yaml, MAX_TEXT};
use crate::error::Kind;

/// The environment every test sees.
fn env(name: &str) -> Option<String> {
    let value = match name {
        "AZURE_KEY" => "sk-azure-0123456789",
        "RPM" => "100",
        "TEMPERATURE" => "0.25",
        "API_BASE" => "http://127.0.0.1:4010/v1",
        "OPENAI_API_KEY" => "sk-openai-0123456789",
        "BAD_NUMBER" => "lots",
        "FALLBACK" => "gpt-4o-mini",
        _ => return None,
    };
    Some(value.to_owned())
}

fn ok(config: Value) -> RouterSpec {
    parse(&config, &env).unwrap_or_else(|e| panic!("{e}"))
}

fn err(config: Value) -> String {
    let error = parse(&config, &env).expect_err("the config should be rejected");
    assert_eq!(error.kind(), Kind::InvalidArgument);
    error.to_string()
}

/// A config of one deployment with these `litellm_params` added to a model.
fn params(extra: Value) -> Value {
    let mut params = json!({"model": "openai/gpt-4o"});
    params
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json!({"model_list": [{"model_name": "gpt-4o", "litellm_params": params}]})
}

/// A config of the groups `a`, `b` and `c` with these router settings.
fn router(settings: Value) -> Value {
    json!({
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "openai/a"}},
            {"model_name": "b", "litellm_params": {"model": "openai/b"}},
            {"model_name": "c", "litellm_params": {"model": "openai/c"}},
        ],
        "router_settings": settings,
    })
}

fn pairs(list: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    list.iter()
        .map(|(group, targets)| (group.to_string(), targets.iter().map(|t| t.to_string()).collect()))
        .collect()
}

// ===== model_list =====

#[test]
fn reads_every_implemented_param() {
    let spec = ok(params(json!({
        "api_key": "sk-plain",
        "api_base": "https://example.test/v1",
        "api_version": "2024-10-21",
        "rpm": 600,
        "tpm": "200000",
        "timeout": 2.5,
        "max_retries": 0,
        "weight": 0.5,
        "order": 0,
        "extra_headers": {"X-Team": "search"},
        "organization": "org-1",
    })));
    let d = &spec.deployments[0];
    assert_eq!((d.group.as_str(), d.model.as_str()), ("gpt-4o", "openai/gpt-4o"));
    assert_eq!(d.api_key.as_ref().map(|k| k.expose()), Some("sk-plain"));
    assert_eq!(d.api_base.as_deref(), Some("https://example.test/v1"));
    assert_eq!(d.api_version.as_deref(), Some("2024-10-21"));
    assert_eq!((d.rpm, d.tpm), (Some(600), Some(200_000)));
    assert_eq!(d.timeout, Some(Duration::from_millis(2500)));
    assert_eq!((d.max_retries, d.weight, d.order), (Some(0), Some(0.5), Some(0)));
    let headers = [("X-Team", "search"), ("OpenAI-Organization", "org-1")].map(|(n, v)| (n.into(), v.into()));
    assert_eq!(d.extra_headers, headers);
    assert!(spec.ignored.is_empty());
}

#[test]
fn base_url_is_an_alias_of_api_base() {
    let spec = ok(params(json!({"base_url": "http://127.0.0.1:9/v1"})));
    assert_eq!(spec.deployments[0].api_base.as_deref(), Some("http://127.0.0.1:9/v1"));
    let both = err(params(
        json!({"api_base": "http://a.test", "base_url": "http://b.test"}),
    ));
    assert_eq!(
        both,
        "model_list[0].litellm_params.base_url: set only one of api_base and its alias base_url"
    );
}

#[test]
fn default_request_params_are_kept_as_json() {
    let spec = ok(params(json!({
        "temperature": "os.environ/TEMPERATURE",
        "top_p": 1,
        "max_tokens": 256,
        "stop": ["\n\n", "END"],
        "seed": -7,
        "response_format": {"type": "json_object"},
        "parallel_tool_calls": "false",
        "tool_choice": "auto",
        "user": "os.environ/FALLBACK",
    })));
    let defaults = Value::Object(spec.deployments[0].defaults.clone());
    let expected = json!({
        "temperature": 0.25, "top_p": 1, "max_tokens": 256, "stop": ["\n\n", "END"], "seed": -7,
        "response_format": {"type": "json_object"}, "parallel_tool_calls": false, "tool_choice": "auto",
        "user": "gpt-4o-mini",
    });
    assert_eq!(defaults, expected);
    assert_eq!(
        ok(params(json!({"stop": "END"}))).deployments[0].defaults["stop"],
        "END"
    );
    let tool_choice = json!({"type": "function", "function": {"name": "f"}});
    assert_eq!(
        ok(params(json!({"tool_choice": tool_choice.clone()}))).deployments[0].defaults["tool_choice"],
        tool_choice
    );
}

#[test]
fn default_request_params_are_type_checked() {
    let cases = [
        (
            json!({"stop": 5}),
            "stop: expected a string or a list of strings, got 5",
        ),
        (json!({"stop": ["a", 1]}), "stop[1]: expected a string, got 1"),
        (
            json!({"temperature": "hot"}),
            "temperature: expected a number, got \"hot\"",
        ),
        (json!({"max_tokens": 0}), "max_tokens: must be positive, got 0"),
        (json!({"n": 1.5}), "n: expected an integer, got 1.5"),
        (
            json!({"response_format": "json"}),
            "response_format: expected a mapping, got \"json\"",
        ),
        (
            json!({"parallel_tool_calls": 1}),
            "parallel_tool_calls: expected true or false, got 1",
        ),
    ];
    for (extra, message) in cases {
        assert_eq!(err(params(extra)), format!("model_list[0].litellm_params.{message}"));
    }
}

#[test]
fn wrong_values_name_their_path() {
    let cases = [
        (json!({"rpm": "abc"}), "rpm: expected a number, got \"abc\""),
        (json!({"rpm": 0}), "rpm: must be positive, got 0"),
        (json!({"tpm": -5}), "tpm: must be positive, got -5"),
        (json!({"rpm": 1.5}), "rpm: expected an integer, got 1.5"),
        (json!({"max_retries": 101}), "max_retries: must be at most 100, got 101"),
        (json!({"order": -1}), "order: must not be negative, got -1"),
        (json!({"weight": 0}), "weight: must be positive, got 0"),
        (json!({"weight": "NaN"}), "weight: expected a number, got \"NaN\""),
        (json!({"timeout": 0}), "timeout: must be positive, got 0"),
        (
            json!({"timeout": 40_000_000}),
            "timeout: must be at most 31536000 seconds, got 40000000",
        ),
        (json!({"timeout": true}), "timeout: expected a number, got true"),
        (
            json!({"api_base": "127.0.0.1:4010"}),
            "api_base: expected an http:// or https:// URL, got \"127.0.0.1:4010\"",
        ),
        (json!({"api_version": ""}), "api_version: must not be empty, got \"\""),
        (json!({"model": ["a"]}), "model: expected a string, got a list"),
    ];
    for (extra, message) in cases {
        assert_eq!(err(params(extra)), format!("model_list[0].litellm_params.{message}"));
    }
}

#[test]
fn long_values_are_cut_in_errors() {
    let message = err(params(json!({"model": "x".repeat(100), "rpm": "y".repeat(100)})));
    assert_eq!(
        message,
        format!(
            "model_list[0].litellm_params.rpm: expected a number, got \"{}...",
            "y".repeat(39)
        )
    );
}

#[test]
fn entries_need_a_name_params_and_a_model() {
    let entry = |e: Value| err(json!({"model_list": [{"model_name": "a", "litellm_params": {"model": "m"}}, e]}));
    assert_eq!(
        entry(json!({"litellm_params": {"model": "m"}})),
        "model_list[1]: missing `model_name`"
    );
    assert_eq!(
        entry(json!({"model_name": "a"})),
        "model_list[1]: missing `litellm_params`"
    );
    assert_eq!(
        entry(json!({"model_name": "a", "litellm_params": {}})),
        "model_list[1].litellm_params: missing `model`"
    );
    assert_eq!(
        entry(json!({"model_name": "", "litellm_params": {"model": "m"}})),
        "model_list[1].model_name: must not be empty, got \"\""
    );
    assert_eq!(
        entry(json!("gpt-4o")),
        "model_list[1]: expected a mapping, got \"gpt-4o\""
    );
    assert_eq!(
        entry(json!({"model_name": "a", "litellm_params": {"model": "m", "rpm": 2}, "rpm": 1})),
        "model_list[1].rpm: the deployment also sets rpm to 2, got 1"
    );
    assert_eq!(
        entry(json!({"model_name": "a", "litellm_params": {"model": "m"}, "tpn": 1})),
        "model_list[1].tpn: unknown key; did you mean `tpm`?"
    );
    assert_eq!(
        err(json!({"model_list": []})),
        "model_list: must not be empty, got a list"
    );
    assert_eq!(
        err(json!({"model_list": {"a": 1}})),
        "model_list: expected a list, got a mapping"
    );
}

#[test]
fn model_info_keeps_its_keys_and_gives_the_id() {
    let spec = ok(json!({"model_list": [{
        "model_name": "a",
        "litellm_params": {"model": "openai/a"},
        "model_info": {"mode": "chat", "id": "a-1", "base_model": "os.environ/FALLBACK", "supports_vision": true},
    }]}));
    let d = &spec.deployments[0];
    assert_eq!(d.id.as_deref(), Some("a-1"));
    assert_eq!(
        Value::Object(d.model_info.clone()),
        json!({"mode": "chat", "base_model": "gpt-4o-mini", "supports_vision": true})
    );
    assert_eq!(
        d.model_info.keys().collect::<Vec<_>>(),
        ["mode", "base_model", "supports_vision"]
    );
}

#[test]
fn duplicate_ids_name_both_paths() {
    let entry = |id: &str| json!({"model_name": "a", "litellm_params": {"model": "m"}, "model_info": {"id": id}});
    let message = err(json!({"model_list": [entry("x"), entry("y"), entry("x")]}));
    assert_eq!(
        message,
        "model_list[2].model_info.id: duplicate id \"x\", also at model_list[0].model_info.id"
    );
}

#[test]
fn null_means_unset() {
    let spec = ok(json!({
        "model_list": [{"model_name": "a", "litellm_params": {"model": "m", "rpm": null, "mock_response": null}, "model_info": {"id": null}}],
        "router_settings": null,
        "general_settings": null,
    }));
    let d = &spec.deployments[0];
    assert_eq!((d.rpm, d.id.as_deref()), (None, None));
    assert!(spec.ignored.is_empty());
}

#[test]
fn headers_are_checked() {
    let cases = [
        (
            json!({"extra_headers": {"bad header": "x"}}),
            "extra_headers[\"bad header\"]: \"bad header\" is not a valid header name",
        ),
        (
            json!({"extra_headers": {"X-A": "a\nb"}}),
            "extra_headers.X-A: not a valid header value, got <hidden>",
        ),
        (
            json!({"extra_headers": {"X-A": 1}}),
            "extra_headers.X-A: expected a string, got <hidden>",
        ),
        (
            json!({"extra_headers": {"openai-organization": "a"}, "organization": "b"}),
            "organization: the header OpenAI-Organization is set twice",
        ),
    ];
    for (extra, message) in cases {
        assert_eq!(err(params(extra)), format!("model_list[0].litellm_params.{message}"));
    }
}

// ===== unknown keys =====

#[test]
fn typos_fail_with_a_suggestion() {
    assert_eq!(
        err(params(json!({"rmp": 10}))),
        "model_list[0].litellm_params.rmp: unknown key; did you mean `rpm`?"
    );
    assert_eq!(
        err(params(json!({"API_KEY": "k"}))),
        "model_list[0].litellm_params.API_KEY: unknown key; did you mean `api_key`?"
    );
    assert_eq!(
        err(params(json!({"mock_respons": "k"}))),
        "model_list[0].litellm_params.mock_respons: unknown key; did you mean `mock_response`?"
    );
    assert_eq!(
        err(params(json!({"zzzzzz": 1}))),
        "model_list[0].litellm_params.zzzzzz: unknown key"
    );
    assert_eq!(
        err(json!({"model_lists": []})),
        "model_lists: unknown key; did you mean `model_list`?"
    );
    assert_eq!(
        err(router(json!({"num_retires": 2}))),
        "router_settings.num_retires: unknown key; did you mean `num_retries`?"
    );
    let entry = json!({"model_list": [{"model_nam": "a", "litellm_params": {"model": "m"}}]});
    assert_eq!(
        err(entry),
        "model_list[0].model_nam: unknown key; did you mean `model_name`?"
    );
}

#[test]
fn an_unknown_key_fails_before_its_variable_is_read() {
    let message = err(params(json!({"rmp": "os.environ/NOT_SET"})));
    assert_eq!(
        message,
        "model_list[0].litellm_params.rmp: unknown key; did you mean `rpm`?"
    );
}

#[test]
fn root_must_be_a_mapping() {
    assert_eq!(err(json!([1])), "the config: expected a mapping, got a list");
}

// ===== environment =====

#[test]
fn environment_values_are_read() {
    let spec = ok(params(
        json!({"api_key": "os.environ/AZURE_KEY", "rpm": "os.environ/RPM", "api_base": "os.environ/API_BASE"}),
    ));
    let d = &spec.deployments[0];
    assert_eq!(d.api_key.as_ref().map(|k| k.expose()), Some("sk-azure-0123456789"));
    assert_eq!(
        (d.rpm, d.api_base.as_deref()),
        (Some(100), Some("http://127.0.0.1:4010/v1"))
    );
}

#[test]
fn a_missing_variable_names_path_and_variable() {
    let config = json!({"model_list": [
        {"model_name": "a", "litellm_params": {"model": "m"}},
        {"model_name": "a", "litellm_params": {"model": "m", "api_key": "os.environ/AZURE_KEY_2"}},
    ]});
    assert_eq!(
        err(config),
        "model_list[1].litellm_params.api_key: environment variable AZURE_KEY_2 is not set"
    );
    assert_eq!(
        err(params(json!({"api_key": "os.environ/"}))),
        "model_list[0].litellm_params.api_key: `os.environ/` names no environment variable"
    );
}

#[test]
fn a_bad_variable_value_names_the_variable() {
    let message = err(params(json!({"rpm": "os.environ/BAD_NUMBER"})));
    assert_eq!(
        message,
        "model_list[0].litellm_params.rpm: expected a number, got \"lots\" (from os.environ/BAD_NUMBER)"
    );
}

#[test]
fn environment_variables_win_over_the_environment() {
    let spec = ok(json!({
        "model_list": [{"model_name": "a", "litellm_params": {"model": "m", "api_key": "os.environ/AZURE_KEY", "rpm": "os.environ/MY_RPM", "api_version": "os.environ/FLAG"}}],
        "environment_variables": {"AZURE_KEY": "sk-from-config", "MY_RPM": 42, "FLAG": true},
    }));
    let d = &spec.deployments[0];
    assert_eq!(d.api_key.as_ref().map(|k| k.expose()), Some("sk-from-config"));
    assert_eq!((d.rpm, d.api_version.as_deref()), (Some(42), Some("true")));
    assert!(
        std::env::var_os("MY_RPM").is_none(),
        "the process environment is left alone"
    );
    assert!(spec.ignored.is_empty());
    let bad = err(json!({"environment_variables": {"OPENAI_ORG": ["x"]}}));
    assert_eq!(bad, "environment_variables.OPENAI_ORG: expected a string, got <hidden>");
}

#[test]
fn ignored_values_are_not_read() {
    let spec = ok(json!({
        "model_list": [{"model_name": "a", "litellm_params": {"model": "m", "aws_secret_access_key": "os.environ/NOT_SET"}}],
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY", "anything": {"goes": [1]}},
        "litellm_settings": {"success_callback": "os.environ/NOT_SET"},
    }));
    let expected = [
        "model_list[0].litellm_params.aws_secret_access_key",
        "general_settings",
        "litellm_settings.success_callback",
    ];
    assert_eq!(spec.ignored, expected);
}

// ===== secrets =====

#[test]
fn secrets_never_show_in_errors() {
    let cases = [
        params(json!({"api_key": ["sk-live-secret"]})),
        params(json!({"api_key": ""})),
        params(json!({"rpm": "os.environ/OPENAI_API_KEY"})),
        params(json!({"extra_headers": {"Authorization": "Bearer sk-live-secret\n"}})),
        params(json!({"extra_headers": {"X-Anything": ["sk-live-secret"]}})),
        json!({"environment_variables": {"TOKEN": {"sk-live-secret": 1}}}),
    ];
    for config in cases {
        let message = err(config);
        assert!(message.contains("<hidden>"), "{message}");
        assert!(!message.contains("sk-"), "{message}");
    }
}

// ===== router settings =====

#[test]
fn router_settings_are_read() {
    let spec = ok(router(json!({
        "routing_strategy": "usage-based-routing-v2",
        "num_retries": 2,
        "allowed_fails": 0,
        "cooldown_time": 0.5,
        "retry_after": 3,
        "timeout": "30",
        "default_fallbacks": ["c"],
        "redis_host": "localhost",
        "redis_password": "p@ss",
        "client_ttl": 60,
    })));
    let s = &spec.settings;
    assert_eq!(
        (s.strategy, s.num_retries, s.allowed_fails),
        (Strategy::UsageBased, Some(2), 0)
    );
    assert_eq!(
        (s.cooldown_time, s.retry_after),
        (Duration::from_millis(500), Duration::from_secs(3))
    );
    assert_eq!(
        (s.timeout, s.default_fallbacks.clone()),
        (Some(Duration::from_secs(30)), vec!["c".to_owned()])
    );
    assert_eq!(spec.ignored, ["router_settings.client_ttl"]);
    let redis = s.redis.as_ref().map(crate::config::Secret::expose);
    assert_eq!(redis, Some("redis://:p%40ss@localhost:6379/0"));
    assert!(!format!("{s:?}").contains("p%40ss"));
    let url = ok(router(json!({"redis_url": "redis://r:1/2", "redis_host": "ignored"})))
        .settings
        .redis
        .unwrap();
    assert_eq!(url.expose(), "redis://r:1/2");
}

#[test]
fn defaults_apply_without_settings() {
    let s = ok(router(json!({}))).settings;
    assert_eq!(
        (s.strategy, s.num_retries, s.allowed_fails),
        (Strategy::SimpleShuffle, None, 3)
    );
    assert_eq!(
        (s.cooldown_time, s.retry_after, s.timeout),
        (Duration::from_secs(5), Duration::ZERO, None)
    );
}

#[test]
fn strategies_map_to_liter_llm_names() {
    let cases = [
        ("simple-shuffle", Strategy::SimpleShuffle),
        ("least-busy", Strategy::LeastBusy),
        ("latency-based-routing", Strategy::LatencyBased),
        ("usage-based-routing", Strategy::UsageBased),
        ("order", Strategy::Order),
    ];
    for (name, strategy) in cases {
        assert_eq!(
            ok(router(json!({"routing_strategy": name}))).settings.strategy,
            strategy
        );
    }
    let cost = ok(router(json!({"routing_strategy": "cost-based-routing"})));
    assert_eq!(
        (cost.settings.strategy, cost.ignored),
        (
            Strategy::SimpleShuffle,
            vec!["router_settings.routing_strategy".to_owned()]
        )
    );
    let message = err(router(json!({"routing_strategy": "round-robin"})));
    assert!(
        message.starts_with("router_settings.routing_strategy: expected simple-shuffle, least-busy,"),
        "{message}"
    );
    assert!(message.ends_with("or order, got \"round-robin\""), "{message}");
}

#[test]
fn router_bounds_are_checked() {
    let cases = [
        (json!({"num_retries": 101}), "num_retries: must be at most 100, got 101"),
        (
            json!({"allowed_fails": 1001}),
            "allowed_fails: must be at most 1000, got 1001",
        ),
        (
            json!({"cooldown_time": -1}),
            "cooldown_time: must not be negative, got -1",
        ),
        (
            json!({"cooldown_time": 86401}),
            "cooldown_time: must be at most 86400 seconds, got 86401",
        ),
        (
            json!({"retry_after": 3601}),
            "retry_after: must be at most 3600 seconds, got 3601",
        ),
        (json!({"timeout": 0}), "timeout: must be positive, got 0"),
        (
            json!({"default_fallbacks": 1}),
            "default_fallbacks: expected a string or a list of strings, got 1",
        ),
    ];
    for (settings, message) in cases {
        assert_eq!(err(router(settings)), format!("router_settings.{message}"));
    }
}

#[test]
fn fallbacks_take_every_shape() {
    let s = ok(router(json!({
        "fallbacks": [{"a": ["b", "c"]}, {"b": "os.environ/FALLBACK", "c": []}],
        "context_window_fallbacks": {"a": ["b"], "b": ["c"]},
        "content_policy_fallbacks": [{"c": "gpt-4o"}],
    })))
    .settings;
    assert_eq!(
        s.fallbacks,
        pairs(&[("a", &["b", "c"]), ("b", &["gpt-4o-mini"]), ("c", &[])])
    );
    assert_eq!(s.context_window_fallbacks, pairs(&[("a", &["b"]), ("b", &["c"])]));
    assert_eq!(s.content_policy_fallbacks, pairs(&[("c", &["gpt-4o"])]));
    assert!(ok(router(json!({"fallbacks": []}))).settings.fallbacks.is_empty());
}

#[test]
fn fallbacks_must_start_from_a_group() {
    let message = err(router(json!({"fallbacks": [{"a": ["b"]}, {"gpt-3.5-turbo": ["a"]}]})));
    assert_eq!(
        message,
        "router_settings.fallbacks[1][\"gpt-3.5-turbo\"]: no deployment in model_list has the model_name \"gpt-3.5-turbo\", so these fallbacks can never apply"
    );
}

#[test]
fn wrong_fallbacks_name_their_path() {
    let cases = [
        (
            json!({"fallbacks": "b"}),
            "fallbacks: expected a list of {group: [fallbacks]} mappings, got \"b\"",
        ),
        (
            json!({"fallbacks": [{}]}),
            "fallbacks[0]: must not be empty, got a mapping",
        ),
        (
            json!({"fallbacks": [["a", "b"]]}),
            "fallbacks[0]: expected a mapping, got a list",
        ),
        (
            json!({"fallbacks": [{"a": ["b", ""]}]}),
            "fallbacks[0].a[1]: must not be empty, got \"\"",
        ),
        (
            json!({"fallbacks": [{"a": [1]}]}),
            "fallbacks[0].a[0]: expected a string, got 1",
        ),
        (
            json!({"fallbacks": [{"a": ["a"]}]}),
            "fallbacks[0].a: a group cannot fall back to itself, got a list",
        ),
        (
            json!({"fallbacks": [{"a": ["b"]}, {"a": ["c"]}]}),
            "fallbacks[1].a: the group already has fallbacks at router_settings.fallbacks[0].a",
        ),
        (
            json!({"content_policy_fallbacks": [{"a": "os.environ/NOPE"}]}),
            "content_policy_fallbacks[0].a: environment variable NOPE is not set",
        ),
    ];
    for (settings, message) in cases {
        assert_eq!(err(router(settings)), format!("router_settings.{message}"));
    }
}

#[test]
fn router_settings_win_over_litellm_settings() {
    let mut config = router(json!({"num_retries": 1, "fallbacks": [{"a": ["b"]}]}));
    config["litellm_settings"] = json!({
        "num_retries": 4,
        "allowed_fails": 7,
        "request_timeout": 600,
        "fallbacks": [{"b": ["c"]}],
        "context_window_fallbacks": [{"a": ["c"]}],
        "drop_params": true,
        "my_custom_attribute": {"x": 1},
        "timeout": 3,
    });
    let spec = ok(config);
    let s = &spec.settings;
    assert_eq!(
        (s.num_retries, s.allowed_fails, s.timeout),
        (Some(1), 7, Some(Duration::from_secs(600)))
    );
    assert_eq!(s.fallbacks, pairs(&[("a", &["b"])]));
    assert_eq!(s.context_window_fallbacks, pairs(&[("a", &["c"])]));
    let ignored = [
        "litellm_settings.drop_params",
        "litellm_settings.my_custom_attribute",
        "litellm_settings.timeout",
    ];
    assert_eq!(spec.ignored, ignored);
    let wrong = err(json!({"litellm_settings": {"num_retries": "many"}}));
    assert_eq!(wrong, "litellm_settings.num_retries: expected a number, got \"many\"");
}

#[test]
fn ignored_keys_come_in_document_order() {
    let spec = ok(json!({
        "router_settings": {"enable_pre_call_checks": true, "routing_strategy": "cost-based-routing"},
        "guardrails": [],
        "model_list": [
            {"model_name": "a", "litellm_params": {"model": "m", "tags": ["x"], "stream_timeout": 5}},
            {"model_name": "b", "litellm_params": {"input_cost_per_token": 1e-6, "model": "m"}},
        ],
        "litellm_settings": {"success_callback": ["langfuse"]},
        "general_settings": {},
    }));
    let expected = [
        "router_settings.enable_pre_call_checks",
        "router_settings.routing_strategy",
        "guardrails",
        "model_list[0].litellm_params.tags",
        "model_list[0].litellm_params.stream_timeout",
        "model_list[1].litellm_params.input_cost_per_token",
        "litellm_settings.success_callback",
        "general_settings",
    ];
    assert_eq!(spec.ignored, expected);
}

// ===== YAML =====

#[test]
fn the_example_config_loads() {
    let value = load_yaml(include_str!("../../../examples/config.yaml")).unwrap();
    let spec = parse(&value, &|name: &str| match name {
        "REDIS_HOST" => Some("127.0.0.1".to_owned()),
        _ => name.contains("API_KEY").then(|| format!("test-{name}")),
    })
    .unwrap();
    assert_eq!(
        spec.settings.redis.as_ref().map(crate::config::Secret::expose),
        Some("redis://127.0.0.1:6379/0")
    );
    let groups: Vec<&str> = spec.deployments.iter().map(|d| d.group.as_str()).collect();
    let expected = [
        "gpt-4o",
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "claude-sonnet",
        "gpt-4.1",
        "text-embedding-3-small",
    ];
    assert_eq!(groups, expected);
    let westeu = &spec.deployments[3];
    assert_eq!(
        (westeu.rpm, westeu.order, westeu.api_version.as_deref()),
        (Some(300), Some(2), Some("2024-10-21"))
    );
    assert_eq!(
        westeu.api_key.as_ref().map(|k| k.expose()),
        Some("test-AZURE_API_KEY_WESTEU")
    );
    assert_eq!(spec.deployments[4].defaults["temperature"], 0.2);
    let s = &spec.settings;
    assert_eq!(
        (s.num_retries, s.cooldown_time, s.timeout),
        (Some(2), Duration::from_secs(30), Some(Duration::from_secs(120)))
    );
    assert_eq!(
        s.fallbacks,
        pairs(&[
            ("gpt-4o", &["gpt-4o-mini", "claude-sonnet"]),
            ("claude-sonnet", &["gpt-4o"])
        ])
    );
    assert!(
        spec.ignored.contains(&"general_settings".to_owned()),
        "{:?}",
        spec.ignored
    );
    assert!(spec.ignored.contains(&"litellm_settings.success_callback".to_owned()));
}

#[test]
fn yaml_keeps_order_and_types() {
    let value = load_yaml("b: 1\na: [x, 'y', \"2\", 2.5, true, null, ~, 0x10]\nc: |\n  text\n").unwrap();
    assert_eq!(
        value,
        json!({"b": 1, "a": ["x", "y", "2", 2.5, true, null, null, 16], "c": "text\n"})
    );
    assert_eq!(value.as_object().unwrap().keys().collect::<Vec<_>>(), ["b", "a", "c"]);
    assert_eq!(
        load_yaml("\u{feff}{\"a\": [1, {\"b\": null}]}").unwrap(),
        json!({"a": [1, {"b": null}]})
    );
    assert_eq!(load_yaml("a: !!str 12").unwrap(), json!({"a": "12"}));
}

#[test]
fn yaml_merge_keys_apply() {
    let text = "base: &base {api_key: k, rpm: 1}\nmore: &more {rpm: 2, tpm: 3}\nx:\n  <<: [*base, *more]\n  rpm: 9\n";
    assert_eq!(
        load_yaml(text).unwrap()["x"],
        json!({"api_key": "k", "rpm": 9, "tpm": 3})
    );
    let one = load_yaml("a: &a {k: 1}\nb: {<<: *a, j: 2}").unwrap();
    assert_eq!(one["b"], json!({"k": 1, "j": 2}));
    assert!(load_yaml("a: {<<: 1}")
        .unwrap_err()
        .to_string()
        .contains("`<<` takes a mapping"));
}

#[test]
fn yaml_errors_give_the_line() {
    let cases = [
        ("a: 1\nb: [1, 2\n", "invalid YAML: "),
        ("a: 1\n1: b\n", "mapping keys must be strings, got 1 at line 2"),
        ("a: 1\n[x]: b\n", "mapping keys must be strings, got a list"),
        ("a: 1\nb: 2\na: 3\n", "duplicate key \"a\" at line 3"),
        ("a: .inf\n", ".inf is not a finite number"),
        ("a: 1\n---\nb: 2\n", "more than one document"),
        ("a: &a [*a]\n", "refers to"),
    ];
    for (text, message) in cases {
        let error = load_yaml(text).expect_err(text).to_string();
        assert!(error.contains(message), "{text:?}: {error}");
        assert!(error.starts_with("invalid YAML: "), "{error}");
    }
    assert_eq!(
        load_yaml("# nothing\n").unwrap_err().to_string(),
        "the YAML holds no document"
    );
}

#[test]
fn yaml_alias_bombs_are_stopped() {
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let previous = format!("*a{}", i - 1);
        text.push_str(&format!("a{i}: &a{i} [{}]\n", vec![previous; 10].join(", ")));
    }
    let error = load_yaml(&text).unwrap_err().to_string();
    assert!(error.contains("expands to more than 1000000 values"), "{error}");

    let wide = format!("s: &s {}\nl: [{}]\n", "x".repeat(4 << 20), vec!["*s"; 20].join(", "));
    let error = load_yaml(&wide).unwrap_err().to_string();
    assert!(error.contains("64 MiB"), "{error}");
}

#[test]
fn yaml_size_and_depth_are_capped() {
    let error = load_yaml(&"#".repeat(MAX_TEXT + 1)).unwrap_err().to_string();
    assert_eq!(
        error,
        format!("the config is {} bytes, over the limit of 16 MiB", MAX_TEXT + 1)
    );
    for deep in [
        format!("{}x{}", "[".repeat(100), "]".repeat(100)),
        format!("{}x", "- ".repeat(100_000)),
    ] {
        let error = load_yaml(&deep).unwrap_err().to_string();
        assert!(error.contains("nested deeper than 64 levels"), "{error}");
    }
    assert!(load_yaml(&format!("{}x{}", "[".repeat(60), "]".repeat(60))).is_ok());
}

#[test]
fn litellm_cache_settings_map_to_our_backends() {
    let with = |params: Value| {
        let config = json!({"litellm_settings": {"cache": true, "cache_params": params}});
        ok(config).cache.expect("cache is on")
    };
    let local = ok(json!({"litellm_settings": {"cache": true}})).cache.unwrap();
    assert_eq!((local.url.as_str(), local.ttl), ("memory", None));
    let disk = with(json!({"type": "disk", "disk_cache_dir": "/var/cache/llm/", "ttl": 60}));
    assert_eq!(disk.url, "sqlite:///var/cache/llm/liter_llm_cache.db");
    assert_eq!(disk.ttl, Some(Duration::from_secs(60)));
    let redis = with(
        json!({"type": "redis", "host": "cache.internal", "port": "6380", "password": "p@ss/w:rd",
        "db": 2, "namespace": "team", "ttl": 10, "default_in_redis_ttl": 30}),
    );
    assert_eq!(redis.url, "redis://:p%40ss%2Fw%3Ard@cache.internal:6380/2");
    assert!(!format!("{redis:?}").contains("p%40ss"), "Debug masks the password");
    assert_eq!(
        (redis.namespace.as_str(), redis.ttl),
        ("team", Some(Duration::from_secs(30)))
    );
    let url = with(json!({"type": "redis", "url": "redis://10.0.0.1:6379/0"}));
    assert_eq!(url.url, "redis://10.0.0.1:6379/0");
    assert!(
        ok(json!({"litellm_settings": {"cache": false, "cache_params": {"type": "redis"}}}))
            .cache
            .is_none()
    );
}

#[test]
fn litellm_cache_settings_we_cannot_honour_fail_by_path() {
    let bad = |params: Value| err(json!({"litellm_settings": {"cache": true, "cache_params": params}}));
    assert!(bad(json!({"type": "qdrant-semantic"})).contains("litellm_settings.cache_params.type"));
    assert!(bad(json!({"tipe": "redis"})).contains("did you mean `type`"));
    let hidden = bad(json!({"type": "redis", "password": 5}));
    assert!(
        hidden.contains("cache_params.password") && hidden.contains("<hidden>"),
        "{hidden}"
    );
    assert!(err(json!({"litellm_settings": {"cache": "maybe"}})).contains("litellm_settings.cache"));
}
