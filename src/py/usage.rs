//! Python bindings for usage tracking and pricing: the read-only `UsageTracker` class, and
//! `register_model`, `model_info` and `completion_cost`.
//!
//! `UsageTracker` wraps the client's shared core tracker (`Arc`), so reading it never copies
//! more than the numbers asked for. Times are float seconds; percentiles take `p` in 0–100 and
//! raise `ValueError` outside it. `UsageTracker()` builds an empty tracker; the private
//! `_record_success` / `_record_failure` methods feed one by hand (tests, custom integrations).

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt};

use crate::catalog;
use crate::pricing::{self, ModelInfo};
use crate::py::convert::{map_to_py, seconds, value_to_py};
use crate::py::json::{to_value, type_name};
use crate::py::types::PyUsage;
use crate::types::Usage;
use crate::usage::UsageTracker;

/// Python class `UsageTracker`.
#[pyclass(frozen, name = "UsageTracker", module = "liter_llm")]
pub struct PyUsageTracker(pub Arc<UsageTracker>);

impl PyUsageTracker {
    /// A Python handle on a shared core tracker (what `client.usage` returns).
    pub fn from_core(inner: Arc<UsageTracker>) -> Self {
        Self(inner)
    }
}

fn percentile_arg(p: f64) -> PyResult<f64> {
    if (0.0..=100.0).contains(&p) {
        Ok(p)
    } else {
        Err(PyValueError::new_err(format!(
            "percentile must be between 0 and 100, got {p}"
        )))
    }
}

/// A `Usage`, a dict shaped like one, or `None`.
fn usage_arg(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Usage>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(u) = value.cast::<PyUsage>() {
        return Ok(Some(u.get().0.clone()));
    }
    if !value.is_instance_of::<PyDict>() {
        return Err(PyTypeError::new_err(format!(
            "usage must be a Usage or a dict, not {}",
            type_name(value)
        )));
    }
    serde_json::from_value(to_value(value)?)
        .map(Some)
        .map_err(|e| PyValueError::new_err(format!("invalid usage: {e}")))
}

#[pymethods]
impl PyUsageTracker {
    #[new]
    fn py_new() -> Self {
        Self::from_core(Arc::new(UsageTracker::new()))
    }

    /// Calls recorded, failures included.
    #[getter]
    fn calls(&self) -> u64 {
        self.0.totals().calls
    }

    /// Calls that failed after their last retry.
    #[getter]
    fn failures(&self) -> u64 {
        self.0.totals().failures
    }

    /// Retries made, over all calls.
    #[getter]
    fn retries(&self) -> u64 {
        self.0.totals().retries
    }

    /// Prompt tokens (cache reads and writes included).
    #[getter]
    fn prompt_tokens(&self) -> u64 {
        self.0.totals().prompt_tokens
    }

    /// Completion tokens (reasoning included).
    #[getter]
    fn completion_tokens(&self) -> u64 {
        self.0.totals().completion_tokens
    }

    /// Prompt tokens read from the provider's cache.
    #[getter]
    fn cached_tokens(&self) -> u64 {
        self.0.totals().cached_tokens
    }

    /// Reasoning tokens.
    #[getter]
    fn reasoning_tokens(&self) -> u64 {
        self.0.totals().reasoning_tokens
    }

    /// Prompt plus completion tokens.
    #[getter]
    fn total_tokens(&self) -> u64 {
        self.0.totals().total_tokens
    }

    /// Cost in USD of the calls whose model has a price.
    #[getter]
    fn total_cost(&self) -> f64 {
        self.0.totals().total_cost
    }

    /// Calls answered from the response cache (not in `calls`, tokens or cost).
    #[getter]
    fn cache_hits(&self) -> u64 {
        self.0.totals().cache_hits
    }

    /// Tokens the cache hits' original calls used.
    #[getter]
    fn cache_saved_tokens(&self) -> u64 {
        self.0.totals().cache_saved_tokens
    }

    /// What the cache hits' original calls cost in USD, where priced.
    #[getter]
    fn cache_saved_cost(&self) -> f64 {
        self.0.totals().cache_saved_cost
    }

    /// Mean latency of successful calls in seconds, `None` before the first.
    #[getter]
    fn mean_latency(&self) -> Option<f64> {
        self.0.stats().latency().mean()
    }

    /// Mean time to first token of streams in seconds, `None` before the first.
    #[getter]
    fn mean_ttft(&self) -> Option<f64> {
        self.0.stats().ttft().mean()
    }

    /// Latency of successful calls at percentile `p` (0–100), in seconds.
    fn latency_at_percentile(&self, p: f64) -> PyResult<Option<f64>> {
        Ok(self.0.latency_at_percentile(percentile_arg(p)?))
    }

    /// Time to first token at percentile `p` (0–100), in seconds.
    fn ttft_at_percentile(&self, p: f64) -> PyResult<Option<f64>> {
        Ok(self.0.ttft_at_percentile(percentile_arg(p)?))
    }

    /// Statistics per model: `{model: {calls, failures, ..., total_cost, mean_latency, ...}}`.
    #[getter]
    fn per_model<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (model, stats) in self.0.per_model() {
            out.set_item(model, map_to_py(py, &stats.to_json())?)?;
        }
        Ok(out)
    }

    /// Statistics per deployment of a routed group, by deployment id (same fields as
    /// `per_model`; each attempt on a deployment counts as one of its calls).
    #[getter]
    fn per_deployment<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (id, stats) in self.0.per_deployment() {
            out.set_item(id, map_to_py(py, &stats.to_json())?)?;
        }
        Ok(out)
    }

    /// Every statistic as a dict, with `per_model` and `per_deployment`.
    #[getter]
    fn details<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        map_to_py(py, &self.0.details())
    }

    /// Zeroes every counter.
    fn reset(&self) {
        self.0.reset();
    }

    /// Alias of `prompt_tokens` (llm-api-client's name).
    #[getter]
    fn total_prompt_tokens(&self) -> u64 {
        self.prompt_tokens()
    }

    /// Alias of `completion_tokens` (llm-api-client's name).
    #[getter]
    fn total_completion_tokens(&self) -> u64 {
        self.completion_tokens()
    }

    /// Alias of `calls` (llm-api-client's name).
    #[getter]
    fn num_api_calls(&self) -> u64 {
        self.calls()
    }

    /// Alias of `mean_latency` (llm-api-client's name).
    #[getter]
    fn mean_response_time(&self) -> Option<f64> {
        self.mean_latency()
    }

    /// Alias of `latency_at_percentile` (llm-api-client's name).
    fn response_time_at_percentile(&self, percentile: f64) -> PyResult<Option<f64>> {
        self.latency_at_percentile(percentile)
    }

    #[pyo3(signature = (model, usage=None, *, latency=0.0, ttft=None, retries=0, cost=None))]
    fn _record_success(
        &self,
        model: &str,
        usage: Option<&Bound<'_, PyAny>>,
        latency: f64,
        ttft: Option<f64>,
        retries: u32,
        cost: Option<f64>,
    ) -> PyResult<()> {
        let usage = usage_arg(usage)?;
        let latency = seconds("latency", latency)?;
        let ttft = ttft.map(|t| seconds("ttft", t)).transpose()?;
        self.0
            .record_success(model, usage.as_ref(), latency, ttft, retries, cost);
        Ok(())
    }

    #[pyo3(signature = (model, *, latency=0.0, retries=0))]
    fn _record_failure(&self, model: &str, latency: f64, retries: u32) -> PyResult<()> {
        self.0.record_failure(model, seconds("latency", latency)?, retries);
        Ok(())
    }

    fn __str__(&self) -> String {
        self.0.to_string()
    }

    fn __repr__(&self) -> String {
        let t = self.0.totals();
        format!(
            "UsageTracker(calls={}, failures={}, total_tokens={}, total_cost={:.6}, mean_latency={})",
            t.calls,
            t.failures,
            t.total_tokens,
            t.total_cost,
            t.mean_latency.map_or_else(|| "None".to_owned(), |s| format!("{s:.3}"))
        )
    }
}

/// A finite non-negative price, or `None`.
fn price(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<f64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyBool>() || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>()) {
        return Err(PyTypeError::new_err(format!(
            "{name} must be a number, not {}",
            type_name(value)
        )));
    }
    let v: f64 = value.extract()?;
    if v.is_finite() && v >= 0.0 {
        Ok(Some(v))
    } else {
        Err(PyValueError::new_err(format!(
            "{name} must be a finite number >= 0, got {v}"
        )))
    }
}

/// A positive int, or `None`.
fn tokens(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int, not {}",
            type_name(value)
        )));
    }
    match value.extract::<u64>() {
        Ok(n) if n > 0 => Ok(Some(n)),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be a positive int, got {value}"
        ))),
    }
}

/// Adds or replaces a model's prices and limits (process-wide). Prices are USD per million tokens.
#[pyfunction]
#[pyo3(signature = (name, *, input_cost_per_million, output_cost_per_million, cached_input_cost_per_million=None, cache_write_cost_per_million=None, context_window=None, max_output_tokens=None, provider=None, batch_price_factor=None))]
#[allow(clippy::too_many_arguments)]
fn register_model(
    name: &str,
    input_cost_per_million: &Bound<'_, PyAny>,
    output_cost_per_million: &Bound<'_, PyAny>,
    cached_input_cost_per_million: Option<&Bound<'_, PyAny>>,
    cache_write_cost_per_million: Option<&Bound<'_, PyAny>>,
    context_window: Option<&Bound<'_, PyAny>>,
    max_output_tokens: Option<&Bound<'_, PyAny>>,
    provider: Option<String>,
    batch_price_factor: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    if name.trim().is_empty() {
        return Err(PyValueError::new_err("name must not be empty"));
    }
    let required = |n: &str, v: &Bound<'_, PyAny>| {
        price(n, Some(v))?.ok_or_else(|| PyTypeError::new_err(format!("{n} must be a number, not None")))
    };
    let mut info = ModelInfo::new(
        name,
        required("input_cost_per_million", input_cost_per_million)?,
        required("output_cost_per_million", output_cost_per_million)?,
    );
    info.cached_input_cost_per_million = price("cached_input_cost_per_million", cached_input_cost_per_million)?;
    info.cache_write_cost_per_million = price("cache_write_cost_per_million", cache_write_cost_per_million)?;
    info.context_window = tokens("context_window", context_window)?;
    info.max_output_tokens = tokens("max_output_tokens", max_output_tokens)?;
    info.provider = provider.map(|p| p.to_ascii_lowercase());
    info.batch_price_factor = price("batch_price_factor", batch_price_factor)?;
    if info.batch_price_factor.is_some_and(|f| f > 1.0) {
        return Err(PyValueError::new_err("batch_price_factor must be between 0 and 1"));
    }
    catalog::register(info);
    Ok(())
}

/// The prices and limits known for `name` (after prefix and dated-variant resolution), or `None`.
#[pyfunction]
fn model_info<'py>(py: Python<'py>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    catalog::lookup(name)
        .map(|info| value_to_py(py, &info.to_json()))
        .transpose()
}

/// Cost in USD of a call to `model` with `usage` (a `Usage` or a dict), `None` when unknown.
#[pyfunction]
#[pyo3(signature = (*, model, usage))]
fn completion_cost(model: &str, usage: &Bound<'_, PyAny>) -> PyResult<Option<f64>> {
    Ok(usage_arg(Some(usage))?.and_then(|u| pricing::cost(model, &u)))
}

/// Adds the class and functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyUsageTracker>()?;
    m.add_function(wrap_pyfunction!(register_model, m)?)?;
    m.add_function(wrap_pyfunction!(model_info, m)?)?;
    m.add_function(wrap_pyfunction!(completion_cost, m)?)?;
    Ok(())
}
