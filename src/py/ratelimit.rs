//! `RateLimiter`: the Python handle of a core [`RateLimiter`], shareable by several clients.
//!
//! Every argument is validated before anything runs: limits are positive ints (`bool` is
//! rejected), delays and windows finite non-negative (positive for the window) numbers,
//! `rate_limits` a `dict[str, dict]` with keys `rpm`, `tpm` and `max_concurrency`, and `burst`
//! `False`/`True`, an int (requests) or a dict with `requests` and/or `tokens`. Wrong types raise
//! `TypeError`, wrong values `ValueError`.

use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyString};

use crate::py::convert::{seconds_arg, MAX_SECONDS};
use crate::py::json::{dict_items, type_name};
use crate::ratelimit::key::MAX_LIMIT;
use crate::ratelimit::shared::{Outage, SharedConfig, DEFAULT_LEASE};
use crate::ratelimit::{
    default_granularity, Burst, Limits, RateLimitConfig, RateLimiter, DEFAULT_MAX_DELAY, MAX_WINDOW,
};

/// Default of `max_delay_seconds`, as the Python signatures show it.
pub const DEFAULT_MAX_DELAY_SECONDS: f64 = 300.0;
/// Default of `window_seconds`.
pub const DEFAULT_WINDOW_SECONDS: f64 = 60.0;

/// A str as Python shows it (single quotes).
fn py_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A positive int (at most `max`), or `None`.
fn positive_int(name: &str, value: Option<&Bound<'_, PyAny>>, max: u64) -> PyResult<Option<u64>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{name} must be an int or None, not {}",
            type_name(value)
        )));
    }
    match value.extract::<i128>() {
        Ok(n) if n >= 1 && n <= i128::from(max) => Ok(Some(n as u64)),
        _ => Err(PyValueError::new_err(format!(
            "{name} must be between 1 and {max}, got {value}"
        ))),
    }
}

fn concurrency(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<u32>> {
    Ok(positive_int(name, value, u64::from(u32::MAX >> 4))?.map(|n| n as u32))
}

/// Parses `rate_limits={"model": {"rpm": ..., "tpm": ..., "max_concurrency": ...}}`.
fn model_limits(value: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<(String, Limits)>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    let dict = value.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "rate_limits must be a dict of model name to limits dict, not {}",
            type_name(value)
        ))
    })?;
    let mut out = Vec::with_capacity(dict.len());
    for pair in dict_items(dict) {
        let (model, limits) = pair?;
        let model: String = model
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("rate_limits keys must be model names (str)"))?
            .to_cow()?
            .into_owned();
        let what = format!("rate_limits[{}]", py_str(&model));
        let limits = limits.cast::<PyDict>().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a dict with rpm, tpm and/or max_concurrency, not {}",
                type_name(&limits)
            ))
        })?;
        let mut parsed = Limits::default();
        for pair in dict_items(limits) {
            let (key, v) = pair?;
            let key = key.extract::<String>().unwrap_or_default();
            let name = format!("{what}[{}]", py_str(&key));
            match key.as_str() {
                "rpm" => parsed.rpm = positive_int(&name, Some(&v), MAX_LIMIT)?,
                "tpm" => parsed.tpm = positive_int(&name, Some(&v), MAX_LIMIT)?,
                "max_concurrency" => parsed.max_concurrency = concurrency(&name, Some(&v))?,
                _ => {
                    return Err(PyValueError::new_err(format!(
                        "{what} has an unknown key {}; use rpm, tpm and max_concurrency",
                        py_str(&key)
                    )))
                }
            }
        }
        if parsed.is_empty() {
            return Err(PyValueError::new_err(format!(
                "{what} sets no limit; give rpm, tpm or max_concurrency"
            )));
        }
        out.push((model, parsed));
    }
    Ok(out)
}

fn burst_from(value: Option<&Bound<'_, PyAny>>) -> PyResult<Burst> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Burst::None);
    };
    if value.is_instance_of::<PyBool>() {
        return Ok(if value.is_truthy()? { Burst::Full } else { Burst::None });
    }
    let count = |name: &str, v: &Bound<'_, PyAny>| -> PyResult<u64> {
        if v.is_instance_of::<PyBool>() || !v.is_instance_of::<PyInt>() {
            return Err(PyTypeError::new_err(format!(
                "{name} must be an int, not {}",
                type_name(v)
            )));
        }
        match v.extract::<i128>() {
            Ok(n) if (0..=i128::from(MAX_LIMIT)).contains(&n) => Ok(n as u64),
            _ => Err(PyValueError::new_err(format!(
                "{name} must be between 0 and {MAX_LIMIT}, got {v}"
            ))),
        }
    };
    if value.is_instance_of::<PyInt>() {
        let requests = count("burst", value)?;
        return Ok(if requests == 0 {
            Burst::None
        } else {
            Burst::Up { requests, tokens: 0 }
        });
    }
    let Ok(dict) = value.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(format!(
            "burst must be a bool, an int (requests) or a dict with 'requests' and/or 'tokens', not {}",
            type_name(value)
        )));
    };
    let (mut requests, mut tokens) = (0, 0);
    for pair in dict_items(dict) {
        let (key, v) = pair?;
        match key.extract::<String>().unwrap_or_default().as_str() {
            "requests" => requests = count("burst['requests']", &v)?,
            "tokens" => tokens = count("burst['tokens']", &v)?,
            other => {
                return Err(PyValueError::new_err(format!(
                    "burst has an unknown key {}; use 'requests' and 'tokens'",
                    py_str(other)
                )))
            }
        }
    }
    Ok(Burst::Up { requests, tokens })
}

/// The limit arguments shared by `RateLimiter(...)` and `LlmClient(...)`.
pub struct LimitArgs<'a, 'py> {
    /// `max_requests_per_minute`.
    pub rpm: Option<&'a Bound<'py, PyAny>>,
    /// `max_tokens_per_minute`.
    pub tpm: Option<&'a Bound<'py, PyAny>>,
    /// `max_concurrency`.
    pub max_concurrency: Option<&'a Bound<'py, PyAny>>,
    /// `max_delay_seconds` (`None` means the default).
    pub max_delay: Option<&'a Bound<'py, PyAny>>,
    /// `rate_limits`.
    pub rate_limits: Option<&'a Bound<'py, PyAny>>,
}

impl LimitArgs<'_, '_> {
    /// Whether any limit is given (`max_delay_seconds` alone limits nothing).
    pub fn any_limit(&self) -> bool {
        [self.rpm, self.tpm, self.max_concurrency, self.rate_limits]
            .iter()
            .any(|v| v.is_some_and(|v| !v.is_none()))
    }

    /// Whether `max_delay_seconds` differs from its default.
    pub fn custom_delay(&self) -> PyResult<bool> {
        match self.max_delay.filter(|v| !v.is_none()) {
            Some(v) => Ok(!v.eq(DEFAULT_MAX_DELAY_SECONDS)?),
            None => Ok(false),
        }
    }

    /// Validates everything and builds the core configuration.
    ///
    /// # Errors
    /// `TypeError` / `ValueError` as described in the module header.
    pub fn config(
        &self,
        burst: Option<&Bound<'_, PyAny>>,
        window: Option<&Bound<'_, PyAny>>,
        granularity: Option<&Bound<'_, PyAny>>,
        shared: Option<SharedConfig>,
    ) -> PyResult<RateLimitConfig> {
        let global = Limits {
            rpm: positive_int("max_requests_per_minute", self.rpm, MAX_LIMIT)?,
            tpm: positive_int("max_tokens_per_minute", self.tpm, MAX_LIMIT)?,
            max_concurrency: concurrency("max_concurrency", self.max_concurrency)?,
        };
        let max_delay = match self.max_delay.filter(|v| !v.is_none()) {
            Some(v) => seconds_arg("max_delay_seconds", v, false, MAX_SECONDS)?,
            None => DEFAULT_MAX_DELAY,
        };
        let window = match window.filter(|v| !v.is_none()) {
            Some(w) => seconds_arg("window_seconds", w, true, MAX_WINDOW.as_secs_f64())?,
            None => Duration::from_secs_f64(DEFAULT_WINDOW_SECONDS),
        };
        Ok(RateLimitConfig {
            global,
            models: model_limits(self.rate_limits)?,
            max_delay,
            window,
            burst: burst_from(burst)?,
            margin: None,
            granularity: granularity
                .filter(|v| !v.is_none())
                .map(|g| seconds_arg("pacing_granularity_seconds", g, false, MAX_WINDOW.as_secs_f64()))
                .transpose()?,
            shared,
        })
    }
}

/// Default of `lease_seconds`.
pub const DEFAULT_LEASE_SECONDS: f64 = 30.0;

/// The arguments that share a limiter's budget through Redis.
pub struct SharedArgs<'a, 'py> {
    /// Put before `backend` and `name` in messages (`rate_limit_` for `LlmClient`).
    pub prefix: &'static str,
    /// `backend`: a `redis://` URL, or `None` (this process alone).
    pub backend: Option<&'a Bound<'py, PyAny>>,
    /// `name`: the budget's name.
    pub name: Option<&'a Bound<'py, PyAny>>,
    /// `lease_seconds`.
    pub lease: Option<&'a Bound<'py, PyAny>>,
    /// `backend_outage`: `"wait"` or `"local"`.
    pub outage: Option<&'a Bound<'py, PyAny>>,
    /// `expected_processes`.
    pub processes: Option<&'a Bound<'py, PyAny>>,
}

fn optional_str(name: &str, value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<String>> {
    match value.filter(|v| !v.is_none()) {
        None => Ok(None),
        Some(v) => v
            .cast::<PyString>()
            .map(|s| s.to_string())
            .map(Some)
            .map_err(|_| PyTypeError::new_err(format!("{name} must be a str or None, not {}", type_name(v)))),
    }
}

impl SharedArgs<'_, '_> {
    /// Validates the arguments: `None` when no backend is given (then no other may be).
    ///
    /// # Errors
    /// `TypeError` / `ValueError` for wrong types and values, or arguments without a backend.
    pub fn config(&self) -> PyResult<Option<SharedConfig>> {
        let (backend_arg, name_arg) = (format!("{}backend", self.prefix), format!("{}name", self.prefix));
        let url = optional_str(&backend_arg, self.backend)?;
        let name = optional_str(&name_arg, self.name)?;
        let outage = optional_str("backend_outage", self.outage)?;
        let processes = positive_int("expected_processes", self.processes, u64::from(u32::MAX))?;
        let lease = self
            .lease
            .filter(|v| !v.is_none())
            .map(|v| seconds_arg("lease_seconds", v, true, 86_400.0))
            .transpose()?;
        let Some(url) = url else {
            let given = [
                (name_arg.as_str(), name.is_some()),
                ("lease_seconds", lease.is_some()),
                ("expected_processes", processes.is_some()),
            ];
            if let Some((arg, _)) = given.iter().find(|(_, set)| *set) {
                return Err(PyValueError::new_err(format!(
                    "{arg} needs {backend_arg}= (a redis:// URL)"
                )));
            }
            return Ok(None);
        };
        let Some(name) = name else {
            return Err(PyValueError::new_err(format!(
                "{backend_arg}= needs {name_arg}=: the budget's name, the same in every process that shares it"
            )));
        };
        let outage = match (outage.as_deref().unwrap_or("wait"), processes) {
            ("wait", None) => Outage::Wait,
            ("wait", Some(_)) => {
                return Err(PyValueError::new_err(
                    "expected_processes is used only with backend_outage='local'",
                ))
            }
            ("local", Some(n)) => Outage::Local { processes: n as u32 },
            ("local", None) => return Err(PyValueError::new_err(
                "backend_outage='local' needs expected_processes (each process then takes limit / expected_processes)",
            )),
            (other, _) => {
                return Err(PyValueError::new_err(format!(
                    "backend_outage must be 'wait' or 'local', got {}",
                    py_str(other)
                )))
            }
        };
        Ok(Some(SharedConfig {
            url,
            name,
            lease: lease.unwrap_or(DEFAULT_LEASE),
            outage,
        }))
    }
}

/// Paces requests and tokens per window and caps concurrency; build once, share by clients.
#[pyclass(frozen, name = "RateLimiter", module = "liter_llm")]
pub struct PyRateLimiter {
    pub(crate) inner: Arc<RateLimiter>,
}

fn limits_dict<'py>(py: Python<'py>, limits: &Limits) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    if let Some(v) = limits.rpm {
        d.set_item("rpm", v)?;
    }
    if let Some(v) = limits.tpm {
        d.set_item("tpm", v)?;
    }
    if let Some(v) = limits.max_concurrency {
        d.set_item("max_concurrency", v)?;
    }
    Ok(d)
}

#[pymethods]
impl PyRateLimiter {
    #[new]
    #[pyo3(
        signature = (*, max_requests_per_minute=None, max_tokens_per_minute=None, max_concurrency=None, max_delay_seconds=None, rate_limits=None, burst=None, window_seconds=None, pacing_granularity_seconds=None, backend=None, name=None, lease_seconds=None, backend_outage=None, expected_processes=None),
        text_signature = "(*, max_requests_per_minute=None, max_tokens_per_minute=None, max_concurrency=None, max_delay_seconds=300.0, rate_limits=None, burst=False, window_seconds=60.0, pacing_granularity_seconds=None, backend=None, name=None, lease_seconds=30.0, backend_outage='wait', expected_processes=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        max_requests_per_minute: Option<&Bound<'_, PyAny>>,
        max_tokens_per_minute: Option<&Bound<'_, PyAny>>,
        max_concurrency: Option<&Bound<'_, PyAny>>,
        max_delay_seconds: Option<&Bound<'_, PyAny>>,
        rate_limits: Option<&Bound<'_, PyAny>>,
        burst: Option<&Bound<'_, PyAny>>,
        window_seconds: Option<&Bound<'_, PyAny>>,
        pacing_granularity_seconds: Option<&Bound<'_, PyAny>>,
        backend: Option<&Bound<'_, PyAny>>,
        name: Option<&Bound<'_, PyAny>>,
        lease_seconds: Option<&Bound<'_, PyAny>>,
        backend_outage: Option<&Bound<'_, PyAny>>,
        expected_processes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let args = LimitArgs {
            rpm: max_requests_per_minute,
            tpm: max_tokens_per_minute,
            max_concurrency,
            max_delay: max_delay_seconds,
            rate_limits,
        };
        let shared = SharedArgs {
            prefix: "",
            backend,
            name,
            lease: lease_seconds,
            outage: backend_outage,
            processes: expected_processes,
        }
        .config()?;
        let config = args.config(burst, window_seconds, pacing_granularity_seconds, shared)?;
        if !args.any_limit() {
            return Err(PyValueError::new_err(
                "RateLimiter needs at least one limit: max_requests_per_minute, max_tokens_per_minute, \
                 max_concurrency or rate_limits",
            ));
        }
        Ok(PyRateLimiter {
            inner: Arc::new(RateLimiter::new(config)?),
        })
    }

    /// Where the budget is shared (the `redis://` URL without credentials), or `None`.
    #[getter]
    fn backend(&self) -> Option<String> {
        self.inner
            .config()
            .shared
            .as_ref()
            .map(|s| crate::redis_link::shown(&s.url))
    }

    /// The shared budget's name, or `None`.
    #[getter]
    fn name(&self) -> Option<String> {
        self.inner.config().shared.as_ref().map(|s| s.name.clone())
    }

    /// How long a concurrency slot outlives a process that died holding it (shared budgets).
    #[getter]
    fn lease_seconds(&self) -> f64 {
        self.inner
            .config()
            .shared
            .as_ref()
            .map_or(DEFAULT_LEASE_SECONDS, |s| s.lease.as_secs_f64())
    }

    /// What calls do while the backend is down: `'wait'` or `'local'`.
    #[getter]
    fn backend_outage(&self) -> &'static str {
        match self.inner.config().shared.as_ref().map(|s| s.outage) {
            Some(Outage::Local { .. }) => "local",
            _ => "wait",
        }
    }

    /// With `backend_outage='local'`: how many processes share the limits.
    #[getter]
    fn expected_processes(&self) -> Option<u32> {
        match self.inner.config().shared.as_ref().map(|s| s.outage) {
            Some(Outage::Local { processes }) => Some(processes),
            _ => None,
        }
    }

    /// Requests per window shared by every request (`None`: not limited globally).
    #[getter]
    fn max_requests_per_minute(&self) -> Option<u64> {
        self.inner.config().global.rpm
    }

    /// Tokens per window shared by every request.
    #[getter]
    fn max_tokens_per_minute(&self) -> Option<u64> {
        self.inner.config().global.tpm
    }

    /// Requests in flight at once, over every request.
    #[getter]
    fn max_concurrency(&self) -> Option<u32> {
        self.inner.config().global.max_concurrency
    }

    /// Longest wait before a request fails with `RateLimitedError`.
    #[getter]
    fn max_delay_seconds(&self) -> f64 {
        self.inner.config().max_delay.as_secs_f64()
    }

    /// The window limits are counted over (60 s unless set).
    #[getter]
    fn window_seconds(&self) -> f64 {
        self.inner.config().window.as_secs_f64()
    }

    /// Requests falling due within one slot of this many seconds go together (default: 1/1200
    /// of the window, at most 0.05 s; 0 paces each request on its own).
    #[getter]
    fn pacing_granularity_seconds(&self) -> f64 {
        let c = self.inner.config();
        c.granularity
            .unwrap_or_else(|| default_granularity(c.window))
            .as_secs_f64()
    }

    /// Per-model limits, as given.
    #[getter]
    fn rate_limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (model, limits) in &self.inner.config().models {
            out.set_item(model, limits_dict(py, limits)?)?;
        }
        Ok(out)
    }

    /// What may go up front: `False`, `True` (a full window) or `{"requests": n, "tokens": m}`.
    #[getter]
    fn burst<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(match self.inner.config().burst {
            Burst::None => PyBool::new(py, false).to_owned().into_any(),
            Burst::Full => PyBool::new(py, true).to_owned().into_any(),
            Burst::Up { requests, tokens } => {
                let d = PyDict::new(py);
                d.set_item("requests", requests)?;
                d.set_item("tokens", tokens)?;
                d.into_any()
            }
        })
    }

    fn __repr__(&self) -> String {
        repr(&self.inner)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyRateLimiter>()
            .is_ok_and(|o| Arc::ptr_eq(&self.inner, &o.get().inner))
    }

    fn __hash__(&self) -> isize {
        Arc::as_ptr(&self.inner) as isize
    }
}

/// `RateLimiter(...)` text for a limiter.
pub fn repr(limiter: &RateLimiter) -> String {
    let c = limiter.config();
    let mut parts = Vec::new();
    if let Some(v) = c.global.rpm {
        parts.push(format!("max_requests_per_minute={v}"));
    }
    if let Some(v) = c.global.tpm {
        parts.push(format!("max_tokens_per_minute={v}"));
    }
    if let Some(v) = c.global.max_concurrency {
        parts.push(format!("max_concurrency={v}"));
    }
    if !c.models.is_empty() {
        let models: Vec<String> = c
            .models
            .iter()
            .map(|(m, l)| {
                let mut f = Vec::new();
                if let Some(v) = l.rpm {
                    f.push(format!("'rpm': {v}"));
                }
                if let Some(v) = l.tpm {
                    f.push(format!("'tpm': {v}"));
                }
                if let Some(v) = l.max_concurrency {
                    f.push(format!("'max_concurrency': {v}"));
                }
                format!("{}: {{{}}}", py_str(m), f.join(", "))
            })
            .collect();
        parts.push(format!("rate_limits={{{}}}", models.join(", ")));
    }
    if c.max_delay != DEFAULT_MAX_DELAY {
        parts.push(format!("max_delay_seconds={}", c.max_delay.as_secs_f64()));
    }
    match c.burst {
        Burst::None => {}
        Burst::Full => parts.push("burst=True".to_owned()),
        Burst::Up { requests, tokens } => parts.push(format!("burst={{'requests': {requests}, 'tokens': {tokens}}}")),
    }
    if c.window.as_secs_f64() != DEFAULT_WINDOW_SECONDS {
        parts.push(format!("window_seconds={}", c.window.as_secs_f64()));
    }
    if let Some(g) = c.granularity.filter(|g| *g != default_granularity(c.window)) {
        parts.push(format!("pacing_granularity_seconds={}", g.as_secs_f64()));
    }
    if let Some(shared) = &c.shared {
        parts.push(format!("backend={}", py_str(&crate::redis_link::shown(&shared.url))));
        parts.push(format!("name={}", py_str(&shared.name)));
        if shared.lease != DEFAULT_LEASE {
            parts.push(format!("lease_seconds={}", shared.lease.as_secs_f64()));
        }
        if let Outage::Local { processes } = shared.outage {
            parts.push(format!("backend_outage='local', expected_processes={processes}"));
        }
    }
    format!("RateLimiter({})", parts.join(", "))
}
