//! `ChatStreamIterator`: an async iterator over typed chunks.
//!
//! Chunks decoded from one network read are buffered; while the buffer has chunks, `__anext__`
//! returns an already-finished awaitable, so no thread hand-off happens per chunk. Only an empty
//! buffer starts a read on the runtime. `cancel()`, `aclose()`, `async with` exit and dropping
//! the iterator all stop the read in flight and close the connection.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration, PyStopIteration};
use pyo3::prelude::*;

use crate::providers::MAX_CHOICES;
use crate::py::driver::Driver;
use crate::py::observe::{Outcome, Watch};
use crate::py::types::PyChatCompletionChunk;
use crate::stream::ChatStream;
use crate::types::ChatCompletionChunk;

#[derive(Default)]
struct State {
    buffer: VecDeque<ChatCompletionChunk>,
    stream: Option<ChatStream>,
    in_flight: Option<tokio::task::AbortHandle>,
    finished: bool,
    /// Callbacks to report to once the stream ends, and what they learn from its chunks.
    watch: Option<(Watch, Seen)>,
}

/// What callbacks learn from a stream's chunks.
#[derive(Default)]
struct Seen {
    model: Option<String>,
    finish_reasons: Vec<String>,
}

impl Seen {
    fn note(&mut self, chunks: &VecDeque<ChatCompletionChunk>) {
        for chunk in chunks {
            if self.model.is_none() && !chunk.model.is_empty() {
                self.model = Some(chunk.model.clone());
            }
            // One per choice at most: a server repeating them cannot grow the list.
            let room = MAX_CHOICES as usize - self.finish_reasons.len().min(MAX_CHOICES as usize);
            let reasons = chunk.choices.iter().filter_map(|c| c.finish_reason.clone());
            self.finish_reasons.extend(reasons.take(room));
        }
    }
}

impl State {
    fn close(&mut self) {
        self.finished = true;
        self.buffer.clear();
        self.stream = None;
        if let Some(handle) = self.in_flight.take() {
            handle.abort();
        }
    }
}

/// An awaitable whose result is already known; awaiting it never suspends.
#[pyclass(module = "liter_llm._liter_llm")]
pub struct Ready {
    value: Option<Py<PyAny>>,
}

impl Ready {
    /// Wraps `value` as a finished awaitable.
    pub fn new(value: Py<PyAny>) -> Self {
        Ready { value: Some(value) }
    }
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }
    fn __next__(&mut self, py: Python<'_>) -> PyResult<()> {
        let value = self.value.take().unwrap_or_else(|| py.None());
        Err(PyStopIteration::new_err((value,)))
    }
}

/// The async iterator returned by `chat_stream()`.
#[pyclass(frozen, name = "ChatStreamIterator", module = "liter_llm")]
pub struct PyChatStream {
    state: Arc<Mutex<State>>,
    deployment: Option<String>,
    cache_hit: bool,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

fn chunk_object(py: Python<'_>, chunk: ChatCompletionChunk) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyChatCompletionChunk(chunk))?.into_any())
}

impl PyChatStream {
    /// Wraps an open core stream.
    pub fn new(stream: ChatStream) -> Self {
        PyChatStream {
            deployment: stream.deployment().map(str::to_owned),
            cache_hit: stream.cache_hit(),
            state: Arc::new(Mutex::new(State {
                stream: Some(stream),
                ..State::default()
            })),
        }
    }

    /// Reports to callbacks once the stream ends or fails.
    #[must_use]
    pub(crate) fn watched(self, watch: Option<Watch>) -> Self {
        lock(&self.state).watch = watch.map(|w| (w, Seen::default()));
        self
    }
}

/// What a stream that ended (or broke) reports to its callbacks.
fn outcome(seen: Seen, stream: &ChatStream) -> Outcome {
    Outcome {
        response_model: seen.model,
        request_id: stream.request_id().map(str::to_owned),
        usage: stream.usage().cloned(),
        cost: stream.cost(),
        finish_reasons: seen.finish_reasons,
        ttft: stream.time_to_first_chunk(),
        response: None,
        cache_hit: stream.cache_hit(),
    }
}

#[pymethods]
impl PyChatStream {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut state = lock(&self.state);
        if let Some(chunk) = state.buffer.pop_front() {
            drop(state);
            return Ok(Bound::new(py, Ready::new(chunk_object(py, chunk)?))?.into_any());
        }
        if state.finished {
            return Err(PyStopAsyncIteration::new_err(()));
        }
        if let Some(handle) = &state.in_flight {
            if !handle.is_finished() {
                return Err(PyRuntimeError::new_err(
                    "anext() called while another anext() is still pending",
                ));
            }
            // The previous read was cancelled from asyncio: its connection is gone.
            state.close();
            return Err(PyStopAsyncIteration::new_err(()));
        }
        let Some(mut stream) = state.stream.take() else {
            return Err(PyStopAsyncIteration::new_err(()));
        };
        let shared = Arc::clone(&self.state);
        let (future, abort) = Driver::current(py)?.spawn(
            py,
            async move {
                let mut out = VecDeque::new();
                let result = stream.next_batch(&mut out).await;
                (stream, out, result)
            },
            move |py, (stream, out, result)| {
                let mut state = lock(&shared);
                state.in_flight = None;
                if state.finished {
                    return Err(PyStopAsyncIteration::new_err(()));
                }
                match result {
                    Ok(_) => {
                        if let Some((_, seen)) = &mut state.watch {
                            seen.note(&out);
                        }
                        state.buffer.extend(out);
                        let mut ended = None;
                        if stream.is_done() {
                            state.finished = state.buffer.is_empty();
                            ended = Some((state.watch.take(), stream));
                        } else {
                            state.stream = Some(stream);
                        }
                        let next = state.buffer.pop_front();
                        if next.is_none() {
                            state.finished = true;
                        }
                        drop(state);
                        // Callbacks run without the lock: they may touch the stream.
                        if let Some((Some((watch, seen)), stream)) = ended {
                            watch.success(py, outcome(seen, &stream));
                        }
                        match next {
                            Some(chunk) => chunk_object(py, chunk),
                            None => Err(PyStopAsyncIteration::new_err(())),
                        }
                    }
                    Err(err) => {
                        let watch = state.watch.take();
                        state.close();
                        drop(state);
                        if let Some((watch, seen)) = watch {
                            watch.failure_after(py, &err, outcome(seen, &stream));
                        }
                        Err(err.into())
                    }
                }
            },
        )?;
        state.in_flight = Some(abort);
        Ok(future)
    }

    /// The id of the deployment streaming, when the model named a routed group.
    #[getter]
    fn deployment(&self) -> Option<&str> {
        self.deployment.as_deref()
    }

    /// Whether the stream replays an answer from the response cache.
    #[getter]
    fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Stops the stream now: aborts any read in flight and closes the connection.
    fn cancel(&self) {
        lock(&self.state).close();
    }

    /// Closes the stream (awaitable).
    fn aclose(&self, py: Python<'_>) -> PyResult<Py<Ready>> {
        self.cancel();
        Py::new(py, Ready::new(py.None()))
    }

    fn __aenter__(slf: &Bound<'_, Self>) -> PyResult<Py<Ready>> {
        Py::new(slf.py(), Ready::new(slf.clone().into_any().unbind()))
    }

    #[pyo3(signature = (*_args))]
    fn __aexit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<Py<Ready>> {
        self.cancel();
        Py::new(py, Ready::new(false.into_pyobject(py)?.to_owned().into_any().unbind()))
    }
}

impl Drop for PyChatStream {
    fn drop(&mut self) {
        lock(&self.state).close();
    }
}
