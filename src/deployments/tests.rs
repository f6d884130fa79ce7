//! Routing over real mock servers: failover, cooldowns, fallbacks, order and key isolation.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

use super::spec::{DeploymentSpec, RouterSettings, RouterSpec, Strategy};
use crate::client::{Client, Request};
use crate::config::{ClientConfig, Secret};
use crate::error::Kind;
use crate::mock::{Fault, MockConfig, MockServer};

fn server() -> MockServer {
    MockServer::start(MockConfig::default()).expect("mock server starts")
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    crate::runtime::get().block_on(fut)
}

fn deployment(group: &str, id: &str, at: &MockServer, key: &str, order: Option<u32>) -> DeploymentSpec {
    DeploymentSpec {
        group: group.to_owned(),
        model: "openai/gpt-4o-mini".to_owned(),
        api_key: Some(Secret::new(key)),
        api_base: Some(at.base_url()),
        order,
        id: Some(id.to_owned()),
        ..DeploymentSpec::default()
    }
}

fn client(deployments: Vec<DeploymentSpec>, settings: RouterSettings) -> Client {
    let spec = RouterSpec {
        deployments,
        settings,
        ..RouterSpec::default()
    };
    Client::with_deployments(ClientConfig::default(), spec, Duration::from_secs(5)).expect("client builds")
}

fn chat(model: &str) -> Request {
    Request {
        body: Bytes::from(json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}).to_string()),
        model: model.to_owned(),
        ..Request::default()
    }
}

fn faults(n: usize, fault: &Fault) -> Vec<Fault> {
    vec![fault.clone(); n]
}

#[test]
fn a_failing_deployment_is_failed_over_at_once_and_cools_down() {
    let (bad, good) = (server(), server());
    bad.push_faults(faults(50, &Fault::with_status(500)));
    let settings = RouterSettings {
        strategy: Strategy::Order,
        allowed_fails: 1,
        cooldown_time: Duration::from_secs(60),
        ..RouterSettings::default()
    };
    let c = client(
        vec![
            deployment("g", "bad", &bad, "sk-bad", Some(1)),
            deployment("g", "good", &good, "sk-good", Some(2)),
        ],
        settings,
    );
    for _ in 0..10 {
        let answer = block_on(c.chat(chat("g"))).expect("routed around the failing deployment");
        assert_eq!(answer.deployment.as_deref(), Some("good"));
        assert_eq!(answer.model, "gpt-4o-mini");
    }
    // The second failure within a minute (allowed_fails = 1) took it out for the period.
    assert_eq!(bad.request_count(), 2);
    assert_eq!(good.request_count(), 10);
    let bad_state = &c.deployments().unwrap().group("g").unwrap().members[0];
    assert!(bad_state.cooling_left().is_some());
    let per = c.config().usage.per_deployment();
    assert_eq!(per.iter().find(|(id, _)| id == "good").unwrap().1.calls, 10);
    assert_eq!(per.iter().find(|(id, _)| id == "bad").unwrap().1.failures, 2);
}

#[test]
fn each_deployment_sees_only_its_own_key_and_headers_and_the_group_name_never_reaches_the_wire() {
    let (a, b) = (server(), server());
    let c = client(
        vec![
            DeploymentSpec {
                extra_headers: vec![("x-team".to_owned(), "search".to_owned())],
                ..deployment("g", "a", &a, "sk-aaaa", None)
            },
            deployment("g", "b", &b, "sk-bbbb", None),
        ],
        RouterSettings::default(),
    );
    for _ in 0..20 {
        block_on(c.chat(chat("g"))).expect("answer");
    }
    assert_eq!(a.request_count() + b.request_count(), 20);
    for (at, key, team) in [(&a, "Bearer sk-aaaa", Some("search")), (&b, "Bearer sk-bbbb", None)] {
        for request in at.requests() {
            assert_eq!(request.header("authorization"), Some(key));
            assert_eq!(request.header("x-team"), team);
            assert_eq!(request.json().unwrap()["model"], "gpt-4o-mini");
        }
    }
}

#[test]
fn a_context_window_error_goes_to_its_own_fallbacks_and_bad_requests_do_not_fail_over() {
    let (small, other, big) = (server(), server(), server());
    let too_long = Fault {
        status: Some(400),
        body: Some(
            json!({"error": {"message": "This model's maximum context length is 8192 tokens", "type": "invalid_request_error", "code": "context_length_exceeded"}}),
        ),
        ..Fault::default()
    };
    small.push_faults(vec![too_long, Fault::with_status(400)]);
    let settings = RouterSettings {
        fallbacks: vec![("small".to_owned(), vec!["other".to_owned()])],
        context_window_fallbacks: vec![("small".to_owned(), vec!["big".to_owned()])],
        ..RouterSettings::default()
    };
    let c = client(
        vec![
            deployment("small", "s", &small, "k1", None),
            deployment("other", "o", &other, "k2", None),
            deployment("big", "b", &big, "k3", None),
        ],
        settings,
    );
    let answer = block_on(c.chat(chat("small"))).expect("the big model answers");
    assert_eq!(answer.deployment.as_deref(), Some("b"));
    assert_eq!(big.requests()[0].json().unwrap()["model"], "gpt-4o-mini");
    let err = block_on(c.chat(chat("small"))).expect_err("a bad request is final");
    assert_eq!(err.kind(), Kind::BadRequest);
    assert_eq!(other.request_count(), 0);
    assert_eq!(small.request_count(), 2);
}

#[test]
fn a_group_whose_every_deployment_is_cooling_fails_with_the_earliest_return() {
    let only = server();
    only.push_faults(vec![Fault {
        status: Some(429),
        retry_after: Some(120.0),
        ..Fault::default()
    }]);
    let c = client(
        vec![deployment("g", "only", &only, "k", None)],
        RouterSettings::default(),
    );
    let err = block_on(c.chat(chat("g"))).expect_err("rate limited");
    assert_eq!(err.kind(), Kind::RateLimited);
    let err = block_on(c.chat(chat("g"))).expect_err("still cooling");
    assert_eq!(err.kind(), Kind::RateLimited);
    assert!(err.retry_after().unwrap() > Duration::from_secs(100));
    assert_eq!(only.request_count(), 1);
}

#[test]
fn models_that_are_not_groups_go_as_before() {
    let plain = server();
    let spec = RouterSpec {
        deployments: vec![deployment("g", "a", &server(), "k", None)],
        ..RouterSpec::default()
    };
    let config = ClientConfig {
        base_url: Some(plain.base_url()),
        ..ClientConfig::default()
    };
    let c = Client::with_deployments(config, spec, Duration::from_secs(1)).unwrap();
    let answer = block_on(c.chat(chat("gpt-4o"))).expect("answer");
    assert_eq!(answer.deployment, None);
    assert_eq!(plain.request_count(), 1);
}

#[test]
fn a_cooldown_one_process_starts_takes_the_deployment_out_for_every_process() {
    let redis = crate::redis_link::server::RedisServer::start();
    let (bad, good) = (server(), server());
    bad.push_faults(faults(50, &Fault::with_status(500)));
    let settings = RouterSettings {
        strategy: Strategy::Order,
        allowed_fails: 1,
        cooldown_time: Duration::from_secs(60),
        redis: Some(Secret::new(redis.url())),
        ..RouterSettings::default()
    };
    let specs = || {
        vec![
            deployment("g", "bad", &bad, "sk-bad", Some(1)),
            deployment("g", "good", &good, "sk-good", Some(2)),
        ]
    };
    let (a, b) = (client(specs(), settings.clone()), client(specs(), settings.clone()));
    let bad_of = |c: &Client| Arc::clone(&c.deployments().unwrap().group("g").unwrap().members[0]);
    // Two failures on `a` (allowed_fails = 1) take `bad` out: for `b` too, which never saw one.
    for _ in 0..2 {
        block_on(a.chat(chat("g"))).expect("routed around the failing deployment");
    }
    assert!(bad_of(&a).cooling_left().is_some());
    let started = std::time::Instant::now();
    while bad_of(&b).cooling_left().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "b never heard of the cooldown"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let answer = block_on(b.chat(chat("g"))).unwrap();
    assert_eq!(answer.deployment.as_deref(), Some("good"));
    assert_eq!(bad.request_count(), 2, "b sent nothing to the cooling deployment");
    // A process that starts later reads the cooldown in force.
    let c = client(specs(), settings);
    let started = std::time::Instant::now();
    while bad_of(&c).cooling_left().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "c never read the cooldown");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(bad_of(&c).cooling_left().unwrap() > Duration::from_secs(50));
}

#[test]
fn usage_based_routing_counts_every_process_use() {
    // Counters are per minute: start with the minute's end well ahead (at most 10 s of waiting).
    let second_of_minute = || super::minute_clock_seconds() % 60;
    while second_of_minute() >= 50 {
        std::thread::sleep(Duration::from_millis(100));
    }
    let redis = crate::redis_link::server::RedisServer::start();
    let (x, y) = (server(), server());
    let settings = RouterSettings {
        strategy: Strategy::UsageBased,
        redis: Some(Secret::new(redis.url())),
        ..RouterSettings::default()
    };
    // `a` uses deployment x alone (another group, the same deployment id).
    let a = client(vec![deployment("solo", "x", &x, "sk-x", None)], settings.clone());
    let b = client(
        vec![
            deployment("g", "x", &x, "sk-x", None),
            deployment("g", "y", &y, "sk-y", None),
        ],
        settings,
    );
    for _ in 0..5 {
        block_on(a.chat(chat("solo"))).unwrap();
    }
    let x_in_b = Arc::clone(&b.deployments().unwrap().group("g").unwrap().members[0]);
    let started = std::time::Instant::now();
    while x_in_b.usage_share() < 5.0 / 1e6 {
        assert!(started.elapsed() < Duration::from_secs(10), "b never read a's use of x");
        std::thread::sleep(Duration::from_millis(10));
    }
    for _ in 0..3 {
        let answer = block_on(b.chat(chat("g"))).unwrap();
        assert_eq!(
            answer.deployment.as_deref(),
            Some("y"),
            "x is the busier one, counting a's calls"
        );
    }
    assert_eq!((x.request_count(), y.request_count()), (5, 3));
}
