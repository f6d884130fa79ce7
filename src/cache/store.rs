//! What a cache backend stores and the interface every shared backend (SQLite, Redis) offers.
//!
//! A backend keeps opaque records under 32-byte keys. It reports failures as [`StoreError`]s and
//! never panics; the cache above it turns a failure into an uncached call, one warning per outage.

use std::fmt;
use std::future::Future;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

/// A boxed future borrowing from the backend.
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A cache key: the BLAKE3 hash of a request's canonical form (see `key.rs`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Already a uniform hash: its first 8 bytes are as good as any rehash of all 32.
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Hashes a [`Key`] for a map by taking its first 8 bytes as they are.
#[derive(Default)]
pub struct KeyHasher64(u64);

impl Hasher for KeyHasher64 {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A map of keys hashed by [`KeyHasher64`].
pub type KeyMap<V> = std::collections::HashMap<Key, V, BuildHasherDefault<KeyHasher64>>;

impl Key {
    /// The key as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        use fmt::Write;
        let mut out = String::with_capacity(64);
        for b in self.0 {
            let _ = write!(out, "{b:02x}");
        }
        out
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

/// One stored value and when it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// When the value was written, in milliseconds since the Unix epoch.
    pub written_ms: u64,
    /// The encoded value (opaque to the backend).
    pub value: Bytes,
}

/// A backend failure: down, full, corrupt, or a timeout. The message never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shared cache backend.
pub trait Store: Send + Sync + fmt::Debug {
    /// The backend's kind (`sqlite`, `redis`), for warnings and reprs.
    fn kind(&self) -> &'static str;

    /// Reads `key`: `Ok(None)` when absent or expired.
    fn get<'a>(&'a self, key: &'a Key) -> BoxFut<'a, Result<Option<Record>, StoreError>>;

    /// Writes `key`, to expire after `ttl` (`None`: kept until evicted).
    fn put<'a>(&'a self, key: &'a Key, record: Record, ttl: Option<Duration>) -> BoxFut<'a, Result<(), StoreError>>;

    /// Removes every entry this backend holds for liter_llm.
    fn clear(&self) -> BoxFut<'_, Result<(), StoreError>>;

    /// Whether calls in flight are shared across processes ([`Store::claim`] and its kin).
    fn shares_flights(&self) -> bool {
        false
    }

    /// Claims the call of `key` for `owner` for `ttl` (in-flight de-duplication across
    /// processes): `Ok(false)` when another owner holds it. Backends that do not share calls
    /// in flight always grant it.
    fn claim<'a>(&'a self, _key: &'a Key, _owner: &'a str, _ttl: Duration) -> BoxFut<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }

    /// Gives `owner`'s claim on `key` back (its answer is stored, or it failed).
    fn release<'a>(&'a self, _key: &'a Key, _owner: &'a str) -> BoxFut<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    /// Whether some owner still holds a claim on `key`.
    fn claimed<'a>(&'a self, _key: &'a Key) -> BoxFut<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(false) })
    }
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
