//! In-flight de-duplication: the first caller of a key leads (makes the upstream call), later
//! callers of the same key follow and get the leader's answer, or its error. Errors are handed
//! to the followers waiting at that moment and never stored.
//!
//! A leader that goes away without an answer (its caller cancelled, or its stream was dropped
//! before the end) releases its followers, who then try again on their own.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

use super::payload::Payload;
use super::store::Key;
use crate::error::Error;

/// What a leader hands its followers.
pub type Landing = Result<Arc<Payload>, Error>;

type Slot = (u64, watch::Receiver<Option<Landing>>);

/// The calls in flight, by key.
#[derive(Debug, Default)]
pub struct Flights {
    map: Mutex<HashMap<Key, Slot>>,
    next: AtomicU64,
}

/// A caller's part in a flight.
pub enum Join {
    /// Make the call and [`Lead::land`] its outcome.
    Lead(Lead),
    /// Wait for the leader with [`follow`].
    Follow(watch::Receiver<Option<Landing>>),
}

impl Flights {
    /// Joins the flight for `key`, leading it when there is none.
    pub fn join(self: &Arc<Self>, key: Key) -> Join {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, rx)) = map.get(&key) {
            return Join::Follow(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        let id = self.next.fetch_add(1, Relaxed);
        map.insert(key, (id, rx));
        Join::Lead(Lead {
            flights: Arc::clone(self),
            key,
            id,
            tx,
        })
    }

    /// Flights in progress (for tests and stats).
    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no flight is in progress.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Waits for a leader: its landing, or `None` when it went away without one.
pub async fn follow(mut rx: watch::Receiver<Option<Landing>>) -> Option<Landing> {
    match rx.wait_for(Option::is_some).await {
        Ok(landing) => landing.clone(),
        Err(_) => None,
    }
}

/// The leader's side of a flight; dropping it ends the flight.
#[derive(Debug)]
pub struct Lead {
    flights: Arc<Flights>,
    key: Key,
    id: u64,
    tx: watch::Sender<Option<Landing>>,
}

impl Lead {
    /// Hands the outcome to every follower; callers joining until this lead is dropped get it
    /// at once (keep it while the answer is being stored, so none of them misses it).
    pub fn land(&self, landing: Landing) {
        self.tx.send_replace(Some(landing));
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        let mut map = self.flights.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Kind;
    use crate::types::Embedding;

    #[tokio::test]
    async fn followers_get_the_landing_and_a_vanished_leader_releases_them() {
        let flights = Arc::new(Flights::default());
        let key = Key([7; 32]);
        let Join::Lead(lead) = flights.join(key) else {
            panic!("first caller leads")
        };
        let Join::Follow(rx) = flights.join(key) else {
            panic!("second caller follows")
        };
        let payload = Arc::new(Payload::Embedding(Embedding(vec![1.0]), 1));
        lead.land(Ok(Arc::clone(&payload)));
        let Join::Follow(late) = flights.join(key) else {
            panic!("joins until the lead is dropped")
        };
        assert_eq!(follow(rx).await.unwrap().unwrap(), payload);
        assert_eq!(follow(late).await.unwrap().unwrap(), payload);
        drop(lead);
        assert!(flights.is_empty());

        let Join::Lead(lead) = flights.join(key) else {
            panic!("a new flight")
        };
        let Join::Follow(rx) = flights.join(key) else { panic!() };
        lead.land(Err(Error::new(Kind::RateLimited, "busy")));
        assert_eq!(follow(rx).await.unwrap().unwrap_err().kind(), Kind::RateLimited);
        drop(lead);

        let Join::Lead(lead) = flights.join(key) else { panic!() };
        let Join::Follow(rx) = flights.join(key) else { panic!() };
        drop(lead);
        assert!(follow(rx).await.is_none(), "no landing: the follower tries on its own");
        assert!(flights.is_empty());
    }
}
