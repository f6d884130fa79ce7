//! The in-process backend: sharded LRU maps bounded by bytes, holding decoded payloads so a
//! hit costs a lookup and a clone, never a parse.
//!
//! A key's shard is picked by its first byte; each shard has an equal share of `max_bytes` and
//! its own lock, held only for a map operation. Expired entries are dropped when met.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::payload::Payload;
use super::store::Key;

const SHARDS: usize = 16;

/// An entry found in memory.
#[derive(Clone, Debug)]
pub struct Found {
    /// The answer.
    pub payload: Arc<Payload>,
    /// When it was written (Unix milliseconds).
    pub written_ms: u64,
}

#[derive(Debug)]
struct Slot {
    found: Found,
    expires_ms: Option<u64>,
    size: usize,
    tick: u64,
}

#[derive(Debug, Default)]
struct Shard {
    map: HashMap<Key, Slot>,
    /// Last use order: tick -> key; the smallest tick is evicted first.
    order: BTreeMap<u64, Key>,
    tick: u64,
    bytes: usize,
}

impl Shard {
    fn remove(&mut self, key: &Key) {
        if let Some(slot) = self.map.remove(key) {
            self.order.remove(&slot.tick);
            self.bytes -= slot.size;
        }
    }
}

/// A bounded in-memory LRU cache of payloads.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    shard_budget: usize,
}

impl MemoryStore {
    /// A store holding at most about `max_bytes` (by [`Payload::footprint`]).
    pub fn new(max_bytes: u64) -> Self {
        let budget = usize::try_from(max_bytes).unwrap_or(usize::MAX) / SHARDS;
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_budget: budget,
        }
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave it inconsistent for readers: every update
        // below completes its map and order changes before anything that could panic.
        self.shards[usize::from(key.0[0]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry under `key`, unless missing or expired at `now_ms`; marks it recently used.
    pub fn get(&self, key: &Key, now_ms: u64) -> Option<Found> {
        let mut shard = self.shard(key);
        let Shard { map, order, tick, .. } = &mut *shard;
        let slot = map.get_mut(key)?;
        if slot.expires_ms.is_some_and(|e| e <= now_ms) {
            shard.remove(key);
            return None;
        }
        *tick += 1;
        order.remove(&slot.tick);
        slot.tick = *tick;
        order.insert(*tick, *key);
        Some(slot.found.clone())
    }

    /// Stores `payload` under `key`, evicting the least recently used entries to make room;
    /// a payload larger than a shard's share is not stored. Returns whether it was stored.
    pub fn put(&self, key: Key, payload: Arc<Payload>, written_ms: u64, ttl: Option<Duration>) -> bool {
        let size = payload.footprint();
        if size > self.shard_budget {
            return false;
        }
        let expires_ms = ttl.map(|t| written_ms.saturating_add(u64::try_from(t.as_millis()).unwrap_or(u64::MAX)));
        let mut shard = self.shard(&key);
        shard.remove(&key);
        while shard.bytes + size > self.shard_budget {
            let Some((_, oldest)) = shard.order.pop_first() else {
                break;
            };
            if let Some(slot) = shard.map.remove(&oldest) {
                shard.bytes -= slot.size;
            }
        }
        shard.tick += 1;
        let tick = shard.tick;
        shard.order.insert(tick, key);
        shard.bytes += size;
        let found = Found { payload, written_ms };
        shard.map.insert(
            key,
            Slot {
                found,
                expires_ms,
                size,
                tick,
            },
        );
        true
    }

    /// Drops every entry.
    pub fn clear(&self) {
        for shard in &*self.shards {
            *shard.lock().unwrap_or_else(PoisonError::into_inner) = Shard::default();
        }
    }

    /// The bytes held, by [`Payload::footprint`].
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).bytes)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Embedding;

    fn key(first: u8, n: u8) -> Key {
        let mut k = [0u8; 32];
        k[0] = first;
        k[1] = n;
        Key(k)
    }

    fn vector(floats: usize) -> Arc<Payload> {
        Arc::new(Payload::Embedding(Embedding(vec![1.0; floats]), 1))
    }

    #[test]
    fn evicts_least_recently_used_within_the_budget() {
        // Each payload is 64 + 4 * 100 = 464 bytes; a shard's share holds two.
        let store = MemoryStore::new(1000 * SHARDS as u64);
        store.put(key(0, 1), vector(100), 0, None);
        store.put(key(0, 2), vector(100), 0, None);
        assert!(store.get(&key(0, 1), 0).is_some());
        store.put(key(0, 3), vector(100), 0, None);
        assert!(store.get(&key(0, 2), 0).is_none(), "the least recently used goes first");
        assert!(store.get(&key(0, 1), 0).is_some());
        assert!(store.get(&key(0, 3), 0).is_some());
        assert!(store.bytes() <= 1000);
        assert!(
            !store.put(key(1, 1), vector(1000), 0, None),
            "larger than a shard's share"
        );
        store.put(key(0, 1), vector(10), 0, None);
        assert_eq!(store.bytes(), 464 + 104, "a replaced entry's bytes are released");
        store.clear();
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn expired_entries_are_gone() {
        let store = MemoryStore::new(1 << 20);
        store.put(key(2, 1), vector(1), 1_000, Some(Duration::from_millis(500)));
        assert_eq!(store.get(&key(2, 1), 1_499).unwrap().written_ms, 1_000);
        assert!(store.get(&key(2, 1), 1_500).is_none());
        assert_eq!(store.bytes(), 0);
    }
}
