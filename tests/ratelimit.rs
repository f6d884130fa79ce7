//! The rate limiter inside the core client, against the built-in mock provider over loopback.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use _liter_llm::mock::{Fault, MockConfig, MockServer};
use _liter_llm::ratelimit::{estimate_tokens, Limits, RateLimitConfig, RateLimiter};
use _liter_llm::tokens::{count_prompt_tokens, count_text_tokens};
use _liter_llm::{runtime, Client, ClientConfig, Request};
use serde_json::json;

const MODEL: &str = "gpt-4o-mini";

fn limiter(global: Limits, window: Duration) -> Arc<RateLimiter> {
    Arc::new(
        RateLimiter::new(RateLimitConfig {
            global,
            window,
            ..RateLimitConfig::default()
        })
        .expect("valid limits"),
    )
}

fn client(server: &MockServer, limiter: &Arc<RateLimiter>, max_retries: u32) -> Arc<Client> {
    Arc::new(
        Client::new(ClientConfig {
            base_url: Some(server.base_url()),
            max_retries,
            timeout: Duration::from_secs(10),
            rate_limiter: Some(Arc::clone(limiter)),
            ..ClientConfig::default()
        })
        .expect("client builds"),
    )
}

fn request(body: serde_json::Value) -> Request {
    Request {
        body: serde_json::to_vec(&body).unwrap().into(),
        model: MODEL.into(),
        ..Request::default()
    }
}

fn chat(text: &str, max_tokens: u64) -> Request {
    request(serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": max_tokens,
    }))
}

/// The most any window `[t, t + w)` holds, over windows starting at each arrival.
fn max_window(mut times: Vec<Instant>, w: Duration) -> usize {
    times.sort();
    let mut j = 0;
    let mut best = 0;
    for (i, t) in times.iter().enumerate() {
        while j < times.len() && times[j] < *t + w {
            j += 1;
        }
        best = best.max(j - i);
    }
    best
}

#[test]
fn requests_are_paced_within_every_window_at_the_server() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let rl = limiter(
        Limits {
            rpm: Some(40),
            ..Limits::default()
        },
        Duration::from_secs(1),
    );
    let c = client(&server, &rl, 0);
    runtime::get().block_on(async {
        let tasks: Vec<_> = (0..70)
            .map(|i| {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.chat(chat(&format!("hello {i}"), 5)).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    });
    let times: Vec<Instant> = server.requests().iter().map(|r| r.received_at).collect();
    assert_eq!(times.len(), 70);
    assert!(max_window(times.clone(), Duration::from_secs(1)) <= 40);
    let span = *times.iter().max().unwrap() - *times.iter().min().unwrap();
    let rate = 69.0 / span.as_secs_f64();
    assert!(rate >= 0.95 * 40.0, "{rate} requests/s");
}

#[test]
fn tokens_are_reserved_by_estimate_and_reconciled_with_the_usage() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let rl = limiter(
        Limits {
            tpm: Some(100_000),
            ..Limits::default()
        },
        Duration::from_secs(60),
    );
    let c = client(&server, &rl, 0);
    let req = chat("twelve chars", 500);
    // The prompt is counted exactly (tiktoken's o200k for gpt-4o-mini) plus the max_tokens budget.
    let prompt = count_prompt_tokens(MODEL, &json!([{"role": "user", "content": "twelve chars"}]));
    assert_eq!(estimate_tokens(&req.body, MODEL), prompt + 500);
    let r = runtime::get().block_on(c.chat(req)).unwrap();
    let used = r.usage.unwrap().total_tokens;
    assert_eq!(used, prompt + count_text_tokens(MODEL, "twelve chars"));
    assert_eq!(rl.tokens_in_window(MODEL), used);
}

fn drain(c: &Client, req: Request) {
    runtime::get().block_on(async {
        let mut stream = c.chat_stream(req).await.unwrap();
        let mut out = VecDeque::new();
        while stream.next_batch(&mut out).await.unwrap() {}
    });
}

#[test]
fn a_stream_settles_with_its_usage_chunk_or_keeps_the_estimate() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let rl = limiter(
        Limits {
            tpm: Some(100_000),
            max_concurrency: Some(1),
            ..Limits::default()
        },
        Duration::from_secs(60),
    );
    let c = client(&server, &rl, 0);
    drain(
        &c,
        request(serde_json::json!({
            "model": MODEL,
            "messages": [{"role": "user", "content": "abcdefgh"}],
            "max_tokens": 100,
            "stream": true,
            "stream_options": {"include_usage": true},
        })),
    );
    let prompt = count_prompt_tokens(MODEL, &json!([{"role": "user", "content": "abcdefgh"}]));
    let first = prompt + count_text_tokens(MODEL, "abcdefgh");
    assert_eq!(rl.tokens_in_window(MODEL), first);
    let plain = request(serde_json::json!({
        "model": MODEL,
        "messages": [{"role": "user", "content": "abcdefgh"}],
        "max_tokens": 100,
        "stream": true,
    }));
    drain(&c, plain);
    assert_eq!(rl.tokens_in_window(MODEL), first + prompt + 100);
    // Both streams gave their concurrency slot back.
    let r = runtime::get().block_on(c.chat(chat("x", 1))).unwrap();
    assert_eq!(r.choices.len(), 1);
}

#[test]
fn a_429_refunds_its_tokens_and_pauses_the_key_before_the_retry() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    server.push_faults(vec![Fault {
        retry_after: Some(0.3),
        ..Fault::with_status(429)
    }]);
    let rl = limiter(
        Limits {
            rpm: Some(6000),
            tpm: Some(100_000),
            ..Limits::default()
        },
        Duration::from_secs(60),
    );
    let c = client(&server, &rl, 1);
    let r = runtime::get().block_on(c.chat(chat("retry me", 50))).unwrap();
    let used = r.usage.unwrap().total_tokens;
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert!(reqs[1].received_at - reqs[0].received_at >= Duration::from_millis(300));
    // Only the successful attempt counts its tokens.
    assert_eq!(rl.tokens_in_window(MODEL), used);
    // A 400 is refunded too.
    server.push_faults(vec![Fault::with_status(400)]);
    assert!(runtime::get().block_on(c.chat(chat("bad", 50))).is_err());
    assert_eq!(rl.tokens_in_window(MODEL), used);
}
