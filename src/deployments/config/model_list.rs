//! `model_list`: the deployments, their `litellm_params` and `model_info`.

use std::collections::HashMap;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::Secret;
use crate::error::Result;

use super::fields::*;
use crate::deployments::spec::DeploymentSpec;

/// `litellm_params` keys LiteLLM accepts that liter_llm does not implement: other providers'
/// credentials and regions, cost overrides, budgets, tags, per-deployment drop/merge switches,
/// mocks. Their values are neither checked nor read from the environment.
pub(super) const IGNORED_PARAMS: &[&str] = &[
    "mock_response",
    "input_cost_per_token",
    "output_cost_per_token",
    "input_cost_per_second",
    "output_cost_per_second",
    "custom_llm_provider",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_region_name",
    "aws_session_name",
    "aws_session_token",
    "aws_profile_name",
    "aws_role_name",
    "aws_bedrock_runtime_endpoint",
    "vertex_project",
    "vertex_location",
    "vertex_credentials",
    "region_name",
    "watsonx_region_name",
    "use_in_pass_through",
    "use_litellm_proxy",
    "merge_reasoning_content_in_choices",
    "drop_params",
    "additional_drop_params",
    "stream_timeout",
    "num_retries",
    "tags",
    "litellm_credential_name",
    "api_type",
    "deployment_id",
    "azure_ad_token",
    "azure_ad_token_provider",
    "azure_username",
    "azure_password",
    "azure_scope",
    "tenant_id",
    "client_id",
    "client_secret",
    "configurable_clientside_auth_params",
    "budget_duration",
    "max_budget",
    "cache_control_injection_points",
];

/// `model_list`: a non-empty list of deployments whose `model_info.id`s are unique.
pub(super) fn model_list(ctx: &mut Ctx<'_>, field: &Field<'_>, out: &mut Vec<DeploymentSpec>) -> Result<()> {
    let entries = field.list()?;
    if entries.is_empty() {
        return Err(field.fail("must not be empty"));
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    for (i, value) in entries.iter().enumerate() {
        let entry = ctx.field(index(&field.path, i), value)?;
        let deployment = deployment(ctx, &entry)?;
        if let Some(id) = &deployment.id {
            let path = format!("{}.model_info.id", entry.path);
            if let Some(first) = ids.insert(id.clone(), path.clone()) {
                return Err(invalid(format!(
                    "{path}: duplicate id {}, also at {first}",
                    Value::from(id.as_str())
                )));
            }
        }
        out.push(deployment);
    }
    Ok(())
}

pub(super) const ENTRY: Section<DeploymentSpec> = Section {
    setters: &[
        ("model_name", |d, _, _, f| store(&mut d.group, f.text()?)),
        ("litellm_params", |d, ctx, _, f| walk(ctx, f, &PARAMS, d)),
        ("model_info", model_info),
        ("rpm", limit),
        ("tpm", limit),
    ],
    ignored: &[],
    lenient: false,
};

/// One `model_list` entry.
pub(super) fn deployment(ctx: &mut Ctx<'_>, entry: &Field<'_>) -> Result<DeploymentSpec> {
    let mut d = DeploymentSpec::default();
    let map = entry.map()?;
    walk(ctx, entry, &ENTRY, &mut d)?;
    if d.group.is_empty() {
        return Err(invalid(format!("{}: missing `model_name`", entry.path)));
    }
    if map.get("litellm_params").is_none_or(Value::is_null) {
        return Err(invalid(format!("{}: missing `litellm_params`", entry.path)));
    }
    if d.model.is_empty() {
        return Err(invalid(format!("{}.litellm_params: missing `model`", entry.path)));
    }
    Ok(d)
}

/// `model_info`: `id` taken out, the rest kept (with `os.environ/` values read).
pub(super) fn model_info(d: &mut DeploymentSpec, ctx: &mut Ctx<'_>, _: &str, field: &Field<'_>) -> Result<()> {
    for (key, value) in field.map()? {
        let path = child(&field.path, key);
        match key.as_str() {
            "id" if value.is_null() => {}
            "id" => d.id = Some(ctx.field(path, value)?.text()?),
            _ => {
                d.model_info.insert(key.clone(), ctx.resolve_deep(&path, value)?);
            }
        }
    }
    Ok(())
}

pub(super) const PARAMS: Section<DeploymentSpec> = Section {
    setters: &[
        ("model", |d, _, _, f| store(&mut d.model, f.text()?)),
        ("api_key", |d, _, _, f| {
            store(&mut d.api_key, Some(Secret::new(f.text()?)))
        }),
        ("api_base", api_base),
        ("base_url", api_base),
        ("api_version", |d, _, _, f| store(&mut d.api_version, Some(f.text()?))),
        ("rpm", limit),
        ("tpm", limit),
        ("timeout", |d, _, _, f| {
            store(&mut d.timeout, Some(f.seconds(true, YEAR)?))
        }),
        ("max_retries", |d, _, _, f| {
            store(&mut d.max_retries, Some(f.int(0, 100)?))
        }),
        ("weight", |d, _, _, f| store(&mut d.weight, Some(f.positive()?))),
        ("order", |d, _, _, f| {
            store(&mut d.order, Some(f.int(0, u32::MAX.into())?))
        }),
        ("extra_headers", extra_headers),
        ("organization", |d, _, _, f| add_header(d, f, "OpenAI-Organization")),
        ("temperature", default_param),
        ("top_p", default_param),
        ("max_tokens", default_param),
        ("max_completion_tokens", default_param),
        ("stop", default_param),
        ("seed", default_param),
        ("presence_penalty", default_param),
        ("frequency_penalty", default_param),
        ("n", default_param),
        ("response_format", default_param),
        ("reasoning_effort", default_param),
        ("user", default_param),
        ("logit_bias", default_param),
        ("parallel_tool_calls", default_param),
        ("tool_choice", default_param),
    ],
    ignored: IGNORED_PARAMS,
    lenient: false,
};

/// `rpm` or `tpm`, in `litellm_params` or beside it (LiteLLM reads both places); given in
/// both, the two must agree.
pub(super) fn limit(d: &mut DeploymentSpec, _: &mut Ctx<'_>, key: &str, field: &Field<'_>) -> Result<()> {
    let value = field.int(1, i64::MAX)?;
    let slot = if key == "rpm" { &mut d.rpm } else { &mut d.tpm };
    match slot {
        Some(other) if *other != value => Err(field.fail(format!("the deployment also sets {key} to {other}"))),
        _ => store(slot, Some(value)),
    }
}

/// `api_base`, or its alias `base_url` (not both).
pub(super) fn api_base(d: &mut DeploymentSpec, _: &mut Ctx<'_>, _: &str, field: &Field<'_>) -> Result<()> {
    if d.api_base.is_some() {
        return Err(invalid(format!(
            "{}: set only one of api_base and its alias base_url",
            field.path
        )));
    }
    d.api_base = Some(field.url()?);
    Ok(())
}

/// `extra_headers`: header names to string values.
pub(super) fn extra_headers(d: &mut DeploymentSpec, ctx: &mut Ctx<'_>, _: &str, field: &Field<'_>) -> Result<()> {
    for (name, value) in field.map()? {
        add_header(d, &ctx.field(child(&field.path, name), value)?, name)?;
    }
    Ok(())
}

/// Adds the header `name` with the value of `field`, once per name whatever its case.
pub(super) fn add_header(d: &mut DeploymentSpec, field: &Field<'_>, name: &str) -> Result<()> {
    let value = field.text()?;
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(invalid(format!(
            "{}: {} is not a valid header name",
            field.path,
            Value::from(name)
        )));
    }
    if HeaderValue::from_str(&value).is_err() {
        return Err(field.fail("not a valid header value"));
    }
    if d.extra_headers
        .iter()
        .any(|(other, _)| other.eq_ignore_ascii_case(name))
    {
        return Err(invalid(format!("{}: the header {name} is set twice", field.path)));
    }
    d.extra_headers.push((name.to_owned(), value));
    Ok(())
}

/// A default request parameter, checked loosely for its type.
pub(super) fn default_param(d: &mut DeploymentSpec, ctx: &mut Ctx<'_>, key: &str, f: &Field<'_>) -> Result<()> {
    let value = match key {
        "temperature" | "top_p" | "presence_penalty" | "frequency_penalty" => Value::Number(f.numeric()?),
        "max_tokens" | "max_completion_tokens" | "n" => Value::from(f.int::<i64>(1, i64::MAX)?),
        "seed" => Value::from(f.int::<i64>(i64::MIN, i64::MAX)?),
        "parallel_tool_calls" => Value::Bool(f.boolean()?),
        "reasoning_effort" | "user" => Value::String(f.text()?),
        "stop" | "tool_choice" if f.value.is_string() => Value::String(f.text()?),
        "stop" => Value::from(names(ctx, f)?),
        // `response_format`, `logit_bias`, and `tool_choice` as an object.
        _ => {
            f.map()?;
            ctx.resolve_deep(&f.path, &f.value)?
        }
    };
    d.defaults.insert(key.to_owned(), value);
    Ok(())
}

/// A non-empty string, or a list of them.
pub(super) fn names(ctx: &Ctx<'_>, field: &Field<'_>) -> Result<Vec<String>> {
    match &*field.value {
        Value::String(_) => Ok(vec![field.text()?]),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| ctx.field(index(&field.path, i), item)?.text())
            .collect(),
        _ => Err(field.fail("expected a string or a list of strings")),
    }
}
