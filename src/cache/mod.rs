//! The response cache: keys ([`key`]), backends (in memory, SQLite, Redis), in-flight
//! de-duplication ([`flight`]) and replay of stored answers as responses or streams
//! ([`payload`]). The client consults it above routing, so every deployment of a group shares
//! its entries (see `client/cached.rs`).
//!
//! A backend that is down, full or corrupt never fails a call: the call goes through uncached,
//! one warning is logged when the outage starts (and a note when it ends), and
//! [`CacheStats::errors`] counts every failed operation.

pub mod flight;
pub mod key;
pub mod memory;
pub mod payload;
pub mod recorder;
pub mod redis;
pub mod sqlite;
pub mod store;

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;

use crate::error::{Error, Kind, Result};
use flight::{Flights, Lead};
use key::{Canon, KeyHasher, Scope};
use memory::MemoryStore;
use payload::Payload;
use store::{now_ms, Key, Record, Store, StoreError};

/// The memory backend's default budget.
pub const DEFAULT_MEMORY_BYTES: u64 = 256 << 20;
/// The SQLite backend's default size cap.
pub const DEFAULT_DISK_BYTES: u64 = 1 << 30;
/// The largest answer a shared backend is sent.
pub const MAX_ENTRY_BYTES: usize = 64 << 20;
/// How long one Redis operation may take before the call goes on uncached.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// How long another process's claim on a call in flight is waited for at most: a process that
/// dies holding one delays the callers of that request by no more than this.
pub const CLAIM_TTL: Duration = Duration::from_secs(30);
/// How often a caller waiting for another process's call asks for its answer.
pub const FOLLOW_POLL: Duration = Duration::from_millis(20);

/// How a cache is built: where, and its defaults. Its `Debug` masks the URL's password.
#[derive(Clone, Default)]
pub struct CacheSettings {
    /// `memory`, `sqlite://PATH` or `redis://[user:password@]host:port[/db]`.
    pub url: String,
    /// How long entries live (`None`: until evicted).
    pub ttl: Option<Duration>,
    /// The memory budget or the SQLite file's cap (defaults per backend).
    pub max_bytes: Option<u64>,
    /// Entries of one namespace are never seen from another.
    pub namespace: String,
}

impl fmt::Debug for CacheSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheSettings")
            .field("url", &crate::redis_link::shown(&self.url))
            .field("ttl", &self.ttl)
            .field("max_bytes", &self.max_bytes)
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// Per-call cache directives (LiteLLM's names in Python: `no-cache`, `no-store`, `ttl`,
/// `s-maxage`, `namespace`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Control {
    /// Do not read: always ask upstream (the answer is still stored).
    pub no_cache: bool,
    /// Do not write this answer.
    pub no_store: bool,
    /// This entry's lifetime, instead of the cache's.
    pub ttl: Option<Duration>,
    /// Accept only entries at most this old.
    pub s_maxage: Option<Duration>,
    /// This call's namespace, instead of the cache's.
    pub namespace: Option<String>,
    /// The call's key, once computed (by a memory lookup made before the call was spawned).
    pub(crate) key: Option<Key>,
    /// That lookup found nothing: the call need not look again.
    pub(crate) looked: bool,
}

impl Control {
    /// Neither reads nor writes: the cache is bypassed.
    pub fn bypass(&self) -> bool {
        self.no_cache && self.no_store
    }
}

/// Counters of a cache since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found nothing usable.
    pub misses: u64,
    /// Calls answered by an identical call already in flight.
    pub joined: u64,
    /// Answers written.
    pub writes: u64,
    /// Backend operations that failed (each one an uncached call or a skipped write).
    pub errors: u64,
    /// Answers not written because they were too large.
    pub skipped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    joined: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
    skipped: AtomicU64,
}

enum Backend {
    Memory(MemoryStore),
    Shared(Box<dyn Store>),
}

/// A response cache, shareable by many clients.
pub struct Cache {
    backend: Backend,
    settings: CacheSettings,
    /// The calls in flight, by key.
    pub flights: Arc<Flights>,
    counters: Counters,
    /// The kinds of operation failing now ([`READS`], [`WRITES`]): an outage while not 0.
    failing: AtomicU8,
    /// This cache's id as the owner of cross-process claims.
    owner: String,
}

/// Lookups, for [`Cache`]'s outage tracking.
const READS: u8 = 1;
/// Writes, for [`Cache`]'s outage tracking.
const WRITES: u8 = 2;

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cache({})", self.shown_url())
    }
}

impl Cache {
    /// Builds a cache. Nothing is opened or connected yet: a backend that is unreachable now
    /// makes calls go uncached, never this fail.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown scheme or a malformed URL.
    pub fn open(settings: CacheSettings) -> Result<Cache> {
        let url = settings.url.trim();
        let bad = |why: &str| {
            Error::new(
                Kind::InvalidArgument,
                format!("cache {:?}: {why}", crate::redis_link::shown(url)),
            )
        };
        let backend = if url == "memory" || url == "memory://" {
            Backend::Memory(MemoryStore::new(settings.max_bytes.unwrap_or(DEFAULT_MEMORY_BYTES)))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("sqlite:// needs a path, as in sqlite:///var/cache/llm.db"));
            }
            let max_bytes = settings.max_bytes.unwrap_or(DEFAULT_DISK_BYTES);
            Backend::Shared(Box::new(sqlite::SqliteStore::new(path.into(), max_bytes)))
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            let store = redis::RedisStore::new(url, REDIS_TIMEOUT).map_err(|e| bad(&e.0))?;
            Backend::Shared(Box::new(store))
        } else {
            return Err(bad(
                "expected \"memory\", \"sqlite://PATH\" or \"redis://host:port/db\"",
            ));
        };
        Ok(Cache {
            backend,
            settings,
            flights: Arc::default(),
            counters: Counters::default(),
            failing: AtomicU8::new(0),
            owner: format!("{:016x}", fastrand::u64(..)),
        })
    }

    /// The settings it was built with.
    pub fn settings(&self) -> &CacheSettings {
        &self.settings
    }

    /// The URL without its password.
    pub fn shown_url(&self) -> String {
        crate::redis_link::shown(&self.settings.url)
    }

    /// The backend's kind: `memory`, `sqlite` or `redis`.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Memory(_) => "memory",
            Backend::Shared(s) => s.kind(),
        }
    }

    /// The counters so far.
    pub fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            joined: c.joined.load(Relaxed),
            writes: c.writes.load(Relaxed),
            errors: c.errors.load(Relaxed),
            skipped: c.skipped.load(Relaxed),
        }
    }

    /// Counts a call answered by another's flight.
    pub fn note_joined(&self) {
        self.counters.joined.fetch_add(1, Relaxed);
    }

    fn hasher(&self, control: &Control, target: (&str, &str), model: &str, endpoint: &str) -> KeyHasher {
        let namespace = control.namespace.as_deref().unwrap_or(&self.settings.namespace);
        KeyHasher::new(Scope {
            namespace,
            provider: target.0,
            base: target.1,
            model,
            endpoint,
        })
    }

    /// The key of a chat request (`target`: the provider and its base URL): its body (see [`key`]) and the per-call headers that may
    /// change the answer.
    pub fn chat_key(
        &self,
        control: &Control,
        target: (&str, &str),
        model: &str,
        body: &Canon<'_>,
        headers: &HeaderMap,
    ) -> Key {
        let mut h = self.hasher(control, target, model, "chat");
        h.body(body, &[]);
        for (name, value) in headers {
            if key::header_matters(name.as_str()) {
                h.header(name.as_str(), value.as_bytes());
            }
        }
        h.finish()
    }

    /// One key per embeddings input item: the request's parameters (not its `input`, nor the
    /// `encoding_format` the vectors travel in) and the item.
    pub fn embedding_keys(
        &self,
        control: &Control,
        target: (&str, &str),
        model: &str,
        body: &Canon<'_>,
        items: &[&Canon<'_>],
    ) -> Vec<Key> {
        let mut h = self.hasher(control, target, model, "embeddings");
        h.body(body, &["input", "encoding_format"]);
        items
            .iter()
            .map(|item| {
                let mut one = h.clone();
                one.value(item);
                one.finish()
            })
            .collect()
    }

    /// [`Cache::lookup`] without waiting, for the memory backend; `None` for the others.
    pub fn lookup_now(&self, key: &Key, control: &Control) -> Option<Option<Arc<Payload>>> {
        match self.backend {
            Backend::Memory(_) => futures_util::FutureExt::now_or_never(self.lookup(key, control)),
            Backend::Shared(_) => None,
        }
    }

    /// The entry under `key` if there is a usable one (fresh enough for `control`). A backend
    /// failure is a miss.
    pub async fn lookup(&self, key: &Key, control: &Control) -> Option<Arc<Payload>> {
        let now = now_ms();
        let found = match &self.backend {
            Backend::Memory(m) => m.get(key, now).map(|f| (f.payload, f.written_ms)),
            Backend::Shared(s) => self
                .guard(READS, s.get(key))
                .await
                .flatten()
                .and_then(|r| Payload::decode(&r.value).map(|p| (Arc::new(p), r.written_ms))),
        };
        let fresh = found.filter(|(_, written)| {
            control
                .s_maxage
                .is_none_or(|max| now.saturating_sub(*written) <= u64::try_from(max.as_millis()).unwrap_or(u64::MAX))
        });
        let counter = if fresh.is_some() {
            &self.counters.hits
        } else {
            &self.counters.misses
        };
        counter.fetch_add(1, Relaxed);
        fresh.map(|(payload, _)| payload)
    }

    /// Writes `payload` under `key` unless `control` says not to, and returns once it is
    /// readable (a failed write is counted and warned about, never raised). `lead` (the flight
    /// that produced it) ends after the write, so no caller in between misses the answer.
    pub async fn store(&self, key: Key, payload: Arc<Payload>, control: &Control, lead: Option<Lead>) {
        if control.no_store {
            return;
        }
        let ttl = control.ttl.or(self.settings.ttl);
        let now = now_ms();
        let counter = match &self.backend {
            Backend::Memory(m) => {
                if m.put(key, payload, now, ttl) {
                    &self.counters.writes
                } else {
                    &self.counters.skipped
                }
            }
            Backend::Shared(s) => {
                let value = payload.encode();
                if value.len() > MAX_ENTRY_BYTES {
                    &self.counters.skipped
                } else {
                    let record = Record { written_ms: now, value };
                    match self.guard(WRITES, s.put(&key, record, ttl)).await {
                        Some(()) => &self.counters.writes,
                        None => return,
                    }
                }
            }
        };
        counter.fetch_add(1, Relaxed);
        drop(lead);
    }

    /// [`Cache::store`] without waiting: for a stream, which ends inside a read.
    pub fn store_in_background(
        self: &Arc<Self>,
        key: Key,
        payload: Arc<Payload>,
        control: Control,
        lead: Option<Lead>,
    ) {
        if let Backend::Memory(_) = self.backend {
            // A memory write never waits: do it now, so the next call already sees it.
            let _ = futures_util::FutureExt::now_or_never(self.store(key, payload, &control, lead));
            return;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move { cache.store(key, payload, &control, lead).await });
    }

    /// Claims the call of `key` across processes for `lead` (shared backends): `true` when
    /// this process makes the call (also when the backend cannot say), `false` when another
    /// process has it in flight. A claim is given back when the lead ends.
    pub async fn claim(self: &Arc<Self>, key: Key, lead: &mut Lead) -> bool {
        let Backend::Shared(store) = &self.backend else {
            return true;
        };
        if !store.shares_flights() {
            return true;
        }
        match self.guard(READS, store.claim(&key, &self.owner, CLAIM_TTL)).await {
            Some(false) => false,
            Some(true) => {
                let cache = Arc::clone(self);
                lead.on_end(Box::new(move || {
                    crate::runtime::get().spawn(async move {
                        if let Backend::Shared(store) = &cache.backend {
                            let _ = cache.guard(WRITES, store.release(&key, &cache.owner)).await;
                        }
                    });
                }));
                true
            }
            None => true,
        }
    }

    /// Waits for another process's call of `key`: its stored answer, or `None` once its claim
    /// is gone without one (it failed, did not store, or its process died and the claim ran
    /// out after [`CLAIM_TTL`]). Asks every [`FOLLOW_POLL`].
    pub async fn await_other(&self, key: &Key, control: &Control) -> Option<Arc<Payload>> {
        let Backend::Shared(store) = &self.backend else {
            return None;
        };
        let deadline = tokio::time::Instant::now() + CLAIM_TTL + FOLLOW_POLL;
        loop {
            if let Some(found) = self.lookup(key, control).await {
                return Some(found);
            }
            if self.guard(READS, store.claimed(key)).await != Some(true) || tokio::time::Instant::now() >= deadline {
                // One last look: the answer may have landed just before the claim went.
                return self.lookup(key, control).await;
            }
            tokio::time::sleep(FOLLOW_POLL).await;
        }
    }

    /// Removes every entry.
    ///
    /// # Errors
    /// `Network` when the backend cannot be reached.
    pub async fn clear(&self) -> Result<()> {
        match &self.backend {
            Backend::Memory(m) => {
                m.clear();
                Ok(())
            }
            Backend::Shared(s) => s
                .clear()
                .await
                .map_err(|e| Error::new(Kind::Network, format!("cache {}: {}", self.shown_url(), e.0))),
        }
    }

    /// Runs a backend operation of kind `op` ([`READS`] or [`WRITES`]), turning a failure into
    /// `None`: counted, and warned about once per outage. The outage lasts until every kind that
    /// failed works again, so a full backend (reads work, writes fail) is one outage, not a
    /// warning per call.
    async fn guard<T>(&self, op: u8, work: impl Future<Output = std::result::Result<T, StoreError>>) -> Option<T> {
        match work.await {
            Ok(v) => {
                if self.failing.load(Relaxed) & op != 0 && self.failing.fetch_and(!op, Relaxed) == op {
                    log::info!(target: "liter_llm", "cache {} is back; calls are cached again", self.shown_url());
                }
                Some(v)
            }
            Err(err) => {
                self.counters.errors.fetch_add(1, Relaxed);
                if self.failing.fetch_or(op, Relaxed) == 0 {
                    log::warn!(
                        target: "liter_llm",
                        "cache {} failed ({err}); calls go uncached until it recovers",
                        self.shown_url()
                    );
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests;
