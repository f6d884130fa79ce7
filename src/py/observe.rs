//! Callbacks and tracing: the native side of `callbacks=` and `tracer=`.
//!
//! A client given either holds a `liter_llm._observe.Observers` (imported only then). Each of
//! its calls keeps a [`Trace`] of its attempts; once the call ends (for a stream: once it ends
//! or fails) its [`PyCallEvent`] is built on the event loop thread and handed to
//! `Observers.emit`, run in the context the call started in (so spans nest under the caller's).
//! Nothing runs per chunk, and nothing runs on the I/O thread.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::client::{Attempt, Trace};
use crate::error::Error;
use crate::py::errors::to_exception;
use crate::types::Usage;

/// The client's observers.
pub(crate) struct Observers {
    inner: Py<PyAny>,
}

impl Observers {
    /// Builds `Observers(callbacks, tracer)` when either is given.
    ///
    /// # Errors
    /// What `Observers` raises for bad callbacks or a tracer it cannot use.
    pub(crate) fn new(
        py: Python<'_>,
        callbacks: Option<&Bound<'_, PyAny>>,
        tracer: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Arc<Self>>> {
        let given = |v: Option<&Bound<'_, PyAny>>| v.is_some_and(|v| !v.is_none());
        if !given(callbacks) && !given(tracer) {
            return Ok(None);
        }
        let class = py.import("liter_llm._observe")?.getattr("Observers")?;
        let inner = class.call1((callbacks, tracer))?.unbind();
        Ok(Some(Arc::new(Observers { inner })))
    }

    /// The callbacks, as given.
    pub(crate) fn callbacks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.inner.bind(py).getattr("callbacks")
    }
}

/// A call to be watched once it starts.
pub(crate) struct Watching {
    pub(crate) observers: Arc<Observers>,
    /// `chat`, `embeddings`, ...
    pub(crate) endpoint: &'static str,
    pub(crate) stream: bool,
    /// The model as asked for.
    pub(crate) model: String,
    /// Whether `model` names a routed group.
    pub(crate) group: bool,
    pub(crate) metadata: Option<Py<PyAny>>,
    /// Where the call's attempts are recorded.
    pub(crate) trace: Arc<Trace>,
    /// A batch item: it waits its turn, so its time runs from its first attempt.
    pub(crate) queued: bool,
}

impl Watching {
    /// Starts watching, on the loop thread, in the caller's current context.
    ///
    /// # Errors
    /// Only if the context cannot be copied.
    pub(crate) fn begin(self, py: Python<'_>) -> PyResult<Watch> {
        let context = py.import("contextvars")?.call_method0("copy_context")?.unbind();
        Ok(Watch {
            call: self,
            context,
            start: SystemTime::now(),
        })
    }
}

/// One call being observed, from its start on the loop thread.
pub(crate) struct Watch {
    call: Watching,
    context: Py<PyAny>,
    start: SystemTime,
}

/// What a finished call reports besides its attempts.
#[derive(Default)]
pub(crate) struct Outcome {
    pub(crate) response: Option<Py<PyAny>>,
    pub(crate) response_model: Option<String>,
    pub(crate) request_id: Option<String>,
    pub(crate) usage: Option<Usage>,
    pub(crate) cost: Option<f64>,
    pub(crate) finish_reasons: Vec<String>,
    pub(crate) ttft: Option<Duration>,
    pub(crate) cache_hit: bool,
}

impl Watch {
    /// Reports a success.
    pub(crate) fn success(self, py: Python<'_>, outcome: Outcome) {
        self.emit(py, outcome, None);
    }

    /// Reports a failure.
    pub(crate) fn failure(self, py: Python<'_>, err: &Error) {
        self.emit(py, Outcome::default(), Some(err));
    }

    /// Reports a failure after part of the answer arrived (a stream cut after its first chunk).
    pub(crate) fn failure_after(self, py: Python<'_>, err: &Error, outcome: Outcome) {
        self.emit(py, outcome, Some(err));
    }

    fn emit(self, py: Python<'_>, outcome: Outcome, err: Option<&Error>) {
        let result = self.event(py, outcome, err).and_then(|event| {
            let emit = self.call.observers.inner.bind(py).getattr(intern!(py, "emit"))?;
            self.context.bind(py).call_method1(intern!(py, "run"), (emit, event))?;
            Ok(())
        });
        if let Err(e) = result {
            // emit never raises; building the event failing is a bug worth a log line.
            log::warn!(target: "liter_llm", "could not report a call to its callbacks: {e}");
        }
    }

    fn event(&self, py: Python<'_>, outcome: Outcome, err: Option<&Error>) -> PyResult<PyCallEvent> {
        let end = SystemTime::now();
        let call = &self.call;
        let attempts = call.trace.attempts();
        let last = attempts.last();
        let start = match attempts.first() {
            Some(first) if call.queued => first.start,
            _ => self.start,
        };
        let attempt_objects = attempts
            .iter()
            .map(|a| Ok(Py::new(py, PyAttempt::new(py, a)?)?.into_any()))
            .collect::<PyResult<Vec<_>>>()?;
        let usage = outcome.usage.as_ref();
        Ok(PyCallEvent {
            endpoint: call.endpoint,
            stream: call.stream,
            group: call.group.then(|| call.model.clone()),
            deployment: last.and_then(|a| a.deployment.as_deref().map(str::to_owned)),
            provider: last
                .map(|a| a.provider.clone())
                .or_else(|| err.and_then(|e| e.provider().map(str::to_owned))),
            model: call.model.clone(),
            response_model: outcome.response_model,
            request_id: outcome
                .request_id
                .or_else(|| err.and_then(|e| e.request_id().map(str::to_owned))),
            start_time: unix(start),
            end_time: unix(end),
            latency: end.duration_since(start).unwrap_or_default().as_secs_f64(),
            ttft: outcome.ttft.map(|d| d.as_secs_f64()),
            prompt_tokens: usage.map(|u| u.prompt_tokens),
            completion_tokens: usage.map(|u| u.completion_tokens),
            total_tokens: usage.map(|u| u.total_tokens),
            cost: outcome.cost,
            finish_reasons: outcome.finish_reasons,
            attempts: PyList::new(py, attempt_objects)?.unbind().into_any(),
            error: match err {
                Some(e) => Some(to_exception(py, e)?.into_value(py).into_any()),
                None => None,
            },
            metadata: call.metadata.as_ref().map(|m| m.clone_ref(py)),
            response: outcome.response,
            success: err.is_none(),
            cache_hit: outcome.cache_hit,
        })
    }
}

/// An optional string as Python shows it.
fn shown(value: Option<&str>) -> String {
    value.map_or_else(|| "None".to_owned(), |v| format!("{v:?}"))
}

/// Seconds since the Unix epoch.
fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// One attempt of a call, as callbacks see it.
#[pyclass(frozen, name = "Attempt", module = "liter_llm")]
pub struct PyAttempt {
    /// The deployment it went to (routed calls).
    #[pyo3(get)]
    deployment: Option<String>,
    /// The provider it went to.
    #[pyo3(get)]
    provider: Option<String>,
    /// The model it asked for.
    #[pyo3(get)]
    model: String,
    /// When it was sent (Unix seconds).
    #[pyo3(get)]
    start_time: f64,
    /// When its answer (or failure) arrived (Unix seconds).
    #[pyo3(get)]
    end_time: f64,
    /// Why it failed; `None` for the attempt that answered.
    #[pyo3(get)]
    error: Option<Py<PyAny>>,
}

impl PyAttempt {
    fn new(py: Python<'_>, a: &Attempt) -> PyResult<Self> {
        Ok(PyAttempt {
            deployment: a.deployment.as_deref().map(str::to_owned),
            provider: Some(a.provider.clone()),
            model: a.model.clone(),
            start_time: unix(a.start),
            end_time: unix(a.end),
            error: match &a.error {
                Some(e) => Some(to_exception(py, e)?.into_value(py).into_any()),
                None => None,
            },
        })
    }
}

#[pymethods]
impl PyAttempt {
    fn __repr__(&self) -> String {
        let outcome = if self.error.is_some() { "failed" } else { "answered" };
        format!(
            "Attempt(deployment={}, provider={}, model={:?}, {outcome} in {:.3}s)",
            shown(self.deployment.as_deref()),
            shown(self.provider.as_deref()),
            self.model,
            self.end_time - self.start_time
        )
    }
}

/// What callbacks receive once per call.
#[pyclass(frozen, name = "CallEvent", module = "liter_llm")]
pub struct PyCallEvent {
    /// `chat`, `embeddings`, ...
    #[pyo3(get)]
    endpoint: &'static str,
    /// Whether the call streamed.
    #[pyo3(get)]
    stream: bool,
    /// The routed group the model named, if any.
    #[pyo3(get)]
    group: Option<String>,
    /// The deployment of the last attempt (routed calls).
    #[pyo3(get)]
    deployment: Option<String>,
    /// The provider of the last attempt.
    #[pyo3(get)]
    provider: Option<String>,
    /// The model as asked for.
    #[pyo3(get)]
    model: String,
    /// The model the provider reported.
    #[pyo3(get)]
    response_model: Option<String>,
    /// The provider's request id.
    #[pyo3(get)]
    request_id: Option<String>,
    /// When the call started (Unix seconds).
    #[pyo3(get)]
    start_time: f64,
    /// When it ended (Unix seconds).
    #[pyo3(get)]
    end_time: f64,
    /// Its duration in seconds.
    #[pyo3(get)]
    latency: f64,
    /// Time to the first chunk in seconds (streams).
    #[pyo3(get)]
    ttft: Option<f64>,
    /// Prompt tokens, when reported.
    #[pyo3(get)]
    prompt_tokens: Option<u64>,
    /// Completion tokens, when reported.
    #[pyo3(get)]
    completion_tokens: Option<u64>,
    /// Total tokens, when reported.
    #[pyo3(get)]
    total_tokens: Option<u64>,
    /// Cost in USD, when priced.
    #[pyo3(get)]
    cost: Option<f64>,
    /// The choices' finish reasons.
    #[pyo3(get)]
    finish_reasons: Vec<String>,
    /// Every attempt, in order (`Attempt` objects).
    #[pyo3(get)]
    attempts: Py<PyAny>,
    /// The failure (an `LlmError`), for `on_failure`.
    #[pyo3(get)]
    error: Option<Py<PyAny>>,
    /// The call's `metadata=`.
    #[pyo3(get)]
    metadata: Option<Py<PyAny>>,
    /// The response (chat, embeddings); `None` for streams and failures.
    #[pyo3(get)]
    response: Option<Py<PyAny>>,
    /// Whether the call succeeded.
    #[pyo3(get)]
    success: bool,
    /// Whether the response cache answered (no provider call was made).
    #[pyo3(get)]
    cache_hit: bool,
}

#[pymethods]
impl PyCallEvent {
    fn __repr__(&self) -> String {
        format!(
            "CallEvent(endpoint={:?}, model={:?}, deployment={}, success={}, latency={:.3})",
            self.endpoint,
            self.model,
            shown(self.deployment.as_deref()),
            if self.success { "True" } else { "False" },
            self.latency
        )
    }
}

/// Registers the event classes.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCallEvent>()?;
    m.add_class::<PyAttempt>()?;
    Ok(())
}
