//! The Redis backend against real `redis-server` processes (see `server.rs`).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ::redis::aio::MultiplexedConnection;
use futures_util::future::join_all;

use tokio::time::Instant;

use super::*;
use crate::cache::store::now_ms;
use crate::redis_link::server::{free_port, RedisServer};

const OP_TIMEOUT: Duration = Duration::from_millis(500);
/// A liveness bound, not a speed target: an operation on a dead or hung server comes back by then.
const PROMPT: Duration = Duration::from_secs(5);
/// How long a test waits for a state nothing signals (an expiry, a reconnect).
const PATIENCE: Duration = Duration::from_secs(15);

fn key(n: u8) -> Key {
    Key([n; 32])
}

fn record(value: &[u8]) -> Record {
    Record {
        written_ms: now_ms(),
        value: Bytes::copy_from_slice(value),
    }
}

fn store(url: &str) -> RedisStore {
    RedisStore::new(url, OP_TIMEOUT).expect("valid URL")
}

/// A plain client connection, for looking behind the store's back.
async fn raw(url: &str) -> MultiplexedConnection {
    let client = ::redis::Client::open(url).expect("valid URL");
    client.get_multiplexed_async_connection().await.expect("redis answers")
}

async fn query<T: FromRedisValue>(conn: &mut MultiplexedConnection, args: &[&[u8]]) -> T {
    let mut cmd = ::redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(conn).await.expect("command succeeds")
}

/// Waits until `check` holds (polled every 20 ms); fails the test after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn round_trips_records_and_misses_absent_keys() {
    let server = RedisServer::start();
    let store = store(&server.url());
    assert_eq!(store.kind(), "redis");
    assert_eq!(store.get(&key(1)).await, Ok(None));

    let small = record(b"hello");
    store.put(&key(1), small.clone(), None).await.unwrap();
    assert_eq!(store.get(&key(1)).await, Ok(Some(small)));

    let empty = record(b"");
    store.put(&key(2), empty.clone(), None).await.unwrap();
    assert_eq!(store.get(&key(2)).await, Ok(Some(empty)));

    let big: Vec<u8> = (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let big = record(&big);
    store.put(&key(3), big.clone(), None).await.unwrap();
    assert_eq!(store.get(&key(3)).await, Ok(Some(big)));

    let newer = record(b"second answer");
    store.put(&key(1), newer.clone(), None).await.unwrap();
    assert_eq!(store.get(&key(1)).await, Ok(Some(newer.clone())));

    // The layout other processes (and later versions) rely on.
    let stored: Vec<u8> = query(&mut raw(&server.url()).await, &[b"GET", redis_key(&key(1)).as_bytes()]).await;
    assert_eq!(stored[..8], newer.written_ms.to_be_bytes());
    assert_eq!(&stored[8..], b"second answer");
    assert_eq!(redis_key(&key(1)), format!("liter_llm:v1:{}", "01".repeat(32)));
}

#[tokio::test]
async fn concurrent_operations_share_one_connection() {
    let server = RedisServer::start();
    let store = &store(&server.url());
    let puts = (0..64u8).map(|n| async move { store.put(&key(n), record(&[n; 3]), None).await });
    let done = join_all(puts).await;
    assert!(done.iter().all(Result::is_ok), "{done:?}");
    let gets = join_all((0..64u8).map(|n| async move { (n, store.get(&key(n)).await) })).await;
    for (n, got) in gets {
        assert_eq!(got.unwrap().unwrap().value, Bytes::from(vec![n; 3]));
    }
    let clients: String = query(&mut raw(&server.url()).await, &[b"CLIENT", b"LIST"]).await;
    assert_eq!(clients.lines().count(), 2, "the store's connection and ours: {clients}");
}

#[tokio::test]
async fn redis_expires_entries_after_their_ttl() {
    let server = RedisServer::start();
    let store = store(&server.url());
    let mut conn = raw(&server.url()).await;

    store
        .put(&key(1), record(b"brief"), Some(Duration::from_millis(50)))
        .await
        .unwrap();
    let pttl: i64 = query(&mut conn, &[b"PTTL", redis_key(&key(1)).as_bytes()]).await;
    assert!(pttl <= 50 && pttl != -1, "PTTL {pttl}");
    eventually("the entry to expire", || async { store.get(&key(1)).await == Ok(None) }).await;

    for (n, ttl) in [(2, None), (3, Some(Duration::MAX))] {
        store.put(&key(n), record(b"kept"), ttl).await.unwrap();
        let pttl: i64 = query(&mut conn, &[b"PTTL", redis_key(&key(n)).as_bytes()]).await;
        assert_eq!(pttl, -1, "{ttl:?} is stored without expiry");
    }
    store
        .put(&key(4), record(b"gone"), Some(Duration::from_nanos(1)))
        .await
        .unwrap();
    eventually("a 1 ns entry to expire", || async {
        store.get(&key(4)).await == Ok(None)
    })
    .await;
}

#[test]
fn ttls_round_up_to_whole_milliseconds() {
    assert_eq!(ttl_ms(Duration::ZERO), Some(1));
    assert_eq!(ttl_ms(Duration::from_nanos(1)), Some(1));
    assert_eq!(ttl_ms(Duration::from_micros(1500)), Some(2));
    assert_eq!(ttl_ms(Duration::from_secs(60)), Some(60_000));
    assert_eq!(ttl_ms(Duration::from_secs(200 * 365 * 86_400)), None);
    assert_eq!(ttl_ms(Duration::MAX), None);
}

#[tokio::test]
async fn damaged_entries_read_as_absent_and_are_overwritten() {
    let server = RedisServer::start();
    let store = store(&server.url());
    let mut conn = raw(&server.url()).await;
    let _: () = query(&mut conn, &[b"SET", redis_key(&key(1)).as_bytes(), b"short"]).await;
    let _: () = query(&mut conn, &[b"RPUSH", redis_key(&key(2)).as_bytes(), b"a list"]).await;
    assert_eq!(store.get(&key(1)).await, Ok(None));
    assert_eq!(store.get(&key(2)).await, Ok(None));
    let fresh = record(b"fresh");
    store.put(&key(2), fresh.clone(), None).await.unwrap();
    assert_eq!(store.get(&key(2)).await, Ok(Some(fresh)));
}

#[tokio::test]
async fn clear_removes_our_prefix_only() {
    let server = RedisServer::start();
    let store = store(&server.url());
    store.clear().await.unwrap();
    let mut conn = raw(&server.url()).await;
    // More keys than one SCAN step holds, so `clear` has to walk the cursor.
    let mut pipe = ::redis::pipe();
    for n in 0..1_500u32 {
        pipe.set(format!("{PREFIX}{n:064x}"), b"x".as_slice()).ignore();
    }
    let foreign = ["other:1", "liter_llm:v2:abc", "liter_llm:v1", "prefix-liter_llm:v1:x"];
    for name in foreign {
        pipe.set(name, b"theirs".as_slice()).ignore();
    }
    let _: () = pipe.query_async(&mut conn).await.unwrap();
    store
        .put(&key(7), record(b"ours"), Some(Duration::from_secs(60)))
        .await
        .unwrap();

    store.clear().await.unwrap();
    assert_eq!(store.get(&key(7)).await, Ok(None));
    let mut left: Vec<String> = query(&mut conn, &[b"KEYS", b"*"]).await;
    left.sort_unstable();
    let mut expected = foreign.map(str::to_owned).to_vec();
    expected.sort_unstable();
    assert_eq!(left, expected);
}

#[tokio::test]
async fn two_stores_on_one_server_share_entries() {
    let server = RedisServer::start();
    let a = store(&server.url());
    let b = RedisStore::new(&server.url(), Duration::MAX).unwrap();
    let shared = record(b"shared");
    a.put(&key(1), shared.clone(), None).await.unwrap();
    assert_eq!(b.get(&key(1)).await, Ok(Some(shared)));
    b.clear().await.unwrap();
    assert_eq!(a.get(&key(1)).await, Ok(None));
}

#[tokio::test]
async fn a_password_authenticates_and_never_shows() {
    const PASSWORD: &str = "pw-Sesame-7f3a";
    const WRONG: &str = "pw-Guess-91c2";
    let server = RedisServer::with_password(PASSWORD);
    for url in [
        server.url_with_password(PASSWORD),
        format!("redis://default:{PASSWORD}@127.0.0.1:{}", server.port()),
    ] {
        let store = store(&url);
        store.put(&key(1), record(b"auth"), None).await.unwrap();
        assert_eq!(
            store.get(&key(1)).await.unwrap().unwrap().value,
            Bytes::from_static(b"auth")
        );
        assert!(!format!("{store:?}").contains(PASSWORD), "{store:?}");
    }

    let wrong = store(&server.url_with_password(WRONG));
    let err = wrong.get(&key(1)).await.unwrap_err();
    let at = format!("127.0.0.1:{}", server.port());
    assert!(err.0.contains(&at) && err.0.contains("unavailable"), "{err}");
    assert!(
        !err.0.contains(WRONG) && !format!("{wrong:?}").contains(WRONG),
        "{err} / {wrong:?}"
    );
    // Within the retry window the same outage is reported without connecting again.
    let again = wrong.put(&key(1), record(b"x"), None).await.unwrap_err();
    assert!(!again.0.contains(WRONG), "{again}");

    let anonymous = store(&server.url());
    let err = anonymous.get(&key(1)).await.unwrap_err();
    assert!(err.0.contains(&at), "{err}");
}

#[test]
fn urls_are_checked_without_showing_credentials() {
    let cases = [
        ("rediss://:pw-Tls-4471@cache:6380", "TLS"),
        ("unix:///run/redis.sock", "unix sockets"),
        ("redis+unix:///run/redis.sock?pass=pw-Unix-8812", "unix sockets"),
        ("http://user:pw-Http-5510@cache", "expected redis://"),
        ("cache:6379", "expected redis://"),
        ("redis://:pw-Slash/4411@cache:6379", "invalid redis URL"),
        ("redis://:pw-Db-3301@cache:6379/first", "Invalid database number"),
        ("redis://cache:6379/-1", "must not be negative"),
        ("redis://0.0.0.0:6379", "wildcard"),
        ("redis://:pw-Port-2230@cache:notaport", "invalid redis URL"),
    ];
    for (url, says) in cases {
        let err = RedisStore::new(url, OP_TIMEOUT).unwrap_err();
        assert!(err.0.contains(says), "{url}: {err}");
        assert!(!err.0.contains("pw-"), "{url}: {err}");
        if url.contains('@') {
            assert!(err.0.contains("***@cache"), "{url}: {err}");
        }
    }

    let store = RedisStore::new("redis://app:pw-Shown-0042@cache.internal:7000/3", OP_TIMEOUT).unwrap();
    assert_eq!(
        format!("{store:?}"),
        "RedisStore { link: RedisLink { at: \"cache.internal:7000/3\", op_timeout: 500ms } }"
    );
    let store = RedisStore::new("redis://[::1]", Duration::MAX).unwrap();
    assert_eq!(
        format!("{store:?}"),
        "RedisStore { link: RedisLink { at: \"[::1]:6379/0\", op_timeout: 86400s } }"
    );
}

#[tokio::test]
async fn a_server_down_at_construction_is_used_once_it_comes_up() {
    let mut server = RedisServer::stopped(free_port(), None);
    let store = store(&server.url());
    for _ in 0..2 {
        let started = Instant::now();
        let err = store.get(&key(1)).await.unwrap_err();
        assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
        assert!(
            err.0
                .starts_with(&format!("redis at 127.0.0.1:{} unavailable: ", server.port())),
            "{err}"
        );
    }

    server.restart();
    let up = record(b"up");
    eventually("the store to reconnect", || async {
        store.put(&key(1), up.clone(), None).await.is_ok()
    })
    .await;
    assert_eq!(store.get(&key(1)).await, Ok(Some(up)));
}

#[tokio::test]
async fn a_killed_server_fails_operations_until_it_is_back() {
    let mut server = RedisServer::start();
    let store = store(&server.url());
    store.put(&key(1), record(b"before"), None).await.unwrap();

    server.stop();
    let started = Instant::now();
    assert!(store.get(&key(1)).await.is_err());
    assert!(store.put(&key(2), record(b"lost"), None).await.is_err());
    assert!(store.clear().await.is_err());
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());

    server.restart();
    let after = record(b"after");
    eventually("the store to reconnect", || async {
        store.put(&key(3), after.clone(), None).await.is_ok()
    })
    .await;
    assert_eq!(store.get(&key(3)).await, Ok(Some(after)));
    // Persistence is off: what was written before the restart is gone, which reads as a miss.
    assert_eq!(store.get(&key(1)).await, Ok(None));
}

#[tokio::test]
async fn a_server_that_stops_answering_times_out_until_it_answers_again() {
    let server = RedisServer::start();
    let store = store(&server.url());
    store.put(&key(1), record(b"kept"), None).await.unwrap();

    server.suspend(true);
    let started = Instant::now();
    let err = store.get(&key(1)).await.unwrap_err();
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert!(err.0.contains("unavailable"), "{err}");
    assert!(store.get(&key(1)).await.is_err());

    server.suspend(false);
    eventually("the store to recover", || async { store.get(&key(1)).await.is_ok() }).await;
    assert_eq!(
        store.get(&key(1)).await.unwrap().unwrap().value,
        Bytes::from_static(b"kept")
    );
}

#[tokio::test]
async fn a_hung_server_times_out_and_is_connected_to_once() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });

    let store = RedisStore::new(&format!("redis://127.0.0.1:{port}"), Duration::from_millis(300)).unwrap();
    let started = Instant::now();
    for _ in 0..2 {
        let results = join_all((0..16u8).map(|n| {
            let store = &store;
            async move { store.get(&key(n)).await }
        }))
        .await;
        assert!(results.iter().all(Result::is_err), "{results:?}");
    }
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    let connects = accepted.load(Ordering::SeqCst);
    assert!((1..=3).contains(&connects), "32 operations made {connects} connections");
    let err = store.get(&key(1)).await.unwrap_err();
    assert!(err.0.contains("no answer within 300 ms"), "{err}");
}

#[test]
fn short_values_decode_as_absent() {
    assert_eq!(decode(vec![0; 7]), None);
    let got = decode([7u64.to_be_bytes().as_slice(), b"v"].concat()).unwrap();
    assert_eq!(
        got,
        Record {
            written_ms: 7,
            value: Bytes::from_static(b"v")
        }
    );
}

#[tokio::test]
async fn a_value_past_the_largest_entry_reads_as_absent() {
    let server = RedisServer::start();
    // Moving 64 MiB twice may take longer than the usual bound on a loaded machine.
    let store = RedisStore::new(&server.url(), Duration::from_secs(60)).expect("valid URL");
    let huge = record(&vec![7u8; crate::cache::MAX_ENTRY_BYTES + 1]);
    store.put(&key(9), huge, None).await.unwrap();
    assert_eq!(store.get(&key(9)).await, Ok(None));
    let fits = record(&vec![7u8; crate::cache::MAX_ENTRY_BYTES]);
    store.put(&key(9), fits.clone(), None).await.unwrap();
    assert_eq!(store.get(&key(9)).await, Ok(Some(fits)));
}
