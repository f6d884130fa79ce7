//! Session stickiness: a conversation (`session=`) stays on the deployment that first served
//! it while that deployment stays healthy, so the provider's prompt cache stays warm.
//!
//! The map is bounded: two generations of at most [`GENERATION`] sessions each; a session
//! not seen for two generations is forgotten (and simply picks afresh).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Sessions per generation.
const GENERATION: usize = 50_000;

/// Session id → deployment id.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    maps: Mutex<[HashMap<String, Arc<str>>; 2]>,
}

impl Sessions {
    /// The deployment `session` is bound to, if any.
    pub(super) fn get(&self, session: &str) -> Option<Arc<str>> {
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = maps[0].get(session) {
            return Some(Arc::clone(id));
        }
        let id = maps[1].remove(session)?;
        Self::insert(&mut maps, session, Arc::clone(&id));
        Some(id)
    }

    /// Binds `session` to the deployment `id`.
    pub(super) fn bind(&self, session: &str, id: &Arc<str>) {
        let mut maps = self.maps.lock().unwrap_or_else(PoisonError::into_inner);
        if maps[0].get(session).is_some_and(|old| Arc::ptr_eq(old, id)) {
            return;
        }
        Self::insert(&mut maps, session, Arc::clone(id));
    }

    fn insert(maps: &mut [HashMap<String, Arc<str>>; 2], session: &str, id: Arc<str>) {
        if maps[0].len() >= GENERATION {
            maps[1] = std::mem::take(&mut maps[0]);
        }
        maps[0].insert(session.to_owned(), id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_stay_bound_and_old_ones_are_forgotten() {
        let sessions = Sessions::default();
        let a: Arc<str> = Arc::from("a");
        sessions.bind("s0", &a);
        for i in 1..=GENERATION * 2 {
            sessions.bind(&format!("s{i}"), &a);
        }
        assert!(sessions.get("s0").is_none());
        assert_eq!(sessions.get(&format!("s{}", GENERATION * 2)).as_deref(), Some("a"));
        // A session from the older generation is kept when seen again.
        assert_eq!(sessions.get(&format!("s{}", GENERATION + 1)).as_deref(), Some("a"));
    }
}
