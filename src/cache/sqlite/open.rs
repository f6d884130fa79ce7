//! The cache file's schema; opening it is [`crate::sqlite_file::open`]'s.

use std::path::Path;

use rusqlite::Connection;

use crate::sqlite_file::Schema;
pub(super) use crate::sqlite_file::{OpenError, BUSY_TIMEOUT};

/// Written to the file header (`PRAGMA application_id`) so a liter_llm cache is recognised: "LLMC".
const APPLICATION_ID: i64 = 0x4C4C_4D43;
/// The schema this build creates and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

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

/// The cache's kind of file.
const CACHE: Schema = Schema {
    application_id: APPLICATION_ID,
    version: SCHEMA_VERSION,
    sql: SCHEMA,
    what: "cache",
};

/// Opens (creating when absent) the cache file at `path`.
pub(super) fn open(path: &Path) -> Result<Connection, OpenError> {
    crate::sqlite_file::open(path, &CACHE)
}
