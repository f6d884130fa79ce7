//! Cooldowns: a deployment that keeps failing, or answers in a way that says it cannot serve
//! for a while, is taken out of its group for a time.
//!
//! A 429, 401, 404 or 408 answer takes it out at once; any other failure counts, and the
//! failure after `allowed_fails` within a minute takes it out. It stays out for
//! `cooldown_time`, or for the server's Retry-After when that is longer. While it has failures
//! on its record it takes at most as many requests at once as it has failures left, so a burst
//! of concurrent calls cannot all land on a failing deployment before the first answers.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::spec::RouterSettings;
use crate::error::{Error, Kind};

/// The window failures are counted over.
const FAIL_WINDOW: Duration = Duration::from_secs(60);

/// One deployment's failures and cooldown.
#[derive(Debug, Default)]
pub(super) struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the current failure window began.
    window: Option<Instant>,
    /// Failures in that window.
    fails: u32,
    /// Out until then.
    until: Option<Instant>,
}

/// Whether a failure says something about the deployment (rather than the request or a
/// local limit), and whether it takes the deployment out at once.
pub(super) fn blame(err: &Error) -> Option<bool> {
    match err.status() {
        Some(429 | 401 | 404 | 408) => Some(true),
        Some(s) if s >= 500 => Some(false),
        Some(_) => None,
        None => matches!(err.kind(), Kind::Network | Kind::Timeout | Kind::Streaming).then_some(false),
    }
}

impl Health {
    /// How long it stays out, if it is cooling down at `now`.
    pub(super) fn cooling_left(&self, now: Instant) -> Option<Duration> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state
            .until
            .and_then(|u| u.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Whether it may take one more request now, with `in_flight` already running.
    pub(super) fn may_take(&self, now: Instant, in_flight: u32, allowed_fails: u32) -> bool {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.until.is_some_and(|u| u > now) {
            return false;
        }
        state.expire(now);
        state.fails == 0 || in_flight < (allowed_fails + 1).saturating_sub(state.fails)
    }

    /// Records a failure; returns the cooldown it started, if any.
    pub(super) fn failed(&self, err: &Error, settings: &RouterSettings, now: Instant) -> Option<Duration> {
        let at_once = blame(err)?;
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.expire(now);
        state.window.get_or_insert(now);
        state.fails = state.fails.saturating_add(1);
        if !at_once && state.fails <= settings.allowed_fails {
            return None;
        }
        let period = period(err, settings);
        state.cool(now, period);
        Some(period)
    }

    /// Takes it out for `period` from `now` (a cooldown another process started).
    pub(super) fn cool_for(&self, period: Duration, now: Instant) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .cool(now, period);
    }
}

/// How long a failure that takes a deployment out keeps it out: `cooldown_time`, or the
/// server's Retry-After when longer.
pub(super) fn period(err: &Error, settings: &RouterSettings) -> Duration {
    err.retry_after()
        .map_or(settings.cooldown_time, |r| r.max(settings.cooldown_time))
}

impl State {
    /// Out until `now + period` (never shortening a cooldown in force); failures forgotten.
    fn cool(&mut self, now: Instant, period: Duration) {
        let until = now + period;
        self.until = Some(self.until.map_or(until, |u| u.max(until)));
        self.fails = 0;
        self.window = None;
    }

    /// Forgets failures older than the window.
    fn expire(&mut self, now: Instant) {
        if self.window.is_some_and(|w| now.duration_since(w) >= FAIL_WINDOW) {
            self.window = None;
            self.fails = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(allowed_fails: u32) -> RouterSettings {
        RouterSettings {
            allowed_fails,
            cooldown_time: Duration::from_secs(10),
            ..RouterSettings::default()
        }
    }

    #[test]
    fn the_failure_after_allowed_fails_cools_down() {
        let health = Health::default();
        let now = Instant::now();
        let err = Error::new(Kind::Server, "boom").with_status(500);
        assert_eq!(health.failed(&err, &settings(2), now), None);
        assert_eq!(health.failed(&err, &settings(2), now), None);
        assert_eq!(health.failed(&err, &settings(2), now), Some(Duration::from_secs(10)));
        assert!(health.cooling_left(now).is_some());
        assert!(health.cooling_left(now + Duration::from_secs(11)).is_none());
    }

    #[test]
    fn a_429_cools_at_once_for_the_longer_of_retry_after_and_cooldown_time() {
        let health = Health::default();
        let now = Instant::now();
        let err = Error::new(Kind::RateLimited, "slow down")
            .with_status(429)
            .with_retry_after(Some(Duration::from_secs(30)));
        assert_eq!(health.failed(&err, &settings(5), now), Some(Duration::from_secs(30)));
        let left = health.cooling_left(now).unwrap();
        assert!(left > Duration::from_secs(29));
    }

    #[test]
    fn request_errors_and_local_limits_do_not_count() {
        let health = Health::default();
        let now = Instant::now();
        let bad = Error::new(Kind::BadRequest, "bad").with_status(400);
        let local = Error::new(Kind::RateLimited, "would wait too long");
        for _ in 0..5 {
            assert_eq!(health.failed(&bad, &settings(0), now), None);
            assert_eq!(health.failed(&local, &settings(0), now), None);
        }
        assert!(health.may_take(now, 100, 0));
    }

    #[test]
    fn a_failing_deployment_takes_only_its_remaining_failures_at_once() {
        let health = Health::default();
        let now = Instant::now();
        let err = Error::new(Kind::Network, "reset");
        health.failed(&err, &settings(3), now);
        assert!(health.may_take(now, 2, 3));
        assert!(!health.may_take(now, 3, 3));
        // Failures older than a minute are forgotten.
        assert!(health.may_take(now + FAIL_WINDOW, 50, 3));
    }
}
