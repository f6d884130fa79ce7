//! Durations and sizes given as Python numbers, checked before anything is sent.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use crate::py::json::type_name;

/// A positive number of seconds (int or float, not bool) as a `Duration`.
///
/// # Errors
/// `TypeError` for other types; `ValueError` for NaN, infinities, zero, negatives and values
/// over `config::MAX_SECONDS`.
pub fn seconds_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number of seconds, not {}",
            type_name(value)
        )));
    }
    let secs: f64 = value.extract().unwrap_or(f64::INFINITY);
    Ok(crate::config::seconds(name, secs)?)
}

/// A positive byte count (an int, not bool).
///
/// # Errors
/// `TypeError` for other types, `ValueError` for zero and negatives.
pub fn bytes_arg(name: &str, value: &Bound<'_, PyAny>) -> PyResult<u64> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int (a number of bytes), not {}",
            type_name(value)
        )));
    }
    match value.extract::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a positive number of bytes, at most 2**64-1; got {value}"
        ))),
    }
}
