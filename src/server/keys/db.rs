//! The key store's SQLite file: keys (hashed), their settings and spend, spend per model.
//!
//! Admin writes (a key made, changed or deleted) are committed on the caller's thread before it
//! answers: the caller that finds the connection free commits everything queued so far in one
//! transaction and answers each write. Spend is queued instead, and a flusher thread commits it
//! [`SPEND_FLUSH`] after the first of a batch (one transaction for all the answers of that time,
//! one row update per key and model), and everything at once when the store closes. WAL mode
//! with `synchronous=NORMAL`: a killed process loses nothing committed, so at most the spend of
//! the requests answered in the last [`SPEND_FLUSH`].

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::sqlite_file::{self, OpenError, Schema};

/// How long spend waits in memory before it is committed (with all spend of that time).
pub const SPEND_FLUSH: Duration = Duration::from_millis(10);

/// "LLMK" in the file header.
const APPLICATION_ID: i64 = 0x4C4C_4D4B;
/// Schema version 1.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS keys (
    token TEXT PRIMARY KEY NOT NULL,
    key_name TEXT NOT NULL,
    settings TEXT NOT NULL,
    created_at REAL NOT NULL,
    spend REAL NOT NULL DEFAULT 0,
    budget_reset_at REAL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS model_spend (
    token TEXT NOT NULL,
    model TEXT NOT NULL,
    spend REAL NOT NULL,
    PRIMARY KEY (token, model)
) WITHOUT ROWID;
";

const KEY_STORE: Schema = Schema {
    application_id: APPLICATION_ID,
    version: 1,
    sql: SCHEMA,
    what: "key store",
};

/// A key as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredKey {
    /// The key's hash (hex).
    pub token: String,
    /// The key shown masked (`sk-...abcd`).
    pub key_name: String,
    /// [`super::KeySettings`] as JSON.
    pub settings: String,
    /// Unix seconds.
    pub created_at: f64,
    /// USD spent in the current budget period.
    pub spend: f64,
    /// When the spend next starts again from 0 (Unix seconds).
    pub budget_reset_at: Option<f64>,
    /// USD spent per model group, all time.
    pub model_spend: BTreeMap<String, f64>,
}

/// One change to the file.
#[derive(Debug)]
pub enum Write {
    /// Creates a key or replaces its settings (the spend stays).
    Put(StoredKey),
    /// Removes a key and its spend.
    Delete(String),
    /// Adds spend to a key and to its model's line.
    Spend {
        /// The key's hash.
        token: String,
        /// The model group.
        model: String,
        /// USD.
        amount: f64,
        /// When the budget period it counts in ends, as the replica that counted it saw it
        /// (`None`: none, or the current one). Replicas' writes may arrive in any order: spend
        /// of a period newer than the stored one starts that period, of an older one is not
        /// counted in the key's spend. One server owns a SQLite file, so its writes are in order.
        period: Option<f64>,
    },
    /// Starts a new budget period: spend 0, next reset at the time given.
    Reset {
        /// The key's hash.
        token: String,
        /// When the period after this one starts.
        next: Option<f64>,
    },
}

/// What a write is answered with.
pub type Done = Result<(), String>;

/// A queued write and who waits for its answer (nobody, for spend).
type Pending = (Write, Option<oneshot::Sender<Done>>);

/// The open file.
#[derive(Debug)]
pub struct KeyDb {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
}

/// What the callers and the flusher share.
#[derive(Debug)]
struct Shared {
    conn: Mutex<Connection>,
    /// Writes in the order they were made.
    pending: Mutex<Vec<Pending>>,
    closed: AtomicBool,
}

impl KeyDb {
    /// Opens (creating when absent) the store at `path`; returns it with every key it holds.
    ///
    /// # Errors
    /// Why the file cannot be used.
    pub fn open(path: &Path) -> Result<(Self, Vec<StoredKey>), String> {
        let shown = path.display().to_string();
        let conn = sqlite_file::open(path, &KEY_STORE).map_err(|e| match e {
            OpenError::Sqlite(e) => format!("key store {shown}: {e}"),
            OpenError::Refused(why) => format!("key store {shown}: {why}"),
        })?;
        let keys = load(&conn).map_err(|e| format!("key store {shown}: {e}"))?;
        let shared = Arc::new(Shared {
            conn: Mutex::new(conn),
            pending: Mutex::new(Vec::new()),
            closed: AtomicBool::new(false),
        });
        let flushing = Arc::clone(&shared);
        let flusher = std::thread::Builder::new()
            .name("liter-llm-spend".into())
            .spawn(move || flush_all(&flushing))
            .map_err(|e| format!("key store {shown}: cannot start its flusher: {e}"))?;
        let db = KeyDb {
            shared,
            flusher: Mutex::new(Some(flusher)),
        };
        Ok((db, keys))
    }

    /// Writes `write` now (after every write queued before it); resolves once it is committed.
    pub async fn write(&self, write: Write) -> Done {
        let (done, answer) = oneshot::channel();
        lock(&self.shared.pending).push((write, Some(done)));
        self.shared.commit_queued(false);
        answer
            .await
            .unwrap_or_else(|_| Err("key store: the write was dropped".to_owned()))
    }

    /// Queues `write` (spend, a budget reset) for the flusher's next commit, after every write
    /// queued before it.
    pub fn defer(&self, write: Write) {
        let first = {
            let mut pending = lock(&self.shared.pending);
            pending.push((write, None));
            pending.len() == 1
        };
        if self.shared.closed.load(Ordering::Acquire) {
            // No flusher any more (the server stopped): commit now.
            self.shared.commit_queued(true);
        } else if first {
            if let Some(flusher) = lock(&self.flusher).as_ref() {
                flusher.thread().unpark();
            }
        }
    }

    /// Commits everything queued and stops the flusher (once); later spend is committed as it
    /// comes.
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
        let flusher = lock(&self.flusher).take();
        if let Some(flusher) = flusher {
            flusher.thread().unpark();
            let _ = flusher.join();
        }
        self.shared.commit_queued(true);
    }
}

impl Drop for KeyDb {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    /// Commits every queued write, in batches, while this caller holds the connection (with
    /// `wait`, waiting for it; else only when it is free, since whoever holds it commits this
    /// caller's writes too). Checks again after letting it go, so a write queued meanwhile is
    /// never left behind.
    fn commit_queued(&self, wait: bool) {
        loop {
            let mut conn = match self.conn.try_lock() {
                Ok(conn) => conn,
                Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                Err(TryLockError::WouldBlock) if wait => lock(&self.conn),
                Err(TryLockError::WouldBlock) => return,
            };
            loop {
                let batch = std::mem::take(&mut *lock(&self.pending));
                if batch.is_empty() {
                    break;
                }
                let outcome = commit(&mut conn, batch.iter().map(|(w, _)| w)).map_err(|e| format!("key store: {e}"));
                let mut told = false;
                for done in batch.into_iter().filter_map(|(_, done)| done) {
                    told |= done.send(outcome.clone()).is_ok();
                }
                if let (false, Err(e)) = (told, &outcome) {
                    // Nobody waits for these writes' answer: say it here.
                    log::warn!("{e}");
                }
            }
            drop(conn);
            if lock(&self.pending).is_empty() {
                return;
            }
        }
    }
}

/// The flusher: [`SPEND_FLUSH`] after writes are queued, it commits them (asleep while none
/// are), until the store closes.
fn flush_all(shared: &Shared) {
    while !shared.closed.load(Ordering::Acquire) {
        if lock(&shared.pending).is_empty() {
            std::thread::park();
            continue;
        }
        std::thread::park_timeout(SPEND_FLUSH);
        shared.commit_queued(true);
    }
}

/// Reads every key and its spend per model.
fn load(conn: &Connection) -> rusqlite::Result<Vec<StoredKey>> {
    let mut keys: Vec<StoredKey> = conn
        .prepare("SELECT token, key_name, settings, created_at, spend, budget_reset_at FROM keys")?
        .query_map([], |row| {
            Ok(StoredKey {
                token: row.get(0)?,
                key_name: row.get(1)?,
                settings: row.get(2)?,
                created_at: row.get(3)?,
                spend: row.get(4)?,
                budget_reset_at: row.get(5)?,
                model_spend: BTreeMap::new(),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let index: std::collections::HashMap<String, usize> =
        keys.iter().enumerate().map(|(i, k)| (k.token.clone(), i)).collect();
    let mut stmt = conn.prepare("SELECT token, model, spend FROM model_spend")?;
    let rows = stmt.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get(2)?))
    })?;
    for row in rows {
        let (token, model, spend) = row?;
        if let Some(&i) = index.get(&token) {
            keys[i].model_spend.insert(model, spend);
        }
    }
    Ok(keys)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn commit<'a>(conn: &mut Connection, writes: impl Iterator<Item = &'a Write>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    // Spend is summed per key and model between other writes: one row update each.
    let mut spends: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for write in writes {
        if let Write::Spend {
            token, model, amount, ..
        } = write
        {
            *spends.entry((token, model)).or_default() += amount;
            continue;
        }
        add_spend(&tx, &mut spends)?;
        match write {
            Write::Put(key) => {
                tx.prepare_cached(
                    "INSERT INTO keys (token, key_name, settings, created_at, spend, budget_reset_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (token) DO UPDATE SET settings = excluded.settings,
                         budget_reset_at = excluded.budget_reset_at",
                )?
                .execute(params![
                    key.token,
                    key.key_name,
                    key.settings,
                    key.created_at,
                    key.spend,
                    key.budget_reset_at
                ])?;
            }
            Write::Delete(token) => {
                tx.prepare_cached("DELETE FROM keys WHERE token = ?1")?
                    .execute([token])?;
                tx.prepare_cached("DELETE FROM model_spend WHERE token = ?1")?
                    .execute([token])?;
            }
            Write::Reset { token, next } => {
                tx.prepare_cached("UPDATE keys SET spend = 0, budget_reset_at = ?2 WHERE token = ?1")?
                    .execute(params![token, next])?;
            }
            Write::Spend { .. } => {}
        }
    }
    add_spend(&tx, &mut spends)?;
    tx.commit()
}

/// Writes the spend summed so far (a deleted key's is dropped) and empties the sums.
fn add_spend(tx: &rusqlite::Transaction<'_>, spends: &mut BTreeMap<(&str, &str), f64>) -> rusqlite::Result<()> {
    for ((token, model), amount) in std::mem::take(spends) {
        let known = tx
            .prepare_cached("UPDATE keys SET spend = spend + ?2 WHERE token = ?1 RETURNING 1")?
            .query_row(params![token, amount], |_| Ok(()))
            .optional()?;
        if known.is_some() {
            tx.prepare_cached(
                "INSERT INTO model_spend (token, model, spend) VALUES (?1, ?2, ?3)
                 ON CONFLICT (token, model) DO UPDATE SET spend = spend + excluded.spend",
            )?
            .execute(params![token, model, amount])?;
        }
    }
    Ok(())
}
