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
//! **Latency and TTFT percentiles** come from a lock-free log-bucket histogram in microseconds:
//! exact below 32 µs, then 16 linear sub-buckets per power of two up to 2^36 µs (about 19 hours;
//! longer values land in the top bucket). A percentile is the midpoint of its bucket, clamped to
//! the exact observed minimum and maximum, so it is within ±3.2% of the true value (relative
//! resolution 1/16 per bucket); p=0 and p=100 are the exact minimum and maximum. Percentiles
//! use the nearest-rank method and take `p` in 0–100, like numpy and llm-api-client.
//!
//! **Which calls count where.** `calls` counts every recorded call, failures included;
//! latency statistics cover successful calls only (failed calls' latency is summed separately);
//! TTFT statistics cover the calls that reported one (streams). `reset()` zeroes everything;
//! updates racing with it may land on either side.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::types::{ResponseUsage, Usage};

/// The most tokens one call may plausibly report: over three times the largest context window
/// offered today. A larger count from a server is treated as unknown (see [`plausible_tokens`]).
pub const MAX_CALL_TOKENS: u64 = 1 << 25;

/// `tokens` when a single call could have spent them, else `None` (logged once per process): a
/// server's absurd usage must never become a huge rate-limit debt or overflow a counter.
pub fn plausible_tokens(tokens: u64) -> Option<u64> {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if tokens <= MAX_CALL_TOKENS {
        return Some(tokens);
    }
    if !WARNED.swap(true, Relaxed) {
        log::warn!(
            target: "liter_llm",
            "ignoring a response's usage of {tokens} tokens (more than one call can spend); it counts as unknown"
        );
    }
    None
}

/// Adds `n` to a counter, stopping at `u64::MAX` instead of wrapping.
fn add(counter: &AtomicU64, n: u64) {
    let _ = counter.fetch_update(Relaxed, Relaxed, |c| Some(c.saturating_add(n)));
}

/// The token classes of one call's usage, normalised across providers.
///
/// Accepted fields (top level of the usage object, i.e. `Usage.extra`, or inside
/// `prompt_tokens_details` / `completion_tokens_details`):
/// - `prompt_tokens` (or Anthropic's `input_tokens`), `completion_tokens` (or `output_tokens`).
/// - OpenAI, Gemini, xAI, Groq, Mistral: `prompt_tokens_details.cached_tokens` — **included** in
///   `prompt_tokens`. DeepSeek: `prompt_cache_hit_tokens` — included likewise.
/// - Anthropic: `cache_read_input_tokens`, `cache_creation_input_tokens` (top level or in
///   `prompt_tokens_details`), and `cache_creation.ephemeral_1h_input_tokens` — **not** included
///   in the input tokens, billed in addition. When an OpenAI-style `cached_tokens` is also present
///   (gateways that normalise Anthropic usage) the counts are taken as included; if the cache
///   counts exceed the prompt they are taken as separate whatever the shape.
/// - `completion_tokens_details.reasoning_tokens` — part of `completion_tokens` (OpenAI,
///   DeepSeek), except when `total_tokens` equals prompt + completion + reasoning (xAI), where
///   they are added to the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBreakdown {
    /// All prompt tokens: uncached input plus cache reads and writes.
    pub prompt: u64,
    /// Uncached input tokens (billed at the input price).
    pub input: u64,
    /// Cache-read tokens.
    pub cached: u64,
    /// Cache-write tokens at the default (5-minute) duration.
    pub cache_write: u64,
    /// Cache-write tokens at the 1-hour duration (Anthropic).
    pub cache_write_1h: u64,
    /// All output tokens, reasoning included.
    pub completion: u64,
    /// Reasoning tokens (a part of `completion`).
    pub reasoning: u64,
}

impl TokenBreakdown {
    /// Reads the breakdown out of a usage object (see the type docs for the fields accepted);
    /// `None` when a count is past [`MAX_CALL_TOKENS`], since such usage cannot be true.
    pub fn from_usage(u: &Usage) -> Option<Self> {
        Self::read_usage(u).filter(|t| t.is_plausible())
    }

    /// Whether every count is one a single call could spend.
    fn is_plausible(&self) -> bool {
        [
            self.prompt,
            self.completion,
            self.reasoning,
            self.cached,
            self.cache_write,
            self.cache_write_1h,
        ]
        .into_iter()
        .all(|n| plausible_tokens(n).is_some())
    }

    /// The breakdown as reported, `None` when its counts overflow when combined.
    fn read_usage(u: &Usage) -> Option<Self> {
        let extra = Some(&u.extra).map(|m| m as &Map<String, Value>);
        let top = |k: &str| extra.and_then(|m| m.get(k)).and_then(Value::as_u64);
        let details = u.prompt_tokens_details.as_ref();
        let prompt = if u.prompt_tokens > 0 {
            u.prompt_tokens
        } else {
            top("input_tokens").unwrap_or(0)
        };
        let completion = if u.completion_tokens > 0 {
            u.completion_tokens
        } else {
            top("output_tokens").unwrap_or(0)
        };
        let detail = |k: &str| details.and_then(|d| d.extra.get(k)).and_then(Value::as_u64);
        let openai_cached = details
            .and_then(|d| d.cached_tokens)
            .or_else(|| top("prompt_cache_hit_tokens"));
        let read = top("cache_read_input_tokens").or_else(|| detail("cache_read_input_tokens"));
        let write_total = top("cache_creation_input_tokens")
            .or_else(|| detail("cache_creation_input_tokens"))
            .unwrap_or(0);
        let write_1h = extra
            .and_then(|m| m.get("cache_creation"))
            .and_then(|c| c.get("ephemeral_1h_input_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(write_total);
        let cached = openai_cached.or(read).unwrap_or(0);
        let included = openai_cached.is_some() && cached.saturating_add(write_total) <= prompt;
        let (input, prompt_total) = if included {
            (prompt - cached - write_total, prompt)
        } else {
            (prompt, prompt.checked_add(cached)?.checked_add(write_total)?)
        };
        let reasoning = u
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        let separate_reasoning = reasoning > 0
            && u.total_tokens > 0
            && Some(u.total_tokens)
                == u.prompt_tokens
                    .checked_add(u.completion_tokens)
                    .and_then(|n| n.checked_add(reasoning));
        Some(Self {
            prompt: prompt_total,
            input,
            cached,
            cache_write: write_total - write_1h,
            cache_write_1h: write_1h,
            completion: if separate_reasoning {
                completion.checked_add(reasoning)?
            } else {
                completion
            },
            reasoning,
        })
    }

    /// Reads the breakdown out of a Responses API usage object (cached input is a part of
    /// `input_tokens`, reasoning a part of `output_tokens`); `None` past [`MAX_CALL_TOKENS`].
    pub fn from_response_usage(u: &ResponseUsage) -> Option<Self> {
        let cached = u.input_tokens_details.cached_tokens.min(u.input_tokens);
        Some(Self {
            prompt: u.input_tokens,
            input: u.input_tokens - cached,
            cached,
            completion: u.output_tokens,
            reasoning: u.output_tokens_details.reasoning_tokens.min(u.output_tokens),
            ..Self::default()
        })
        .filter(Self::is_plausible)
    }

    /// Prompt plus completion tokens (saturating).
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }
}

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 36;
/// Values below `2 * SUB` get a bucket each; above, `SUB` buckets per power of two up to
/// `2^MAX_EXP`, and one last bucket for everything longer.
const BUCKETS: usize = (2 * SUB + (MAX_EXP as u64 - SUB_BITS as u64 - 1) * SUB + 1) as usize;

/// A lock-free histogram of durations (see the module docs for its resolution).
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 2 * SUB {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= SUB_BITS + 1
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (us >> (exp - SUB_BITS)) & (SUB - 1);
    (2 * SUB + u64::from(exp - SUB_BITS - 1) * SUB + sub) as usize
}

/// The `[low, high)` microsecond range of a bucket.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB {
        return (i, i + 1);
    }
    let exp = (i - 2 * SUB) / SUB + u64::from(SUB_BITS) + 1;
    let sub = (i - 2 * SUB) % SUB;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    let low = (1u64 << exp) + sub * width;
    (low, low + width)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = micros(d);
        self.buckets[bucket_of(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.min_us.fetch_min(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Number of durations recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Mean in seconds, `None` when empty.
    #[allow(clippy::cast_precision_loss)]
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum_us.load(Relaxed) as f64 / n as f64 / 1e6)
    }

    /// The `p`-th percentile (0–100, nearest rank) in seconds; `None` when empty or `p` is not
    /// within 0–100.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if !(0.0..=100.0).contains(&p) {
            return None;
        }
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let (min, max) = (self.min_us.load(Relaxed), self.max_us.load(Relaxed));
        if p == 0.0 {
            return Some(min as f64 / 1e6);
        }
        if p == 100.0 {
            return Some(max as f64 / 1e6);
        }
        let rank = ((p / 100.0 * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bucket_range(i);
                let mid = if high - low == 1 {
                    low as f64
                } else {
                    (low + high) as f64 / 2.0
                };
                return Some(mid.clamp(min as f64, max as f64) / 1e6);
            }
        }
        Some(max as f64 / 1e6)
    }

    fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.sum_us.store(0, Relaxed);
        self.min_us.store(u64::MAX, Relaxed);
        self.max_us.store(0, Relaxed);
    }
}

/// Counters for one scope (all calls, or one model).
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

impl Stats {
    fn success(&self, t: &TokenBreakdown, latency: Duration, ttft: Option<Duration>, retries: u32, cost: Option<f64>) {
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
        add(&self.retries, u64::from(retries));
        self.latency.record(latency);
        if let Some(t) = ttft {
            self.ttft.record(t);
        }
        add(&self.calls, 1);
    }

    fn failure(&self, latency: Duration, retries: u32) {
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
        m
    }
}

/// Usage of every call made through a client, updated lock-free from any thread.
#[derive(Default)]
pub struct UsageTracker {
    all: Stats,
    models: RwLock<HashMap<String, Arc<Stats>>>,
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
        {
            let models = self.models.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(stats) = models.get(model) {
                return stats.clone();
            }
        }
        let mut models = self.models.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        models.entry(model.to_owned()).or_default().clone()
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

    /// Prices a successful call with the pricing table ([`crate::pricing::cost`] on
    /// `price_model`, e.g. the response's `model`, falling back to `model`), records it under
    /// `model`, and returns the cost (`None` when unknown) for the response's `cost`.
    pub fn record_call(
        &self,
        model: &str,
        price_model: Option<&str>,
        usage: Option<&Usage>,
        latency: Duration,
        ttft: Option<Duration>,
        retries: u32,
    ) -> Option<f64> {
        let tokens = usage.and_then(TokenBreakdown::from_usage);
        self.record_priced(model, price_model, tokens.as_ref(), latency, ttft, retries)
    }

    /// As [`UsageTracker::record_call`], with the tokens already broken down (`None` when the
    /// provider reported none: the call is counted, with no tokens and no cost).
    pub fn record_priced(
        &self,
        model: &str,
        price_model: Option<&str>,
        tokens: Option<&TokenBreakdown>,
        latency: Duration,
        ttft: Option<Duration>,
        retries: u32,
    ) -> Option<f64> {
        let info = price_model
            .filter(|m| !m.is_empty())
            .and_then(crate::pricing::lookup)
            .or_else(|| crate::pricing::lookup(model));
        let cost = info.zip(tokens).map(|(info, t)| info.cost_of(t));
        self.record_tokens(
            model,
            tokens.unwrap_or(&TokenBreakdown::default()),
            latency,
            ttft,
            retries,
            cost,
        );
        cost
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
        let models = self.models.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<_> = models.iter().map(|(k, v)| (k.clone(), v.snapshot())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Latency percentile (0–100) of successful calls, in seconds.
    pub fn latency_at_percentile(&self, p: f64) -> Option<f64> {
        self.all.latency.percentile(p)
    }

    /// Time-to-first-token percentile (0–100) of streams, in seconds.
    pub fn ttft_at_percentile(&self, p: f64) -> Option<f64> {
        self.all.ttft.percentile(p)
    }

    /// Everything as one JSON object: the totals' fields plus `per_model`.
    pub fn details(&self) -> Map<String, Value> {
        let mut m = self.totals().to_json();
        let per: Map<String, Value> = self
            .per_model()
            .into_iter()
            .map(|(k, v)| (k, Value::Object(v.to_json())))
            .collect();
        m.insert("per_model".into(), Value::Object(per));
        m
    }

    /// Zeroes every counter and forgets the models.
    pub fn reset(&self) {
        let mut models = self.models.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        models.clear();
        self.all.reset();
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::CompletionTokensDetails;
    use serde_json::json;

    fn usage(v: Value) -> Usage {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last_high = 0;
        for i in 0..BUCKETS {
            let (low, high) = bucket_range(i);
            assert_eq!(low, last_high, "bucket {i}");
            assert!(high > low);
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(high - 1), i);
            // Relative width at most 1/16 above the exact range.
            if low >= 2 * SUB {
                assert!((high - low) * SUB <= low);
            }
            last_high = high;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histogram_percentiles() {
        let h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        for (p, want) in [(50.0, 0.5), (90.0, 0.9), (99.0, 0.99), (1.0, 0.01)] {
            let got = h.percentile(p).unwrap();
            assert!((got - want).abs() / want <= 0.033, "p{p}: {got} vs {want}");
        }
        assert_eq!(h.percentile(0.0), Some(0.001));
        assert_eq!(h.percentile(100.0), Some(1.0));
        assert_eq!(h.percentile(101.0), None);
        assert!((h.mean().unwrap() - 0.5005).abs() < 1e-9);
        // A single value is reported exactly (clamped to min/max).
        let one = Histogram::default();
        one.record(Duration::from_micros(123_456));
        assert_eq!(one.percentile(50.0), Some(0.123_456));
    }

    #[test]
    fn breakdown_of_provider_usage() {
        let openai = breakdown(json!({
            "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60}, "completion_tokens_details": {"reasoning_tokens": 5}}));
        assert_eq!(
            (
                openai.prompt,
                openai.input,
                openai.cached,
                openai.completion,
                openai.reasoning
            ),
            (100, 40, 60, 20, 5)
        );
        let anthropic = breakdown(json!({
            "input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50}));
        assert_eq!(
            (
                anthropic.prompt,
                anthropic.input,
                anthropic.cached,
                anthropic.cache_write
            ),
            (160, 10, 100, 50)
        );
        // A gateway that normalised Anthropic usage into OpenAI's shape: counts are included.
        let gateway = breakdown(json!({
            "prompt_tokens": 160, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 100},
            "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50}));
        assert_eq!(
            (gateway.prompt, gateway.input, gateway.cached, gateway.cache_write),
            (160, 10, 100, 50)
        );
        assert_eq!(
            TokenBreakdown::from_usage(&Usage::default()),
            Some(TokenBreakdown::default())
        );
    }

    fn breakdown(value: Value) -> TokenBreakdown {
        TokenBreakdown::from_usage(&usage(value)).expect("plausible usage")
    }

    #[test]
    fn absurd_usage_is_unknown_and_counters_saturate() {
        let huge = [
            json!({"prompt_tokens": 1e30, "completion_tokens": 1, "total_tokens": 2}),
            json!({"prompt_tokens": 1, "completion_tokens": i64::MAX}),
            json!({"prompt_tokens": 1, "cache_read_input_tokens": u64::MAX, "cache_creation_input_tokens": u64::MAX}),
            json!({"input_tokens": i64::MAX, "output_tokens": 1}),
            json!({"prompt_tokens": 10, "completion_tokens": 10,
                   "completion_tokens_details": {"reasoning_tokens": i64::MAX}, "total_tokens": 30}),
            json!({"prompt_tokens": MAX_CALL_TOKENS + 1}),
        ];
        for value in huge {
            assert_eq!(TokenBreakdown::from_usage(&usage(value.clone())), None, "{value}");
        }
        assert!(TokenBreakdown::from_usage(&usage(json!({"prompt_tokens": MAX_CALL_TOKENS}))).is_some());
        let t = UsageTracker::new();
        let absurd = usage(json!({"prompt_tokens": 1e30, "completion_tokens": 5, "total_tokens": 1e30}));
        t.record_call("gpt-4o-mini", None, Some(&absurd), Duration::from_millis(1), None, 0);
        let snap = t.totals();
        assert_eq!((snap.calls, snap.total_tokens, snap.prompt_tokens), (1, 0, 0));
        let counter = AtomicU64::new(u64::MAX - 1);
        add(&counter, 10);
        assert_eq!(counter.load(Relaxed), u64::MAX);
    }

    #[test]
    fn huge_counts_are_unknown_without_overflowing() {
        let max = u64::MAX;
        let anthropic = usage(json!({"input_tokens": max, "output_tokens": max,
            "cache_read_input_tokens": max, "cache_creation_input_tokens": max}));
        assert_eq!(TokenBreakdown::from_usage(&anthropic), None);
        for total in [max, 2] {
            let openai = Usage {
                prompt_tokens: max,
                completion_tokens: max,
                total_tokens: total,
                completion_tokens_details: Some(CompletionTokensDetails {
                    reasoning_tokens: Some(max),
                    ..CompletionTokensDetails::default()
                }),
                ..Usage::default()
            };
            assert_eq!(TokenBreakdown::from_usage(&openai), None, "{total}");
        }
    }

    #[test]
    fn records_and_summarises() {
        let t = UsageTracker::new();
        let u = usage(
            json!({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 50}}),
        );
        t.record_success(
            "gpt-4o-mini",
            Some(&u),
            Duration::from_millis(200),
            None,
            1,
            Some(0.001),
        );
        t.record_success(
            "gpt-4o-mini",
            Some(&u),
            Duration::from_millis(400),
            Some(Duration::from_millis(50)),
            0,
            Some(0.002),
        );
        t.record_success("local", None, Duration::from_millis(300), None, 0, None);
        t.record_failure("gpt-4o", Duration::from_secs(2), 3);
        let s = t.totals();
        assert_eq!(
            (s.calls, s.failures, s.retries, s.unpriced_calls, s.streams),
            (4, 1, 4, 1, 1)
        );
        assert_eq!(
            (s.prompt_tokens, s.completion_tokens, s.cached_tokens, s.total_tokens),
            (200, 40, 100, 240)
        );
        assert!((s.total_cost - 0.003).abs() < 1e-12);
        assert!((s.mean_latency.unwrap() - 0.3).abs() < 1e-9);
        assert_eq!(s.mean_failure_latency, Some(2.0));
        assert_eq!(s.mean_ttft, Some(0.05));
        let per = t.per_model();
        assert_eq!(
            per.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
            ["gpt-4o", "gpt-4o-mini", "local"]
        );
        assert_eq!(per[1].1.calls, 2);
        let text = t.to_string();
        assert!(text.contains("calls: 4 (1 failed, 4 retries)"), "{text}");
        assert!(text.contains("gpt-4o-mini: 2 calls"), "{text}");
        assert_eq!(t.details()["per_model"]["gpt-4o"]["failures"], 1);
        t.reset();
        assert_eq!(t.totals(), StatsSnapshot::default());
        assert!(t.per_model().is_empty());
    }

    #[test]
    fn record_call_prices_with_the_table() {
        let t = UsageTracker::new();
        let u = usage(json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}));
        let cost = t.record_call(
            "gpt-4o-mini",
            Some("gpt-4o-mini-2024-07-18"),
            Some(&u),
            Duration::from_millis(5),
            None,
            0,
        );
        assert!((cost.unwrap() - (1000.0 * 0.15 + 100.0 * 0.6) / 1e6).abs() < 1e-12);
        assert_eq!(
            t.record_call("my-local", Some(""), Some(&u), Duration::ZERO, None, 0),
            None
        );
        assert_eq!(t.record_call("gpt-4o", None, None, Duration::ZERO, None, 0), None);
        let s = t.totals();
        assert_eq!((s.calls, s.unpriced_calls, s.prompt_tokens), (3, 2, 2000));
        assert!((s.total_cost - cost.unwrap()).abs() < 1e-9);
        assert_eq!(t.per_model()[0].0, "gpt-4o");
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let t = Arc::new(UsageTracker::new());
        let u = usage(json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}));
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (t, u) = (t.clone(), u.clone());
                std::thread::spawn(move || {
                    let model = format!("m{}", i % 3);
                    for j in 0..5_000u64 {
                        if j % 10 == 0 {
                            t.record_failure(&model, Duration::from_millis(j % 7), 1);
                        } else {
                            t.record_success(&model, Some(&u), Duration::from_micros(j), None, 0, Some(0.000_001));
                        }
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        let s = t.totals();
        assert_eq!(s.calls, 40_000);
        assert_eq!(s.failures, 4_000);
        assert_eq!(s.retries, 4_000);
        assert_eq!(s.prompt_tokens, 36_000 * 3);
        assert_eq!(s.total_tokens, 36_000 * 5);
        assert!((s.total_cost - 0.036).abs() < 1e-9);
        assert_eq!(t.stats().latency().count(), 36_000);
        let per: u64 = t.per_model().iter().map(|(_, s)| s.calls).sum();
        assert_eq!(per, 40_000);
    }
}
