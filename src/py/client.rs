//! `LlmClient`: the immutable async client exposed to Python.
//!
//! Rate limits are fixed at construction: either the per-client arguments
//! (`max_requests_per_minute`, `max_tokens_per_minute`, `max_concurrency`, `max_delay_seconds`,
//! `rate_limits`), which build a private limiter, or `rate_limiter=` to share a `RateLimiter`
//! with other clients (giving both is a `ValueError`). `with_options` keeps the same limiter.

use std::sync::Arc;

use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyUserWarning, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyType};

use crate::cache::Cache;
use crate::client::{Client, Request, Trace};
use crate::config::{ClientConfig, Secret};
use crate::deployments::spec::RouterSpec;
use crate::py::cache::{client_cache, PyCache};
use crate::py::call::{LlmCall, Start};
use crate::py::convert::{positive_seconds, seconds_arg, MAX_SECONDS};
use crate::py::json::to_value;
use crate::py::observe::{Observers, Outcome, Watch, Watching};
use crate::py::params::positive_int;
use crate::py::parsed::{attach, ParseMode};
use crate::py::ratelimit::{LimitArgs, PyRateLimiter, SharedArgs};
use crate::py::request::chat_request;
use crate::py::stream::PyChatStream;
use crate::py::types::PyChatCompletionResponse;
use crate::py::usage::PyUsageTracker;
use crate::ratelimit::RateLimiter;
use crate::stream::ChatStream;
use crate::types::ChatCompletionResponse;

/// An immutable async LLM client; safe to share across tasks, threads and event loops.
#[pyclass(frozen, name = "LlmClient", module = "liter_llm")]
pub struct PyLlmClient {
    pub(crate) inner: Arc<Client>,
    /// `callbacks=` and `tracer=`, when given.
    pub(crate) observers: Option<Arc<Observers>>,
    /// The longest wait for a cooling group or a deployment's limits (`max_delay_seconds`).
    max_wait: Duration,
}

fn config_from(
    api_key: String,
    base_url: Option<String>,
    model_hint: Option<String>,
    max_retries: i64,
    timeout: f64,
    extra_headers: Option<&Bound<'_, PyAny>>,
) -> PyResult<ClientConfig> {
    let max_retries =
        u32::try_from(max_retries).map_err(|_| PyValueError::new_err("max_retries must be between 0 and 2**32-1"))?;
    let timeout = positive_seconds("timeout", timeout)?;
    let mut headers = Vec::new();
    if let Some(extra) = extra_headers.filter(|h| !h.is_none()) {
        let dict = extra
            .cast::<PyDict>()
            .map_err(|_| PyTypeError::new_err("extra_headers must be a dict"))?;
        for (k, v) in dict.iter() {
            let (Ok(k), Ok(v)) = (k.extract::<String>(), v.extract::<String>()) else {
                return Err(PyTypeError::new_err("extra_headers keys and values must be str"));
            };
            headers.push((k, v));
        }
    }
    Ok(ClientConfig {
        api_key: Secret::new(api_key),
        base_url,
        model_hint,
        max_retries,
        timeout,
        extra_headers: headers,
        ..ClientConfig::default()
    })
}

/// The deadline and size limits a client is built with (`None` keeps the current value).
struct SafetyArgs<'a, 'py> {
    total_timeout: Option<&'a Bound<'py, PyAny>>,
    max_response_bytes: Option<&'a Bound<'py, PyAny>>,
    max_download_bytes: Option<&'a Bound<'py, PyAny>>,
    max_stream_event_bytes: Option<&'a Bound<'py, PyAny>>,
    max_error_body_bytes: Option<&'a Bound<'py, PyAny>>,
}

impl<'py> SafetyArgs<'_, 'py> {
    /// Checks every given value and sets it on `config`.
    fn apply(&self, config: &mut ClientConfig) -> PyResult<()> {
        if let Some(v) = self.total_timeout.filter(|v| !v.is_none()) {
            config.total_timeout = Some(seconds_arg("total_timeout", v, true, MAX_SECONDS)?);
        }
        let limits = &mut config.limits;
        for (name, value, slot) in [
            (
                "max_response_bytes",
                self.max_response_bytes,
                &mut limits.max_response_bytes,
            ),
            (
                "max_download_bytes",
                self.max_download_bytes,
                &mut limits.max_download_bytes,
            ),
            (
                "max_stream_event_bytes",
                self.max_stream_event_bytes,
                &mut limits.max_stream_event_bytes,
            ),
            (
                "max_error_body_bytes",
                self.max_error_body_bytes,
                &mut limits.max_error_body_bytes,
            ),
        ] {
            if let Some(n) = positive_int(name, value)? {
                *slot = n;
            }
        }
        Ok(())
    }
}

/// The client's limiter: the shared one, or a private one built from the limit arguments;
/// and the longest a request may wait (`max_delay_seconds`, the shared limiter's, or the default).
fn limiter_from(
    args: &LimitArgs<'_, '_>,
    backend: &SharedArgs<'_, '_>,
    shared: Option<&Bound<'_, PyRateLimiter>>,
) -> PyResult<(Option<Arc<RateLimiter>>, Duration)> {
    let backend = backend.config()?;
    let config = args.config(None, None, None, backend.clone())?;
    if backend.is_some() && (shared.is_some() || !args.any_limit()) {
        return Err(PyValueError::new_err(
            "rate_limit_backend shares this client's own limits (max_requests_per_minute, max_tokens_per_minute, \
             max_concurrency, rate_limits): give them, and not rate_limiter= (a RateLimiter takes backend= itself)",
        ));
    }
    let limiter = shared_or_own(args, shared, &config)?;
    let max_wait = limiter.as_ref().map_or(config.max_delay, |l| l.config().max_delay);
    Ok((limiter, max_wait))
}

fn shared_or_own(
    args: &LimitArgs<'_, '_>,
    shared: Option<&Bound<'_, PyRateLimiter>>,
    config: &crate::ratelimit::RateLimitConfig,
) -> PyResult<Option<Arc<RateLimiter>>> {
    if let Some(shared) = shared {
        if args.any_limit() || args.custom_delay()? {
            return Err(PyValueError::new_err(
                "pass either rate_limiter= or the limit arguments (max_requests_per_minute, max_tokens_per_minute, \
                 max_concurrency, max_delay_seconds, rate_limits), not both",
            ));
        }
        return Ok(Some(Arc::clone(&shared.get().inner)));
    }
    if !args.any_limit() {
        return Ok(None);
    }
    Ok(Some(Arc::new(RateLimiter::new(config.clone())?)))
}

/// Checks a routing configuration (`{"model_list": ..., "router_settings": ...}`, or a whole
/// LiteLLM config) and warns once about the LiteLLM keys it ignores.
fn router_spec(py: Python<'_>, root: &serde_json::Value) -> PyResult<RouterSpec> {
    let spec = crate::deployments::config::parse(root, &|name| std::env::var(name).ok())?;
    if !spec.ignored.is_empty() {
        let message = format!("liter_llm ignores these LiteLLM settings: {}", spec.ignored.join(", "));
        let message = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
        PyErr::warn(py, &py.get_type::<PyUserWarning>(), &message, 2)?;
    }
    Ok(spec)
}

/// The routing configuration of `model_list=` and `router_settings=`.
fn router_args(
    py: Python<'_>,
    model_list: Option<&Bound<'_, PyAny>>,
    router_settings: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<RouterSpec>> {
    let router_settings = router_settings.filter(|v| !v.is_none());
    let Some(model_list) = model_list.filter(|v| !v.is_none()) else {
        if router_settings.is_some() {
            return Err(PyValueError::new_err("router_settings needs model_list"));
        }
        return Ok(None);
    };
    let mut root = serde_json::Map::new();
    root.insert("model_list".to_owned(), config_value(model_list, "model_list", 0)?);
    if let Some(settings) = router_settings {
        root.insert(
            "router_settings".to_owned(),
            config_value(settings, "router_settings", 0)?,
        );
    }
    router_spec(py, &serde_json::Value::Object(root)).map(Some)
}

/// The deepest nesting of a config given as Python values.
const MAX_CONFIG_DEPTH: usize = 64;

/// A config value as JSON; a value that has none (a NaN, an object) is a `ValueError` naming its
/// path (`""` for the root, a dict).
fn config_value(value: &Bound<'_, PyAny>, path: &str, depth: usize) -> PyResult<serde_json::Value> {
    if depth > MAX_CONFIG_DEPTH {
        return Err(PyValueError::new_err(format!(
            "{path}: nested deeper than {MAX_CONFIG_DEPTH} levels"
        )));
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (key, item) in crate::py::json::dict_items(dict).collect::<PyResult<Vec<_>>>()? {
            let key: String = key
                .extract()
                .map_err(|_| PyTypeError::new_err(format!("{path}: keys must be str")))?;
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let value = config_value(&item, &child, depth + 1)?;
            map.insert(key, value);
        }
        return Ok(serde_json::Value::Object(map));
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<pyo3::types::PyTuple>() {
        let items = value
            .try_iter()?
            .enumerate()
            .map(|(i, item)| config_value(&item?, &format!("{path}[{i}]"), depth + 1))
            .collect::<PyResult<Vec<_>>>()?;
        return Ok(serde_json::Value::Array(items));
    }
    to_value(value).map_err(|e| PyValueError::new_err(format!("{path}: {e}")))
}

/// A whole LiteLLM config: a dict, or the path of a YAML or JSON file.
pub(crate) fn config_root(config: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    if config.is_instance_of::<PyDict>() {
        return config_value(config, "", 0);
    }
    let path: std::path::PathBuf = config.extract().map_err(|_| {
        PyTypeError::new_err(format!(
            "config must be a dict or a path, not {}",
            crate::py::json::type_name(config)
        ))
    })?;
    let shown = path.display().to_string();
    let size = std::fs::metadata(&path)
        .map_err(|e| PyValueError::new_err(format!("cannot read {shown}: {e}")))?
        .len();
    let max = crate::deployments::yaml::MAX_TEXT;
    if size > max as u64 {
        return Err(PyValueError::new_err(format!(
            "{shown} is {size} bytes; a config may be at most {max}"
        )));
    }
    let text =
        std::fs::read_to_string(&path).map_err(|e| PyValueError::new_err(format!("cannot read {shown}: {e}")))?;
    crate::deployments::yaml::load_yaml(&text).map_err(|e| PyValueError::new_err(format!("{shown}: {}", e.message())))
}

impl PyLlmClient {
    /// When the client has observers: gives `request` a trace and returns what watching it
    /// needs (its `metadata=` among it).
    pub(crate) fn watching<'py>(
        &self,
        metadata: impl FnOnce() -> PyResult<Option<Bound<'py, PyAny>>>,
        request: &mut Request,
        endpoint: &'static str,
        stream: bool,
    ) -> PyResult<Option<Watching>> {
        let Some(observers) = &self.observers else {
            return Ok(None);
        };
        let metadata = metadata()?.filter(|m| !m.is_none()).map(Bound::unbind);
        let trace = Arc::new(Trace::default());
        request.trace = Some(Arc::clone(&trace));
        Ok(Some(Watching {
            observers: Arc::clone(observers),
            queued: false,
            endpoint,
            stream,
            group: self
                .inner
                .deployments()
                .is_some_and(|d| d.group(&request.model).is_some()),
            model: request.model.clone(),
            metadata,
            trace,
        }))
    }
}

/// The `metadata=` of a call's keyword arguments.
fn metadata_of<'py>(kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Option<Bound<'py, PyAny>>> {
    kwargs.map_or(Ok(None), |k| k.get_item("metadata"))
}

/// A chat call's result as a Python object (its structured-output result attached), reported
/// to the callbacks.
fn chat_object(
    py: Python<'_>,
    result: crate::Result<ChatCompletionResponse>,
    watch: Option<Watch>,
    parse: Option<&ParseMode>,
) -> PyResult<Py<PyAny>> {
    let mut response = match result {
        Ok(response) => response,
        Err(err) => {
            if let Some(watch) = watch {
                watch.failure(py, &err);
            }
            return Err(err.into());
        }
    };
    if let Some(mode) = parse {
        attach(py, &mut response, mode);
    }
    let outcome = watch.as_ref().map(|_| chat_outcome(&response));
    let object = Py::new(py, PyChatCompletionResponse(response))?.into_any();
    if let (Some(watch), Some(mut outcome)) = (watch, outcome) {
        outcome.response = Some(object.clone_ref(py));
        watch.success(py, outcome);
    }
    Ok(object)
}

/// What a chat answer reports to callbacks.
pub(crate) fn chat_outcome(response: &ChatCompletionResponse) -> Outcome {
    Outcome {
        response_model: Some(response.model.clone()),
        request_id: response.request_id.clone(),
        usage: response.usage.clone(),
        cost: response.cost,
        finish_reasons: response
            .choices
            .iter()
            .filter_map(|c| c.finish_reason.clone())
            .collect(),
        cache_hit: response.cache_hit,
        ..Outcome::default()
    }
}

#[pymethods]
impl PyLlmClient {
    #[new]
    #[pyo3(
        signature = (*, api_key=None, base_url=None, model_hint=None, max_retries=3, timeout=60.0, extra_headers=None, max_requests_per_minute=None, max_tokens_per_minute=None, max_concurrency=None, max_delay_seconds=None, rate_limits=None, rate_limiter=None, sanitize=false, providers=None, api_version=None, total_timeout=None, max_response_bytes=None, max_download_bytes=None, max_stream_event_bytes=None, max_error_body_bytes=None, model_list=None, router_settings=None, callbacks=None, tracer=None, cache=None, rate_limit_backend=None, rate_limit_name=None),
        text_signature = "(*, api_key=None, base_url=None, model_hint=None, max_retries=3, timeout=60.0, extra_headers=None, max_requests_per_minute=None, max_tokens_per_minute=None, max_concurrency=None, max_delay_seconds=300.0, rate_limits=None, rate_limiter=None, sanitize=False, providers=None, api_version=None, total_timeout=None, max_response_bytes=134217728, max_download_bytes=2147483648, max_stream_event_bytes=16777216, max_error_body_bytes=65536, model_list=None, router_settings=None, callbacks=None, tracer=None, cache=None, rate_limit_backend=None, rate_limit_name=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        api_key: Option<String>,
        base_url: Option<String>,
        model_hint: Option<String>,
        max_retries: i64,
        timeout: f64,
        extra_headers: Option<&Bound<'_, PyAny>>,
        max_requests_per_minute: Option<&Bound<'_, PyAny>>,
        max_tokens_per_minute: Option<&Bound<'_, PyAny>>,
        max_concurrency: Option<&Bound<'_, PyAny>>,
        max_delay_seconds: Option<&Bound<'_, PyAny>>,
        rate_limits: Option<&Bound<'_, PyAny>>,
        rate_limiter: Option<&Bound<'_, PyRateLimiter>>,
        sanitize: bool,
        providers: Option<&Bound<'_, PyAny>>,
        api_version: Option<String>,
        total_timeout: Option<&Bound<'_, PyAny>>,
        max_response_bytes: Option<&Bound<'_, PyAny>>,
        max_download_bytes: Option<&Bound<'_, PyAny>>,
        max_stream_event_bytes: Option<&Bound<'_, PyAny>>,
        max_error_body_bytes: Option<&Bound<'_, PyAny>>,
        model_list: Option<&Bound<'_, PyAny>>,
        router_settings: Option<&Bound<'_, PyAny>>,
        callbacks: Option<&Bound<'_, PyAny>>,
        tracer: Option<&Bound<'_, PyAny>>,
        cache: Option<&Bound<'_, PyAny>>,
        rate_limit_backend: Option<&Bound<'_, PyAny>>,
        rate_limit_name: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let cache = client_cache(cache)?;
        let mut config = config_from(
            api_key.unwrap_or_default(),
            base_url,
            model_hint,
            max_retries,
            timeout,
            extra_headers,
        )?;
        config.sanitize = sanitize;
        config.providers = crate::py::providers::collect(providers)?;
        config.api_version = api_version;
        SafetyArgs {
            total_timeout,
            max_response_bytes,
            max_download_bytes,
            max_stream_event_bytes,
            max_error_body_bytes,
        }
        .apply(&mut config)?;
        let limits = LimitArgs {
            rpm: max_requests_per_minute,
            tpm: max_tokens_per_minute,
            max_concurrency,
            max_delay: max_delay_seconds,
            rate_limits,
        };
        let shared = SharedArgs {
            prefix: "rate_limit_",
            backend: rate_limit_backend,
            name: rate_limit_name,
            lease: None,
            outage: None,
            processes: None,
        };
        let (limiter, max_wait) = limiter_from(&limits, &shared, rate_limiter)?;
        config.rate_limiter = limiter;
        let observers = Observers::new(py, callbacks, tracer)?;
        let client = match router_args(py, model_list, router_settings)? {
            Some(spec) => Client::with_deployments(config, spec, max_wait)?,
            None => Client::new(config)?,
        };
        Ok(PyLlmClient {
            inner: Arc::new(client.with_cache(cache)),
            observers,
            max_wait,
        })
    }

    /// A client routing the model groups of a LiteLLM proxy config (`model_list`,
    /// `router_settings`, `litellm_settings`; other sections are accepted and ignored):
    /// `config` is a dict or the path of a YAML or JSON file. `kwargs` are any other
    /// `LlmClient` arguments.
    #[classmethod]
    #[pyo3(signature = (config, **kwargs))]
    fn from_config(
        cls: &Bound<'_, PyType>,
        config: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let py = cls.py();
        for taken in ["model_list", "router_settings"] {
            if kwargs.is_some_and(|k| k.contains(taken).unwrap_or(false)) {
                return Err(PyTypeError::new_err(format!(
                    "from_config() takes {taken} from the config, not as an argument"
                )));
            }
        }
        let spec = router_spec(py, &config_root(config)?)?;
        let plain = cls.call((), kwargs)?;
        let plain = plain.cast::<PyLlmClient>()?.get();
        // `cache=` given to from_config() wins over the config's `litellm_settings.cache`.
        let cache = match (
            &spec.cache,
            kwargs.is_some_and(|k| k.contains("cache").unwrap_or(false)),
        ) {
            (Some(settings), false) => Some(Arc::new(Cache::open(settings.clone())?)),
            _ => plain.inner.cache().cloned(),
        };
        let client = Client::with_deployments(plain.inner.config().clone(), spec, plain.max_wait)?.with_cache(cache);
        Ok(PyLlmClient {
            inner: Arc::new(client),
            observers: plain.observers.clone(),
            max_wait: plain.max_wait,
        })
    }

    /// The deployments of every model group: a list of dicts with `id`, `group`, `model`,
    /// `api_base` (credentials masked), `weight`, `order`, `rpm`, `tpm`, `in_flight`,
    /// `latency` (moving average, seconds) and `cooling_down` (seconds left, or `None`).
    #[getter]
    fn deployments<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let Some(router) = self.inner.deployments() else {
            return Ok(list);
        };
        for d in router.all() {
            let dict = PyDict::new(py);
            dict.set_item("id", &*d.id)?;
            dict.set_item("group", &d.group)?;
            dict.set_item("model", &d.model)?;
            dict.set_item("api_base", &d.api_base)?;
            dict.set_item("weight", d.weight)?;
            dict.set_item("order", d.order)?;
            dict.set_item("rpm", d.rpm)?;
            dict.set_item("tpm", d.tpm)?;
            dict.set_item("in_flight", d.in_flight())?;
            dict.set_item("latency", d.latency())?;
            dict.set_item("cooling_down", d.cooling_left().map(|t| t.as_secs_f64()))?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The callbacks given at construction (a tuple), or `None`.
    /// The response cache, if the client has one.
    #[getter]
    fn cache(&self) -> Option<PyCache> {
        self.inner.cache().map(|c| PyCache { inner: Arc::clone(c) })
    }

    #[getter]
    fn callbacks<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.observers.as_ref().map(|o| o.callbacks(py)).transpose()
    }

    /// The base URL requests go to (any `user:password@` shown as `***@`).
    #[getter]
    fn base_url(&self) -> String {
        crate::redact::url(self.inner.config().base_url()).into_owned()
    }

    /// The provider hint given at construction.
    #[getter]
    fn model_hint(&self) -> Option<&str> {
        self.inner.config().model_hint.as_deref()
    }

    /// Retries after the first attempt.
    #[getter]
    fn max_retries(&self) -> u32 {
        self.inner.config().max_retries
    }

    /// Timeout in seconds (connect, response headers, gap between stream reads).
    #[getter]
    fn timeout(&self) -> f64 {
        self.inner.config().timeout.as_secs_f64()
    }

    /// Bound on a whole call in seconds (retries, backoff and the body or stream included), or
    /// `None`.
    #[getter]
    fn total_timeout(&self) -> Option<f64> {
        self.inner.config().total_timeout.map(|d| d.as_secs_f64())
    }

    /// The size limits: `max_response_bytes`, `max_download_bytes`, `max_stream_event_bytes`
    /// and `max_error_body_bytes`.
    #[getter]
    fn limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = &self.inner.config().limits;
        let dict = PyDict::new(py);
        dict.set_item("max_response_bytes", l.max_response_bytes)?;
        dict.set_item("max_download_bytes", l.max_download_bytes)?;
        dict.set_item("max_stream_event_bytes", l.max_stream_event_bytes)?;
        dict.set_item("max_error_body_bytes", l.max_error_body_bytes)?;
        Ok(dict)
    }

    /// Always-on usage and cost tracker (shared with copies from `with_options`).
    #[getter]
    fn usage(&self) -> PyUsageTracker {
        PyUsageTracker::from_core(Arc::clone(&self.inner.config().usage))
    }

    /// Whether chat requests are sanitised for their model by default.
    #[getter]
    fn sanitize(&self) -> bool {
        self.inner.config().sanitize
    }

    /// The client's rate limiter (shared with copies from `with_options`), or `None`.
    #[getter]
    fn rate_limiter(&self) -> Option<PyRateLimiter> {
        self.inner.config().rate_limiter.as_ref().map(|inner| PyRateLimiter {
            inner: Arc::clone(inner),
        })
    }

    /// Registers a custom provider (`{"name", "base_url", "auth_header", "model_prefixes",
    /// "api_key_env"}`) for every client built afterwards; a model prefix conflict is a
    /// `ValueError`.
    #[staticmethod]
    fn register_provider(config: &Bound<'_, PyAny>) -> PyResult<()> {
        crate::py::providers::register(config)
    }

    /// A new client with some settings replaced; the rest are copied from this one. The
    /// explicit `api_key` is copied only while the own provider stays the same: a `model_hint`
    /// naming another provider takes that provider's key from the environment instead.
    #[pyo3(signature = (*, api_key=None, base_url=None, model_hint=None, max_retries=None, timeout=None, extra_headers=None, total_timeout=None, max_response_bytes=None, max_download_bytes=None, max_stream_event_bytes=None, max_error_body_bytes=None, cache=None))]
    #[allow(clippy::too_many_arguments)]
    fn with_options(
        &self,
        api_key: Option<String>,
        base_url: Option<String>,
        model_hint: Option<String>,
        max_retries: Option<i64>,
        timeout: Option<f64>,
        extra_headers: Option<&Bound<'_, PyAny>>,
        total_timeout: Option<&Bound<'_, PyAny>>,
        max_response_bytes: Option<&Bound<'_, PyAny>>,
        max_download_bytes: Option<&Bound<'_, PyAny>>,
        max_stream_event_bytes: Option<&Bound<'_, PyAny>>,
        max_error_body_bytes: Option<&Bound<'_, PyAny>>,
        cache: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let cache = match cache {
            Some(cache) => client_cache(Some(cache))?,
            None => self.inner.cache().cloned(),
        };
        let old = self.inner.config();
        let keep_key = api_key.is_none();
        let mut config = config_from(
            api_key.unwrap_or_else(|| old.api_key.expose().to_owned()),
            base_url.or_else(|| old.base_url.clone()),
            model_hint.or_else(|| old.model_hint.clone()),
            max_retries.unwrap_or(i64::from(old.max_retries)),
            timeout.unwrap_or(old.timeout.as_secs_f64()),
            extra_headers,
        )?;
        if extra_headers.is_none() {
            config.extra_headers.clone_from(&old.extra_headers);
        }
        config.rate_limiter.clone_from(&old.rate_limiter);
        config.usage = Arc::clone(&old.usage);
        config.sanitize = old.sanitize;
        config.providers.clone_from(&old.providers);
        config.api_version.clone_from(&old.api_version);
        config.limits = old.limits;
        config.total_timeout = old.total_timeout;
        SafetyArgs {
            total_timeout,
            max_response_bytes,
            max_download_bytes,
            max_stream_event_bytes,
            max_error_body_bytes,
        }
        .apply(&mut config)?;
        let mut client = Client::new(config.clone())?;
        if keep_key && client.own_provider() != self.inner.own_provider() {
            config.api_key = Secret::default();
            client = Client::new(config)?;
        }
        Ok(PyLlmClient {
            inner: Arc::new(client.with_groups_of(&self.inner).with_cache(cache)),
            observers: self.observers.clone(),
            max_wait: self.max_wait,
        })
    }

    /// Sends a chat completion; a coroutine resolving to a `ChatCompletionResponse`.
    #[pyo3(signature = (**kwargs))]
    fn chat<'py>(&self, py: Python<'py>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, LlmCall>> {
        let (mut request, parse) = chat_request(kwargs, false)?;
        let watching = self.watching(|| metadata_of(kwargs), &mut request, "chat", false)?;
        if let Some(response) = self.inner.chat_from_memory(&mut request)? {
            // A memory-cache hit: answered here, without a task or a wait.
            let watch = watching.map(|w| w.begin(py)).transpose()?;
            let object = chat_object(py, Ok(response), watch, parse.as_ref())?;
            return Bound::new(py, LlmCall::ready(object));
        }
        let client = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let watch = watching.map(|w| w.begin(py)).transpose()?;
            let work = async move { client.chat(request).await };
            let finish = move |py: Python<'_>, result: crate::Result<ChatCompletionResponse>| {
                chat_object(py, result, watch, parse.as_ref())
            };
            Ok(driver.spawn(py, work, finish)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    /// Starts a streamed chat completion; a coroutine resolving to a `ChatStreamIterator` once
    /// the response headers arrived (errors before the stream starts are raised here). The
    /// request is sent at once when called inside a running event loop.
    #[pyo3(signature = (**kwargs))]
    fn chat_stream<'py>(&self, py: Python<'py>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, LlmCall>> {
        let (mut request, _) = chat_request(kwargs, true)?;
        let watching = self.watching(|| metadata_of(kwargs), &mut request, "chat", true)?;
        let client = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let watch = watching.map(|w| w.begin(py)).transpose()?;
            let work = async move { client.chat_stream(request).await };
            let finish = move |py: Python<'_>, result: crate::Result<ChatStream>| match result {
                Ok(stream) => Ok(Py::new(py, PyChatStream::new(stream).watched(watch))?.into_any()),
                Err(err) => {
                    if let Some(watch) = watch {
                        watch.failure(py, &err);
                    }
                    Err(err.into())
                }
            };
            Ok(driver.spawn(py, work, finish)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        let limiter = c.rate_limiter.as_deref().map_or_else(String::new, |l| {
            format!(", rate_limiter={}", crate::py::ratelimit::repr(l))
        });
        let total = c
            .total_timeout
            .map_or_else(String::new, |t| format!(", total_timeout={}", t.as_secs_f64()));
        format!(
            "LlmClient(base_url={:?}, model_hint={:?}, max_retries={}, timeout={}{total}{limiter})",
            crate::redact::url(c.base_url()),
            c.model_hint,
            c.max_retries,
            c.timeout.as_secs_f64()
        )
    }
}
