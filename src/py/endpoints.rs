//! `LlmClient` methods for the endpoints beyond chat and embeddings: models, images, speech,
//! moderation, rerank, files, batches and responses (uploads live in `upload.rs`).
//!
//! As for `chat`, known parameters are type-checked before anything is sent, `None` values are
//! omitted, unknown keyword arguments pass through into the JSON body, `extra_body` (dict) is
//! merged last and `extra_headers` (dict) are added to the request. The body is written straight
//! from the Python objects into JSON bytes.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use reqwest::header::HeaderMap;

use crate::api::{BatchParams, ListParams};
use crate::client::{Client, Request};
use crate::py::call::{LlmCall, Start};
use crate::py::client::PyLlmClient;
use crate::py::endpoint_types::{
    PyBatchListResponse, PyBatchObject, PyDeleteResponse, PyFileListResponse, PyFileObject, PyImagesResponse,
    PyModelsListResponse, PyModerationResponse, PyRerankResponse, PyResponseObject,
};
use crate::py::json::{type_name, write_json};
use crate::py::request::headers_from;

/// The JSON type a parameter must have.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Int,
    Number,
    Dict,
    StrOrList,
    List,
}

/// Checks `value` (not `None`) against `kind`.
pub(crate) fn check(name: &str, value: &Bound<'_, PyAny>, kind: Kind) -> PyResult<()> {
    let is_int = value.is_instance_of::<PyInt>() && !value.is_instance_of::<PyBool>();
    let is_list = value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>();
    let (ok, wanted) = match kind {
        Kind::Str => (value.is_instance_of::<PyString>(), "a str"),
        Kind::Int => (is_int, "an int"),
        Kind::Number => (is_int || value.is_instance_of::<PyFloat>(), "a number"),
        Kind::Dict => (value.is_instance_of::<PyDict>(), "a dict"),
        Kind::StrOrList => (value.is_instance_of::<PyString>() || is_list, "a str or a list"),
        Kind::List => (is_list, "a list"),
    };
    if ok {
        Ok(())
    } else {
        Err(PyTypeError::new_err(format!(
            "{name} must be {wanted}, not {}",
            type_name(value)
        )))
    }
}

/// A required string parameter that must not be empty.
pub(crate) fn required_str(name: &str, value: &Bound<'_, PyAny>) -> PyResult<String> {
    check(name, value, Kind::Str)?;
    let text = value.cast::<PyString>()?.to_cow()?.into_owned();
    if text.is_empty() {
        return Err(PyValueError::new_err(format!("{name} must not be empty")));
    }
    Ok(text)
}

/// A JSON object body written field by field, with `**extra` handled as for `chat`.
pub(crate) struct Body<'py> {
    out: Vec<u8>,
    headers: HeaderMap,
    extra: Option<Bound<'py, PyDict>>,
    extra_body: Option<Bound<'py, PyDict>>,
}

impl<'py> Body<'py> {
    /// Starts a body; `extra` are the call's other keyword arguments.
    pub(crate) fn new(extra: Option<&Bound<'py, PyDict>>) -> PyResult<Self> {
        let mut headers = HeaderMap::new();
        let mut extra_body = None;
        if let Some(extra) = extra {
            if let Some(value) = extra.get_item("extra_headers")?.filter(|v| !v.is_none()) {
                headers_from(&value, &mut headers)?;
            }
            if let Some(body) = extra.get_item("extra_body")?.filter(|b| !b.is_none()) {
                extra_body = Some(body.cast_into::<PyDict>().map_err(|e| {
                    PyTypeError::new_err(format!("extra_body must be a dict, not {}", type_name(&e.into_inner())))
                })?);
            }
        }
        let mut out = Vec::with_capacity(128);
        out.push(b'{');
        Ok(Body {
            out,
            headers,
            extra: extra.cloned(),
            extra_body,
        })
    }

    fn write(&mut self, key: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        write_json(&mut self.out, &PyString::new(value.py(), key))?;
        self.out.push(b':');
        write_json(&mut self.out, value)
    }

    /// Adds a parameter unless it is `None` (or overridden by `extra_body`), checking its type.
    pub(crate) fn put(&mut self, key: &str, value: Option<&Bound<'_, PyAny>>, kind: Option<Kind>) -> PyResult<()> {
        let Some(value) = value.filter(|v| !v.is_none()) else {
            return Ok(());
        };
        if let Some(kind) = kind {
            check(key, value, kind)?;
        }
        if self
            .extra_body
            .as_ref()
            .is_some_and(|b| b.contains(key).unwrap_or(false))
        {
            return Ok(());
        }
        self.write(key, value)
    }

    /// Adds the pass-through keyword arguments and `extra_body`; returns the body and headers.
    pub(crate) fn finish(mut self) -> PyResult<(Bytes, HeaderMap)> {
        if let Some(extra) = self.extra.take() {
            for (key, value) in extra.iter() {
                let key = key.cast_into::<PyString>()?;
                let name = key.to_cow()?;
                if matches!(name.as_ref(), "extra_body" | "extra_headers") {
                    continue;
                }
                self.put(&name, Some(&value), None)?;
            }
        }
        if let Some(body) = self.extra_body.take() {
            for (key, value) in body.iter() {
                let key = key
                    .cast_into::<PyString>()
                    .map_err(|_| PyTypeError::new_err("extra_body keys must be str"))?;
                self.write(&key.to_cow()?, &value)?;
            }
        }
        self.out.push(b'}');
        Ok((Bytes::from(self.out), self.headers))
    }

    /// Finishes the body into a request for `model`.
    pub(crate) fn request(self, model: String) -> PyResult<Request> {
        let (body, headers) = self.finish()?;
        Ok(Request {
            body,
            model,
            headers,
            ..Request::default()
        })
    }
}

/// Runs `work` on the client as a coroutine resolving to `finish(result)`.
pub(crate) fn run<'py, T, F, Fut>(
    py: Python<'py>,
    client: &Arc<Client>,
    work: F,
    finish: fn(Python<'_>, T) -> PyResult<Py<PyAny>>,
) -> PyResult<Bound<'py, LlmCall>>
where
    T: Send + 'static,
    F: FnOnce(Arc<Client>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = crate::Result<T>> + Send + 'static,
{
    let client = Arc::clone(client);
    let start: Start = Box::new(move |py, driver| {
        let job = work(client);
        Ok(driver
            .spawn(py, job, move |py, result: crate::Result<T>| finish(py, result?))?
            .0)
    });
    Bound::new(py, LlmCall::new(py, start)?)
}

fn models(py: Python<'_>, v: crate::types::ModelsListResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyModelsListResponse(v))?.into_any())
}
fn images(py: Python<'_>, v: crate::types::ImagesResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyImagesResponse(v))?.into_any())
}
fn moderation(py: Python<'_>, v: crate::types::ModerationResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyModerationResponse(v))?.into_any())
}
fn reranked(py: Python<'_>, v: crate::types::RerankResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyRerankResponse(v))?.into_any())
}
pub(crate) fn file(py: Python<'_>, v: crate::types::FileObject) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyFileObject(v))?.into_any())
}
fn file_list(py: Python<'_>, v: crate::types::FileListResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyFileListResponse(v))?.into_any())
}
fn deleted(py: Python<'_>, v: crate::types::DeleteResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyDeleteResponse(v))?.into_any())
}
fn batch(py: Python<'_>, v: crate::types::BatchObject) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyBatchObject(v))?.into_any())
}
fn batch_list(py: Python<'_>, v: crate::types::BatchListResponse) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyBatchListResponse(v))?.into_any())
}
fn response(py: Python<'_>, v: crate::types::ResponseObject) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyResponseObject(v))?.into_any())
}
fn raw_bytes(py: Python<'_>, v: Bytes) -> PyResult<Py<PyAny>> {
    Ok(PyBytes::new(py, &v).into_any().unbind())
}

/// A non-empty id argument.
fn id_arg(name: &str, id: &str) -> PyResult<String> {
    if id.is_empty() {
        return Err(PyValueError::new_err(format!("{name} must not be empty")));
    }
    Ok(id.to_owned())
}

/// `limit` of the list methods: an int >= 1.
fn limit_arg(limit: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    let Some(limit) = limit.filter(|l| !l.is_none()) else {
        return Ok(None);
    };
    check("limit", limit, Kind::Int)?;
    match limit.extract::<u64>() {
        Ok(n) if n >= 1 => Ok(Some(n)),
        _ => Err(PyValueError::new_err("limit must be >= 1")),
    }
}

#[pymethods]
impl PyLlmClient {
    /// Lists the models of the client's own provider; a coroutine resolving to a
    /// `ModelsListResponse`.
    fn list_models<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, LlmCall>> {
        run(py, &self.inner, |c| async move { c.list_models().await }, models)
    }

    /// Generates images; a coroutine resolving to an `ImagesResponse`.
    #[pyo3(signature = (*, prompt, model=None, n=None, size=None, quality=None, response_format=None, style=None, user=None, **extra))]
    #[allow(clippy::too_many_arguments)]
    fn image_generate<'py>(
        &self,
        py: Python<'py>,
        prompt: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyAny>>,
        n: Option<&Bound<'py, PyAny>>,
        size: Option<&Bound<'py, PyAny>>,
        quality: Option<&Bound<'py, PyAny>>,
        response_format: Option<&Bound<'py, PyAny>>,
        style: Option<&Bound<'py, PyAny>>,
        user: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        required_str("prompt", prompt)?;
        let model_name = match model.filter(|m| !m.is_none()) {
            Some(m) => required_str("model", m)?,
            None => String::new(),
        };
        if let Some(n) = n.filter(|n| !n.is_none()) {
            check("n", n, Kind::Int)?;
            if n.extract::<i64>().map_or(true, |n| n < 1) {
                return Err(PyValueError::new_err("n must be >= 1"));
            }
        }
        if let Some(format) = response_format.filter(|f| !f.is_none()) {
            let format = required_str("response_format", format)?;
            if format != "url" && format != "b64_json" {
                return Err(PyValueError::new_err(format!(
                    "response_format must be 'url' or 'b64_json', not {format:?}"
                )));
            }
        }
        let mut body = Body::new(extra)?;
        body.put("prompt", Some(prompt), None)?;
        body.put("model", model, None)?;
        body.put("n", n, None)?;
        body.put("size", size, Some(Kind::Str))?;
        body.put("quality", quality, Some(Kind::Str))?;
        body.put("response_format", response_format, None)?;
        body.put("style", style, Some(Kind::Str))?;
        body.put("user", user, Some(Kind::Str))?;
        let request = body.request(model_name)?;
        run(
            py,
            &self.inner,
            |c| async move { c.image_generate(request).await },
            images,
        )
    }

    /// Synthesises speech; a coroutine resolving to the audio `bytes`.
    #[pyo3(signature = (*, model, input, voice, response_format=None, speed=None, **extra))]
    #[allow(clippy::too_many_arguments)]
    fn speech<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        input: &Bound<'py, PyAny>,
        voice: &Bound<'py, PyAny>,
        response_format: Option<&Bound<'py, PyAny>>,
        speed: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let model_name = required_str("model", model)?;
        required_str("input", input)?;
        required_str("voice", voice)?;
        if let Some(speed) = speed.filter(|s| !s.is_none()) {
            check("speed", speed, Kind::Number)?;
            if speed.extract::<f64>().map_or(true, |s| !(0.25..=4.0).contains(&s)) {
                return Err(PyValueError::new_err("speed must be between 0.25 and 4.0"));
            }
        }
        let mut body = Body::new(extra)?;
        body.put("model", Some(model), None)?;
        body.put("input", Some(input), None)?;
        body.put("voice", Some(voice), None)?;
        body.put("response_format", response_format, Some(Kind::Str))?;
        body.put("speed", speed, None)?;
        let request = body.request(model_name)?;
        run(py, &self.inner, |c| async move { c.speech(request).await }, raw_bytes)
    }

    /// Classifies content; a coroutine resolving to a `ModerationResponse`.
    #[pyo3(signature = (*, input, model=None, **extra))]
    fn moderate<'py>(
        &self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
        model: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        check("input", input, Kind::StrOrList)?;
        if input.len()? == 0 {
            return Err(PyValueError::new_err("input must not be empty"));
        }
        let model_name = match model.filter(|m| !m.is_none()) {
            Some(m) => required_str("model", m)?,
            None => String::new(),
        };
        let mut body = Body::new(extra)?;
        body.put("input", Some(input), None)?;
        body.put("model", model, None)?;
        let request = body.request(model_name)?;
        run(
            py,
            &self.inner,
            |c| async move { c.moderate(request).await },
            moderation,
        )
    }

    /// Reranks documents by relevance to a query; a coroutine resolving to a `RerankResponse`
    /// (results sorted by relevance, highest first).
    #[pyo3(signature = (*, model, query, documents, top_n=None, **extra))]
    fn rerank<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        query: &Bound<'py, PyAny>,
        documents: &Bound<'py, PyAny>,
        top_n: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let model_name = required_str("model", model)?;
        required_str("query", query)?;
        check("documents", documents, Kind::List)?;
        if documents.len()? == 0 {
            return Err(PyValueError::new_err("documents must not be empty"));
        }
        if let Some(top_n) = top_n.filter(|t| !t.is_none()) {
            check("top_n", top_n, Kind::Int)?;
            if top_n.extract::<i64>().map_or(true, |t| t < 1) {
                return Err(PyValueError::new_err("top_n must be >= 1"));
            }
        }
        let mut body = Body::new(extra)?;
        body.put("model", Some(model), None)?;
        body.put("query", Some(query), None)?;
        body.put("documents", Some(documents), None)?;
        body.put("top_n", top_n, None)?;
        let request = body.request(model_name)?;
        run(py, &self.inner, |c| async move { c.rerank(request).await }, reranked)
    }

    /// A file's metadata; a coroutine resolving to a `FileObject`.
    fn retrieve_file<'py>(&self, py: Python<'py>, file_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("file_id", file_id)?;
        run(py, &self.inner, |c| async move { c.retrieve_file(&id).await }, file)
    }

    /// Deletes a file; a coroutine resolving to a `DeleteResponse`.
    fn delete_file<'py>(&self, py: Python<'py>, file_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("file_id", file_id)?;
        run(py, &self.inner, |c| async move { c.delete_file(&id).await }, deleted)
    }

    /// One page of files; a coroutine resolving to a `FileListResponse`.
    #[pyo3(signature = (*, purpose=None, limit=None, after=None))]
    fn list_files<'py>(
        &self,
        py: Python<'py>,
        purpose: Option<String>,
        limit: Option<&Bound<'py, PyAny>>,
        after: Option<String>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let params = ListParams {
            purpose,
            limit: limit_arg(limit)?,
            after,
        };
        run(
            py,
            &self.inner,
            |c| async move { c.list_files(params).await },
            file_list,
        )
    }

    /// A file's content; a coroutine resolving to `bytes`.
    fn file_content<'py>(&self, py: Python<'py>, file_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("file_id", file_id)?;
        run(py, &self.inner, |c| async move { c.file_content(&id).await }, raw_bytes)
    }

    /// Creates a batch; a coroutine resolving to a `BatchObject`.
    #[pyo3(signature = (*, input_file_id, endpoint, completion_window="24h", metadata=None, **extra))]
    fn create_batch<'py>(
        &self,
        py: Python<'py>,
        input_file_id: &Bound<'py, PyAny>,
        endpoint: &Bound<'py, PyAny>,
        completion_window: &str,
        metadata: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        required_str("input_file_id", input_file_id)?;
        required_str("endpoint", endpoint)?;
        let mut body = Body::new(extra)?;
        body.put("input_file_id", Some(input_file_id), None)?;
        body.put("endpoint", Some(endpoint), None)?;
        body.put(
            "completion_window",
            Some(&PyString::new(py, completion_window).into_any()),
            None,
        )?;
        body.put("metadata", metadata, Some(Kind::Dict))?;
        let (body, headers) = body.finish()?;
        let params = BatchParams { body, headers };
        run(py, &self.inner, |c| async move { c.create_batch(params).await }, batch)
    }

    /// A batch; a coroutine resolving to a `BatchObject`.
    fn retrieve_batch<'py>(&self, py: Python<'py>, batch_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("batch_id", batch_id)?;
        run(py, &self.inner, |c| async move { c.retrieve_batch(&id).await }, batch)
    }

    /// One page of batches; a coroutine resolving to a `BatchListResponse`.
    #[pyo3(signature = (*, limit=None, after=None))]
    fn list_batches<'py>(
        &self,
        py: Python<'py>,
        limit: Option<&Bound<'py, PyAny>>,
        after: Option<String>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let params = ListParams {
            purpose: None,
            limit: limit_arg(limit)?,
            after,
        };
        run(
            py,
            &self.inner,
            |c| async move { c.list_batches(params).await },
            batch_list,
        )
    }

    /// Cancels a batch; a coroutine resolving to the `BatchObject`.
    fn cancel_batch<'py>(&self, py: Python<'py>, batch_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("batch_id", batch_id)?;
        run(py, &self.inner, |c| async move { c.cancel_batch(&id).await }, batch)
    }

    /// Creates a model response (Responses API); a coroutine resolving to a `ResponseObject`.
    #[pyo3(signature = (*, model, input=None, instructions=None, max_output_tokens=None, temperature=None, top_p=None, **extra))]
    #[allow(clippy::too_many_arguments)]
    fn create_response<'py>(
        &self,
        py: Python<'py>,
        model: &Bound<'py, PyAny>,
        input: Option<&Bound<'py, PyAny>>,
        instructions: Option<&Bound<'py, PyAny>>,
        max_output_tokens: Option<&Bound<'py, PyAny>>,
        temperature: Option<&Bound<'py, PyAny>>,
        top_p: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let model_name = required_str("model", model)?;
        let templated = match extra {
            Some(e) => e.contains("prompt")? || e.contains("conversation")?,
            None => false,
        };
        match input.filter(|i| !i.is_none()) {
            Some(input) => {
                check("input", input, Kind::StrOrList)?;
                if input.len()? == 0 {
                    return Err(PyValueError::new_err("input must not be empty"));
                }
            }
            None if templated => {}
            None => return Err(PyValueError::new_err("input is required")),
        }
        if let Some(max) = max_output_tokens.filter(|m| !m.is_none()) {
            check("max_output_tokens", max, Kind::Int)?;
            if max.extract::<i64>().map_or(true, |m| m < 1) {
                return Err(PyValueError::new_err("max_output_tokens must be >= 1"));
            }
        }
        let mut body = Body::new(extra)?;
        body.put("model", Some(model), None)?;
        body.put("input", input, None)?;
        body.put("instructions", instructions, Some(Kind::Str))?;
        body.put("max_output_tokens", max_output_tokens, None)?;
        body.put("temperature", temperature, Some(Kind::Number))?;
        body.put("top_p", top_p, Some(Kind::Number))?;
        let request = body.request(model_name)?;
        run(
            py,
            &self.inner,
            |c| async move { c.create_response(request).await },
            response,
        )
    }

    /// A stored response; a coroutine resolving to a `ResponseObject`.
    fn retrieve_response<'py>(&self, py: Python<'py>, response_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("response_id", response_id)?;
        run(
            py,
            &self.inner,
            |c| async move { c.retrieve_response(&id).await },
            response,
        )
    }

    /// Cancels a background response; a coroutine resolving to the `ResponseObject`.
    fn cancel_response<'py>(&self, py: Python<'py>, response_id: &str) -> PyResult<Bound<'py, LlmCall>> {
        let id = id_arg("response_id", response_id)?;
        run(
            py,
            &self.inner,
            |c| async move { c.cancel_response(&id).await },
            response,
        )
    }
}
