//! `LlmCall`: the coroutine returned by the async client methods.
//!
//! It behaves like a native coroutine (`asyncio.iscoroutine()` is true, so `create_task`,
//! `gather` and `asyncio.run` accept it) while the work runs on the tokio runtime. When a loop
//! is running in the calling thread the request starts at once; otherwise it starts on first
//! `send()`, inside the loop that awaits it. Awaiting it yields the asyncio future the driver
//! resolves; cancelling the awaiting task cancels that future, which aborts the request.

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyType;

use crate::py::driver::Driver;

/// Starts the work in the running loop and returns its asyncio future.
pub type Start = Box<dyn for<'py> FnOnce(Python<'py>, &Driver) -> PyResult<Bound<'py, PyAny>> + Send + Sync>;

enum State {
    /// The result is known already (an answer from the memory cache).
    Ready(Py<PyAny>),
    NotStarted(Start),
    Running(Py<PyAny>),
    Finished,
}

/// A coroutine wrapping one request.
#[pyclass(module = "liter_llm._liter_llm", name = "LlmCall")]
pub struct LlmCall {
    state: State,
}

impl LlmCall {
    /// Creates the call, starting it now if a loop is running in this thread.
    ///
    /// # Errors
    /// Only what starting the work raises.
    pub fn new(py: Python<'_>, start: Start) -> PyResult<Self> {
        let state = match Driver::running(py)? {
            Some(driver) => State::Running(start(py, &driver)?.unbind()),
            None => State::NotStarted(start),
        };
        Ok(LlmCall { state })
    }

    /// A call whose result is already known: awaiting it never suspends.
    pub fn ready(value: Py<PyAny>) -> Self {
        LlmCall {
            state: State::Ready(value),
        }
    }

    fn future<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match std::mem::replace(&mut self.state, State::Finished) {
            State::Running(future) => {
                let future = future.into_bound(py);
                self.state = State::Running(future.clone().unbind());
                Ok(future)
            }
            State::NotStarted(start) => {
                let driver = Driver::current(py)?;
                let future = start(py, &driver)?;
                self.state = State::Running(future.clone().unbind());
                Ok(future)
            }
            State::Ready(_) | State::Finished => Err(PyRuntimeError::new_err(
                "cannot reuse an already awaited liter_llm call",
            )),
        }
    }

    fn cancel(&mut self, py: Python<'_>) {
        if let State::Running(future) = std::mem::replace(&mut self.state, State::Finished) {
            let _ = future.call_method0(py, intern!(py, "cancel"));
        }
    }
}

#[pymethods]
impl LlmCall {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if matches!(self.state, State::Ready(_)) {
            if let State::Ready(value) = std::mem::replace(&mut self.state, State::Finished) {
                return Err(PyStopIteration::new_err((value,)));
            }
        }
        let future = self.future(py)?;
        if future.call_method0(intern!(py, "done"))?.is_truthy()? {
            self.state = State::Finished;
            let result = future.call_method0(intern!(py, "result"))?;
            return Err(PyStopIteration::new_err((result.unbind(),)));
        }
        future.setattr(intern!(py, "_asyncio_future_blocking"), true)?;
        Ok(future.unbind())
    }

    /// Resumes the coroutine (the sent value is ignored, as for a future).
    fn send(&mut self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    /// Raises `typ` inside the coroutine: cancels the request and re-raises.
    #[pyo3(signature = (typ, val=None, _tb=None))]
    fn throw(
        &mut self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        _tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        self.cancel(py);
        let exc = if typ.is_instance_of::<PyType>() {
            match val.filter(|v| !v.is_none()) {
                Some(v) if v.is_instance(typ)? => v.clone(),
                Some(v) => typ.call1((v,))?,
                None => typ.call0()?,
            }
        } else {
            typ.clone()
        };
        Err(PyErr::from_value(exc))
    }

    /// Cancels the request if it is still running.
    fn close(&mut self, py: Python<'_>) {
        self.cancel(py);
    }
}

/// Registers `LlmCall` as a `collections.abc.Coroutine`, so asyncio accepts it everywhere.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let class = py.get_type::<LlmCall>();
    py.import("collections.abc")?
        .getattr("Coroutine")?
        .call_method1("register", (&class,))?;
    Ok(())
}
