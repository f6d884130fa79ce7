//! Python binding for token counting: `count_tokens(*, model, messages=None, text=None)`.
//!
//! Exactly one of `messages` (a list of message dicts, counted in OpenAI's chat format) or
//! `text` (a str) must be given. Counting runs with the GIL released, so other threads (and the
//! event loop, when called from a worker thread) keep running; see `crate::tokens` for which
//! models are exact and how others are estimated.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::py::json::{to_value, type_name};
use crate::tokens::Counter;

/// Number of tokens `messages` or `text` take for `model`.
#[pyfunction]
#[pyo3(signature = (*, model, messages=None, text=None))]
fn count_tokens(
    py: Python<'_>,
    model: &str,
    messages: Option<&Bound<'_, PyAny>>,
    text: Option<&Bound<'_, PyAny>>,
) -> PyResult<u64> {
    let messages = messages.filter(|m| !m.is_none());
    let text = text.filter(|t| !t.is_none());
    let counter = Counter::for_model(model);
    match (messages, text) {
        (Some(messages), None) => {
            if !(messages.is_instance_of::<PyList>() || messages.is_instance_of::<PyTuple>()) {
                return Err(PyTypeError::new_err(format!(
                    "messages must be a list of dicts, not {}",
                    type_name(messages)
                )));
            }
            let value = to_value(messages)?;
            Ok(py.detach(move || counter.messages(&value)))
        }
        (None, Some(text)) => {
            let text: String = text
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err(format!("text must be a str, not {}", type_name(text))))?
                .to_cow()?
                .into_owned();
            Ok(py.detach(move || counter.text(&text)))
        }
        _ => Err(PyTypeError::new_err(
            "count_tokens() takes exactly one of messages= or text=",
        )),
    }
}

/// Adds the function to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(count_tokens, m)?)
}
