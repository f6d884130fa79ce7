//! A lock-free rate limiter for requests and tokens per window, plus a concurrency cap.
//!
//! Limits are fixed at construction, globally and/or per model (exact model string). A request
//! for a model passes its model key (if that model has limits) and then the global key (if
//! there are global limits); it waits, in arrival order, until both let it go, and then it goes
//! at once. Defaults: a 60 s window, `max_delay` of 300 s, no burst.
//!
//! **Guarantee.** Counting each request with the tokens it reserved (adjusted by reconciliation
//! as soon as its usage is known), no sliding window of `window + margin` holds more requests or
//! tokens than the limit. The margin (1% of the window, between 1 ms and 250 ms, see
//! [`default_margin`]) absorbs the jitter between our clock and the provider's arrival times.
//! Each key checks a log of the last window in [`key::BUCKETS`] buckets, counted until their
//! *end* leaves the window, so the check is conservative (up to 1/128 of a window of capacity is
//! lost) but never optimistic.
//!
//! **Pacing.** By default requests are also spaced evenly by a GCRA pacer: `window / rpm`
//! apart, or `tokens * window / tpm` after a request of `tokens`, whichever is longer. Waits
//! end on a grid of the pacing *granularity* (default 1/1200 of the window, at most 50 ms):
//! every request that falls due within one slot goes at the slot's end, never earlier than its
//! even-pace time and at most one slot later, and the pacer keeps the even schedule. Each
//! wake-up of an idle thread costs tens of microseconds of CPU on a virtual machine, so
//! granting a slot's requests together is what keeps a paced request nearly as cheap as an
//! unpaced one; the price is that up to one slot's worth of requests leave at once. With
//! [`Burst`] a job may start with that many requests/tokens at once; the window log still
//! counts them, so after a burst the pace drops until the burst leaves the window. Without a
//! burst, tokens are paced as evenly as requests: an idle pacer never saves up a burst (at the
//! start of a job, or after the window log held it), and only refunds let it catch up.
//!
//! **Waiting.** Callers queue on a fair one-permit semaphore per key, so grants are FIFO and no
//! request starves; only the queue head computes and commits a grant (one CAS on the pacer's
//! TAT, one on each log bucket), so the hot path takes no lock. The head sleeps on the tokio
//! timer until it may go, waking early when a refund frees room (then going at the end of the
//! current pacing slot, with the other grants of that slot). A request that would wait
//! beyond `max_delay` (judged with the capacity known when it reaches the head, or by a lower
//! bound before) fails with `Kind::RateLimited` and takes no capacity. A request that can never
//! fit (more tokens than a tokens limit) fails at once. Cancelling a waiting caller frees only
//! its queue place: nothing is reserved before the grant.
//!
//! **Reconciliation.** The caller reserves [`estimate_tokens`] and, once the provider's usage is
//! known, [`Permit::settle`] refunds or charges the difference, in the log bucket of the grant
//! (while it still counts) and in the pacer (a refund moves the pacer back to now at most and
//! keeps the rest as credit for the next grants; a charge delays the following requests). See
//! `Client::send` for what failed requests settle.
//!
//! **Cooldown.** [`Permit::pause`] (called on a provider 429) pauses the request's most specific
//! key for every caller until the Retry-After period is over.

mod estimate;
pub mod key;
pub mod shared;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, SemaphorePermit};
use tokio::time::Instant;

pub use estimate::{estimate_split, estimate_tokens, DEFAULT_COMPLETION_TOKENS};
pub use key::MAX_LIMIT;
use key::{Key, KeySpec, Reason};
use shared::{Granted, Outage, Shared, SharedConfig};

use crate::error::{Error, Kind, Result};

/// Default window length (60 s: limits are per minute).
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// Default longest wait before a request fails with `RateLimited` (300 s).
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(300);
/// Longest window accepted (one day).
pub const MAX_WINDOW: Duration = Duration::from_secs(86_400);
/// Waits longer than this are logged at INFO (at most once per second per key).
const LOG_WAIT: Duration = Duration::from_secs(1);

/// The default pacing granularity: 1/1200 of the window, at most 50 ms (50 ms per minute).
pub fn default_granularity(window: Duration) -> Duration {
    (window / 1200).min(Duration::from_millis(50))
}

/// The safety margin added to a window: 1% of it, at least 1 ms and at most 250 ms.
pub fn default_margin(window: Duration) -> Duration {
    (window / 100).clamp(Duration::from_millis(1), Duration::from_millis(250))
}

/// The limits of one key, per window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Requests per window.
    pub rpm: Option<u64>,
    /// Tokens per window.
    pub tpm: Option<u64>,
    /// Requests in flight at once (held until the response body has been read).
    pub max_concurrency: Option<u32>,
}

impl Limits {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        self.rpm.is_none() && self.tpm.is_none() && self.max_concurrency.is_none()
    }
}

/// What may go up front, before pacing applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Burst {
    /// Paced from the first request (the default).
    #[default]
    None,
    /// A whole window's limit at once.
    Full,
    /// Up to this many requests and tokens at once.
    Up {
        /// Requests allowed up front.
        requests: u64,
        /// Tokens allowed up front.
        tokens: u64,
    },
}

/// Everything a [`RateLimiter`] is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimitConfig {
    /// Limits shared by every request of the limiter.
    pub global: Limits,
    /// Limits of individual models (exact model string).
    pub models: Vec<(String, Limits)>,
    /// Longest a request may wait before failing with `RateLimited`.
    pub max_delay: Duration,
    /// The window the limits are counted over.
    pub window: Duration,
    /// What may go up front.
    pub burst: Burst,
    /// Jitter allowance added to the window; `None` means [`default_margin`].
    pub margin: Option<Duration>,
    /// Pacing granularity: requests falling due within one such slot go together at its end;
    /// `None` means [`default_granularity`], zero paces every request on its own.
    pub granularity: Option<Duration>,
    /// Where the limits are shared with other processes (`None`: this process alone).
    pub shared: Option<SharedConfig>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            global: Limits::default(),
            models: Vec::new(),
            max_delay: DEFAULT_MAX_DELAY,
            window: DEFAULT_WINDOW,
            burst: Burst::None,
            margin: None,
            granularity: None,
            shared: None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Clock {
    epoch: Instant,
}

impl Clock {
    fn now(self) -> u64 {
        u64::try_from(Instant::now().saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }
    fn at(self, nanos: u64) -> Instant {
        self.epoch + Duration::from_nanos(nanos)
    }
}

/// A rate limiter shared by any number of clients and tasks.
pub struct RateLimiter {
    config: RateLimitConfig,
    granularity: u64,
    clock: Clock,
    global: Option<Arc<Key>>,
    models: HashMap<String, Arc<Key>>,
    /// The shared state, when the limits are shared.
    shared: Option<Arc<Shared>>,
    /// With [`Outage::Local`]: this process's share of the limits, used while Redis is down.
    fallback: Option<Box<RateLimiter>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter").field("config", &self.config).finish()
    }
}

fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

fn check_limits(what: &str, limits: &Limits) -> Result<()> {
    for (name, value) in [("rpm", limits.rpm), ("tpm", limits.tpm)] {
        if let Some(v) = value {
            if v == 0 || v > MAX_LIMIT {
                return Err(invalid(format!(
                    "{what}{name} must be between 1 and {MAX_LIMIT}, got {v}"
                )));
            }
        }
    }
    if let Some(n) = limits.max_concurrency {
        if n == 0 || n as usize > tokio::sync::Semaphore::MAX_PERMITS {
            return Err(invalid(format!("{what}max_concurrency must be at least 1, got {n}")));
        }
    }
    Ok(())
}

fn secs(nanos: u64) -> f64 {
    Duration::from_nanos(nanos).as_secs_f64()
}

impl RateLimiter {
    /// Builds a limiter.
    ///
    /// # Errors
    /// `InvalidArgument` for a zero or oversized limit, a model listed twice or with no limit,
    /// or a window outside (0, 1 day].
    pub fn new(config: RateLimitConfig) -> Result<Self> {
        if config.window.is_zero() || config.window > MAX_WINDOW {
            return Err(invalid(format!(
                "window_seconds must be greater than 0 and at most {}, got {}",
                MAX_WINDOW.as_secs(),
                config.window.as_secs_f64()
            )));
        }
        if config.max_delay > MAX_WINDOW * 365 {
            return Err(invalid("max_delay_seconds is too large".to_owned()));
        }
        check_limits("", &config.global)?;
        let window = u64::try_from(config.window.as_nanos()).unwrap_or(u64::MAX);
        let margin = config.margin.unwrap_or_else(|| default_margin(config.window));
        let margin = u64::try_from(margin.as_nanos()).unwrap_or(u64::MAX);
        let granularity = config.granularity.unwrap_or_else(|| default_granularity(config.window));
        if granularity > config.window {
            return Err(invalid(format!(
                "pacing_granularity_seconds must be at most window_seconds ({}), got {}",
                config.window.as_secs_f64(),
                granularity.as_secs_f64()
            )));
        }
        let granularity = u64::try_from(granularity.as_nanos()).unwrap_or(u64::MAX);
        let spec = |name: &str, limits: &Limits| {
            let (burst_requests, burst_tokens) = match config.burst {
                Burst::None => (0, 0),
                Burst::Full => (limits.rpm.unwrap_or(0), limits.tpm.unwrap_or(0)),
                Burst::Up { requests, tokens } => (requests, tokens),
            };
            KeySpec {
                name: name.to_owned(),
                rpm: limits.rpm,
                tpm: limits.tpm,
                max_concurrency: limits.max_concurrency,
                burst_requests,
                burst_tokens,
                window,
                margin,
                granularity,
            }
        };
        let global = (!config.global.is_empty()).then(|| Arc::new(Key::new(spec("*", &config.global))));
        let mut models = HashMap::new();
        for (model, limits) in &config.models {
            let what = format!("rate_limits[{model:?}]: ");
            if limits.is_empty() {
                return Err(invalid(format!(
                    "{what}sets no limit (give rpm, tpm or max_concurrency)"
                )));
            }
            check_limits(&what, limits)?;
            if models
                .insert(model.clone(), Arc::new(Key::new(spec(model, limits))))
                .is_some()
            {
                return Err(invalid(format!("{what}is listed twice")));
            }
        }
        let counts_tokens = global.iter().chain(models.values()).any(|k| k.spec.tpm.is_some());
        if counts_tokens {
            // Reservations count prompts with the tokenizer: load it off the runtime, now.
            std::thread::spawn(|| crate::tokens::Encoding::O200kBase.preload());
        }
        let shared = config.shared.as_ref().map(Shared::new).transpose()?.map(Arc::new);
        let fallback = match config.shared.as_ref().map(|s| s.outage) {
            Some(Outage::Local { processes }) => Some(Box::new(RateLimiter::new(local_share(&config, processes))?)),
            _ => None,
        };
        Ok(RateLimiter {
            granularity,
            clock: Clock { epoch: Instant::now() },
            config,
            global,
            models,
            shared,
            fallback,
        })
    }

    /// The configuration this limiter was built from.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn keys(&self, model: &str) -> Keys<'_> {
        [self.models.get(model), self.global.as_ref()]
    }

    /// Whether requests for `model` are limited at all.
    pub fn is_limited(&self, model: &str) -> bool {
        self.keys(model).iter().any(Option::is_some)
    }

    /// Whether requests for `model` count tokens (so the caller should estimate them).
    pub fn counts_tokens(&self, model: &str) -> bool {
        self.keys(model).iter().flatten().any(|k| k.spec.tpm.is_some())
    }

    /// Waits until a request for `model` reserving `tokens` may go, and reserves it.
    ///
    /// The returned permit holds the concurrency slots until dropped; settle it with the
    /// actual usage once known.
    ///
    /// # Errors
    /// `RateLimited` when the request needs more tokens than a limit allows, or when it would
    /// wait longer than `max_delay` (nothing is reserved then).
    pub async fn acquire(&self, model: &str, tokens: u64) -> Result<Permit> {
        let keys = self.keys(model);
        let mut permit = Permit {
            grants: [None, None],
            tokens,
            clock: self.clock,
            concurrency: [None, None],
            shared: None,
        };
        if keys.iter().all(Option::is_none) {
            return Ok(permit);
        }
        self.check_fits(&keys, tokens)?;
        if let Some(shared) = &self.shared {
            return Box::pin(self.acquire_shared(shared, &keys, model, tokens)).await;
        }
        let started = Instant::now();
        let deadline = started + self.config.max_delay;
        self.check_queue_bound(&keys)?;
        permit.concurrency = self.take_concurrency(&keys, deadline).await?;
        let heads = self.reach_heads(&keys, deadline).await?;
        let wait = Wait {
            model,
            tokens,
            started,
            deadline,
        };
        permit.grants = self.wait_and_grant(&keys, &wait, heads).await?;
        Ok(permit)
    }

    /// [`RateLimiter::acquire`] on the shared state: one booking on the server, then a local
    /// sleep until the booked time (see [`shared`]).
    async fn acquire_shared(&self, shared: &Arc<Shared>, keys: &Keys<'_>, model: &str, tokens: u64) -> Result<Permit> {
        let list: Vec<&Arc<Key>> = keys.iter().flatten().copied().collect();
        let refs: Vec<&Key> = list.iter().map(|k| k.as_ref()).collect();
        let started = Instant::now();
        let deadline = started + self.config.max_delay;
        let who = shared.caller();
        loop {
            // Registered before asking, so a release between the answer and the wait still wakes.
            let released = shared.free.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            let left = deadline.saturating_duration_since(Instant::now());
            match shared
                .grant(self.clock.now(), &refs, tokens, left, self.granularity, &who)
                .await
            {
                Ok(Granted::Go { delay, buckets }) => {
                    let go = Instant::now() + delay;
                    let on_clock = self
                        .clock
                        .now()
                        .saturating_add(u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX));
                    let mut held = Vec::with_capacity(list.len());
                    let mut lease = None;
                    for (key, bucket) in list.iter().zip(buckets) {
                        key.booked.fetch_max(on_clock, Ordering::AcqRel);
                        if key.spec.max_concurrency.is_some() {
                            shared.hold(key, &who);
                            lease = Some(who.clone());
                        }
                        held.push((Arc::clone(key), bucket));
                    }
                    let permit = Permit {
                        grants: [None, None],
                        tokens,
                        clock: self.clock,
                        concurrency: [None, None],
                        shared: Some(Box::new(SharedGrant {
                            shared: Arc::clone(shared),
                            keys: held,
                            lease,
                        })),
                    };
                    // Cancelled while sleeping: the permit's drop gives the slot back. No timer for
                    // no wait: tokio's timer would round it up to its next millisecond tick.
                    if !delay.is_zero() {
                        tokio::time::sleep_until(go).await;
                    }
                    let waited = started.elapsed();
                    if waited > LOG_WAIT && list.iter().any(|k| k.may_log(self.clock.now())) {
                        log::info!(target: "liter_llm", "rate limiter: waited {:.1}s for {model} (shared)", waited.as_secs_f64());
                    }
                    return Ok(permit);
                }
                Ok(Granted::Queued { hint }) => {
                    if Instant::now() >= deadline {
                        return Err(self.fail(
                            format!(
                                "no concurrency slot became free within max_delay_seconds={}",
                                self.config.max_delay.as_secs_f64()
                            ),
                            None,
                        ));
                    }
                    shared.listen();
                    let wake = (Instant::now() + hint).min(deadline);
                    tokio::select! {
                        () = &mut released => {}
                        () = tokio::time::sleep_until(wake) => {}
                    }
                }
                Ok(Granted::TooLong { wait, key }) => {
                    let key = list.get(key).copied().unwrap_or(list[0]);
                    return Err(self.too_long(key, u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX)));
                }
                Err(failed) if !failed.down => {
                    return Err(Error::new(
                        Kind::ServiceUnavailable,
                        format!("rate limiter: the shared limits failed: {failed}; nothing was sent"),
                    ));
                }
                Err(why) => {
                    if let Some(fallback) = &self.fallback {
                        if list.iter().any(|k| k.may_log(self.clock.now())) {
                            log::warn!(target: "liter_llm", "rate limiter: {why}; granting from this process's share of the limits");
                        }
                        return Box::pin(fallback.acquire(model, tokens)).await;
                    }
                    if Instant::now() + shared::reconnect_pause() >= deadline {
                        return Err(Error::new(
                            Kind::ServiceUnavailable,
                            format!(
                                "rate limiter: the shared limits at {} could not be reached within \
                                 max_delay_seconds={} ({why}); nothing was sent",
                                shared.shown(),
                                self.config.max_delay.as_secs_f64()
                            ),
                        ));
                    }
                    tokio::time::sleep(shared::reconnect_pause()).await;
                }
            }
        }
    }

    /// Fails at once when `tokens` exceed a key's tokens limit: such a request can never go.
    fn check_fits(&self, keys: &Keys<'_>, tokens: u64) -> Result<()> {
        for key in keys.iter().flatten() {
            if let Some(limit) = key.spec.tpm.filter(|l| tokens > *l) {
                return Err(self.fail(
                    format!(
                        "the request needs about {tokens} tokens but the tokens limit{} is {limit} per {}s, so it \
                         can never be sent; raise the limit or send less",
                        scope(key),
                        secs(key.window())
                    ),
                    None,
                ));
            }
        }
        Ok(())
    }

    /// Fails at once when a lower bound of the wait (a cooldown, or the queue ahead) is already
    /// past `max_delay`.
    fn check_queue_bound(&self, keys: &Keys<'_>) -> Result<()> {
        let max_delay = u64::try_from(self.config.max_delay.as_nanos()).unwrap_or(u64::MAX);
        let now = self.clock.now();
        for key in keys.iter().flatten() {
            let bound = key
                .cooldown_left(now)
                .max(key.queue_lower_bound(now, key.waiting.load(Ordering::Relaxed)));
            if bound > max_delay {
                return Err(self.too_long(key, bound));
            }
        }
        Ok(())
    }

    /// Takes a concurrency slot on every key with a concurrency cap, by `deadline`.
    async fn take_concurrency(&self, keys: &Keys<'_>, deadline: Instant) -> Result<[Option<OwnedSemaphorePermit>; 2]> {
        let mut slots = [None, None];
        for (slot, key) in keys.iter().enumerate() {
            let Some(sem) = key.and_then(|k| k.concurrency.clone()) else {
                continue;
            };
            match tokio::time::timeout_at(deadline, sem.acquire_owned()).await {
                Ok(Ok(p)) => slots[slot] = Some(p),
                _ => {
                    let name = key.map(|k| scope(k)).unwrap_or_default();
                    return Err(self.fail(
                        format!(
                            "no concurrency slot{name} became free within max_delay_seconds={}",
                            self.config.max_delay.as_secs_f64()
                        ),
                        None,
                    ));
                }
            }
        }
        Ok(slots)
    }

    /// Queues on every key, in arrival order, until this caller is the head of each queue (by
    /// `deadline`); counted as waiting until then.
    async fn reach_heads<'k>(&self, keys: &Keys<'k>, deadline: Instant) -> Result<Heads<'k>> {
        let queued = Queued::new(keys);
        let mut heads: Heads<'k> = [None, None];
        for (slot, key) in keys.iter().enumerate() {
            if let Some(key) = key {
                match tokio::time::timeout_at(deadline, key.head.acquire()).await {
                    Ok(Ok(p)) => heads[slot] = Some(p),
                    _ => {
                        return Err(self.fail(
                            format!(
                                "the queue{} did not reach this request within max_delay_seconds={}",
                                scope(key),
                                self.config.max_delay.as_secs_f64()
                            ),
                            None,
                        ))
                    }
                }
            }
        }
        drop(queued);
        Ok(heads)
    }

    /// As the head of every queue, waits until all keys let the request go and commits it on
    /// each; the queue places (`heads`) are released once it is granted.
    async fn wait_and_grant(&self, keys: &Keys<'_>, wait: &Wait<'_>, heads: Heads<'_>) -> Result<[Option<Grant>; 2]> {
        // When this caller was due: the end of its last timer sleep (a refund wake-up or no
        // sleep at all means now).
        let mut due: Option<u64> = None;
        // Woken by a refund rather than by its timer: a grant that the refund made possible
        // still waits for the end of the current pacing slot, so refunds do not break up the
        // slot's single wake-up into one grant (and one send) each.
        let mut refunded = false;
        let mut why = Reason::None;
        loop {
            let now = self.clock.now();
            let ready = ready_on_all(keys, now, wait.tokens);
            let slot_end = self.slot_end(now);
            let hold = refunded && slot_end > now && self.clock.at(slot_end) <= wait.deadline;
            if ready.at <= now && !hold {
                let grants = commit_all(keys, now, due.unwrap_or(now), wait.tokens);
                drop(heads);
                log_wait(keys, now, wait, why);
                return Ok(grants);
            }
            if ready.reason != Reason::None {
                why = ready.reason;
            }
            let wake = self.clock.at(self.slot_end(ready.at.max(now)));
            if let (true, Some(key)) = (wake > wait.deadline, ready.key) {
                return Err(self.too_long(key, ready.at.saturating_sub(now)));
            }
            let timed_out = match sleep_or_refund(keys, wake).await {
                Woken::Timer => true,
                Woken::Refund => false,
                Woken::NoKeys => return Ok([None, None]),
            };
            due = timed_out.then_some(ready.at);
            refunded = !timed_out;
        }
    }

    /// The end of the pacing slot holding `t`: waits end on a shared grid, so callers due
    /// within one slot (of any key) are granted in one wake-up.
    fn slot_end(&self, t: u64) -> u64 {
        match self.granularity {
            0 => t,
            g => t.div_ceil(g).saturating_mul(g),
        }
    }

    fn fail(&self, message: String, retry_after: Option<Duration>) -> Error {
        Error::new(Kind::RateLimited, format!("rate limiter: {message}")).with_retry_after(retry_after)
    }

    fn too_long(&self, key: &Key, wait: u64) -> Error {
        self.fail(
            format!(
                "the request would wait {:.1}s{}, longer than max_delay_seconds={}",
                secs(wait),
                scope(key),
                self.config.max_delay.as_secs_f64()
            ),
            Some(Duration::from_nanos(wait)),
        )
    }

    /// How long a request for `model` reserving `tokens` would wait for its limits if asked
    /// now (zero: it may go at once). Callers waiting in the queue are not counted: a router
    /// uses it to pass over a deployment that is at its limit.
    pub fn wait_for(&self, model: &str, tokens: u64) -> Duration {
        let now = self.clock.now();
        let shared = self.shared.is_some();
        let ready = self
            .keys(model)
            .iter()
            .flatten()
            // Shared: the latest booking this process saw (the server's queue, as last known).
            .map(|k| {
                if shared {
                    k.booked.load(Ordering::Acquire)
                } else {
                    k.ready_at(now, tokens).at
                }
            })
            .max()
            .unwrap_or(now);
        Duration::from_nanos(ready.saturating_sub(now))
    }

    /// Tokens the log of `model`'s most specific key counts now (diagnostics and tests).
    pub fn tokens_in_window(&self, model: &str) -> u64 {
        let now = self.clock.now();
        self.keys(model)
            .iter()
            .flatten()
            .next()
            .map_or(0, |k| k.tokens_in_window(now))
    }
}

fn scope(key: &Key) -> String {
    if key.spec.name == "*" {
        String::new()
    } else {
        format!(" for {}", key.spec.name)
    }
}

/// The keys a request passes: its model's (if limited), then the global one (if any).
type Keys<'a> = [Option<&'a Arc<Key>>; 2];

/// The queue places of a caller that reached the head of its keys' queues.
type Heads<'a> = [Option<SemaphorePermit<'a>>; 2];

/// One caller's wait: what it asks for and until when it may wait.
struct Wait<'a> {
    /// The model, for the log line.
    model: &'a str,
    /// Tokens reserved.
    tokens: u64,
    /// When the caller arrived.
    started: Instant,
    /// When the caller gives up (`started + max_delay`).
    deadline: Instant,
}

/// When a request may go on all its keys, what holds it back and on which key.
struct Ready<'a> {
    /// Latest ready time over the keys (nanoseconds on the limiter's clock).
    at: u64,
    /// The limit that holds it back until `at`.
    reason: Reason,
    /// The key with the latest ready time, if any is later than now.
    key: Option<&'a Arc<Key>>,
}

/// When a request of `tokens` may go on every key.
fn ready_on_all<'a>(keys: &Keys<'a>, now: u64, tokens: u64) -> Ready<'a> {
    let mut ready = Ready {
        at: now,
        reason: Reason::None,
        key: None,
    };
    for key in keys.iter().flatten() {
        let on_key = key.ready_at(now, tokens);
        if on_key.at > ready.at {
            ready = Ready {
                at: on_key.at,
                reason: on_key.reason,
                key: Some(*key),
            };
        }
    }
    ready
}

/// Records the grant on every key; `nominal` is when it was due.
fn commit_all(keys: &Keys<'_>, now: u64, nominal: u64, tokens: u64) -> [Option<Grant>; 2] {
    let mut grants = [None, None];
    for (slot, key) in keys.iter().enumerate() {
        if let Some(key) = key {
            let bucket = key.commit(now, nominal, tokens);
            grants[slot] = Some(Grant {
                key: Arc::clone(key),
                bucket,
            });
        }
    }
    grants
}

/// Logs a long wait (at most once per second per key).
fn log_wait(keys: &Keys<'_>, now: u64, wait: &Wait<'_>, why: Reason) {
    let waited = wait.started.elapsed();
    if waited > LOG_WAIT && keys.iter().flatten().any(|k| k.may_log(now)) {
        log::info!(target: "liter_llm", "rate limiter: waited {:.1}s for {} ({})", waited.as_secs_f64(), wait.model, why.describe());
    }
}

/// What ended a sleep of the queue head.
enum Woken {
    /// The timer: the caller is due.
    Timer,
    /// A refund on one of the keys may have made room.
    Refund,
    /// There is no key to wait on.
    NoKeys,
}

/// Sleeps until `wake`, or until a refund on one of the keys wakes the head early.
async fn sleep_or_refund(keys: &Keys<'_>, wake: Instant) -> Woken {
    let timer = tokio::time::sleep_until(wake);
    match *keys {
        [Some(a), Some(b)] => {
            tokio::select! {
                () = timer => Woken::Timer,
                () = a.wake.notified() => Woken::Refund,
                () = b.wake.notified() => Woken::Refund,
            }
        }
        [Some(k), None] | [None, Some(k)] => {
            tokio::select! {
                () = timer => Woken::Timer,
                () = k.wake.notified() => Woken::Refund,
            }
        }
        [None, None] => Woken::NoKeys,
    }
}

/// Counts a caller as queued on its keys until it reaches the head (or gives up).
struct Queued<'a> {
    keys: Keys<'a>,
}

impl<'a> Queued<'a> {
    fn new(keys: &Keys<'a>) -> Self {
        for key in keys.iter().flatten() {
            key.waiting.fetch_add(1, Ordering::Relaxed);
        }
        Queued { keys: *keys }
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        for key in self.keys.iter().flatten() {
            key.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The limits of `config` divided among `processes` (each at least 1), unshared.
fn local_share(config: &RateLimitConfig, processes: u32) -> RateLimitConfig {
    let n = u64::from(processes.max(1));
    let share = |l: &Limits| Limits {
        rpm: l.rpm.map(|v| (v / n).max(1)),
        tpm: l.tpm.map(|v| (v / n).max(1)),
        max_concurrency: l.max_concurrency.map(|v| (v / processes.max(1)).max(1)),
    };
    RateLimitConfig {
        global: share(&config.global),
        models: config.models.iter().map(|(m, l)| (m.clone(), share(l))).collect(),
        shared: None,
        ..config.clone()
    }
}

/// A grant booked on the shared state.
#[derive(Debug)]
struct SharedGrant {
    shared: Arc<Shared>,
    /// Each key with the bucket it was booked in.
    keys: Vec<(Arc<Key>, u64)>,
    /// The concurrency lease, when a key caps concurrency.
    lease: Option<String>,
}

impl SharedGrant {
    /// Settles in the background (`actual`: `None` keeps the estimate) and gives the lease back.
    fn settle(self, reserved: u64, actual: Option<u64>) {
        if actual.is_none() && self.lease.is_none() {
            return;
        }
        crate::runtime::get().spawn(async move {
            if let Err(why) = self.shared.settle(&self.keys, reserved, actual, self.lease.as_deref()).await {
                log::debug!(target: "liter_llm", "rate limiter: settlement not recorded ({why}); the estimate stays counted");
            }
        });
    }
}

#[derive(Debug)]
struct Grant {
    key: Arc<Key>,
    bucket: u64,
}

/// A granted request: holds its concurrency slots until dropped, and settles its tokens.
///
/// Dropping a permit without [`settle`](Permit::settle) keeps the reserved estimate counted.
#[derive(Debug)]
pub struct Permit {
    grants: [Option<Grant>; 2],
    tokens: u64,
    clock: Clock,
    concurrency: [Option<OwnedSemaphorePermit>; 2],
    /// Boxed: most permits are local, and a permit travels inside every call's future.
    shared: Option<Box<SharedGrant>>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(grant) = self.shared.take() {
            grant.settle(self.tokens, None);
        }
    }
}

impl Permit {
    /// Tokens reserved for the request.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Whether any limit applied to the request.
    pub fn is_limited(&self) -> bool {
        self.grants.iter().any(Option::is_some) || self.concurrency.iter().any(Option::is_some) || self.shared.is_some()
    }

    /// Replaces the reserved tokens by the actual usage (`None`, or a count past
    /// `usage::MAX_CALL_TOKENS`, keeps the estimate) and releases the permit.
    pub fn settle(mut self, actual: Option<u64>) {
        // A count no call could spend is a server's error: keep the estimate instead.
        let actual = actual.and_then(crate::usage::plausible_tokens);
        if let Some(grant) = self.shared.take() {
            grant.settle(self.tokens, actual.filter(|a| *a != self.tokens));
            return;
        }
        if let Some(actual) = actual {
            let now = self.clock.now();
            for grant in self.grants.iter().flatten() {
                grant.key.adjust(now, grant.bucket, self.tokens, actual);
            }
        }
    }

    /// Pauses the request's most specific key (its model's, else the global one) for every
    /// caller for `period`, as after a provider 429.
    pub fn pause(&self, period: Duration) {
        if let Some(grant) = &self.shared {
            let (shared, key) = (Arc::clone(&grant.shared), Arc::clone(&grant.keys[0].0));
            crate::runtime::get().spawn(async move {
                if let Err(why) = shared.pause(&key, period).await {
                    log::warn!(target: "liter_llm", "rate limiter: the provider's 429 pause was not shared ({why})");
                }
            });
            return;
        }
        if let Some(grant) = self.grants.iter().flatten().next() {
            let until = self
                .clock
                .now()
                .saturating_add(u64::try_from(period.as_nanos()).unwrap_or(u64::MAX));
            grant.key.pause_until(until);
        }
    }
}
