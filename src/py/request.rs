//! Turns `chat(**kwargs)` into a serialised request body, checking known parameters first.
//!
//! Known Chat Completions parameters are type-checked before anything is sent; `None` values
//! are omitted; unknown parameters pass through unchanged; `extra_body` entries are merged last
//! (overriding); `extra_headers` become per-call headers. A `response_format` class becomes its
//! strict `json_schema` format (see `parsed.rs`).

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use reqwest::header::HeaderMap;

use crate::client::Request;
use crate::http::header_pair;
use crate::py::convert::{seconds_arg, MAX_SECONDS};
use crate::py::json::{dict_items, type_name, write_json};
use crate::py::parsed::{response_format, ParseMode};

/// The JSON type a known parameter must have (chat's parameters and the endpoints').
#[derive(Clone, Copy)]
pub(crate) enum Expect {
    Number,
    Int,
    Bool,
    Str,
    Dict,
    List,
    StrOrList,
    StrOrDict,
    /// A str, or a list of anything (multimodal inputs, Responses items).
    StrOrItems,
}

fn expectation(key: &str) -> Option<Expect> {
    Some(match key {
        "temperature" | "top_p" | "presence_penalty" | "frequency_penalty" => Expect::Number,
        "n" | "max_tokens" | "max_completion_tokens" | "seed" | "top_logprobs" => Expect::Int,
        "parallel_tool_calls" | "logprobs" | "store" => Expect::Bool,
        "user" | "reasoning_effort" | "service_tier" | "verbosity" | "prompt_cache_key" | "safety_identifier" => {
            Expect::Str
        }
        "logit_bias" | "metadata" | "stream_options" | "audio" | "prediction" | "web_search_options" => Expect::Dict,
        "tools" | "modalities" | "functions" => Expect::List,
        "stop" => Expect::StrOrList,
        "tool_choice" | "function_call" => Expect::StrOrDict,
        _ => return None,
    })
}

/// Checks `value` (not `None`) against `expect`: a `TypeError` naming `key` otherwise.
pub(crate) fn check(key: &str, value: &Bound<'_, PyAny>, expect: Expect) -> PyResult<()> {
    let is_bool = value.is_instance_of::<PyBool>();
    let is_int = value.is_instance_of::<PyInt>() && !is_bool;
    let ok = match expect {
        Expect::Number => is_int || value.is_instance_of::<PyFloat>(),
        Expect::Int => is_int,
        Expect::Bool => is_bool,
        Expect::Str => value.is_instance_of::<PyString>(),
        Expect::Dict => value.is_instance_of::<PyDict>(),
        Expect::List => value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>(),
        Expect::StrOrList => {
            value.is_instance_of::<PyString>()
                || ((value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>())
                    && value
                        .try_iter()?
                        .all(|item| item.is_ok_and(|i| i.is_instance_of::<PyString>())))
        }
        Expect::StrOrDict => value.is_instance_of::<PyString>() || value.is_instance_of::<PyDict>(),
        Expect::StrOrItems => {
            value.is_instance_of::<PyString>() || value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>()
        }
    };
    if ok {
        Ok(())
    } else {
        let wanted = match expect {
            Expect::Number => "a number",
            Expect::Int => "an int",
            Expect::Bool => "a bool",
            Expect::Str => "a str",
            Expect::Dict => "a dict",
            Expect::List => "a list",
            Expect::StrOrList => "a str or a list of str",
            Expect::StrOrDict => "a str or a dict",
            Expect::StrOrItems => "a str or a list",
        };
        Err(PyTypeError::new_err(format!(
            "{key} must be {wanted}, not {}",
            type_name(value)
        )))
    }
}

fn check_messages(messages: &Bound<'_, PyAny>) -> PyResult<()> {
    if !(messages.is_instance_of::<PyList>() || messages.is_instance_of::<PyTuple>()) {
        return Err(PyTypeError::new_err(format!(
            "messages must be a list of dicts, not {}",
            type_name(messages)
        )));
    }
    let mut count = 0usize;
    for (i, message) in messages.try_iter()?.enumerate() {
        let message = message?;
        count += 1;
        let Ok(dict) = message.cast::<PyDict>() else {
            if message.hasattr("to_dict")? {
                continue;
            }
            return Err(PyTypeError::new_err(format!(
                "messages[{i}] must be a dict, not {}",
                type_name(&message)
            )));
        };
        match dict.get_item("role")? {
            Some(role) if role.is_instance_of::<PyString>() => {}
            Some(role) => {
                return Err(PyTypeError::new_err(format!(
                    "messages[{i}]['role'] must be a str, not {}",
                    type_name(&role)
                )))
            }
            None => return Err(PyValueError::new_err(format!("messages[{i}] has no 'role'"))),
        }
        if let Some(content) = dict.get_item(intern!(message.py(), "content"))? {
            crate::py::content::check(i, &content)?;
        }
    }
    if count == 0 {
        return Err(PyValueError::new_err("messages must not be empty"));
    }
    Ok(())
}

/// Builds headers from a `dict[str, str]`.
///
/// # Errors
/// `TypeError` for non-str entries, `InvalidHeaderError` for unsendable ones.
pub fn headers_from(value: &Bound<'_, PyAny>, into: &mut HeaderMap) -> PyResult<()> {
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err(format!("extra_headers must be a dict, not {}", type_name(value))))?;
    for (k, v) in dict.iter() {
        let (Ok(k), Ok(v)) = (k.cast::<PyString>(), v.cast::<PyString>()) else {
            return Err(PyTypeError::new_err("extra_headers keys and values must be str"));
        };
        let (name, value) = header_pair(&k.to_cow()?, &v.to_cow()?)?;
        into.insert(name, value);
    }
    Ok(())
}

/// Validates `kwargs` and serialises the chat request; `stream` adds `"stream": true`. Also
/// returns how to parse the answer when `response_format` asked for a schema.
///
/// # Errors
/// `ValueError`/`TypeError` for bad arguments, `InvalidHeaderError` for bad headers.
/// A `str` argument or `None`.
fn optional_str(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if value.is_none() {
        return Ok(None);
    }
    let s = value
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a str, not {}", type_name(value))))?;
    Ok(Some(s.to_cow()?.into_owned()))
}

pub fn chat_request(kwargs: Option<&Bound<'_, PyDict>>, stream: bool) -> PyResult<(Request, Option<ParseMode>)> {
    let Some(kwargs) = kwargs else {
        return Err(PyValueError::new_err("chat() requires model= and messages="));
    };
    let model = match kwargs.get_item("model")? {
        Some(m) if m.is_instance_of::<PyString>() => {
            let m = m.cast::<PyString>()?.to_cow()?.into_owned();
            if m.is_empty() {
                return Err(PyValueError::new_err("model must not be empty"));
            }
            m
        }
        Some(m) if !m.is_none() => {
            return Err(PyTypeError::new_err(format!(
                "model must be a str, not {}",
                type_name(&m)
            )))
        }
        _ => return Err(PyValueError::new_err("model is required")),
    };
    match kwargs.get_item("messages")? {
        Some(m) if !m.is_none() => check_messages(&m)?,
        _ => return Err(PyValueError::new_err("messages is required")),
    }
    let extra_body = match kwargs.get_item("extra_body")? {
        Some(b) if b.is_none() => None,
        Some(b) => Some(b.cast_into::<PyDict>().map_err(|e| {
            PyTypeError::new_err(format!("extra_body must be a dict, not {}", type_name(&e.into_inner())))
        })?),
        None => None,
    };
    let mut headers = HeaderMap::new();
    let mut sanitize = None;
    let mut total_timeout = None;
    let mut session = None;
    let mut cache = crate::cache::Control::default();
    let mut parse = None;
    let mut body = Vec::with_capacity(256);
    body.push(b'{');
    let mut first = true;
    let mut field = |body: &mut Vec<u8>, key: &str, value: &Bound<'_, PyAny>| -> PyResult<()> {
        if !first {
            body.push(b',');
        }
        first = false;
        write_json(body, &PyString::new(value.py(), key))?;
        body.push(b':');
        write_json(body, value)
    };
    // Snapshots: serialising a value runs its to_dict()/model_dump(), which may mutate these
    // dicts (a batch request dict, extra_body); PyO3's dict iterator would panic.
    for pair in dict_items(kwargs) {
        let (key, value) = pair?;
        let key = key.cast_into::<PyString>()?;
        let name = key.to_cow()?;
        match name.as_ref() {
            "extra_body" => continue,
            "extra_headers" => {
                if !value.is_none() {
                    headers_from(&value, &mut headers)?;
                }
                continue;
            }
            "total_timeout" => {
                if !value.is_none() {
                    total_timeout = Some(seconds_arg("total_timeout", &value, true, MAX_SECONDS)?);
                }
                continue;
            }
            "session" => {
                session = optional_str("session", &value)?;
                continue;
            }
            "cache" => {
                cache = crate::py::cache::call_control(&value)?;
                continue;
            }

            "sanitize" => {
                if !value.is_none() {
                    let flag = value.cast::<PyBool>().map_err(|_| {
                        PyTypeError::new_err(format!("sanitize must be a bool, not {}", type_name(&value)))
                    })?;
                    sanitize = Some(flag.is_true());
                }
                continue;
            }
            "stream" => {
                if value.is_truthy()? != stream {
                    let hint = if stream {
                        "chat_stream() always streams"
                    } else {
                        "use chat_stream() to stream"
                    };
                    return Err(PyValueError::new_err(format!("stream={value}: {hint}")));
                }
                continue;
            }
            _ => {}
        }
        if value.is_none() {
            continue;
        }
        let mut value = value;
        if name == "response_format" {
            let (format, mode) = response_format(&value)?;
            value = format;
            parse = mode;
        } else if let Some(expect) = expectation(&name) {
            check(&name, &value, expect)?;
        }
        if extra_body.as_ref().is_some_and(|b| b.contains(&key).unwrap_or(false)) {
            continue;
        }
        field(&mut body, &name, &value)?;
    }
    if stream {
        field(
            &mut body,
            "stream",
            &PyBool::new(kwargs.py(), true).to_owned().into_any(),
        )?;
    }
    if let Some(extra) = &extra_body {
        for pair in dict_items(extra) {
            let (key, value) = pair?;
            let key = key
                .cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("extra_body keys must be str"))?;
            field(&mut body, &key.to_cow()?, &value)?;
        }
    }
    body.push(b'}');
    let request = Request {
        body: Bytes::from(body),
        model,
        headers,
        sanitize,
        total_timeout,
        session,
        trace: None,
        aimed: false,
        cache,
        tokens: None,
        once: false,
    };
    Ok((request, parse))
}
