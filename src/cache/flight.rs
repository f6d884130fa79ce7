//! In-flight de-duplication: the first caller of a key leads (makes the upstream call), later
//! callers of the same key follow and get the leader's answer, or its error. Errors are handed
//! to the followers waiting at that moment and never stored.
//!
//! A leader that goes away without an answer (its caller cancelled, or its stream was dropped
//! before the end) releases its followers, who then try again on their own.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tokio::sync::Notify;

use super::payload::Payload;
use super::store::{Key, KeyMap};
use crate::error::Error;

/// What a leader hands its followers.
pub type Landing = Result<Arc<Payload>, Error>;

/// One call in flight: its landing once known, and whether its leader went away.
#[derive(Debug, Default)]
pub struct Flight {
    landing: OnceLock<Landing>,
    gone: AtomicBool,
    notify: Notify,
}

/// The calls in flight, by key.
#[derive(Debug, Default)]
pub struct Flights {
    map: Mutex<KeyMap<(u64, Arc<Flight>)>>,
    next: AtomicU64,
}

/// A caller's part in a flight.
pub enum Join {
    /// Make the call and [`Lead::land`] its outcome.
    Lead(Lead),
    /// Wait for the leader with [`follow`].
    Follow(Arc<Flight>),
}

impl Flights {
    /// Joins the flight for `key`, leading it when there is none.
    pub fn join(self: &Arc<Self>, key: Key) -> Join {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, flight)) = map.get(&key) {
            return Join::Follow(Arc::clone(flight));
        }
        let flight = Arc::new(Flight::default());
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        map.insert(key, (id, Arc::clone(&flight)));
        Join::Lead(Lead {
            flights: Arc::clone(self),
            key,
            id,
            flight,
            on_end: None,
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
pub async fn follow(flight: Arc<Flight>) -> Option<Landing> {
    loop {
        // Created before the checks: a landing between them and the wait still wakes it.
        let notified = flight.notify.notified();
        if let Some(landing) = flight.landing.get() {
            return Some(landing.clone());
        }
        if flight.gone.load(Ordering::Acquire) {
            return None;
        }
        notified.await;
    }
}

/// Work to do once a lead ends (give a cross-process claim back).
pub type OnEnd = Box<dyn FnOnce() + Send + Sync>;

/// The leader's side of a flight; dropping it ends the flight.
pub struct Lead {
    flights: Arc<Flights>,
    key: Key,
    id: u64,
    flight: Arc<Flight>,
    on_end: Option<OnEnd>,
}

impl std::fmt::Debug for Lead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lead")
            .field("key", &self.key)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Lead {
    /// Runs `work` when this lead ends (after its answer is stored, or when it failed).
    pub fn on_end(&mut self, work: OnEnd) {
        self.on_end = Some(work);
    }

    /// Hands the outcome to every follower; callers joining until this lead is dropped get it
    /// at once (keep it while the answer is being stored, so none of them misses it).
    pub fn land(&self, landing: Landing) {
        let _ = self.flight.landing.set(landing);
        self.flight.notify.notify_waiters();
    }
}

impl Drop for Lead {
    fn drop(&mut self) {
        {
            let mut map = self.flights.map.lock().unwrap_or_else(PoisonError::into_inner);
            if map.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
                map.remove(&self.key);
            }
        }
        self.flight.gone.store(true, Ordering::Release);
        self.flight.notify.notify_waiters();
        if let Some(work) = self.on_end.take() {
            work();
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
