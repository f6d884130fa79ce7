//! Keys shared by replicas: several `Keys` on one PostgreSQL store with their counters in one
//! Redis, both real servers started here.

use std::future::Future;
use std::time::{Duration, Instant};

use serde_json::json;

use super::hot::Hot;
use super::pg::server::PgServer;
use super::*;
use crate::redis_link::server::RedisServer;

fn replica(pg: &PgServer, redis: &RedisServer) -> Arc<Keys> {
    let keys = Arc::new(
        Keys::open_postgres(&pg.url())
            .unwrap()
            .with_redis(&redis.url())
            .unwrap(),
    );
    keys.follow();
    keys
}

fn run<F: Future>(work: F) -> F::Output {
    crate::runtime::get().block_on(work)
}

/// When a wait gives up: 30 s from now (a loaded machine runs several servers per test).
fn soon() -> Instant {
    Instant::now() + Duration::from_secs(30)
}

/// A moment before trying again, failing the test past `deadline`.
async fn waited(deadline: Instant, what: &str) {
    assert!(Instant::now() < deadline, "timed out waiting until {what}");
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// Waits until `check` holds (at most 30 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = soon();
    while !check().await {
        waited(deadline, what).await;
    }
}

async fn spend(keys: &Keys, key: &VirtualKey) -> f64 {
    keys.info(key).await["spend"].as_f64().unwrap()
}

fn dollar() -> Estimate {
    Estimate { tokens: 10, cost: 1.0 }
}

#[test]
fn a_budget_holds_across_replicas_under_concurrency_and_the_database_gets_every_cent() {
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let (a, b) = (replica(&pg, &redis), replica(&pg, &redis));
    run(async {
        let request = KeyRequest::parse(&json!({"max_budget": 3.0})).unwrap();
        let (value, on_a) = a.generate(&request).await.unwrap();
        // Made on a: b reads it from the database on first use.
        let on_b = b.find(&value).await.unwrap().expect("b finds a key made on a");
        let tries = (0..12).map(|i| {
            let (keys, key) = if i % 2 == 0 { (&a, &on_a) } else { (&b, &on_b) };
            keys.admit(key, "m", dollar())
        });
        let answers = futures_util::future::join_all(tries).await;
        let (admitted, refused): (Vec<_>, Vec<_>) = answers.into_iter().partition(Result::is_ok);
        assert_eq!(admitted.len(), 3, "budget for 3 reserved by 3 requests in flight");
        assert!(refused
            .iter()
            .all(|r| r.as_ref().unwrap_err().kind == "budget_exceeded"));
        for admission in admitted {
            let admission = admission.unwrap();
            let keys = if Arc::ptr_eq(&admission.key, &on_a) { &a } else { &b };
            keys.settle(admission, Some(1.0), Some(8)).await;
        }
        eventually("the settlements are counted", || async {
            spend(&b, &on_b).await == 3.0
        })
        .await;
        assert_eq!(a.admit(&on_a, "m", dollar()).await.unwrap_err().kind, "budget_exceeded");
        assert_eq!(b.info(&on_b).await["in_flight"], json!(0));
    });
    a.close();
    b.close();
    let (_db, stored) = pg::PgKeyDb::open(&pg.url()).unwrap();
    assert_eq!(stored[0].spend, 3.0, "each replica's spend reached the database once");
}

#[test]
fn parallel_and_per_minute_limits_count_every_replica() {
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let (a, b) = (replica(&pg, &redis), replica(&pg, &redis));
    run(async {
        let request = KeyRequest::parse(&json!({"max_parallel_requests": 2, "rpm_limit": 5})).unwrap();
        let (value, on_a) = a.generate(&request).await.unwrap();
        let on_b = b.find(&value).await.unwrap().unwrap();
        let one = a.admit(&on_a, "m", Estimate::default()).await.unwrap();
        let two = b.admit(&on_b, "m", Estimate::default()).await.unwrap();
        let third = a.admit(&on_a, "m", Estimate::default()).await.unwrap_err();
        assert_eq!((third.status.as_u16(), third.retry_after), (429, Some(1)));
        assert!(third.message.contains("max_parallel_requests"), "{}", third.message);
        drop(one);
        let deadline = soon();
        let three = loop {
            if let Ok(admission) = b.admit(&on_b, "m", Estimate::default()).await {
                break admission;
            }
            waited(deadline, "a's request gives its slot back").await;
        };
        drop((two, three));
        // Three requests counted this minute; two more fit, the sixth does not.
        for (keys, key) in [(&a, &on_a), (&b, &on_b)] {
            eventually("a slot is free", || async {
                keys.admit(key, "m", Estimate::default()).await.is_ok()
            })
            .await;
        }
        let deadline = soon();
        let over = loop {
            match b.admit(&on_b, "m", Estimate::default()).await {
                Ok(_) => panic!("a sixth request within the minute was admitted"),
                Err(refusal) if refusal.message.contains("requests per minute") => break refusal,
                Err(_) => waited(deadline, "the sixth request is refused for the minute's rate").await,
            }
        };
        assert_eq!(over.status.as_u16(), 429);
        assert!((1..=60).contains(&over.retry_after.unwrap()), "{over:?}");
    });
}

#[test]
fn a_replica_that_dies_gives_its_holds_back_within_its_lease() {
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let lease = Duration::from_millis(300);
    let dying = Arc::new(
        Keys::open_postgres(&pg.url())
            .unwrap()
            .with_redis(&redis.url())
            .unwrap(),
    );
    let mut dying = Arc::try_unwrap(dying).unwrap();
    dying.hot = Some(Arc::new(Hot::new(&redis.url()).unwrap().with_lease(lease)));
    let survivor = replica(&pg, &redis);
    run(async {
        let request = KeyRequest::parse(&json!({"max_parallel_requests": 1, "max_budget": 1.0})).unwrap();
        let (value, key) = dying.generate(&request).await.unwrap();
        let admission = dying.admit(&key, "m", dollar()).await.unwrap();
        // The replica stops renewing (it died): its hold and reservation run out with the lease.
        let Hold::Shared(hot, lease_id) = &admission.hold else {
            panic!("a shared hold")
        };
        hot.forget_lease(&key.token, lease_id);
        std::mem::forget(admission);
        let other = survivor.find(&value).await.unwrap().unwrap();
        let refused = survivor.admit(&other, "m", dollar()).await.unwrap_err();
        assert_eq!(
            refused.kind, "budget_exceeded",
            "the dead replica's reservation still counts"
        );
        let started = Instant::now();
        eventually("the dead replica's lease runs out", || async {
            survivor.admit(&other, "m", dollar()).await.is_ok()
        })
        .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "a 300-ms lease outlived its replica by {:?}",
            started.elapsed()
        );
    });
}

#[test]
fn key_changes_on_one_replica_reach_the_others() {
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let (a, b) = (replica(&pg, &redis), replica(&pg, &redis));
    run(async {
        let request = KeyRequest::parse(&json!({"models": ["m"]})).unwrap();
        let (value, _) = a.generate(&request).await.unwrap();
        let on_b = b.find(&value).await.unwrap().unwrap();
        assert!(on_b.allows("m") && !on_b.allows("n"));
        let update = KeyRequest::parse(&json!({"key": value, "models": ["n"], "blocked": true})).unwrap();
        a.update(&update).await.unwrap();
        eventually("b sees the update", || async {
            on_b.unusable().is_some() && on_b.allows("n")
        })
        .await;
        assert_eq!(a.delete(std::slice::from_ref(&value)).await.unwrap(), [value.as_str()]);
        eventually("b forgets the deleted key", || async {
            b.find(&value).await.unwrap().is_none()
        })
        .await;
    });
}

#[test]
fn counters_lost_with_redis_are_seeded_from_the_database_and_an_outage_admits_nothing() {
    let pg = PgServer::start();
    let mut redis = RedisServer::start();
    let a = replica(&pg, &redis);
    run(async {
        let request = KeyRequest::parse(&json!({"max_budget": 2.0})).unwrap();
        let (_, key) = a.generate(&request).await.unwrap();
        let first = a.admit(&key, "m", dollar()).await.unwrap();
        a.settle(first, Some(1.0), None).await;
        let Store::Postgres(db) = &a.db else { unreachable!() };
        eventually("the spend is in the database", || async {
            db.spend_of(&key.token).await.unwrap() == Some((1.0, None))
        })
        .await;

        redis.stop();
        let down = a.admit(&key, "m", dollar()).await.unwrap_err();
        assert_eq!((down.status.as_u16(), down.retry_after), (503, Some(1)), "{down:?}");
        redis.restart();
        // Redis came back empty: the key's spend comes from the database, not from zero.
        let deadline = soon();
        let second = loop {
            if let Ok(admission) = a.admit(&key, "m", dollar()).await {
                break admission;
            }
            waited(deadline, "redis is back").await;
        };
        assert_eq!(a.admit(&key, "m", dollar()).await.unwrap_err().kind, "budget_exceeded");
        drop(second);
    });
}

#[test]
fn a_budget_period_rolls_once_for_every_replica_and_the_database_follows() {
    let pg = PgServer::start();
    let redis = RedisServer::start();
    let (a, b) = (replica(&pg, &redis), replica(&pg, &redis));
    let token = run(async {
        let request = KeyRequest::parse(&json!({"max_budget": 1.0, "budget_duration": "1s"})).unwrap();
        let (value, on_a) = a.generate(&request).await.unwrap();
        let on_b = b.find(&value).await.unwrap().unwrap();
        let first = a.admit(&on_a, "m", dollar()).await.unwrap();
        a.settle(first, Some(1.0), None).await;
        assert_eq!(b.admit(&on_b, "m", dollar()).await.unwrap_err().kind, "budget_exceeded");
        // Within about a second the period ends: the next admission, on either replica, starts
        // the new one (counted once in Redis, whichever replica rolls it).
        let deadline = soon();
        let second = loop {
            match b.admit(&on_b, "m", dollar()).await {
                Ok(admission) => break admission,
                Err(refusal) => {
                    assert_eq!(refusal.kind, "budget_exceeded");
                    waited(deadline, "the budget period rolls").await;
                }
            }
        };
        b.settle(second, Some(0.25), None).await;
        assert_eq!(spend(&a, &on_a).await, 0.25);
        on_a.token.clone()
    });
    a.close();
    b.close();
    let (_db, stored) = pg::PgKeyDb::open(&pg.url()).unwrap();
    let key = stored.iter().find(|k| k.token == token).unwrap();
    assert_eq!(key.spend, 0.25, "the database counts the new period only");
    assert_eq!(key.model_spend["m"], 1.25);
}
