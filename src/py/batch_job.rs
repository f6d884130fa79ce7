//! `BatchJob` and `LlmClient.submit_batch_job` / `load_batch_job`: provider batch jobs (see
//! [`crate::provider_batch`]). Everything runs on the runtime; `wait` polls there, sleeping
//! between polls without the GIL, and reports progress once per poll.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyList, PyString};

use crate::client::Request;
use crate::error::{Error, Kind};
use crate::provider_batch::{Job, Manifest, Options, PartState};
use crate::py::batch::{items_of, with_position};
use crate::py::call::{LlmCall, Start};
use crate::py::client::PyLlmClient;
use crate::py::convert::{positive_seconds, value_to_py};
use crate::py::json::type_name;
use crate::py::request::chat_request;
use crate::py::types::PyChatCompletionResponse;

/// A provider batch job: many chat requests sent through the provider's batch API at its
/// batch price, behind one object that waits for them and collects their results.
#[pyclass(name = "BatchJob", module = "liter_llm", frozen)]
pub struct PyBatchJob {
    job: Arc<Job>,
}

/// Where `wait` reports progress.
enum Progress {
    Off,
    /// A line on stderr per poll, with this label.
    Line(String),
    /// A callable given the job's `counts` dict per poll.
    Call(Py<PyAny>),
}

/// What a `wait` can end with besides the job.
enum Stop {
    Core(Error),
    Py(PyErr),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Core(e)
    }
}

/// The future `work` makes, as an awaitable resolving through `finish`.
fn awaitable<'py, T, Fut>(
    py: Python<'py>,
    work: impl FnOnce() -> Fut + Send + Sync + 'static,
    finish: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + Sync + 'static,
) -> PyResult<Bound<'py, LlmCall>>
where
    T: Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let start: Start = Box::new(move |py, driver| Ok(driver.spawn(py, work(), finish)?.0));
    Bound::new(py, LlmCall::new(py, start)?)
}

/// The job's requests as the client would send them; a request without `model` takes
/// `model`.
fn requests_of(py: Python<'_>, requests: &Bound<'_, PyAny>, model: Option<&str>) -> PyResult<Vec<Request>> {
    let items = items_of(requests, "requests")?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |e: PyErr| with_position(py, e, &format!("requests[{i}]"));
        let dict = item
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err(format!("requests[{i}] must be a dict, not {}", type_name(item))))?;
        let dict = match model {
            Some(model) if dict.get_item("model")?.is_none_or(|m| m.is_none()) => {
                let copy = dict.copy()?;
                copy.set_item("model", model)?;
                copy
            }
            _ => dict.clone(),
        };
        let (request, _) = chat_request(Some(&dict), false).map_err(at)?;
        out.push(request);
    }
    Ok(out)
}

fn optional_count(name: &str, value: Option<i64>) -> PyResult<Option<u64>> {
    value
        .map(|n| {
            u64::try_from(n)
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| PyValueError::new_err(format!("{name} must be >= 1, got {n}")))
        })
        .transpose()
}

fn progress_of(value: Option<&Bound<'_, PyAny>>, id: &str) -> PyResult<Progress> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Progress::Off);
    };
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() {
            Progress::Line(id.to_owned())
        } else {
            Progress::Off
        });
    }
    if let Ok(label) = value.cast::<PyString>() {
        return Ok(Progress::Line(label.to_cow()?.into_owned()));
    }
    if value.is_callable() {
        return Ok(Progress::Call(value.clone().unbind()));
    }
    Err(PyTypeError::new_err(format!(
        "progress must be a bool, a str or a callable, not {}",
        type_name(value)
    )))
}

/// The job's overall status (see `BatchJob.status`).
fn status_of(m: &Manifest) -> &'static str {
    let has = |s: PartState| m.parts.iter().any(|p| p.state == s);
    if !m.ended() {
        return if m.cancelled {
            "cancelling"
        } else if has(PartState::Unsubmitted) {
            "submitting"
        } else {
            "in_progress"
        };
    }
    if m.cancelled || has(PartState::Cancelled) {
        "cancelled"
    } else if has(PartState::Failed) {
        "failed"
    } else if has(PartState::Expired) {
        "expired"
    } else {
        "completed"
    }
}

/// `(succeeded, failed)` over the job's batches.
fn tally(m: &Manifest) -> (u64, u64) {
    m.parts.iter().fold((0, 0), |(s, f), p| (s + p.succeeded, f + p.failed))
}

fn counts_dict<'py>(py: Python<'py>, m: &Manifest) -> PyResult<Bound<'py, PyDict>> {
    let (succeeded, failed) = tally(m);
    let total = m.total as u64;
    let d = PyDict::new(py);
    d.set_item("total", total)?;
    d.set_item("succeeded", succeeded)?;
    d.set_item("failed", failed)?;
    d.set_item("pending", total.saturating_sub(succeeded + failed))?;
    d.set_item("batches", m.parts.len())?;
    d.set_item("status", status_of(m))?;
    Ok(d)
}

impl PyBatchJob {
    fn object(py: Python<'_>, job: Arc<Job>) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, PyBatchJob { job })?.into_any())
    }

    /// Polls until the job ends (or `deadline`), reporting progress per poll.
    async fn wait_for(
        job: Arc<Job>,
        poll: Duration,
        timeout: Option<Duration>,
        progress: Progress,
    ) -> Result<(), Stop> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let m = job.advance().await?;
            match &progress {
                Progress::Off => {}
                Progress::Line(label) => {
                    let (succeeded, failed) = tally(&m);
                    eprintln!(
                        "{label}: {} of {} requests done ({failed} failed), {}",
                        succeeded + failed,
                        m.total,
                        status_of(&m)
                    );
                }
                Progress::Call(callback) => {
                    Python::attach(|py| callback.call1(py, (counts_dict(py, &m)?,)).map(drop)).map_err(Stop::Py)?;
                }
            }
            if m.ended() {
                return Ok(());
            }
            let mut nap = poll;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Stop::Core(Error::new(
                        Kind::Timeout,
                        format!(
                            "batch job {} did not end within the timeout; it goes on at the provider: wait again, or cancel it",
                            m.id
                        ),
                    )));
                }
                nap = nap.min(left);
            }
            tokio::time::sleep(nap).await;
        }
    }
}

fn stopped(stop: Stop) -> PyErr {
    match stop {
        Stop::Core(e) => e.into(),
        Stop::Py(e) => e,
    }
}

#[pymethods]
impl PyBatchJob {
    /// The job's id (`bjob_...`).
    #[getter]
    fn id(&self) -> String {
        self.job.manifest().id
    }

    /// The provider the job's batches live at.
    #[getter]
    fn provider(&self) -> String {
        self.job.manifest().provider
    }

    /// The model of the first request.
    #[getter]
    fn model(&self) -> String {
        self.job.manifest().model
    }

    /// Requests in the job.
    #[getter]
    fn total(&self) -> usize {
        self.job.manifest().total
    }

    /// `submitting`, `in_progress`, `cancelling`, or once every batch ended `completed`,
    /// `failed` (a batch was rejected), `expired` or `cancelled`.
    #[getter]
    fn status(&self) -> &'static str {
        status_of(&self.job.manifest())
    }

    /// Whether every provider batch has ended.
    #[getter]
    fn done(&self) -> bool {
        self.job.manifest().ended()
    }

    /// The provider's batch ids, in request order (only those created yet).
    #[getter]
    fn batch_ids(&self) -> Vec<String> {
        self.job
            .manifest()
            .parts
            .into_iter()
            .filter_map(|p| p.batch_id)
            .collect()
    }

    /// `{"total", "succeeded", "failed", "pending", "batches", "status"}` as last polled.
    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        counts_dict(py, &self.job.manifest())
    }

    /// The manifest as a dict (what `save` writes).
    #[getter]
    fn manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value = serde_json::to_value(self.job.manifest()).map_err(|e| PyValueError::new_err(e.to_string()))?;
        value_to_py(py, &value)
    }

    /// Writes the manifest to `path` now and after every later change, so another process can
    /// go on with `BatchJob.load(path)`.
    fn save(&self, path: PathBuf) -> PyResult<()> {
        Ok(self.job.save(&path)?)
    }

    /// Submits what is not submitted yet and polls the provider once; a coroutine resolving
    /// to this job.
    fn refresh<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, LlmCall>> {
        let job = Arc::clone(&slf.get().job);
        let this = slf.clone().unbind();
        awaitable(
            slf.py(),
            move || async move { job.advance().await },
            move |py, r| {
                r?;
                Ok(this.into_any().clone_ref(py))
            },
        )
    }

    /// Polls every `poll_interval` seconds until every batch ended; a coroutine resolving to
    /// this job. `progress`: `True` or a label prints a line per poll on stderr, a callable
    /// gets the `counts` dict per poll (from a worker thread). `timeout` raises
    /// `LlmTimeoutError` (the job goes on at the provider).
    #[pyo3(signature = (*, poll_interval=30.0, timeout=None, progress=None))]
    fn wait<'py>(
        slf: &Bound<'py, Self>,
        poll_interval: f64,
        timeout: Option<f64>,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let poll = positive_seconds("poll_interval", poll_interval)?;
        let timeout = timeout.map(|t| positive_seconds("timeout", t)).transpose()?;
        let job = Arc::clone(&slf.get().job);
        let progress = progress_of(progress, &job.manifest().id)?;
        let this = slf.clone().unbind();
        awaitable(
            slf.py(),
            move || Self::wait_for(job, poll, timeout, progress),
            move |py, r| {
                r.map_err(stopped)?;
                Ok(this.into_any().clone_ref(py))
            },
        )
    }

    /// Waits for the job (polling every `poll_interval` seconds) and resolves to one result
    /// per request in input order: a `ChatCompletionResponse`, or the `LlmError` of a request
    /// that failed (`RequestCancelledError` for one a cancellation stopped). Usage and cost,
    /// at the batch price, go to `client.usage` once.
    #[pyo3(signature = (*, poll_interval=30.0))]
    fn results<'py>(slf: &Bound<'py, Self>, poll_interval: f64) -> PyResult<Bound<'py, LlmCall>> {
        let poll = positive_seconds("poll_interval", poll_interval)?;
        let job = Arc::clone(&slf.get().job);
        let work = move || async move {
            if !job.manifest().ended() {
                Self::wait_for(Arc::clone(&job), poll, None, Progress::Off).await?;
            }
            job.results().await.map_err(Stop::Core)
        };
        awaitable(slf.py(), work, |py, r| {
            let objects = r
                .map_err(stopped)?
                .into_iter()
                .map(|outcome| match outcome {
                    Ok(response) => Ok(Py::new(py, PyChatCompletionResponse(response))?.into_any()),
                    Err(err) => Ok(PyErr::from(err).into_value(py).into_any()),
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, objects)?.into_any().unbind())
        })
    }

    /// Cancels the job: running batches are asked to stop, batches not submitted yet never
    /// will be; finished requests keep their results. A coroutine resolving to this job.
    fn cancel<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, LlmCall>> {
        let job = Arc::clone(&slf.get().job);
        let this = slf.clone().unbind();
        awaitable(
            slf.py(),
            move || async move { job.cancel().await },
            move |py, r| {
                r?;
                Ok(this.into_any().clone_ref(py))
            },
        )
    }

    /// The job saved at `path`, to wait for and collect (it keeps writing there). `client`
    /// reaches the provider (default: `LlmClient(model_hint=<the job's model>,
    /// base_url=<the job's>)`, the key from the environment); `requests` (the job's own; `model` defaults to the job's) are needed
    /// only if some batch was never created.
    #[staticmethod]
    #[pyo3(signature = (path, client=None, requests=None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        client: Option<&Bound<'_, PyLlmClient>>,
        requests: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let Manifest { model, base_url, .. } = Manifest::read(&path)?;
        let client = match client {
            Some(c) => Arc::clone(&c.get().inner),
            None => {
                let kwargs = PyDict::new(py);
                kwargs.set_item("model_hint", &model)?;
                if !base_url.contains("***@") {
                    kwargs.set_item("base_url", base_url)?;
                }
                let made = py.get_type::<PyLlmClient>().call((), Some(&kwargs))?;
                Arc::clone(&made.cast::<PyLlmClient>()?.get().inner)
            }
        };
        let requests = requests.map(|r| requests_of(py, r, Some(&model))).transpose()?;
        let job = Job::load(client, &path, requests)?;
        Self::object(py, Arc::new(job))
    }

    fn __repr__(&self) -> String {
        let m = self.job.manifest();
        let (succeeded, failed) = tally(&m);
        format!(
            "BatchJob(id={:?}, provider={:?}, status={:?}, done={}/{}, failed={failed})",
            m.id,
            m.provider,
            status_of(&m),
            succeeded + failed,
            m.total
        )
    }
}

#[pymethods]
impl PyLlmClient {
    /// Submits `requests` (dicts of `chat()` keywords; `model` fills in where one is missing)
    /// as a provider batch job: OpenAI's Batch API or Anthropic's Message Batches, split by
    /// the provider's limits. Every request is checked and encoded before anything is sent.
    /// A coroutine resolving to the `BatchJob` once every batch is created. With `manifest`,
    /// the job is saved there before anything is sent and after every step.
    #[pyo3(signature = (requests, *, model=None, completion_window="24h", manifest=None, max_requests_per_batch=None, max_bytes_per_batch=None))]
    #[allow(clippy::too_many_arguments)]
    fn submit_batch_job<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        model: Option<String>,
        completion_window: &str,
        manifest: Option<PathBuf>,
        max_requests_per_batch: Option<i64>,
        max_bytes_per_batch: Option<i64>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let requests = requests_of(py, requests, model.as_deref())?;
        let options = Options {
            completion_window: completion_window.to_owned(),
            max_requests: optional_count("max_requests_per_batch", max_requests_per_batch)?
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            max_bytes: optional_count("max_bytes_per_batch", max_bytes_per_batch)?,
        };
        let job = Arc::new(Job::prepare(Arc::clone(&self.inner), requests, &options)?);
        if let Some(path) = &manifest {
            job.save(path)?;
        }
        let object = PyBatchJob::object(py, Arc::clone(&job))?;
        awaitable(
            py,
            move || async move { job.advance().await },
            move |py, r| {
                r?;
                Ok(object.clone_ref(py))
            },
        )
    }

    /// The batch job saved at `path` (see `BatchJob.load`), reached through this client.
    #[pyo3(signature = (path, *, requests=None))]
    fn load_batch_job(
        slf: &Bound<'_, Self>,
        path: PathBuf,
        requests: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        PyBatchJob::load(slf.py(), path, Some(slf), requests)
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBatchJob>()
}
