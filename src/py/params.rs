//! Keyword-argument plumbing shared by the endpoint methods: type checks, a JSON body written
//! straight from the Python objects (with `extra_body` / `extra_headers` handled as for `chat`),
//! and the coroutine wrapper.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use reqwest::header::HeaderMap;

use crate::client::{Client, Request};
use crate::http::Chunks;
use crate::py::call::{LlmCall, Start};
use crate::py::json::{dict_items, type_name, write_json};
use crate::py::request::{check, headers_from, Expect};

/// A required string parameter that must not be empty.
pub(crate) fn required_str(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    check(name, value, Expect::Str)?;
    let text = value.cast::<PyString>()?.to_cow()?.into_owned();
    if text.is_empty() {
        return Err(PyValueError::new_err(format!("{name} must not be empty")));
    }
    Ok(text)
}

/// A JSON object body written field by field, with `**extra` handled as for `chat`.
pub(crate) struct Body<'py> {
    out: Vec<u8>,
    headers: HeaderMap,
    extra: Option<Bound<'py, PyDict>>,
    extra_body: Option<Bound<'py, PyDict>>,
}

impl<'py> Body<'py> {
    /// Starts a body; `extra` are the call's other keyword arguments.
    pub(crate) fn new(extra: Option<&Bound<'py, PyDict>>) -> PyResult<Self> {
        let mut headers = HeaderMap::new();
        let mut extra_body = None;
        if let Some(extra) = extra {
            if let Some(value) = extra.get_item("extra_headers")?.filter(|v| !v.is_none()) {
                headers_from(&value, &mut headers)?;
            }
            if let Some(body) = extra.get_item("extra_body")?.filter(|b| !b.is_none()) {
                extra_body = Some(body.cast_into::<PyDict>().map_err(|e| {
                    PyTypeError::new_err(format!("extra_body must be a dict, not {}", type_name(&e.into_inner())))
                })?);
            }
        }
        let mut out = Vec::with_capacity(128);
        out.push(b'{');
        Ok(Body {
            out,
            headers,
            extra: extra.cloned(),
            extra_body,
        })
    }

    fn write(&mut self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        write_json(&mut self.out, &PyString::new(value.py(), key))?;
        self.out.push(b':');
        write_json(&mut self.out, value)
    }

    /// Adds a parameter unless it is `None` (or overridden by `extra_body`), checking its type.
    pub(crate) fn put(&mut self, key: &str, value: Option<&Bound<'_, PyAny>>, kind: Option<Expect>) -> PyResult<()> {
        let Some(value) = value.filter(|v| !v.is_none()) else {
            return Ok(());
        };
        if let Some(kind) = kind {
            check(key, value, kind)?;
        }
        if self.overridden(key) {
            return Ok(());
        }
        self.write(key, value)
    }

    /// Whether `extra_body` sets `key` (it then wins over the keyword argument).
    pub(crate) fn overridden(&self, key: &str) -> bool {
        self.extra_body
            .as_ref()
            .is_some_and(|b| b.contains(key).unwrap_or(false))
    }

    /// Adds the pass-through keyword arguments and `extra_body`; returns the body and headers.
    pub(crate) fn finish(self) -> PyResult<(Bytes, HeaderMap)> {
        let (mut out, headers) = self.finish_open()?;
        out.push(b'}');
        Ok((Bytes::from(out), headers))
    }

    /// As [`Body::finish`], leaving the object open (no closing brace) for fields to follow.
    pub(crate) fn finish_open(mut self) -> PyResult<(Vec<u8>, HeaderMap)> {
        if let Some(extra) = self.extra.take() {
            for pair in dict_items(&extra) {
                let (key, value) = pair?;
                let key = key.cast_into::<PyString>()?;
                let name = key.to_cow()?;
                if matches!(name.as_ref(), "extra_body" | "extra_headers") {
                    continue;
                }
                self.put(&name, Some(&value), None)?;
            }
        }
        if let Some(body) = self.extra_body.take() {
            for pair in dict_items(&body) {
                let (key, value) = pair?;
                let key = key
                    .cast_into::<PyString>()
                    .map_err(|_| PyTypeError::new_err("extra_body keys must be str"))?;
                self.write(&key.to_cow()?, &value)?;
            }
        }
        Ok((self.out, self.headers))
    }

    /// Finishes the body into a request for `model`.
    pub(crate) fn request(self, model: String) -> PyResult<Request> {
        let (body, headers) = self.finish()?;
        Ok(Request {
            body,
            model,
            headers,
            ..Request::default()
        })
    }
}

/// Runs `work` on the client as a coroutine resolving to `finish(result)`.
pub(crate) fn run<'py, T, F, Fut>(
    py: Python<'py>,
    client: &Arc<Client>,
    work: F,
    finish: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, LlmCall>>
where
    T: Send + 'static,
    F: FnOnce(Arc<Client>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = crate::Result<T>> + Send + 'static,
{
    let client = Arc::clone(client);
    let start: Start = Box::new(move |py, driver| {
        let job = work(client);
        Ok(driver
            .spawn(py, job, move |py, result: crate::Result<T>| finish(py, result?))?
            .0)
    });
    Bound::new(py, LlmCall::new(py, start)?)
}

/// A binary answer as Python `bytes`: its chunks copied once, straight into the new object.
pub(crate) fn raw_bytes(py: Python<'_>, body: Chunks) -> PyResult<Py<PyAny>> {
    let bytes = PyBytes::new_with(py, body.len(), |out| {
        let mut at = 0;
        for chunk in body.iter() {
            out[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
        }
        Ok(())
    })?;
    Ok(bytes.into_any().unbind())
}

/// A non-empty id argument.
pub(crate) fn id_arg(name: &str, id: &str) -> PyResult<String> {
    crate::api::check_id(name, id)?;
    Ok(id.to_owned())
}

/// An optional string parameter that must not be empty when given (`after`, `purpose`): an
/// empty cursor or filter would be sent as `?after=` and answered with a confusing error.
pub(crate) fn non_empty(name: &str, value: Option<String>) -> PyResult<Option<String>> {
    match value {
        Some(v) if v.is_empty() => Err(PyValueError::new_err(format!("{name} must not be empty"))),
        v => Ok(v),
    }
}

/// An optional int parameter that must be at least 1 (`n`, `top_n`, `limit`, `dimensions`...).
pub(crate) fn positive_int(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    check(name, value, Expect::Int)?;
    match value.extract::<u64>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(PyValueError::new_err(format!("{name} must be >= 1"))),
    }
}
