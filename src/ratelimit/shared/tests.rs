//! Shared limits against a real `redis-server`; each limiter stands for one process (its own
//! connection, caller ids and leases).

use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::ratelimit::{Burst, Limits, RateLimitConfig, RateLimiter};
use crate::redis_link::server::RedisServer;

/// Bound on waits for background work (a settlement, a pause) to reach the server.
const PATIENCE: Duration = Duration::from_secs(10);

fn shared(url: &str, name: &str) -> SharedConfig {
    SharedConfig {
        url: url.to_owned(),
        name: name.to_owned(),
        lease: DEFAULT_LEASE,
        outage: Outage::Wait,
    }
}

fn limiter(url: &str, name: &str, global: Limits, window: Duration, burst: Burst, max_delay: Duration) -> RateLimiter {
    RateLimiter::new(RateLimitConfig {
        global,
        window,
        burst,
        max_delay,
        shared: Some(shared(url, name)),
        ..RateLimitConfig::default()
    })
    .unwrap()
}

/// Two limiters sharing one budget: two processes.
fn two(
    url: &str,
    name: &str,
    global: Limits,
    window: Duration,
    burst: Burst,
    max_delay: Duration,
) -> (RateLimiter, RateLimiter) {
    (
        limiter(url, name, global.clone(), window, burst, max_delay),
        limiter(url, name, global, window, burst, max_delay),
    )
}

fn rpm(n: u64) -> Limits {
    Limits {
        rpm: Some(n),
        ..Limits::default()
    }
}

/// A field of a limiter key's state hash, read straight from the server.
async fn state_field(server: &RedisServer, name: &str, field: &str) -> Option<i64> {
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    ::redis::cmd("HGET")
        .arg(format!("liter_llm:rl:{{{name}}}:g:s"))
        .arg(field)
        .query_async(&mut conn)
        .await
        .unwrap()
}

/// Waits (polling the server) until `field` of the global key's state satisfies `ok`.
async fn until_state(server: &RedisServer, name: &str, field: &str, ok: impl Fn(Option<i64>) -> bool) {
    let started = Instant::now();
    while !ok(state_field(server, name, field).await) {
        assert!(started.elapsed() < PATIENCE, "{field} never reached the expected value");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_requests_budget() {
    let server = RedisServer::start();
    let window = Duration::from_secs(30);
    let max_delay = Duration::from_millis(200);
    let (a, b) = two(&server.url(), "org", rpm(10), window, Burst::Full, max_delay);
    let mut permits = Vec::new();
    for i in 0..10 {
        let limiter = if i % 2 == 0 { &a } else { &b };
        permits.push(limiter.acquire("m", 0).await.expect("within the shared budget"));
    }
    for limiter in [&a, &b] {
        let err = limiter.acquire("m", 0).await.unwrap_err();
        assert_eq!(err.kind(), Kind::RateLimited, "{err}");
        assert!(err.message().contains("longer than max_delay_seconds"), "{err}");
    }
    // Another budget name is another budget.
    let other = limiter(&server.url(), "other-org", rpm(10), window, Burst::Full, max_delay);
    other.acquire("m", 0).await.unwrap();
    assert_eq!(state_field(&server, "org", "R").await, Some(10));
}

/// When each of `n` grants in a row came, from `started`.
async fn grant_times(limiter: &RateLimiter, n: usize, started: Instant) -> Vec<Duration> {
    let mut times = Vec::new();
    for _ in 0..n {
        drop(limiter.acquire("m", 0).await.unwrap());
        times.push(started.elapsed());
    }
    times
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paced_grants_from_two_processes_keep_the_even_pace() {
    let server = RedisServer::start();
    let window = Duration::from_secs(1);
    let (a, b) = two(
        &server.url(),
        "pace",
        rpm(20),
        window,
        Burst::None,
        Duration::from_secs(30),
    );
    let started = Instant::now();
    let (ta, tb) = tokio::join!(grant_times(&a, 8, started), grant_times(&b, 8, started));
    let mut times: Vec<Duration> = ta.into_iter().chain(tb).collect();
    times.sort();
    // 16 requests at 20 per (1 s + 10 ms margin): 15 intervals of ~50.5 ms between the first and last.
    let span = times[15] - times[0];
    assert!(span >= Duration::from_millis(700), "16 grants in {span:?}: not paced");
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| **u - *t < Duration::from_millis(950))
            .count();
        assert!(in_window <= 20, "{in_window} grants within 950 ms of {t:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_slot_goes_to_the_waiting_process_and_a_dead_holder_returns_it_by_lease() {
    let server = RedisServer::start();
    let conc = Limits {
        max_concurrency: Some(1),
        ..Limits::default()
    };
    let window = Duration::from_secs(60);
    let (a, b) = two(
        &server.url(),
        "conc",
        conc,
        window,
        Burst::None,
        Duration::from_secs(30),
    );
    let held = a.acquire("m", 0).await.unwrap();
    let waiting = tokio::spawn(async move {
        let permit = b.acquire("m", 0).await;
        (permit.map(drop), b)
    });
    // b is queued (its ticket is on the server) before a lets go.
    let client = ::redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let started = Instant::now();
    loop {
        let queued: i64 = ::redis::cmd("ZCARD")
            .arg("liter_llm:rl:{conc}:g:q")
            .query_async(&mut conn)
            .await
            .unwrap();
        if queued == 1 {
            break;
        }
        assert!(started.elapsed() < PATIENCE, "b never queued");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    held.settle(None);
    let (got, _b) = tokio::time::timeout(PATIENCE, waiting).await.unwrap().unwrap();
    got.expect("the released slot");

    // A process that took a slot and died (no renewal, no release): the slot comes back when
    // its lease runs out.
    let mut config = shared(&server.url(), "conc");
    config.lease = Duration::from_millis(1_500);
    let dead = Shared::new(&config).unwrap();
    let key = a.global.as_ref().unwrap();
    let answer = dead
        .grant(0, &[key.as_ref()], 0, Duration::from_secs(1), 0, "dead:1")
        .await
        .unwrap();
    assert!(matches!(answer, Granted::Go { .. }));
    let started = Instant::now();
    let permit = a.acquire("m", 0).await.expect("the dead holder's slot");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(500),
        "the lease was still held: {waited:?}"
    );
    drop(permit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_frees_tokens_for_every_process() {
    let server = RedisServer::start();
    let tpm = Limits {
        tpm: Some(1_000),
        ..Limits::default()
    };
    let window = Duration::from_secs(60);
    let max_delay = Duration::from_millis(200);
    let a = limiter(&server.url(), "tok", tpm.clone(), window, Burst::Full, max_delay);
    let b = limiter(&server.url(), "tok", tpm, window, Burst::Full, max_delay);
    let first = a.acquire("m", 800).await.unwrap();
    assert_eq!(b.acquire("m", 800).await.unwrap_err().kind(), Kind::RateLimited);
    first.settle(Some(100));
    until_state(&server, "tok", "T", |t| t == Some(100)).await;
    b.acquire("m", 800).await.expect("room freed by the refund");
    let err = a.acquire("m", 2_000).await.unwrap_err();
    assert!(err.message().contains("can never be sent"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_429_pauses_every_process() {
    let server = RedisServer::start();
    let window = Duration::from_secs(60);
    let (a, b) = two(
        &server.url(),
        "p",
        rpm(1_000),
        window,
        Burst::Full,
        Duration::from_secs(30),
    );
    let permit = a.acquire("m", 0).await.unwrap();
    permit.pause(Duration::from_secs(2));
    until_state(&server, "p", "pa", |p| p.is_some()).await;
    let started = Instant::now();
    b.acquire("m", 0).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "b went during a's pause: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_waits_then_fails_clearly_and_recovers_when_it_returns() {
    let mut server = RedisServer::start();
    let a = limiter(
        &server.url(),
        "down",
        rpm(100),
        Duration::from_secs(60),
        Burst::Full,
        Duration::from_millis(400),
    );
    a.acquire("m", 0).await.unwrap();
    server.stop();
    let started = Instant::now();
    let err = a.acquire("m", 0).await.unwrap_err();
    assert_eq!(err.kind(), Kind::ServiceUnavailable, "{err}");
    assert!(err.message().contains("nothing was sent"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "gave up early: {:?}",
        started.elapsed()
    );
    server.restart();
    // The restarted server forgot the grant made a moment ago: this process remembers it, so
    // the window counts as full (the wait passes max_delay) rather than starting empty.
    let started = Instant::now();
    loop {
        match a.acquire("m", 0).await {
            Ok(_) => panic!("granted into a window the server forgot"),
            Err(err) if err.kind() == Kind::RateLimited => break,
            Err(err) => assert!(started.elapsed() < PATIENCE, "never came back: {err}"),
        }
    }
    assert_eq!(state_field(&server, "down", "seeded").await, Some(1));
    // A process with nothing granted within the window starts on the new state at once.
    let fresh = limiter(
        &server.url(),
        "down-fresh",
        rpm(100),
        Duration::from_secs(60),
        Burst::Full,
        Duration::from_millis(400),
    );
    fresh.acquire("m", 0).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_the_forgotten_window_passes_before_the_next_grant() {
    let mut server = RedisServer::start();
    let window = Duration::from_secs(1);
    let a = limiter(
        &server.url(),
        "restart",
        rpm(100),
        window,
        Burst::Full,
        Duration::from_secs(30),
    );
    a.acquire("m", 0).await.unwrap();
    server.stop();
    server.restart();
    let started = Instant::now();
    a.acquire("m", 0).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "went {:?} after the restart, inside the window the server forgot",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_share_grants_while_redis_is_down_when_chosen() {
    let mut server = RedisServer::start();
    let mut config = shared(&server.url(), "fallback");
    config.outage = Outage::Local { processes: 4 };
    let a = RateLimiter::new(RateLimitConfig {
        global: rpm(20),
        window: Duration::from_secs(60),
        burst: Burst::Full,
        max_delay: Duration::from_millis(200),
        shared: Some(config),
        ..RateLimitConfig::default()
    })
    .unwrap();
    server.stop();
    // A quarter of 20: five go, the sixth would wait past max_delay.
    for _ in 0..5 {
        a.acquire("m", 0).await.expect("within the local share");
    }
    assert_eq!(a.acquire("m", 0).await.unwrap_err().kind(), Kind::RateLimited);
}

#[test]
fn names_and_settings_are_checked_and_the_url_never_shown() {
    for bad in ["", "a b", "x{y}", &"n".repeat(129)] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    check_name("openai-org:prod.1_a").unwrap();
    let mut config = shared("redis://u:s3cret@h:1/0", "ok");
    assert!(!format!("{config:?}").contains("s3cret"));
    config.lease = Duration::from_millis(10);
    assert!(Shared::new(&config).is_err());
    config.lease = DEFAULT_LEASE;
    config.outage = Outage::Local { processes: 0 };
    assert!(Shared::new(&config).is_err());
    config.outage = Outage::Wait;
    config.url = "http://h".into();
    let err = Shared::new(&config).unwrap_err();
    assert_eq!(err.kind(), Kind::InvalidArgument);
}
