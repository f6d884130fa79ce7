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
use crate::cache::Control;
use crate::client::Request;
use crate::embeddings::{EmbedBatch, DEFAULT_EMBED_BATCH_SIZE};
use crate::py::batch::{concurrency, items_of, progress_label, with_position};
use crate::py::cache::call_control;
use crate::py::call::{LlmCall, Start};
use crate::py::client::PyLlmClient;
use crate::py::json::{type_name, write_json};
use crate::py::observe::Outcome;
use crate::py::params::{positive_int, required_str, Body};
use crate::py::request::{check, Expect};
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
    [object, data, model, usage, deployment, cache_hit]
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

/// The body's fields other than `input` as an unclosed JSON object, plus the model and the
/// per-call headers. `params` are the call's keyword arguments (known ones are checked, the rest
/// pass through, as for `chat`).
fn head(model: &Bound<'_, PyAny>, params: Option<&Bound<'_, PyDict>>) -> PyResult<(Vec<u8>, String, HeaderMap)> {
    let model_name = required_str("model", model)?;
    let mut body = Body::new(params)?;
    body.put("model", Some(model), None)?;
    let mut has_format = body.overridden("encoding_format");
    if let Some(params) = params {
        for twice in ["model", "input"] {
            if params.contains(twice)? {
                return Err(PyTypeError::new_err(format!("{twice} given twice")));
            }
        }
        let given =
            |key: &str| -> PyResult<Option<Bound<'_, PyAny>>> { Ok(params.get_item(key)?.filter(|v| !v.is_none())) };
        if let Some(format) = given("encoding_format")? {
            let text = format
                .cast::<PyString>()
                .ok()
                .map(|s| s.to_cow().map(|s| s.into_owned()))
                .transpose()?;
            if !matches!(text.as_deref(), Some("float" | "base64")) {
                return Err(PyValueError::new_err(format!(
                    "encoding_format must be 'float' or 'base64', not {}",
                    format.repr()?
                )));
            }
            has_format = true;
        }
        positive_int("dimensions", given("dimensions")?.as_ref())?;
        if let Some(user) = given("user")? {
            check("user", &user, Expect::Str)?;
        }
    }
    if !has_format {
        // Base64 is about a third of the JSON size; the vectors are decoded to floats.
        body.put(
            "encoding_format",
            Some(&PyString::new(model.py(), "base64").into_any()),
            None,
        )?;
    }
    let (out, headers) = body.finish_open()?;
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
        // Local arguments: for the router and the callbacks, never sent.
        let metadata = params.get_item("metadata")?.filter(|m| !m.is_none());
        let session = params.get_item("session")?.filter(|s| !s.is_none());
        let cache = cache_control(&params)?;
        for local in ["metadata", "session", "cache"] {
            if params.contains(local)? {
                params.del_item(local)?;
            }
        }
        let session = session
            .map(|s| {
                s.extract::<String>()
                    .map_err(|_| PyTypeError::new_err("session must be a str"))
            })
            .transpose()?;
        let (mut body, model, headers) = head(model, Some(&params))?;
        body.extend_from_slice(b",\"input\":");
        write_json(&mut body, input)?;
        body.push(b'}');
        let mut request = Request {
            body: body.into(),
            model,
            headers,
            session,
            cache,
            ..Request::default()
        };
        let watching = self.watching(|| Ok(metadata), &mut request, "embeddings", false)?;
        let client = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let watch = watching.map(|w| w.begin(py)).transpose()?;
            let work = async move { client.embed(request).await };
            let finish = move |py: Python<'_>, result: crate::Result<EmbeddingResponse>| {
                let Some(watch) = watch else {
                    return response_object(py, result);
                };
                match result {
                    Ok(response) => {
                        let outcome = Outcome {
                            response_model: Some(response.model.clone()),
                            usage: Some(response.usage.clone()),
                            cache_hit: response.cache_hit,
                            ..Outcome::default()
                        };
                        let object = response_object(py, Ok(response))?;
                        watch.success(
                            py,
                            Outcome {
                                response: Some(object.clone_ref(py)),
                                ..outcome
                            },
                        );
                        Ok(object)
                    }
                    Err(err) => {
                        watch.failure(py, &err);
                        Err(err.into())
                    }
                }
            };
            Ok(driver.spawn(py, work, finish)?.0)
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
        let cache = match kwargs {
            Some(kwargs) => {
                let cache = cache_control(kwargs)?;
                if kwargs.contains("cache")? {
                    kwargs.del_item("cache")?;
                }
                cache
            }
            None => Control::default(),
        };
        let (head, model, headers) = head(model, kwargs)?;
        let mut batch = EmbedBatch {
            head,
            model,
            headers,
            cache,
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

/// The `cache=` among a call's keyword arguments.
fn cache_control(kwargs: &Bound<'_, PyDict>) -> PyResult<Control> {
    kwargs
        .get_item("cache")?
        .map_or_else(|| Ok(Control::default()), |c| call_control(&c))
}

/// Adds the embeddings classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEmbeddingObject>()?;
    m.add_class::<PyEmbeddingResponse>()?;
    Ok(())
}
