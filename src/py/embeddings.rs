//! Embeddings for Python: `LlmClient.embed`, `LlmClient.embed_batch` and their response types.
//!
//! Known parameters are type-checked before anything is sent; `None` values are omitted,
//! unknown ones pass through, `extra_body` is merged last and `extra_headers` are per-call
//! headers (as for `chat`). Unless `encoding_format` is given, vectors are requested as base64
//! (about a third of the JSON size, like the openai SDK does) and decoded to floats: callers
//! always get `list[float]`.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple};
use reqwest::header::HeaderMap;

use crate::batch::BatchOptions;
use crate::client::Request;
use crate::embeddings::{EmbedBatch, DEFAULT_EMBED_BATCH_SIZE};
use crate::py::batch::{concurrency, items_of, progress_label, with_position};
use crate::py::call::{LlmCall, Start};
use crate::py::client::PyLlmClient;
use crate::py::json::{type_name, write_json};
use crate::py::request::headers_from;
use crate::py::types::{py_model, FieldToPy};
use crate::types::{Embedding, EmbeddingResponse};

impl FieldToPy for Embedding {
    fn to_py<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(PyList::new(py, self.0.iter().map(|&v| f64::from(v)))?.into_any())
    }
}

py_model!(
    PyEmbeddingObject,
    "EmbeddingObject",
    EmbeddingObject,
    [index, embedding, object]
);
py_model!(
    PyEmbeddingResponse,
    "EmbeddingResponse",
    EmbeddingResponse,
    [object, data, model, usage]
);

fn is_int(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>()
}

fn is_list(value: &Bound<'_, PyAny>) -> bool {
    value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>()
}

/// Checks one input: a non-empty str or a non-empty list of int token ids.
fn check_one(value: &Bound<'_, PyAny>, what: &str) -> PyResult<()> {
    if let Ok(s) = value.cast::<PyString>() {
        if s.to_cow()?.is_empty() {
            return Err(PyValueError::new_err(format!("{what} must not be an empty string")));
        }
        return Ok(());
    }
    if is_list(value) {
        let mut count = 0usize;
        for item in value.try_iter()? {
            if !is_int(&item?) {
                return Err(PyTypeError::new_err(format!(
                    "{what} must be a str or a list of int token ids"
                )));
            }
            count += 1;
        }
        if count == 0 {
            return Err(PyValueError::new_err(format!("{what} must not be an empty list")));
        }
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "{what} must be a str or a list of int token ids, not {}",
        type_name(value)
    )))
}

/// Checks `input` of `embed()`: one input, a list of str, a list of token ids or a list of
/// token-id lists.
fn check_input(input: &Bound<'_, PyAny>) -> PyResult<()> {
    if !is_list(input) {
        return check_one(input, "input");
    }
    let items: Vec<_> = input.try_iter()?.collect::<PyResult<_>>()?;
    if items.is_empty() {
        return Err(PyValueError::new_err("input must not be an empty list"));
    }
    if items.iter().all(is_int) {
        return Ok(());
    }
    for (i, item) in items.iter().enumerate() {
        check_one(item, &format!("input[{i}]"))?;
    }
    Ok(())
}

/// The body's fields other than `input` as an unclosed JSON object, plus headers.
fn head(model: &Bound<'_, PyAny>, extra: Option<&Bound<'_, PyDict>>) -> PyResult<(Vec<u8>, String, HeaderMap)> {
    let model_name = match model.cast::<PyString>() {
        Ok(m) => m.to_cow()?.into_owned(),
        Err(_) => {
            return Err(PyTypeError::new_err(format!(
                "model must be a str, not {}",
                type_name(model)
            )))
        }
    };
    if model_name.is_empty() {
        return Err(PyValueError::new_err("model must not be empty"));
    }
    let py = model.py();
    let mut headers = HeaderMap::new();
    let mut out = Vec::with_capacity(128);
    out.push(b'{');
    let field = |out: &mut Vec<u8>, key: &str, value: &Bound<'_, PyAny>| -> PyResult<()> {
        if out.len() > 1 {
            out.push(b',');
        }
        write_json(out, &PyString::new(py, key))?;
        out.push(b':');
        write_json(out, value)
    };
    field(&mut out, "model", model)?;
    let mut extra_body = None;
    let mut has_format = false;
    if let Some(extra) = extra {
        if let Some(body) = extra.get_item("extra_body")?.filter(|b| !b.is_none()) {
            extra_body = Some(body.cast_into::<PyDict>().map_err(|e| {
                PyTypeError::new_err(format!("extra_body must be a dict, not {}", type_name(&e.into_inner())))
            })?);
        }
        for (key, value) in extra.iter() {
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
                "model" | "input" => {
                    return Err(PyTypeError::new_err(format!("{name} given twice")));
                }
                _ => {}
            }
            if value.is_none() {
                continue;
            }
            match name.as_ref() {
                "encoding_format" => {
                    let ok = value
                        .cast::<PyString>()
                        .ok()
                        .map(|s| s.to_cow().map(|s| s == "float" || s == "base64"))
                        .transpose()?
                        .unwrap_or(false);
                    if !ok {
                        return Err(PyValueError::new_err(format!(
                            "encoding_format must be 'float' or 'base64', not {}",
                            value.repr()?
                        )));
                    }
                    has_format = true;
                }
                "dimensions" => {
                    if !is_int(&value) {
                        return Err(PyTypeError::new_err(format!(
                            "dimensions must be an int, not {}",
                            type_name(&value)
                        )));
                    }
                    if value.extract::<i64>().map_or(true, |d| d < 1) {
                        return Err(PyValueError::new_err("dimensions must be >= 1"));
                    }
                }
                "user" if !value.is_instance_of::<PyString>() => {
                    return Err(PyTypeError::new_err(format!(
                        "user must be a str, not {}",
                        type_name(&value)
                    )));
                }
                _ => {}
            }
            if extra_body.as_ref().is_some_and(|b| b.contains(&key).unwrap_or(false)) {
                continue;
            }
            field(&mut out, &name, &value)?;
        }
    }
    if let Some(body) = &extra_body {
        for (key, value) in body.iter() {
            let key = key
                .cast_into::<PyString>()
                .map_err(|_| PyTypeError::new_err("extra_body keys must be str"))?;
            if key.to_cow()? == "encoding_format" {
                has_format = true;
            }
            field(&mut out, &key.to_cow()?, &value)?;
        }
    }
    if !has_format {
        field(&mut out, "encoding_format", &PyString::new(py, "base64").into_any())?;
    }
    Ok((out, model_name, headers))
}

fn response_object(py: Python<'_>, result: crate::Result<EmbeddingResponse>) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyEmbeddingResponse(result?))?.into_any())
}

#[pymethods]
impl PyLlmClient {
    /// Creates embeddings for one input or a list of inputs; a coroutine resolving to an
    /// `EmbeddingResponse`.
    #[pyo3(signature = (*, model, input, encoding_format=None, dimensions=None, user=None, **extra))]
    #[allow(clippy::too_many_arguments)]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        input: &Bound<'py, PyAny>,
        encoding_format: Option<&Bound<'py, PyAny>>,
        dimensions: Option<&Bound<'py, PyAny>>,
        user: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        check_input(input)?;
        let params = PyDict::new(py);
        params.set_item("encoding_format", encoding_format)?;
        params.set_item("dimensions", dimensions)?;
        params.set_item("user", user)?;
        if let Some(extra) = extra {
            params.update(extra.as_mapping())?;
        }
        let (mut body, model, headers) = head(model, Some(&params))?;
        body.extend_from_slice(b",\"input\":");
        write_json(&mut body, input)?;
        body.push(b'}');
        let request = Request {
            body: body.into(),
            model,
            headers,
            ..Request::default()
        };
        let client = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let work = async move { client.embed(request).await };
            Ok(driver.spawn(py, work, response_object)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// Embeds many inputs in chunks of `batch_size`, chunks running concurrently; a coroutine
    /// resolving to one `EmbeddingResponse` in input order with the usage summed.
    #[pyo3(signature = (inputs, *, model, batch_size=None, max_concurrency=None, progress=None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn embed_batch<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyAny>,
        model: &Bound<'py, PyAny>,
        batch_size: Option<i64>,
        max_concurrency: Option<i64>,
        progress: Option<&Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let batch_size = match batch_size {
            None => DEFAULT_EMBED_BATCH_SIZE,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| PyValueError::new_err(format!("batch_size must be >= 1, got {n}")))?,
        };
        let options = BatchOptions {
            concurrency: concurrency(max_concurrency)?,
            progress: progress_label(progress, "embed_batch")?,
        };
        let items = items_of(inputs, "inputs")?;
        let (head, model, headers) = head(model, kwargs)?;
        let mut batch = EmbedBatch {
            head,
            model,
            headers,
            ..EmbedBatch::default()
        };
        batch.ends.reserve(items.len());
        for (i, item) in items.iter().enumerate() {
            let what = format!("inputs[{i}]");
            check_one(item, &what)?;
            write_json(&mut batch.inputs, item).map_err(|e| with_position(py, e, &what))?;
            batch.ends.push(batch.inputs.len());
        }
        let client = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let work = async move { client.embed_batch(batch, batch_size, options).await };
            Ok(driver.spawn(py, work, response_object)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }
}

/// Adds the embeddings classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEmbeddingObject>()?;
    m.add_class::<PyEmbeddingResponse>()?;
    Ok(())
}
