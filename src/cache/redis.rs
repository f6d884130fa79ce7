//! The Redis backend of the response cache, on one [`RedisLink`] per store.
//!
//! Entries live under `liter_llm:v1:{key hex}`. A stored value is the record's `written_ms` as 8
//! big-endian bytes followed by the record's value. A TTL becomes `SET .. PX`, rounded up to
//! whole milliseconds (at least 1), so Redis expires entries itself; a TTL beyond a century is
//! stored without expiry. A value under our prefix too short to hold a record, or a key of another
//! type, reads as absent and the next put overwrites it: for a cache a miss is the right answer to
//! a damaged entry, so nothing is logged. `clear` walks our prefix with `SCAN` and `UNLINK`s it in
//! batches (Redis >= 4); it never flushes the database. Every command here is idempotent, so the
//! link may retry it; connecting, outages and the password's masking are the link's.
//!
//! A call in flight is claimed across processes under `liter_llm:v1:{key hex}:claim` (`SET NX
//! PX`, the owner's id as value); the owner deletes it only while it is still its own.

use std::fmt;
use std::io::Write as _;
use std::time::Duration;

use ::redis::{Cmd, FromRedisValue};
use ::redis::{RedisWrite, ToRedisArgs};
use bytes::Bytes;

use super::store::{BoxFut, Key, Record, Store, StoreError};
use crate::redis_link::{Failure, RedisLink};

#[cfg(test)]
mod tests;

/// The prefix of every key this backend writes (the version changes with the value layout).
pub const PREFIX: &str = "liter_llm:v1:";
/// Keys asked for per `SCAN` step of `clear` (each step's keys go in one `UNLINK`).
const CLEAR_BATCH: usize = 500;
/// TTLs longer than this (a century) are stored without expiry; Redis before 7 overflowed on them.
const MAX_TTL_MS: u128 = 100 * 365 * 24 * 3600 * 1000;
/// The bytes of `written_ms` in front of every stored value.
const HEADER: usize = 8;

/// A cache backend on a Redis server (kind `redis`).
pub struct RedisStore {
    link: RedisLink,
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
        Ok(RedisStore {
            link: RedisLink::new(url, op_timeout).map_err(StoreError)?,
        })
    }

    async fn call<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Failure> {
        self.link.query(cmd).await
    }

    fn failed(&self, verb: &str, failure: Failure) -> StoreError {
        StoreError(self.link.failed(verb, failure))
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

/// Deletes a claim only while it still holds its owner's id.
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

/// The Redis key of `key`'s claim.
fn claim_key(key: &Key) -> String {
    format!("{}:claim", redis_key(key))
}

impl RedisStore {
    async fn claim_call(&self, key: &Key, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(claim_key(key))
            .arg(owner)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms(ttl).unwrap_or(1));
        let set: Option<String> = self.call(&cmd).await.map_err(|f| self.failed("SET NX", f))?;
        Ok(set.is_some())
    }

    async fn release_call(&self, key: &Key, owner: &str) -> Result<(), StoreError> {
        let mut cmd = ::redis::cmd("EVAL");
        cmd.arg(RELEASE).arg(1).arg(claim_key(key)).arg(owner);
        self.call::<i64>(&cmd)
            .await
            .map(drop)
            .map_err(|f| self.failed("EVAL", f))
    }

    async fn claimed_call(&self, key: &Key) -> Result<bool, StoreError> {
        let mut cmd = ::redis::cmd("EXISTS");
        cmd.arg(claim_key(key));
        self.call::<i64>(&cmd)
            .await
            .map(|n| n > 0)
            .map_err(|f| self.failed("EXISTS", f))
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

    fn shares_flights(&self) -> bool {
        true
    }

    fn claim<'a>(&'a self, key: &'a Key, owner: &'a str, ttl: Duration) -> BoxFut<'a, Result<bool, StoreError>> {
        Box::pin(self.claim_call(key, owner, ttl))
    }

    fn release<'a>(&'a self, key: &'a Key, owner: &'a str) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(self.release_call(key, owner))
    }

    fn claimed<'a>(&'a self, key: &'a Key) -> BoxFut<'a, Result<bool, StoreError>> {
        Box::pin(self.claimed_call(key))
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").field("link", &self.link).finish()
    }
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
