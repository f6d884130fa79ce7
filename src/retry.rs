//! Retry policy: which responses to retry and how long to wait before each retry.
//!
//! Defaults: [`DEFAULT_MAX_RETRIES`] (3) retries; exponential backoff with full jitter starting at
//! [`INITIAL_RETRY_DELAY`] (0.5 s) and capped at [`MAX_RETRY_DELAY`] (8 s); a server hint
//! (`retry-after-ms`, then `retry-after` as seconds or an HTTP-date) replaces the backoff and is
//! capped at [`MAX_RETRY_AFTER_DELAY`] (120 s). Statuses 408, 409, 429 and 5xx are retried unless
//! the server says otherwise with `x-should-retry: true|false`. [`DEFAULT_TIMEOUT_SECS`] (60 s) is
//! the default request timeout used by callers.
//!
//! All arithmetic saturates: huge retry indices, huge or non-finite header values never panic.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

/// Default number of retries after the first attempt.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default per-request timeout, in seconds.
pub const DEFAULT_TIMEOUT_SECS: f64 = 60.0;
/// Backoff ceiling for the first retry, in seconds (doubles with every retry).
pub const INITIAL_RETRY_DELAY: f64 = 0.5;
/// Upper bound of the backoff ceiling, in seconds.
pub const MAX_RETRY_DELAY: f64 = 8.0;
/// Upper bound applied to a server-provided retry-after delay, in seconds.
pub const MAX_RETRY_AFTER_DELAY: f64 = 120.0;

/// How many times to retry and how long to wait in between.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Retries allowed after the first attempt (0 disables retrying).
    pub max_retries: u32,
    /// Backoff ceiling for the first retry; doubles with every further retry.
    pub initial_delay: Duration,
    /// Upper bound of the backoff ceiling.
    pub max_delay: Duration,
    /// Upper bound for waits requested by the server through retry-after headers.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: DEFAULT_MAX_RETRIES,
            initial_delay: Duration::from_secs_f64(INITIAL_RETRY_DELAY),
            max_delay: Duration::from_secs_f64(MAX_RETRY_DELAY),
            max_retry_after: Duration::from_secs_f64(MAX_RETRY_AFTER_DELAY),
        }
    }
}

impl RetryPolicy {
    /// The default policy with `max_retries` retries.
    pub fn new(max_retries: u32) -> Self {
        RetryPolicy {
            max_retries,
            ..RetryPolicy::default()
        }
    }

    /// Exponential backoff with full jitter: uniform in [0, min(max_delay, initial_delay * 2^retry_index)].
    pub fn backoff(&self, retry_index: u32) -> Duration {
        self.backoff_with(retry_index, &mut fastrand::Rng::new())
    }

    /// [`backoff`](RetryPolicy::backoff) drawing from the given generator (for reproducible delays).
    pub fn backoff_with(&self, retry_index: u32, rng: &mut fastrand::Rng) -> Duration {
        nanos_to_duration(rng.u128(0..=self.backoff_cap(retry_index).as_nanos()))
    }

    /// The upper bound of [`backoff`](RetryPolicy::backoff): min(max_delay, initial_delay * 2^retry_index),
    /// non-decreasing in `retry_index`.
    pub fn backoff_cap(&self, retry_index: u32) -> Duration {
        // For retry_index >= 127 the product saturates (or is 0 when initial_delay is 0), which is
        // what the exact value would give after the `min`, since no Duration reaches 2^127 ns.
        let grown = self
            .initial_delay
            .as_nanos()
            .saturating_mul(1u128 << retry_index.min(127));
        nanos_to_duration(grown.min(self.max_delay.as_nanos()))
    }

    /// The wait before retry number `retry_index` (0-based): the server's hint from headers when present (capped at max_retry_after), else backoff().
    ///
    /// A hint of zero (e.g. an HTTP-date in the past) means retry immediately.
    pub fn delay_for(&self, retry_index: u32, headers: Option<&HeaderMap>) -> Duration {
        self.delay_for_at(retry_index, headers, SystemTime::now())
    }

    fn delay_for_at(&self, retry_index: u32, headers: Option<&HeaderMap>, now: SystemTime) -> Duration {
        match headers.and_then(|h| retry_after(h, now)) {
            Some(hint) => hint.min(self.max_retry_after),
            None => self.backoff(retry_index),
        }
    }
}

/// Parses `retry-after-ms` (milliseconds, float ok), then `retry-after` as seconds (int or float) or an HTTP-date (relative to `now`; a date in the past gives zero). Returns None when absent or unparsable; negative values give None.
///
/// A `retry-after-ms` that is present but unusable (garbage, negative, NaN) falls back to
/// `retry-after`. Values too large for a [`Duration`] saturate to [`Duration::MAX`].
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "retry-after-ms").and_then(parse_non_negative) {
        return Some(secs_to_duration(ms / 1000.0));
    }
    let value = header_str(headers, "retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return finite_non_negative(secs).map(secs_to_duration);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a response with this status should be retried: `x-should-retry: true|false` wins when present; otherwise 408, 409, 429 and every 5xx.
///
/// The header value is matched case-insensitively after trimming; any other value is ignored.
pub fn should_retry_status(status: u16, headers: &HeaderMap) -> bool {
    match header_str(headers, "x-should-retry") {
        Some(v) if v.eq_ignore_ascii_case("true") => return true,
        Some(v) if v.eq_ignore_ascii_case("false") => return false,
        _ => {}
    }
    matches!(status, 408 | 409 | 429 | 500..=599)
}

/// The first value of header `name`, trimmed, if it is visible ASCII.
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn parse_non_negative(s: &str) -> Option<f64> {
    s.parse::<f64>().ok().and_then(finite_non_negative)
}

fn finite_non_negative(x: f64) -> Option<f64> {
    (x.is_finite() && x >= 0.0).then_some(x)
}

/// Converts finite, non-negative seconds, saturating on overflow.
fn secs_to_duration(secs: f64) -> Duration {
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

/// Converts nanoseconds no larger than `Duration::MAX.as_nanos()`.
fn nanos_to_duration(nanos: u128) -> Duration {
    const NANOS_PER_SEC: u128 = 1_000_000_000;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % NANOS_PER_SEC) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(name, value) in pairs {
            map.append(name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn defaults_use_the_constants() {
        let p = RetryPolicy::default();
        assert_eq!(p.max_retries, 3);
        assert_eq!(p.initial_delay, Duration::from_millis(500));
        assert_eq!(p.max_delay, Duration::from_secs(8));
        assert_eq!(p.max_retry_after, Duration::from_secs(120));
        assert_eq!(RetryPolicy::new(7), RetryPolicy { max_retries: 7, ..p });
        assert_eq!(DEFAULT_TIMEOUT_SECS, 60.0);
    }

    #[test]
    fn retry_after_table() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let future = httpdate::fmt_http_date(now + Duration::from_secs(30));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        type Case<'a> = (Vec<(&'static str, &'a str)>, Option<Duration>);
        let cases: Vec<Case> = vec![
            (vec![], None),
            (vec![("retry-after-ms", "1500")], Some(Duration::from_millis(1500))),
            (vec![("retry-after-ms", "250.5")], Some(Duration::from_micros(250_500))),
            (vec![("retry-after-ms", " 20 ")], Some(Duration::from_millis(20))),
            (vec![("retry-after-ms", "0")], Some(Duration::ZERO)),
            (vec![("retry-after", "3")], Some(secs(3.0))),
            (vec![("retry-after", "0")], Some(Duration::ZERO)),
            (vec![("retry-after", "1.5")], Some(secs(1.5))),
            (vec![("retry-after", future.as_str())], Some(secs(30.0))),
            (vec![("retry-after", past.as_str())], Some(Duration::ZERO)),
            (
                vec![("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")],
                Some(Duration::ZERO),
            ),
            (vec![("retry-after", "soon")], None),
            (vec![("retry-after", "")], None),
            (vec![("retry-after", "-1")], None),
            (vec![("retry-after", "-0.5")], None),
            (vec![("retry-after", "NaN")], None),
            (vec![("retry-after", "inf")], None),
            (vec![("retry-after-ms", "-5")], None),
            (vec![("retry-after-ms", "nan")], None),
            (vec![("retry-after-ms", "abc")], None),
            (
                vec![("retry-after-ms", "100"), ("retry-after", "7")],
                Some(Duration::from_millis(100)),
            ),
            (vec![("retry-after-ms", "junk"), ("retry-after", "7")], Some(secs(7.0))),
            (vec![("retry-after-ms", "-1"), ("retry-after", "7")], Some(secs(7.0))),
            (vec![("retry-after", "1e400")], None),
            (vec![("retry-after", "1e300")], Some(Duration::MAX)),
            (vec![("retry-after", "99999999999999999999999")], Some(Duration::MAX)),
            (vec![("retry-after-ms", "1e300")], Some(Duration::MAX)),
        ];
        for (pairs, want) in cases {
            assert_eq!(retry_after(&headers(&pairs), now), want, "{pairs:?}");
        }
        // Non-ASCII header bytes are unparsable, not a panic.
        let mut map = HeaderMap::new();
        map.insert("retry-after", HeaderValue::from_bytes(b"\xFF1").unwrap());
        assert_eq!(retry_after(&map, now), None);
        // Dates far away saturate instead of overflowing.
        let far = headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]);
        assert!(retry_after(&far, now).unwrap() > Duration::from_secs(200 * 365 * 86_400));
    }

    #[test]
    fn no_header_value_panics_and_every_hint_is_capped() {
        let p = RetryPolicy::default();
        let now = SystemTime::now();
        let values = [
            "18446744073709551615",
            "18446744073709551616",
            "340282366920938463463374607431768211456",
            "1e30",
            "1e308",
            "1.7976931348623157e308",
            "1e400",
            "-1e400",
            "-0",
            "-0.0",
            "+5",
            "0.0000000001",
            "5e-324",
            "1e-400",
            "0x10",
            "1_000",
            "NaN",
            "-NaN",
            "infinity",
            "-inf",
            "   ",
            "1 2",
            "Fri, 31 Dec 9999 23:59:59 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
        ];
        for name in ["retry-after", "retry-after-ms"] {
            for value in values {
                let map = headers(&[(name, value)]);
                let _ = retry_after(&map, now);
                assert!(
                    p.delay_for_at(3, Some(&map), now) <= p.max_retry_after,
                    "{name}: {value}"
                );
            }
        }
    }

    #[test]
    fn delay_for_prefers_and_caps_the_server_hint() {
        let p = RetryPolicy::default();
        let now = SystemTime::now();
        let at = |pairs: &[(&'static str, &str)]| p.delay_for_at(0, Some(&headers(pairs)), now);
        assert_eq!(at(&[("retry-after", "5")]), secs(5.0));
        assert_eq!(at(&[("retry-after", "0")]), Duration::ZERO);
        assert_eq!(at(&[("retry-after", "120")]), secs(120.0));
        assert_eq!(at(&[("retry-after", "121")]), secs(120.0));
        assert_eq!(at(&[("retry-after", "1e300")]), secs(120.0));
        assert_eq!(at(&[("retry-after-ms", "90000000")]), secs(120.0));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(3600));
        assert_eq!(at(&[("retry-after", date.as_str())]), secs(120.0));
        let tight = RetryPolicy {
            max_retry_after: secs(2.0),
            ..p.clone()
        };
        assert_eq!(tight.delay_for(0, Some(&headers(&[("retry-after", "3")]))), secs(2.0));
        // No usable hint: backoff within its cap.
        for idx in [0, 1, 2, 3, 10, u32::MAX] {
            assert!(p.delay_for(idx, None) <= p.backoff_cap(idx));
            assert!(p.delay_for(idx, Some(&headers(&[("retry-after", "soon")]))) <= p.backoff_cap(idx));
            assert!(p.delay_for(idx, Some(&HeaderMap::new())) <= p.backoff_cap(idx));
        }
        // The real-clock path parses seconds too.
        assert_eq!(p.delay_for(9, Some(&headers(&[("retry-after", "4")]))), secs(4.0));
    }

    #[test]
    fn backoff_caps_are_monotone_and_bounded() {
        let p = RetryPolicy::default();
        let want = [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0];
        for (i, &w) in want.iter().enumerate() {
            assert_eq!(p.backoff_cap(i as u32), secs(w), "retry {i}");
        }
        let mut prev = Duration::ZERO;
        for i in (0..300).chain([u32::MAX - 1, u32::MAX]) {
            let cap = p.backoff_cap(i);
            assert!(cap >= prev && cap <= p.max_delay, "retry {i}");
            prev = cap;
        }
        // Extreme configurations never overflow.
        let huge = RetryPolicy {
            max_retries: u32::MAX,
            initial_delay: Duration::MAX,
            max_delay: Duration::MAX,
            max_retry_after: Duration::MAX,
        };
        assert_eq!(huge.backoff_cap(0), Duration::MAX);
        assert_eq!(huge.backoff_cap(u32::MAX), Duration::MAX);
        assert!(huge.backoff(u32::MAX) <= Duration::MAX);
        let zero = RetryPolicy {
            initial_delay: Duration::ZERO,
            ..RetryPolicy::default()
        };
        assert_eq!(zero.backoff_cap(u32::MAX), Duration::ZERO);
        assert_eq!(zero.backoff(200), Duration::ZERO);
        let inverted = RetryPolicy {
            initial_delay: secs(10.0),
            max_delay: secs(1.0),
            ..RetryPolicy::default()
        };
        assert_eq!(inverted.backoff_cap(0), secs(1.0));
    }

    #[test]
    fn backoff_samples_stay_in_bounds_and_spread() {
        let p = RetryPolicy::default();
        let mut rng = fastrand::Rng::with_seed(1);
        for idx in [0u32, 1, 2, 3, 4, 5, 31, 64, 127, 128, u32::MAX] {
            let cap = p.backoff_cap(idx);
            let samples: Vec<Duration> = (0..2000).map(|_| p.backoff_with(idx, &mut rng)).collect();
            assert!(samples.iter().all(|&d| d <= cap), "retry {idx}");
            // Full jitter: samples cover both the low and the high end of [0, cap].
            assert!(samples.iter().any(|&d| d < cap / 10), "retry {idx}");
            assert!(samples.iter().any(|&d| d > cap * 9 / 10), "retry {idx}");
            let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
            assert!(
                mean > cap * 2 / 5 && mean < cap * 3 / 5,
                "retry {idx}: mean {mean:?} cap {cap:?}"
            );
        }
        // The thread-local generator obeys the same bounds.
        for idx in 0..10 {
            for _ in 0..200 {
                assert!(p.backoff(idx) <= p.backoff_cap(idx));
            }
        }
        // Same seed, same delays.
        let a: Vec<_> = (0..5)
            .map(|i| p.backoff_with(i, &mut fastrand::Rng::with_seed(9)))
            .collect();
        let b: Vec<_> = (0..5)
            .map(|i| p.backoff_with(i, &mut fastrand::Rng::with_seed(9)))
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn should_retry_status_table() {
        let none = HeaderMap::new();
        let yes = [408, 409, 429, 500, 502, 503, 504, 529, 599];
        let no = [200, 201, 204, 301, 400, 401, 403, 404, 405, 410, 413, 422, 499, 600, 0];
        for s in yes {
            assert!(should_retry_status(s, &none), "{s}");
        }
        for s in no {
            assert!(!should_retry_status(s, &none), "{s}");
        }
        let force = headers(&[("x-should-retry", "true")]);
        let forbid = headers(&[("x-should-retry", "false")]);
        let loud = headers(&[("x-should-retry", " TRUE ")]);
        let junk = headers(&[("x-should-retry", "maybe")]);
        for s in yes.iter().chain(&no) {
            assert!(should_retry_status(*s, &force), "{s}");
            assert!(should_retry_status(*s, &loud), "{s}");
            assert!(!should_retry_status(*s, &forbid), "{s}");
            assert_eq!(should_retry_status(*s, &junk), should_retry_status(*s, &none), "{s}");
        }
    }
}
