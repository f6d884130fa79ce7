//! Conversions between `serde_json::Value` and Python objects, and from Python numbers to
//! [`Duration`]s.
//!
//! Every duration argument (timeouts, delays, windows, latencies) is converted by
//! [`seconds`] / [`positive_seconds`] / [`seconds_within`] / [`millis`] / [`seconds_arg`]: NaN,
//! infinities, negative values and anything above [`MAX_SECONDS`] (365 days) are a `ValueError`
//! naming the parameter, never a panic.

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList};
use serde_json::Value;

/// Builds the Python equivalent of a JSON value (dict, list, str, int, float, bool, None).
pub fn value_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => s.into_pyobject(py)?.into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(value_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => map_to_py(py, map)?.into_any(),
    })
}

/// Builds a Python dict from a JSON object.
pub fn map_to_py<'py>(py: Python<'py>, map: &serde_json::Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, value_to_py(py, v)?)?;
    }
    Ok(dict)
}

/// The largest duration any Python argument may ask for: 365 days (31 536 000 seconds).
///
/// Far beyond any sensible timeout, delay or latency, and far below anything that could overflow
/// `Instant`/timer arithmetic downstream. Parameters with a tighter limit (a rate-limit window)
/// pass their own maximum to [`seconds_within`].
pub(crate) const MAX_SECONDS: f64 = 31_536_000.0;

/// A duration argument given in seconds, as a [`Duration`]: finite, `>= 0` and at most
/// [`MAX_SECONDS`].
///
/// # Errors
/// `ValueError` naming `name` for NaN, infinity, a negative or a too large value.
pub(crate) fn seconds(name: &str, value: f64) -> PyResult<Duration> {
    checked_duration(name, value, Unit::Seconds, false, MAX_SECONDS)
}

/// As [`seconds`], but 0 is refused too (a timeout, a window).
///
/// # Errors
/// As [`seconds`], and for 0.
pub(crate) fn positive_seconds(name: &str, value: f64) -> PyResult<Duration> {
    checked_duration(name, value, Unit::Seconds, true, MAX_SECONDS)
}

/// As [`seconds`] (or [`positive_seconds`] when `positive`), with a maximum (in seconds) tighter
/// than [`MAX_SECONDS`].
///
/// # Errors
/// As [`seconds`].
pub(crate) fn seconds_within(name: &str, value: f64, positive: bool, max: f64) -> PyResult<Duration> {
    checked_duration(name, value, Unit::Seconds, positive, max.min(MAX_SECONDS))
}

/// A duration argument given in milliseconds (`latency_ms=`): finite, `>= 0` and at most
/// [`MAX_SECONDS`] worth of milliseconds.
///
/// # Errors
/// As [`seconds`].
pub(crate) fn millis(name: &str, value: f64) -> PyResult<Duration> {
    checked_duration(name, value, Unit::Millis, false, MAX_SECONDS)
}

/// A number of seconds given as any Python object: an `int` or a `float` (not a `bool`), checked
/// as [`seconds_within`]. Ints too large for a float are a `ValueError`, not an `OverflowError`.
///
/// # Errors
/// `TypeError` for other types, `ValueError` as [`seconds`].
pub(crate) fn seconds_arg(name: &str, value: &Bound<'_, PyAny>, positive: bool, max: f64) -> PyResult<Duration> {
    if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number of seconds, not {}",
            crate::py::json::type_name(value)
        )));
    }
    match value.extract::<f64>() {
        Ok(secs) => seconds_within(name, secs, positive, max),
        // Only an int beyond the float range fails to convert.
        Err(_) => Err(PyValueError::new_err(format!(
            "{name} must be at most {} seconds, got an int too large for a float",
            max.min(MAX_SECONDS)
        ))),
    }
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
}

/// The one place a Python number becomes a [`Duration`]; every duration argument goes through it,
/// so none can reach `Duration::from_secs_f64` (which panics) or overflow `Instant` arithmetic.
fn checked_duration(name: &str, value: f64, unit: Unit, positive: bool, max_seconds: f64) -> PyResult<Duration> {
    let (per_second, unit_name) = match unit {
        Unit::Seconds => (1.0, "seconds"),
        Unit::Millis => (1000.0, "milliseconds"),
    };
    let max = max_seconds * per_second;
    let low_ok = if positive { value > 0.0 } else { value >= 0.0 };
    // NaN fails every comparison, so `low_ok && value <= max` also refuses it (and infinities).
    if !(value.is_finite() && low_ok && value <= max) {
        let low = if positive { "greater than 0" } else { "at least 0" };
        return Err(PyValueError::new_err(format!(
            "{name} must be a finite number of {unit_name} {low} and at most {max}, got {value:?}"
        )));
    }
    Duration::try_from_secs_f64(value / per_second)
        .map_err(|e| PyValueError::new_err(format!("{name} is not a valid duration: {e}")))
}
