//! `LlmClient` methods for the endpoints beyond chat and embeddings: models, images, speech,
//! moderation, rerank and responses (files and batches are in `files.rs`, uploads in
//! `upload.rs`, the keyword plumbing in `params.rs`).
//!
//! As for `chat`, known parameters are type-checked before anything is sent, `None` values are
//! omitted, unknown keyword arguments pass through into the JSON body, `extra_body` (dict) is
//! merged last and `extra_headers` (dict) are added to the request. The body is written straight
//! from the Python objects into JSON bytes.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::py::call::LlmCall;
use crate::py::client::PyLlmClient;
use crate::py::endpoint_types::{
    PyImagesResponse, PyModelsListResponse, PyModerationResponse, PyRerankResponse, PyResponseObject,
};
use crate::py::params::{id_arg, positive_int, raw_bytes, required_str, run, Body};
use crate::py::request::{check, Expect};

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
fn response(py: Python<'_>, v: crate::types::ResponseObject) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyResponseObject(v))?.into_any())
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
        positive_int("n", n)?;
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
        body.put("size", size, Some(Expect::Str))?;
        body.put("quality", quality, Some(Expect::Str))?;
        body.put("response_format", response_format, None)?;
        body.put("style", style, Some(Expect::Str))?;
        body.put("user", user, Some(Expect::Str))?;
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
            check("speed", speed, Expect::Number)?;
            if speed.extract::<f64>().map_or(true, |s| !(0.25..=4.0).contains(&s)) {
                return Err(PyValueError::new_err("speed must be between 0.25 and 4.0"));
            }
        }
        let mut body = Body::new(extra)?;
        body.put("model", Some(model), None)?;
        body.put("input", Some(input), None)?;
        body.put("voice", Some(voice), None)?;
        body.put("response_format", response_format, Some(Expect::Str))?;
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
        check("input", input, Expect::StrOrItems)?;
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
        check("documents", documents, Expect::List)?;
        if documents.len()? == 0 {
            return Err(PyValueError::new_err("documents must not be empty"));
        }
        positive_int("top_n", top_n)?;
        let mut body = Body::new(extra)?;
        body.put("model", Some(model), None)?;
        body.put("query", Some(query), None)?;
        body.put("documents", Some(documents), None)?;
        body.put("top_n", top_n, None)?;
        let request = body.request(model_name)?;
        run(py, &self.inner, |c| async move { c.rerank(request).await }, reranked)
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
                check("input", input, Expect::StrOrItems)?;
                if input.len()? == 0 {
                    return Err(PyValueError::new_err("input must not be empty"));
                }
            }
            None if templated => {}
            None => return Err(PyValueError::new_err("input is required")),
        }
        positive_int("max_output_tokens", max_output_tokens)?;
        let mut body = Body::new(extra)?;
        body.put("model", Some(model), None)?;
        body.put("input", input, None)?;
        body.put("instructions", instructions, Some(Expect::Str))?;
        body.put("max_output_tokens", max_output_tokens, None)?;
        body.put("temperature", temperature, Some(Expect::Number))?;
        body.put("top_p", top_p, Some(Expect::Number))?;
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
