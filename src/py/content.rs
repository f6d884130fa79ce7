//! Checks multimodal message content before it is sent.
//!
//! A list `content` holds parts: a str, or a dict with a str `type`. The Chat Completions part
//! types must carry their payload: `text` a str `text`; `image_url` an `image_url` dict with a
//! str `url` (or the URL itself); `input_audio` an `input_audio` dict with str `data` and
//! `format`; `file` a `file` dict with a str `file_data` or `file_id`. Other types pass
//! through for the providers that know them.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use crate::py::json::type_name;

fn str_field(part: &Bound<'_, PyDict>, key: &str) -> PyResult<Option<bool>> {
    Ok(part.get_item(key)?.map(|v| v.is_instance_of::<PyString>()))
}

/// Checks `messages[i]['content']` when it is a list of parts.
///
/// # Errors
/// `TypeError` for a part of the wrong type, `ValueError` for a part missing its payload.
pub fn check(i: usize, content: &Bound<'_, PyAny>) -> PyResult<()> {
    if !(content.is_instance_of::<PyList>() || content.is_instance_of::<PyTuple>()) {
        return Ok(());
    }
    let py = content.py();
    for (j, part) in content.try_iter()?.enumerate() {
        let part = part?;
        let at = || format!("messages[{i}]['content'][{j}]");
        if part.is_instance_of::<PyString>() {
            continue;
        }
        let Ok(part) = part.cast::<PyDict>() else {
            return Err(PyTypeError::new_err(format!(
                "{} must be a dict or a str, not {}",
                at(),
                type_name(&part)
            )));
        };
        let kind = match part.get_item(intern!(py, "type"))? {
            Some(kind) => kind.cast_into::<PyString>().map_err(|e| {
                PyTypeError::new_err(format!(
                    "{}['type'] must be a str, not {}",
                    at(),
                    type_name(&e.into_inner())
                ))
            })?,
            None => return Err(PyValueError::new_err(format!("{} has no 'type'", at()))),
        };
        let kind = kind.to_cow()?;
        let payload = |key: &str| -> PyResult<Option<Bound<'_, PyDict>>> {
            Ok(part.get_item(key)?.and_then(|v| v.cast_into::<PyDict>().ok()))
        };
        let ok = match kind.as_ref() {
            "text" => str_field(part, "text")? == Some(true),
            "image_url" => match part.get_item("image_url")? {
                Some(url) if url.is_instance_of::<PyString>() => true,
                _ => payload("image_url")?.is_some_and(|u| str_field(&u, "url").ok().flatten() == Some(true)),
            },
            "input_audio" => payload("input_audio")?.is_some_and(|a| {
                str_field(&a, "data").ok().flatten() == Some(true)
                    && str_field(&a, "format").ok().flatten() == Some(true)
            }),
            "file" => payload("file")?.is_some_and(|f| {
                str_field(&f, "file_data").ok().flatten() == Some(true)
                    || str_field(&f, "file_id").ok().flatten() == Some(true)
            }),
            _ => true,
        };
        if !ok {
            let needs = match kind.as_ref() {
                "text" => "a str 'text'",
                "image_url" => "'image_url': {'url': str}",
                "input_audio" => "'input_audio': {'data': str, 'format': str}",
                _ => "'file': {'file_data': str} or {'file_id': str}",
            };
            return Err(PyValueError::new_err(format!(
                "{} (a {kind:?} part) needs {needs}",
                at()
            )));
        }
    }
    Ok(())
}
