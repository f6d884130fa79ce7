//! Python binding for request sanitising: `sanitize_request(request) -> dict`.
//!
//! Returns a sanitised copy of a Chat Completions request dict (the input is not modified); see
//! `crate::sanitize` for the rules. Runs with the GIL released. Nothing is logged here: the
//! client logs what `sanitize=True` changed.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::Value;

use crate::py::convert::value_to_py;
use crate::py::json::{to_value, type_name};

/// The request with unsupported parameters dropped or renamed and old messages truncated to fit.
#[pyfunction]
fn sanitize_request<'py>(py: Python<'py>, request: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if !request.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!(
            "request must be a dict, not {}",
            type_name(request)
        )));
    }
    let Value::Object(mut body) = to_value(request)? else {
        return Err(PyTypeError::new_err("request must be a dict"));
    };
    let Some(model) = body.get("model").and_then(Value::as_str).map(str::to_owned) else {
        return Err(PyValueError::new_err("request must have a 'model' str"));
    };
    let body = py.detach(move || {
        crate::sanitize::sanitize(&model, &mut body);
        Value::Object(body)
    });
    value_to_py(py, &body)
}

/// Adds the function to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(sanitize_request, m)?)
}
