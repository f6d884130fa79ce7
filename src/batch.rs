//! The batch runner: many requests through a bounded pool of workers, all scheduled in Rust.
//!
//! [`Pool::start`] spawns `concurrency` worker tasks (default [`DEFAULT_CONCURRENCY`], never more
//! than there are items). Each worker takes the next input index from one shared atomic counter,
//! runs the item (retries included, as configured on the client; rate limits apply inside
//! `Client::send`), records it in the batch's [`BatchStats`] and sends `(index, result)` down a
//! channel. There is one task per worker, not per item, and nothing per item crosses into Python.
//!
//! Results can be taken as they finish ([`Pool::next`], [`Pool::recv_many`]) or all at once in
//! input order ([`Pool::collect`]). Dropping the pool aborts every worker, which drops the
//! requests in flight (their connections are closed).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client::{Client, Request};
use crate::error::{Error, Kind, Result};
use crate::progress::{BatchStats, ProgressDisplay};
use crate::types::{ChatCompletionResponse, EmbeddingResponse};

/// Workers per batch when the caller does not say.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// What the batch statistics read from a successful item.
pub trait Outcome {
    /// Tokens the item used (prompt plus completion).
    fn tokens(&self) -> u64;
    /// What the item cost in USD, when known.
    fn cost(&self) -> Option<f64> {
        None
    }
}

impl Outcome for ChatCompletionResponse {
    fn tokens(&self) -> u64 {
        self.usage.as_ref().map_or(0, |u| u.total_tokens)
    }
    fn cost(&self) -> Option<f64> {
        self.cost
    }
}

impl Outcome for EmbeddingResponse {
    fn tokens(&self) -> u64 {
        self.usage.total_tokens.max(self.usage.prompt_tokens)
    }
}

/// How a batch runs.
#[derive(Clone, Debug, Default)]
pub struct BatchOptions {
    /// Workers; `None` means [`default_concurrency`].
    pub concurrency: Option<usize>,
    /// Show progress under this label (a bar on a terminal, log lines otherwise).
    pub progress: Option<String>,
}

/// The number of workers a batch on `client` uses by default.
///
/// [`DEFAULT_CONCURRENCY`], lowered to the rate limiter's global concurrency cap when the
/// client has one (more workers would only wait inside the limiter).
pub fn default_concurrency(client: &Client) -> usize {
    client
        .config()
        .rate_limiter
        .as_ref()
        .and_then(|limiter| limiter.config().global.max_concurrency)
        .and_then(|cap| usize::try_from(cap).ok())
        .map_or(DEFAULT_CONCURRENCY, |cap| cap.clamp(1, DEFAULT_CONCURRENCY))
}

/// A running batch. Dropping it cancels the items not finished yet.
pub struct Pool<T> {
    rx: mpsc::UnboundedReceiver<(usize, Result<T>)>,
    tasks: JoinSet<()>,
    stats: Arc<BatchStats>,
    display: Option<Arc<ProgressDisplay>>,
    aborts: Canceller,
    total: usize,
    received: usize,
}

impl<T> std::fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("total", &self.total)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Outcome + Send + 'static> Pool<T> {
    /// Starts running `work` over `items` with at most `concurrency` in flight (clamped to
    /// 1..=items). Works from inside or outside the runtime.
    pub fn start<I, F, Fut>(items: Vec<I>, concurrency: usize, progress: Option<String>, work: F) -> Self
    where
        I: Send + 'static,
        F: Fn(I) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
    {
        let total = items.len();
        let stats = Arc::new(BatchStats::new(total));
        let display = progress.map(|label| Arc::new(ProgressDisplay::start(label, Arc::clone(&stats))));
        let (tx, rx) = mpsc::unbounded_channel();
        let mut tasks = JoinSet::new();
        let mut aborts = Vec::new();
        let slots: Arc<[Mutex<Option<I>>]> = items.into_iter().map(|i| Mutex::new(Some(i))).collect();
        let next = Arc::new(AtomicUsize::new(0));
        let work = Arc::new(work);
        let handle = tokio::runtime::Handle::try_current().unwrap_or_else(|_| crate::runtime::get().handle().clone());
        for _ in 0..concurrency.clamp(1, total.max(1)).min(total) {
            let (slots, next, work, tx, stats) = (
                Arc::clone(&slots),
                Arc::clone(&next),
                Arc::clone(&work),
                tx.clone(),
                Arc::clone(&stats),
            );
            let display = display.clone();
            let abort = tasks.spawn_on(
                async move {
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(slot) = slots.get(index) else { break };
                        let Some(item) = lock(slot).take() else { continue };
                        let started = Instant::now();
                        let result = work(item).await;
                        let (ok, tokens, cost) = match &result {
                            Ok(v) => (true, v.tokens(), v.cost()),
                            Err(_) => (false, 0, None),
                        };
                        if stats.record(index, started.elapsed(), ok, tokens, cost) {
                            stats.end();
                            if let Some(d) = &display {
                                d.finish();
                            }
                        }
                        if tx.send((index, result)).is_err() {
                            break;
                        }
                    }
                },
                &handle,
            );
            aborts.push(abort);
        }
        if total == 0 {
            stats.end();
            if let Some(d) = &display {
                d.finish();
            }
        }
        Pool {
            rx,
            tasks,
            stats,
            display,
            aborts: Canceller(Arc::from(aborts)),
            total,
            received: 0,
        }
    }

    /// Items in the batch.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Items not handed out yet by `next`/`recv_many`/`try_next`.
    pub fn remaining(&self) -> usize {
        self.total().saturating_sub(self.received)
    }

    /// A handle that cancels the batch from anywhere, even while the pool is borrowed.
    pub fn canceller(&self) -> Canceller {
        self.aborts.clone()
    }

    /// The batch's live counters.
    pub fn stats(&self) -> &Arc<BatchStats> {
        &self.stats
    }

    /// The next finished item, in completion order; `None` once all were handed out.
    pub async fn next(&mut self) -> Option<(usize, Result<T>)> {
        if self.remaining() == 0 {
            return None;
        }
        let item = self.rx.recv().await;
        self.received += usize::from(item.is_some());
        item
    }

    /// A finished item if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<(usize, Result<T>)> {
        let item = self.rx.try_recv().ok();
        self.received += usize::from(item.is_some());
        item
    }

    /// Waits for at least one finished item and appends every ready one (up to `limit`) to
    /// `out`. Returns how many were appended; 0 means the batch is exhausted.
    pub async fn recv_many(&mut self, out: &mut Vec<(usize, Result<T>)>, limit: usize) -> usize {
        if self.remaining() == 0 {
            return 0;
        }
        let n = self.rx.recv_many(out, limit.max(1)).await;
        self.received += n;
        n
    }

    /// Waits for every item and returns the results in input order. With `fail_fast` the first
    /// error (in completion order) is returned at once and the remaining items are cancelled.
    ///
    /// # Errors
    /// With `fail_fast`, the first failure.
    pub async fn collect(mut self, fail_fast: bool) -> Result<Vec<Result<T>>> {
        let mut slots: Vec<Option<Result<T>>> = std::iter::repeat_with(|| None).take(self.total()).collect();
        while let Some((index, result)) = self.next().await {
            if fail_fast {
                if let Err(err) = result {
                    return Err(err);
                }
            }
            if let Some(slot) = slots.get_mut(index) {
                *slot = Some(result);
            }
        }
        Ok(slots
            .into_iter()
            .map(|slot| slot.unwrap_or_else(|| Err(Error::new(Kind::Server, "a batch worker stopped unexpectedly"))))
            .collect())
    }
}

/// Cancels a batch's workers (see [`Pool::canceller`]).
#[derive(Clone, Debug)]
pub struct Canceller(Arc<[tokio::task::AbortHandle]>);

impl Canceller {
    /// Aborts every worker; requests in flight are dropped. Idempotent.
    pub fn cancel(&self) {
        for handle in self.0.iter() {
            handle.abort();
        }
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        self.tasks.abort_all();
        self.stats.end();
        if let Some(d) = &self.display {
            d.finish();
        }
    }
}

impl Client {
    /// Starts a batch of chat completions on this client.
    pub fn chat_pool(self: &Arc<Self>, requests: Vec<Request>, options: BatchOptions) -> Pool<ChatCompletionResponse> {
        let concurrency = options.concurrency.unwrap_or_else(|| default_concurrency(self));
        let client = Arc::clone(self);
        Pool::start(requests, concurrency, options.progress, move |request| {
            let client = Arc::clone(&client);
            async move { client.chat(request).await }
        })
    }

    /// Runs a batch of chat completions; results in input order (see [`Pool::collect`]).
    ///
    /// # Errors
    /// With `fail_fast`, the first failure; the other requests are cancelled.
    pub async fn chat_batch(
        self: &Arc<Self>,
        requests: Vec<Request>,
        options: BatchOptions,
        fail_fast: bool,
    ) -> Result<Vec<Result<ChatCompletionResponse>>> {
        self.chat_pool(requests, options).collect(fail_fast).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[derive(Debug)]
    struct Tokens(u64);

    impl Outcome for Tokens {
        fn tokens(&self) -> u64 {
            self.0
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        crate::runtime::get().block_on(f)
    }

    #[test]
    fn keeps_input_order_and_bounds_concurrency() {
        let live = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (l, p) = (Arc::clone(&live), Arc::clone(&peak));
        let pool = Pool::start((0..50u64).collect(), 4, None, move |i| {
            let (l, p) = (Arc::clone(&l), Arc::clone(&p));
            async move {
                let now = l.fetch_add(1, Ordering::SeqCst) + 1;
                p.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis((50 - i) % 7)).await;
                l.fetch_sub(1, Ordering::SeqCst);
                if i % 10 == 3 {
                    Err(Error::new(Kind::Server, format!("item {i}")))
                } else {
                    Ok(Tokens(i))
                }
            }
        });
        let stats = Arc::clone(pool.stats());
        let results = run(pool.collect(false)).unwrap();
        assert_eq!(results.len(), 50);
        for (i, r) in results.iter().enumerate() {
            match r {
                Ok(t) => assert_eq!(t.0, i as u64),
                Err(e) => assert_eq!(e.message(), format!("item {i}")),
            }
        }
        assert!(peak.load(Ordering::SeqCst) <= 4);
        let snap = stats.snapshot();
        assert_eq!((snap.done, snap.errors), (50, 5));
        assert_eq!(snap.tokens, (0..50).filter(|i| i % 10 != 3).sum::<u64>());
    }

    #[test]
    fn fail_fast_returns_the_first_error_and_cancels_the_rest() {
        let started = Arc::new(AtomicUsize::new(0));
        let s = Arc::clone(&started);
        let pool = Pool::start((0..100u64).collect(), 2, None, move |i| {
            let s = Arc::clone(&s);
            async move {
                s.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                if i == 5 {
                    Err(Error::new(Kind::BadRequest, "bad"))
                } else {
                    Ok(Tokens(0))
                }
            }
        });
        let err = run(pool.collect(true)).unwrap_err();
        assert_eq!(err.kind(), Kind::BadRequest);
        std::thread::sleep(Duration::from_millis(30));
        assert!(started.load(Ordering::SeqCst) < 20);
    }

    #[test]
    fn empty_batches_and_streaming_results() {
        let pool: Pool<Tokens> = Pool::start(Vec::<u64>::new(), 8, None, |i| async move { Ok(Tokens(i)) });
        assert!(run(pool.collect(false)).unwrap().is_empty());
        let mut pool = Pool::start((0..10u64).collect(), 3, None, |i| async move { Ok(Tokens(i)) });
        let mut seen = Vec::new();
        run(async {
            let mut buf = Vec::new();
            while pool.recv_many(&mut buf, 4).await > 0 {
                seen.extend(buf.drain(..).map(|(i, _)| i));
            }
        });
        seen.sort_unstable();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(pool.remaining(), 0);
    }
}
