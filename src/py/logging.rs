//! Forwards the core's `log` records (target `liter_llm`, or one of our modules' paths, which
//! start with `_liter_llm`) to Python's `logging.getLogger("liter_llm")`.
//!
//! The logger gets a `NullHandler`, as libraries should. Only our own records are forwarded, at
//! INFO and above; `logging` is imported on the first record, so importing `liter_llm` stays cheap.
//! Records emitted while the interpreter is shutting down are dropped.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

static LOGGER: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

struct PythonLogger;

impl log::Log for PythonLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        let target = metadata.target();
        target.starts_with("liter_llm") || target.starts_with("_liter_llm")
    }

    fn log(&self, record: &log::Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let level: u8 = match record.level() {
            log::Level::Error => 40,
            log::Level::Warn => 30,
            log::Level::Info => 20,
            log::Level::Debug => 10,
            log::Level::Trace => 5,
        };
        let message = record.args().to_string();
        Python::try_attach(|py| {
            let logger = LOGGER.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
                let logging = py.import("logging")?;
                let logger = logging.call_method1("getLogger", ("liter_llm",))?;
                // A library logs but never prints: without this, WARNING records would reach
                // stderr through logging's last-resort handler when the app configured nothing.
                logger.call_method1("addHandler", (logging.call_method0("NullHandler")?,))?;
                Ok(logger.unbind())
            });
            if let Ok(logger) = logger {
                if let Err(err) = logger.call_method1(py, "log", (level, message)) {
                    err.write_unraisable(py, None);
                }
            }
        });
    }

    fn flush(&self) {}
}

static PYTHON_LOGGER: PythonLogger = PythonLogger;

/// Installs the forwarder (once per process; a no-op if another logger is installed).
pub fn install() {
    if log::set_logger(&PYTHON_LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}
