//! PyO3 bindings: the only place that knows about Python. Defines the `liter_llm._liter_llm` module.

mod batch;
mod call;
pub(crate) mod client;
mod content;
pub mod convert;
mod driver;
mod embeddings;
mod errors;
mod json;
mod logging;
mod mock;
mod parsed;
mod providers;
mod ratelimit;
mod request;
mod sanitize;
mod stream;
mod tokens;
mod types;
mod usage;

use pyo3::prelude::*;

/// The native extension module.
#[pymodule(gil_used = false)]
fn _liter_llm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    logging::install();
    errors::register(m)?;
    types::register(m)?;
    m.add_class::<client::PyLlmClient>()?;
    call::register(m)?;
    m.add_class::<stream::PyChatStream>()?;
    mock::register(m)?;
    m.add_class::<ratelimit::PyRateLimiter>()?;
    batch::register(m)?;
    embeddings::register(m)?;
    usage::register(m)?;
    tokens::register(m)?;
    sanitize::register(m)?;
    Ok(())
}
