//! The limiter's state in Redis, shared by every process that names the same server and limiter
//! name: one RPM/TPM/concurrency budget for a fleet.
//!
//! **One round trip per grant.** `limiter.lua` runs atomically on the server, timed by its clock
//! (`TIME`), and covers the request, its tokens and its concurrency slot together, all or nothing,
//! on the model's key and the global key at once. It keeps the in-process limiter's rules (see the
//! parent module): a window log of 128 buckets per window counted until their end leaves the
//! window (plus margin), two GCRA pacers, refund credit, cooldowns. Instead of answering "not yet",
//! a grant *books* the request at the earliest time every limit allows (on the pacing grid) and
//! answers the delay; the caller sleeps that long locally and goes. Bookings are made in the order
//! the server receives them, so callers of all processes go in arrival order, and a request that
//! would wait past `max_delay` books nothing. Settlement and a provider 429's pause are one more
//! call each, sent in the background.
//!
//! **Concurrency slots are leases** with an expiry (`lease`, 30 s by default) that the holding
//! process renews every third of it while the request runs; a process that dies returns its slots
//! when their leases run out. A caller that finds no free slot takes a ticket in the key's queue
//! (slots go to tickets in order) and waits for a release, announced on a pub/sub channel, or at
//! most [`POLL`], before asking again; a ticket not renewed by asking within [`TICKET`] lapses.
//!
//! **Outages.** A request never goes over the shared limit because Redis is unreachable. By
//! default ([`Outage::Wait`]) the grant retries until `max_delay`, then fails with
//! `ServiceUnavailable`; nothing is sent meanwhile. [`Outage::Local`] instead grants from an
//! in-process limiter holding `limit / processes` while Redis is down (opt-in: it trusts the
//! process count). Settlements and lease releases lost in an outage are safe: the estimate stays
//! counted and the lease expires. A Redis restarted without persistence forgets the window: every
//! key's state carries a generation, and a process that was granted within the window and finds a
//! new generation has the window counted as full, so nothing goes until it has passed (a fresh
//! start, with no process remembering grants, goes at once).

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redis::FromRedisValue;
use futures_util::StreamExt;
use tokio::sync::Notify;

use super::key::Key;
use crate::error::{Error, Kind, Result};
use crate::redis_link::{arg as a, Failure, Leases, RedisLink, Script};

/// The script every operation runs.
const SCRIPT: &str = include_str!("limiter.lua");
/// Longest a caller waiting for a concurrency slot goes without asking again.
pub const POLL: Duration = Duration::from_millis(250);
/// How long a waiting caller's ticket lasts without it asking again.
const TICKET: Duration = Duration::from_secs(2);
/// Each Redis command gives up after this.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between attempts to reach Redis while it is down.
const RECONNECT: Duration = Duration::from_millis(100);
/// Default lease of a concurrency slot.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// What a shared limiter does while its Redis server cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outage {
    /// Calls wait (nothing is sent) and retry until `max_delay`, then fail.
    #[default]
    Wait,
    /// Calls are granted by an in-process limiter holding this process's share of each limit.
    Local {
        /// How many processes share the limits.
        processes: u32,
    },
}

/// Where and under which name a limiter's state is shared.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// The budget's name: processes with the same server and name share it.
    pub name: String,
    /// How long a concurrency slot outlives a process that died holding it.
    pub lease: Duration,
    /// What happens while Redis is down.
    pub outage: Outage,
}

impl fmt::Debug for SharedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedConfig")
            .field("url", &crate::redis_link::shown(&self.url))
            .field("name", &self.name)
            .field("lease", &self.lease)
            .field("outage", &self.outage)
            .finish()
    }
}

/// Checks a budget name: 1 to 128 characters of letters, digits and `._:-`.
///
/// # Errors
/// `InvalidArgument` otherwise.
pub fn check_name(name: &str) -> Result<()> {
    let ok = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            Kind::InvalidArgument,
            format!("rate limiter name must be 1 to 128 letters, digits or ._:- characters, got {name:?}"),
        ))
    }
}

/// Why a call of the script failed.
#[derive(Debug)]
pub(crate) struct Failed {
    /// What happened (no password in it).
    pub(crate) why: String,
    /// Whether Redis could not be reached (else it refused: a bug, or a key of ours damaged).
    pub(crate) down: bool,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}

/// The answer to a grant.
pub(crate) enum Granted {
    /// Booked: go after `delay`; the bucket of the booking on each key.
    Go { delay: Duration, buckets: Vec<u64> },
    /// No concurrency slot: ask again after a release or at most `hint`.
    Queued { hint: Duration },
    /// The wait would pass `max_delay`: `wait` long, held back by key number `key`.
    TooLong { wait: Duration, key: usize },
}

/// A limiter's connection to its shared state.
pub(crate) struct Shared {
    link: RedisLink,
    /// `liter_llm:rl:{name}:`; the braces keep all of a budget's keys in one cluster slot.
    prefix: String,
    channel: String,
    pub(crate) lease: Duration,
    script: Script,
    /// This process's part of every caller id.
    id: String,
    next: AtomicU64,
    /// Leases held by this process, per leases key (renewed in the background).
    held: Leases,
    /// Woken when a slot is released anywhere.
    pub(crate) free: Notify,
    listening: AtomicBool,
    /// This process's place on the server (for messages).
    shown: String,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("prefix", &self.prefix)
            .field("link", &self.link)
            .finish()
    }
}

/// Redis key names of one limiter key.
pub(crate) fn names(prefix: &str, key: &Key) -> [String; 5] {
    let base = if key.spec.name == "*" {
        format!("{prefix}g")
    } else {
        format!("{prefix}m:{}", key.spec.name)
    };
    ["s", "b", "l", "q", "a"].map(|part| format!("{base}:{part}"))
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Shared {
    /// A connection (made on first use) for `config`.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed URL or name.
    pub(crate) fn new(config: &SharedConfig) -> Result<Shared> {
        check_name(&config.name)?;
        if config.lease < Duration::from_millis(100) || config.lease > Duration::from_secs(86_400) {
            return Err(Error::new(
                Kind::InvalidArgument,
                format!(
                    "lease_seconds must be between 0.1 and 86400, got {}",
                    config.lease.as_secs_f64()
                ),
            ));
        }
        if let Outage::Local { processes: 0 } = config.outage {
            return Err(Error::new(
                Kind::InvalidArgument,
                "expected_processes must be at least 1",
            ));
        }
        let link = RedisLink::new(&config.url, OP_TIMEOUT).map_err(|e| Error::new(Kind::InvalidArgument, e))?;
        let prefix = format!("liter_llm:rl:{{{}}}:", config.name);
        Ok(Shared {
            link,
            channel: format!("{prefix}free"),
            prefix,
            lease: config.lease,
            script: Script::new(SCRIPT),
            id: format!("{:016x}", fastrand::u64(..)),
            next: AtomicU64::new(0),
            held: Leases::default(),
            free: Notify::new(),
            listening: AtomicBool::new(false),
            shown: crate::redis_link::shown(&config.url),
        })
    }

    /// A fresh caller id (also the lease's).
    pub(crate) fn caller(&self) -> String {
        format!("{}:{}", self.id, self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// The server, for messages.
    pub(crate) fn shown(&self) -> &str {
        &self.shown
    }

    /// Runs the script with `keys` and `args`.
    async fn eval<T: FromRedisValue>(&self, keys: &[String], args: &[Vec<Vec<u8>>]) -> std::result::Result<T, Failed> {
        self.script
            .run(&self.link, keys, args)
            .await
            .map_err(|(verb, f)| self.failed(verb, f))
    }

    fn failed(&self, verb: &str, failure: Failure) -> Failed {
        let down = matches!(failure, Failure::Down(_));
        Failed {
            why: self.link.failed(verb, failure),
            down,
        }
    }

    /// Asks for a grant of `tokens` on `keys` (at most two) for caller `who`; `now` is the
    /// limiter's clock (to tell whether this process was granted within the window).
    pub(crate) async fn grant(
        &self,
        now: u64,
        keys: &[&Key],
        tokens: u64,
        max_delay: Duration,
        granularity: u64,
        who: &str,
    ) -> std::result::Result<Granted, Failed> {
        let redis_keys: Vec<String> = keys.iter().flat_map(|k| names(&self.prefix, k)).collect();
        let keep = keys
            .iter()
            .map(|k| k.span_ns() / 1_000_000)
            .max()
            .unwrap_or(0)
            .saturating_add(u64::try_from(max_delay.as_millis()).unwrap_or(u64::MAX))
            .saturating_add(u64::try_from(self.lease.as_millis()).unwrap_or(u64::MAX))
            .saturating_add(60_000);
        let mut args = vec![
            a("grant"),
            a(keys.len()),
            a(tokens),
            a(micros(max_delay)),
            a(granularity.div_ceil(1000)),
            a(micros(self.lease)),
            a(who),
            a(who),
            a(micros(TICKET)),
            a(keep),
        ];
        for key in keys {
            args.extend(key.wire_spec().into_iter().map(a));
        }
        for key in keys {
            let booked = key.booked.load(Ordering::Acquire);
            let recent = booked > 0 && now.saturating_sub(key.span_ns()) < booked;
            args.push(a(key.generation.load(Ordering::Acquire)));
            args.push(a(u8::from(recent)));
        }
        let answer: Vec<i64> = self.eval(&redis_keys, &args).await?;
        let at = |i: usize| answer.get(i).copied().unwrap_or(0);
        let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        Ok(match at(0) {
            0 => {
                for (i, key) in keys.iter().enumerate() {
                    let seen = u64::try_from(at(keys.len() + i + 2)).unwrap_or(0);
                    key.generation.store(seen, Ordering::Release);
                }
                Granted::Go {
                    // The script books nothing past max_delay; a reply that says otherwise is
                    // not slept on for longer.
                    delay: us(at(1)).min(max_delay),
                    buckets: (0..keys.len()).map(|i| u64::try_from(at(i + 2)).unwrap_or(0)).collect(),
                }
            }
            1 => Granted::Queued {
                hint: match us(at(1)) {
                    Duration::ZERO => POLL,
                    hint => hint.min(POLL),
                },
            },
            _ => Granted::TooLong {
                wait: us(at(1)).min(super::MAX_WINDOW * 365),
                key: usize::try_from(at(3)).unwrap_or(1).saturating_sub(1),
            },
        })
    }

    /// Settles a grant: `actual` tokens instead of `reserved` (`None`: keep the estimate), and
    /// gives its lease back.
    pub(crate) async fn settle(
        &self,
        keys: &[(Arc<Key>, u64)],
        reserved: u64,
        actual: Option<u64>,
        lease: Option<&str>,
    ) -> std::result::Result<(), Failed> {
        let redis_keys: Vec<String> = keys.iter().flat_map(|(k, _)| names(&self.prefix, k)).collect();
        let actual = actual.map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX));
        let mut args = vec![
            a("settle"),
            a(keys.len()),
            a(reserved),
            a(actual),
            a(lease.unwrap_or("")),
            a(&self.channel),
        ];
        for (key, bucket) in keys {
            let spec = key.wire_spec();
            args.extend([
                a(*bucket),
                a(spec[1]),
                a(spec[3]),
                a(key.window() / 1000 / super::key::REFUND_CREDIT),
            ]);
        }
        let result = self.eval::<i64>(&redis_keys, &args).await.map(drop);
        if let Some(lease) = lease {
            for (key, _) in keys {
                self.held.forget(&names(&self.prefix, key)[2], lease);
            }
        }
        result
    }

    /// Pauses `key` for every process for `period` (a provider 429).
    pub(crate) async fn pause(&self, key: &Key, period: Duration) -> std::result::Result<(), Failed> {
        let [state, ..] = names(&self.prefix, key);
        self.eval::<i64>(&[state], &[a("pause"), a(micros(period))])
            .await
            .map(drop)
    }

    /// Notes a lease held on `key` (renewed in the background until settled).
    pub(crate) fn hold(self: &Arc<Self>, key: &Key, lease: &str) {
        if self.held.hold(&names(&self.prefix, key)[2], lease) {
            crate::runtime::get().spawn(renew(Arc::downgrade(self)));
        }
    }

    /// Listens for slot releases (once per process; again after the subscription breaks).
    pub(crate) fn listen(self: &Arc<Self>) {
        if !self.listening.swap(true, Ordering::AcqRel) {
            crate::runtime::get().spawn(listen(Arc::downgrade(self)));
        }
    }
}

/// Renews this process's leases every third of the lease time while it holds any.
async fn renew(shared: Weak<Shared>) {
    loop {
        let Some(period) = shared.upgrade().map(|s| s.lease / 3) else {
            return;
        };
        tokio::time::sleep(period).await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let Some(held) = shared.held.due() else {
            return;
        };
        for (leases, ids) in held {
            let mut args = vec![a("renew"), a(micros(shared.lease))];
            args.extend(ids.iter().map(a));
            if let Err(why) = shared.eval::<i64>(&[leases], &args).await {
                log::warn!(target: "liter_llm", "rate limiter: could not renew concurrency leases: {why}");
            }
        }
    }
}

/// Wakes this process's waiting callers whenever a slot is released anywhere.
async fn listen(shared: Weak<Shared>) {
    let subscribed = async {
        let s = shared.upgrade()?;
        let mut pubsub = s.link.pubsub().await.ok()?;
        pubsub.subscribe(&s.channel).await.ok()?;
        Some(pubsub)
    };
    if let Some(pubsub) = subscribed.await {
        let mut messages = pubsub.into_on_message();
        while messages.next().await.is_some() {
            match shared.upgrade() {
                Some(s) => s.free.notify_waiters(),
                None => return,
            }
        }
    }
    // Broken or never made: waiters fall back to asking every POLL; the next one listens again.
    if let Some(s) = shared.upgrade() {
        s.listening.store(false, Ordering::Release);
    }
}

/// Pause before the next attempt to reach Redis.
pub(crate) fn reconnect_pause() -> Duration {
    RECONNECT
}

#[cfg(test)]
mod tests;
