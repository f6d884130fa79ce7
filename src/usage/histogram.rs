//! A lock-free log-bucket histogram of durations in microseconds: exact below 32 µs, then 16
//! linear sub-buckets per power of two up to 2^36 µs (about 19 hours; longer values land in the
//! top bucket). A percentile is the midpoint of its bucket, clamped to the exact observed minimum
//! and maximum, so it is within ±3.2% of the true value (relative resolution 1/16 per bucket);
//! p=0 and p=100 are the exact minimum and maximum. Percentiles use the nearest-rank method
//! ([`crate::percentile::nearest_rank`]) and take `p` in 0–100, like numpy and llm-api-client.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::percentile::nearest_rank;

const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
const MAX_EXP: u32 = 36;
/// Values below `2 * SUB` get a bucket each; above, `SUB` buckets per power of two up to
/// `2^MAX_EXP`, and one last bucket for everything longer.
const BUCKETS: usize = (2 * SUB + (MAX_EXP as u64 - SUB_BITS as u64 - 1) * SUB + 1) as usize;

/// A lock-free histogram of durations (see the module docs for its resolution).
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < 2 * SUB {
        return us as usize;
    }
    let exp = 63 - us.leading_zeros(); // >= SUB_BITS + 1
    if exp >= MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (us >> (exp - SUB_BITS)) & (SUB - 1);
    (2 * SUB + u64::from(exp - SUB_BITS - 1) * SUB + sub) as usize
}

/// The `[low, high)` microsecond range of a bucket.
fn bucket_range(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB {
        return (i, i + 1);
    }
    let exp = (i - 2 * SUB) / SUB + u64::from(SUB_BITS) + 1;
    let sub = (i - 2 * SUB) % SUB;
    let width = 1u64 << (exp - u64::from(SUB_BITS));
    let low = (1u64 << exp) + sub * width;
    (low, low + width)
}

/// A duration in whole microseconds, saturating at `u64::MAX`.
pub(super) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let us = micros(d);
        self.buckets[bucket_of(us)].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.min_us.fetch_min(us, Relaxed);
        self.max_us.fetch_max(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Number of durations recorded.
    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// Mean in seconds, `None` when empty.
    #[allow(clippy::cast_precision_loss)]
    pub fn mean(&self) -> Option<f64> {
        let n = self.count();
        (n > 0).then(|| self.sum_us.load(Relaxed) as f64 / n as f64 / 1e6)
    }

    /// The `p`-th percentile (0–100, nearest rank) in seconds; `None` when empty or `p` is not
    /// within 0–100.
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    pub fn percentile(&self, p: f64) -> Option<f64> {
        if !(0.0..=100.0).contains(&p) {
            return None;
        }
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let (min, max) = (self.min_us.load(Relaxed), self.max_us.load(Relaxed));
        if p == 0.0 {
            return Some(min as f64 / 1e6);
        }
        if p == 100.0 {
            return Some(max as f64 / 1e6);
        }
        let rank = nearest_rank(p, total);
        let mut seen = 0;
        for (i, &c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (low, high) = bucket_range(i);
                let mid = if high - low == 1 {
                    low as f64
                } else {
                    (low + high) as f64 / 2.0
                };
                return Some(mid.clamp(min as f64, max as f64) / 1e6);
            }
        }
        Some(max as f64 / 1e6)
    }

    /// Empties the histogram.
    pub(super) fn reset(&self) {
        for b in self.buckets.iter() {
            b.store(0, Relaxed);
        }
        self.count.store(0, Relaxed);
        self.sum_us.store(0, Relaxed);
        self.min_us.store(u64::MAX, Relaxed);
        self.max_us.store(0, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut last_high = 0;
        for i in 0..BUCKETS {
            let (low, high) = bucket_range(i);
            assert_eq!(low, last_high, "bucket {i}");
            assert!(high > low);
            assert_eq!(bucket_of(low), i);
            assert_eq!(bucket_of(high - 1), i);
            // Relative width at most 1/16 above the exact range.
            if low >= 2 * SUB {
                assert!((high - low) * SUB <= low);
            }
            last_high = high;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histogram_percentiles() {
        let h = Histogram::default();
        assert_eq!(h.percentile(50.0), None);
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        for (p, want) in [(50.0, 0.5), (90.0, 0.9), (99.0, 0.99), (1.0, 0.01)] {
            let got = h.percentile(p).unwrap();
            assert!((got - want).abs() / want <= 0.033, "p{p}: {got} vs {want}");
        }
        assert_eq!(h.percentile(0.0), Some(0.001));
        assert_eq!(h.percentile(100.0), Some(1.0));
        assert_eq!(h.percentile(101.0), None);
        assert!((h.mean().unwrap() - 0.5005).abs() < 1e-9);
        // A single value is reported exactly (clamped to min/max).
        let one = Histogram::default();
        one.record(Duration::from_micros(123_456));
        assert_eq!(one.percentile(50.0), Some(0.123_456));
    }
}
