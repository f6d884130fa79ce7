//! `LlmClient` methods for files and batches (uploads are in `upload.rs`).

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::api::{BatchParams, ListParams};
use crate::py::call::LlmCall;
use crate::py::client::PyLlmClient;
use crate::py::endpoint_types::{
    PyBatchListResponse, PyBatchObject, PyDeleteResponse, PyFileListResponse, PyFileObject,
};
use crate::py::params::{id_arg, non_empty, positive_int, raw_bytes, required_str, run, Body};
use crate::py::request::Expect;

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

#[pymethods]
impl PyLlmClient {
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
            purpose: non_empty("purpose", purpose)?,
            limit: positive_int("limit", limit)?,
            after: non_empty("after", after)?,
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
        body.put("metadata", metadata, Some(Expect::Dict))?;
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
            limit: positive_int("limit", limit)?,
            after: non_empty("after", after)?,
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
}
