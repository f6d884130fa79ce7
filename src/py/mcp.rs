//! `McpSession`: one MCP server's session for `liter_llm.agent.tools_from_mcp`, its tools listed
//! and called on the runtime (coroutines resolved by the asyncio driver).

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};

use crate::mcp::{McpAnswer, McpSession, McpTool};
use crate::py::call::{LlmCall, Start};
use crate::py::convert::value_to_py;

/// A session with one MCP server (its process stopped when the session is closed or dropped).
#[pyclass(module = "liter_llm._liter_llm", name = "McpSession", frozen)]
pub struct PyMcpSession {
    inner: tokio::sync::Mutex<Option<Arc<McpSession>>>,
}

fn seconds(timeout: f64) -> PyResult<Duration> {
    if timeout.is_finite() && timeout > 0.0 && timeout <= 86_400.0 {
        Ok(Duration::from_secs_f64(timeout))
    } else {
        Err(PyValueError::new_err(
            "timeout must be a number of seconds above 0 and at most 86400",
        ))
    }
}

/// The Python object of a session just opened.
fn opened(py: Python<'_>, session: crate::Result<McpSession>) -> PyResult<Py<PyAny>> {
    let session = PyMcpSession {
        inner: tokio::sync::Mutex::new(Some(Arc::new(session?))),
    };
    Ok(Py::new(py, session)?.into_any())
}

impl PyMcpSession {
    fn session(&self) -> PyResult<Arc<McpSession>> {
        self.inner
            .try_lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| PyValueError::new_err("this MCP session is closed"))
    }
}

#[pymethods]
impl PyMcpSession {
    /// Starts `command` (program and arguments; `env` added to its environment) and opens a
    /// session with it over stdio; a coroutine resolving to the session. `timeout` (seconds)
    /// bounds the handshake and every later request.
    #[staticmethod]
    #[pyo3(signature = (command, *, env=None, timeout=60.0))]
    fn stdio<'py>(
        py: Python<'py>,
        command: Vec<String>,
        env: Option<std::collections::HashMap<String, String>>,
        timeout: f64,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let timeout = seconds(timeout)?;
        if command.is_empty() || command[0].is_empty() {
            return Err(PyValueError::new_err("command must name a program"));
        }
        let env: Vec<(String, String)> = env.unwrap_or_default().into_iter().collect();
        let start: Start = Box::new(move |py, driver| {
            let work = async move { McpSession::stdio(&command, &env, timeout).await };
            Ok(driver.spawn(py, work, opened)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// Opens a session with the streamable-HTTP MCP server at `url` (`token`: a bearer token);
    /// a coroutine resolving to the session. `timeout` as for `stdio`.
    #[staticmethod]
    #[pyo3(signature = (url, *, token=None, timeout=60.0))]
    fn http<'py>(py: Python<'py>, url: String, token: Option<String>, timeout: f64) -> PyResult<Bound<'py, LlmCall>> {
        let timeout = seconds(timeout)?;
        let start: Start = Box::new(move |py, driver| {
            let work = async move { McpSession::http(&url, token.as_deref(), timeout).await };
            Ok(driver.spawn(py, work, opened)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// The server's tools as Chat Completions tool definitions (a coroutine).
    fn tools<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, LlmCall>> {
        let session = self.session()?;
        let start: Start = Box::new(move |py, driver| {
            let work = async move { session.tools().await };
            let finish = |py: Python<'_>, tools: crate::Result<Vec<McpTool>>| {
                let definitions: Vec<Value> = tools?.iter().map(McpTool::definition).collect();
                Ok(value_to_py(py, &Value::Array(definitions))?.unbind())
            };
            Ok(driver.spawn(py, work, finish)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// Calls tool `name` with `arguments` (a dict); a coroutine resolving to `(text, is_error)`.
    fn call<'py>(
        &self,
        py: Python<'py>,
        name: String,
        arguments: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, LlmCall>> {
        let session = self.session()?;
        let Value::Object(arguments) = crate::py::json::to_value(arguments.as_any())? else {
            return Err(PyValueError::new_err("arguments must be a dict"));
        };
        let arguments: Map<String, Value> = arguments;
        let start: Start = Box::new(move |py, driver| {
            let work = async move { session.call(&name, arguments).await };
            let finish = |py: Python<'_>, answer: crate::Result<McpAnswer>| {
                let answer = answer?;
                Ok((answer.text, answer.is_error).into_pyobject(py)?.into_any().unbind())
            };
            Ok(driver.spawn(py, work, finish)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// Ends the session and stops the server (a coroutine; closing twice does nothing).
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, LlmCall>> {
        let taken = self.inner.try_lock().ok().and_then(|mut s| s.take());
        let start: Start = Box::new(move |py, driver| {
            let work = async move {
                if let Some(session) = taken.and_then(|s| Arc::try_unwrap(s).ok()) {
                    session.close().await;
                }
            };
            Ok(driver.spawn(py, work, |py, ()| Ok(py.None()))?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    fn __repr__(&self) -> String {
        match self.inner.try_lock().ok().and_then(|s| s.clone()) {
            Some(session) => format!("<McpSession {session:?}>"),
            None => "<McpSession closed>".to_owned(),
        }
    }
}

/// Adds `McpSession` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMcpSession>()
}
