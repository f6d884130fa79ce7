//! `LlmClient.run_agent_loop` and friends: the loop is asyncio code around `chat` (the tools are
//! Python callables), in `liter_llm.agent`, imported on first use so `import liter_llm` stays
//! fast. These methods hand their arguments on.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::py::client::PyLlmClient;

/// `liter_llm.agent.<name>(client, *args, **kwargs)`.
fn delegate<'py>(
    client: &Bound<'py, PyLlmClient>,
    name: &str,
    args: Vec<Bound<'py, PyAny>>,
    kwargs: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = client.py();
    let mut all = vec![client.clone().into_any()];
    all.extend(args);
    let args = pyo3::types::PyTuple::new(py, all)?;
    py.import("liter_llm.agent")?.getattr(name)?.call(args, Some(kwargs))
}

/// A copy of the extra keywords (a new dict when there are none).
fn keywords<'py>(py: Python<'py>, rest: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyDict>> {
    match rest {
        Some(rest) => rest.copy(),
        None => Ok(PyDict::new(py)),
    }
}

#[pymethods]
impl PyLlmClient {
    /// Runs a tool-calling loop: calls the model with `messages` and `tools`, runs the tool
    /// calls it asks for (concurrently, sync tools in a thread), appends their results and
    /// repeats until it answers without tool calls or `max_rounds` calls were made. A coroutine
    /// resolving to an `AgentResult` (see `liter_llm.agent`).
    #[pyo3(signature = (*, messages, tools, model=None, max_rounds=10, tool_timeout=None, tool_errors="message", on_round=None, on_delta=None, **kwargs))]
    #[allow(clippy::too_many_arguments)]
    fn run_agent_loop<'py>(
        slf: &Bound<'py, Self>,
        messages: Bound<'py, PyAny>,
        tools: Bound<'py, PyAny>,
        model: Option<Bound<'py, PyAny>>,
        max_rounds: i64,
        tool_timeout: Option<Bound<'py, PyAny>>,
        tool_errors: &str,
        on_round: Option<Bound<'py, PyAny>>,
        on_delta: Option<Bound<'py, PyAny>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let all = keywords(slf.py(), kwargs)?;
        all.set_item("messages", messages)?;
        all.set_item("tools", tools)?;
        all.set_item("model", model)?;
        all.set_item("max_rounds", max_rounds)?;
        all.set_item("tool_timeout", tool_timeout)?;
        all.set_item("tool_errors", tool_errors)?;
        all.set_item("on_round", on_round)?;
        all.set_item("on_delta", on_delta)?;
        delegate(slf, "run_agent_loop", Vec::new(), &all)
    }

    /// `run_agent_loop` for code without an event loop: blocks until the loop ends.
    #[pyo3(signature = (**kwargs))]
    fn run_agent_loop_sync<'py>(
        slf: &Bound<'py, Self>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        delegate(slf, "run_agent_loop_sync", Vec::new(), &keywords(slf.py(), kwargs)?)
    }

    /// Runs many agent loops (`loops`: the keyword arguments of each `run_agent_loop`, with
    /// `kwargs` shared by all) at most `max_concurrency` at once, under this client's limits; a
    /// coroutine resolving to their results in order (a loop that failed is its exception unless
    /// `return_exceptions` is false).
    #[pyo3(signature = (loops, *, max_concurrency=None, return_exceptions=true, **kwargs))]
    fn run_agent_loops<'py>(
        slf: &Bound<'py, Self>,
        loops: Bound<'py, PyAny>,
        max_concurrency: Option<Bound<'py, PyAny>>,
        return_exceptions: bool,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let all = keywords(slf.py(), kwargs)?;
        all.set_item("max_concurrency", max_concurrency)?;
        all.set_item("return_exceptions", return_exceptions)?;
        delegate(slf, "run_agent_loops", vec![loops], &all)
    }
}
