//! Limiter tests on tokio's paused clock: every wait is virtual, so minutes run in milliseconds
//! and grant times are exact.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;

const MODEL: &str = "gpt-4o-mini";
const MINUTE: Duration = Duration::from_secs(60);

fn limiter(global: Limits, tweak: impl FnOnce(&mut RateLimitConfig)) -> Arc<RateLimiter> {
    let mut config = RateLimitConfig {
        global,
        margin: Some(Duration::ZERO),
        ..RateLimitConfig::default()
    };
    tweak(&mut config);
    Arc::new(RateLimiter::new(config).expect("valid config"))
}

fn rpm(n: u64) -> Limits {
    Limits {
        rpm: Some(n),
        ..Limits::default()
    }
}

fn tpm(n: u64) -> Limits {
    Limits {
        tpm: Some(n),
        ..Limits::default()
    }
}

/// The most any half-open window `[t, t + w)` holds, over windows starting at each event.
fn max_window(events: &[(Duration, u64)], w: Duration) -> u64 {
    let mut sorted = events.to_vec();
    sorted.sort();
    let (mut j, mut sum, mut best) = (0, 0u64, 0u64);
    for i in 0..sorted.len() {
        while j < sorted.len() && sorted[j].0 < sorted[i].0 + w {
            sum += sorted[j].1;
            j += 1;
        }
        best = best.max(sum);
        sum -= sorted[i].1;
    }
    best
}

type Log = Arc<Mutex<Vec<(Duration, u64)>>>;

/// `workers` tasks that each loop: acquire `reserve` tokens, "send" for `latency`, settle with
/// `actual`. Records (grant time, actual tokens) until `run` has passed.
async fn saturate(
    rl: &Arc<RateLimiter>,
    workers: usize,
    reserve: u64,
    actual: u64,
    latency: Duration,
    run: Duration,
) -> Vec<(Duration, u64)> {
    let start = Instant::now();
    let log: Log = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (rl, log) = (Arc::clone(rl), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < run {
                let permit = rl.acquire(MODEL, reserve).await.expect("granted");
                log.lock().unwrap().push((start.elapsed(), actual));
                tokio::time::sleep(latency).await;
                permit.settle(Some(actual));
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let out = log.lock().unwrap().clone();
    out
}

#[tokio::test(start_paused = true)]
async fn requests_due_within_a_pacing_slot_go_together_and_keep_the_pace() {
    // 6,000 a minute is one every 10 ms; the default granularity for a minute is 50 ms.
    assert_eq!(default_granularity(MINUTE), Duration::from_millis(50));
    assert_eq!(default_granularity(Duration::from_secs(6)), Duration::from_millis(5));
    let rl = limiter(rpm(6_000), |_| {});
    let start = Instant::now();
    let log: Log = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..400 {
        let (rl, log) = (Arc::clone(&rl), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            drop(rl.acquire(MODEL, 0).await.unwrap());
            log.lock().unwrap().push((start.elapsed(), 1));
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = log.lock().unwrap().clone();
    let mut groups: Vec<(Duration, u64)> = Vec::new();
    for (t, n) in &events {
        match groups.last_mut() {
            Some(last) if last.0 == *t => last.1 += n,
            _ => groups.push((*t, *n)),
        }
    }
    // One wake-up per 50 ms slot, on the slot grid, each granting the five requests that fell
    // due within the slot.
    assert_eq!(groups.len(), 81, "{groups:?}");
    assert!(groups.iter().all(|(t, _)| t.as_millis() % 50 == 0), "{groups:?}");
    assert!(groups[1..80].iter().all(|(_, n)| *n == 5), "{groups:?}");
    // The pace is kept: the last grant was due after 399 intervals and goes at its slot's end.
    assert_eq!(events.last().unwrap().0, Duration::from_millis(4_000));
    // No second ever holds more than its 100 requests plus one slot's worth.
    assert!(max_window(&events, Duration::from_secs(1)) <= 105);
}

#[tokio::test(start_paused = true)]
async fn zero_granularity_paces_every_request_on_its_own() {
    let rl = limiter(rpm(6_000), |c| c.granularity = Some(Duration::ZERO));
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..20 {
        drop(rl.acquire(MODEL, 0).await.unwrap());
        times.push(start.elapsed());
    }
    let expected: Vec<Duration> = (0..20).map(|i| Duration::from_millis(10 * i)).collect();
    assert_eq!(times, expected);
}

#[tokio::test(start_paused = true)]
async fn n_requests_take_n_minus_one_intervals() {
    let rl = limiter(rpm(60), |_| {});
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..10 {
        drop(rl.acquire(MODEL, 0).await.unwrap());
        times.push(start.elapsed());
    }
    let expected: Vec<Duration> = (0..10).map(Duration::from_secs).collect();
    assert_eq!(times, expected);
}

#[tokio::test(start_paused = true)]
async fn tokens_pace_by_the_size_of_each_request() {
    // 600 tokens a minute: 0.1 s per token.
    let rl = limiter(tpm(600), |c| c.granularity = Some(Duration::ZERO));
    let start = Instant::now();
    let mut times = Vec::new();
    for tokens in [100, 50, 200, 30, 10] {
        drop(rl.acquire(MODEL, tokens).await.unwrap());
        times.push(start.elapsed().as_millis());
    }
    // Each request waits for the tokens of the one before it: no request runs ahead of the pace.
    assert_eq!(times, [0, 10_000, 15_000, 35_000, 38_000]);
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let rl = limiter(
        Limits {
            rpm: Some(600),
            tpm: Some(60_000),
            ..Limits::default()
        },
        |_| {},
    );
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let (rl, order) = (Arc::clone(&rl), Arc::clone(&order));
        // Mixed sizes: a big request must not be overtaken by small ones behind it.
        let tokens = if i % 7 == 0 { 900 } else { 10 + i % 13 };
        tasks.push(tokio::spawn(async move {
            let _p = rl.acquire(MODEL, tokens).await.unwrap();
            order.lock().unwrap().push(i);
        }));
        tokio::task::yield_now().await;
    }
    for t in tasks {
        t.await.unwrap();
    }
    let order = order.lock().unwrap().clone();
    assert_eq!(order, (0..200).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn no_sliding_window_holds_more_than_the_limits() {
    let rl = limiter(
        Limits {
            rpm: Some(120),
            tpm: Some(20_000),
            ..Limits::default()
        },
        |_| {},
    );
    let start = Instant::now();
    let log: Log = Arc::default();
    let mut tasks = Vec::new();
    for w in 0..40u64 {
        let (rl, log) = (Arc::clone(&rl), Arc::clone(&log));
        tasks.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(w);
            while start.elapsed() < 5 * MINUTE {
                let tokens = rng.u64(20..=600);
                let _p = rl.acquire(MODEL, tokens).await.unwrap();
                log.lock().unwrap().push((start.elapsed(), tokens));
                tokio::time::sleep(Duration::from_millis(rng.u64(10..3000))).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let events = log.lock().unwrap().clone();
    let requests: Vec<_> = events.iter().map(|(t, _)| (*t, 1)).collect();
    assert!(
        max_window(&requests, MINUTE) <= 120,
        "{}",
        max_window(&requests, MINUTE)
    );
    assert!(max_window(&events, MINUTE) <= 20_000, "{}", max_window(&events, MINUTE));
    // Saturated: the tokens limit binds and is nearly used up, window after window.
    let used: u64 = events
        .iter()
        .filter(|(t, _)| *t >= MINUTE && *t < 5 * MINUTE)
        .map(|e| e.1)
        .sum();
    assert!(used as f64 >= 0.95 * 4.0 * 20_000.0, "used {used} of 80000");
}

#[tokio::test(start_paused = true)]
async fn saturating_load_uses_at_least_95_percent_of_the_requests_limit() {
    let rl = limiter(rpm(300), |c| c.margin = None);
    let events = saturate(&rl, 64, 0, 0, Duration::from_millis(700), 10 * MINUTE).await;
    let requests: Vec<_> = events.iter().map(|(t, _)| (*t, 1)).collect();
    assert!(max_window(&requests, MINUTE) <= 300);
    let in_steady = requests
        .iter()
        .filter(|(t, _)| *t >= MINUTE && *t < 10 * MINUTE)
        .count();
    assert!(in_steady as f64 >= 0.95 * 9.0 * 300.0, "{in_steady} of 2700");
}

#[tokio::test(start_paused = true)]
async fn refunds_recover_the_throughput_of_over_estimates_without_exceeding() {
    // Reserve 300, use 100: without refunds a third of the limit would be used.
    let rl = limiter(tpm(30_000), |c| c.margin = None);
    let events = saturate(&rl, 32, 300, 100, Duration::from_millis(500), 10 * MINUTE).await;
    assert!(max_window(&events, MINUTE) <= 30_000, "{}", max_window(&events, MINUTE));
    // Refunds are spent as they come, not saved up: no second holds more than its 500, one
    // 25-token slot and one request.
    let busiest = max_window(&events, Duration::from_secs(1));
    assert!(busiest <= 625, "busiest second {busiest}");
    let used: u64 = events
        .iter()
        .filter(|(t, _)| *t >= MINUTE && *t < 10 * MINUTE)
        .map(|e| e.1)
        .sum();
    assert!(used as f64 >= 0.95 * 9.0 * 30_000.0, "used {used} of 270000");
}

#[tokio::test(start_paused = true)]
async fn an_idle_tokens_pacer_saves_up_no_burst() {
    // 60,000 tokens a minute: 1,000 a second, one 50 ms slot is 50.
    let rl = limiter(tpm(60_000), |c| c.margin = None);
    for phase in 0..2 {
        let events = saturate(&rl, 64, 100, 100, Duration::from_millis(500), Duration::from_secs(20)).await;
        let first: u64 = events.iter().filter(|(t, _)| t.as_secs() < 1).map(|e| e.1).sum();
        // The first second after the start, and after 40 idle seconds, holds its share plus at
        // most one slot and one request, like any other second.
        assert!(first <= 1_150, "phase {phase}: first second {first}");
        let busiest = max_window(&events, Duration::from_secs(1));
        assert!(busiest <= 1_150, "phase {phase}: busiest second {busiest}");
        tokio::time::sleep(Duration::from_secs(40)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn refunds_are_granted_on_the_slot_grid_and_lose_no_throughput() {
    // 6,000 tokens a second; reserve 56, use 41; answers after 53 ms, so refunds arrive between
    // slot ends. Each refund wakes the queue head, which still goes at its slot's end.
    let rl = limiter(tpm(360_000), |c| c.margin = None);
    let events = saturate(&rl, 256, 56, 41, Duration::from_millis(53), 3 * MINUTE).await;
    let mut grant_times: Vec<Duration> = events.iter().map(|e| e.0).filter(|t| *t < 3 * MINUTE).collect();
    grant_times.sort();
    grant_times.dedup();
    // Waiting callers are granted only at slot ends: at most one grant time per 50 ms slot (it
    // was ~86 a second when refunds granted at once).
    assert!(grant_times.len() <= 20 * 180 + 1, "{} grant times", grant_times.len());
    let used: u64 = events
        .iter()
        .filter(|(t, _)| *t >= MINUTE && *t < 3 * MINUTE)
        .map(|e| e.1)
        .sum();
    assert!(used as f64 >= 0.97 * 2.0 * 360_000.0, "used {used} of 720000");
    assert!(max_window(&events, MINUTE) <= 360_000);
    assert!(max_window(&events, Duration::from_secs(1)) <= 6_000 + 300);
}

#[tokio::test(start_paused = true)]
async fn a_burst_goes_at_once_and_is_then_counted_against_the_same_window() {
    let rl = limiter(rpm(60), |c| {
        c.burst = Burst::Up {
            requests: 20,
            tokens: 0,
        }
    });
    let start = Instant::now();
    let mut times = Vec::new();
    for _ in 0..150 {
        drop(rl.acquire(MODEL, 0).await.unwrap());
        times.push(start.elapsed());
    }
    assert!(times[..20].iter().all(|t| t.is_zero()), "the burst goes at once");
    assert!(times[20] > Duration::ZERO);
    let events: Vec<_> = times.iter().map(|t| (*t, 1)).collect();
    assert!(max_window(&events, MINUTE) <= 60, "{}", max_window(&events, MINUTE));
    // After the burst the pace is lower until the window rolls: only 40 more in the first minute.
    assert_eq!(times.iter().filter(|t| **t < MINUTE).count(), 60);
    // And the job still runs at the full rate on average.
    assert!(times[149] <= Duration::from_secs(150), "{:?}", times[149]);
}

#[tokio::test(start_paused = true)]
async fn a_full_burst_is_still_exact() {
    let rl = limiter(tpm(1000), |c| c.burst = Burst::Full);
    let start = Instant::now();
    let mut events = Vec::new();
    for i in 0..100u64 {
        let tokens = 50 + (i * 37) % 200;
        drop(rl.acquire(MODEL, tokens).await.unwrap());
        events.push((start.elapsed(), tokens));
    }
    assert!(events[..5].iter().all(|e| e.0.is_zero()));
    assert!(max_window(&events, MINUTE) <= 1000);
}

#[tokio::test(start_paused = true)]
async fn max_delay_fails_fast_and_takes_no_capacity() {
    let rl = limiter(rpm(60), |c| c.max_delay = Duration::from_secs(5));
    let start = Instant::now();
    let mut granted = Vec::new();
    for _ in 0..6 {
        granted.push(rl.acquire(MODEL, 0).await.unwrap());
    }
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    // The next slot is 1 s away: fine. Queue 10 callers at once: those beyond 5 s fail.
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let rl = Arc::clone(&rl);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let r = rl.acquire(MODEL, 0).await;
            (r.map(drop).map_err(|e| (e.kind(), e.retry_after())), t0.elapsed())
        }));
        tokio::task::yield_now().await;
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            (Ok(()), _) => ok += 1,
            (Err((kind, retry_after)), waited) => {
                assert_eq!(kind, Kind::RateLimited);
                // A caller that failed at the head knows how long it would have waited.
                assert!(retry_after.is_none_or(|r| r > Duration::ZERO));
                assert!(waited <= Duration::from_secs(5), "{waited:?}");
            }
        }
    }
    assert_eq!(ok, 5);
    // Failed callers took nothing: the next request is paced right after the last grant.
    let before = start.elapsed();
    drop(rl.acquire(MODEL, 0).await.unwrap());
    assert_eq!(start.elapsed() - before, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_oversized_request_fails_at_once_with_a_clear_error() {
    let rl = limiter(tpm(1000), |_| {});
    let start = Instant::now();
    let err = rl.acquire(MODEL, 1001).await.unwrap_err();
    assert_eq!(err.kind(), Kind::RateLimited);
    assert!(err.message().contains("1001 tokens"), "{}", err.message());
    assert!(err.message().contains("never"), "{}", err.message());
    assert_eq!(start.elapsed(), Duration::ZERO);
    // Exactly the limit is fine.
    drop(rl.acquire(MODEL, 1000).await.unwrap());
    assert_eq!(rl.tokens_in_window(MODEL), 1000);
}

#[tokio::test(start_paused = true)]
async fn settling_refunds_or_charges_the_difference() {
    // 600 tokens a minute: 0.1 s per token.
    let rl = limiter(tpm(600), |_| {});
    let start = Instant::now();
    let p = rl.acquire(MODEL, 300).await.unwrap();
    assert_eq!(rl.tokens_in_window(MODEL), 300);
    p.settle(Some(100));
    assert_eq!(rl.tokens_in_window(MODEL), 100);
    // The pacer gave back 20 s: the next request goes after 10 s, not 30 s.
    let p = rl.acquire(MODEL, 100).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    p.settle(Some(250));
    assert_eq!(rl.tokens_in_window(MODEL), 350);
    // Charged 150 more: 25 s of pacing instead of 10.
    drop(rl.acquire(MODEL, 30).await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_secs(35));
    // None keeps the estimate.
    let p = rl.acquire(MODEL, 30).await.unwrap();
    p.settle(None);
    assert_eq!(rl.tokens_in_window(MODEL), 410);
}

#[tokio::test(start_paused = true)]
async fn a_refund_wakes_a_waiter_early() {
    let rl = limiter(tpm(1000), |c| c.burst = Burst::Full);
    let start = Instant::now();
    let p = rl.acquire(MODEL, 900).await.unwrap();
    let rl2 = Arc::clone(&rl);
    let waiter = tokio::spawn(async move {
        drop(rl2.acquire(MODEL, 500).await.unwrap());
        Instant::now()
    });
    tokio::time::sleep(Duration::from_millis(2_020)).await;
    p.settle(Some(200));
    let granted = waiter.await.unwrap();
    // Long before the ~60 s it would wait without the refund, at the end of the 50 ms slot the
    // refund arrived in: the grants a refund makes possible share the slot's one wake-up.
    assert_eq!(granted - start, Duration::from_millis(2_050));
}

#[tokio::test(start_paused = true)]
async fn a_429_pauses_the_key_for_every_caller() {
    let rl = limiter(rpm(6000), |_| {});
    let start = Instant::now();
    let p = rl.acquire(MODEL, 0).await.unwrap();
    p.pause(Duration::from_secs(3));
    drop(p);
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let rl = Arc::clone(&rl);
        tasks.push(tokio::spawn(async move {
            drop(rl.acquire(MODEL, 0).await.unwrap());
            Instant::now()
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap() - start >= Duration::from_secs(3));
    }
    // A pause longer than max_delay fails at once.
    let rl = limiter(rpm(6000), |c| c.max_delay = Duration::from_secs(1));
    let p = rl.acquire(MODEL, 0).await.unwrap();
    p.pause(Duration::from_secs(30));
    let before = Instant::now();
    let err = rl.acquire(MODEL, 0).await.unwrap_err();
    assert_eq!(err.kind(), Kind::RateLimited);
    assert_eq!(before.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_cap_holds_until_permits_are_dropped() {
    let rl = limiter(
        Limits {
            max_concurrency: Some(2),
            ..Limits::default()
        },
        |_| {},
    );
    let a = rl.acquire(MODEL, 0).await.unwrap();
    let _b = rl.acquire(MODEL, 0).await.unwrap();
    let rl2 = Arc::clone(&rl);
    let third = tokio::spawn(async move { drop(rl2.acquire(MODEL, 0).await.unwrap()) });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!third.is_finished());
    drop(a);
    tokio::time::timeout(Duration::from_millis(1), third)
        .await
        .expect("released")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_waiter_frees_only_its_place_in_the_queue() {
    let rl = limiter(tpm(600), |_| {});
    let start = Instant::now();
    drop(rl.acquire(MODEL, 100).await.unwrap());
    // This one would go at 10 s; cancel it at 5 s.
    let cancelled = tokio::time::timeout(Duration::from_secs(5), rl.acquire(MODEL, 300)).await;
    assert!(cancelled.is_err());
    assert_eq!(rl.tokens_in_window(MODEL), 100);
    drop(rl.acquire(MODEL, 100).await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(rl.tokens_in_window(MODEL), 200);
}

#[tokio::test(start_paused = true)]
async fn per_model_limits_are_independent_and_the_global_one_is_shared() {
    let rl = limiter(rpm(120), |c| {
        c.models = vec![("slow".to_owned(), rpm(6)), ("other".to_owned(), rpm(60))];
        c.granularity = Some(Duration::ZERO);
    });
    let start = Instant::now();
    drop(rl.acquire("slow", 0).await.unwrap());
    drop(rl.acquire("slow", 0).await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    // "other" is not held back by "slow", only by the global pace of 0.5 s.
    drop(rl.acquire("other", 0).await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_millis(10_500));
    drop(rl.acquire("other", 0).await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_millis(11_500));
    drop(rl.acquire("unlisted", 0).await.unwrap());
    assert_eq!(start.elapsed(), Duration::from_millis(12_000));
    assert!(rl.is_limited("unlisted") && !rl.counts_tokens("unlisted"));
}

#[test]
fn configs_are_validated() {
    let bad = |config: RateLimitConfig| RateLimiter::new(config).unwrap_err().kind();
    assert_eq!(
        bad(RateLimitConfig {
            global: rpm(0),
            ..RateLimitConfig::default()
        }),
        Kind::InvalidArgument
    );
    assert_eq!(
        bad(RateLimitConfig {
            window: Duration::ZERO,
            ..RateLimitConfig::default()
        }),
        Kind::InvalidArgument
    );
    assert_eq!(
        bad(RateLimitConfig {
            models: vec![("m".to_owned(), Limits::default())],
            ..RateLimitConfig::default()
        }),
        Kind::InvalidArgument
    );
    assert_eq!(
        bad(RateLimitConfig {
            models: vec![("m".to_owned(), rpm(1)), ("m".to_owned(), rpm(2))],
            ..RateLimitConfig::default()
        }),
        Kind::InvalidArgument
    );
    let none = RateLimiter::new(RateLimitConfig::default()).unwrap();
    assert!(!none.is_limited(MODEL));
}

#[test]
fn the_margin_is_one_percent_clamped() {
    assert_eq!(default_margin(Duration::from_secs(1)), Duration::from_millis(10));
    assert_eq!(default_margin(MINUTE), Duration::from_millis(250));
    assert_eq!(default_margin(Duration::from_millis(10)), Duration::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn random_workloads_never_exceed_any_window() {
    for seed in 0..40u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let limits = Limits {
            rpm: Some(rng.u64(30..400)),
            tpm: Some(rng.u64(5_000..60_000)),
            max_concurrency: rng.bool().then(|| rng.u32(2..50)),
        };
        let burst = match rng.u8(0..3) {
            0 => Burst::None,
            1 => Burst::Full,
            _ => Burst::Up {
                requests: rng.u64(0..20),
                tokens: rng.u64(0..5_000),
            },
        };
        let window = Duration::from_millis(rng.u64(1_000..120_000));
        let granularity = match rng.u8(0..3) {
            0 => None,
            1 => Some(Duration::ZERO),
            _ => Some(window.mul_f64(rng.f64() * 0.1)),
        };
        let rl = limiter(limits.clone(), |c| {
            c.granularity = granularity;
            c.burst = burst;
            c.window = window;
            c.margin = None;
            c.max_delay = Duration::from_secs(86_400);
        });
        let start = Instant::now();
        let log: Log = Arc::default();
        let mut tasks = Vec::new();
        let max_tokens = limits.tpm.unwrap() / 8;
        for w in 0..rng.u64(1..80) {
            let (rl, log) = (Arc::clone(&rl), Arc::clone(&log));
            tasks.push(tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(seed * 1000 + w);
                while start.elapsed() < window * 6 {
                    let reserve = rng.u64(1..=max_tokens);
                    let actual = rng.u64(0..=reserve);
                    let permit = rl.acquire(MODEL, reserve).await.unwrap();
                    log.lock().unwrap().push((start.elapsed(), actual));
                    tokio::time::sleep(window.mul_f64(rng.f64() * 0.2)).await;
                    permit.settle(Some(actual));
                    tokio::time::sleep(window.mul_f64(rng.f64() * 0.05)).await;
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let events = log.lock().unwrap().clone();
        let requests: Vec<_> = events.iter().map(|(t, _)| (*t, 1)).collect();
        let (r, t) = (max_window(&requests, window), max_window(&events, window));
        assert!(
            r <= limits.rpm.unwrap(),
            "seed {seed}: {r} requests in a window, {limits:?} {burst:?}"
        );
        assert!(
            t <= limits.tpm.unwrap(),
            "seed {seed}: {t} tokens in a window, {limits:?} {burst:?}"
        );
    }
}
