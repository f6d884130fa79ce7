//! Virtual keys' hot counters in Redis, shared by every proxy replica that names the same server:
//! spend of the budget period, reservations of requests in flight, requests in flight, and the
//! rpm/tpm minute window. Admitting a request is one call of `hot.lua`, atomic on the server and
//! timed by its clock, so a budget or limit holds across replicas as it does in one process.
//!
//! Every admitted request holds a lease with its reservation, renewed by its replica every third
//! of [`LEASE`] while it runs; a replica that dies gives its requests' reservations and parallel
//! slots back when their leases run out. The durable spend stays in the database (each replica
//! flushes what it settled); a key's counters are seeded from there when Redis has none (first
//! use, a Redis restart, or a key idle for [`KEEP`]).
//!
//! While Redis cannot be reached nothing is admitted on counters we cannot see: requests of keys
//! are answered 503 with `Retry-After`, never let through over a limit.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::http::StatusCode;
use tokio::sync::Notify;

use super::db::Write;
use super::outage::Outage;
use super::pg::PgKeyDb;
use super::{Estimate, KeySettings, Refusal};
use crate::redis_link::{arg as a, Failure, Leases, RedisLink, Script};

static SCRIPT: Script = Script::new(include_str!("hot.lua"));
/// How long a request's hold outlives a replica that died holding it.
const LEASE: Duration = Duration::from_secs(30);
/// How long a key's counters stay in Redis after its last request.
const KEEP: Duration = Duration::from_secs(7 * 86_400);
/// How long a stopping replica waits for its background settlements.
const DRAIN: Duration = Duration::from_secs(3);
/// Each Redis command gives up after this.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// The connection to the counters.
pub(crate) struct Hot {
    link: RedisLink,
    /// How long a hold outlives its replica ([`LEASE`]).
    lease: Duration,
    /// This replica's part of every lease id.
    id: String,
    next: AtomicU64,
    /// Leases held by this replica, per key token (renewed in the background).
    held: Leases,
    /// Settlements running in the background, and their end announced.
    in_background: AtomicUsize,
    drained: Notify,
    /// An outage is logged when it begins and ends, not once per request.
    outage: Outage,
}

impl fmt::Debug for Hot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hot").field("link", &self.link).finish()
    }
}

/// What an admission call answered.
pub(crate) enum Answer {
    /// Admitted under `lease`.
    Admitted(String),
    /// Refused.
    Refused(Refusal),
    /// Redis has no counters for the key: seed them and ask again.
    Unseeded,
}

/// An admission's answer and, when it started a new budget period, when the next one starts.
pub(crate) struct Admitted {
    pub(crate) answer: Answer,
    pub(crate) rolled: Option<f64>,
}

/// What a key's counters are checked against (its settings' numbers).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    max_budget: Option<f64>,
    max_parallel: Option<u32>,
    rpm: Option<u64>,
    tpm: Option<u64>,
    period: Option<f64>,
}

impl Limits {
    /// The limits `settings` set.
    pub(crate) fn of(settings: &KeySettings) -> Limits {
        Limits {
            max_budget: settings.max_budget,
            max_parallel: settings.max_parallel_requests,
            rpm: settings.rpm_limit,
            tpm: settings.tpm_limit,
            period: settings.budget_period(),
        }
    }
}

/// Redis key names of one key's counters; the braces keep them in one cluster slot.
fn names(token: &str) -> [String; 2] {
    [
        format!("liter_llm:key:{{{token}}}"),
        format!("liter_llm:key:{{{token}}}:l"),
    ]
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A limit as the script takes it: -1 for none.
fn limit<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "-1".to_owned(), |v| v.to_string())
}

impl Hot {
    /// A connection (made on first use) to the Redis server at `url`.
    ///
    /// # Errors
    /// A malformed URL (no credentials in the message).
    pub(crate) fn new(url: &str) -> Result<Hot, String> {
        Ok(Hot {
            link: RedisLink::new(url, OP_TIMEOUT)?,
            lease: LEASE,
            id: format!("{:016x}", fastrand::u64(..)),
            next: AtomicU64::new(0),
            held: Leases::default(),
            in_background: AtomicUsize::new(0),
            drained: Notify::new(),
            outage: Outage::default(),
        })
    }

    async fn run<T: ::redis::FromRedisValue>(&self, token: &str, args: &[Vec<Vec<u8>>]) -> Result<T, Failure> {
        let done = SCRIPT.run(&self.link, &names(token), args).await.map_err(|(_, f)| f);
        if done.is_ok() && self.outage.ended() {
            log::warn!("key counters: redis at {} answers again", self.link.at());
        }
        done
    }

    /// Why `failure` happened, logged as a warning when it begins an outage (`then` says what
    /// follows from it) and at debug level while the outage lasts.
    fn failed(&self, failure: Failure, then: &str) -> String {
        let why = self.link.failed("EVALSHA", failure);
        if self.outage.began() {
            log::warn!("key counters: {why}; {then}");
        } else {
            log::debug!("key counters: {why}; {then}");
        }
        why
    }

    fn unavailable(&self, failure: Failure) -> Refusal {
        let why = self.failed(failure, "requests with keys are answered 503 until it is back");
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "api_error",
            message: format!("this key's budget and limits cannot be checked now ({why}); retry shortly"),
            retry_after: Some(1),
        }
    }

    /// Admits a request of key `token` under `limits`, expected to spend `estimate`.
    ///
    /// # Errors
    /// A 503 when Redis cannot be reached or refuses the script.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        token: &str,
        limits: Limits,
        estimate: Estimate,
    ) -> Result<Admitted, Refusal> {
        let lease = format!("{}:{}", self.id, self.next.fetch_add(1, Ordering::Relaxed));
        let args = [
            a("admit"),
            a(&lease),
            a(millis(self.lease)),
            a(estimate.cost.to_string()),
            a(estimate.tokens),
            a(limit(limits.max_budget)),
            a(limit(limits.max_parallel)),
            a(limit(limits.rpm)),
            a(limit(limits.tpm)),
            a(limit(limits.period)),
            a(millis(KEEP)),
        ];
        let reply: Vec<String> = self.run(token, &args).await.map_err(|f| self.unavailable(f))?;
        let field = |i: usize| reply.get(i).map_or("", String::as_str);
        let rolled = field(3).parse::<f64>().ok();
        let answer = match field(0) {
            "0" => {
                self.hold(token, &lease);
                Answer::Admitted(lease)
            }
            "1" => Answer::Refused(Refusal::over_budget(
                field(1).parse().unwrap_or(0.0),
                field(2).parse().unwrap_or(0.0),
                limits.max_budget.unwrap_or(0.0),
            )),
            "2" => Answer::Refused(Refusal::too_parallel(limits.max_parallel.unwrap_or(0))),
            "3" => {
                // Bounded: a reply past a minute is the window's length at most.
                let wait = field(1)
                    .parse::<u64>()
                    .unwrap_or(60_000)
                    .clamp(1, 60_000)
                    .div_ceil(1000);
                Answer::Refused(Refusal::window_full(field(2), wait))
            }
            "9" => Answer::Unseeded,
            other => {
                return Err(self.unavailable(Failure::Down(format!(
                    "unexpected answer {other:?} from the key counters script"
                ))))
            }
        };
        Ok(Admitted { answer, rolled })
    }

    /// Seeds a key's counters with the database's `spend` and period end `reset`, unless a
    /// replica did first.
    ///
    /// # Errors
    /// A 503 when Redis cannot be reached.
    pub(crate) async fn seed(&self, token: &str, spend: f64, reset: Option<f64>) -> Result<(), Refusal> {
        let reset = reset.map(|r| r.to_string()).unwrap_or_default();
        let args = [a("seed"), a(spend.to_string()), a(reset), a(millis(KEEP))];
        self.run::<i64>(token, &args)
            .await
            .map(drop)
            .map_err(|f| self.unavailable(f))
    }

    /// Waits (at most [`DRAIN`]) for the settlements sent in the background to finish: for a
    /// replica that stops.
    pub(crate) fn drain(&self) {
        let wait = async {
            loop {
                let done = self.drained.notified();
                if self.in_background.load(Ordering::Acquire) == 0 {
                    return;
                }
                done.await;
            }
        };
        let _ = crate::runtime::block(async { tokio::time::timeout(DRAIN, wait).await });
    }

    /// Sets when a key's budget period ends (`None`: it has none), after an admin changed it.
    ///
    /// # Errors
    /// Why Redis did not take it.
    pub(crate) async fn set_period(&self, token: &str, reset: Option<f64>) -> Result<(), String> {
        let reset = reset.map(|r| r.to_string()).unwrap_or_default();
        self.run::<i64>(token, &[a("period"), a(reset)])
            .await
            .map(drop)
            .map_err(|f| self.link.failed("EVALSHA", f))
    }

    /// A key's spend this period (`None`: no counters yet) and its requests in flight on every
    /// replica.
    ///
    /// # Errors
    /// Why Redis did not answer.
    pub(crate) async fn read(&self, token: &str, period: Option<f64>) -> Result<(Option<f64>, u64), String> {
        let reply: Vec<String> = self
            .run(token, &[a("read"), a(limit(period))])
            .await
            .map_err(|f| self.link.failed("EVALSHA", f))?;
        let spend = reply.first().and_then(|s| s.parse().ok());
        let in_flight = reply.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((spend, in_flight))
    }

    /// Drops a deleted key's counters.
    ///
    /// # Errors
    /// Why Redis did not take it.
    pub(crate) async fn forget(&self, token: &str) -> Result<(), String> {
        let mut del = ::redis::cmd("DEL");
        del.arg(&names(token));
        self.link
            .query::<i64>(&del)
            .await
            .map(drop)
            .map_err(|f| self.link.failed("DEL", f))
    }

    /// Notes a lease this replica holds (renewed until settled).
    fn hold(self: &Arc<Self>, token: &str, lease: &str) {
        if self.held.hold(token, lease) {
            crate::runtime::get().spawn(renew(Arc::downgrade(self)));
        }
    }

    /// The same counters with holds of `lease` (tests: a replica's death within a moment).
    #[cfg(test)]
    pub(crate) fn with_lease(mut self, lease: Duration) -> Hot {
        self.lease = lease;
        self
    }

    pub(super) fn forget_lease(&self, token: &str, lease: &str) {
        self.held.forget(token, lease);
    }
}

/// What is left of a request's settlement once this replica has counted it: ending its hold in
/// Redis.
pub(crate) struct Settlement {
    pub(crate) hot: Arc<Hot>,
    pub(crate) token: String,
    pub(crate) lease: String,
    /// USD spent.
    pub(crate) cost: f64,
    /// Tokens used (`None`: keep the estimate).
    pub(crate) tokens: Option<u64>,
    /// Where the spend is written once Redis says which budget period it counts in, and the
    /// model group it is written under (`None`: nothing was spent).
    pub(crate) store: Option<(Arc<PgKeyDb>, String)>,
}

impl Settlement {
    /// Ends the hold and queues the spend for the database; lost in an outage, the hold still
    /// runs out with its lease (and the spend is written for the current period).
    pub(crate) async fn run(self) {
        let hot = &self.hot;
        hot.forget_lease(&self.token, &self.lease);
        let tokens = self.tokens.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX));
        let args = [
            a("settle"),
            a(&self.lease),
            a(self.cost.to_string()),
            a(tokens),
            a(millis(KEEP)),
        ];
        let period = match hot.run::<String>(&self.token, &args).await {
            Ok(period) => period.parse().ok(),
            Err(failure) => {
                let then = format!(
                    "a request's settlement was lost; its hold runs out within {:?}",
                    hot.lease
                );
                hot.failed(failure, &then);
                None
            }
        };
        if let (Some((store, model)), true) = (self.store, self.cost > 0.0) {
            store.defer(Write::Spend {
                token: self.token,
                model,
                amount: self.cost,
                period,
            });
        }
    }

    /// [`Settlement::run`] in the background (a stopping replica waits for it, see [`Hot::drain`]).
    pub(crate) fn spawn(self) {
        let hot = Arc::clone(&self.hot);
        hot.in_background.fetch_add(1, Ordering::AcqRel);
        crate::runtime::get().spawn(async move {
            self.run().await;
            if hot.in_background.fetch_sub(1, Ordering::AcqRel) == 1 {
                hot.drained.notify_waiters();
            }
        });
    }
}

/// Renews this replica's leases every third of [`LEASE`] while it holds any.
async fn renew(hot: Weak<Hot>) {
    loop {
        let Some(period) = hot.upgrade().map(|h| h.lease / 3) else {
            return;
        };
        tokio::time::sleep(period).await;
        let Some(hot) = hot.upgrade() else {
            return;
        };
        let Some(held) = hot.held.due() else {
            return;
        };
        for (token, leases) in held {
            let mut args = vec![a("renew"), a(millis(hot.lease))];
            args.extend(leases.iter().map(a));
            if let Err(failure) = hot.run::<i64>(&token, &args).await {
                hot.failed(failure, "requests' holds could not be renewed");
            }
        }
    }
}
