//! Reads a LiteLLM-style routing config (the proxy's `config.yaml`, or the same shape built from
//! Python values) into a checked [`RouterSpec`].
//!
//! - Top level: `model_list`, `router_settings`, `litellm_settings` and `environment_variables`
//!   are read; `general_settings` and the proxy's other sections are accepted and listed once in
//!   [`RouterSpec::ignored`], unread. Any other key is an error.
//! - `os.environ/NAME` as a string value reads `NAME` from `environment_variables`, else from the
//!   environment given to [`parse`]; an unset variable is an error. Only values liter_llm uses
//!   are read, so ignored keys may name variables that are not set.
//! - `null` means "not set", as `None` does for LiteLLM.
//! - Numbers may also be given as strings holding the whole number (`rpm: "100"`), so that values
//!   read from the environment work; durations are numbers of seconds.
//! - Keys LiteLLM accepts but liter_llm does not implement are listed by path in
//!   [`RouterSpec::ignored`], in document order; other keys are typos and fail, with the nearest
//!   known key as a hint. `litellm_settings` is the exception: LiteLLM sets any key there as a
//!   module attribute, so unknown keys there are ignored rather than rejected.
//! - Router keys in `litellm_settings` (`num_retries`, `fallbacks`, `request_timeout`, ...) apply
//!   unless `router_settings` sets the same thing.
//! - Errors read `<path>: <what is wrong>, got <value>`; values of secret-looking keys (and of
//!   secret-looking variables) show as `<hidden>`.
//!
//! [`load_yaml`] turns YAML (or JSON) text of at most 16 MiB into the value [`parse`] takes: one
//! document, string keys only, no duplicate keys, merge keys (`<<: *base`) applied, and anchors
//! expanded up to 1,000,000 values and 64 MiB of text so an alias bomb fails instead of eating
//! memory.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Map, Number, Value};

use super::spec::{DeploymentSpec, Fallbacks, RouterSettings, RouterSpec, Strategy};
use crate::config::Secret;
use crate::error::{Error, Kind, Result};

const ENV_PREFIX: &str = "os.environ/";
const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;
const YEAR: u64 = 365 * DAY;
/// Key endings whose values never appear in an error.
const SECRET_ENDINGS: &[&str] = &["key", "secret", "token", "password", "authorization", "credentials"];

/// Top-level sections of a LiteLLM proxy config that liter_llm accepts and does not read.
const IGNORED_SECTIONS: &[&str] = &[
    "general_settings",
    "guardrails",
    "credential_list",
    "mcp_servers",
    "callback_settings",
    "files_settings",
    "assistant_settings",
    "finetune_settings",
    "vector_store_registry",
];

/// `litellm_params` keys LiteLLM accepts that liter_llm does not implement: other providers'
/// credentials and regions, cost overrides, budgets, tags, per-deployment drop/merge switches,
/// mocks. Their values are neither checked nor read from the environment.
const IGNORED_PARAMS: &[&str] = &[
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

/// `router_settings` keys LiteLLM accepts that liter_llm does not implement: shared state
/// (Redis, caching), per-group policies and aliases, pre-call checks, budgets, tag filtering,
/// alerting and logging switches.
const IGNORED_ROUTER_KEYS: &[&str] = &[
    "redis_host",
    "redis_port",
    "redis_password",
    "redis_url",
    "redis_db",
    "client_ttl",
    "cache_responses",
    "cache_kwargs",
    "caching_groups",
    "routing_strategy_args",
    "model_group_alias",
    "enable_pre_call_checks",
    "optional_pre_call_checks",
    "provider_budget_config",
    "model_group_retry_policy",
    "retry_policy",
    "allowed_fails_policy",
    "disable_cooldowns",
    "enable_tag_filtering",
    "set_verbose",
    "debug_level",
    "alerting_config",
    "polling_interval",
    "max_fallbacks",
    "stream_timeout",
    "default_max_parallel_requests",
    "default_priority",
    "default_litellm_params",
];

// ===== parse =====

/// Checks a LiteLLM-style config (a whole `config.yaml` as a value, or just `model_list` and
/// `router_settings`) and returns what it describes. `env` reads an environment variable, for
/// `os.environ/NAME` values that `environment_variables` does not set.
///
/// # Errors
/// [`Kind::InvalidArgument`] naming the path of the first wrong value, unknown key or unset
/// variable.
pub fn parse(root: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<RouterSpec> {
    let root = Field::at(String::new(), Some(root));
    let mut ctx = Ctx {
        env,
        vars: environment_variables(root.map()?)?,
        ignored: Vec::new(),
    };
    let mut sections = Sections::default();
    walk(&mut ctx, &root, &TOP_LEVEL, &mut sections)?;
    let settings = settings(&sections)?;
    Ok(RouterSpec {
        deployments: sections.deployments,
        settings,
        ignored: ctx.ignored,
    })
}

/// What the top-level sections hold, before the router's settings are merged and checked.
#[derive(Default)]
struct Sections {
    deployments: Vec<DeploymentSpec>,
    litellm_settings: Vec<Setting>,
    router_settings: Vec<Setting>,
}

const TOP_LEVEL: Section<Sections> = Section {
    setters: &[
        ("model_list", |s, ctx, _, f| model_list(ctx, f, &mut s.deployments)),
        ("router_settings", |s, ctx, _, f| {
            walk(ctx, f, &ROUTER_SETTINGS, &mut s.router_settings)
        }),
        ("litellm_settings", |s, ctx, _, f| {
            walk(ctx, f, &LITELLM_SETTINGS, &mut s.litellm_settings)
        }),
        // Read first, by `environment_variables`.
        ("environment_variables", |_, _, _, _| Ok(())),
    ],
    ignored: IGNORED_SECTIONS,
    lenient: false,
};

/// The `environment_variables` section, as the variables it sets.
fn environment_variables(root: &Map<String, Value>) -> Result<HashMap<String, String>> {
    let field = Field::at("environment_variables".into(), root.get("environment_variables"));
    if field.value.is_null() {
        return Ok(HashMap::new());
    }
    let mut vars = HashMap::new();
    for (name, value) in field.map()? {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(Field::at(child(&field.path, name), Some(value)).fail("expected a string")),
        };
        vars.insert(name.clone(), text);
    }
    Ok(vars)
}

// ===== sections and fields =====

/// What a key of a section does: sets part of `T` from the key's value.
type Setter<T> = fn(&mut T, &mut Ctx<'_>, &str, &Field<'_>) -> Result<()>;

/// The keys of one mapping of the config.
struct Section<T: 'static> {
    /// Implemented keys.
    setters: &'static [(&'static str, Setter<T>)],
    /// Keys accepted and listed in `ignored`.
    ignored: &'static [&'static str],
    /// Whether unknown keys are ignored rather than rejected.
    lenient: bool,
}

/// Walks a mapping's keys in order: implemented keys are set, ignored ones listed, `null`s
/// skipped (as unset) and unknown keys rejected.
fn walk<T>(ctx: &mut Ctx<'_>, field: &Field<'_>, section: &Section<T>, target: &mut T) -> Result<()> {
    for (key, value) in field.map()? {
        let path = child(&field.path, key);
        let setter = section.setters.iter().find(|(name, _)| name == key).map(|(_, set)| set);
        let ignored = section.ignored.contains(&key.as_str()) || (section.lenient && setter.is_none());
        match setter {
            _ if value.is_null() && (ignored || setter.is_some()) => {}
            Some(set) => {
                let field = ctx.field(path, value)?;
                set(target, ctx, key, &field)?;
            }
            None if ignored => ctx.ignored.push(path),
            None => return Err(unknown_key(&path, key, section)),
        }
    }
    Ok(())
}

/// The error for a key `section` does not know, with the nearest known key as a hint.
fn unknown_key<T>(path: &str, key: &str, section: &Section<T>) -> Error {
    let known = section
        .setters
        .iter()
        .map(|(name, _)| *name)
        .chain(section.ignored.iter().copied());
    match suggestion(key, known) {
        Some(near) => invalid(format!("{path}: unknown key; did you mean `{near}`?")),
        None => invalid(format!("{path}: unknown key")),
    }
}

/// The known key within two edits of `key` (ignoring case), the nearest first.
fn suggestion<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    if key.len() > 64 {
        return None;
    }
    let key = key.to_ascii_lowercase();
    known
        .map(|name| (edit_distance(&key, name), name))
        .filter(|&(distance, name)| distance <= 2 && distance < name.len())
        .min_by_key(|&(distance, _)| distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance between `a` and `b`, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb)).min(row[j] + 1).min(above + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// What reading a config needs besides the config: the environment, and the ignored keys found.
struct Ctx<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    /// `environment_variables`; they win over `env`.
    vars: HashMap<String, String>,
    ignored: Vec<String>,
}

impl Ctx<'_> {
    /// The value at `path`, read from the environment when it is `os.environ/NAME`.
    fn field<'v>(&self, path: String, value: &'v Value) -> Result<Field<'v>> {
        let Some(name) = value.as_str().and_then(|s| s.strip_prefix(ENV_PREFIX)) else {
            return Ok(Field::at(path, Some(value)));
        };
        if name.is_empty() {
            return Err(invalid(format!("{path}: `{ENV_PREFIX}` names no environment variable")));
        }
        match self.vars.get(name).cloned().or_else(|| (self.env)(name)) {
            Some(text) => Ok(Field {
                path,
                value: Cow::Owned(Value::String(text)),
                var: Some(name.to_owned()),
            }),
            None => Err(invalid(format!("{path}: environment variable {name} is not set"))),
        }
    }

    /// `value` with every `os.environ/NAME` string in it, however deep, read.
    fn resolve_deep(&self, path: &str, value: &Value) -> Result<Value> {
        Ok(match value {
            Value::String(_) => self.field(path.to_owned(), value)?.value.into_owned(),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.resolve_deep(&index(path, i), v))
                    .collect::<Result<_>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve_deep(&child(path, k), v)?)))
                    .collect::<Result<_>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// A value of the config, where it is, and the environment variable it was read from if any.
struct Field<'v> {
    path: String,
    value: Cow<'v, Value>,
    var: Option<String>,
}

impl<'v> Field<'v> {
    /// The value at `path` as given (`None` reads as `null`).
    fn at(path: String, value: Option<&'v Value>) -> Self {
        Field {
            path,
            value: value.map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            var: None,
        }
    }

    /// `<path>: <what>, got <value>`.
    fn fail(&self, what: impl std::fmt::Display) -> Error {
        let at = if self.path.is_empty() { "the config" } else { &self.path };
        let hidden = is_secret(&self.path) || self.var.as_deref().is_some_and(is_secret);
        let got = if hidden {
            "<hidden>".to_owned()
        } else {
            shown(&self.value)
        };
        match &self.var {
            Some(var) => invalid(format!("{at}: {what}, got {got} (from {ENV_PREFIX}{var})")),
            None => invalid(format!("{at}: {what}, got {got}")),
        }
    }

    fn map(&self) -> Result<&Map<String, Value>> {
        self.value.as_object().ok_or_else(|| self.fail("expected a mapping"))
    }

    fn list(&self) -> Result<&Vec<Value>> {
        self.value.as_array().ok_or_else(|| self.fail("expected a list"))
    }

    /// A non-empty string.
    fn text(&self) -> Result<String> {
        match self.value.as_str() {
            Some("") => Err(self.fail("must not be empty")),
            Some(text) => Ok(text.to_owned()),
            None => Err(self.fail("expected a string")),
        }
    }

    /// An `http://` or `https://` URL.
    fn url(&self) -> Result<String> {
        let text = self.text()?;
        let scheme = text.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http" | "https") => Ok(text),
            _ => Err(self.fail("expected an http:// or https:// URL")),
        }
    }

    /// `true` or `false` (also as a string, any case).
    fn boolean(&self) -> Result<bool> {
        match &*self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.fail("expected true or false")),
        }
    }

    /// A (finite) number, also as a string holding just the number.
    fn numeric(&self) -> Result<Number> {
        let parsed = match &*self.value {
            Value::Number(n) => Some(n.clone()),
            Value::String(s) => s
                .parse::<i64>()
                .map(Number::from)
                .ok()
                .or_else(|| s.parse::<f64>().ok().and_then(Number::from_f64)),
            _ => None,
        };
        parsed.ok_or_else(|| self.fail("expected a number"))
    }

    /// A number greater than 0.
    fn positive(&self) -> Result<f64> {
        match self.numeric()?.as_f64() {
            Some(x) if x > 0.0 => Ok(x),
            _ => Err(self.fail("must be positive")),
        }
    }

    /// An integer in `min..=max`.
    fn int<T: TryFrom<i64>>(&self, min: i64, max: i64) -> Result<T> {
        let n = self
            .numeric()?
            .as_i64()
            .ok_or_else(|| self.fail("expected an integer"))?;
        if n < min {
            return Err(match min {
                0 => self.fail("must not be negative"),
                1 => self.fail("must be positive"),
                _ => self.fail(format!("must be at least {min}")),
            });
        }
        match T::try_from(n) {
            Ok(value) if n <= max => Ok(value),
            _ => Err(self.fail(format!("must be at most {max}"))),
        }
    }

    /// A number of seconds up to `max`: greater than 0 when `positive`, else at least 0.
    fn seconds(&self, positive: bool, max: u64) -> Result<Duration> {
        let secs = self
            .numeric()?
            .as_f64()
            .ok_or_else(|| self.fail("expected a number of seconds"))?;
        if secs < 0.0 || (positive && secs == 0.0) {
            return Err(self.fail(if positive {
                "must be positive"
            } else {
                "must not be negative"
            }));
        }
        if secs > max as f64 {
            return Err(self.fail(format!("must be at most {max} seconds")));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}

/// A value shown in an error: a scalar as JSON, cut at 40 characters; a list or mapping by kind.
pub(super) fn shown(value: &Value) -> String {
    match value {
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
        _ => {
            let text = value.to_string();
            match text.char_indices().nth(40) {
                Some((cut, _)) => format!("{}...", &text[..cut]),
                None => text,
            }
        }
    }
}

/// Whether a value at `path` (or read from the variable `path`) may be a secret.
fn is_secret(path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    path.starts_with("environment_variables")
        || path.contains(".extra_headers")
        || path
            .split(['.', '[', ']', '"'])
            .any(|segment| SECRET_ENDINGS.iter().any(|end| segment.ends_with(end)))
}

/// The path of `key` inside `path` (`a.b`, or `a["b.c"]` when the key is not a plain name).
fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (plain, path.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", Value::from(key)),
    }
}

/// The path of item `i` of the list at `path`.
fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

/// Sets a field to a checked value (for the setters' one-liners).
fn store<T>(slot: &mut T, value: T) -> Result<()> {
    *slot = value;
    Ok(())
}

// ===== model_list =====

/// `model_list`: a non-empty list of deployments whose `model_info.id`s are unique.
fn model_list(ctx: &mut Ctx<'_>, field: &Field<'_>, out: &mut Vec<DeploymentSpec>) -> Result<()> {
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

const ENTRY: Section<DeploymentSpec> = Section {
    setters: &[
        ("model_name", |d, _, _, f| store(&mut d.group, f.text()?)),
        ("litellm_params", |d, ctx, _, f| walk(ctx, f, &PARAMS, d)),
        ("model_info", model_info),
    ],
    ignored: &[],
    lenient: false,
};

/// One `model_list` entry.
fn deployment(ctx: &mut Ctx<'_>, entry: &Field<'_>) -> Result<DeploymentSpec> {
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
fn model_info(d: &mut DeploymentSpec, ctx: &mut Ctx<'_>, _: &str, field: &Field<'_>) -> Result<()> {
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

const PARAMS: Section<DeploymentSpec> = Section {
    setters: &[
        ("model", |d, _, _, f| store(&mut d.model, f.text()?)),
        ("api_key", |d, _, _, f| {
            store(&mut d.api_key, Some(Secret::new(f.text()?)))
        }),
        ("api_base", api_base),
        ("base_url", api_base),
        ("api_version", |d, _, _, f| store(&mut d.api_version, Some(f.text()?))),
        ("rpm", |d, _, _, f| store(&mut d.rpm, Some(f.int(1, i64::MAX)?))),
        ("tpm", |d, _, _, f| store(&mut d.tpm, Some(f.int(1, i64::MAX)?))),
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

/// `api_base`, or its alias `base_url` (not both).
fn api_base(d: &mut DeploymentSpec, _: &mut Ctx<'_>, _: &str, field: &Field<'_>) -> Result<()> {
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
fn extra_headers(d: &mut DeploymentSpec, ctx: &mut Ctx<'_>, _: &str, field: &Field<'_>) -> Result<()> {
    for (name, value) in field.map()? {
        add_header(d, &ctx.field(child(&field.path, name), value)?, name)?;
    }
    Ok(())
}

/// Adds the header `name` with the value of `field`, once per name whatever its case.
fn add_header(d: &mut DeploymentSpec, field: &Field<'_>, name: &str) -> Result<()> {
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
fn default_param(d: &mut DeploymentSpec, ctx: &mut Ctx<'_>, key: &str, f: &Field<'_>) -> Result<()> {
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
fn names(ctx: &Ctx<'_>, field: &Field<'_>) -> Result<Vec<String>> {
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

// ===== router settings =====

/// One router setting, as read from `router_settings` or `litellm_settings`.
enum Setting {
    Strategy(Strategy),
    NumRetries(u32),
    AllowedFails(u32),
    Cooldown(Duration),
    RetryAfter(Duration),
    Timeout(Duration),
    DefaultFallbacks(Vec<String>),
    Fallbacks(Which, Vec<Rule>),
}

/// Which of the three fallback lists a `Setting::Fallbacks` sets.
enum Which {
    Any,
    ContextWindow,
    ContentPolicy,
}

/// One group's fallbacks, with where they were given.
struct Rule {
    path: String,
    group: String,
    targets: Vec<String>,
}

const ROUTER_SETTINGS: Section<Vec<Setting>> = Section {
    setters: &[
        ("routing_strategy", |s, ctx, _, f| {
            add(s, Setting::Strategy(strategy(ctx, f)?))
        }),
        ("num_retries", num_retries),
        ("allowed_fails", allowed_fails),
        ("cooldown_time", cooldown_time),
        ("retry_after", |s, _, _, f| {
            add(s, Setting::RetryAfter(f.seconds(false, HOUR)?))
        }),
        ("timeout", timeout),
        ("fallbacks", fallbacks),
        ("context_window_fallbacks", fallbacks),
        ("content_policy_fallbacks", fallbacks),
        ("default_fallbacks", default_fallbacks),
    ],
    ignored: IGNORED_ROUTER_KEYS,
    lenient: false,
};

/// In `litellm_settings` only the router's keys are read; every other key is ignored.
const LITELLM_SETTINGS: Section<Vec<Setting>> = Section {
    setters: &[
        ("num_retries", num_retries),
        ("allowed_fails", allowed_fails),
        ("cooldown_time", cooldown_time),
        ("request_timeout", timeout),
        ("fallbacks", fallbacks),
        ("context_window_fallbacks", fallbacks),
        ("content_policy_fallbacks", fallbacks),
        ("default_fallbacks", default_fallbacks),
    ],
    ignored: &[],
    lenient: true,
};

/// Adds a checked router setting.
fn add(settings: &mut Vec<Setting>, setting: Setting) -> Result<()> {
    settings.push(setting);
    Ok(())
}

/// `routing_strategy`; `cost-based-routing` is ignored (simple shuffle instead).
fn strategy(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<Strategy> {
    Ok(match field.text()?.as_str() {
        "simple-shuffle" => Strategy::SimpleShuffle,
        "least-busy" => Strategy::LeastBusy,
        "latency-based-routing" => Strategy::LatencyBased,
        "usage-based-routing" | "usage-based-routing-v2" => Strategy::UsageBased,
        "order" => Strategy::Order,
        "cost-based-routing" => {
            ctx.ignored.push(field.path.clone());
            Strategy::SimpleShuffle
        }
        _ => {
            return Err(field.fail(
                "expected simple-shuffle, least-busy, latency-based-routing, usage-based-routing, \
                 usage-based-routing-v2 or order",
            ))
        }
    })
}

fn num_retries(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::NumRetries(f.int(0, 100)?))
}

fn allowed_fails(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::AllowedFails(f.int(0, 1000)?))
}

fn cooldown_time(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::Cooldown(f.seconds(false, DAY)?))
}

fn timeout(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::Timeout(f.seconds(true, YEAR)?))
}

fn default_fallbacks(s: &mut Vec<Setting>, ctx: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::DefaultFallbacks(names(ctx, f)?))
}

/// `fallbacks` and its kin: a list of `{group: [targets]}` mappings (LiteLLM's shape), or one
/// mapping of several groups; a target list may be a single string.
fn fallbacks(s: &mut Vec<Setting>, ctx: &mut Ctx<'_>, key: &str, field: &Field<'_>) -> Result<()> {
    let which = match key {
        "context_window_fallbacks" => Which::ContextWindow,
        "content_policy_fallbacks" => Which::ContentPolicy,
        _ => Which::Any,
    };
    let mut rules = Vec::new();
    match &*field.value {
        Value::Object(map) => add_rules(ctx, &field.path, map, &mut rules)?,
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item = ctx.field(index(&field.path, i), item)?;
                match item.map()? {
                    map if map.is_empty() => return Err(item.fail("must not be empty")),
                    map => add_rules(ctx, &item.path, map, &mut rules)?,
                }
            }
        }
        _ => return Err(field.fail("expected a list of {group: [fallbacks]} mappings")),
    }
    add(s, Setting::Fallbacks(which, rules))
}

/// The rules of one `{group: [targets]}` mapping; a group gets one rule.
fn add_rules(ctx: &Ctx<'_>, path: &str, map: &Map<String, Value>, rules: &mut Vec<Rule>) -> Result<()> {
    for (group, targets) in map {
        let field = ctx.field(child(path, group), targets)?;
        if let Some(first) = rules.iter().find(|rule| rule.group == *group) {
            return Err(invalid(format!(
                "{}: the group already has fallbacks at {}",
                field.path, first.path
            )));
        }
        let targets = names(ctx, &field)?;
        if targets.contains(group) {
            return Err(field.fail("a group cannot fall back to itself"));
        }
        rules.push(Rule {
            path: field.path,
            group: group.clone(),
            targets,
        });
    }
    Ok(())
}

/// The router's settings: `litellm_settings`, then `router_settings` over them.
fn settings(sections: &Sections) -> Result<RouterSettings> {
    let groups: HashSet<&str> = sections.deployments.iter().map(|d| d.group.as_str()).collect();
    let mut settings = RouterSettings::default();
    for setting in sections.litellm_settings.iter().chain(&sections.router_settings) {
        match setting {
            Setting::Strategy(strategy) => settings.strategy = *strategy,
            Setting::NumRetries(n) => settings.num_retries = Some(*n),
            Setting::AllowedFails(n) => settings.allowed_fails = *n,
            Setting::Cooldown(time) => settings.cooldown_time = *time,
            Setting::RetryAfter(time) => settings.retry_after = *time,
            Setting::Timeout(time) => settings.timeout = Some(*time),
            Setting::DefaultFallbacks(targets) => settings.default_fallbacks.clone_from(targets),
            Setting::Fallbacks(which, rules) => {
                let list = match which {
                    Which::Any => &mut settings.fallbacks,
                    Which::ContextWindow => &mut settings.context_window_fallbacks,
                    Which::ContentPolicy => &mut settings.content_policy_fallbacks,
                };
                *list = checked_fallbacks(rules, &groups)?;
            }
        }
    }
    Ok(settings)
}

/// The rules as fallbacks, each keyed by a group of `model_list` (else it could never apply).
fn checked_fallbacks(rules: &[Rule], groups: &HashSet<&str>) -> Result<Fallbacks> {
    rules
        .iter()
        .map(|rule| {
            if groups.contains(rule.group.as_str()) {
                Ok((rule.group.clone(), rule.targets.clone()))
            } else {
                Err(invalid(format!(
                    "{}: no deployment in model_list has the model_name {}, so these fallbacks can never apply",
                    rule.path,
                    Value::from(rule.group.as_str())
                )))
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
