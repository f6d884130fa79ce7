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
    /// `database_url`: the key store (`sqlite:///path/to/file.db` or `postgresql://...`).
    pub database: Option<Database>,
    /// `redis_url`: where replicas sharing a PostgreSQL store count keys' spend and limits
    /// (else `router_settings`' Redis, if any).
    pub redis: Option<Secret>,
    /// `allow_client_side_credentials`: a request may bring its own `api_key`/`api_base`.
    pub allow_client_side_credentials: bool,
    /// `allow_user_config`: a request may bring its own model list (`user_config`).
    pub allow_user_config: bool,
    /// `access_log`: `stdout`, `off` (or `false`), or a file path.
    pub access_log: Option<String>,
    /// The keys of the section that are not read, as paths (`general_settings.alerting`).
    pub ignored: Vec<String>,
}

/// Where the proxy keeps its keys and spend.
#[derive(Debug, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file (one machine).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgresql://` or `postgres://` URL; it may hold a password).
    Postgres(Secret),
}

/// The `general_settings` keys the proxy reads.
const READ: &[&str] = &[
    "master_key",
    "database_url",
    "redis_url",
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
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        out.database = Some(match scheme.as_deref() {
            Some("postgresql" | "postgres") => Database::Postgres(Secret::new(url)),
            _ => Database::Sqlite(sqlite_path(&url).ok_or_else(|| {
                invalid(format!(
                    "{path}: expected sqlite:///PATH or postgresql://USER[:PASSWORD]@HOST[:PORT]/DB; got a {} URL",
                    url.split_once(':').map_or("malformed", |(scheme, _)| scheme)
                ))
            })?),
        });
    }
    if let Some(value) = fields.get("redis_url").filter(|v| !v.is_null()) {
        let path = child(&section.path, "redis_url");
        let url = ctx.field(path.clone(), value)?.text()?;
        if !url.to_ascii_lowercase().starts_with("redis://") {
            return Err(invalid(format!(
                "{path}: expected redis://[user:password@]host[:port][/db], got {}",
                crate::redis_link::shown(&url)
            )));
        }
        out.redis = Some(Secret::new(url));
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

    #[test]
    fn redis_url_is_a_redis_url_kept_secret() {
        let read = |url: &str| general_settings(&json!({"general_settings": {"redis_url": url}}), &env);
        let settings = read("redis://:pw-s3cret@cache:6379/1").unwrap();
        assert_eq!(
            settings.redis.as_ref().unwrap().expose(),
            "redis://:pw-s3cret@cache:6379/1"
        );
        assert!(settings.ignored.is_empty());
        assert!(!format!("{settings:?}").contains("pw-s3cret"));
        let err = read("memcached://:pw-s3cret@cache:11211").unwrap_err();
        assert!(
            err.message().contains("general_settings.redis_url: expected redis://"),
            "{err}"
        );
        assert!(!err.message().contains("pw-s3cret"), "{err}");
    }

    #[test]
    fn database_url_names_a_sqlite_file_or_a_postgresql_database() {
        let read = |url: &str| general_settings(&json!({"general_settings": {"database_url": url}}), &env);
        assert_eq!(
            read("sqlite:///tmp/k.db").unwrap().database,
            Some(Database::Sqlite(PathBuf::from("/tmp/k.db")))
        );
        for url in [
            "postgresql://u:pw@db:5432/llm",
            "postgres://db/llm",
            "POSTGRESQL://db/llm",
        ] {
            match read(url).unwrap().database {
                Some(Database::Postgres(secret)) => assert_eq!(secret.expose(), url),
                other => panic!("{url}: {other:?}"),
            }
        }
        let err = read("mysql://u:pw@db/llm").unwrap_err();
        assert!(err.message().contains("got a mysql URL"), "{err}");
        assert!(!err.message().contains("pw"), "{err}");
        assert!(!format!("{:?}", read("postgresql://u:s3cret@db/llm").unwrap()).contains("s3cret"));
    }
}
