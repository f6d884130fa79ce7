//! `general_settings`, read when serving (the client ignores the section): the proxy's
//! `master_key`, where its keys are stored, and what callers may bring of their own. Other keys
//! are LiteLLM's and are not read here.

use std::path::PathBuf;

use serde_json::{Map, Value};

use super::environment_variables;
use super::fields::{child, invalid, Ctx, Field};
use crate::config::Secret;
use crate::error::Result;

/// What the proxy takes from `general_settings`.
#[derive(Debug, Default)]
pub struct GeneralSettings {
    /// `master_key`: the bearer key every request must carry (`os.environ/NAME` read).
    pub master_key: Option<Secret>,
    /// `database_url` (`sqlite:///path/to/file.db`): the key store's file.
    pub database: Option<PathBuf>,
    /// `allow_client_side_credentials`: a request may bring its own `api_key`/`api_base`.
    pub allow_client_side_credentials: bool,
    /// `allow_user_config`: a request may bring its own model list (`user_config`).
    pub allow_user_config: bool,
    /// `access_log`: `stdout`, `off` (or `false`), or a file path.
    pub access_log: Option<String>,
    /// The keys of the section that are not read, as paths (`general_settings.alerting`).
    pub ignored: Vec<String>,
}

/// The `general_settings` keys the proxy reads.
const READ: &[&str] = &[
    "master_key",
    "database_url",
    "allow_client_side_credentials",
    "allow_user_config",
    "access_log",
];

/// Reads `general_settings` of a whole config. `env` reads an environment variable for
/// `os.environ/NAME` values that `environment_variables` does not set.
///
/// # Errors
/// `InvalidArgument` naming the path of a wrong value or an unset variable.
pub fn general_settings(root: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<GeneralSettings> {
    let empty = Map::new();
    let whole = Field::at(String::new(), Some(root));
    let root_map = whole.map()?;
    let ctx = Ctx {
        env: Some(env),
        vars: environment_variables(root_map)?,
        ignored: Vec::new(),
    };
    let section = Field::at("general_settings".into(), root_map.get("general_settings"));
    let fields = if section.value.is_null() {
        &empty
    } else {
        section.map()?
    };
    let mut out = GeneralSettings {
        ignored: fields
            .keys()
            .filter(|k| !READ.contains(&k.as_str()))
            .map(|k| child(&section.path, k))
            .collect(),
        ..GeneralSettings::default()
    };
    if let Some(value) = fields.get("master_key").filter(|v| !v.is_null()) {
        let field = ctx.field(child(&section.path, "master_key"), value)?;
        out.master_key = Some(Secret::new(field.text()?));
    }
    if let Some(value) = fields.get("database_url").filter(|v| !v.is_null()) {
        let path = child(&section.path, "database_url");
        let url = ctx.field(path.clone(), value)?.text()?;
        out.database = Some(sqlite_path(&url).ok_or_else(|| {
            invalid(format!(
                "{path}: only sqlite:///PATH is supported for now (a PostgreSQL database comes with \
                 multi-replica serving); got a {} URL",
                url.split_once(':').map_or("malformed", |(scheme, _)| scheme)
            ))
        })?);
    }
    if let Some(value) = fields.get("access_log").filter(|v| !v.is_null()) {
        let field = ctx.field(child(&section.path, "access_log"), value)?;
        out.access_log = Some(match value {
            Value::Bool(false) => "off".to_owned(),
            _ => field.text()?,
        });
    }
    for (name, flag) in [
        ("allow_client_side_credentials", &mut out.allow_client_side_credentials),
        ("allow_user_config", &mut out.allow_user_config),
    ] {
        if let Some(value) = fields.get(name).filter(|v| !v.is_null()) {
            *flag = ctx.field(child(&section.path, name), value)?.boolean()?;
        }
    }
    Ok(out)
}

/// The file of a `sqlite:///abs/path.db` (or `sqlite://relative.db`) URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://")?;
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(name: &str) -> Option<String> {
        (name == "LITELLM_MASTER_KEY").then(|| "sk-from-env".to_owned())
    }

    #[test]
    fn reads_the_master_key_from_the_environment_or_the_config() {
        let from_env =
            json!({"general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY", "alerting": ["slack"]}});
        let key = general_settings(&from_env, &env).unwrap().master_key.unwrap();
        assert_eq!(key.expose(), "sk-from-env");
        let vars =
            json!({"environment_variables": {"MK": "sk-var"}, "general_settings": {"master_key": "os.environ/MK"}});
        assert_eq!(
            general_settings(&vars, &env).unwrap().master_key.unwrap().expose(),
            "sk-var"
        );
        assert!(general_settings(&json!({"model_list": []}), &env)
            .unwrap()
            .master_key
            .is_none());
        let unset = general_settings(&json!({"general_settings": {"master_key": "os.environ/NOPE"}}), &env);
        assert!(unset.unwrap_err().to_string().contains("general_settings.master_key"));
        let wrong = general_settings(&json!({"general_settings": {"master_key": 5}}), &env).unwrap_err();
        assert!(wrong.to_string().contains("<hidden>"), "{wrong}");
    }
}
