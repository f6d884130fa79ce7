//! The key store in PostgreSQL (`general_settings.database_url: postgresql://...`): the same
//! keys, settings and spend as the SQLite file, in tables of the server's database.
//!
//! **Schema.** Created and migrated on open, under a session advisory lock, so replicas that
//! start at once migrate one after the other; `liter_llm_schema` holds the versions applied, and a
//! database migrated by a newer liter_llm is refused rather than written in a shape we do not know.
//!
//! **Writes.** Admin writes are committed before the caller answers, after every write queued
//! before them. Spend is queued and committed [`SPEND_FLUSH`] after the first of a batch, in one
//! transaction. Every commit carries a flush id, `(replica, sequence)`, recorded in
//! `liter_llm_spend_flushes` in the same transaction: a batch whose commit was not confirmed (the
//! connection broke) is sent again under the same id and applied at most once, so spend is never
//! counted twice. The connection is made again when it breaks; spend waits in memory meanwhile.
//!
//! **Replicas.** Every write of a key's settings (made, changed, deleted) announces its token on
//! the `liter_llm_keys` channel (`NOTIFY`, sent when the transaction commits). A replica that
//! [follows](PgKeyDb::follow) the store listens there on a connection of its own and reads the
//! key again; when that connection is made (again), it reads every key, so changes missed while
//! it was down are not lost.

#[cfg(test)]
pub(crate) mod server;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, NoTls, Transaction};

use super::db::{Done, StoredKey, Write, SPEND_FLUSH};
use crate::config::Secret;
use crate::runtime::block;

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause before trying a broken connection again.
const RETRY: Duration = Duration::from_secs(1);
/// The advisory lock migrations hold ("LLMK").
const MIGRATION_LOCK: i64 = 0x4C4C_4D4B;
/// The channel key changes are announced on.
const CHANNEL: &str = "liter_llm_keys";

/// The migrations, in order; version `i + 1` is `MIGRATIONS[i]`.
const MIGRATIONS: &[&str] = &["
CREATE TABLE liter_llm_keys (
    token TEXT PRIMARY KEY,
    key_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    spend DOUBLE PRECISION NOT NULL DEFAULT 0,
    budget_reset_at DOUBLE PRECISION
);
CREATE TABLE liter_llm_model_spend (
    token TEXT NOT NULL,
    model TEXT NOT NULL,
    spend DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (token, model)
);
CREATE TABLE liter_llm_spend_flushes (
    replica TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (replica, seq)
);
"];

/// The open store.
#[derive(Debug)]
pub struct PgKeyDb {
    inner: Arc<Inner>,
    flusher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    follower: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Keys as the database has them, after a change.
#[derive(Debug)]
pub enum Change {
    /// Every key (the listening connection was made again: changes may have been missed), as
    /// read by a query that began at `since` (seconds since the epoch).
    All {
        /// The keys.
        keys: Vec<StoredKey>,
        /// When the query began: a key made after it cannot be among them; one made before it
        /// may be missing too (its commit still under way).
        since: f64,
    },
    /// One key, by token (`None`: deleted).
    One(String, Option<StoredKey>),
}

#[derive(Debug)]
struct Inner {
    /// The URL, password and all (never shown: `Secret`).
    url: Secret,
    /// The database as messages show it (no credentials).
    shown: String,
    client: tokio::sync::Mutex<Option<Client>>,
    /// Writes waiting for a commit, oldest first.
    pending: Mutex<Vec<Write>>,
    /// A batch sent whose commit was not confirmed: sent again, first, under the same id.
    unconfirmed: Mutex<Option<(i64, Vec<Write>)>>,
    replica: String,
    seq: AtomicU64,
    wake: Notify,
    closed: AtomicBool,
}

impl PgKeyDb {
    /// Connects to `url`, creates or migrates the schema and reads every key.
    ///
    /// # Errors
    /// Why the database cannot be used (no credentials in the message).
    pub fn open(url: &str) -> Result<(Self, Vec<StoredKey>), String> {
        let shown = crate::redis_link::shown(url);
        let inner = Arc::new(Inner {
            url: Secret::new(url),
            shown,
            client: tokio::sync::Mutex::new(None),
            pending: Mutex::new(Vec::new()),
            unconfirmed: Mutex::new(None),
            replica: format!("{:016x}", fastrand::u64(..)),
            seq: AtomicU64::new(0),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
        });
        let keys = block(async {
            let mut guard = inner.client.lock().await;
            let client = inner.connected(&mut guard).await?;
            migrate(client)
                .await
                .map_err(|e| format!("key store {}: {e}", inner.shown))?;
            load(client).await.map_err(|e| inner.failed(&e))
        })?;
        let flusher = crate::runtime::get().spawn(flush_all(Arc::clone(&inner)));
        Ok((
            PgKeyDb {
                inner,
                flusher: Mutex::new(Some(flusher)),
                follower: Mutex::new(None),
            },
            keys,
        ))
    }

    /// Writes `write` now (after every write queued before it); resolves once it is committed.
    pub async fn write(&self, write: Write) -> Done {
        lock(&self.inner.pending).push(write);
        self.inner.commit_queued().await
    }

    /// Queues `write` (spend, a budget reset) for the next commit, within [`SPEND_FLUSH`].
    pub fn defer(&self, write: Write) {
        lock(&self.inner.pending).push(write);
        if self.inner.closed.load(Ordering::Acquire) {
            let _ = block(self.inner.commit_queued());
        } else {
            self.inner.wake.notify_one();
        }
    }

    /// Commits everything queued and stops the flusher (once).
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.wake.notify_one();
        for task in [lock(&self.flusher).take(), lock(&self.follower).take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
        if let Err(e) = block(self.inner.commit_queued()) {
            log::warn!("{e}; the spend of the last requests was not saved");
        }
    }

    /// The database, for messages (no credentials).
    pub fn shown(&self) -> &str {
        &self.inner.shown
    }

    /// One key as stored now, by token.
    ///
    /// # Errors
    /// Why the database did not answer.
    pub async fn read_key(&self, token: &str) -> Result<Option<StoredKey>, String> {
        let mut guard = self.inner.client.lock().await;
        let client = self.inner.connected(&mut guard).await?;
        load_one(client, token).await.map_err(|e| self.inner.failed(&e))
    }

    /// A key's spend this period and when the period ends, as committed (`None`: no such key).
    ///
    /// # Errors
    /// Why the database did not answer.
    pub async fn spend_of(&self, token: &str) -> Result<Option<(f64, Option<f64>)>, String> {
        let mut guard = self.inner.client.lock().await;
        let client = self.inner.connected(&mut guard).await?;
        let row = client
            .query_opt(
                "SELECT spend, budget_reset_at FROM liter_llm_keys WHERE token = $1",
                &[&token],
            )
            .await
            .map_err(|e| self.inner.failed(&e))?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    /// Calls `on` with every change of the keys any replica makes, until the store closes.
    /// After a full listing `on` names the keys it holds that the listing lacks: each is read
    /// again and handed on as [`Change::One`] (gone, or committed as the listing ran).
    pub fn follow(&self, on: impl Fn(Change) -> Vec<String> + Send + Sync + 'static) {
        let task = crate::runtime::get().spawn(follow(Arc::clone(&self.inner), on));
        if let Some(old) = lock(&self.follower).replace(task) {
            old.abort();
        }
    }
}

/// Listens for key changes, connecting again [`RETRY`] after the connection breaks.
async fn follow(inner: Arc<Inner>, on: impl Fn(Change) -> Vec<String> + Send + Sync) {
    while !inner.closed.load(Ordering::Acquire) {
        if let Err(e) = listen(&inner, &on).await {
            log::warn!("{e}; key changes of other replicas are missed until it is back");
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// One listening connection: every key first, then each key announced.
async fn listen(inner: &Inner, on: &(impl Fn(Change) -> Vec<String> + Send + Sync)) -> Result<(), String> {
    let connecting = tokio_postgres::connect(inner.url.expose(), NoTls);
    let (client, mut connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
        .await
        .map_err(|_| format!("key store {}: no connection within {CONNECT_TIMEOUT:?}", inner.shown))?
        .map_err(|e| inner.failed(&e))?;
    let (tokens, mut announced) = tokio::sync::mpsc::unbounded_channel::<String>();
    // Drives the connection (queries too) and hands on the announcements.
    let driver = crate::runtime::get().spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(note)) => {
                    if tokens.send(note.payload().to_owned()).is_err() {
                        return None;
                    }
                }
                Ok(_) => {}
                Err(e) => return Some(e),
            }
        }
        None
    });
    let outcome = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| inner.failed(&e))?;
        let since = super::record::now();
        let keys = load(&client).await.map_err(|e| inner.failed(&e))?;
        for token in on(Change::All { keys, since }) {
            let key = load_one(&client, &token).await.map_err(|e| inner.failed(&e))?;
            on(Change::One(token, key));
        }
        while let Some(token) = announced.recv().await {
            // Tokens are 64 hex digits; anything else on the channel is not ours.
            if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let key = load_one(&client, &token).await.map_err(|e| inner.failed(&e))?;
            on(Change::One(token, key));
        }
        Ok(())
    }
    .await;
    driver.abort();
    outcome.and_then(|()| Err(format!("key store {}: the listening connection closed", inner.shown)))
}

impl Drop for PgKeyDb {
    fn drop(&mut self) {
        if !self.inner.closed.load(Ordering::Acquire) {
            self.close();
        }
    }
}

impl Inner {
    fn failed(&self, e: &tokio_postgres::Error) -> String {
        let text = e.to_string();
        // The server does not echo passwords; the URL is never part of its messages either.
        format!("key store {}: {text}", self.shown)
    }

    /// The connection, made when there is none or it broke.
    async fn connected<'a>(&self, slot: &'a mut Option<Client>) -> Result<&'a mut Client, String> {
        if slot.as_ref().is_none_or(Client::is_closed) {
            let connecting = tokio_postgres::connect(self.url.expose(), NoTls);
            let (client, connection) = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
                .await
                .map_err(|_| format!("key store {}: no connection within {CONNECT_TIMEOUT:?}", self.shown))?
                .map_err(|e| self.failed(&e))?;
            let shown = self.shown.clone();
            crate::runtime::get().spawn(async move {
                if let Err(e) = connection.await {
                    log::warn!("key store {shown}: connection lost: {e}");
                }
            });
            *slot = Some(client);
        }
        slot.as_mut()
            .ok_or_else(|| format!("key store {}: no connection", self.shown))
    }

    /// Commits the unconfirmed batch (under its id), then everything queued (under a new one).
    async fn commit_queued(&self) -> Done {
        let mut guard = self.client.lock().await;
        loop {
            let batch = {
                let mut unconfirmed = lock(&self.unconfirmed);
                match unconfirmed.take() {
                    Some(batch) => batch,
                    None => {
                        let writes = std::mem::take(&mut *lock(&self.pending));
                        if writes.is_empty() {
                            return Ok(());
                        }
                        let seq = i64::try_from(self.seq.fetch_add(1, Ordering::Relaxed)).unwrap_or(i64::MAX);
                        (seq, writes)
                    }
                }
            };
            // Perhaps committed, perhaps not, until confirmed (a failure, or this future dropped
            // mid-commit): the same id again next time.
            let mut sending = Sending {
                inner: self,
                seq: batch.0,
                writes: batch.1,
                confirmed: false,
            };
            let client = self.connected(&mut guard).await?;
            commit(client, &self.replica, sending.seq, &sending.writes)
                .await
                .map_err(|e| self.failed(&e))?;
            sending.confirmed = true;
        }
    }
}

/// A batch being committed: put back as unconfirmed unless its commit was confirmed.
struct Sending<'a> {
    inner: &'a Inner,
    seq: i64,
    writes: Vec<Write>,
    confirmed: bool,
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if !self.confirmed {
            *lock(&self.inner.unconfirmed) = Some((self.seq, std::mem::take(&mut self.writes)));
        }
    }
}

/// The flusher: [`SPEND_FLUSH`] after spend is queued it commits it; after a failure it tries
/// again every [`RETRY`].
async fn flush_all(inner: Arc<Inner>) {
    loop {
        inner.wake.notified().await;
        if inner.closed.load(Ordering::Acquire) {
            return;
        }
        tokio::time::sleep(SPEND_FLUSH).await;
        while let Err(e) = inner.commit_queued().await {
            log::warn!("{e}; spend is kept in memory and saved once the database is back");
            tokio::time::sleep(RETRY).await;
            if inner.closed.load(Ordering::Acquire) {
                return;
            }
        }
    }
}

/// Creates or migrates the schema, one replica at a time.
async fn migrate(client: &mut Client) -> Result<(), String> {
    let text = |e: tokio_postgres::Error| e.to_string();
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(text)?;
    let outcome = apply_migrations(client).await;
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(text)?;
    outcome
}

async fn apply_migrations(client: &mut Client) -> Result<(), String> {
    let text = |e: tokio_postgres::Error| e.to_string();
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS liter_llm_schema (version INTEGER NOT NULL)")
        .await
        .map_err(text)?;
    let row = client
        .query_one("SELECT COALESCE(MAX(version), 0) FROM liter_llm_schema", &[])
        .await
        .map_err(text)?;
    let applied: i32 = row.get(0);
    let known = i32::try_from(MIGRATIONS.len()).unwrap_or(i32::MAX);
    if applied > known {
        return Err(format!(
            "the database's schema is version {applied}, newer than this liter_llm knows ({known}); upgrade it"
        ));
    }
    for (version, sql) in (1..).zip(MIGRATIONS).skip(usize::try_from(applied).unwrap_or(0)) {
        let tx = client.transaction().await.map_err(text)?;
        tx.batch_execute(sql).await.map_err(text)?;
        tx.execute("INSERT INTO liter_llm_schema (version) VALUES ($1)", &[&version])
            .await
            .map_err(text)?;
        tx.commit().await.map_err(text)?;
    }
    Ok(())
}

/// The columns of a key, in [`StoredKey`]'s order.
const KEY_COLUMNS: &str = "SELECT token, key_name, settings, created_at, spend, budget_reset_at FROM liter_llm_keys";

/// Reads one key and its spend per model.
async fn load_one(client: &Client, token: &str) -> Result<Option<StoredKey>, tokio_postgres::Error> {
    let Some(row) = client
        .query_opt(&format!("{KEY_COLUMNS} WHERE token = $1"), &[&token])
        .await?
    else {
        return Ok(None);
    };
    let mut key = stored_key(&row);
    for row in client
        .query(
            "SELECT model, spend FROM liter_llm_model_spend WHERE token = $1",
            &[&token],
        )
        .await?
    {
        key.model_spend.insert(row.get(0), row.get(1));
    }
    Ok(Some(key))
}

fn stored_key(row: &tokio_postgres::Row) -> StoredKey {
    StoredKey {
        token: row.get(0),
        key_name: row.get(1),
        settings: row.get(2),
        created_at: row.get(3),
        spend: row.get(4),
        budget_reset_at: row.get(5),
        model_spend: BTreeMap::new(),
    }
}

/// Reads every key and its spend per model.
async fn load(client: &Client) -> Result<Vec<StoredKey>, tokio_postgres::Error> {
    let mut keys: Vec<StoredKey> = client.query(KEY_COLUMNS, &[]).await?.iter().map(stored_key).collect();
    let index: std::collections::HashMap<String, usize> =
        keys.iter().enumerate().map(|(i, k)| (k.token.clone(), i)).collect();
    for row in client
        .query("SELECT token, model, spend FROM liter_llm_model_spend", &[])
        .await?
    {
        let token: String = row.get(0);
        if let Some(&i) = index.get(&token) {
            keys[i].model_spend.insert(row.get(1), row.get(2));
        }
    }
    Ok(keys)
}

/// Commits `writes` as flush `seq` of `replica`, unless that flush was committed already.
async fn commit(client: &mut Client, replica: &str, seq: i64, writes: &[Write]) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    let fresh = tx
        .execute(
            "INSERT INTO liter_llm_spend_flushes (replica, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&replica, &seq],
        )
        .await?;
    if fresh == 1 {
        for write in writes {
            apply(&tx, write).await?;
        }
    }
    tx.commit().await
}

async fn apply(tx: &Transaction<'_>, write: &Write) -> Result<(), tokio_postgres::Error> {
    match write {
        Write::Put(key) => {
            tx.execute(
                "INSERT INTO liter_llm_keys (token, key_name, settings, created_at, spend, budget_reset_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (token) DO UPDATE SET settings = excluded.settings,
                     budget_reset_at = excluded.budget_reset_at",
                &[
                    &key.token,
                    &key.key_name,
                    &key.settings,
                    &key.created_at,
                    &key.spend,
                    &key.budget_reset_at,
                ],
            )
            .await?;
            announce(tx, &key.token).await?;
        }
        Write::Delete(token) => {
            tx.execute("DELETE FROM liter_llm_keys WHERE token = $1", &[token])
                .await?;
            tx.execute("DELETE FROM liter_llm_model_spend WHERE token = $1", &[token])
                .await?;
            announce(tx, token).await?;
        }
        Write::Spend {
            token,
            model,
            amount,
            period,
        } => {
            let known = tx
                .execute(
                    "UPDATE liter_llm_keys SET
                         spend = CASE
                             WHEN $3::DOUBLE PRECISION IS NULL OR budget_reset_at IS NULL OR budget_reset_at = $3 THEN spend + $2
                             WHEN budget_reset_at < $3 THEN $2
                             ELSE spend END,
                         budget_reset_at = CASE WHEN budget_reset_at < $3 THEN $3 ELSE budget_reset_at END
                     WHERE token = $1",
                    &[token, amount, period],
                )
                .await?;
            if known == 1 {
                tx.execute(
                    "INSERT INTO liter_llm_model_spend (token, model, spend) VALUES ($1, $2, $3)
                     ON CONFLICT (token, model) DO UPDATE SET spend = liter_llm_model_spend.spend + excluded.spend",
                    &[token, model, amount],
                )
                .await?;
            }
        }
        Write::Reset { token, next } => {
            // Replicas roll a period once each: the first reset of a period counts.
            tx.execute(
                "UPDATE liter_llm_keys SET spend = 0, budget_reset_at = $2
                 WHERE token = $1 AND (budget_reset_at IS NULL OR $2::DOUBLE PRECISION IS NULL OR budget_reset_at < $2)",
                &[token, next],
            )
            .await?;
        }
    }
    Ok(())
}

/// Tells the replicas following the store that key `token` changed (when `tx` commits).
async fn announce(tx: &Transaction<'_>, token: &str) -> Result<(), tokio_postgres::Error> {
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &token])
        .await
        .map(drop)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
