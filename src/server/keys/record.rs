//! A virtual key's settings as `/key/generate` and `/key/update` take them and `/key/info`
//! shows them, in LiteLLM's field names.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The most models one key may name.
const MAX_MODELS: usize = 1_000;
/// The longest alias, model name, user id or custom key.
const MAX_TEXT: usize = 256;
/// The largest `metadata` object, serialized.
const MAX_METADATA_BYTES: usize = 16 << 10;
/// The longest `duration` or `budget_duration`: 100 years.
const MAX_PERIOD_SECONDS: f64 = 100.0 * 365.0 * 86_400.0;

/// What an admin set on a key (everything but its spend).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KeySettings {
    /// `key_alias`: a name for logs, metrics and lists.
    pub key_alias: Option<String>,
    /// `user_id`: whom the key was made for (kept and shown, not enforced).
    pub user_id: Option<String>,
    /// `models`: the model groups it may call (empty: all).
    pub models: Vec<String>,
    /// `max_budget` in USD.
    pub max_budget: Option<f64>,
    /// `budget_duration` as given (`30d`): how often the spend starts again from 0.
    pub budget_duration: Option<String>,
    /// `rpm_limit`: requests per minute.
    pub rpm_limit: Option<u64>,
    /// `tpm_limit`: tokens per minute.
    pub tpm_limit: Option<u64>,
    /// `max_parallel_requests`: requests in flight at once.
    pub max_parallel_requests: Option<u32>,
    /// `expires`: Unix seconds after which the key no longer works.
    pub expires: Option<f64>,
    /// `metadata`: the admin's own fields.
    pub metadata: Map<String, Value>,
    /// `blocked`: refused until unblocked.
    pub blocked: bool,
}

/// A request to `/key/generate` or `/key/update`, read and checked.
#[derive(Debug, Default)]
pub struct KeyRequest {
    /// `key`: a caller-chosen key (generate) or the key to change (update).
    pub key: Option<String>,
    /// The fields it sets; the rest stay as they were.
    fields: Vec<Set>,
}

/// One field a request sets.
#[derive(Debug)]
enum Set {
    Alias(Option<String>),
    User(Option<String>),
    Models(Vec<String>),
    MaxBudget(Option<f64>),
    BudgetDuration(Option<String>),
    Rpm(Option<u64>),
    Tpm(Option<u64>),
    Parallel(Option<u32>),
    Expires(Option<f64>),
    Metadata(Map<String, Value>),
    Blocked(bool),
}

/// The fields the key routes read.
pub const FIELDS: &[&str] = &[
    "key",
    "key_alias",
    "user_id",
    "models",
    "max_budget",
    "budget_duration",
    "rpm_limit",
    "tpm_limit",
    "max_parallel_requests",
    "duration",
    "metadata",
    "blocked",
];

impl KeyRequest {
    /// Reads a request body; `Err` says what is wrong with it.
    pub fn parse(body: &Value) -> Result<Self, String> {
        let Value::Object(fields) = body else {
            return Err("the request body must be a JSON object".into());
        };
        let unknown: Vec<&str> = fields
            .keys()
            .map(String::as_str)
            .filter(|k| !FIELDS.contains(k))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unsupported field(s): {}; supported: {}",
                unknown.join(", "),
                FIELDS.join(", ")
            ));
        }
        let mut out = KeyRequest::default();
        for (name, value) in fields {
            let set = match name.as_str() {
                "key" => {
                    out.key = text(name, value)?;
                    continue;
                }
                "key_alias" => Set::Alias(text(name, value)?),
                "user_id" => Set::User(text(name, value)?),
                "models" => Set::Models(models(value)?),
                "max_budget" => Set::MaxBudget(amount(name, value)?),
                "budget_duration" => {
                    let given = text(name, value)?;
                    if let Some(period) = &given {
                        seconds_of(period).map_err(|e| format!("budget_duration: {e}"))?;
                    }
                    Set::BudgetDuration(given)
                }
                "rpm_limit" => Set::Rpm(count(name, value)?),
                "tpm_limit" => Set::Tpm(count(name, value)?),
                "max_parallel_requests" => Set::Parallel(
                    count(name, value)?
                        .map(|n| u32::try_from(n).map_err(|_| format!("{name} is too large")))
                        .transpose()?,
                ),
                "duration" => Set::Expires(match text(name, value)? {
                    Some(period) => Some(now() + seconds_of(&period).map_err(|e| format!("duration: {e}"))?),
                    None => None,
                }),
                "metadata" => Set::Metadata(metadata(value)?),
                "blocked" => Set::Blocked(match value {
                    Value::Bool(b) => *b,
                    Value::Null => false,
                    _ => return Err("blocked must be a boolean".into()),
                }),
                _ => unreachable!("filtered above"),
            };
            out.fields.push(set);
        }
        Ok(out)
    }

    /// Applies the request's fields to `settings`.
    pub fn apply(&self, settings: &mut KeySettings) {
        for set in &self.fields {
            match set {
                Set::Alias(v) => settings.key_alias.clone_from(v),
                Set::User(v) => settings.user_id.clone_from(v),
                Set::Models(v) => settings.models.clone_from(v),
                Set::MaxBudget(v) => settings.max_budget = *v,
                Set::BudgetDuration(v) => settings.budget_duration.clone_from(v),
                Set::Rpm(v) => settings.rpm_limit = *v,
                Set::Tpm(v) => settings.tpm_limit = *v,
                Set::Parallel(v) => settings.max_parallel_requests = *v,
                Set::Expires(v) => settings.expires = *v,
                Set::Metadata(v) => settings.metadata.clone_from(v),
                Set::Blocked(v) => settings.blocked = *v,
            }
        }
    }

    /// Whether the request changes the budget period (which restarts it).
    pub fn sets_budget_duration(&self) -> bool {
        self.fields.iter().any(|s| matches!(s, Set::BudgetDuration(_)))
    }
}

impl KeySettings {
    /// The budget period in seconds, if any.
    pub fn budget_period(&self) -> Option<f64> {
        self.budget_duration.as_deref().and_then(|p| seconds_of(p).ok())
    }

    /// Whether the key may call the model group `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models.is_empty() || self.models.iter().any(|m| m == model || m == "all-proxy-models")
    }

    /// Whether the key has expired at `at` (Unix seconds).
    pub fn expired(&self, at: f64) -> bool {
        self.expires.is_some_and(|e| at >= e)
    }

    /// The settings as `/key/info` shows them.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut out = Map::new();
        out.insert("key_alias".into(), json!(self.key_alias));
        out.insert("user_id".into(), json!(self.user_id));
        out.insert("models".into(), json!(self.models));
        out.insert("max_budget".into(), json!(self.max_budget));
        out.insert("budget_duration".into(), json!(self.budget_duration));
        out.insert("rpm_limit".into(), json!(self.rpm_limit));
        out.insert("tpm_limit".into(), json!(self.tpm_limit));
        out.insert("max_parallel_requests".into(), json!(self.max_parallel_requests));
        out.insert("expires".into(), json!(self.expires.map(iso8601)));
        out.insert("metadata".into(), Value::Object(self.metadata.clone()));
        out.insert("blocked".into(), json!(self.blocked));
        out
    }
}

/// Unix seconds now.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds in a LiteLLM period: `30s`, `30m`, `30h`, `30d`, `2w` or `1mo` (30 days).
pub fn seconds_of(period: &str) -> Result<f64, String> {
    let period = period.trim();
    let split = period.find(|c: char| !c.is_ascii_digit()).unwrap_or(period.len());
    let (digits, unit) = period.split_at(split);
    let n: f64 = digits
        .parse::<u32>()
        .map_err(|_| format!("{period:?} is not a period like 30s, 30m, 30h, 30d, 2w or 1mo"))?
        .into();
    let unit_seconds = match unit {
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        "d" => 86_400.0,
        "w" => 7.0 * 86_400.0,
        "mo" => 30.0 * 86_400.0,
        _ => return Err(format!("{period:?} is not a period like 30s, 30m, 30h, 30d, 2w or 1mo")),
    };
    let seconds = n * unit_seconds;
    if seconds <= 0.0 || seconds > MAX_PERIOD_SECONDS {
        return Err(format!("{period:?} must be more than 0 and at most 100 years"));
    }
    Ok(seconds)
}

/// `2026-12-03T04:40:00Z` for Unix seconds.
pub fn iso8601(unix: f64) -> String {
    // Whole seconds: float time past year 9999 is not a date anyone sets.
    #[allow(clippy::cast_possible_truncation)]
    let secs = unix.floor().clamp(0.0, 253_402_300_799.0) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

fn text(name: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.len() <= MAX_TEXT => Ok(Some(s.clone())),
        Value::String(_) => Err(format!("{name} is longer than {MAX_TEXT} bytes")),
        _ => Err(format!("{name} must be a string")),
    }
}

fn models(value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) if items.len() <= MAX_MODELS => items
            .iter()
            .map(|m| match m {
                Value::String(s) if !s.is_empty() && s.len() <= MAX_TEXT => Ok(s.clone()),
                _ => Err("models must be a list of model names".to_owned()),
            })
            .collect(),
        Value::Array(_) => Err(format!("models names more than {MAX_MODELS} models")),
        _ => Err("models must be a list of model names".into()),
    }
}

fn amount(name: &str, value: &Value) -> Result<Option<f64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(Some(x)),
            _ => Err(format!("{name} must be a number >= 0")),
        },
        _ => Err(format!("{name} must be a number >= 0")),
    }
}

fn count(name: &str, value: &Value) -> Result<Option<u64>, String> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(x) if x > 0 && x <= crate::ratelimit::MAX_LIMIT => Ok(Some(x)),
            _ => Err(format!(
                "{name} must be a whole number from 1 to {}",
                crate::ratelimit::MAX_LIMIT
            )),
        },
        _ => Err(format!("{name} must be a whole number")),
    }
}

fn metadata(value: &Value) -> Result<Map<String, Value>, String> {
    match value {
        Value::Null => Ok(Map::new()),
        Value::Object(fields) if value.to_string().len() <= MAX_METADATA_BYTES => Ok(fields.clone()),
        Value::Object(_) => Err(format!("metadata is larger than {MAX_METADATA_BYTES} bytes")),
        _ => Err("metadata must be an object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_read_litellm_units_and_refuse_the_rest() {
        assert_eq!(seconds_of("30s"), Ok(30.0));
        assert_eq!(seconds_of("2m"), Ok(120.0));
        assert_eq!(seconds_of("1h"), Ok(3_600.0));
        assert_eq!(seconds_of("30d"), Ok(30.0 * 86_400.0));
        assert_eq!(seconds_of("1mo"), Ok(30.0 * 86_400.0));
        for bad in ["", "d", "30", "30y", "-1d", "0s", "1.5h", "999999999d"] {
            assert!(seconds_of(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_are_utc_iso8601() {
        assert_eq!(iso8601(0.0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400.0), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_796_272_496.9), "2026-12-03T04:34:56Z");
    }

    #[test]
    fn requests_are_checked_and_applied_field_by_field() {
        let request = KeyRequest::parse(&json!({
            "models": ["a"], "max_budget": 1.5, "rpm_limit": 10, "key_alias": "team-a",
            "metadata": {"team": "x"}, "budget_duration": "30d"
        }))
        .unwrap();
        let mut settings = KeySettings {
            tpm_limit: Some(7),
            ..KeySettings::default()
        };
        request.apply(&mut settings);
        assert_eq!(settings.models, ["a"]);
        assert_eq!(settings.max_budget, Some(1.5));
        assert_eq!(settings.rpm_limit, Some(10));
        assert_eq!(settings.tpm_limit, Some(7), "fields not sent stay as they were");
        assert_eq!(settings.budget_period(), Some(30.0 * 86_400.0));
        assert!(request.sets_budget_duration());
        assert!(settings.allows("a") && !settings.allows("b"));

        for (bad, says) in [
            (json!({"max_budget": -1}), "max_budget"),
            (json!({"rpm_limit": 0}), "rpm_limit"),
            (json!({"models": "a"}), "models"),
            (json!({"duration": "soon"}), "duration"),
            (json!({"team_id": "t"}), "unsupported field(s): team_id"),
            (json!([1]), "JSON object"),
        ] {
            let err = KeyRequest::parse(&bad).unwrap_err();
            assert!(err.contains(says), "{err}");
        }
    }
}
