//! State shared by the mock server handle, its accept loop and every connection: the
//! configured behaviour, counters, the request log, the queue of scripted faults and the store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::faults::Fault;
use super::reply::FALLBACK_REPLY;
use super::store::Store;
use super::RecordedRequest;

/// Locks a mutex, ignoring poisoning (the protected data stays consistent on every path).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Behaviour settings copied from the configuration.
#[derive(Debug)]
pub(crate) struct Behaviour {
    pub(crate) reply: Option<String>,
    pub(crate) latency: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) stream_chunks: Option<usize>,
    pub(crate) stream_pieces: Option<Vec<String>>,
    pub(crate) record: bool,
    pub(crate) max_embedding_inputs: usize,
    pub(crate) batch_delay: Option<Duration>,
}

/// State shared by the server handle, the accept loop and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) behaviour: Behaviour,
    pub(crate) started: Instant,
    /// Sequence for ids; never reset so ids stay unique.
    pub(crate) seq: AtomicU64,
    pub(crate) count: AtomicU64,
    pub(crate) log: Mutex<Vec<RecordedRequest>>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    /// Number of queued faults, read without locking on the hot path.
    pub(crate) pending: AtomicUsize,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) listener_closed: AtomicBool,
    pub(crate) live: AtomicUsize,
    /// Files, batches and stored responses.
    pub(crate) store: Mutex<Store>,
}

impl Shared {
    /// The configured stream pieces, unless the fault scripts its own reply.
    pub(crate) fn stream_pieces(&self, fault: &Fault) -> Option<&[String]> {
        if fault.reply.is_some() {
            None
        } else {
            self.behaviour.stream_pieces.as_deref()
        }
    }

    /// The reply text: the configured stream pieces joined, else the fault's reply, the
    /// configured reply, what `echo` gives (the provider's idea of the last user turn), or the
    /// fallback greeting.
    pub(crate) fn reply_text(&self, fault: &Fault, echo: impl FnOnce() -> Option<String>) -> String {
        match self.stream_pieces(fault) {
            Some(pieces) => pieces.concat(),
            None => fault
                .reply
                .clone()
                .or_else(|| self.behaviour.reply.clone())
                .or_else(echo)
                .unwrap_or_else(|| FALLBACK_REPLY.to_owned()),
        }
    }

    pub(crate) fn new(behaviour: Behaviour) -> Self {
        Shared {
            behaviour,
            started: Instant::now(),
            seq: AtomicU64::new(0),
            count: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            pending: AtomicUsize::new(0),
            shutdown: watch::channel(false).0,
            listener_closed: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            store: Mutex::new(Store::default()),
        }
    }

    pub(crate) fn pop_fault(&self) -> Option<Fault> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut faults = lock(&self.faults);
        let fault = faults.pop_front();
        self.pending.store(faults.len(), Ordering::Release);
        fault
    }
}
