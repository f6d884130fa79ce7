//! Usage and cost tracking: a [`UsageTracker`] updated lock-free for every call, and
//! [`TokenBreakdown`], which reads the token classes out of a provider's usage object.
//!
//! **Counters** are relaxed atomics: calls, failures, retries, prompt/completion/cached/
//! cache-write/reasoning/total tokens, cost in nano-dollars (integer, so sums are exact and
//! order-independent up to $18 billion), calls without a known price, and latency and
//! time-to-first-token sums. A per-model breakdown lives in a read-mostly map
//! (`RwLock<HashMap<String, Arc<Stats>>>`): the hot path takes the read lock only to find the
//! model's `Arc`, and the write lock once per new model.
//!
//! **Latency and TTFT percentiles** come from a lock-free log-bucket [`Histogram`] in
//! microseconds, within ±3.2% of the true value (see `histogram.rs` for its resolution).
//! Token counts are read by [`TokenBreakdown`] (`tokens.rs`).
//!
//! **Which calls count where.** `calls` counts every recorded call, failures included;
//! latency statistics cover successful calls only (failed calls' latency is summed separately);
//! TTFT statistics cover the calls that reported one (streams). `reset()` zeroes everything;
//! updates racing with it may land on either side.

mod histogram;
mod tokens;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::types::Usage;

pub use histogram::Histogram;
pub use tokens::{plausible_tokens, TokenBreakdown, MAX_CALL_TOKENS};

use histogram::micros;

/// Adds `n` to a counter, stopping at `u64::MAX` instead of wrapping.
fn add(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_add(n)));
}

/// Counters for one scope (all calls, one model or one deployment).
#[derive(Default)]
pub struct Stats {
    calls: AtomicU64,
    failures: AtomicU64,
    retries: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
    cached_tokens: AtomicU64,
    cache_write_tokens: AtomicU64,
    reasoning_tokens: AtomicU64,
    total_tokens: AtomicU64,
    cost_nano: AtomicU64,
    unpriced_calls: AtomicU64,
    failure_latency_us: AtomicU64,
    cache_hits: AtomicU64,
    cache_saved_tokens: AtomicU64,
    cache_saved_nano: AtomicU64,
    latency: Histogram,
    ttft: Histogram,
}

/// Nano-dollars of a cost in USD (negative and non-finite costs count as zero).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn nano(cost: f64) -> u64 {
    if cost.is_finite() && cost > 0.0 {
        (cost * 1e9).round() as u64
    } else {
        0
    }
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stats")
            .field("calls", &self.calls.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl Stats {
    pub(crate) fn success(
        &self,
        t: &TokenBreakdown,
        latency: Duration,
        ttft: Option<Duration>,
        retries: u32,
        cost: Option<f64>,
    ) {
        self.spent(t, cost);
        add(&self.retries, u64::from(retries));
        self.latency.record(latency);
        if let Some(t) = ttft {
            self.ttft.record(t);
        }
        add(&self.calls, 1);
    }

    /// Counts the tokens and cost of one successful call.
    fn spent(&self, t: &TokenBreakdown, cost: Option<f64>) {
        add(&self.prompt_tokens, t.prompt);
        add(&self.completion_tokens, t.completion);
        add(&self.cached_tokens, t.cached);
        add(&self.cache_write_tokens, t.cache_write.saturating_add(t.cache_write_1h));
        add(&self.reasoning_tokens, t.reasoning);
        add(&self.total_tokens, t.total());
        match cost {
            Some(c) => {
                add(&self.cost_nano, nano(c));
            }
            None => {
                add(&self.unpriced_calls, 1);
            }
        }
    }

    /// One request of a provider batch job: counted with its tokens and cost (`None` for a
    /// failed one), but not in the latency histograms (it waited hours in a queue).
    fn batch_item(&self, spent: Option<(&TokenBreakdown, Option<f64>)>) {
        match spent {
            Some((t, cost)) => self.spent(t, cost),
            None => add(&self.failures, 1),
        }
        add(&self.calls, 1);
    }

    pub(crate) fn cache_hit(&self, tokens: u64, saved: Option<f64>) {
        add(&self.cache_hits, 1);
        add(&self.cache_saved_tokens, tokens);
        add(&self.cache_saved_nano, saved.map_or(0, nano));
    }

    pub(crate) fn failure(&self, latency: Duration, retries: u32) {
        add(&self.retries, u64::from(retries));
        add(&self.failure_latency_us, micros(latency));
        add(&self.failures, 1);
        add(&self.calls, 1);
    }

    fn reset(&self) {
        for a in [
            &self.calls,
            &self.failures,
            &self.retries,
            &self.prompt_tokens,
            &self.completion_tokens,
            &self.cached_tokens,
            &self.cache_write_tokens,
            &self.reasoning_tokens,
            &self.total_tokens,
            &self.cost_nano,
            &self.unpriced_calls,
            &self.failure_latency_us,
            &self.cache_hits,
            &self.cache_saved_tokens,
            &self.cache_saved_nano,
        ] {
            a.store(0, Relaxed);
        }
        self.latency.reset();
        self.ttft.reset();
    }

    /// A point-in-time copy of the counters.
    #[allow(clippy::cast_precision_loss)]
    pub fn snapshot(&self) -> StatsSnapshot {
        let failures = self.failures.load(Relaxed);
        StatsSnapshot {
            calls: self.calls.load(Relaxed),
            failures,
            retries: self.retries.load(Relaxed),
            prompt_tokens: self.prompt_tokens.load(Relaxed),
            completion_tokens: self.completion_tokens.load(Relaxed),
            cached_tokens: self.cached_tokens.load(Relaxed),
            cache_write_tokens: self.cache_write_tokens.load(Relaxed),
            reasoning_tokens: self.reasoning_tokens.load(Relaxed),
            total_tokens: self.total_tokens.load(Relaxed),
            total_cost: self.cost_nano.load(Relaxed) as f64 / 1e9,
            unpriced_calls: self.unpriced_calls.load(Relaxed),
            mean_latency: self.latency.mean(),
            p50_latency: self.latency.percentile(50.0),
            p95_latency: self.latency.percentile(95.0),
            p99_latency: self.latency.percentile(99.0),
            max_latency: self.latency.percentile(100.0),
            mean_failure_latency: (failures > 0)
                .then(|| self.failure_latency_us.load(Relaxed) as f64 / failures as f64 / 1e6),
            streams: self.ttft.count(),
            mean_ttft: self.ttft.mean(),
            p50_ttft: self.ttft.percentile(50.0),
            p95_ttft: self.ttft.percentile(95.0),
            cache_hits: self.cache_hits.load(Relaxed),
            cache_saved_tokens: self.cache_saved_tokens.load(Relaxed),
            cache_saved_cost: self.cache_saved_nano.load(Relaxed) as f64 / 1e9,
        }
    }

    /// Latency histogram of successful calls.
    pub fn latency(&self) -> &Histogram {
        &self.latency
    }

    /// Time-to-first-token histogram of streams.
    pub fn ttft(&self) -> &Histogram {
        &self.ttft
    }
}

/// Plain values read from a [`Stats`]; times in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatsSnapshot {
    /// Calls recorded, failures included.
    pub calls: u64,
    /// Calls that failed.
    pub failures: u64,
    /// Retries made, over all calls.
    pub retries: u64,
    /// Prompt tokens (cache reads and writes included).
    pub prompt_tokens: u64,
    /// Completion tokens (reasoning included).
    pub completion_tokens: u64,
    /// Cache-read prompt tokens.
    pub cached_tokens: u64,
    /// Cache-write prompt tokens.
    pub cache_write_tokens: u64,
    /// Reasoning tokens.
    pub reasoning_tokens: u64,
    /// Prompt plus completion tokens.
    pub total_tokens: u64,
    /// Cost in USD of the priced calls.
    pub total_cost: f64,
    /// Successful calls whose cost was unknown (not in `total_cost`).
    pub unpriced_calls: u64,
    /// Mean latency of successful calls.
    pub mean_latency: Option<f64>,
    /// Median latency.
    pub p50_latency: Option<f64>,
    /// 95th-percentile latency.
    pub p95_latency: Option<f64>,
    /// 99th-percentile latency.
    pub p99_latency: Option<f64>,
    /// Largest latency.
    pub max_latency: Option<f64>,
    /// Mean time until a failed call gave up.
    pub mean_failure_latency: Option<f64>,
    /// Calls that reported a time to first token.
    pub streams: u64,
    /// Mean time to first token.
    pub mean_ttft: Option<f64>,
    /// Median time to first token.
    pub p50_ttft: Option<f64>,
    /// 95th-percentile time to first token.
    pub p95_ttft: Option<f64>,
    /// Calls answered from the response cache (not in `calls`, tokens or cost).
    pub cache_hits: u64,
    /// Tokens the cache hits' original calls used.
    pub cache_saved_tokens: u64,
    /// What the cache hits' original calls cost in USD, where priced.
    pub cache_saved_cost: f64,
}

fn opt(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

impl StatsSnapshot {
    /// Successful calls.
    pub fn successes(&self) -> u64 {
        self.calls - self.failures.min(self.calls)
    }

    /// The snapshot as a JSON object with the field names above plus `successes`.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("calls".into(), self.calls.into());
        m.insert("successes".into(), self.successes().into());
        m.insert("failures".into(), self.failures.into());
        m.insert("retries".into(), self.retries.into());
        m.insert("prompt_tokens".into(), self.prompt_tokens.into());
        m.insert("completion_tokens".into(), self.completion_tokens.into());
        m.insert("cached_tokens".into(), self.cached_tokens.into());
        m.insert("cache_write_tokens".into(), self.cache_write_tokens.into());
        m.insert("reasoning_tokens".into(), self.reasoning_tokens.into());
        m.insert("total_tokens".into(), self.total_tokens.into());
        m.insert("total_cost".into(), self.total_cost.into());
        m.insert("unpriced_calls".into(), self.unpriced_calls.into());
        m.insert("mean_latency".into(), opt(self.mean_latency));
        m.insert("p50_latency".into(), opt(self.p50_latency));
        m.insert("p95_latency".into(), opt(self.p95_latency));
        m.insert("p99_latency".into(), opt(self.p99_latency));
        m.insert("max_latency".into(), opt(self.max_latency));
        m.insert("mean_failure_latency".into(), opt(self.mean_failure_latency));
        m.insert("streams".into(), self.streams.into());
        m.insert("mean_ttft".into(), opt(self.mean_ttft));
        m.insert("p50_ttft".into(), opt(self.p50_ttft));
        m.insert("p95_ttft".into(), opt(self.p95_ttft));
        m.insert("cache_hits".into(), self.cache_hits.into());
        m.insert("cache_saved_tokens".into(), self.cache_saved_tokens.into());
        m.insert("cache_saved_cost".into(), self.cache_saved_cost.into());
        m
    }
}

/// Usage of every call made through a client, updated lock-free from any thread.
#[derive(Default)]
pub struct UsageTracker {
    all: Stats,
    models: RwLock<HashMap<String, Arc<Stats>>>,
    deployments: RwLock<HashMap<String, Arc<Stats>>>,
}

impl fmt::Debug for UsageTracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageTracker").field("totals", &self.totals()).finish()
    }
}

impl UsageTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    fn model(&self, model: &str) -> Arc<Stats> {
        entry(&self.models, model)
    }

    /// The counters of one deployment (by id), created on first use.
    pub fn deployment(&self, id: &str) -> Arc<Stats> {
        entry(&self.deployments, id)
    }

    /// Records a successful call: its usage (`None` when the provider sent none), the latency
    /// from sending to the full response (or stream end), the time to the first chunk for
    /// streams, the retries it took and its cost (`None` when unknown).
    pub fn record_success(
        &self,
        model: &str,
        usage: Option<&Usage>,
        latency: Duration,
        ttft: Option<Duration>,
        retries: u32,
        cost: Option<f64>,
    ) {
        let t = usage.and_then(TokenBreakdown::from_usage).unwrap_or_default();
        self.all.success(&t, latency, ttft, retries, cost);
        self.model(model).success(&t, latency, ttft, retries, cost);
    }

    /// Records a successful call whose tokens are already broken down.
    pub fn record_tokens(
        &self,
        model: &str,
        tokens: &TokenBreakdown,
        latency: Duration,
        ttft: Option<Duration>,
        retries: u32,
        cost: Option<f64>,
    ) {
        self.all.success(tokens, latency, ttft, retries, cost);
        self.model(model).success(tokens, latency, ttft, retries, cost);
    }

    /// Records one request of a provider batch job: its tokens and cost (at the batch price)
    /// when it succeeded, `None` when it failed. No latency is recorded.
    pub fn record_batch_item(&self, model: &str, spent: Option<(&TokenBreakdown, Option<f64>)>) {
        self.all.batch_item(spent);
        self.model(model).batch_item(spent);
    }

    /// Records a call answered from the response cache: counted apart from calls, charged
    /// nothing; the original call's tokens and cost (`saved`) are kept as saved.
    pub fn record_cache_hit(&self, model: &str, usage: Option<&Usage>, saved: Option<f64>) {
        let tokens = usage.and_then(TokenBreakdown::from_usage).map_or(0, |t| t.total());
        self.all.cache_hit(tokens, saved);
        self.model(model).cache_hit(tokens, saved);
    }

    /// Records a failed call (after its last retry).
    pub fn record_failure(&self, model: &str, latency: Duration, retries: u32) {
        self.all.failure(latency, retries);
        self.model(model).failure(latency, retries);
    }

    /// Counters over all models.
    pub fn stats(&self) -> &Stats {
        &self.all
    }

    /// A snapshot over all models.
    pub fn totals(&self) -> StatsSnapshot {
        self.all.snapshot()
    }

    /// A snapshot per model, sorted by model name.
    pub fn per_model(&self) -> Vec<(String, StatsSnapshot)> {
        snapshots(&self.models)
    }

    /// A snapshot per deployment of a routed group, sorted by deployment id.
    pub fn per_deployment(&self) -> Vec<(String, StatsSnapshot)> {
        snapshots(&self.deployments)
    }

    /// Latency percentile (0–100) of successful calls, in seconds.
    pub fn latency_at_percentile(&self, p: f64) -> Option<f64> {
        self.all.latency.percentile(p)
    }

    /// Time-to-first-token percentile (0–100) of streams, in seconds.
    pub fn ttft_at_percentile(&self, p: f64) -> Option<f64> {
        self.all.ttft.percentile(p)
    }

    /// Everything as one JSON object: the totals' fields plus `per_model` and
    /// `per_deployment`.
    pub fn details(&self) -> Map<String, Value> {
        let mut m = self.totals().to_json();
        let json = |rows: Vec<(String, StatsSnapshot)>| {
            Value::Object(rows.into_iter().map(|(k, v)| (k, Value::Object(v.to_json()))).collect())
        };
        m.insert("per_model".into(), json(self.per_model()));
        m.insert("per_deployment".into(), json(self.per_deployment()));
        m
    }

    /// Zeroes every counter and forgets the models and deployments.
    pub fn reset(&self) {
        for map in [&self.models, &self.deployments] {
            map.write().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        }
        self.all.reset();
    }
}

/// The counters under `name`, created on first use.
fn entry(map: &RwLock<HashMap<String, Arc<Stats>>>, name: &str) -> Arc<Stats> {
    {
        let read = map.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(stats) = read.get(name) {
            return stats.clone();
        }
    }
    let mut write = map.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    write.entry(name.to_owned()).or_default().clone()
}

/// A snapshot of every entry, sorted by name.
fn snapshots(map: &RwLock<HashMap<String, Arc<Stats>>>) -> Vec<(String, StatsSnapshot)> {
    let read = map.read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut out: Vec<_> = read.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn secs(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}s"))
}

impl fmt::Display for UsageTracker {
    /// A short multi-line summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.totals();
        writeln!(f, "calls: {} ({} failed, {} retries)", t.calls, t.failures, t.retries)?;
        writeln!(
            f,
            "tokens: {} prompt ({} cached), {} completion ({} reasoning), {} total",
            t.prompt_tokens, t.cached_tokens, t.completion_tokens, t.reasoning_tokens, t.total_tokens
        )?;
        write!(f, "cost: ${:.6}", t.total_cost)?;
        if t.unpriced_calls > 0 {
            write!(f, " ({} calls without a known price)", t.unpriced_calls)?;
        }
        writeln!(f)?;
        write!(
            f,
            "latency: mean {} p50 {} p95 {} p99 {}",
            secs(t.mean_latency),
            secs(t.p50_latency),
            secs(t.p95_latency),
            secs(t.p99_latency)
        )?;
        if t.streams > 0 {
            write!(
                f,
                "\ntime to first token: mean {} p50 {} p95 {} ({} streams)",
                secs(t.mean_ttft),
                secs(t.p50_ttft),
                secs(t.p95_ttft),
                t.streams
            )?;
        }
        for (model, s) in self.per_model() {
            write!(
                f,
                "\n  {model}: {} calls, {} failed, {} tokens, ${:.6}",
                s.calls, s.failures, s.total_tokens, s.total_cost
            )?;
        }
        Ok(())
    }
}
