//! Router state shared through Redis (`router_settings.redis_url`): every process routing the
//! same deployments counts their failures together, and a cooldown one of them starts takes the
//! deployment out for all. Under usage-based routing they also count each deployment's requests
//! and tokens of the current minute together: each process adds its own in the background and
//! reads the totals every [`USAGE_EVERY`].
//!
//! A failure is one script call, in the background: it counts the failure in a one-minute
//! counter and, when the deployment must go out (at once, or past `allowed_fails`), sets its
//! cooldown key for the period and publishes it. Every process listens on the channel and
//! cools its own copy; one that starts later reads the cooldowns in force. Keys are named by a
//! digest of the deployment id. Redis being down changes nothing but the sharing: each process
//! keeps its own cooldowns, as without Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use super::Deployment;
use crate::redis_link::RedisLink;

/// The channel cooldowns are published on.
const CHANNEL: &str = "liter_llm:rt:cool";
/// Each Redis command gives up after this.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the shared usage counters are read (usage-based routing).
pub(super) const USAGE_EVERY: Duration = Duration::from_secs(1);

/// Adds to a deployment's counters of one minute.
const COUNT: &str = r"
-- KEYS: the minute's hash. ARGV: requests, tokens.
redis.call('HINCRBY', KEYS[1], 'r', ARGV[1])
redis.call('HINCRBY', KEYS[1], 't', ARGV[2])
redis.call('PEXPIRE', KEYS[1], 120000)
return 1
";

/// Counts a failure; starts and publishes a cooldown when it is due.
const FAIL: &str = r"
-- KEYS: failures counter, cooldown key. ARGV: at once (1/0), allowed fails, period (ms), channel, digest.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], 60000)
end
if ARGV[1] == '1' or n > tonumber(ARGV[2]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. ARGV[3])
  return 1
end
return 0
";

/// The digest naming a deployment's keys.
pub(super) fn digest(id: &str) -> String {
    blake3::hash(id.as_bytes()).to_hex()[..16].to_owned()
}

/// The router's connection to its shared state.
pub(super) struct SharedRouter {
    link: RedisLink,
    /// Deployments by digest (weak: the router owns them).
    by_digest: HashMap<String, Weak<Deployment>>,
    listening: AtomicBool,
    /// Whether usage counters are shared (usage-based routing).
    usage: bool,
}

impl std::fmt::Debug for SharedRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedRouter")
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl SharedRouter {
    /// A connection for `url` (made on first use) sharing the state of `deployments`.
    ///
    /// # Errors
    /// A malformed URL.
    pub(super) fn new(url: &str, deployments: &[&Arc<Deployment>], usage: bool) -> Result<Arc<SharedRouter>, String> {
        let link = RedisLink::new(url, OP_TIMEOUT)?;
        let by_digest = deployments.iter().map(|d| (digest(&d.id), Arc::downgrade(d))).collect();
        let shared = Arc::new(SharedRouter {
            link,
            by_digest,
            listening: AtomicBool::new(false),
            usage,
        });
        if usage {
            crate::runtime::get().spawn(read_usage(Arc::downgrade(&shared)));
        }
        Ok(shared)
    }

    /// Adds `requests` and `tokens` to `deployment`'s shared counters of this minute, in the
    /// background (usage-based routing only).
    pub(super) fn count(self: &Arc<Self>, deployment: &Deployment, minute: u64, requests: u64, tokens: u64) {
        if !self.usage || (requests == 0 && tokens == 0) {
            return;
        }
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(COUNT)
            .arg(1)
            .arg(usage_key(&digest(&deployment.id), minute))
            .arg(requests)
            .arg(tokens);
        let me = Arc::clone(self);
        crate::runtime::get().spawn(async move {
            if let Err(failure) = me.link.query::<i64>(&cmd).await {
                log::debug!(target: "liter_llm", "router: usage not shared ({})", me.link.failed("EVAL", failure));
            }
        });
    }

    /// Starts listening for cooldowns (and reads those in force), once; again after the
    /// subscription broke.
    pub(super) fn listen(self: &Arc<Self>) {
        if !self.listening.swap(true, Ordering::AcqRel) {
            crate::runtime::get().spawn(listen(Arc::downgrade(self)));
        }
    }

    /// Shares a failure of `deployment` (`at_once`: it takes the deployment out whatever the
    /// count), in the background.
    pub(super) fn failed(self: &Arc<Self>, deployment: &Deployment, at_once: bool, allowed: u32, period: Duration) {
        self.listen();
        let me = Arc::clone(self);
        let d = digest(&deployment.id);
        let ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX).max(1);
        crate::runtime::get().spawn(async move {
            let mut cmd = ::redis::cmd("EVAL");
            cmd.arg(FAIL)
                .arg(2)
                .arg(format!("liter_llm:rt:{d}:fails"))
                .arg(format!("liter_llm:rt:{d}:cool"))
                .arg(u8::from(at_once))
                .arg(allowed)
                .arg(ms)
                .arg(CHANNEL)
                .arg(&d);
            if let Err(failure) = me.link.query::<i64>(&cmd).await {
                log::debug!(target: "liter_llm", "router: failure not shared ({})", me.link.failed("EVAL", failure));
            }
        });
    }

    /// Cools `digest`'s deployment for `period`, if it is one of ours.
    fn cool(&self, digest: &str, period: Duration) {
        if let Some(d) = self.by_digest.get(digest).and_then(Weak::upgrade) {
            d.health.cool_for(period, std::time::Instant::now());
        }
    }
}

/// The hash of a deployment's counters for one minute.
fn usage_key(digest: &str, minute: u64) -> String {
    format!("liter_llm:rt:{digest}:m:{minute}")
}

/// Reads every deployment's shared counters of this minute, every [`USAGE_EVERY`], while the
/// router lives.
async fn read_usage(shared: Weak<SharedRouter>) {
    loop {
        tokio::time::sleep(USAGE_EVERY).await;
        let Some(s) = shared.upgrade() else {
            return;
        };
        let minute = super::minute_now();
        for (digest, deployment) in &s.by_digest {
            let Some(deployment) = deployment.upgrade() else {
                continue;
            };
            let mut hmget = ::redis::cmd("HMGET");
            hmget.arg(usage_key(digest, minute)).arg("r").arg("t");
            if let Ok([requests, tokens]) = s.link.query::<[Option<u64>; 2]>(&hmget).await {
                deployment.set_shared_use(minute, requests.unwrap_or(0), tokens.unwrap_or(0));
            }
        }
    }
}

/// Reads the cooldowns in force, then applies every published one until the subscription ends.
async fn listen(shared: Weak<SharedRouter>) {
    let subscribed = async {
        let s = shared.upgrade()?;
        let mut pubsub = s.link.pubsub().await.ok()?;
        pubsub.subscribe(CHANNEL).await.ok()?;
        for digest in s.by_digest.keys() {
            let mut pttl = ::redis::cmd("PTTL");
            pttl.arg(format!("liter_llm:rt:{digest}:cool"));
            if let Ok(ms) = s.link.query::<i64>(&pttl).await {
                if let Ok(ms) = u64::try_from(ms) {
                    s.cool(digest, Duration::from_millis(ms));
                }
            }
        }
        Some(pubsub)
    };
    if let Some(pubsub) = subscribed.await {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let Some(s) = shared.upgrade() else {
                return;
            };
            let payload: String = message.get_payload().unwrap_or_default();
            if let Some((digest, ms)) = payload.split_once(' ') {
                // A cooldown from the wire is bounded like any other (a day at most).
                if let Ok(ms) = ms.parse::<u64>() {
                    s.cool(digest, Duration::from_millis(ms.min(86_400_000)));
                }
            }
        }
    }
    if let Some(s) = shared.upgrade() {
        s.listening.store(false, Ordering::Release);
    }
}
