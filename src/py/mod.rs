//! PyO3 bindings: the only place that knows about Python. Defines the `liter_llm._liter_llm` module.

mod agent;
mod batch;
mod batch_job;
mod cache;
mod call;
pub(crate) mod client;
mod content;
pub mod convert;
mod driver;
mod embeddings;
mod endpoint_types;
mod endpoints;
mod errors;
mod files;
mod json;
mod logging;
mod mcp;
mod mock;
mod observe;
mod params;
mod parsed;
mod providers;
mod ratelimit;
mod request;
mod sanitize;
mod server;
mod stream;
mod tokens;
mod types;
mod upload;
mod usage;

use pyo3::prelude::*;

/// Every allocation of the extension (Python's own objects keep Python's allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The native extension module.
#[pymodule(gil_used = false)]
fn _liter_llm(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    logging::install();
    errors::register(m)?;
    types::register(m)?;
    m.add_class::<client::PyLlmClient>()?;
    m.add_class::<cache::PyCache>()?;
    call::register(m)?;
    m.add_class::<stream::PyChatStream>()?;
    mock::register(m)?;
    m.add_class::<ratelimit::PyRateLimiter>()?;
    batch::register(m)?;
    batch_job::register(m)?;
    embeddings::register(m)?;
    endpoint_types::register(m)?;
    usage::register(m)?;
    observe::register(m)?;
    tokens::register(m)?;
    sanitize::register(m)?;
    server::register(m)?;
    mcp::register(m)?;
    Ok(())
}
