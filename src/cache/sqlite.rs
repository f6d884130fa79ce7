//! The SQLite backend: one database file that several processes may share.
//!
//! Behaviour and defaults:
//! - **Lazy opening.** [`SqliteStore::new`] touches nothing. The first operation creates the parent
//!   directory and the file, switches the file to WAL (`synchronous=NORMAL`, `busy_timeout` 5 s) and
//!   creates the schema (application id `LLMC`, schema version 1 in `user_version`).
//! - **Never harms a wrong file.** A file that is not a database, a corrupt one, or another program's
//!   database is reported as an error and never written, replaced or deleted: the path may be a mistake.
//! - **Outages.** A failed open makes every operation fail fast for one second; after that the next
//!   operation tries again. An operation that finds the file corrupt (or hits an I/O error) drops its
//!   connection and starts the same wait. Busy, locked and full databases only fail that operation.
//! - **Speed.** Up to 4 idle connections are kept with their prepared statements, so a hit is one
//!   primary-key lookup. A read runs on the calling thread when an idle connection is at hand and the
//!   file is not locked (it never waits: a WAL reader does not wait for writers); opening, writes and
//!   any read that would wait run on tokio's blocking pool.
//! - **Expiry.** A record written at `written_ms` with a ttl expires at `written_ms + ttl`; `get` treats
//!   it as absent. Expired rows are deleted every 64 writes of a store and whenever the cap is exceeded.
//! - **Size cap.** Each row counts its value's length plus 64 bytes (key and row overhead); triggers
//!   keep the running total in a one-row `meta` table, exact across processes. When a write takes the
//!   total over `max_bytes`, expired rows go first, then the oldest-written rows, until the total is at
//!   most 90% of the cap. Rows are evicted by write time, not by access time: recording reads would turn
//!   every hit into a write that all processes contend for. A value that alone exceeds the cap is not
//!   stored and `put` returns `Ok(())`: the next lookup is a miss, as after an eviction.
//! - **Several processes.** Writers take the write lock up front (`BEGIN IMMEDIATE`) and wait up to
//!   5 s for it; a write still refused (busy or locked) returns an error, a skipped write for the cache.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, TransactionBehavior};

use self::open::{open, OpenError};
use super::store::{now_ms, BoxFut, Key, Record, Store, StoreError};

mod open;
#[cfg(test)]
mod tests;

/// After a failed open, operations fail fast for this long.
const REOPEN_AFTER: Duration = Duration::from_secs(1);
/// Connections kept open between operations.
const IDLE_CONNECTIONS: usize = 4;
/// Bytes a row counts beyond its value: the key, the timestamps and SQLite's own bookkeeping.
const ROW_OVERHEAD: u64 = 64;
/// Expired rows are purged every this many writes of one store.
const PURGE_EVERY: u64 = 64;

/// A value larger than any entry we write (not ours) reads as NULL: a miss, never a huge read.
const SELECT_ENTRY: &str =
    "SELECT written_ms, expires_ms, CASE WHEN length(value) <= ?2 THEN value END FROM entries WHERE key = ?1";
const UPSERT_ENTRY: &str = "INSERT INTO entries (key, written_ms, expires_ms, size, value) VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (key) DO UPDATE SET written_ms = excluded.written_ms, expires_ms = excluded.expires_ms,
    size = excluded.size, value = excluded.value";
const SELECT_TOTAL: &str = "SELECT total_size FROM meta WHERE id = 0";
const DELETE_EXPIRED: &str = "DELETE FROM entries WHERE expires_ms <= ?1";
const SELECT_OLDEST: &str = "SELECT key, size FROM entries ORDER BY written_ms LIMIT 256";
const DELETE_ENTRY: &str = "DELETE FROM entries WHERE key = ?1";

/// A response cache in one SQLite file, safe to share between processes (see the module docs).
pub struct SqliteStore {
    shared: Arc<Shared>,
}

/// The state the blocking tasks share with the store.
struct Shared {
    path: PathBuf,
    max_bytes: u64,
    pool: Mutex<Pool>,
    /// Held while a connection is being opened, so failing opens are not repeated by every caller.
    opening: Mutex<()>,
    /// Writes by this store, to purge expired rows every [`PURGE_EVERY`].
    writes: AtomicU64,
}

/// Idle connections, and the outage that keeps new ones from being opened.
#[derive(Default)]
struct Pool {
    idle: Vec<Connection>,
    outage: Option<Outage>,
}

/// Why the file could not be used, and until when operations fail fast.
struct Outage {
    until: Instant,
    reason: String,
}

// ===== impl SqliteStore =====

impl SqliteStore {
    /// A store in the file at `path` (created on first use, with its parent directory), holding at
    /// most `max_bytes` of values (see the module docs for how rows are counted). A relative path is
    /// resolved against the current directory now. Never fails: problems with the file surface as
    /// errors of the operations.
    pub fn new(path: PathBuf, max_bytes: u64) -> SqliteStore {
        let path = std::path::absolute(&path).unwrap_or(path);
        let shared = Shared {
            path,
            max_bytes,
            pool: Mutex::new(Pool::default()),
            opening: Mutex::new(()),
            writes: AtomicU64::new(0),
        };
        SqliteStore {
            shared: Arc::new(shared),
        }
    }

    /// The database file (absolute when the current directory was known at construction).
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Runs `op` with a connection on the blocking pool.
    fn run<T, F>(&self, op: F) -> BoxFut<'_, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Shared, &mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || shared.with_connection(op)).await {
                Ok(result) => result,
                Err(e) => Err(StoreError(format!("sqlite cache: the blocking task failed: {e}"))),
            }
        })
    }
}

impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn get<'a>(&'a self, key: &'a Key) -> BoxFut<'a, Result<Option<Record>, StoreError>> {
        let key = *key;
        if let Some(found) = self.shared.read_now(&key) {
            return Box::pin(async move { found });
        }
        self.run(move |_, conn| read(conn, &key, now_ms()))
    }

    fn put<'a>(&'a self, key: &'a Key, record: Record, ttl: Option<Duration>) -> BoxFut<'a, Result<(), StoreError>> {
        let size = u64::try_from(record.value.len()).map_or(u64::MAX, |n| n.saturating_add(ROW_OVERHEAD));
        if size > self.shared.max_bytes {
            // Documented: too large to keep, so not kept; the next lookup is a miss.
            return Box::pin(async { Ok(()) });
        }
        let key = *key;
        self.run(move |shared, conn| write(shared, conn, &key, &record, size, ttl))
    }

    fn clear(&self) -> BoxFut<'_, Result<(), StoreError>> {
        self.run(|_, conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM entries", [])?;
            tx.execute("UPDATE meta SET total_size = 0 WHERE id = 0", [])?;
            tx.commit()
        })
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .field("max_bytes", &self.shared.max_bytes)
            .finish()
    }
}

// ===== impl Shared: connections and outages =====

impl Shared {
    /// Checks out a connection, runs `op`, and returns the connection to the pool unless the error
    /// says the file is unusable.
    fn with_connection<T>(
        &self,
        op: impl FnOnce(&Shared, &mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self.checkout()?;
        match op(self, &mut conn) {
            Ok(value) => {
                self.checkin(conn);
                Ok(value)
            }
            Err(e) => {
                let reason = self.describe(&e);
                if breaks_connection(&e) {
                    drop(conn);
                    self.begin_outage(reason.clone());
                } else {
                    self.checkin(conn);
                }
                Err(StoreError(reason))
            }
        }
    }

    /// Reads `key` on the calling thread with an idle connection, never waiting for a lock: a
    /// WAL reader does not wait for writers, and the rows are usually in the page cache, so this
    /// takes microseconds and saves two thread hops. `None` (no idle connection, or the file busy
    /// or locked) sends the read to the blocking pool instead.
    fn read_now(&self, key: &Key) -> Option<Result<Option<Record>, StoreError>> {
        let conn = self.lock_pool().idle.pop()?;
        if conn.busy_timeout(Duration::ZERO).is_err() {
            self.checkin(conn);
            return None;
        }
        let result = read(&conn, key, now_ms());
        let restored = conn.busy_timeout(open::BUSY_TIMEOUT).is_ok();
        match result {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if restored && matches!(e.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) =>
            {
                self.checkin(conn);
                None
            }
            Ok(found) if restored => {
                self.checkin(conn);
                Some(Ok(found))
            }
            Ok(found) => Some(Ok(found)),
            Err(e) => {
                let reason = self.describe(&e);
                if breaks_connection(&e) {
                    drop(conn);
                    self.begin_outage(reason.clone());
                } else if restored {
                    self.checkin(conn);
                }
                Some(Err(StoreError(reason)))
            }
        }
    }

    fn checkout(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.take_idle()? {
            return Ok(conn);
        }
        let _opening = self.opening.lock().unwrap_or_else(PoisonError::into_inner);
        // Another caller may have opened one, or failed to, while this one waited.
        if let Some(conn) = self.take_idle()? {
            return Ok(conn);
        }
        match open(&self.path) {
            Ok(conn) => {
                self.lock_pool().outage = None;
                Ok(conn)
            }
            Err(e) => {
                let (reason, outage) = match e {
                    OpenError::Sqlite(e) => (self.describe(&e), breaks_connection(&e)),
                    OpenError::Refused(why) => (format!("sqlite cache {}: {why}", self.path.display()), true),
                };
                // A file busy beyond the timeout (another process creating the schema) is no outage.
                if outage {
                    self.begin_outage(reason.clone());
                }
                Err(StoreError(reason))
            }
        }
    }

    /// An idle connection, `None` when a new one may be opened, or the current outage.
    fn take_idle(&self) -> Result<Option<Connection>, StoreError> {
        let mut pool = self.lock_pool();
        if let Some(conn) = pool.idle.pop() {
            return Ok(Some(conn));
        }
        match &pool.outage {
            Some(outage) if Instant::now() < outage.until => Err(StoreError(format!(
                "{} (next attempt within {} s)",
                outage.reason,
                REOPEN_AFTER.as_secs()
            ))),
            _ => Ok(None),
        }
    }

    fn checkin(&self, conn: Connection) {
        let mut pool = self.lock_pool();
        let in_outage = pool.outage.as_ref().is_some_and(|o| Instant::now() < o.until);
        if !in_outage && pool.idle.len() < IDLE_CONNECTIONS {
            pool.idle.push(conn);
        }
    }

    /// Closes every idle connection and makes operations fail fast for [`REOPEN_AFTER`].
    fn begin_outage(&self, reason: String) {
        let idle = {
            let mut pool = self.lock_pool();
            pool.outage = Some(Outage {
                until: Instant::now() + REOPEN_AFTER,
                reason,
            });
            std::mem::take(&mut pool.idle)
        };
        drop(idle); // closed outside the lock
    }

    fn lock_pool(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn describe(&self, e: &rusqlite::Error) -> String {
        format!("sqlite cache {}: {e}", self.path.display())
    }
}

/// Whether the connection that returned `e` should be closed (and reopening delayed): the file is
/// corrupt, not a database, unreadable or gone. Busy, locked and full only fail the operation.
fn breaks_connection(e: &rusqlite::Error) -> bool {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::DiskFull
            | ErrorCode::TooBig
            | ErrorCode::ConstraintViolation
            | ErrorCode::OperationInterrupted,
        )
        | None => false,
        Some(_) => true,
    }
}

// ===== reads and writes =====

fn read(conn: &Connection, key: &Key, now: u64) -> rusqlite::Result<Option<Record>> {
    let mut stmt = conn.prepare_cached(SELECT_ENTRY)?;
    let found = stmt
        .query_row(rusqlite::params![&key.0[..], super::MAX_ENTRY_BYTES as i64], |row| {
            let written_ms: i64 = row.get(0)?;
            let expires_ms: Option<i64> = row.get(1)?;
            if expires_ms.is_some_and(|at| at <= to_sql_int(now)) {
                return Ok(None);
            }
            let Some(value) = row.get_ref(2)?.as_blob_or_null()? else {
                return Ok(None);
            };
            let value = Bytes::copy_from_slice(value);
            Ok(Some(Record {
                written_ms: u64::try_from(written_ms).unwrap_or(0),
                value,
            }))
        })
        .optional()?;
    Ok(found.flatten())
}

fn write(
    shared: &Shared,
    conn: &mut Connection,
    key: &Key,
    record: &Record,
    size: u64,
    ttl: Option<Duration>,
) -> rusqlite::Result<()> {
    let expires_ms = ttl.map(|ttl| {
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        to_sql_int(record.written_ms.saturating_add(ttl_ms))
    });
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.prepare_cached(UPSERT_ENTRY)?.execute(params![
        &key.0,
        to_sql_int(record.written_ms),
        expires_ms,
        to_sql_int(size),
        &record.value[..]
    ])?;
    let over_cap = total_size(&tx)? > shared.max_bytes;
    let purge_due = (shared.writes.fetch_add(1, Ordering::Relaxed) + 1) % PURGE_EVERY == 0;
    if over_cap || purge_due {
        tx.prepare_cached(DELETE_EXPIRED)?.execute([to_sql_int(now_ms())])?;
    }
    if over_cap {
        evict_oldest(&tx, shared.max_bytes / 10 * 9)?;
    }
    tx.commit()
}

/// Deletes the oldest-written rows until the total is at most `target`.
fn evict_oldest(conn: &Connection, target: u64) -> rusqlite::Result<()> {
    let mut total = total_size(conn)?;
    let mut oldest = conn.prepare_cached(SELECT_OLDEST)?;
    let mut delete = conn.prepare_cached(DELETE_ENTRY)?;
    while total > target {
        let batch = oldest
            .query_map([], |row| Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?)))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        if batch.is_empty() {
            break;
        }
        for (key, size) in batch {
            if total <= target {
                break;
            }
            delete.execute([key])?;
            total = total.saturating_sub(u64::try_from(size).unwrap_or(0));
        }
    }
    Ok(())
}

fn total_size(conn: &Connection) -> rusqlite::Result<u64> {
    let total: i64 = conn.prepare_cached(SELECT_TOTAL)?.query_row([], |row| row.get(0))?;
    Ok(u64::try_from(total).unwrap_or(0))
}

/// SQLite integers are signed: larger values are clamped (far beyond any real timestamp or size).
fn to_sql_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
