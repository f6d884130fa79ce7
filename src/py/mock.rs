//! Python binding of the mock provider: `liter_llm.testing.MockServer` and the blocking
//! `serve_mock` used by `python -m liter_llm.testing serve`.

use std::io;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::mock::{Fault, MockConfig, MockServer as CoreServer, RecordedRequest};
use crate::py::convert::{millis, value_to_py};
use crate::py::json::{dict_items, to_value, type_name};

/// How often the blocking `serve_mock` checks for signals.
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Keys accepted in a fault dict.
const FAULT_KEYS: &[&str] = &[
    "status",
    "body",
    "headers",
    "retry_after",
    "retry_after_ms",
    "delay_ms",
    "cut_after",
    "malformed",
    "error_event",
    "reply",
];

fn io_error(err: io::Error) -> PyErr {
    if err.kind() == io::ErrorKind::InvalidInput {
        PyValueError::new_err(err.to_string())
    } else {
        PyErr::from(err)
    }
}

#[allow(clippy::too_many_arguments)]
fn build_config(
    host: String,
    port: i64,
    reply: Option<String>,
    latency_ms: f64,
    chunk_delay_ms: f64,
    stream_chunks: Option<&Bound<'_, PyAny>>,
    record: bool,
    max_embedding_inputs: i64,
) -> PyResult<MockConfig> {
    let max_embedding_inputs = usize::try_from(max_embedding_inputs)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| {
            PyValueError::new_err(format!("max_embedding_inputs must be >= 1, got {max_embedding_inputs}"))
        })?;
    let port = u16::try_from(port).map_err(|_| PyValueError::new_err(format!("port must be 0..65535, got {port}")))?;
    let (stream_chunks, stream_pieces) = match stream_chunks {
        None => (None, None),
        Some(obj) if obj.is_none() => (None, None),
        Some(obj) if is_int(obj) => {
            let n: i128 = obj
                .extract()
                .map_err(|_| PyValueError::new_err("stream_chunks is out of range"))?;
            match usize::try_from(n) {
                Ok(n) if n >= 1 => (Some(n), None),
                _ => return Err(PyValueError::new_err(format!("stream_chunks must be >= 1, got {n}"))),
            }
        }
        Some(obj) if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() => {
            let mut pieces = Vec::new();
            for item in obj.try_iter()? {
                let item = item?;
                let piece = item
                    .cast::<PyString>()
                    .map_err(|_| PyTypeError::new_err("stream_chunks must be an int or a list of str"))?;
                pieces.push(piece.to_cow()?.into_owned());
            }
            if pieces.is_empty() {
                return Err(PyValueError::new_err("stream_chunks must not be an empty list"));
            }
            (None, Some(pieces))
        }
        Some(obj) => {
            let got = type_name(obj);
            return Err(PyTypeError::new_err(format!(
                "stream_chunks must be an int or a list of str, got {got}"
            )));
        }
    };
    Ok(MockConfig {
        host,
        port,
        reply,
        latency: millis("latency_ms", latency_ms)?,
        chunk_delay: millis("chunk_delay_ms", chunk_delay_ms)?,
        stream_chunks,
        stream_pieces,
        record,
        max_embedding_inputs,
        batch_delay: None,
    })
}

fn type_error(key: &str, expected: &str, got: &Bound<'_, PyAny>) -> PyErr {
    let got = type_name(got);
    PyTypeError::new_err(format!("fault key {key:?} must be {expected}, got {got}"))
}

fn is_int(obj: &Bound<'_, PyAny>) -> bool {
    obj.is_instance_of::<PyInt>() && !obj.is_instance_of::<PyBool>()
}

fn non_negative_int(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<u64> {
    if !is_int(obj) {
        return Err(type_error(key, "an int", obj));
    }
    let value: i128 = obj
        .extract()
        .map_err(|_| PyValueError::new_err(format!("fault key {key:?} is out of range")))?;
    u64::try_from(value).map_err(|_| PyValueError::new_err(format!("fault key {key:?} must be >= 0, got {value}")))
}

fn number(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<f64> {
    if !(is_int(obj) || obj.is_instance_of::<PyFloat>()) {
        return Err(type_error(key, "a number", obj));
    }
    // Only an int beyond the float range fails to convert.
    let value: f64 = obj.extract().unwrap_or(f64::INFINITY);
    if !value.is_finite() || value < 0.0 {
        return Err(PyValueError::new_err(format!(
            "fault key {key:?} must be a finite number >= 0, got {value}"
        )));
    }
    Ok(value)
}

fn string(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_cow()?.into_owned()),
        Err(_) => Err(type_error(key, "a str", obj)),
    }
}

fn headers(obj: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let mut out = Vec::new();
    if let Ok(dict) = obj.cast::<PyDict>() {
        for (k, v) in dict.iter() {
            out.push((string("headers", &k)?, string("headers", &v)?));
        }
        return Ok(out);
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        for pair in obj.try_iter()? {
            let pair = pair?;
            let (name, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair
                .extract()
                .map_err(|_| type_error("headers", "a dict or a list of (name, value) pairs", &pair))?;
            out.push((string("headers", &name)?, string("headers", &value)?));
        }
        return Ok(out);
    }
    Err(type_error("headers", "a dict or a list of (name, value) pairs", obj))
}

/// Builds a [`Fault`] from a Python dict, rejecting unknown keys and wrong types.
fn fault_from_dict(dict: &Bound<'_, PyDict>) -> PyResult<Fault> {
    let mut fault = Fault::default();
    for pair in dict_items(dict) {
        let (key, value) = pair?;
        let key = key
            .cast::<PyString>()
            .map_err(|_| PyTypeError::new_err("fault keys must be str"))?
            .to_cow()?
            .into_owned();
        if !FAULT_KEYS.contains(&key.as_str()) {
            return Err(PyValueError::new_err(format!(
                "unknown fault key {key:?}; expected one of: {}",
                FAULT_KEYS.join(", ")
            )));
        }
        if value.is_none() {
            continue;
        }
        match key.as_str() {
            "status" => {
                let status = non_negative_int("status", &value)?;
                fault.status = Some(
                    u16::try_from(status)
                        .ok()
                        .filter(|s| (200..=599).contains(s))
                        .ok_or_else(|| PyValueError::new_err(format!("fault status must be 200..599, got {status}")))?,
                );
            }
            "body" => fault.body = Some(to_value(&value)?),
            "headers" => fault.headers = headers(&value)?,
            "retry_after" => fault.retry_after = Some(number("retry_after", &value)?),
            "retry_after_ms" => fault.retry_after_ms = Some(non_negative_int("retry_after_ms", &value)?),
            "delay_ms" => fault.delay = Some(millis("delay_ms", number("delay_ms", &value)?)?),
            "cut_after" => {
                let n = non_negative_int("cut_after", &value)?;
                fault.cut_after = Some(
                    usize::try_from(n).map_err(|_| PyValueError::new_err("fault key \"cut_after\" is too large"))?,
                );
            }
            "malformed" => {
                fault.malformed = value
                    .cast::<PyBool>()
                    .map_err(|_| type_error("malformed", "a bool", &value))?
                    .is_true();
            }
            "error_event" => {
                if !(value.is_instance_of::<PyString>() || value.is_instance_of::<PyDict>()) {
                    return Err(type_error("error_event", "a str or a dict", &value));
                }
                fault.error_event = Some(to_value(&value)?);
            }
            "reply" => fault.reply = Some(string("reply", &value)?),
            _ => {}
        }
    }
    fault
        .validate()
        .map_err(|reason| PyValueError::new_err(format!("invalid fault: {reason}")))?;
    Ok(fault)
}

fn request_to_py<'py>(py: Python<'py>, req: &RecordedRequest, server: &CoreServer) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("method", &req.method)?;
    dict.set_item("path", &req.path)?;
    dict.set_item("query", req.query.as_deref())?;
    let mut merged: Vec<(&str, String)> = Vec::with_capacity(req.headers.len());
    for (name, value) in &req.headers {
        match merged.iter_mut().find(|(k, _)| *k == name.as_str()) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(value);
            }
            None => merged.push((name.as_str(), value.clone())),
        }
    }
    let headers = PyDict::new(py);
    for (name, value) in merged {
        headers.set_item(name, value)?;
    }
    dict.set_item("headers", headers)?;
    dict.set_item("body", PyBytes::new(py, &req.body))?;
    let json = match req.json() {
        Some(value) => value_to_py(py, &value)?,
        None => py.None().into_bound(py),
    };
    dict.set_item("json", json)?;
    let form = match req.form() {
        Some(parts) => {
            let list = PyList::empty(py);
            for part in parts {
                let item = PyDict::new(py);
                item.set_item("name", &part.name)?;
                item.set_item("filename", part.filename.as_deref())?;
                item.set_item("content_type", part.content_type.as_deref())?;
                item.set_item("data", PyBytes::new(py, &part.data))?;
                list.append(item)?;
            }
            list.into_any()
        }
        None => py.None().into_bound(py),
    };
    dict.set_item("form", form)?;
    let at = req
        .received_at
        .saturating_duration_since(server.started_at())
        .as_secs_f64();
    dict.set_item("received_at", at)?;
    Ok(dict)
}

/// An OpenAI-compatible mock LLM server running in this process on 127.0.0.1.
#[pyclass(frozen, name = "MockServer", module = "liter_llm.testing")]
pub struct PyMockServer {
    inner: CoreServer,
}

#[pymethods]
impl PyMockServer {
    /// Starts the server; see the type stub for the parameters.
    #[new]
    #[pyo3(signature = (*, reply=None, latency_ms=0.0, chunk_delay_ms=0.0, stream_chunks=None, port=0, record=true, max_embedding_inputs=2048, batch_delay_ms=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        reply: Option<String>,
        latency_ms: f64,
        chunk_delay_ms: f64,
        stream_chunks: Option<&Bound<'_, PyAny>>,
        port: i64,
        record: bool,
        max_embedding_inputs: i64,
        batch_delay_ms: Option<f64>,
    ) -> PyResult<Self> {
        let mut config = build_config(
            "127.0.0.1".to_owned(),
            port,
            reply,
            latency_ms,
            chunk_delay_ms,
            stream_chunks,
            record,
            max_embedding_inputs,
        )?;
        config.batch_delay = batch_delay_ms.map(|ms| millis("batch_delay_ms", ms)).transpose()?;
        let inner = py.detach(|| CoreServer::start(config)).map_err(io_error)?;
        Ok(PyMockServer { inner })
    }

    /// `http://127.0.0.1:{port}/v1`.
    #[getter]
    fn base_url(&self) -> String {
        self.inner.base_url()
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.inner.port()
    }

    /// Requests received since start or the last `reset()`.
    #[getter]
    fn request_count(&self) -> u64 {
        self.inner.request_count()
    }

    /// Faults still queued.
    #[getter]
    fn pending_faults(&self) -> usize {
        self.inner.pending_faults()
    }

    /// Whether `close()` has been called.
    #[getter]
    fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// The recorded requests, oldest first.
    fn requests<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let log = self.inner.requests();
        let list = PyList::empty(py);
        for req in &log {
            list.append(request_to_py(py, req, &self.inner)?)?;
        }
        Ok(list)
    }

    /// Queues faults (dicts); each request to a served endpoint consumes the oldest one.
    fn push_faults(&self, faults: &Bound<'_, PyAny>) -> PyResult<()> {
        if !(faults.is_instance_of::<PyList>() || faults.is_instance_of::<PyTuple>()) {
            let got = type_name(faults);
            return Err(PyTypeError::new_err(format!(
                "push_faults() expects a list of dicts, got {got}"
            )));
        }
        let mut parsed = Vec::new();
        for item in faults.try_iter()? {
            let item = item?;
            let dict = item
                .cast::<PyDict>()
                .map_err(|_| PyTypeError::new_err("push_faults() expects a list of dicts"))?;
            parsed.push(fault_from_dict(dict)?);
        }
        self.inner.push_faults(parsed);
        Ok(())
    }

    /// Clears the request log, the request count and the queued faults.
    fn reset(&self) {
        self.inner.reset();
    }

    /// Stops the server and closes its connections. Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.inner.shutdown());
    }

    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    #[pyo3(signature = (exc_type, exc_value, traceback))]
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) {
        let _ = (exc_type, exc_value, traceback);
        self.close(py);
    }

    fn __repr__(&self) -> String {
        if self.inner.is_closed() {
            format!("MockServer(base_url='{}', closed=True)", self.inner.base_url())
        } else {
            format!("MockServer(base_url='{}')", self.inner.base_url())
        }
    }
}

/// Runs a mock server until a signal handler raises (Ctrl-C), calling `ready(base_url)` once
/// it is listening. The GIL is released while waiting.
#[pyfunction]
#[pyo3(
    signature = (*, host=String::from("127.0.0.1"), port=0, reply=None, latency_ms=0.0, chunk_delay_ms=0.0, stream_chunks=None, record=true, ready=None, max_embedding_inputs=2048),
    text_signature = "(*, host='127.0.0.1', port=0, reply=None, latency_ms=0.0, chunk_delay_ms=0.0, stream_chunks=None, record=True, ready=None, max_embedding_inputs=2048)"
)]
#[allow(clippy::too_many_arguments)]
fn serve_mock(
    py: Python<'_>,
    host: String,
    port: i64,
    reply: Option<String>,
    latency_ms: f64,
    chunk_delay_ms: f64,
    stream_chunks: Option<&Bound<'_, PyAny>>,
    record: bool,
    ready: Option<Bound<'_, PyAny>>,
    max_embedding_inputs: i64,
) -> PyResult<()> {
    let config = build_config(
        host,
        port,
        reply,
        latency_ms,
        chunk_delay_ms,
        stream_chunks,
        record,
        max_embedding_inputs,
    )?;
    let server = py.detach(|| CoreServer::start(config)).map_err(io_error)?;
    let result = (|| {
        if let Some(ready) = ready {
            ready.call1((server.base_url(),))?;
        }
        loop {
            py.detach(|| std::thread::sleep(SIGNAL_POLL));
            py.check_signals()?;
        }
    })();
    py.detach(|| server.shutdown());
    result
}

/// Adds `MockServer` and `serve_mock` to the native module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMockServer>()?;
    m.add_function(wrap_pyfunction!(serve_mock, m)?)?;
    Ok(())
}
