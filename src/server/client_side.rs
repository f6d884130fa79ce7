//! What a caller may bring of its own in a request body, and the one-off client that serves it.
//!
//! - `user_config` (allowed by `general_settings.allow_user_config`): a LiteLLM `RouterConfig`,
//!   `model_list` with the router's settings beside it (`num_retries`, `allowed_fails`,
//!   `fallbacks`, `timeout`, ...). The request is routed over those deployments alone; its
//!   `model` must be one of their `model_name`s. At most [`MAX_USER_DEPLOYMENTS`] deployments.
//! - `api_key`, `api_base` (alias `base_url`) and `api_version` (allowed by
//!   `general_settings.allow_client_side_credentials`): the request goes to the deployments of its
//!   model group (or to its model as given, when it names no group), each with its provider and
//!   model, with the caller's key: at the caller's `api_base` when given, else at the host the
//!   server sends that deployment to. `api_base` without `api_key` sends no key (a caller's own
//!   keyless server); `api_version` alone is refused (it would be the server's key with the
//!   caller's settings).
//!
//! Either way the fields are taken out of the body and never forwarded, and a request carrying
//! one the server does not allow is a 400 naming the setting that allows it. Nothing of the
//! server's credentials goes with such a request: the one-off client reads no key from the
//! environment (`os.environ/` in a `user_config` is refused), and takes none of the server's
//! config keys, extra headers or rate limiter; a deployment without its own `api_key` sends no
//! key. The server's custom providers, timeouts, retries and size limits apply.
//!
//! Nothing is kept per caller: the client is built for its request and dropped after it; its
//! deployments build their provider routes, the cost of such a request over a plain one. They
//! send through one connection pool the server keeps for all callers' clients (its default
//! headers carry nothing of the server's), so connections are reused across requests. The
//! server's response cache is not used: another caller's `model_name` may mean another model.
//! Virtual-key admission and spend apply as to any request.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::AppState;
use crate::config::{ClientConfig, Secret};
use crate::deployments::config::parse_router_config;
use crate::deployments::spec::{DeploymentSpec, RouterSettings, RouterSpec};
use crate::deployments::Deployments;
use crate::error::{Error, Kind};
use crate::ratelimit::RateLimitConfig;
use crate::Client;

/// The most deployments a `user_config` may hold.
pub const MAX_USER_DEPLOYMENTS: usize = 32;

/// The body fields a caller's credentials come in (`base_url` is an alias of `api_base`).
const CREDENTIAL_FIELDS: [&str; 4] = ["api_key", "api_base", "base_url", "api_version"];

/// What a request brought of its own.
pub(crate) enum Brought {
    /// Nothing: the server's own client serves it.
    Nothing,
    /// `user_config`, as sent.
    UserConfig(Value),
    /// The caller's provider credentials.
    Credentials(Credentials),
}

/// `api_key`, `api_base` and `api_version` from a request body, checked.
pub(crate) struct Credentials {
    api_key: Option<Secret>,
    api_base: Option<String>,
    api_version: Option<String>,
}

/// Takes what the caller brought out of a request body's `fields` (a `null` value counts as
/// not given); why not, when the server does not allow it or a value is malformed.
pub(crate) fn take(state: &AppState, fields: &mut Map<String, Value>) -> Result<Brought, String> {
    let user_config = fields.remove("user_config").filter(|v| !v.is_null());
    let given: Vec<(&str, Value)> = CREDENTIAL_FIELDS
        .iter()
        .filter_map(|&name| fields.remove(name).filter(|v| !v.is_null()).map(|v| (name, v)))
        .collect();
    match (user_config, given.is_empty()) {
        (None, true) => Ok(Brought::Nothing),
        (Some(_), false) => Err("send user_config or api_key/api_base/api_version, not both".to_owned()),
        (Some(_), true) if !state.allow_user_config => {
            Err("user_config is not allowed on this server: general_settings.allow_user_config enables it".to_owned())
        }
        (Some(config), true) => Ok(Brought::UserConfig(config)),
        (None, false) if !state.allow_client_side_credentials => {
            let names: Vec<&str> = given.iter().map(|(name, _)| *name).collect();
            Err(format!(
                "{} in the request body: not allowed on this server (general_settings.allow_client_side_credentials \
                 enables client-side credentials)",
                names.join(", ")
            ))
        }
        (None, false) => credentials(given).map(Brought::Credentials),
    }
}

/// The credentials of the given fields, checked before anything is sent. Values never show in
/// an error (a key, or a URL with a password in it).
fn credentials(given: Vec<(&str, Value)>) -> Result<Credentials, String> {
    let mut out = Credentials {
        api_key: None,
        api_base: None,
        api_version: None,
    };
    for (name, value) in given {
        let Value::String(text) = value else {
            return Err(format!("{name} must be a string"));
        };
        if text.is_empty() {
            return Err(format!("{name} must not be empty"));
        }
        match name {
            "api_key" => {
                if reqwest::header::HeaderValue::from_str(&format!("Bearer {text}")).is_err() {
                    return Err("api_key holds characters a header cannot carry".to_owned());
                }
                out.api_key = Some(Secret::new(text));
            }
            "api_version" => out.api_version = Some(text),
            _ => {
                if out.api_base.is_some() {
                    return Err("give api_base or its alias base_url, not both".to_owned());
                }
                let web = reqwest::Url::parse(&text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
                if !web {
                    return Err(format!("{name} must be an http:// or https:// URL"));
                }
                out.api_base = Some(text);
            }
        }
    }
    if out.api_key.is_none() && out.api_base.is_none() {
        return Err("api_version goes with api_key or api_base".to_owned());
    }
    Ok(out)
}

/// The client that serves a request for `models` (one, or those of `model="a,b"`): the
/// server's own, or one built for what the caller brought.
///
/// # Errors
/// `InvalidArgument` for a malformed `user_config` or one without these models; `Network` when
/// the callers' connection pool cannot be made.
pub(crate) fn client_for(state: &AppState, brought: Brought, models: &[&str]) -> crate::Result<Arc<Client>> {
    let spec = match brought {
        Brought::Nothing => return Ok(Arc::clone(&state.client)),
        Brought::UserConfig(config) => user_spec(&config, models)?,
        Brought::Credentials(credentials) => credentials_spec(&state.client, &credentials, models),
    };
    let config = caller_config(state.client.config());
    let http = match state.callers_http.get() {
        Some(http) => http.clone(),
        None => {
            let made = crate::http::build(&config)?;
            state.callers_http.get_or_init(|| made).clone()
        }
    };
    let max_wait = state
        .client
        .deployments()
        .map_or(RateLimitConfig::default().max_delay, Deployments::max_wait);
    Client::with_deployments_over(http, config, spec, max_wait).map(Arc::new)
}

/// The config a caller's client is built from: the server's timeouts, retries, size limits
/// and custom providers (hosts and header names, no keys), and nothing that carries a
/// credential or the server's own pacing.
fn caller_config(server: &ClientConfig) -> ClientConfig {
    ClientConfig {
        max_retries: server.max_retries,
        timeout: server.timeout,
        sanitize: server.sanitize,
        providers: server.providers.clone(),
        api_version: server.api_version.clone(),
        limits: server.limits,
        total_timeout: server.total_timeout,
        credentials_from_env: false,
        ..ClientConfig::default()
    }
}

/// A caller's `user_config`, checked, with every model of the request among its groups.
fn user_spec(config: &Value, models: &[&str]) -> crate::Result<RouterSpec> {
    let invalid = |message: String| Error::new(Kind::InvalidArgument, message);
    let count = config.get("model_list").and_then(Value::as_array).map_or(0, Vec::len);
    if count > MAX_USER_DEPLOYMENTS {
        return Err(invalid(format!(
            "user_config.model_list: at most {MAX_USER_DEPLOYMENTS} deployments, got {count}"
        )));
    }
    let spec = parse_router_config(config, "user_config")?;
    if let Some(missing) = models
        .iter()
        .find(|model| !spec.deployments.iter().any(|d| d.group == **model))
    {
        return Err(invalid(format!(
            "model {}: no deployment in user_config.model_list has this model_name",
            Value::from(*missing)
        )));
    }
    Ok(spec)
}

/// The server's deployments of `models` (or each model as given, when it names no group) with
/// the caller's credentials, under the server's router settings without fallbacks (they would
/// lead to other groups, with the caller's key).
fn credentials_spec(server: &Client, credentials: &Credentials, models: &[&str]) -> RouterSpec {
    let mut deployments = Vec::new();
    for &model in models {
        match server.deployments().and_then(|d| d.group(model)) {
            Some(group) => deployments.extend(group.members.iter().map(|member| {
                aimed(
                    &member.client,
                    &member.model,
                    model,
                    credentials,
                    member.defaults.clone(),
                )
            })),
            None => deployments.push(aimed(server, model, model, credentials, Map::new())),
        }
    }
    let settings = server
        .deployments()
        .map_or_else(RouterSettings::default, |d| RouterSettings {
            fallbacks: Vec::new(),
            default_fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            // The caller's own deployments share no state with the server's.
            redis: None,
            ..d.settings().clone()
        });
    RouterSpec {
        deployments,
        settings,
        cache: None,
        ignored: Vec::new(),
    }
}

/// One deployment of a caller's client, in `group`: `model` as `client` sends it (its provider,
/// its model on the wire, its host unless the caller gave one), with the caller's credentials.
fn aimed(
    client: &Client,
    model: &str,
    group: &str,
    credentials: &Credentials,
    defaults: Map<String, Value>,
) -> DeploymentSpec {
    let route = client.router.route(model);
    let host = Some(route.target.base.clone()).filter(|base| !base.is_empty());
    DeploymentSpec {
        group: group.to_owned(),
        model: format!("{}/{}", route.target.name(), route.model),
        api_key: credentials.api_key.clone(),
        api_base: credentials.api_base.clone().or(host),
        api_version: credentials
            .api_version
            .clone()
            .or_else(|| Some(client.router.azure_api_version.clone())),
        timeout: Some(client.config().timeout),
        max_retries: Some(client.config().max_retries),
        defaults,
        ..DeploymentSpec::default()
    }
}
