//! Picking a deployment within a group.
//!
//! Candidates are the deployments not cooling down (and, with failures on record, not already
//! holding as many requests as they have failures left, unless all of them do), not yet tried
//! by this call; when every
//! one was tried, those tried are candidates again. Among them, those with room under their own
//! `rpm`/`tpm` come first (when none has room, the one that frees first is taken and its
//! limiter paces the request); then the lowest `order`; then the strategy.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::spec::Strategy;
use super::{Deployment, Deployments, Group};

/// What the picker found.
pub(super) enum Pick {
    /// This member of the group.
    One(usize),
    /// Every deployment is out; the first returns after this long.
    Cooling(Duration),
}

impl Deployments {
    /// Picks a member of `group` for a call that already tried `tried`; `session` keeps a
    /// conversation on its deployment while that one is a candidate.
    pub(super) fn pick(&self, group: &Group, tried: &[usize], session: Option<&str>) -> Pick {
        let now = Instant::now();
        let allowed = self.settings.allowed_fails;
        let mut usable: Vec<usize> = (0..group.members.len())
            .filter(|&i| {
                let d = &group.members[i];
                d.health.may_take(now, d.in_flight(), allowed)
            })
            .collect();
        if usable.is_empty() {
            // Every deployment not cooling holds as many requests as it has failures left.
            usable = (0..group.members.len())
                .filter(|&i| group.members[i].health.cooling_left(now).is_none())
                .collect();
        }
        let fresh: Vec<usize> = usable.iter().copied().filter(|i| !tried.contains(i)).collect();
        let mut candidates = if fresh.is_empty() { usable } else { fresh };
        if candidates.is_empty() {
            let first_back = group
                .members
                .iter()
                .filter_map(|d| d.health.cooling_left(now))
                .min()
                .unwrap_or(Duration::ZERO);
            return Pick::Cooling(first_back);
        }
        if let Some(bound) = session.and_then(|s| self.sessions.get(s)) {
            if let Some(&i) = candidates.iter().find(|&&i| Arc::ptr_eq(&group.members[i].id, &bound)) {
                if group.members[i].wait_for_room().is_zero() {
                    return Pick::One(i);
                }
            }
        }
        if candidates.len() > 1 {
            room_first(&group.members, &mut candidates);
            lowest_order(&group.members, &mut candidates);
        }
        Pick::One(self.by_strategy(&group.members, &candidates))
    }

    /// Applies the group's strategy to the candidates.
    fn by_strategy(&self, members: &[Arc<Deployment>], candidates: &[usize]) -> usize {
        if candidates.len() == 1 {
            return candidates[0];
        }
        match self.settings.strategy {
            Strategy::SimpleShuffle => weighted(members, candidates),
            Strategy::Order => candidates[fastrand::usize(..candidates.len())],
            Strategy::LeastBusy => lowest(candidates, |i| f64::from(members[i].in_flight())),
            // Unmeasured deployments first, so that every one gets measured.
            Strategy::LatencyBased => lowest(candidates, |i| members[i].latency().unwrap_or(0.0)),
            Strategy::UsageBased => lowest(candidates, |i| members[i].usage_share()),
        }
    }
}

/// Keeps the candidates with room under their limits; when none has, the one that frees first.
fn room_first(members: &[Arc<Deployment>], candidates: &mut Vec<usize>) {
    let waits: Vec<(usize, Duration)> = candidates.iter().map(|&i| (i, members[i].wait_for_room())).collect();
    if waits.iter().any(|(_, w)| w.is_zero()) {
        candidates.retain(|i| waits.iter().any(|(j, w)| j == i && w.is_zero()));
    } else if let Some(&(i, _)) = waits.iter().min_by_key(|(_, w)| *w) {
        candidates.clear();
        candidates.push(i);
    }
}

/// Keeps the candidates of the lowest `order` (those without one come last).
fn lowest_order(members: &[Arc<Deployment>], candidates: &mut Vec<usize>) {
    let order = |i: usize| members[i].order.unwrap_or(u32::MAX);
    if let Some(min) = candidates.iter().map(|&i| order(i)).min() {
        candidates.retain(|&i| order(i) == min);
    }
}

/// A random candidate, each in proportion to its share.
fn weighted(members: &[Arc<Deployment>], candidates: &[usize]) -> usize {
    let total: f64 = candidates.iter().map(|&i| members[i].share).sum();
    let mut point = fastrand::f64() * total;
    for &i in candidates {
        point -= members[i].share;
        if point < 0.0 {
            return i;
        }
    }
    candidates[candidates.len() - 1]
}

/// The candidate with the lowest score; ties at random.
fn lowest(candidates: &[usize], score: impl Fn(usize) -> f64) -> usize {
    let scores: Vec<f64> = candidates.iter().map(|&i| score(i)).collect();
    let min = scores.iter().copied().fold(f64::INFINITY, f64::min);
    let ties: Vec<usize> = candidates
        .iter()
        .zip(&scores)
        .filter(|(_, s)| **s <= min)
        .map(|(&i, _)| i)
        .collect();
    match ties.len() {
        0 => candidates[0],
        n => ties[fastrand::usize(..n)],
    }
}
