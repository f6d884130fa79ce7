//! Serialises Python objects straight to JSON bytes, without building an intermediate tree.
//!
//! Accepts dict (str keys), list, tuple, str, int, float (finite), bool and None; objects with
//! `to_dict()` (our response types) or `model_dump()` (pydantic models) are serialised through it.
//!
//! Hardening, since a value's `to_dict()`/`model_dump()` is arbitrary caller code:
//!
//! - A dict is read through a snapshot of its items ([`dict_items`]: `PyDict_Items`, as
//!   `json.dumps` long did) and a list up to its length on entry, so a callback that mutates a
//!   container being serialised can never panic. If the container's size changed by the time its
//!   next entry is written or its end is reached, that is a `RuntimeError` ("dictionary changed
//!   size during serialisation"), like Python's own iteration; a same-size change to a dict goes
//!   unnoticed and the snapshot is what gets sent. The other dict loops of the bindings that run
//!   Python code (chat kwargs, `extra_body`, rate limits, mock faults) use [`dict_items`] too.
//! - Numbers are written from their value, never from a method the object may override: an int
//!   (or int subclass) as i64/u64 or, beyond that, through the base `int.__repr__` checked to be
//!   digits only; a float through its C double. A subclass's `__str__`/`__repr__` therefore
//!   cannot inject text into the body. str subclasses are written from their character data.

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::iter::BoundListIterator;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::PyTypeInfo;

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
        for (i, pair) in dict_items(dict).enumerate() {
            let (k, v) = pair?;
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
    if let Ok(list) = value.cast::<PyList>() {
        out.push(b'[');
        let len = list.len();
        // The iterator stops at the length on entry (and earlier if the list shrinks).
        for (i, item) in list.iter().enumerate() {
            if list.len() != len {
                return Err(changed_size("list"));
            }
            if i > 0 {
                out.push(b',');
            }
            write_value(out, &item, depth + 1)?;
        }
        if list.len() != len {
            return Err(changed_size("list"));
        }
        out.push(b']');
        return Ok(());
    }
    if let Ok(tuple) = value.cast::<PyTuple>() {
        out.push(b'[');
        for (i, item) in tuple.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, &item, depth + 1)?;
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
        return write_int(out, value);
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

/// Writes an int (or an int subclass) from its value: never through the object's own
/// `__str__`/`__repr__`, which a subclass could make return arbitrary JSON.
fn write_int(out: &mut Vec<u8>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    // PyLong_AsLongLong / PyLong_AsUnsignedLongLong read an int subclass's value directly.
    if let Ok(i) = value.extract::<i64>() {
        out.extend_from_slice(i.to_string().as_bytes());
        return Ok(());
    }
    if let Ok(u) = value.extract::<u64>() {
        out.extend_from_slice(u.to_string().as_bytes());
        return Ok(());
    }
    let py = value.py();
    let repr = PyInt::type_object(py)
        .getattr(intern!(py, "__repr__"))?
        .call1((value,))?;
    let text = repr
        .cast::<PyString>()
        .map_err(|_| PyTypeError::new_err("int.__repr__ did not return a str"))?
        .to_cow()?;
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PyTypeError::new_err(format!(
            "an int of type {} cannot be serialised as JSON",
            type_name(value)
        )));
    }
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn changed_size(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!("{what} changed size during serialisation"))
}

/// The `(key, value)` pairs of `dict`, read from a snapshot of its items (`PyDict_Items`, which
/// ignores a subclass's `items()`), so the loop over them may run Python code (a `to_dict()`, an
/// int subclass's `__rshift__`...) that mutates `dict` without PyO3's dict iterator panicking. A
/// change of size seen before an entry or at the end is a `RuntimeError`, like Python's own
/// iteration; a same-size change goes unnoticed and the snapshot's entries are what the loop sees.
pub(crate) fn dict_items<'py>(dict: &Bound<'py, PyDict>) -> DictItems<'py> {
    DictItems {
        len: dict.len(),
        items: dict.items().into_iter(),
        dict: dict.clone(),
        done: false,
    }
}

/// The iterator of [`dict_items`].
pub(crate) struct DictItems<'py> {
    dict: Bound<'py, PyDict>,
    items: BoundListIterator<'py>,
    len: usize,
    done: bool,
}

impl<'py> Iterator for DictItems<'py> {
    type Item = PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.dict.len() != self.len {
            self.done = true;
            return Some(Err(changed_size("dictionary")));
        }
        let pair = self.items.next();
        self.done = pair.is_none();
        pair.map(|pair| pair.extract())
    }
}

/// The Python type name of `value`, for error messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "object".to_owned(), |n| n.to_string())
}
