//! Serialises Python objects straight to JSON bytes, without building an intermediate tree.
//!
//! Accepts dict (str keys), list, tuple, str, int, float (finite), bool and None; objects with
//! `to_dict()` (our response types) or `model_dump()` (pydantic models) are serialised through it.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

const MAX_DEPTH: usize = 128;

/// Appends the JSON form of `value` to `out`.
///
/// # Errors
/// `TypeError` for unsupported types or non-str keys, `ValueError` for NaN/infinity or nesting
/// deeper than 128 levels.
pub fn write_json(out: &mut Vec<u8>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    write_value(out, value, 0)
}

/// The JSON value of a Python object, with the same rules as [`write_json`].
///
/// # Errors
/// As [`write_json`].
pub fn to_value(value: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let mut out = Vec::new();
    write_json(&mut out, value)?;
    serde_json::from_slice(&out).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn write_str(out: &mut Vec<u8>, s: &Bound<'_, PyString>) -> PyResult<()> {
    let text = s.to_cow()?;
    serde_json::to_writer(&mut *out, text.as_ref()).map_err(|e| PyValueError::new_err(e.to_string()))
}

fn write_value(out: &mut Vec<u8>, value: &Bound<'_, PyAny>, depth: usize) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err("value is nested too deeply to serialise"));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return write_str(out, s);
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        out.push(b'{');
        for (i, (k, v)) in dict.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let key = k.cast::<PyString>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "dict keys must be str to serialise as JSON, got {}",
                    type_name(&k)
                ))
            })?;
            write_str(out, key)?;
            out.push(b':');
            write_value(out, &v, depth + 1)?;
        }
        out.push(b'}');
        return Ok(());
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        out.push(b'[');
        for (i, item) in value.try_iter()?.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, &item?, depth + 1)?;
        }
        out.push(b']');
        return Ok(());
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    if let Ok(b) = value.cast::<PyBool>() {
        out.extend_from_slice(if b.is_true() { b"true" } else { b"false" });
        return Ok(());
    }
    if value.is_instance_of::<PyInt>() {
        if let Ok(i) = value.extract::<i64>() {
            out.extend_from_slice(i.to_string().as_bytes());
        } else {
            out.extend_from_slice(value.str()?.to_cow()?.as_bytes());
        }
        return Ok(());
    }
    if let Ok(f) = value.cast::<PyFloat>() {
        let f = f.value();
        if !f.is_finite() {
            return Err(PyValueError::new_err(format!("{f} cannot be serialised as JSON")));
        }
        serde_json::to_writer(&mut *out, &f).map_err(|e| PyValueError::new_err(e.to_string()))?;
        return Ok(());
    }
    for method in ["to_dict", "model_dump"] {
        if let Ok(convert) = value.getattr(method) {
            return write_value(out, &convert.call0()?, depth + 1);
        }
    }
    Err(PyTypeError::new_err(format!(
        "objects of type {} cannot be serialised as JSON",
        type_name(value)
    )))
}

/// The Python type name of `value`, for error messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}
