//! The process-wide tokio runtime that drives every client, stream and mock server.
//!
//! It is created lazily on first use and is never dropped, so interpreter shutdown never waits
//! on it. Worker threads: `LITER_LLM_IO_THREADS` if set, else one (the work per request is a few
//! microseconds, and one worker avoids cross-thread wake-ups and work stealing).
//!
//! A heartbeat timer ticks every [`HEARTBEAT`] on it. Arming a timer due before the timer
//! driver's next planned wake makes tokio wake the driver (an eventfd write and one more epoll
//! round); every call arms a read timeout, so without a nearer timer each call would pay that.
//! With the heartbeat, the driver always plans to wake within a second, and a call's timeout
//! (longer than that) is only filed.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The heartbeat's period: shorter than any timeout a call normally arms.
const HEARTBEAT: Duration = Duration::from_secs(1);

/// Returns the shared runtime, building it on first call.
///
/// # Panics
/// Only if the OS refuses to spawn the worker threads, which leaves nothing to run on.
pub fn get() -> &'static Runtime {
    RUNTIME.get_or_init(|| {
        let workers = std::env::var("LITER_LLM_IO_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|n| (1..=64).contains(n))
            .unwrap_or(1);
        let runtime = Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("liter-llm-io")
            .enable_all()
            .build()
            .expect("failed to start the liter_llm I/O runtime");
        runtime.spawn(async {
            let mut beat = tokio::time::interval(HEARTBEAT);
            beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                beat.tick().await;
            }
        });
        runtime
    })
}

/// Runs `work` to completion from sync code, on a thread of the runtime or not.
pub fn block<F: std::future::Future>(work: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(_) => tokio::task::block_in_place(|| get().block_on(work)),
        Err(_) => get().block_on(work),
    }
}
