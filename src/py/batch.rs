//! Batch methods of `LlmClient`: `chat_batch`, `chat_as_completed` and `chat_batch_sync`.
//!
//! One Python call per batch: every request dict is validated and serialised up front (a bad
//! item raises naming its index before anything is sent), then the whole batch runs on the
//! runtime through [`crate::batch::Pool`]. `chat_batch` resolves one future with the full
//! result list, built on the loop thread at the end; `chat_as_completed` is an async iterator
//! whose results are buffered in Rust and handed over without a thread hop when already there;
//! `chat_batch_sync` blocks with the GIL released, waking every 100 ms to run signal handlers
//! (Ctrl-C aborts the requests in flight and raises `KeyboardInterrupt`).

use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::batch::{BatchOptions, Canceller, Pool};
use crate::client::Request;
use crate::progress::BatchStats;
use crate::py::call::{LlmCall, Start};
use crate::py::client::{chat_outcome, PyLlmClient};
use crate::py::driver::Driver;
use crate::py::json::type_name;
use crate::py::observe::{Outcome, Watch, Watching};
use crate::py::parsed::{attach, parse_of, ParseMode, Parses};
use crate::py::request::chat_request;
use crate::py::stream::Ready;
use crate::py::types::PyChatCompletionResponse;
use crate::types::ChatCompletionResponse;

/// How often a blocking batch wakes up to run signal handlers.
const SIGNAL_POLL: Duration = Duration::from_millis(100);
/// Most results one wake-up of `chat_as_completed` takes from the channel.
const RECV_BATCH: usize = 1024;
/// How long a `chat_as_completed` hand-over waits for more results after the first one: under
/// load one loop wake-up then carries several results; at low rates it only adds this delay.
const COALESCE: Duration = Duration::from_millis(1);

type Item = (usize, crate::Result<ChatCompletionResponse>);

/// Re-raises `err` with `what` (e.g. `requests[3]`) in front of its message, same class.
pub(crate) fn with_position(py: Python<'_>, err: PyErr, what: &str) -> PyErr {
    let message = format!("{what}: {}", err.value(py));
    let Ok(new) = err.get_type(py).call1((message,)) else {
        return err;
    };
    let new = PyErr::from_value(new);
    new.set_cause(py, Some(err));
    new
}

/// Validates `max_concurrency` (None or an int >= 1).
pub(crate) fn concurrency(max_concurrency: Option<i64>) -> PyResult<Option<usize>> {
    match max_concurrency {
        None => Ok(None),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n >= 1)
            .map(Some)
            .ok_or_else(|| PyValueError::new_err(format!("max_concurrency must be >= 1, got {n}"))),
    }
}

/// The items of a list-like argument, rejecting str, bytes and dict (common mistakes).
pub(crate) fn items_of<'py>(value: &Bound<'py, PyAny>, name: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() || value.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a list, not {}",
            type_name(value)
        )));
    }
    let iter = value
        .try_iter()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a list, not {}", type_name(value))))?;
    iter.collect()
}

/// A batch's requests, what parses their answers, and what watches them for callbacks.
struct Batch {
    requests: Vec<Request>,
    parses: Parses,
    /// One per request when the client has callbacks; else empty.
    watching: Vec<Watching>,
}

/// The watches of a batch's requests, begun together; each is taken when its result is
/// delivered.
type Watches = Arc<Mutex<Vec<Option<Watch>>>>;

fn begin_all(py: Python<'_>, watching: Vec<Watching>) -> PyResult<Watches> {
    let watches = watching
        .into_iter()
        .map(|w| w.begin(py).map(Some))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(Arc::new(Mutex::new(watches)))
}

/// Validates and serialises every request dict.
fn chat_requests(py: Python<'_>, client: &PyLlmClient, requests: &Bound<'_, PyAny>) -> PyResult<Batch> {
    let items = items_of(requests, "requests")?;
    let mut out = Vec::with_capacity(items.len());
    let mut parses = Vec::new();
    let mut watching = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let dict = item
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err(format!("requests[{i}] must be a dict, not {}", type_name(item))))?;
        let (mut request, parse) =
            chat_request(Some(dict), false).map_err(|e| with_position(py, e, &format!("requests[{i}]")))?;
        if let Some(w) = client.watching(|| dict.get_item("metadata"), &mut request, "chat", false)? {
            watching.push(Watching { queued: true, ..w });
        }
        out.push(request);
        if parse.is_some() {
            parses.resize_with(i, || None);
            parses.push(parse);
        }
    }
    let parses = (!parses.is_empty()).then(|| Arc::new(parses));
    Ok(Batch {
        requests: out,
        parses,
        watching,
    })
}

fn result_object(
    py: Python<'_>,
    result: crate::Result<ChatCompletionResponse>,
    parse: Option<&ParseMode>,
    watch: Option<Watch>,
) -> PyResult<Py<PyAny>> {
    Ok(match result {
        Ok(mut response) => {
            if let Some(mode) = parse {
                attach(py, &mut response, mode);
            }
            let outcome = watch.as_ref().map(|_| chat_outcome(&response));
            let object = Py::new(py, PyChatCompletionResponse(response))?.into_any();
            if let (Some(watch), Some(outcome)) = (watch, outcome) {
                let response = Some(object.clone_ref(py));
                watch.success(py, Outcome { response, ..outcome });
            }
            object
        }
        Err(err) => {
            if let Some(watch) = watch {
                watch.failure(py, &err);
            }
            PyErr::from(err).into_value(py).into_any()
        }
    })
}

/// Takes the watch of request `index`, if any.
fn take(watches: &Watches, index: usize) -> Option<Watch> {
    watches
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(index)
        .and_then(Option::take)
}

/// The result list of a batch: responses, and exception instances for failed items.
fn result_list(
    py: Python<'_>,
    results: Vec<crate::Result<ChatCompletionResponse>>,
    parses: &Parses,
    watches: &Watches,
) -> PyResult<Py<PyAny>> {
    let objects = results
        .into_iter()
        .enumerate()
        .map(|(i, r)| result_object(py, r, parse_of(parses, i), take(watches, i)))
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, objects)?.into_any().unbind())
}

/// The progress label: `False`/`None` -> off, `True` -> `default`, a str -> that label.
pub(crate) fn progress_label(value: Option<&Bound<'_, PyAny>>, default: &str) -> PyResult<Option<String>> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Ok(label) = value.cast::<PyString>() {
        return Ok(Some(label.to_cow()?.into_owned()));
    }
    if value.is_none() {
        return Ok(None);
    }
    match value.cast::<pyo3::types::PyBool>() {
        Ok(on) => Ok(on.is_true().then(|| default.to_owned())),
        Err(_) => Err(PyTypeError::new_err(format!(
            "progress must be a bool or a str label, not {}",
            type_name(value)
        ))),
    }
}

fn options(max_concurrency: Option<i64>, progress: Option<&Bound<'_, PyAny>>, label: &str) -> PyResult<BatchOptions> {
    Ok(BatchOptions {
        concurrency: concurrency(max_concurrency)?,
        progress: progress_label(progress, label)?,
    })
}

/// Blocks (GIL released) until `rx` delivers, running signal handlers every 100 ms; a raised
/// signal aborts the task behind `abort` and is returned.
pub(crate) fn wait_blocking<T: Send>(
    py: Python<'_>,
    mut rx: std::sync::mpsc::Receiver<T>,
    abort: &tokio::task::AbortHandle,
) -> PyResult<T> {
    loop {
        let (back, received) = py.detach(move || {
            let received = rx.recv_timeout(SIGNAL_POLL);
            (rx, received)
        });
        rx = back;
        match received {
            Ok(value) => return Ok(value),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(err) = py.check_signals() {
                    abort.abort();
                    return Err(err);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err("the batch stopped unexpectedly"));
            }
        }
    }
}

/// Aborts a runtime task when dropped (an early return or a panic unwinding past the wait).
pub(crate) struct AbortGuard(pub(crate) tokio::task::AbortHandle);

impl Drop for AbortGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[pymethods]
impl PyLlmClient {
    /// Runs many chat completions; a coroutine resolving to the results in input order.
    #[pyo3(signature = (requests, *, max_concurrency=None, return_exceptions=true, progress=None))]
    fn chat_batch<'py>(
        &self,
        py: Python<'py>,
        requests: &Bound<'py, PyAny>,
        max_concurrency: Option<i64>,
        return_exceptions: bool,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let Batch {
            requests,
            parses,
            watching,
        } = chat_requests(py, self, requests)?;
        let options = options(max_concurrency, progress, "chat_batch")?;
        let client = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let watches = begin_all(py, watching)?;
            let work = async move { client.chat_batch(requests, options, !return_exceptions).await };
            let finish = move |py: Python<'_>, result: crate::Result<Vec<crate::Result<ChatCompletionResponse>>>| {
                result_list(py, result?, &parses, &watches)
            };
            Ok(driver.spawn(py, work, finish)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// Runs many chat completions from synchronous code; blocks until all finished.
    #[pyo3(signature = (requests, *, max_concurrency=None, return_exceptions=true, progress=None))]
    fn chat_batch_sync(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        max_concurrency: Option<i64>,
        return_exceptions: bool,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let Batch {
            requests,
            parses,
            watching,
        } = chat_requests(py, self, requests)?;
        let watches = begin_all(py, watching)?;
        let options = options(max_concurrency, progress, "chat_batch")?;
        let client = Arc::clone(&self.inner);
        let (tx, rx) = sync_channel(1);
        let task = crate::runtime::get().spawn(async move {
            let result = client.chat_batch(requests, options, !return_exceptions).await;
            let _ = tx.send(result);
        });
        let guard = AbortGuard(task.abort_handle());
        let result = wait_blocking(py, rx, &guard.0)?;
        drop(guard);
        result_list(py, result?, &parses, &watches)
    }

    /// Runs many chat completions; an async iterator of `(index, result)` as they finish.
    #[pyo3(signature = (requests, *, max_concurrency=None, progress=None))]
    fn chat_as_completed(
        &self,
        py: Python<'_>,
        requests: &Bound<'_, PyAny>,
        max_concurrency: Option<i64>,
        progress: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyChatBatchIterator> {
        let Batch {
            requests,
            parses,
            watching,
        } = chat_requests(py, self, requests)?;
        let watches = begin_all(py, watching)?;
        let options = options(max_concurrency, progress, "chat_as_completed")?;
        let pool = self.inner.chat_pool(requests, options);
        Ok(PyChatBatchIterator::new(pool, parses, watches))
    }
}

struct IterState {
    buffer: VecDeque<Item>,
    /// `None` once closed; shared with the receive in flight, if any.
    pool: Option<Arc<tokio::sync::Mutex<Pool<ChatCompletionResponse>>>>,
    in_flight: Vec<tokio::task::AbortHandle>,
    finished: bool,
}

/// The async iterator returned by `chat_as_completed()`.
#[pyclass(frozen, name = "ChatBatchIterator", module = "liter_llm")]
pub struct PyChatBatchIterator {
    state: Arc<Mutex<IterState>>,
    parses: Parses,
    watches: Watches,
    stats: Arc<BatchStats>,
    canceller: Canceller,
}

fn lock(state: &Mutex<IterState>) -> MutexGuard<'_, IterState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pair(py: Python<'_>, (index, result): Item, parses: &Parses, watches: &Watches) -> PyResult<Py<PyAny>> {
    let value = result_object(py, result, parse_of(parses, index), take(watches, index))?;
    Ok(PyTuple::new(py, [index.into_pyobject(py)?.into_any().unbind(), value])?
        .into_any()
        .unbind())
}

impl PyChatBatchIterator {
    fn new(pool: Pool<ChatCompletionResponse>, parses: Parses, watches: Watches) -> Self {
        PyChatBatchIterator {
            parses,
            watches,
            stats: Arc::clone(pool.stats()),
            canceller: pool.canceller(),
            state: Arc::new(Mutex::new(IterState {
                buffer: VecDeque::new(),
                pool: Some(Arc::new(tokio::sync::Mutex::new(pool))),
                in_flight: Vec::new(),
                finished: false,
            })),
        }
    }

    fn close(&self) {
        self.canceller.cancel();
        let mut state = lock(&self.state);
        state.finished = true;
        state.buffer.clear();
        state.pool = None;
        for handle in state.in_flight.drain(..) {
            handle.abort();
        }
    }
}

#[pymethods]
impl PyChatBatchIterator {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut state = lock(&self.state);
        if state.buffer.is_empty() && !state.finished {
            let Some(pool) = state.pool.clone() else {
                return Err(PyStopAsyncIteration::new_err(()));
            };
            let exhausted = match pool.try_lock() {
                Ok(mut pool) => {
                    while let Some(item) = pool.try_next() {
                        state.buffer.push_back(item);
                    }
                    pool.remaining() == 0
                }
                Err(_) => false,
            };
            if exhausted && state.buffer.is_empty() {
                state.finished = true;
                state.pool = None;
            }
        }
        if let Some(item) = state.buffer.pop_front() {
            drop(state);
            return Ok(Bound::new(py, Ready::new(pair(py, item, &self.parses, &self.watches)?))?.into_any());
        }
        if state.finished {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        let Some(pool) = state.pool.clone() else {
            return Err(PyStopAsyncIteration::new_err(()));
        };
        state.in_flight.retain(|h| !h.is_finished());
        let shared = Arc::clone(&self.state);
        let parses = self.parses.clone();
        let watches = Arc::clone(&self.watches);
        let (future, abort) = Driver::current(py)?.spawn(
            py,
            async move {
                let mut pool = pool.lock().await;
                let mut out = Vec::new();
                pool.recv_many(&mut out, RECV_BATCH).await;
                if pool.remaining() > 0 {
                    // Results that finish within a moment share this hand-over to Python.
                    tokio::time::sleep(COALESCE).await;
                    while out.len() < RECV_BATCH {
                        match pool.try_next() {
                            Some(item) => out.push(item),
                            None => break,
                        }
                    }
                }
                out
            },
            move |py, out: Vec<Item>| {
                let mut state = lock(&shared);
                if state.finished {
                    return Err(PyStopAsyncIteration::new_err(()));
                }
                state.buffer.extend(out);
                match state.buffer.pop_front() {
                    Some(item) => {
                        drop(state);
                        pair(py, item, &parses, &watches)
                    }
                    None => {
                        state.finished = true;
                        state.pool = None;
                        Err(PyStopAsyncIteration::new_err(()))
                    }
                }
            },
        )?;
        state.in_flight.push(abort);
        Ok(future)
    }

    /// Counters of the batch so far: a dict (see the stub).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        stats_dict(py, &self.stats)
    }

    /// Cancels the requests not finished yet and ends the iteration.
    fn cancel(&self) {
        self.close();
    }

    /// Cancels the rest (awaitable).
    fn aclose(&self, py: Python<'_>) -> PyResult<Py<Ready>> {
        self.close();
        Py::new(py, Ready::new(py.None()))
    }

    fn __aenter__(slf: &Bound<'_, Self>) -> PyResult<Py<Ready>> {
        Py::new(slf.py(), Ready::new(slf.clone().into_any().unbind()))
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<Py<Ready>> {
        self.close();
        Py::new(py, Ready::new(false.into_pyobject(py)?.to_owned().into_any().unbind()))
    }
}

impl Drop for PyChatBatchIterator {
    fn drop(&mut self) {
        self.close();
    }
}

/// The counters of a batch as a dict: total, done, errors, tokens, cost, elapsed and latency
/// percentiles (seconds; each item's latency covers its retries and rate-limit waits).
pub(crate) fn stats_dict<'py>(py: Python<'py>, stats: &BatchStats) -> PyResult<Bound<'py, PyDict>> {
    let snap = stats.snapshot();
    let dict = PyDict::new(py);
    dict.set_item("total", snap.total)?;
    dict.set_item("done", snap.done)?;
    dict.set_item("errors", snap.errors)?;
    dict.set_item("tokens", snap.tokens)?;
    dict.set_item("cost", snap.cost)?;
    dict.set_item("elapsed", snap.elapsed.as_secs_f64())?;
    for (key, p) in [("latency_p50", 50.0), ("latency_p95", 95.0), ("latency_p99", 99.0)] {
        dict.set_item(key, stats.latency_at_percentile(p))?;
    }
    Ok(dict)
}

/// Adds the batch classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyChatBatchIterator>()?;
    Ok(())
}
