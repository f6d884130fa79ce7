//! Hands results from tokio tasks to asyncio futures, one loop wake-up per batch of results.
//!
//! Each event loop gets a driver: a queue of finished results and a socket pair whose read end
//! is registered with `loop.add_reader`. A tokio task that finishes pushes its result and writes
//! one byte only if no wake-up is pending, so under load a single wake-up delivers many results.
//! Tokio threads never take the GIL on this path; results become Python objects on the loop's
//! own thread. Loops without `add_reader` (Windows' proactor) fall back to `call_soon_threadsafe`.

use std::cell::RefCell;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::FutureExt;
use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyWeakrefReference;

use crate::py::errors::LlmError;
use crate::runtime;

/// The text of a caught panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a task panicked".to_owned())
}

/// Turns a finished result into the future's value (or exception), on the loop thread.
pub type Deliver = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

struct Completion {
    future: Py<PyAny>,
    deliver: Deliver,
}

/// How a driver wakes its loop.
enum Wake {
    #[cfg(unix)]
    Socket(std::os::unix::net::UnixStream),
    Threadsafe,
}

/// State shared by a loop's driver and the tasks that complete into it.
pub struct Shared {
    queue: Mutex<Vec<Completion>>,
    scheduled: AtomicBool,
    wake: Wake,
    /// A weak reference: the loop must be free to die (and take the driver with it).
    event_loop: Py<PyWeakrefReference>,
}

impl Shared {
    fn new(event_loop: &Bound<'_, PyAny>, wake: Wake) -> PyResult<Arc<Self>> {
        Ok(Arc::new(Shared {
            queue: Mutex::new(Vec::new()),
            scheduled: AtomicBool::new(false),
            wake,
            event_loop: PyWeakrefReference::new(event_loop)?.unbind(),
        }))
    }

    fn event_loop<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.event_loop.bind(py).upgrade()
    }

    fn complete(self: &Arc<Self>, completion: Completion) {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(completion);
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.wake();
        }
    }

    fn wake(self: &Arc<Self>) {
        match &self.wake {
            #[cfg(unix)]
            Wake::Socket(sock) => {
                use std::io::Write;
                // At most one byte is ever outstanding, so this cannot block or fill up.
                let _ = (&*sock).write(&[1]);
            }
            Wake::Threadsafe => {
                Python::try_attach(|py| {
                    let Some(event_loop) = self.event_loop(py) else { return };
                    let callback = DriverWakeup {
                        shared: Arc::clone(self),
                        #[cfg(unix)]
                        reader: None,
                    };
                    let _ = event_loop.call_method1(intern!(py, "call_soon_threadsafe"), (callback,));
                });
            }
        }
    }

    /// Delivers every queued result; runs on the loop thread.
    fn drain(&self, py: Python<'_>) {
        self.scheduled.store(false, Ordering::SeqCst);
        let batch = std::mem::take(&mut *self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for Completion { future, deliver } in batch {
            let future = future.bind(py);
            let done = future
                .call_method0(intern!(py, "done"))
                .and_then(|d| d.is_truthy())
                .unwrap_or(true);
            if done {
                continue;
            }
            let outcome = match deliver(py) {
                Ok(value) => future.call_method1(intern!(py, "set_result"), (value,)),
                Err(err) => future.call_method1(intern!(py, "set_exception"), (err.into_value(py),)),
            };
            if let Err(err) = outcome {
                err.write_unraisable(py, Some(future));
            }
        }
    }
}

/// The loop-side reader: `add_reader` calls it when a wake-up byte arrives.
#[pyclass(frozen, module = "liter_llm._liter_llm")]
struct DriverWakeup {
    shared: Arc<Shared>,
    #[cfg(unix)]
    reader: Option<std::os::unix::net::UnixStream>,
}

#[pymethods]
impl DriverWakeup {
    fn __call__(&self, py: Python<'_>) {
        #[cfg(unix)]
        if let Some(reader) = &self.reader {
            use std::io::Read;
            let mut buf = [0u8; 64];
            while matches!((&*reader).read(&mut buf), Ok(n) if n > 0) {}
        }
        self.shared.drain(py);
    }
}

/// Cancels the tokio task when its asyncio future is cancelled.
#[pyclass(frozen, module = "liter_llm._liter_llm")]
struct AbortOnCancel {
    handle: tokio::task::AbortHandle,
}

#[pymethods]
impl AbortOnCancel {
    fn __call__(&self, py: Python<'_>, future: &Bound<'_, PyAny>) -> PyResult<()> {
        if future.call_method0(intern!(py, "cancelled"))?.is_truthy()? {
            self.handle.abort();
        }
        Ok(())
    }
}

static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static REGISTRY: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

thread_local! {
    /// The driver of the loop this thread used last. Never dropped at thread exit (the
    /// interpreter may be gone by then); replaced, and the old one dropped, under the GIL.
    static LAST: RefCell<Option<ManuallyDrop<Arc<Shared>>>> = const { RefCell::new(None) };
}

/// A handle to the running loop's driver.
pub struct Driver {
    shared: Arc<Shared>,
}

impl Driver {
    /// The driver of the running event loop, created on first use.
    ///
    /// # Errors
    /// `RuntimeError` when no event loop is running in this thread.
    pub fn current(py: Python<'_>) -> PyResult<Driver> {
        Self::running(py)?.ok_or_else(|| PyRuntimeError::new_err("no running event loop"))
    }

    /// The driver of the running event loop, or `None` when no loop runs in this thread.
    ///
    /// # Errors
    /// Only if asyncio cannot be imported or the driver cannot be registered.
    pub fn running(py: Python<'_>) -> PyResult<Option<Driver>> {
        let event_loop = GET_RUNNING_LOOP.import(py, "asyncio", "_get_running_loop")?.call0()?;
        if event_loop.is_none() {
            return Ok(None);
        }
        let cached = LAST.with_borrow(|last| {
            last.as_ref()
                .filter(|s| s.event_loop(py).is_some_and(|l| l.is(&event_loop)))
                .map(|s| Arc::clone(s))
        });
        if let Some(shared) = cached {
            return Ok(Some(Driver { shared }));
        }
        let shared = Self::lookup_or_create(py, &event_loop)?;
        let old = LAST.with_borrow_mut(|last| last.replace(ManuallyDrop::new(Arc::clone(&shared))));
        drop(old.map(ManuallyDrop::into_inner));
        Ok(Some(Driver { shared }))
    }

    fn lookup_or_create(py: Python<'_>, event_loop: &Bound<'_, PyAny>) -> PyResult<Arc<Shared>> {
        let registry = REGISTRY.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
            Ok(py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?.unbind())
        })?;
        let registry = registry.bind(py);
        let found = registry.call_method1(intern!(py, "get"), (event_loop,))?;
        if let Ok(found) = found.cast::<DriverWakeup>() {
            return Ok(Arc::clone(&found.get().shared));
        }
        let wakeup = Self::register(py, event_loop)?;
        let shared = Arc::clone(&wakeup.get().shared);
        registry.set_item(event_loop, wakeup)?;
        Ok(shared)
    }

    #[cfg(unix)]
    fn register<'py>(py: Python<'py>, event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, DriverWakeup>> {
        use std::os::fd::AsRawFd;
        let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        let fd = reader.as_raw_fd();
        let shared = Shared::new(event_loop, Wake::Socket(writer))?;
        let wakeup = Bound::new(
            py,
            DriverWakeup {
                shared: Arc::clone(&shared),
                reader: Some(reader),
            },
        )?;
        match event_loop.call_method1(intern!(py, "add_reader"), (fd, &wakeup)) {
            Ok(_) => Ok(wakeup),
            Err(e) if e.is_instance_of::<PyNotImplementedError>(py) => Self::register_threadsafe(py, event_loop),
            Err(e) => Err(e),
        }
    }

    #[cfg(not(unix))]
    fn register<'py>(py: Python<'py>, event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, DriverWakeup>> {
        Self::register_threadsafe(py, event_loop)
    }

    fn register_threadsafe<'py>(py: Python<'py>, event_loop: &Bound<'py, PyAny>) -> PyResult<Bound<'py, DriverWakeup>> {
        let shared = Shared::new(event_loop, Wake::Threadsafe)?;
        Bound::new(
            py,
            DriverWakeup {
                shared,
                #[cfg(unix)]
                reader: None,
            },
        )
    }

    /// Creates a future on this loop, runs `work` on the runtime and resolves the future with
    /// `finish(output)` on the loop thread. Cancelling the future aborts `work`. A panic in
    /// `work` (a bug) resolves the future with an `LlmError` instead of leaving it pending.
    ///
    /// # Errors
    /// Only if asyncio refuses to create the future.
    pub fn spawn<'py, F, T>(
        &self,
        py: Python<'py>,
        work: F,
        finish: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<(Bound<'py, PyAny>, tokio::task::AbortHandle)>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let event_loop = self
            .shared
            .event_loop(py)
            .ok_or_else(|| PyRuntimeError::new_err("the event loop is closed"))?;
        let future = event_loop.call_method0(intern!(py, "create_future"))?;
        let target = future.clone().unbind();
        let shared = Arc::clone(&self.shared);
        let handle = runtime::get().spawn(async move {
            let deliver: Deliver = match AssertUnwindSafe(work).catch_unwind().await {
                Ok(output) => Box::new(move |py| finish(py, output)),
                Err(panic) => {
                    let what = panic_message(panic.as_ref());
                    Box::new(move |_| Err(LlmError::new_err(format!("internal error in liter_llm: {what}"))))
                }
            };
            shared.complete(Completion {
                future: target,
                deliver,
            });
        });
        let abort = handle.abort_handle();
        future.call_method1(
            intern!(py, "add_done_callback"),
            (AbortOnCancel { handle: abort.clone() },),
        )?;
        Ok((future, abort))
    }
}
