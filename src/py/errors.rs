//! The public exception hierarchy and the one conversion from core errors to Python exceptions.

use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;
use pyo3::{create_exception, intern};

use crate::error::{Error, Kind};
use crate::py::convert::value_to_py;

create_exception!(liter_llm, LlmError, PyException, "Base class for all liter_llm errors.");
create_exception!(
    liter_llm,
    AuthenticationError,
    LlmError,
    "The API key was rejected (HTTP 401/403) or is missing."
);
create_exception!(liter_llm, RateLimitedError, LlmError, "Rate limit exceeded (HTTP 429).");
create_exception!(
    liter_llm,
    BadRequestError,
    LlmError,
    "The provider rejected the request (HTTP 400, 422, other 4xx)."
);
create_exception!(
    liter_llm,
    ContextWindowExceededError,
    BadRequestError,
    "The prompt exceeds the model's context window."
);
create_exception!(
    liter_llm,
    ContentPolicyError,
    BadRequestError,
    "The provider refused the content."
);
create_exception!(
    liter_llm,
    NotFoundError,
    LlmError,
    "Model or resource not found (HTTP 404)."
);
create_exception!(
    liter_llm,
    ServerError,
    LlmError,
    "Provider error (HTTP 500 and unlisted 5xx)."
);
create_exception!(
    liter_llm,
    ServiceUnavailableError,
    LlmError,
    "Provider temporarily unavailable (HTTP 502/503/504/529)."
);
create_exception!(liter_llm, LlmTimeoutError, LlmError, "The request timed out.");
create_exception!(
    liter_llm,
    NetworkError,
    LlmError,
    "Network-level failure (connection refused or reset, DNS)."
);
create_exception!(liter_llm, StreamingError, LlmError, "The stream broke before its end.");
create_exception!(
    liter_llm,
    EndpointNotSupportedError,
    LlmError,
    "The provider does not support the endpoint."
);
create_exception!(
    liter_llm,
    InvalidHeaderError,
    LlmError,
    "A header name or value is invalid."
);
create_exception!(
    liter_llm,
    SerializationError,
    LlmError,
    "A body could not be serialised or parsed."
);
create_exception!(
    liter_llm,
    ResponseTooLargeError,
    LlmError,
    "A server sent more than a size limit allows (max_response_bytes, max_download_bytes, max_stream_event_bytes)."
);
create_exception!(
    liter_llm,
    RequestCancelledError,
    LlmError,
    "The request never ran: its provider batch job was cancelled first."
);

/// Attributes every `LlmError` carries; class-level defaults are `None`.
const ATTRIBUTES: [&str; 6] = ["status_code", "body", "request_id", "provider", "model", "retry_after"];

/// Adds the exception classes to the module and gives `LlmError` its attribute defaults.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let base = py.get_type::<LlmError>();
    for attr in ATTRIBUTES {
        base.setattr(attr, py.None())?;
    }
    let classes: [(&str, Bound<'_, PyType>); 17] = [
        ("LlmError", base),
        ("AuthenticationError", py.get_type::<AuthenticationError>()),
        ("RateLimitedError", py.get_type::<RateLimitedError>()),
        ("BadRequestError", py.get_type::<BadRequestError>()),
        (
            "ContextWindowExceededError",
            py.get_type::<ContextWindowExceededError>(),
        ),
        ("ContentPolicyError", py.get_type::<ContentPolicyError>()),
        ("NotFoundError", py.get_type::<NotFoundError>()),
        ("ServerError", py.get_type::<ServerError>()),
        ("ServiceUnavailableError", py.get_type::<ServiceUnavailableError>()),
        ("LlmTimeoutError", py.get_type::<LlmTimeoutError>()),
        ("NetworkError", py.get_type::<NetworkError>()),
        ("StreamingError", py.get_type::<StreamingError>()),
        ("EndpointNotSupportedError", py.get_type::<EndpointNotSupportedError>()),
        ("InvalidHeaderError", py.get_type::<InvalidHeaderError>()),
        ("SerializationError", py.get_type::<SerializationError>()),
        ("ResponseTooLargeError", py.get_type::<ResponseTooLargeError>()),
        ("RequestCancelledError", py.get_type::<RequestCancelledError>()),
    ];
    for (name, class) in classes {
        m.add(name, class)?;
    }
    Ok(())
}

fn class_of(py: Python<'_>, kind: Kind) -> Bound<'_, PyType> {
    match kind {
        Kind::InvalidArgument => py.get_type::<PyValueError>(),
        Kind::Authentication => py.get_type::<AuthenticationError>(),
        Kind::RateLimited => py.get_type::<RateLimitedError>(),
        Kind::BadRequest => py.get_type::<BadRequestError>(),
        Kind::ContextWindowExceeded => py.get_type::<ContextWindowExceededError>(),
        Kind::ContentPolicy => py.get_type::<ContentPolicyError>(),
        Kind::NotFound => py.get_type::<NotFoundError>(),
        Kind::Server => py.get_type::<ServerError>(),
        Kind::ServiceUnavailable => py.get_type::<ServiceUnavailableError>(),
        Kind::Timeout => py.get_type::<LlmTimeoutError>(),
        Kind::Network => py.get_type::<NetworkError>(),
        Kind::Streaming => py.get_type::<StreamingError>(),
        Kind::EndpointNotSupported => py.get_type::<EndpointNotSupportedError>(),
        Kind::InvalidHeader => py.get_type::<InvalidHeaderError>(),
        Kind::Serialization => py.get_type::<SerializationError>(),
        Kind::ResponseTooLarge => py.get_type::<ResponseTooLargeError>(),
        Kind::Cancelled => py.get_type::<RequestCancelledError>(),
    }
}

/// Builds the Python exception for a core error, with its attributes set.
pub(crate) fn to_exception(py: Python<'_>, err: &Error) -> PyResult<PyErr> {
    let class = class_of(py, err.kind());
    let exc = class.call1((err.to_string(),))?;
    if err.kind() != Kind::InvalidArgument {
        exc.setattr(intern!(py, "status_code"), err.status())?;
        let body = match err.body() {
            Some(b) => value_to_py(py, b)?,
            None => py.None().into_bound(py),
        };
        exc.setattr(intern!(py, "body"), body)?;
        exc.setattr(intern!(py, "request_id"), err.request_id())?;
        exc.setattr(intern!(py, "provider"), err.provider())?;
        exc.setattr(intern!(py, "model"), err.model())?;
        exc.setattr(intern!(py, "retry_after"), err.retry_after().map(|d| d.as_secs_f64()))?;
    }
    Ok(PyErr::from_value(exc))
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        Python::attach(|py| to_exception(py, &err).unwrap_or_else(|e| e))
    }
}
