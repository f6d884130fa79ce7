//! Walking a config: sections of known keys, typed fields with their paths, `os.environ/` values
//! and error texts that never show a secret.

use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Map, Number, Value};

use crate::error::{Error, Kind, Result};

pub(super) const ENV_PREFIX: &str = "os.environ/";
pub(super) const HOUR: u64 = 3600;
pub(super) const DAY: u64 = 24 * HOUR;
pub(super) const YEAR: u64 = 365 * DAY;
/// Key endings whose values never appear in an error.
pub(super) const SECRET_ENDINGS: &[&str] = &["key", "secret", "token", "password", "authorization", "credentials"];

/// What a key of a section does: sets part of `T` from the key's value.
pub(super) type Setter<T> = fn(&mut T, &mut Ctx<'_>, &str, &Field<'_>) -> Result<()>;

/// The keys of one mapping of the config.
pub(super) struct Section<T: 'static> {
    /// Implemented keys.
    pub(super) setters: &'static [(&'static str, Setter<T>)],
    /// Keys accepted and listed in `ignored`.
    pub(super) ignored: &'static [&'static str],
    /// Whether unknown keys are ignored rather than rejected.
    pub(super) lenient: bool,
}

/// Walks a mapping's keys in order: implemented keys are set, ignored ones listed, `null`s
/// skipped (as unset) and unknown keys rejected.
pub(super) fn walk<T>(ctx: &mut Ctx<'_>, field: &Field<'_>, section: &Section<T>, target: &mut T) -> Result<()> {
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
pub(super) fn unknown_key<T>(path: &str, key: &str, section: &Section<T>) -> Error {
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
pub(super) fn suggestion<'k>(key: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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

/// Reads an environment variable.
pub(super) type Env<'e> = &'e dyn Fn(&str) -> Option<String>;

/// What reading a config needs besides the config: the environment, and the ignored keys found.
pub(super) struct Ctx<'e> {
    /// `None`: `os.environ/` values are refused (a config sent by a proxy's caller, which must
    /// not read the proxy's environment).
    pub(super) env: Option<Env<'e>>,
    /// `environment_variables`; they win over `env`.
    pub(super) vars: HashMap<String, String>,
    pub(super) ignored: Vec<String>,
}

impl Ctx<'_> {
    /// The value at `path`, read from the environment when it is `os.environ/NAME`.
    pub(super) fn field<'v>(&self, path: String, value: &'v Value) -> Result<Field<'v>> {
        let Some(name) = value.as_str().and_then(|s| s.strip_prefix(ENV_PREFIX)) else {
            return Ok(Field::at(path, Some(value)));
        };
        if name.is_empty() {
            return Err(invalid(format!("{path}: `{ENV_PREFIX}` names no environment variable")));
        }
        let Some(env) = self.env else {
            return Err(invalid(format!(
                "{path}: `{ENV_PREFIX}` is not read here (it would read the server's environment); give the value itself"
            )));
        };
        match self.vars.get(name).cloned().or_else(|| env(name)) {
            Some(text) => Ok(Field {
                path,
                value: Cow::Owned(Value::String(text)),
                var: Some(name.to_owned()),
            }),
            None => Err(invalid(format!("{path}: environment variable {name} is not set"))),
        }
    }

    /// `value` with every `os.environ/NAME` string in it, however deep, read.
    pub(super) fn resolve_deep(&self, path: &str, value: &Value) -> Result<Value> {
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
pub(super) struct Field<'v> {
    pub(super) path: String,
    pub(super) value: Cow<'v, Value>,
    pub(super) var: Option<String>,
}

impl<'v> Field<'v> {
    /// The value at `path` as given (`None` reads as `null`).
    pub(super) fn at(path: String, value: Option<&'v Value>) -> Self {
        Field {
            path,
            value: value.map_or(Cow::Owned(Value::Null), Cow::Borrowed),
            var: None,
        }
    }

    /// `<path>: <what>, got <value>`.
    pub(super) fn fail(&self, what: impl std::fmt::Display) -> Error {
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

    pub(super) fn map(&self) -> Result<&Map<String, Value>> {
        self.value.as_object().ok_or_else(|| self.fail("expected a mapping"))
    }

    pub(super) fn list(&self) -> Result<&Vec<Value>> {
        self.value.as_array().ok_or_else(|| self.fail("expected a list"))
    }

    /// A non-empty string.
    pub(super) fn text(&self) -> Result<String> {
        match self.value.as_str() {
            Some("") => Err(self.fail("must not be empty")),
            Some(text) => Ok(text.to_owned()),
            None => Err(self.fail("expected a string")),
        }
    }

    /// An `http://` or `https://` URL.
    pub(super) fn url(&self) -> Result<String> {
        let text = self.text()?;
        let scheme = text.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("http" | "https") => Ok(text),
            _ => Err(self.fail("expected an http:// or https:// URL")),
        }
    }

    /// `true` or `false` (also as a string, any case).
    pub(super) fn boolean(&self) -> Result<bool> {
        match &*self.value {
            Value::Bool(b) => Ok(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.fail("expected true or false")),
        }
    }

    /// A (finite) number, also as a string holding just the number.
    pub(super) fn numeric(&self) -> Result<Number> {
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
    pub(super) fn positive(&self) -> Result<f64> {
        match self.numeric()?.as_f64() {
            Some(x) if x > 0.0 => Ok(x),
            _ => Err(self.fail("must be positive")),
        }
    }

    /// An integer in `min..=max`.
    pub(super) fn int<T: TryFrom<i64>>(&self, min: i64, max: i64) -> Result<T> {
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
    pub(super) fn seconds(&self, positive: bool, max: u64) -> Result<Duration> {
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
pub(crate) fn shown(value: &Value) -> String {
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
pub(super) fn is_secret(path: &str) -> bool {
    let path = path.to_ascii_lowercase();
    path.starts_with("environment_variables")
        || path.contains(".extra_headers")
        || path
            .split(['.', '[', ']', '"'])
            .any(|segment| SECRET_ENDINGS.iter().any(|end| segment.ends_with(end)))
}

/// The path of `key` inside `path` (`a.b`, or `a["b.c"]` when the key is not a plain name).
pub(super) fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match (plain, path.is_empty()) {
        (true, true) => key.to_owned(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}[{}]", Value::from(key)),
    }
}

/// The path of item `i` of the list at `path`.
pub(super) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(super) fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

/// Sets a field to a checked value (for the setters' one-liners).
pub(super) fn store<T>(slot: &mut T, value: T) -> Result<()> {
    *slot = value;
    Ok(())
}
