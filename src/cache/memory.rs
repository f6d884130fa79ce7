//! The in-process backend: sharded LRU maps bounded by bytes, holding decoded payloads so a
//! hit costs a lookup and a clone, never a parse.
//!
//! A key's shard is picked by its first byte; each shard has an equal share of `max_bytes` and
//! its own lock, held only for a map operation. Each shard keeps its entries in a slab linked in
//! last-use order (no allocation per lookup or per move); expired entries are dropped when met.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::payload::Payload;
use super::store::{Key, KeyMap};

const SHARDS: usize = 16;
/// No neighbour in the use-order list.
const NIL: usize = usize::MAX;

/// An entry found in memory.
#[derive(Clone, Debug)]
pub struct Found {
    /// The answer.
    pub payload: Arc<Payload>,
    /// When it was written (Unix milliseconds).
    pub written_ms: u64,
}

#[derive(Debug)]
struct Node {
    key: Key,
    found: Found,
    expires_ms: Option<u64>,
    size: usize,
    /// The more recently used neighbour.
    prev: usize,
    /// The less recently used neighbour.
    next: usize,
}

#[derive(Debug)]
struct Shard {
    map: KeyMap<usize>,
    slots: Vec<Option<Node>>,
    free: Vec<usize>,
    /// Most recently used.
    head: usize,
    /// Least recently used: evicted first.
    tail: usize,
    bytes: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Shard {
            map: KeyMap::default(),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
        }
    }
}

impl Shard {
    fn node(&mut self, i: usize) -> &mut Node {
        self.slots[i].as_mut().expect("a linked slot holds a node")
    }

    fn unlink(&mut self, i: usize) {
        let (prev, next) = {
            let n = self.node(i);
            (n.prev, n.next)
        };
        match prev {
            NIL => self.head = next,
            p => self.node(p).next = next,
        }
        match next {
            NIL => self.tail = prev,
            n => self.node(n).prev = prev,
        }
    }

    fn push_front(&mut self, i: usize) {
        let head = self.head;
        {
            let n = self.node(i);
            n.prev = NIL;
            n.next = head;
        }
        match head {
            NIL => self.tail = i,
            h => self.node(h).prev = i,
        }
        self.head = i;
    }

    fn remove_at(&mut self, i: usize) {
        self.unlink(i);
        if let Some(node) = self.slots[i].take() {
            self.map.remove(&node.key);
            self.bytes -= node.size;
        }
        self.free.push(i);
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
        // Every update completes its list and map changes before anything that could panic, so
        // a poisoned shard is still consistent.
        self.shards[usize::from(key.0[0]) % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry under `key`, unless missing or expired at `now_ms`; marks it recently used.
    pub fn get(&self, key: &Key, now_ms: u64) -> Option<Found> {
        let mut shard = self.shard(key);
        let i = *shard.map.get(key)?;
        if shard.node(i).expires_ms.is_some_and(|e| e <= now_ms) {
            shard.remove_at(i);
            return None;
        }
        if shard.head != i {
            shard.unlink(i);
            shard.push_front(i);
        }
        Some(shard.node(i).found.clone())
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
        if let Some(&i) = shard.map.get(&key) {
            shard.remove_at(i);
        }
        while shard.bytes + size > self.shard_budget && shard.tail != NIL {
            let oldest = shard.tail;
            shard.remove_at(oldest);
        }
        let node = Node {
            key,
            found: Found { payload, written_ms },
            expires_ms,
            size,
            prev: NIL,
            next: NIL,
        };
        let i = match shard.free.pop() {
            Some(i) => {
                shard.slots[i] = Some(node);
                i
            }
            None => {
                shard.slots.push(Some(node));
                shard.slots.len() - 1
            }
        };
        shard.push_front(i);
        shard.map.insert(key, i);
        shard.bytes += size;
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
        // A shard's share holds two of these payloads.
        let size = vector(100).footprint();
        let store = MemoryStore::new((2 * size + size / 2) as u64 * SHARDS as u64);
        store.put(key(0, 1), vector(100), 0, None);
        store.put(key(0, 2), vector(100), 0, None);
        assert!(store.get(&key(0, 1), 0).is_some());
        store.put(key(0, 3), vector(100), 0, None);
        assert!(store.get(&key(0, 2), 0).is_none(), "the least recently used goes first");
        assert!(store.get(&key(0, 1), 0).is_some());
        assert!(store.get(&key(0, 3), 0).is_some());
        assert_eq!(store.bytes(), 2 * size);
        assert!(
            !store.put(key(1, 1), vector(1000), 0, None),
            "larger than a shard's share"
        );
        store.put(key(0, 1), vector(10), 0, None);
        assert_eq!(
            store.bytes(),
            size + vector(10).footprint(),
            "a replaced entry's bytes are released"
        );
        store.clear();
        assert_eq!(store.bytes(), 0);
    }

    #[test]
    fn a_long_run_of_puts_and_gets_keeps_order_and_budget() {
        // One shard with room for 8 entries; slots are reused, never leaked.
        let size = vector(1).footprint();
        let store = MemoryStore::new((8 * size) as u64 * SHARDS as u64);
        for n in 0..200u8 {
            store.put(key(3, n), vector(1), 0, None);
            if n >= 2 {
                // Keep touching an older entry: it must survive while newer ones come and go.
                assert!(store.get(&key(3, 2), 0).is_some(), "entry 2 at {n}");
            }
        }
        assert_eq!(store.bytes(), 8 * size);
        let shard = store.shard(&key(3, 0));
        assert!(shard.slots.len() <= 9, "slots are reused: {}", shard.slots.len());
        assert_eq!(shard.map.len(), 8);
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
