//! Nearest-rank percentiles: the one rank rule shared by the usage latency histogram and the
//! batch statistics, so both report the same percentile of the same data.

/// The 1-based nearest rank of percentile `p` (0–100) among `n` sorted values: `ceil(p/100·n)`,
/// clamped to `1..=n` (so `p = 0` is the smallest value). `n` must be positive.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
pub(crate) fn nearest_rank(p: f64, n: u64) -> u64 {
    ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n)
}
