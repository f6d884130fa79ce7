//! Whether a store (the database, Redis) is in an outage, so that an outage is logged once when
//! it begins and once when it ends instead of on every request it fails meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};

/// In an outage or not; starts out of one.
#[derive(Debug, Default)]
pub(crate) struct Outage(AtomicBool);

impl Outage {
    /// Notes a failure; true when it begins an outage.
    pub(crate) fn began(&self) -> bool {
        !self.0.swap(true, Ordering::Relaxed)
    }

    /// Notes a success; true when it ends an outage. One load while there is none.
    pub(crate) fn ended(&self) -> bool {
        self.0.load(Ordering::Relaxed) && self.0.swap(false, Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::Outage;

    #[test]
    fn an_outage_begins_and_ends_once_however_many_failures_and_successes() {
        let outage = Outage::default();
        assert!(!outage.ended(), "a success outside an outage ends nothing");
        assert!(outage.began());
        assert!(!outage.began() && !outage.began());
        assert!(outage.ended());
        assert!(!outage.ended());
        assert!(outage.began(), "the next failure begins the next outage");
    }
}
