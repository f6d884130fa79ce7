//! Deployment routing: a model group (`model_name`) spread over deployments (a model at one
//! host with one key), as LiteLLM's Router and proxy `config.yaml` describe them.
//!
//! A call whose model names a group is routed here before the pipeline's first stage: a
//! deployment is picked ([`pick`]) among those not cooling down ([`health`]) and with room
//! under their own `rpm`/`tpm`, by the group's strategy; the call then runs through that
//! deployment's own client (the whole pipeline: its key bound to its host, its limiter, its
//! accounting under the deployment's id). A failure moves on to another deployment at once,
//! then to the fallbacks ([`failover`]). A model that is not a group is not touched.

pub mod config;
mod failover;
mod health;
mod pick;
mod probe;
mod session;
mod shared;
pub mod spec;
pub mod yaml;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::client::Client;
use crate::config::ClientConfig;
use crate::error::{Error, Kind, Result};
use crate::ratelimit::{self, RateLimitConfig, RateLimiter};

pub use failover::Busy;
pub(crate) use failover::Served;
use health::Health;
use session::Sessions;
use spec::{RouterSettings, RouterSpec};

/// One deployment and its live state.
#[derive(Debug)]
pub struct Deployment {
    /// Its id: `model_info.id`, or one derived from its group, model and host.
    pub id: Arc<str>,
    /// The group it serves.
    pub group: String,
    /// The model as routed (`azure/gpt-4o`).
    pub model: String,
    /// The model as its provider knows it (`gpt-4o`).
    wire_model: String,
    /// Its host, for display (credentials masked).
    pub api_base: Option<String>,
    /// `weight`, as configured.
    pub weight: Option<f64>,
    /// `order`, as configured.
    pub order: Option<u32>,
    /// `rpm`, as configured.
    pub rpm: Option<u64>,
    /// `tpm`, as configured.
    pub tpm: Option<u64>,
    /// The client that makes its calls.
    pub(crate) client: Client,
    /// Headers sent with each of its requests (a request's own headers win).
    pub(crate) headers: HeaderMap,
    /// Default request parameters for chat bodies that do not set them.
    pub(crate) defaults: Map<String, Value>,
    /// Its share under `simple-shuffle`: the weight, else rpm, else tpm, else 1.
    share: f64,
    /// Whether it has its own rate limiter (so "room" can be asked).
    limited: bool,
    in_flight: AtomicU32,
    /// Moving average of latency in seconds, as f64 bits (0: not measured yet).
    latency: AtomicU64,
    health: Health,
    minute: Mutex<MinuteUse>,
    /// This minute's use by every process, as last read from Redis (usage-based routing with
    /// `router_settings.redis_url`).
    shared_minute: Mutex<MinuteUse>,
}

/// Requests and tokens of the current minute (usage-based routing).
#[derive(Debug, Default)]
struct MinuteUse {
    minute: u64,
    requests: u64,
    tokens: u64,
}

/// Weight of the newest latency in the moving average.
const LATENCY_ALPHA: f64 = 0.3;

impl Deployment {
    /// Requests in flight now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// How long it stays out, when cooling down.
    pub fn cooling_left(&self) -> Option<Duration> {
        self.health.cooling_left(Instant::now())
    }

    /// The moving average of its latency in seconds (`None` before its first success).
    pub fn latency(&self) -> Option<f64> {
        let v = f64::from_bits(self.latency.load(Ordering::Relaxed));
        (v > 0.0).then_some(v)
    }

    fn record_latency(&self, seconds: f64) {
        let _ = self.latency.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
            let old = f64::from_bits(bits);
            let new = if old > 0.0 {
                old + LATENCY_ALPHA * (seconds - old)
            } else {
                seconds
            };
            Some(new.max(f64::MIN_POSITIVE).to_bits())
        });
    }

    /// Counts a request (and later its tokens) in the current minute.
    fn count(&self, requests: u64, tokens: u64) {
        let minute = minute_now();
        let mut m = self.minute.lock().unwrap_or_else(PoisonError::into_inner);
        if m.minute != minute {
            *m = MinuteUse {
                minute,
                ..MinuteUse::default()
            };
        }
        m.requests = m.requests.saturating_add(requests);
        m.tokens = m.tokens.saturating_add(tokens);
    }

    /// Notes every process's use of this minute, as read from Redis.
    fn set_shared_use(&self, minute: u64, requests: u64, tokens: u64) {
        *self.shared_minute.lock().unwrap_or_else(PoisonError::into_inner) = MinuteUse {
            minute,
            requests,
            tokens,
        };
    }

    /// The share of its limits used this minute (requests alone when it has none, scaled
    /// down so that a limited deployment with room is not always preferred): this process's
    /// use, or every process's as last read when that is more.
    fn usage_share(&self) -> f64 {
        let now = minute_now();
        let read = |m: &Mutex<MinuteUse>| {
            let m = m.lock().unwrap_or_else(PoisonError::into_inner);
            if m.minute == now {
                (m.requests, m.tokens)
            } else {
                (0, 0)
            }
        };
        let (local, shared) = (read(&self.minute), read(&self.shared_minute));
        let (requests, tokens) = (local.0.max(shared.0), local.1.max(shared.1));
        let share = |used: u64, limit: Option<u64>| limit.map(|l| used as f64 / l.max(1) as f64);
        match (share(requests, self.rpm), share(tokens, self.tpm)) {
            (None, None) => requests as f64 / 1e6,
            (a, b) => a.unwrap_or(0.0).max(b.unwrap_or(0.0)),
        }
    }

    /// How long a request would wait for its own limiter now.
    fn wait_for_room(&self) -> Duration {
        match (&self.client.config().rate_limiter, self.limited) {
            (Some(limiter), true) => limiter.wait_for(&self.model, 1),
            _ => Duration::ZERO,
        }
    }
}

/// Minutes since the Unix epoch.
fn minute_now() -> u64 {
    minute_clock_seconds() / 60
}

/// Seconds since the Unix epoch (the clock usage minutes are counted on).
fn minute_clock_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The deployments of one group.
#[derive(Debug)]
pub struct Group {
    /// `model_name`.
    pub name: String,
    /// Its deployments, in config order.
    pub members: Vec<Arc<Deployment>>,
}

/// Every group of a client, with the router's settings.
#[derive(Debug)]
pub struct Deployments {
    groups: HashMap<String, Group>,
    settings: RouterSettings,
    /// Attempts on other deployments after the first.
    num_retries: u32,
    /// The longest wait for a cooling group, or for room under a deployment's limits.
    max_wait: Duration,
    sessions: Sessions,
    /// Backoff when the only deployment left is the one that just failed.
    policy: crate::retry::RetryPolicy,
    /// Failures and cooldowns shared with other processes (`router_settings.redis_url`).
    shared: Option<Arc<shared::SharedRouter>>,
}

impl Deployments {
    /// Builds every deployment's client from `spec` with `client_for`, each config a copy of
    /// `parent` with the deployment's key, host, `api_version`, timeout and limits (its
    /// `extra_headers` go with each request). `max_wait` bounds waits for a cooling group and
    /// for room under a deployment's `rpm`/`tpm`.
    ///
    /// # Errors
    /// `InvalidArgument` for a deployment its client cannot be built for (a bad `api_base` or
    /// header).
    pub fn build(
        spec: RouterSpec,
        parent: &ClientConfig,
        max_wait: Duration,
        client_for: impl Fn(ClientConfig) -> Result<Client>,
    ) -> Result<Self> {
        let mut groups: HashMap<String, Group> = HashMap::new();
        let mut taken: HashMap<String, usize> = HashMap::new();
        for (index, d) in spec.deployments.into_iter().enumerate() {
            let id = match &d.id {
                Some(id) => id.clone(),
                None => unique(&mut taken, generated_id(&d)),
            };
            taken.entry(id.clone()).or_insert(1);
            let id: Arc<str> = Arc::from(id);
            let context = |e: Error| {
                Error::new(
                    Kind::InvalidArgument,
                    format!("model_list[{index}] ({}): {}", d.group, e.message()),
                )
            };
            let mut config = parent.clone();
            config.api_key = d.api_key.clone().unwrap_or_default();
            config.base_url.clone_from(&d.api_base);
            config.model_hint = Some(d.model.clone());
            config.max_retries = d.max_retries.unwrap_or(0);
            if let Some(t) = d.timeout.or(spec.settings.timeout) {
                config.timeout = t;
            }
            let mut headers = HeaderMap::new();
            for (name, value) in &d.extra_headers {
                let (name, mut value) = crate::http::header_pair(name, value).map_err(context)?;
                // It may carry a credential: never shown by `Debug`.
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            if d.api_version.is_some() {
                config.api_version.clone_from(&d.api_version);
            }
            let limited = d.rpm.is_some() || d.tpm.is_some();
            if limited {
                let limits = ratelimit::Limits {
                    rpm: d.rpm,
                    tpm: d.tpm,
                    max_concurrency: None,
                };
                let limiter = RateLimiter::new(RateLimitConfig {
                    global: limits,
                    max_delay: max_wait,
                    shared: spec.settings.redis.as_ref().map(|url| shared_limits(url, &id)),
                    ..RateLimitConfig::default()
                })
                .map_err(context)?;
                config.rate_limiter = Some(Arc::new(limiter));
            }
            config.deployment = Some(Arc::clone(&id));
            let client = client_for(config).map_err(context)?;
            let share = d
                .weight
                .or(d.rpm.map(|v| v as f64))
                .or(d.tpm.map(|v| v as f64))
                .unwrap_or(1.0);
            let wire_model = client.router.route(&d.model).model.to_owned();
            let deployment = Deployment {
                id,
                wire_model,
                api_base: d.api_base.as_deref().map(|b| crate::redact::url(b).into_owned()),
                weight: d.weight,
                order: d.order,
                rpm: d.rpm,
                tpm: d.tpm,
                client,
                headers,
                defaults: d.defaults,
                share,
                limited,
                in_flight: AtomicU32::new(0),
                latency: AtomicU64::new(0),
                health: Health::default(),
                minute: Mutex::new(MinuteUse::default()),
                shared_minute: Mutex::new(MinuteUse::default()),
                model: d.model,
                group: d.group.clone(),
            };
            groups
                .entry(d.group.clone())
                .or_insert_with(|| Group {
                    name: d.group,
                    members: Vec::new(),
                })
                .members
                .push(Arc::new(deployment));
        }
        let shared = match &spec.settings.redis {
            Some(url) => {
                let all: Vec<&Arc<Deployment>> = groups.values().flat_map(|g| g.members.iter()).collect();
                let usage = spec.settings.strategy == spec::Strategy::UsageBased;
                let shared = shared::SharedRouter::new(url.expose(), &all, usage)
                    .map_err(|e| Error::new(Kind::InvalidArgument, format!("router_settings: {e}")))?;
                shared.listen();
                Some(shared)
            }
            None => None,
        };
        Ok(Deployments {
            shared,
            groups,
            num_retries: spec.settings.num_retries.unwrap_or(parent.max_retries),
            settings: spec.settings,
            max_wait,
            sessions: Sessions::default(),
            policy: crate::retry::RetryPolicy::new(parent.max_retries),
        })
    }

    /// The group named `model`, if any.
    pub fn group(&self, model: &str) -> Option<&Group> {
        self.groups.get(model)
    }

    /// The groups' names, sorted.
    pub fn group_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.groups.keys().cloned().collect();
        names.sort_unstable();
        names
    }

    /// Every deployment, grouped by group name (groups sorted), in config order within each.
    pub fn all(&self) -> Vec<&Arc<Deployment>> {
        let mut names: Vec<&String> = self.groups.keys().collect();
        names.sort();
        names.into_iter().flat_map(|n| self.groups[n].members.iter()).collect()
    }

    /// The router's settings.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// The longest wait for a cooling group, or for room under a deployment's limits.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }
}

/// A stable id for a deployment without `model_info.id`: its group, model and host.
fn generated_id(d: &spec::DeploymentSpec) -> String {
    // FNV-1a: stable across runs and platforms (unlike the std hasher).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let fields = [d.group.as_str(), d.model.as_str(), d.api_base.as_deref().unwrap_or("")];
    for byte in fields.join("\0").bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}-{:08x}", d.group, hash >> 32)
}

/// `id`, or `id-2`, `id-3`... when taken (two deployments of one model at one host).
/// The shared budget of deployment `id`: named by a digest of the id (any text), so every
/// process routing the same deployment shares it.
fn shared_limits(url: &crate::config::Secret, id: &str) -> ratelimit::shared::SharedConfig {
    ratelimit::shared::SharedConfig {
        url: url.expose().to_owned(),
        name: format!("deployment-{}", shared::digest(id)),
        lease: ratelimit::shared::DEFAULT_LEASE,
        outage: ratelimit::shared::Outage::Wait,
    }
}

fn unique(taken: &mut HashMap<String, usize>, id: String) -> String {
    match taken.get_mut(&id) {
        None => id,
        Some(n) => {
            *n += 1;
            let next = format!("{id}-{n}");
            unique(taken, next)
        }
    }
}

#[cfg(test)]
mod tests;
