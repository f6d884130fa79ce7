//! Opening a SQLite file that belongs to liter_llm: directory, pragmas, the ownership check and
//! the schema. Shared by the response cache and the proxy's key store.
//!
//! The header is read before anything is written, so a file that is not ours (not a database,
//! corrupt, another program's database, a newer schema) is refused and left as it was.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// How long an operation waits for another connection's lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The WAL file is truncated back to this size after a checkpoint (large values can swell it).
const WAL_SIZE_LIMIT: i64 = 32 << 20;

/// Which kind of liter_llm file, and its schema.
pub(crate) struct Schema {
    /// Written to the file header (`PRAGMA application_id`) so the file is recognised.
    pub(crate) application_id: i64,
    /// The schema this build creates and reads (`PRAGMA user_version`).
    pub(crate) version: i64,
    /// Creates the schema (idempotent statements).
    pub(crate) sql: &'static str,
    /// What the file is, for messages ("cache").
    pub(crate) what: &'static str,
}

/// What the file header says about the file.
enum Owner {
    /// A fresh or empty database: the schema is to be created.
    Nobody,
    /// Ours, at this schema version.
    Us(i64),
}

/// Why a file was not opened.
pub(crate) enum OpenError {
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
/// before writing anything, so a file that is not ours is left exactly as it was.
pub(crate) fn open(path: &Path, schema: &Schema) -> Result<Connection, OpenError> {
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
    let owner = owner(&conn, schema)?;
    // Persistent, and a no-op when already set; it may fall back (e.g. on a network file system),
    // which is still safe, only slower for concurrent readers.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
    if !matches!(owner, Owner::Us(v) if v == schema.version) {
        create_schema(&mut conn, schema)?;
    }
    Ok(conn)
}

/// Reads who the file belongs to, refusing another program's database or a newer schema.
fn owner(conn: &Connection, schema: &Schema) -> Result<Owner, OpenError> {
    let application_id: i64 = conn.pragma_query_value(None, "application_id", |row| row.get(0))?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let objects: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |row| row.get(0))?;
    match (application_id, version) {
        (id, v) if id == schema.application_id && v > schema.version => Err(OpenError::Refused(format!(
            "written by a newer liter_llm ({} schema {v}, this build reads {})",
            schema.what, schema.version
        ))),
        (id, v) if id == schema.application_id => Ok(Owner::Us(v)),
        (0, 0) if objects == 0 => Ok(Owner::Nobody),
        _ => Err(OpenError::Refused(format!(
            "is a SQLite database of another program, not a liter_llm {}; leaving it untouched",
            schema.what
        ))),
    }
}

/// Creates (or completes) the schema under the write lock; another process may have done it first.
fn create_schema(conn: &mut Connection, schema: &Schema) -> Result<(), OpenError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if matches!(owner(&tx, schema)?, Owner::Us(v) if v == schema.version) {
        return Ok(());
    }
    tx.execute_batch(schema.sql)?;
    tx.pragma_update(None, "application_id", schema.application_id)?;
    tx.pragma_update(None, "user_version", schema.version)?;
    tx.commit()?;
    Ok(())
}
