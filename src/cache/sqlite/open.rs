//! Opening a cache file: directory, pragmas, the ownership check and the schema.
//!
//! The header is read before anything is written, so a file that is not a liter_llm cache (not a
//! database, corrupt, another program's database, a newer schema) is refused and left as it was.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// Written to the file header (`PRAGMA application_id`) so a liter_llm cache is recognised: "LLMC".
const APPLICATION_ID: i64 = 0x4C4C_4D43;
/// The schema this build creates and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;
/// How long an operation waits for another connection's lock.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The WAL file is truncated back to this size after a checkpoint (large values can swell it).
const WAL_SIZE_LIMIT: i64 = 32 << 20;

/// Schema version 1. `meta.total_size` is kept equal to `SUM(entries.size)` by the triggers; puts use
/// an upsert so that a rewrite fires the update trigger (a `REPLACE` would skip the delete trigger).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS entries (
    key BLOB PRIMARY KEY NOT NULL,
    written_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    size INTEGER NOT NULL,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_written ON entries (written_ms);
CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries (expires_ms);
CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 0), total_size INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (id, total_size) VALUES (0, 0);
CREATE TRIGGER IF NOT EXISTS entries_insert AFTER INSERT ON entries BEGIN
    UPDATE meta SET total_size = total_size + new.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_delete AFTER DELETE ON entries BEGIN
    UPDATE meta SET total_size = total_size - old.size WHERE id = 0;
END;
CREATE TRIGGER IF NOT EXISTS entries_update AFTER UPDATE OF size ON entries BEGIN
    UPDATE meta SET total_size = total_size - old.size + new.size WHERE id = 0;
END;
";

/// What the file header says about the file.
enum Owner {
    /// A fresh or empty database: the schema is to be created.
    Nobody,
    /// A liter_llm cache at this schema version.
    Us(i64),
}

/// Why a file was not opened.
pub(super) enum OpenError {
    /// SQLite refused the file (corrupt, not a database, cannot open, busy).
    Sqlite(rusqlite::Error),
    /// The file is not ours to use; the message says why.
    Refused(String),
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        OpenError::Sqlite(e)
    }
}

/// Opens a connection to `path`, creating the file and its schema when absent. Reads the header
/// before writing anything, so a file that is not a liter_llm cache is left exactly as it was.
pub(super) fn open(path: &Path) -> Result<Connection, OpenError> {
    if path.as_os_str().is_empty() {
        return Err(OpenError::Refused("no file path given".to_owned()));
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.is_dir()) {
        if parent.exists() {
            return Err(OpenError::Refused(format!("{} is not a directory", parent.display())));
        }
        std::fs::create_dir_all(parent)
            .map_err(|e| OpenError::Refused(format!("cannot create the directory {}: {e}", parent.display())))?;
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let owner = owner(&conn)?;
    // Persistent, and a no-op when already set; it may fall back (e.g. on a network file system),
    // which is still safe, only slower for concurrent readers.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    if !matches!(owner, Owner::Us(SCHEMA_VERSION)) {
        create_schema(&mut conn)?;
    }
    Ok(conn)
}

/// Reads who the file belongs to, refusing another program's database or a newer schema.
fn owner(conn: &Connection) -> Result<Owner, OpenError> {
    let application_id: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    match (application_id, version) {
        (APPLICATION_ID, v) if v > SCHEMA_VERSION => Err(OpenError::Refused(format!(
            "written by a newer liter_llm (cache schema {v}, this build reads {SCHEMA_VERSION})"
        ))),
        (APPLICATION_ID, v) => Ok(Owner::Us(v)),
        (0, 0) if objects == 0 => Ok(Owner::Nobody),
        _ => Err(OpenError::Refused(
            "is a SQLite database of another program, not a liter_llm cache; leaving it untouched".to_owned(),
        )),
    }
}

/// Creates (or completes) the schema under the write lock; another process may have done it first.
fn create_schema(conn: &mut Connection) -> Result<(), OpenError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if matches!(owner(&tx)?, Owner::Us(SCHEMA_VERSION)) {
        return Ok(());
    }
    tx.execute_batch(SCHEMA)?;
    tx.pragma_update(None, "application_id", APPLICATION_ID)?;
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}
