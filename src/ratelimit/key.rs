//! One limiter key (a model, or the global key): its pacer, its window log, its queue.
//!
//! * The **pacer** is two GCRA cells, one atomic theoretical arrival time (TAT, nanoseconds since
//!   the limiter's epoch) each. A request costs `window / rpm` in the requests cell and
//!   `tokens * window / tpm` in the tokens cell; in each it may go at `TAT - max(tolerance -
//!   cost, 0)` and moves the TAT to `max(TAT, now) + cost`. Each cell's tolerance is the burst
//!   (none by default), so requests and tokens are spaced exactly evenly, and an idle pacer
//!   never saves up a burst. Refunds move the tokens TAT back, never before now; what is left
//!   of a refund (the usual case: answers take longer than a request's share of the pace) is
//!   kept as *credit*, up to [`REFUND_CREDIT`] of the window, which pays for the next grants'
//!   tokens. Charges move the TAT forward.
//! * The **window log** makes the limit exact: a ring of [`BUCKETS`] time buckets per window, each
//!   one atomic word holding `(bucket number, tokens)` and one holding `(bucket number,
//!   requests)`. A bucket counts until its *end* is a full window (plus the safety margin) old,
//!   so the sum over the ring is never less than what any sliding window holds. A request goes
//!   only when that sum plus its own tokens fits the limit.
//! * The **queue** is a one-permit fair semaphore: the caller at its head is the only one that
//!   decides and commits grants, so grants happen in arrival order and the log has one writer.
//!   Refunds and charges come from any thread and only move numbers with CAS loops.
//! * **Cooldown**: an atomic "not before" time that a provider 429 pushes forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{Notify, Semaphore};

/// Buckets per window (plus margin) in the log: its resolution is 1/128 of the window.
pub const BUCKETS: u64 = 128;

/// Most refund credit (as a fraction of the window's pace) the tokens pacer keeps: 1/32.
pub const REFUND_CREDIT: u64 = 32;

const VALUE_BITS: u32 = 40;
const VALUE_MASK: u64 = (1 << VALUE_BITS) - 1;
const EPOCH_MASK: u64 = (1 << (64 - VALUE_BITS)) - 1;

/// Largest per-window limit a key accepts (a bucket holds 40-bit counts).
pub const MAX_LIMIT: u64 = 1_000_000_000_000;

fn pack(bucket: u64, value: u64) -> u64 {
    ((bucket & EPOCH_MASK) << VALUE_BITS) | value.min(VALUE_MASK)
}

/// A bucket's atomic word, unpacked: the bucket it counts for and its count.
#[derive(Clone, Copy)]
struct Counted {
    /// The bucket number, masked to the epoch bits.
    epoch: u64,
    /// Requests or tokens counted in that bucket.
    value: u64,
}

fn unpack(word: u64) -> Counted {
    Counted {
        epoch: word >> VALUE_BITS,
        value: word & VALUE_MASK,
    }
}

#[derive(Default)]
struct Slot {
    tokens: AtomicU64,
    requests: AtomicU64,
}

/// Which limit made a caller wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Nothing: the caller may go.
    None,
    /// A provider 429 paused the key.
    Cooldown,
    /// Even pacing of requests or tokens.
    Pacing,
    /// The requests-per-window limit.
    Requests,
    /// The tokens-per-window limit.
    Tokens,
}

/// When a request may go on one key, and which limit holds it back until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Earliest time (nanoseconds on the limiter's clock) the request may go.
    pub at: u64,
    /// What holds it back until `at` ([`Reason::None`] when it may go now).
    pub reason: Reason,
}

impl Reason {
    /// A short description for log lines.
    pub fn describe(self) -> &'static str {
        match self {
            Reason::None => "queue",
            Reason::Cooldown => "provider cooldown",
            Reason::Pacing => "pacing",
            Reason::Requests => "requests limit",
            Reason::Tokens => "tokens limit",
        }
    }
}

/// The fixed settings of one key.
#[derive(Clone, Debug)]
pub struct KeySpec {
    /// Display name: the model, or `*` for the global key.
    pub name: String,
    /// Requests per window.
    pub rpm: Option<u64>,
    /// Tokens per window.
    pub tpm: Option<u64>,
    /// Requests in flight at once.
    pub max_concurrency: Option<u32>,
    /// Requests allowed up front.
    pub burst_requests: u64,
    /// Tokens allowed up front.
    pub burst_tokens: u64,
    /// The nominal window, in nanoseconds.
    pub window: u64,
    /// Extra time added to the window against clock and network jitter, in nanoseconds.
    pub margin: u64,
    /// Pacing granularity in nanoseconds: the pacer lets a grant lag this far behind now
    /// without losing its place in the even schedule.
    pub granularity: u64,
}

/// A limiter key and all its state.
pub struct Key {
    pub(crate) spec: KeySpec,
    /// Window plus margin: how long a grant counts.
    span: u64,
    bucket: u64,
    req_cost: u64,
    req_tolerance: u64,
    tok_tolerance: u64,
    tat_requests: AtomicU64,
    tat_tokens: AtomicU64,
    /// Refunded pacer time (ns) not yet spent, at most `window / REFUND_CREDIT`.
    tok_credit: AtomicU64,
    cooldown_until: AtomicU64,
    last_log: AtomicU64,
    ring: Box<[Slot]>,
    pub(crate) head: Semaphore,
    pub(crate) wake: Notify,
    pub(crate) concurrency: Option<Arc<Semaphore>>,
    pub(crate) waiting: AtomicU64,
    /// Shared limiters: the latest time (limiter clock) this process saw a grant booked for.
    pub(crate) booked: AtomicU64,
    /// Shared limiters: the generation of the server's state this process last saw (0: none).
    pub(crate) generation: AtomicU64,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("spec", &self.spec).finish_non_exhaustive()
    }
}

fn div_ceil_u128(a: u128, b: u128) -> u64 {
    u64::try_from(a.div_ceil(b.max(1))).unwrap_or(u64::MAX)
}

/// What `cell` counts for `bucket` (0 when it holds another bucket's count).
fn counted(cell: &AtomicU64, bucket: u64) -> u64 {
    let counted = unpack(cell.load(Ordering::Acquire));
    if counted.epoch == bucket & EPOCH_MASK {
        counted.value
    } else {
        0
    }
}

impl Key {
    /// Builds a key; limits must already be validated (non-zero, at most [`MAX_LIMIT`]).
    pub fn new(spec: KeySpec) -> Self {
        let span = spec.window.saturating_add(spec.margin);
        let bucket = (span / BUCKETS).max(1);
        let slots = usize::try_from(span / bucket + 3).unwrap_or(usize::MAX);
        let req_cost = spec.rpm.map_or(0, |l| div_ceil_u128(u128::from(span), u128::from(l)));
        let mut key = Key {
            span,
            bucket,
            req_cost,
            req_tolerance: 0,
            tok_tolerance: 0,
            tat_requests: AtomicU64::new(0),
            tat_tokens: AtomicU64::new(0),
            tok_credit: AtomicU64::new(0),
            cooldown_until: AtomicU64::new(0),
            last_log: AtomicU64::new(0),
            ring: (0..slots).map(|_| Slot::default()).collect(),
            head: Semaphore::new(1),
            wake: Notify::new(),
            concurrency: spec.max_concurrency.map(|n| Arc::new(Semaphore::new(n as usize))),
            waiting: AtomicU64::new(0),
            booked: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            spec,
        };
        key.req_tolerance = key.req_cost.saturating_mul(key.spec.burst_requests);
        key.tok_tolerance = key.token_cost(key.spec.burst_tokens);
        key
    }

    fn token_cost(&self, tokens: u64) -> u64 {
        self.spec.tpm.map_or(0, |l| {
            div_ceil_u128(u128::from(tokens) * u128::from(self.span), u128::from(l))
        })
    }

    /// The nominal window length in nanoseconds.
    pub fn window(&self) -> u64 {
        self.spec.window
    }

    /// Window plus margin, in nanoseconds: how long a grant counts.
    pub fn span_ns(&self) -> u64 {
        self.span
    }

    /// The key's settings as the shared limiter's script reads them: rpm, tpm, max concurrency
    /// (0: none), then span, bucket, request cost, requests and tokens tolerance in microseconds.
    pub(crate) fn wire_spec(&self) -> [u64; 8] {
        let us = |ns: u64| ns.div_ceil(1000);
        [
            self.spec.rpm.unwrap_or(0),
            self.spec.tpm.unwrap_or(0),
            self.spec.max_concurrency.map_or(0, u64::from),
            us(self.span),
            us(self.bucket).max(1),
            us(self.req_cost),
            us(self.req_tolerance),
            us(self.tok_tolerance),
        ]
    }

    /// Earliest time >= `now` at which `need` more fits under `limit`, given what the log holds.
    fn log_ready(&self, now: u64, need: u64, limit: u64, field: fn(&Slot) -> &AtomicU64) -> u64 {
        let lo = now.saturating_sub(self.span) / self.bucket;
        let hi = now / self.bucket;
        let sum = self
            .counts(field, lo, hi)
            .fold(0u64, |sum, (_, n)| sum.saturating_add(n));
        if sum.saturating_add(need) <= limit {
            return now;
        }
        let mut freed = 0u64;
        for (b, n) in self.counts(field, lo, hi) {
            freed = freed.saturating_add(n);
            if (sum - freed.min(sum)).saturating_add(need) <= limit {
                // Bucket `b` stops counting once its end is a full span old.
                return ((b + 1) * self.bucket).saturating_add(self.span).max(now);
            }
        }
        ((hi + 1) * self.bucket).saturating_add(self.span)
    }

    /// Buckets `lo..=hi` (fewer than the ring's slots) with their counts, oldest first: one
    /// division finds the first slot, not one per bucket (every grant reads the whole window).
    fn counts(&self, field: fn(&Slot) -> &AtomicU64, lo: u64, hi: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let len = self.ring.len() as u64;
        let first = lo % len;
        (lo..=hi).map(move |b| {
            let at = first + (b - lo);
            let at = if at >= len { at - len } else { at };
            (b, counted(field(&self.ring[at as usize]), b))
        })
    }

    /// When a request of `tokens` may go, and what holds it back.
    pub fn ready_at(&self, now: u64, tokens: u64) -> Readiness {
        let mut ready = Readiness {
            at: now,
            reason: Reason::None,
        };
        let mut consider = |at: u64, reason: Reason| {
            if at > ready.at {
                ready = Readiness { at, reason };
            }
        };
        consider(self.cooldown_until.load(Ordering::Acquire), Reason::Cooldown);
        if self.spec.rpm.is_some() {
            let tat = self.tat_requests.load(Ordering::Acquire);
            consider(
                tat.saturating_sub(self.req_tolerance.saturating_sub(self.req_cost)),
                Reason::Pacing,
            );
        }
        if self.spec.tpm.is_some() {
            let tat = self.tat_tokens.load(Ordering::Acquire);
            consider(
                tat.saturating_sub(self.tok_tolerance.saturating_sub(self.token_cost(tokens))),
                Reason::Pacing,
            );
        }
        if let Some(limit) = self.spec.rpm {
            consider(self.log_ready(now, 1, limit, |s| &s.requests), Reason::Requests);
        }
        if let Some(limit) = self.spec.tpm {
            consider(self.log_ready(now, tokens, limit, |s| &s.tokens), Reason::Tokens);
        }
        ready
    }

    /// Adds `delta` to a bucket; `create` (the queue head only) may claim a recycled slot.
    fn bump(&self, field: fn(&Slot) -> &AtomicU64, bucket: u64, delta: i128, create: bool) {
        let cell = field(&self.ring[(bucket % self.ring.len() as u64) as usize]);
        let epoch = bucket & EPOCH_MASK;
        let mut word = cell.load(Ordering::Acquire);
        loop {
            let counted = unpack(word);
            let base = if counted.epoch == epoch {
                counted.value
            } else if create {
                0
            } else {
                return;
            };
            let value = u64::try_from((i128::from(base) + delta).max(0)).unwrap_or(u64::MAX);
            match cell.compare_exchange_weak(word, pack(epoch, value), Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(w) => word = w,
            }
        }
    }

    /// Records a grant at `now`; returns the bucket it was counted in. `nominal` (at most `now`)
    /// is when the grant was due: the pacer advances from there (or from one granularity
    /// before now, whichever is earlier), so a timer that wakes the caller late, or a grant
    /// held to the end of its pacing slot, does not slow the pace down. The log always records
    /// the real time.
    pub fn commit(&self, now: u64, nominal: u64, tokens: u64) -> u64 {
        let bucket = now / self.bucket;
        let from = nominal.min(now.saturating_sub(self.spec.granularity));
        let advance = |tat: &AtomicU64, cost: u64| {
            let _ = tat.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.max(from).saturating_add(cost))
            });
        };
        if self.spec.rpm.is_some() {
            self.bump(|s| &s.requests, bucket, 1, true);
            advance(&self.tat_requests, self.req_cost);
        }
        if self.spec.tpm.is_some() {
            self.bump(|s| &s.tokens, bucket, i128::from(tokens), true);
            let cost = self.token_cost(tokens);
            let spent = self
                .tok_credit
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| Some(c.saturating_sub(cost)))
                .map_or(0, |c| c.min(cost));
            advance(&self.tat_tokens, cost - spent);
        }
        bucket
    }

    /// Replaces a grant's `reserved` tokens by `actual`: a refund gives back log room (while
    /// the grant still counts) and pacer time: the TAT moves back, never before now, and the
    /// rest becomes credit for the next grants; a charge takes more.
    pub fn adjust(&self, now: u64, bucket: u64, reserved: u64, actual: u64) {
        if actual == reserved || self.spec.tpm.is_none() {
            return;
        }
        let delta = i128::from(actual) - i128::from(reserved);
        if bucket.saturating_add(self.span / self.bucket + 2) >= now / self.bucket {
            self.bump(|s| &s.tokens, bucket, delta, false);
        }
        let (old, new) = (self.token_cost(reserved), self.token_cost(actual));
        if new > old {
            let _ = self
                .tat_tokens
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                    Some(tat.max(now).saturating_add(new - old))
                });
        } else {
            let refund = old - new;
            let before = self
                .tat_tokens
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |tat| {
                    Some(tat.saturating_sub(refund).max(now.min(tat)))
                })
                .unwrap_or(0);
            let left = refund - before.saturating_sub(now).min(refund);
            if left > 0 {
                let cap = self.spec.window / REFUND_CREDIT;
                let _ = self.tok_credit.fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                    Some(c.saturating_add(left).min(cap))
                });
            }
        }
        if actual < reserved {
            self.wake.notify_one();
        }
    }

    /// Pauses the key until `until` (never shortens an earlier pause).
    pub fn pause_until(&self, until: u64) {
        self.cooldown_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Time left in the current pause.
    pub fn cooldown_left(&self, now: u64) -> u64 {
        self.cooldown_until.load(Ordering::Acquire).saturating_sub(now)
    }

    /// A lower bound on the wait, from `now`, of a caller that finds `queued` callers ahead of
    /// it: each of them moves the requests pacer by a full interval (requests are never
    /// refunded), and the requests limit lets at most `rpm` of them go per window.
    pub fn queue_lower_bound(&self, now: u64, queued: u64) -> u64 {
        let Some(rpm) = self.spec.rpm else {
            return 0;
        };
        let paced = self
            .tat_requests
            .load(Ordering::Acquire)
            .saturating_add(queued.saturating_mul(self.req_cost))
            .saturating_sub(self.req_tolerance.saturating_sub(self.req_cost))
            .saturating_sub(now);
        paced.max((queued / rpm).saturating_mul(self.spec.window))
    }

    /// Whether an INFO line about waiting may be written now (at most one per second per key).
    pub fn may_log(&self, now: u64) -> bool {
        let last = self.last_log.load(Ordering::Relaxed);
        (last == 0 || now.saturating_sub(last) >= 1_000_000_000)
            && self
                .last_log
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Total tokens the log counts at `now` (for tests and diagnostics).
    pub fn tokens_in_window(&self, now: u64) -> u64 {
        let lo = now.saturating_sub(self.span) / self.bucket;
        self.counts(|s| &s.tokens, lo, now / self.bucket).map(|(_, n)| n).sum()
    }
}
