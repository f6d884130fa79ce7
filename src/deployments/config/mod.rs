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
//! [`parse_router_config`] reads the other shape LiteLLM takes, a `RouterConfig` (`model_list`
//! and the router's settings at one level), as a proxy's caller sends it in `user_config`; it
//! never reads the environment.
//!
//! [`super::yaml::load_yaml`] turns YAML (or JSON) text of at most 16 MiB into the value
//! [`parse`] takes: one document, string keys only, no duplicate keys, merge keys (`<<: *base`)
//! applied, and anchors expanded up to 1,000,000 values and 64 MiB of text so an alias bomb
//! fails instead of eating memory.
//!
//! Layout: `fields` walks sections and typed fields (paths, `os.environ/`, hidden secrets),
//! `model_list` reads the deployments, `settings` the router settings, `cache` the response cache.

mod cache;
mod fields;
mod general;
mod model_list;
#[cfg(test)]
mod router_config_tests;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::error::Result;

pub(crate) use self::fields::shown;
use self::fields::{child, walk, Ctx, Field, Section};
pub use self::general::{general_settings, Database, GeneralSettings};
use self::settings::{Setting, LITELLM_SETTINGS, ROUTER_SETTINGS};
use super::spec::{DeploymentSpec, RouterSpec};

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
        env: Some(env),
        vars: environment_variables(root.map()?)?,
        ignored: Vec::new(),
    };
    let mut sections = Sections::default();
    walk(&mut ctx, &root, &TOP_LEVEL, &mut sections)?;
    let settings = settings::settings(&sections)?;
    let mut on = false;
    let mut params = None;
    for setting in &sections.litellm_settings {
        match setting {
            Setting::Cache(flag) => on = *flag,
            Setting::CacheParams(p) => params = Some(&**p),
            _ => {}
        }
    }
    Ok(RouterSpec {
        cache: cache::settings(on, params),
        deployments: sections.deployments,
        settings,
        ignored: ctx.ignored,
    })
}

/// Checks a LiteLLM `RouterConfig` given at `path` (a proxy caller's `user_config`):
/// `model_list` and the router's settings side by side (`num_retries`, `allowed_fails`,
/// `fallbacks`, `timeout`, ... as in `router_settings`). Errors name paths under `path`.
/// `os.environ/NAME` values are refused: they would read the environment of whoever parses
/// the config, not of whoever wrote it.
///
/// # Errors
/// [`Kind::InvalidArgument`] naming the path of the first wrong value or unknown key.
pub fn parse_router_config(root: &Value, path: &str) -> Result<RouterSpec> {
    let whole = Field::at(path.to_owned(), Some(root));
    let mut ctx = Ctx {
        env: None,
        vars: HashMap::new(),
        ignored: Vec::new(),
    };
    let mut sections = Sections::default();
    let mut settings = whole.map()?.clone();
    let model_list = settings.remove("model_list").unwrap_or(Value::Null);
    let model_list = Field::at(child(path, "model_list"), Some(&model_list));
    if model_list.value.is_null() {
        return Err(model_list.fail("is required"));
    }
    model_list::model_list(&mut ctx, &model_list, &mut sections.deployments)?;
    let settings = Value::Object(settings);
    walk(
        &mut ctx,
        &Field::at(path.to_owned(), Some(&settings)),
        &ROUTER_SETTINGS,
        &mut sections.router_settings,
    )?;
    Ok(RouterSpec {
        settings: settings::settings(&sections)?,
        deployments: sections.deployments,
        cache: None,
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
        ("model_list", |s, ctx, _, f| {
            model_list::model_list(ctx, f, &mut s.deployments)
        }),
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
