//! The process-wide tokio runtime that drives every client, stream and mock server.
//!
//! It is created lazily on first use with two worker threads (the hot path is I/O bound) and is
//! never dropped, so interpreter shutdown never waits on it.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Returns the shared runtime, building it on first call.
///
/// # Panics
/// Only if the OS refuses to spawn the worker threads, which leaves nothing to run on.
pub fn get() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
        Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("liter-llm-io")
            .enable_all()
            .build()
            .expect("failed to start the liter_llm I/O runtime")
    })
}
