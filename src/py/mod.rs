//! PyO3 bindings: the only place that knows about Python. Defines the `liter_llm._liter_llm` module.

mod call;
pub(crate) mod client;
pub mod convert;
mod driver;
mod errors;
mod json;
mod logging;
mod mock;
mod request;
mod stream;
mod types;

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
    Ok(())
}
