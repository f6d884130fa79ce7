//! `providers=[...]` and `LlmClient.register_provider(...)`: custom providers from Python dicts.
//!
//! A provider dict has `name` (also its model prefix), `base_url`, `auth_header` (`Authorization`
//! means `Bearer <key>`) or `auth_query` (a query parameter carrying the key), `model_prefixes`
//! and `api_key_env`; a built-in name overrides that
//! provider's host or auth. Registered providers apply to clients built afterwards.

use std::sync::Mutex;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// The keys a provider dict may have.
const KEYS: [&str; 6] = [
    "name",
    "base_url",
    "auth_header",
    "auth_query",
    "model_prefixes",
    "api_key_env",
];

use crate::providers::registry::{self, ProviderConfig};

/// Providers registered with `LlmClient.register_provider`, for every client built afterwards.
static REGISTERED: Mutex<Vec<ProviderConfig>> = Mutex::new(Vec::new());

fn text(dict: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<String>> {
    match dict.get_item(key)? {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => v
            .extract::<String>()
            .map(Some)
            .map_err(|_| PyTypeError::new_err(format!("provider {key:?} must be a str"))),
    }
}

/// Parses one provider dict.
///
/// # Errors
/// `TypeError` for a non-dict or a wrongly typed field, `ValueError` for an unknown key or a
/// missing name.
pub fn parse_one(value: &Bound<'_, PyAny>) -> PyResult<ProviderConfig> {
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err("a provider must be a dict with 'name' and 'base_url'"))?;
    for key in dict.keys() {
        let key: String = key.extract()?;
        if !KEYS.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "unknown provider key {key:?}; use {}",
                KEYS.join(", ")
            )));
        }
    }
    let name = text(dict, "name")?.ok_or_else(|| PyValueError::new_err("a provider needs a 'name'"))?;
    let model_prefixes = match dict.get_item("model_prefixes")? {
        None => Vec::new(),
        Some(v) if v.is_none() => Vec::new(),
        Some(v) if v.is_instance_of::<PyString>() => {
            return Err(PyTypeError::new_err("model_prefixes must be a list of str"));
        }
        Some(v) => v
            .extract::<Vec<String>>()
            .map_err(|_| PyTypeError::new_err("model_prefixes must be a list of str"))?,
    };
    Ok(ProviderConfig {
        name,
        base_url: text(dict, "base_url")?,
        auth_header: text(dict, "auth_header")?,
        model_prefixes,
        api_key_env: text(dict, "api_key_env")?,
        auth_query: text(dict, "auth_query")?,
    })
}

/// The registered providers followed by `given` (a list of dicts or `None`), validated together.
///
/// # Errors
/// As [`parse_one`]; `ValueError` for a prefix conflict or a new provider without a base URL.
pub fn collect(given: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<ProviderConfig>> {
    let mut all = REGISTERED.lock().map(|r| r.clone()).unwrap_or_default();
    if let Some(given) = given.filter(|g| !g.is_none()) {
        let list = given
            .cast::<PyList>()
            .map_err(|_| PyTypeError::new_err("providers must be a list of dicts"))?;
        for item in list.iter() {
            all.push(parse_one(&item)?);
        }
    }
    registry::apply(&mut registry::builtins(), &all)?;
    Ok(all)
}

/// Registers a provider for every client built afterwards.
///
/// # Errors
/// As [`collect`].
pub fn register(config: &Bound<'_, PyAny>) -> PyResult<()> {
    let parsed = parse_one(config)?;
    let mut registered = REGISTERED
        .lock()
        .map_err(|_| PyValueError::new_err("the provider registry is unavailable"))?;
    let mut all = registered.clone();
    all.push(parsed.clone());
    registry::apply(&mut registry::builtins(), &all)?;
    registered.push(parsed);
    Ok(())
}
