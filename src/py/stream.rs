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

use crate::py::driver::Driver;
use crate::py::types::PyChatCompletionChunk;
use crate::stream::ChatStream;
use crate::types::ChatCompletionChunk;

#[derive(Default)]
struct State {
    buffer: VecDeque<ChatCompletionChunk>,
    stream: Option<ChatStream>,
    in_flight: Option<tokio::task::AbortHandle>,
    finished: bool,
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
            state: Arc::new(Mutex::new(State {
                stream: Some(stream),
                ..State::default()
            })),
        }
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
                        state.buffer.extend(out);
                        if stream.is_done() {
                            state.finished = state.buffer.is_empty();
                        } else {
                            state.stream = Some(stream);
                        }
                        match state.buffer.pop_front() {
                            Some(chunk) => {
                                drop(state);
                                chunk_object(py, chunk)
                            }
                            None => {
                                state.finished = true;
                                Err(PyStopAsyncIteration::new_err(()))
                            }
                        }
                    }
                    Err(err) => {
                        state.close();
                        drop(state);
                        Err(err.into())
                    }
                }
            },
        )?;
        state.in_flight = Some(abort);
        Ok(future)
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
