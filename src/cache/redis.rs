//! The Redis backend of the response cache: one managed, multiplexed connection per store.
//!
//! Entries live under `liter_llm:v1:{key hex}`. A stored value is the record's `written_ms` as 8
//! big-endian bytes followed by the record's value. A TTL becomes `SET .. PX`, rounded up to
//! whole milliseconds (at least 1), so Redis expires entries itself; a TTL beyond a century is
//! stored without expiry. A value under our prefix too short to hold a record, or a key of another
//! type, reads as absent and the next put overwrites it: for a cache a miss is the right answer to
//! a damaged entry, so nothing is logged. `clear` walks our prefix with `SCAN` and `UNLINK`s it in
//! batches (Redis >= 4); it never flushes the database.
//!
//! Construction only parses the URL (`redis://[user:password@]host[:port][/db]`; TLS and unix
//! sockets are not supported yet) and never fails because the server is down. The first operation
//! connects. When the server cannot be reached, or stops answering, that operation fails and for
//! the next second every operation fails at once without touching the network; then one operation
//! connects again while concurrent ones wait for its outcome instead of connecting too. A
//! connection the server drops (restart, idle timeout) is re-established by the connection manager
//! and the operation that noticed is retried once (every command here is idempotent). Each
//! operation, connecting included, gives up after `op_timeout`; `clear` bounds each of its steps.
//!
//! Errors and `Debug` show the server as `host:port` (`/db`); the password never appears.

use std::fmt;
use std::io::Write as _;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, ConnectionAddr, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError};
use ::redis::{RedisWrite, ToRedisArgs};
use bytes::Bytes;
use tokio::time::{timeout_at, Instant};

use super::store::{BoxFut, Key, Record, Store, StoreError};

#[cfg(test)]
pub(crate) mod server;
#[cfg(test)]
mod tests;

/// The prefix of every key this backend writes (the version changes with the value layout).
pub const PREFIX: &str = "liter_llm:v1:";
/// How long an outage keeps operations from reaching for the network again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// Keys asked for per `SCAN` step of `clear` (each step's keys go in one `UNLINK`).
const CLEAR_BATCH: usize = 500;
/// TTLs longer than this (a century) are stored without expiry; Redis before 7 overflowed on them.
const MAX_TTL_MS: u128 = 100 * 365 * 24 * 3600 * 1000;
/// The longest `op_timeout` honoured (longer ones are cut to this).
const MAX_OP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// The bytes of `written_ms` in front of every stored value.
const HEADER: usize = 8;

/// A cache backend on a Redis server (kind `redis`).
pub struct RedisStore {
    client: Client,
    /// `host:port`, for messages.
    at: String,
    db: i64,
    /// Masked in every message built from a Redis error.
    password: Option<String>,
    op_timeout: Duration,
    link: Mutex<Link>,
    /// Held while connecting, so that only one operation connects at a time.
    connecting: tokio::sync::Mutex<()>,
}

/// The connection, or why there is none and when to try again.
#[derive(Default)]
struct Link {
    manager: Option<ConnectionManager>,
    /// Counts managers, so a late failure on an old one cannot drop its successor.
    generation: u64,
    retry_at: Option<Instant>,
    last_error: String,
}

/// A connect in progress. Dropped while it still has a `why` (failed, or cut short by its
/// operation's timeout), it records an outage, so the next connect waits [`RETRY_AFTER`].
struct Pending<'a> {
    store: &'a RedisStore,
    why: Option<String>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(why) = self.why.take() {
            let mut link = self.store.link();
            link.retry_at = Some(Instant::now() + RETRY_AFTER);
            link.last_error = why;
        }
    }
}

/// Why a command failed.
enum Failure {
    /// No usable connection (refused, dropped, timed out, authentication failed).
    Down(StoreError),
    /// The server answered the command with an error.
    Refused(RedisError),
}

impl RedisStore {
    /// A store for the server at `url` (`redis://[user:password@]host[:port][/db]`, port 6379 and
    /// database 0 by default) whose operations each give up after `op_timeout` (taken as at least
    /// 1 ms and at most a day). Does not connect.
    ///
    /// # Errors
    /// A malformed URL, a `rediss://` (TLS) or unix-socket URL, or a negative database number; the
    /// message shows the URL with its credentials replaced by `***`.
    pub fn new(url: &str, op_timeout: Duration) -> Result<RedisStore, StoreError> {
        let invalid = |why: &str| StoreError(format!("invalid redis URL {}: {why}", shown(url)));
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("redis") => {}
            Some("rediss") => return Err(invalid("TLS (rediss://) is not supported yet; use redis://")),
            Some("unix" | "redis+unix") => {
                return Err(invalid("unix sockets are not supported; use redis://host:port"))
            }
            _ => return Err(invalid("expected redis://[user:password@]host[:port][/db]")),
        }
        let info = url.into_connection_info().map_err(|e| invalid(&e.to_string()))?;
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            return Err(invalid("expected a TCP address"));
        };
        let db = info.redis_settings().db();
        if db < 0 {
            return Err(invalid("the database number must not be negative"));
        }
        let password = info.redis_settings().password().map(str::to_owned);
        let client = Client::open(info).map_err(|e| invalid(&e.to_string()))?;
        let at = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(RedisStore {
            client,
            at,
            db,
            password,
            op_timeout: op_timeout.clamp(Duration::from_millis(1), MAX_OP_TIMEOUT),
            link: Mutex::new(Link::default()),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `cmd` within one `op_timeout`, connecting first when there is no connection.
    async fn call<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Failure> {
        let deadline = Instant::now() + self.op_timeout;
        let (mut conn, generation) = match timeout_at(deadline, self.manager()).await {
            Ok(found) => found.map_err(Failure::Down)?,
            Err(_) => return Err(Failure::Down(self.down(&self.no_answer()))),
        };
        let attempt = async {
            match cmd.query_async::<T>(&mut conn).await {
                // The manager is reconnecting; the retry waits for it.
                Err(e) if e.is_io_error() && !e.is_timeout() => cmd.query_async::<T>(&mut conn).await,
                done => done,
            }
        };
        match timeout_at(deadline, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if answered(&e) => Err(Failure::Refused(e)),
            Ok(Err(e)) => Err(Failure::Down(self.trip(generation, self.describe(&e)))),
            Err(_) => Err(Failure::Down(self.trip(generation, self.no_answer()))),
        }
    }

    /// The connection manager, connecting when there is none and the last attempt is a second old.
    async fn manager(&self) -> Result<(ConnectionManager, u64), StoreError> {
        if let Some(found) = self.current()? {
            return Ok(found);
        }
        let _only_one = self.connecting.lock().await;
        // Another operation may have connected, or failed to, while this one waited.
        if let Some(found) = self.current()? {
            return Ok(found);
        }
        let mut pending = Pending {
            store: self,
            why: Some(self.no_answer()),
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.op_timeout))
            .set_response_timeout(Some(self.op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(manager) => {
                pending.why = None;
                drop(pending);
                let mut link = self.link();
                link.generation += 1;
                link.manager = Some(manager.clone());
                link.retry_at = None;
                Ok((manager, link.generation))
            }
            Err(e) => {
                let why = self.describe(&e);
                let err = self.down(&why);
                pending.why = Some(why);
                drop(pending);
                Err(err)
            }
        }
    }

    /// The live manager, `Ok(None)` when it is time to connect, or the outage still in force.
    fn current(&self) -> Result<Option<(ConnectionManager, u64)>, StoreError> {
        self.usable(&self.link())
    }

    fn usable(&self, link: &Link) -> Result<Option<(ConnectionManager, u64)>, StoreError> {
        if let Some(manager) = &link.manager {
            return Ok(Some((manager.clone(), link.generation)));
        }
        match link.retry_at {
            Some(at) if Instant::now() < at => Err(self.down(&link.last_error)),
            _ => Ok(None),
        }
    }

    /// Records an outage seen on manager `generation`: the next connect waits [`RETRY_AFTER`].
    fn trip(&self, generation: u64, why: String) -> StoreError {
        let err = self.down(&why);
        let mut link = self.link();
        if link.generation == generation && link.manager.is_some() {
            link.manager = None;
            link.retry_at = Some(Instant::now() + RETRY_AFTER);
            link.last_error = why;
        }
        err
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn down(&self, why: &str) -> StoreError {
        StoreError(format!("redis at {} unavailable: {why}", self.at))
    }

    fn no_answer(&self) -> String {
        format!("no answer within {} ms", self.op_timeout.as_millis())
    }

    /// A Redis error as text, with the password masked (Redis does not echo it; belt and braces).
    fn describe(&self, e: &RedisError) -> String {
        let text = e.to_string();
        match &self.password {
            Some(password) => crate::redact::text(&text, password).into_owned(),
            None => text,
        }
    }

    fn failed(&self, verb: &str, failure: Failure) -> StoreError {
        match failure {
            Failure::Down(err) => err,
            Failure::Refused(e) => StoreError(format!("redis at {} refused {verb}: {}", self.at, self.describe(&e))),
        }
    }

    async fn get_record(&self, key: &Key) -> Result<Option<Record>, StoreError> {
        // At most one byte past the largest entry is read: a larger value (not ours) is a miss.
        let mut cmd = ::redis::cmd("GETRANGE");
        cmd.arg(redis_key(key)).arg(0).arg(HEADER + super::MAX_ENTRY_BYTES);
        match self.call::<Option<Vec<u8>>>(&cmd).await {
            Ok(raw) => Ok(raw
                .filter(|r| r.len() <= HEADER + super::MAX_ENTRY_BYTES)
                .and_then(decode)),
            Err(Failure::Refused(e)) if e.code() == Some("WRONGTYPE") => Ok(None),
            Err(failure) => Err(self.failed("GETRANGE", failure)),
        }
    }

    async fn put_record(&self, key: &Key, record: &Record, ttl: Option<Duration>) -> Result<(), StoreError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(redis_key(key)).arg(Stored(record));
        if let Some(ms) = ttl.and_then(ttl_ms) {
            cmd.arg("PX").arg(ms);
        }
        self.call::<()>(&cmd)
            .await
            .map_err(|failure| self.failed("SET", failure))
    }

    async fn clear_all(&self) -> Result<(), StoreError> {
        let pattern = format!("{PREFIX}*");
        let mut cursor = String::from("0");
        loop {
            let mut scan = ::redis::cmd("SCAN");
            scan.arg(&cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(CLEAR_BATCH);
            let (next, keys) = self
                .call::<(String, Vec<Vec<u8>>)>(&scan)
                .await
                .map_err(|failure| self.failed("SCAN", failure))?;
            if !keys.is_empty() {
                let mut unlink = ::redis::cmd("UNLINK");
                unlink.arg(keys);
                self.call::<()>(&unlink)
                    .await
                    .map_err(|failure| self.failed("UNLINK", failure))?;
            }
            if next == "0" {
                return Ok(());
            }
            cursor = next;
        }
    }
}

impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn get<'a>(&'a self, key: &'a Key) -> BoxFut<'a, Result<Option<Record>, StoreError>> {
        Box::pin(self.get_record(key))
    }

    fn put<'a>(&'a self, key: &'a Key, record: Record, ttl: Option<Duration>) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async move { self.put_record(key, &record, ttl).await })
    }

    fn clear(&self) -> BoxFut<'_, Result<(), StoreError>> {
        Box::pin(self.clear_all())
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("at", &format!("{}/{}", self.at, self.db))
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

/// Whether the server answered the command itself with an error (as opposed to no connection).
fn answered(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}

/// The Redis key of `key`.
pub(crate) fn redis_key(key: &Key) -> String {
    format!("{PREFIX}{}", key.hex())
}

/// A record as stored: `written_ms` (8 bytes, big-endian), then the value; written straight into
/// the command's buffer.
struct Stored<'a>(&'a Record);

impl ToRedisArgs for Stored<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut arg = out.writer_for_next_arg();
        // Writes into the command's own buffer, which cannot fail.
        let _ = arg.write_all(&self.0.written_ms.to_be_bytes());
        let _ = arg.write_all(&self.0.value);
    }
}

/// A stored value back as a record; `None` when it is too short to hold one.
fn decode(raw: Vec<u8>) -> Option<Record> {
    let written_ms = u64::from_be_bytes(raw.get(..HEADER)?.try_into().ok()?);
    Some(Record {
        written_ms,
        value: Bytes::from(raw).slice(HEADER..),
    })
}

/// `ttl` in whole milliseconds for `PX`, rounded up, at least 1; `None` beyond [`MAX_TTL_MS`].
fn ttl_ms(ttl: Duration) -> Option<u64> {
    let ms = ttl.as_nanos().div_ceil(1_000_000).max(1);
    if ms > MAX_TTL_MS {
        return None;
    }
    u64::try_from(ms).ok()
}

/// `url` for messages: everything between the scheme and the last `@` becomes `***`, and so does
/// the query (a unix-socket URL carries its password there).
///
/// Not [`crate::redact::url`], which stops at the first `/`, `?` or `#` after the scheme: a URL
/// rejected because its password holds one of those unencoded would show part of the password.
pub(crate) fn shown(url: &str) -> String {
    let mut out = match url.rfind('@') {
        Some(at) => {
            let start = match url.find("://") {
                Some(i) if i + 3 <= at => i + 3,
                _ => 0,
            };
            format!("{}***{}", &url[..start], &url[at..])
        }
        None => url.to_owned(),
    };
    if let Some(query) = out.find('?') {
        out.truncate(query);
        out.push_str("?***");
    }
    out
}
