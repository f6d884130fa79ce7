//! Structured output: `response_format` given as a class, and `message.parsed`.
//!
//! A pydantic model class or a TypedDict passed as `response_format` is turned into a strict
//! `json_schema` format by `liter_llm._schema` (imported only then, so pydantic stays optional).
//! When the request carried a schema, each choice's content is parsed once when the response
//! arrives: into a dict for a schema dict or a TypedDict, into an instance through
//! `model_validate_json` for a pydantic class. A content that does not parse is kept as the
//! error, raised (a `ValueError`) each time `parsed` is read; `parsed` is `None` when no schema
//! was requested, for a refusal and when there is no content.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyType};

use crate::py::convert::value_to_py;
use crate::py::json::type_name;
use crate::py::types::PyAssistantMessage;
use crate::types::{Attached, ChatCompletionResponse};

/// How the content of a structured-output answer is parsed.
pub enum ParseMode {
    /// JSON into dicts and lists.
    Json,
    /// JSON validated into an instance of this pydantic model class.
    Model(Py<PyAny>),
}

/// How each request of a batch is parsed; `None` when no request asked for a schema.
pub type Parses = Option<Arc<Vec<Option<ParseMode>>>>;

/// The parse mode of request `index` of a batch, if it asked for one.
pub fn parse_of(parses: &Parses, index: usize) -> Option<&ParseMode> {
    parses.as_ref()?.get(index)?.as_ref()
}

/// The parsed content of one message, or why it did not parse.
struct Parsed(PyResult<Py<PyAny>>);

/// Checks a `response_format` value; a class is replaced by its strict `json_schema` format.
/// Returns the value to send and how answers are parsed (`None`: not at all).
///
/// # Errors
/// `TypeError` for a value that is neither a dict nor a supported class, `ValueError` for a
/// malformed `json_schema` format.
pub fn response_format<'py>(value: &Bound<'py, PyAny>) -> PyResult<(Bound<'py, PyAny>, Option<ParseMode>)> {
    let py = value.py();
    if value.is_instance_of::<PyType>() {
        let format = py
            .import(intern!(py, "liter_llm._schema"))?
            .getattr(intern!(py, "to_response_format"))?
            .call1((value,))?;
        let mode = if value.hasattr(intern!(py, "model_validate_json"))? {
            ParseMode::Model(value.clone().unbind())
        } else {
            ParseMode::Json
        };
        return Ok((format, Some(mode)));
    }
    let dict = value.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "response_format must be a dict, a pydantic model class or a TypedDict, not {}",
            type_name(value)
        ))
    })?;
    let kind = match dict.get_item(intern!(py, "type"))? {
        Some(kind) => kind.cast_into::<PyString>().map_err(|e| {
            PyTypeError::new_err(format!(
                "response_format['type'] must be a str, not {}",
                type_name(&e.into_inner())
            ))
        })?,
        None => return Err(PyValueError::new_err("response_format needs a 'type'")),
    };
    if kind.to_cow()? != "json_schema" {
        return Ok((value.clone(), None));
    }
    let schema = dict
        .get_item(intern!(py, "json_schema"))?
        .and_then(|s| s.cast_into::<PyDict>().ok())
        .ok_or_else(|| PyValueError::new_err("response_format of type 'json_schema' needs a 'json_schema' dict"))?;
    match schema.get_item(intern!(py, "name"))? {
        Some(name) if name.is_instance_of::<PyString>() => Ok((value.clone(), Some(ParseMode::Json))),
        _ => Err(PyValueError::new_err(
            "response_format['json_schema'] needs a 'name' str",
        )),
    }
}

/// Parses every choice's content as `mode` says and attaches the result (or the parse error) to
/// its message.
pub fn attach(py: Python<'_>, response: &mut ChatCompletionResponse, mode: &ParseMode) {
    for (i, choice) in response.choices.iter_mut().enumerate() {
        let message = &mut choice.message;
        let Some(content) = message.content.as_deref().filter(|_| message.refusal.is_none()) else {
            continue;
        };
        let parsed = match mode {
            ParseMode::Json => match serde_json::from_str::<serde_json::Value>(content) {
                Ok(value) => value_to_py(py, &value).map(Bound::unbind),
                Err(e) => Err(PyValueError::new_err(format!(
                    "choices[{i}].message.content is not valid JSON: {e}"
                ))),
            },
            ParseMode::Model(class) => class
                .bind(py)
                .call_method1(intern!(py, "model_validate_json"), (content,))
                .map(Bound::unbind),
        };
        message.parsed = Attached(Some(Arc::new(Parsed(parsed))));
    }
}

#[pymethods]
impl PyAssistantMessage {
    /// The parsed structured output (see the module docs).
    #[getter]
    fn parsed(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.0.parsed.0.as_ref().and_then(|a| a.downcast_ref::<Parsed>()) {
            Some(Parsed(Ok(value))) => Ok(value.clone_ref(py)),
            Some(Parsed(Err(err))) => Err(err.clone_ref(py)),
            None => Ok(py.None()),
        }
    }
}
