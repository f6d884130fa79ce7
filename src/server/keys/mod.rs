//! Virtual keys: made by an admin with the master key, each with its own models, budget, limits
//! and spend, kept in a SQLite file (see [`db`]) or in PostgreSQL (see [`pg`]), and in memory
//! for the hot path.
//!
//! A key is stored as its BLAKE3 hash (`token`) and shown once, when made. Admission of a request
//! ([`Keys::admit`]) happens under the key's lock: the model must be allowed, the budget must not
//! be spent (spend plus what requests in flight have reserved), and the key's requests in flight,
//! requests per minute and tokens per minute must have room; otherwise the request is refused
//! with the status a gateway answers (403, 400 or 429 with `Retry-After`). An admitted request
//! reserves its estimated cost and tokens, and settles them with the actual ones when it ends.
//!
//! **Replicas.** Proxies sharing one PostgreSQL store see each other's keys: a key unknown here is
//! looked up in the database, and every change is announced to all of them (see [`pg`]). With a
//! Redis server as well, a key's spend, reservations, requests in flight and rpm/tpm window are
//! counted there for all replicas at once (see [`hot`]); without one, each replica counts its own.

pub mod db;
mod hot;
mod outage;
pub mod pg;
pub mod record;
mod routes;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use self::db::{KeyDb, StoredKey, Write};
use self::hot::{Answer, Hot, Limits, Settlement};
use self::outage::Outage;
pub use self::record::{KeyRequest, KeySettings};
use crate::ratelimit::key::{Key as Window, KeySpec};
use crate::usage::TokenBreakdown;

pub(crate) use routes::{delete, generate, info, list, update};

/// The window per-key `rpm_limit`/`tpm_limit` count in.
const MINUTE: Duration = Duration::from_secs(60);

/// Every virtual key, by hash.
#[derive(Debug)]
pub struct Keys {
    table: RwLock<HashMap<String, Arc<VirtualKey>>>,
    db: Store,
    /// The counters shared with other replicas, if any.
    hot: Option<Arc<Hot>>,
    /// Zero of the per-key windows' clock.
    epoch: Instant,
    /// Reads of a shared database that fail are logged when an outage begins and ends.
    outage: Outage,
}

/// One key and its live state.
#[derive(Debug)]
pub struct VirtualKey {
    /// The key's hash (hex): what lists and logs show.
    pub token: String,
    /// The key masked (`sk-...abcd`).
    pub key_name: String,
    created_at: f64,
    state: Mutex<KeyState>,
}

#[derive(Debug)]
struct KeyState {
    settings: KeySettings,
    /// USD settled in this budget period.
    spend: f64,
    /// USD reserved by requests in flight.
    reserved: f64,
    budget_reset_at: Option<f64>,
    model_spend: BTreeMap<String, f64>,
    in_flight: u32,
    /// The rpm/tpm window, when the key has either limit.
    window: Option<Arc<Window>>,
}

/// Why a request was not admitted: an OpenAI error with its status.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    /// The HTTP status.
    pub status: StatusCode,
    /// OpenAI's error `type`.
    pub kind: &'static str,
    /// What to tell the caller.
    pub message: String,
    /// Seconds until a retry may succeed (429s).
    pub retry_after: Option<u64>,
}

/// What a request is expected to spend, reserved while it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Estimate {
    /// Tokens (prompt and completion).
    pub tokens: u64,
    /// USD.
    pub cost: f64,
}

/// An admitted request's hold on its key: settle it with what the request spent, or drop it to
/// give the reservation back.
#[derive(Debug)]
pub struct Admission {
    key: Arc<VirtualKey>,
    estimate: Estimate,
    hold: Hold,
    model: String,
    open: bool,
}

/// Where an admission's reservation is counted.
#[derive(Debug)]
enum Hold {
    /// In this process; the window bucket its tokens were counted in.
    Here(Option<u64>),
    /// In Redis, under a lease.
    Shared(Arc<Hot>, String),
}

impl Keys {
    /// Opens the key store at `path` (created when absent) and loads its keys.
    ///
    /// # Errors
    /// Why the file cannot be used.
    pub fn open(path: &Path) -> Result<Self, String> {
        let (db, stored) = KeyDb::open(path)?;
        Self::loaded(Store::Sqlite(db), stored, &path.display().to_string())
    }

    /// Opens the key store in the PostgreSQL database at `url` (its tables created or migrated)
    /// and loads its keys.
    ///
    /// # Errors
    /// Why the database cannot be used (no credentials in the message).
    pub fn open_postgres(url: &str) -> Result<Self, String> {
        let (db, stored) = pg::PgKeyDb::open(url)?;
        let shown = db.shown().to_owned();
        Self::loaded(Store::Postgres(Arc::new(db)), stored, &shown)
    }

    /// The store `db` with its keys `stored`; `path` names it in messages.
    fn loaded(db: Store, stored: Vec<StoredKey>, path: &str) -> Result<Self, String> {
        let mut table = HashMap::with_capacity(stored.len());
        for key in stored {
            let key = VirtualKey::from_stored(key).map_err(|e| format!("key store {path}: {e}"))?;
            table.insert(key.token.clone(), Arc::new(key));
        }
        Ok(Keys {
            table: RwLock::new(table),
            db,
            hot: None,
            epoch: Instant::now(),
            outage: Outage::default(),
        })
    }

    /// Counts keys' spend, reservations and limits in the Redis server at `url`, shared with
    /// every replica that does the same (a PostgreSQL store only: replicas share it).
    ///
    /// # Errors
    /// A SQLite store, or a malformed URL.
    pub fn with_redis(mut self, url: &str) -> Result<Self, String> {
        if !matches!(self.db, Store::Postgres(_)) {
            return Err("keys' counters are shared through Redis only with a PostgreSQL key store (general_settings.database_url: postgresql://...)".to_owned());
        }
        self.hot = Some(Arc::new(Hot::new(url)?));
        Ok(self)
    }

    /// Follows the changes other replicas make to the keys (a PostgreSQL store; nothing to
    /// follow in a SQLite file, which one server owns).
    pub fn follow(self: &Arc<Self>) {
        let Store::Postgres(db) = &self.db else {
            return;
        };
        let keys = Arc::downgrade(self);
        db.follow(move |change| keys.upgrade().map(|keys| keys.learn(change)).unwrap_or_default());
    }

    /// Takes in keys as the database has them now. After a full listing, the keys held here
    /// that it lacks and that were made before its query began: not dropped (one may have been
    /// committed while the query ran) but named, to be read again.
    fn learn(&self, change: pg::Change) -> Vec<String> {
        let (stored, since) = match change {
            pg::Change::All { keys, since } => (keys, since),
            pg::Change::One(token, None) => {
                self.table
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&token);
                return Vec::new();
            }
            pg::Change::One(_, Some(one)) => {
                if let Err(e) = self.remember(one) {
                    log::warn!("key store: {e}");
                }
                return Vec::new();
            }
        };
        let mut seen = std::collections::HashSet::with_capacity(stored.len());
        for key in stored {
            seen.insert(key.token.clone());
            if let Err(e) = self.remember(key) {
                log::warn!("key store: {e}");
            }
        }
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(token, key)| !seen.contains(*token) && key.created_at < since)
            .map(|(token, _)| token.clone())
            .collect()
    }

    /// A key as stored, in the table: its settings updated when it is there already.
    fn remember(&self, stored: StoredKey) -> Result<Arc<VirtualKey>, String> {
        let known = self
            .table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&stored.token)
            .cloned();
        if let Some(key) = known {
            let settings: KeySettings =
                serde_json::from_str(&stored.settings).map_err(|e| format!("a key's settings are unreadable: {e}"))?;
            let mut state = key.lock();
            if state.settings != settings {
                if (state.settings.rpm_limit, state.settings.tpm_limit) != (settings.rpm_limit, settings.tpm_limit) {
                    state.window = window_of(&settings);
                }
                state.settings = settings;
            }
            state.budget_reset_at = stored.budget_reset_at;
            drop(state);
            return Ok(key);
        }
        let key = Arc::new(VirtualKey::from_stored(stored)?);
        let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(table.entry(key.token.clone()).or_insert(key)))
    }

    /// A key by its hash, from the table or else from a shared database.
    async fn fetch(&self, token: &str) -> Result<Option<Arc<VirtualKey>>, Refusal> {
        if let Some(key) = self.table.read().unwrap_or_else(PoisonError::into_inner).get(token) {
            return Ok(Some(Arc::clone(key)));
        }
        let Store::Postgres(db) = &self.db else {
            return Ok(None);
        };
        // Boxed: the database read is the rare path, and inline its state would sit in every
        // request's future (and be copied with it).
        match Box::pin(db.read_key(token)).await {
            Ok(found) => {
                self.read_from(db);
                found
                    .map(|stored| self.remember(stored))
                    .transpose()
                    .map_err(|e| Refusal::internal(&e))
            }
            Err(e) => Err(self.unreadable(&e)),
        }
    }

    /// A read of the shared database `db` succeeded: says so if that ends an outage.
    fn read_from(&self, db: &pg::PgKeyDb) {
        if self.outage.ended() {
            log::warn!("key store {}: answers again", db.shown());
        }
    }

    /// A read of the shared database failed (`why`): logged when that begins an outage.
    fn unreadable(&self, why: &str) -> Refusal {
        if self.outage.began() {
            log::warn!("{why}; requests that need it are answered 503 until it is back");
        } else {
            log::debug!("{why}");
        }
        Refusal::unavailable("the key store cannot be reached; retry shortly")
    }

    /// The key a caller presented, if it is one of ours (blocked and expired keys too).
    ///
    /// # Errors
    /// A 503 when a shared database cannot be reached for a key not known here.
    pub async fn find(&self, presented: &str) -> Result<Option<Arc<VirtualKey>>, Refusal> {
        self.fetch(&hash(presented)).await
    }

    /// A key by its value or by its hash (admin routes take either).
    ///
    /// # Errors
    /// A 503 when a shared database cannot be reached for a key not known here.
    pub async fn lookup(&self, key_or_token: &str) -> Result<Option<Arc<VirtualKey>>, Refusal> {
        match self.fetch(&hash(key_or_token)).await? {
            Some(key) => Ok(Some(key)),
            None if is_token(key_or_token) => self.fetch(key_or_token).await,
            None => Ok(None),
        }
    }

    /// A key as `/key/info` shows it, with its spend and requests in flight on every replica
    /// when they are shared.
    pub async fn info(&self, key: &VirtualKey) -> Map<String, Value> {
        let mut info = key.info();
        if let Some(hot) = &self.hot {
            let period = key.lock().settings.budget_period();
            match hot.read(&key.token, period).await {
                Ok((spend, in_flight)) => {
                    if let Some(spend) = spend {
                        info.insert("spend".into(), json!(spend));
                    }
                    info.insert("in_flight".into(), json!(in_flight));
                }
                Err(e) => log::warn!("key counters: {e}; /key/info shows this replica's counts"),
            }
        }
        info
    }

    /// Every key, oldest first.
    pub fn all(&self) -> Vec<Arc<VirtualKey>> {
        let table = self.table.read().unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<_> = table.values().cloned().collect();
        keys.sort_by(|a, b| {
            a.created_at
                .total_cmp(&b.created_at)
                .then_with(|| a.token.cmp(&b.token))
        });
        keys
    }

    /// Makes a key (the caller's `key`, else a new random one); returns its value, shown this
    /// once, and the key.
    ///
    /// # Errors
    /// A 400 for a custom key that is malformed or taken; a 500 when the store cannot write.
    pub async fn generate(&self, request: &KeyRequest) -> Result<(String, Arc<VirtualKey>), Refusal> {
        let value = match &request.key {
            Some(custom) if !custom.starts_with("sk-") || custom.len() < 8 => {
                return Err(Refusal::bad_request(
                    "a custom key must start with \"sk-\" and be at least 8 characters long",
                ))
            }
            Some(custom) => custom.clone(),
            None => new_key_value().map_err(|e| Refusal::internal(&e))?,
        };
        let token = hash(&value);
        let mut settings = KeySettings::default();
        request.apply(&mut settings);
        let created_at = record::now();
        let budget_reset_at = settings.budget_period().map(|p| created_at + p);
        let key = Arc::new(VirtualKey {
            token: token.clone(),
            key_name: masked(&value),
            created_at,
            state: Mutex::new(KeyState {
                window: window_of(&settings),
                settings,
                spend: 0.0,
                reserved: 0.0,
                budget_reset_at,
                model_spend: BTreeMap::new(),
                in_flight: 0,
            }),
        });
        {
            let mut table = self.table.write().unwrap_or_else(PoisonError::into_inner);
            if table.contains_key(&token) {
                return Err(Refusal::bad_request("that key exists already"));
            }
            table.insert(token.clone(), Arc::clone(&key));
        }
        if let Err(e) = self.db.write(Write::Put(key.stored())).await {
            self.table
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&token);
            return Err(Refusal::internal(&e));
        }
        Ok((value, key))
    }

    /// Changes a key's settings (those the request sends).
    ///
    /// # Errors
    /// A 400 without a key, a 404 for an unknown one, a 500 when the store cannot write.
    pub async fn update(&self, request: &KeyRequest) -> Result<Arc<VirtualKey>, Refusal> {
        let given = request
            .key
            .as_deref()
            .ok_or_else(|| Refusal::bad_request("key is required"))?;
        let key = self.lookup(given).await?.ok_or_else(Refusal::unknown_key)?;
        let stored = {
            let mut state = key.lock();
            request.apply(&mut state.settings);
            if request.sets_budget_duration() {
                state.budget_reset_at = state.settings.budget_period().map(|p| record::now() + p);
            }
            state.window = window_of(&state.settings);
            key.stored_with(&state)
        };
        let reset = stored.budget_reset_at;
        self.db
            .write(Write::Put(stored))
            .await
            .map_err(|e| Refusal::internal(&e))?;
        if let (Some(hot), true) = (&self.hot, request.sets_budget_duration()) {
            hot.set_period(&key.token, reset).await.map_err(|e| {
                Refusal::internal(&format!("the key was saved, but its new budget period not shared: {e}"))
            })?;
        }
        Ok(key)
    }

    /// Deletes keys (by value or hash); returns those that existed, as given.
    ///
    /// # Errors
    /// A 500 when the store cannot write.
    pub async fn delete(&self, given: &[String]) -> Result<Vec<String>, Refusal> {
        let mut deleted = Vec::new();
        for one in given {
            let Some(key) = self.lookup(one).await? else { continue };
            self.table
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&key.token);
            self.db
                .write(Write::Delete(key.token.clone()))
                .await
                .map_err(|e| Refusal::internal(&e))?;
            if let Some(hot) = &self.hot {
                if let Err(e) = hot.forget(&key.token).await {
                    log::warn!("key counters: a deleted key's counters stay until they expire: {e}");
                }
            }
            deleted.push(one.clone());
        }
        Ok(deleted)
    }

    /// Admits a request of `key` to `model` expected to spend `estimate`, or says why not.
    ///
    /// # Errors
    /// The refusal to answer with.
    pub async fn admit(&self, key: &Arc<VirtualKey>, model: &str, estimate: Estimate) -> Result<Admission, Refusal> {
        match &self.hot {
            None => self.admit_here(key, model, estimate),
            // Boxed, as the database read in `fetch`: only replicas sharing counters take it.
            Some(hot) => Box::pin(self.admit_shared(hot, key, model, estimate)).await,
        }
    }

    /// Admission on this process's counters.
    fn admit_here(&self, key: &Arc<VirtualKey>, model: &str, estimate: Estimate) -> Result<Admission, Refusal> {
        let now = record::now();
        let (admission, reset) = {
            let mut state = key.lock();
            if !state.settings.allows(model) {
                return Err(Refusal::not_allowed(model));
            }
            let reset = state.roll_budget(now);
            if let Some(budget) = state.settings.max_budget {
                if state.spend + state.reserved >= budget {
                    return Err(Refusal::over_budget(state.spend, state.reserved, budget));
                }
            }
            if let Some(max) = state.settings.max_parallel_requests {
                if state.in_flight >= max {
                    return Err(Refusal::too_parallel(max));
                }
            }
            let mut bucket = None;
            if let Some(window) = state.window.clone() {
                let tokens = state
                    .settings
                    .tpm_limit
                    .map_or(estimate.tokens, |l| estimate.tokens.min(l));
                let at = self.clock();
                let ready = window.ready_at(at, tokens);
                if ready.at > at {
                    let wait = (ready.at - at).div_ceil(1_000_000_000).max(1);
                    return Err(Refusal::window_full(ready.reason.describe(), wait));
                }
                bucket = Some(window.commit(at, at, tokens));
            }
            state.reserved += estimate.cost;
            state.in_flight += 1;
            (self.admission(key, model, estimate, Hold::Here(bucket)), reset)
        };
        if let Some(next) = reset {
            // Queued now, so the spend that follows is written after it.
            self.db.defer(Write::Reset {
                token: key.token.clone(),
                next: Some(next),
            });
        }
        Ok(admission)
    }

    /// Admission on the counters shared through Redis (seeded from the database first when
    /// Redis has none for the key).
    async fn admit_shared(
        &self,
        hot: &Arc<Hot>,
        key: &Arc<VirtualKey>,
        model: &str,
        estimate: Estimate,
    ) -> Result<Admission, Refusal> {
        let limits = {
            let state = key.lock();
            if !state.settings.allows(model) {
                return Err(Refusal::not_allowed(model));
            }
            Limits::of(&state.settings)
        };
        for _ in 0..2 {
            let admitted = hot.admit(&key.token, limits, estimate).await?;
            if let Some(next) = admitted.rolled {
                let mut state = key.lock();
                state.spend = 0.0;
                state.budget_reset_at = Some(next);
                drop(state);
                self.db.defer(Write::Reset {
                    token: key.token.clone(),
                    next: Some(next),
                });
            }
            match admitted.answer {
                Answer::Admitted(lease) => {
                    key.lock().in_flight += 1;
                    return Ok(self.admission(key, model, estimate, Hold::Shared(Arc::clone(hot), lease)));
                }
                Answer::Refused(refusal) => return Err(refusal),
                Answer::Unseeded => {
                    let Store::Postgres(db) = &self.db else {
                        return Err(Refusal::internal("shared key counters without a shared key store"));
                    };
                    let (spend, reset) = db
                        .spend_of(&key.token)
                        .await
                        .map_err(|e| self.unreadable(&e))?
                        .ok_or_else(|| Refusal::unauthorized("this key was deleted"))?;
                    self.read_from(db);
                    hot.seed(&key.token, spend, reset).await?;
                }
            }
        }
        Err(Refusal::unavailable(
            "this key's counters could not be set up; retry shortly",
        ))
    }

    fn admission(&self, key: &Arc<VirtualKey>, model: &str, estimate: Estimate, hold: Hold) -> Admission {
        Admission {
            key: Arc::clone(key),
            estimate,
            hold,
            model: model.to_owned(),
            open: true,
        }
    }

    /// Settles an admitted request with what it spent (`None`: unknown, charge the estimate);
    /// the spend is on disk within [`db::SPEND_FLUSH`], and counted for every replica when this
    /// returns.
    pub async fn settle(&self, admission: Admission, cost: Option<f64>, tokens: Option<u64>) {
        if let Some(shared) = self.book(admission, cost, tokens) {
            // In a task of its own: a caller that goes away meanwhile does not cut it short (the
            // spend is written once Redis has answered).
            let _ = crate::runtime::get().spawn(shared.run()).await;
        }
    }

    /// [`Keys::settle`], the shared counters updated in the background.
    pub fn settle_soon(&self, admission: Admission, cost: Option<f64>, tokens: Option<u64>) {
        if let Some(shared) = self.book(admission, cost, tokens) {
            shared.spawn();
        }
    }

    /// Settles here and queues the spend for the store; what is left to settle in Redis.
    fn book(&self, mut admission: Admission, cost: Option<f64>, tokens: Option<u64>) -> Option<Settlement> {
        let cost = cost.unwrap_or(admission.estimate.cost).max(0.0);
        let (shared, period) = admission.release(self.clock(), cost, tokens)?;
        let model = std::mem::take(&mut admission.model);
        if let (Some(mut settlement), Store::Postgres(store)) = (shared, &self.db) {
            // Written once Redis says which budget period it counts in.
            settlement.store = Some((Arc::clone(store), model));
            return Some(settlement);
        }
        if cost > 0.0 {
            self.db.defer(Write::Spend {
                token: admission.key.token.clone(),
                model,
                amount: cost,
                period,
            });
        }
        None
    }

    /// Writes out the spend not yet on disk and stops the background writer: for a server
    /// that stops while requests cut off after its grace period still hold the store. Waits a
    /// moment for settlements still on their way to Redis.
    pub fn close(&self) {
        if let Some(hot) = &self.hot {
            hot.drain();
        }
        self.db.close();
    }

    fn clock(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Where keys are kept.
#[derive(Debug)]
enum Store {
    Sqlite(KeyDb),
    Postgres(Arc<pg::PgKeyDb>),
}

impl Store {
    async fn write(&self, write: Write) -> db::Done {
        match self {
            Store::Sqlite(db) => db.write(write).await,
            Store::Postgres(db) => db.write(write).await,
        }
    }

    fn defer(&self, write: Write) {
        match self {
            Store::Sqlite(db) => db.defer(write),
            Store::Postgres(db) => db.defer(write),
        }
    }

    fn close(&self) {
        match self {
            Store::Sqlite(db) => db.close(),
            Store::Postgres(db) => db.close(),
        }
    }
}

impl Admission {
    /// The tokens it reserved (0: none were estimated).
    pub fn tokens(&self) -> u64 {
        self.estimate.tokens
    }

    /// Gives back the reservation and counts `cost` and `tokens` instead: what is left to
    /// settle in Redis (a shared hold) and when the budget period it counted in ends. `None`
    /// when it was released already.
    fn release(&mut self, clock: u64, cost: f64, tokens: Option<u64>) -> Option<(Option<Settlement>, Option<f64>)> {
        if !std::mem::replace(&mut self.open, false) {
            return None;
        }
        let mut state = self.key.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        if cost > 0.0 {
            state.spend += cost;
            *state.model_spend.entry(self.model.clone()).or_default() += cost;
        }
        let shared = match &self.hold {
            Hold::Here(bucket) => {
                state.reserved = (state.reserved - self.estimate.cost).max(0.0);
                if let (Some(window), Some(bucket), Some(actual)) = (&state.window, bucket, tokens) {
                    window.adjust(clock, *bucket, self.estimate.tokens, actual);
                }
                None
            }
            Hold::Shared(hot, lease) => Some(Settlement {
                hot: Arc::clone(hot),
                token: self.key.token.clone(),
                lease: lease.clone(),
                cost,
                tokens,
                store: None,
            }),
        };
        Some((shared, state.budget_reset_at))
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        // Ended without an answer (an error, or the caller went away before one): nothing spent.
        if let Some((Some(shared), _)) = self.release(0, 0.0, None) {
            shared.spawn();
        }
    }
}

impl VirtualKey {
    /// A key as its store keeps it, with nothing in flight.
    fn from_stored(key: StoredKey) -> Result<Self, String> {
        let settings: KeySettings =
            serde_json::from_str(&key.settings).map_err(|e| format!("a key's settings are unreadable: {e}"))?;
        Ok(VirtualKey {
            token: key.token,
            key_name: key.key_name,
            created_at: key.created_at,
            state: Mutex::new(KeyState {
                window: window_of(&settings),
                settings,
                spend: key.spend,
                reserved: 0.0,
                budget_reset_at: key.budget_reset_at,
                model_spend: key.model_spend,
                in_flight: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key's alias, if it has one.
    pub fn alias(&self) -> Option<String> {
        self.lock().settings.key_alias.clone()
    }

    /// Whether the key may be used now: why not, if not.
    pub fn unusable(&self) -> Option<&'static str> {
        let state = self.lock();
        if state.settings.blocked {
            Some("this key is blocked")
        } else if state.settings.expired(record::now()) {
            Some("this key has expired")
        } else {
            None
        }
    }

    /// Whether the key may call the model group `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.lock().settings.allows(model)
    }

    /// Whether requests of this key are priced before sending (a budget or a tokens limit).
    pub fn needs_estimate(&self) -> bool {
        let state = self.lock();
        state.settings.max_budget.is_some() || state.settings.tpm_limit.is_some()
    }

    /// The key as `/key/info` shows it (LiteLLM's fields).
    pub fn info(&self) -> Map<String, Value> {
        let state = self.lock();
        let mut out = state.settings.to_json();
        out.insert("token".into(), json!(self.token));
        out.insert("key_name".into(), json!(self.key_name));
        out.insert("spend".into(), json!(state.spend));
        out.insert("model_spend".into(), json!(state.model_spend));
        out.insert(
            "budget_reset_at".into(),
            json!(state.budget_reset_at.map(record::iso8601)),
        );
        out.insert("created_at".into(), json!(record::iso8601(self.created_at)));
        out.insert("in_flight".into(), json!(state.in_flight));
        out
    }

    fn stored(&self) -> StoredKey {
        self.stored_with(&self.lock())
    }

    fn stored_with(&self, state: &KeyState) -> StoredKey {
        StoredKey {
            token: self.token.clone(),
            key_name: self.key_name.clone(),
            settings: serde_json::to_string(&state.settings).unwrap_or_else(|_| "{}".to_owned()),
            created_at: self.created_at,
            spend: state.spend,
            budget_reset_at: state.budget_reset_at,
            model_spend: BTreeMap::new(),
        }
    }
}

impl KeyState {
    /// Starts a new budget period when the current one is over; when the next one starts.
    fn roll_budget(&mut self, now: f64) -> Option<f64> {
        let at = self.budget_reset_at.filter(|at| now >= *at)?;
        let period = self.settings.budget_period()?;
        // Whole periods from the last reset, so a key unused for a while keeps its schedule.
        let next = at + period * ((now - at) / period).floor() + period;
        self.spend = 0.0;
        self.budget_reset_at = Some(next);
        Some(next)
    }
}

impl Refusal {
    /// A 400.
    pub(crate) fn bad_request(message: &str) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid_request_error",
            message: message.to_owned(),
            retry_after: None,
        }
    }

    /// A 403 for a model the key may not use.
    fn not_allowed(model: &str) -> Self {
        Refusal::forbidden(&format!("this key may not use the model {model:?}"))
    }

    /// A 400 for a spent budget.
    fn over_budget(spend: f64, reserved: f64, budget: f64) -> Self {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            kind: "budget_exceeded",
            message: format!(
                "budget exceeded: spend {spend:.6} USD (plus {reserved:.6} reserved by requests in flight) of a max_budget of {budget} USD"
            ),
            retry_after: None,
        }
    }

    /// A 429 for a key with `max` requests in flight.
    fn too_parallel(max: u32) -> Self {
        Refusal::limited(
            format!("this key has {max} requests in flight, its max_parallel_requests"),
            1,
        )
    }

    /// A 429 for a key whose minute window (`what` of it) is full for `wait` seconds.
    fn window_full(what: &str, wait: u64) -> Self {
        Refusal::limited(format!("this key's {what} is reached; retry in {wait} s"), wait)
    }

    /// A 503: state the answer depends on cannot be reached.
    fn unavailable(message: &str) -> Self {
        Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "api_error",
            message: message.to_owned(),
            retry_after: Some(1),
        }
    }

    /// A 401.
    fn unauthorized(message: &str) -> Self {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            kind: "authentication_error",
            message: message.to_owned(),
            retry_after: None,
        }
    }

    /// A 403.
    pub(crate) fn forbidden(message: &str) -> Self {
        Refusal {
            status: StatusCode::FORBIDDEN,
            kind: "permission_error",
            message: message.to_owned(),
            retry_after: None,
        }
    }

    fn unknown_key() -> Self {
        Refusal {
            status: StatusCode::NOT_FOUND,
            kind: "not_found_error",
            message: "no such key".to_owned(),
            retry_after: None,
        }
    }

    fn internal(message: &str) -> Self {
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "api_error",
            message: message.to_owned(),
            retry_after: None,
        }
    }

    fn limited(message: String, retry_after: u64) -> Self {
        Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "rate_limit_error",
            message,
            retry_after: Some(retry_after),
        }
    }
}

/// What a request to `model` is expected to spend: its estimated tokens (counted as the
/// group's first deployment's model when `prices` names them), priced at the most expensive of
/// the deployments it may go to (`prices` gives their models).
pub fn estimate(body: &[u8], model: &str, prices: &[&str]) -> Estimate {
    let counted_as = prices.first().map_or(model, |m| m.rsplit('/').next().unwrap_or(m));
    let (tokens, completion) = crate::ratelimit::estimate_split(body, counted_as);
    let breakdown = TokenBreakdown {
        prompt: tokens - completion,
        input: tokens - completion,
        completion,
        ..TokenBreakdown::default()
    };
    let cost = prices
        .iter()
        .chain(std::iter::once(&model))
        .filter_map(|m| crate::pricing::price(m, None, &breakdown))
        .fold(0.0, f64::max);
    Estimate { tokens, cost }
}

/// The rpm/tpm window of `settings`, if it sets either limit.
fn window_of(settings: &KeySettings) -> Option<Arc<Window>> {
    if settings.rpm_limit.is_none() && settings.tpm_limit.is_none() {
        return None;
    }
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Some(Arc::new(Window::new(KeySpec {
        name: settings.key_alias.clone().unwrap_or_else(|| "virtual key".to_owned()),
        rpm: settings.rpm_limit,
        tpm: settings.tpm_limit,
        max_concurrency: None,
        // A gateway answers 429 when the window is full; it does not space requests out.
        burst_requests: settings.rpm_limit.unwrap_or(0),
        burst_tokens: settings.tpm_limit.unwrap_or(0),
        window: nanos(MINUTE),
        margin: 0,
        granularity: nanos(crate::ratelimit::default_granularity(MINUTE)),
    })))
}

/// Where the key store is when `general_settings.database_url` is unset:
/// `$XDG_DATA_HOME/liter_llm/proxy.db`, else `~/.local/share/liter_llm/proxy.db`, else
/// `liter_llm_proxy.db` here.
pub fn default_store() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|h| !h.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        });
    match data {
        Some(dir) => dir.join("liter_llm").join("proxy.db"),
        None => PathBuf::from("liter_llm_proxy.db"),
    }
}

/// The stored form of a key: its BLAKE3 hash in hex.
fn hash(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// Whether `text` has the shape of a stored key: 64 lowercase hex digits.
fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `sk-...abcd`: enough to tell keys apart in a list.
fn masked(key: &str) -> String {
    let tail: String = key
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("sk-...{tail}")
}

/// A new key: `sk-` and 32 characters from the system's CSPRNG (190 bits).
fn new_key_value() -> Result<String, String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness for a new key: {e}"))?;
    // 248 = 4 * 62: rejecting bytes past it keeps every character equally likely.
    let mut out = String::from("sk-");
    let mut pool = bytes.to_vec();
    while out.len() < 35 {
        if pool.is_empty() {
            let mut more = [0u8; 32];
            getrandom::getrandom(&mut more).map_err(|e| format!("no randomness for a new key: {e}"))?;
            pool.extend_from_slice(&more);
        }
        let b = pool.pop().unwrap_or(0);
        if b < 248 {
            out.push(char::from(ALPHABET[usize::from(b % 62)]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod hot_tests;
#[cfg(test)]
mod tests;
