//! The `Cache` class and the `cache=` arguments: of the client (a URL, a `Cache`, `True` for
//! memory) and of one call (a dict of directives, or `False` to bypass).

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};

use crate::cache::{Cache, CacheSettings, Control};
use crate::py::call::{LlmCall, Start};
use crate::py::convert::{seconds_arg, MAX_SECONDS};
use crate::py::json::type_name;
use crate::py::params::positive_int;

/// A response cache: in memory, in a SQLite file, or in Redis. One `Cache` may serve many
/// clients (they then share its entries and its in-flight calls).
#[pyclass(frozen, name = "Cache", module = "liter_llm")]
pub struct PyCache {
    pub(crate) inner: Arc<Cache>,
}

#[pymethods]
impl PyCache {
    #[new]
    #[pyo3(signature = (url="memory", *, ttl=None, max_bytes=None, namespace=None))]
    fn py_new(
        url: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        max_bytes: Option<&Bound<'_, PyAny>>,
        namespace: Option<String>,
    ) -> PyResult<Self> {
        let ttl = ttl
            .filter(|t| !t.is_none())
            .map(|t| seconds_arg("ttl", t, true, MAX_SECONDS))
            .transpose()?;
        let settings = CacheSettings {
            url: url.to_owned(),
            ttl,
            max_bytes: positive_int("max_bytes", max_bytes)?,
            namespace: namespace.unwrap_or_default(),
        };
        Ok(PyCache {
            inner: Arc::new(Cache::open(settings)?),
        })
    }

    /// The URL, password masked.
    #[getter]
    fn url(&self) -> String {
        self.inner.shown_url()
    }

    /// `memory`, `sqlite` or `redis`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    /// Seconds entries live (`None`: until evicted).
    #[getter]
    fn ttl(&self) -> Option<f64> {
        self.inner.settings().ttl.map(|t| t.as_secs_f64())
    }

    /// The default namespace.
    #[getter]
    fn namespace(&self) -> &str {
        &self.inner.settings().namespace
    }

    /// Counters since the cache was built: `hits`, `misses`, `joined` (calls answered by an
    /// identical call in flight), `writes`, `errors` (failed backend operations: each an
    /// uncached call or a skipped write) and `skipped` (answers too large to keep).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.inner.stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("hits", s.hits),
            ("misses", s.misses),
            ("joined", s.joined),
            ("writes", s.writes),
            ("errors", s.errors),
            ("skipped", s.skipped),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Removes every entry (a coroutine); raises `NetworkError` when the backend is unreachable.
    fn clear<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, LlmCall>> {
        let cache = Arc::clone(&self.inner);
        let start: Start = Box::new(move |py, driver| {
            let work = async move { cache.clear().await };
            let finish = |py: Python<'_>, result: crate::Result<()>| {
                result?;
                Ok(py.None())
            };
            Ok(driver.spawn(py, work, finish)?.0)
        });
        Bound::new(py, LlmCall::new(py, start)?)
    }

    fn __repr__(&self) -> String {
        let s = self.inner.settings();
        let ttl = s.ttl.map_or_else(String::new, |t| format!(", ttl={}", t.as_secs_f64()));
        let ns = if s.namespace.is_empty() {
            String::new()
        } else {
            format!(", namespace={:?}", s.namespace)
        };
        format!("Cache({:?}{ttl}{ns})", self.inner.shown_url())
    }
}

/// The client's `cache=`: `None`/`False` (none), `True` (memory), a URL, or a `Cache`.
pub(crate) fn client_cache(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Arc<Cache>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if let Ok(flag) = value.cast::<PyBool>() {
        return flag.is_true().then(|| open("memory")).transpose();
    }
    if let Ok(url) = value.cast::<PyString>() {
        return Ok(Some(open(&url.to_cow()?)?));
    }
    if let Ok(cache) = value.cast::<PyCache>() {
        return Ok(Some(Arc::clone(&cache.get().inner)));
    }
    Err(PyTypeError::new_err(format!(
        "cache must be a URL str, a Cache or a bool, not {}",
        type_name(value)
    )))
}

fn open(url: &str) -> PyResult<Arc<Cache>> {
    let settings = CacheSettings {
        url: url.to_owned(),
        ..CacheSettings::default()
    };
    Ok(Arc::new(Cache::open(settings)?))
}

/// One call's `cache=`: `False` (bypass), `True`/`None` (defaults), or a dict of LiteLLM's
/// directives: `no-cache`, `no-store` (bools), `ttl`, `s-maxage` (seconds), `namespace` (str);
/// `no_cache`, `no_store` and `s_maxage` are accepted too.
pub(crate) fn call_control(value: &Bound<'_, PyAny>) -> PyResult<Control> {
    if value.is_none() {
        return Ok(Control::default());
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        let off = !flag.is_true();
        return Ok(Control {
            no_cache: off,
            no_store: off,
            ..Control::default()
        });
    }
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| PyTypeError::new_err(format!("cache must be a dict or a bool, not {}", type_name(value))))?;
    let mut control = Control::default();
    for (key, item) in dict.iter() {
        let key = key
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("cache keys must be str"))?
            .to_cow()?
            .into_owned();
        let flag = |item: &Bound<'_, PyAny>| -> PyResult<bool> {
            Ok(item
                .cast::<PyBool>()
                .map_err(|_| PyTypeError::new_err(format!("cache[{key:?}] must be a bool, not {}", type_name(item))))?
                .is_true())
        };
        let seconds = |item: &Bound<'_, PyAny>| -> PyResult<Option<std::time::Duration>> {
            if item.is_none() {
                return Ok(None);
            }
            seconds_arg(&format!("cache[{key:?}]"), item, false, MAX_SECONDS).map(Some)
        };
        match key.as_str() {
            "no-cache" | "no_cache" => control.no_cache = flag(&item)?,
            "no-store" | "no_store" => control.no_store = flag(&item)?,
            "ttl" => control.ttl = seconds(&item)?.filter(|t| !t.is_zero()),
            "s-maxage" | "s_maxage" => control.s_maxage = seconds(&item)?,
            "namespace" => {
                let ns = item.cast::<PyString>().map_err(|_| {
                    PyTypeError::new_err(format!("cache['namespace'] must be a str, not {}", type_name(&item)))
                })?;
                control.namespace = Some(ns.to_cow()?.into_owned());
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown cache directive {other:?}; expected no-cache, no-store, ttl, s-maxage or namespace"
                )))
            }
        }
    }
    Ok(control)
}
