//! A call's attempts, kept for callbacks and tracing when the caller asks for them (a
//! [`Trace`] on the request); calls without one record nothing.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use crate::error::Error;

/// One HTTP attempt of a call.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The deployment it went to, for a routed call.
    pub deployment: Option<Arc<str>>,
    /// The provider it went to.
    pub provider: String,
    /// The model it asked for (as routed, with any `provider/` prefix).
    pub model: String,
    /// When it was sent.
    pub start: SystemTime,
    /// When its answer's headers (or its failure) arrived.
    pub end: SystemTime,
    /// Why it failed; `None` for the attempt that answered.
    pub error: Option<Error>,
}

/// The attempts of one logical call, in order, from every deployment it tried.
#[derive(Debug, Default)]
pub struct Trace {
    attempts: Mutex<Vec<Attempt>>,
}

impl Trace {
    /// Adds an attempt.
    pub fn record(&self, attempt: Attempt) {
        self.attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(attempt);
    }

    /// The attempts so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}
