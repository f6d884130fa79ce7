//! Tests of usage tracking: token breakdowns of provider usage, recording, pricing and
//! concurrent updates.

use super::*;
use crate::types::CompletionTokensDetails;
use serde_json::json;

fn usage(v: Value) -> Usage {
    serde_json::from_value(v).unwrap()
}

#[test]
fn breakdown_of_provider_usage() {
    let openai = breakdown(json!({
        "prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 60}, "completion_tokens_details": {"reasoning_tokens": 5}}));
    assert_eq!(
        (
            openai.prompt,
            openai.input,
            openai.cached,
            openai.completion,
            openai.reasoning
        ),
        (100, 40, 60, 20, 5)
    );
    let anthropic = breakdown(json!({
        "input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50}));
    assert_eq!(
        (
            anthropic.prompt,
            anthropic.input,
            anthropic.cached,
            anthropic.cache_write
        ),
        (160, 10, 100, 50)
    );
    // A gateway that normalised Anthropic usage into OpenAI's shape: counts are included.
    let gateway = breakdown(json!({
        "prompt_tokens": 160, "completion_tokens": 5, "prompt_tokens_details": {"cached_tokens": 100},
        "cache_read_input_tokens": 100, "cache_creation_input_tokens": 50}));
    assert_eq!(
        (gateway.prompt, gateway.input, gateway.cached, gateway.cache_write),
        (160, 10, 100, 50)
    );
    assert_eq!(
        TokenBreakdown::from_usage(&Usage::default()),
        Some(TokenBreakdown::default())
    );
}

fn breakdown(value: Value) -> TokenBreakdown {
    TokenBreakdown::from_usage(&usage(value)).expect("plausible usage")
}

#[test]
fn absurd_usage_is_unknown_and_counters_saturate() {
    let huge = [
        json!({"prompt_tokens": 1e30, "completion_tokens": 1, "total_tokens": 2}),
        json!({"prompt_tokens": 1, "completion_tokens": i64::MAX}),
        json!({"prompt_tokens": 1, "cache_read_input_tokens": u64::MAX, "cache_creation_input_tokens": u64::MAX}),
        json!({"input_tokens": i64::MAX, "output_tokens": 1}),
        json!({"prompt_tokens": 10, "completion_tokens": 10,
               "completion_tokens_details": {"reasoning_tokens": i64::MAX}, "total_tokens": 30}),
        json!({"prompt_tokens": MAX_CALL_TOKENS + 1}),
    ];
    for value in huge {
        assert_eq!(TokenBreakdown::from_usage(&usage(value.clone())), None, "{value}");
    }
    assert!(TokenBreakdown::from_usage(&usage(json!({"prompt_tokens": MAX_CALL_TOKENS}))).is_some());
    let counter = AtomicU64::new(u64::MAX - 1);
    add(&counter, 10);
    assert_eq!(counter.load(Relaxed), u64::MAX);
}

#[test]
fn huge_counts_are_unknown_without_overflowing() {
    let max = u64::MAX;
    let anthropic = usage(json!({"input_tokens": max, "output_tokens": max,
        "cache_read_input_tokens": max, "cache_creation_input_tokens": max}));
    assert_eq!(TokenBreakdown::from_usage(&anthropic), None);
    for total in [max, 2] {
        let openai = Usage {
            prompt_tokens: max,
            completion_tokens: max,
            total_tokens: total,
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: Some(max),
                ..CompletionTokensDetails::default()
            }),
            ..Usage::default()
        };
        assert_eq!(TokenBreakdown::from_usage(&openai), None, "{total}");
    }
}

#[test]
fn records_and_summarises() {
    let t = UsageTracker::new();
    let u = usage(
        json!({"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 50}}),
    );
    t.record_success(
        "gpt-4o-mini",
        Some(&u),
        Duration::from_millis(200),
        None,
        1,
        Some(0.001),
    );
    t.record_success(
        "gpt-4o-mini",
        Some(&u),
        Duration::from_millis(400),
        Some(Duration::from_millis(50)),
        0,
        Some(0.002),
    );
    t.record_success("local", None, Duration::from_millis(300), None, 0, None);
    t.record_failure("gpt-4o", Duration::from_secs(2), 3);
    let s = t.totals();
    assert_eq!(
        (s.calls, s.failures, s.retries, s.unpriced_calls, s.streams),
        (4, 1, 4, 1, 1)
    );
    assert_eq!(
        (s.prompt_tokens, s.completion_tokens, s.cached_tokens, s.total_tokens),
        (200, 40, 100, 240)
    );
    assert!((s.total_cost - 0.003).abs() < 1e-12);
    assert!((s.mean_latency.unwrap() - 0.3).abs() < 1e-9);
    assert_eq!(s.mean_failure_latency, Some(2.0));
    assert_eq!(s.mean_ttft, Some(0.05));
    let per = t.per_model();
    assert_eq!(
        per.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["gpt-4o", "gpt-4o-mini", "local"]
    );
    assert_eq!(per[1].1.calls, 2);
    let text = t.to_string();
    assert!(text.contains("calls: 4 (1 failed, 4 retries)"), "{text}");
    assert!(text.contains("gpt-4o-mini: 2 calls"), "{text}");
    assert_eq!(t.details()["per_model"]["gpt-4o"]["failures"], 1);
    t.reset();
    assert_eq!(t.totals(), StatsSnapshot::default());
    assert!(t.per_model().is_empty());
}

#[test]
fn priced_and_unpriced_calls_are_counted_apart() {
    let t = UsageTracker::new();
    let tokens = breakdown(json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100}));
    let cost = crate::pricing::price("gpt-4o-mini", Some("gpt-4o-mini-2024-07-18"), &tokens);
    assert!((cost.unwrap() - (1000.0 * 0.15 + 100.0 * 0.6) / 1e6).abs() < 1e-12);
    assert_eq!(crate::pricing::price("my-local", Some(""), &tokens), None);
    t.record_tokens("gpt-4o-mini", &tokens, Duration::from_millis(5), None, 0, cost);
    t.record_tokens("my-local", &tokens, Duration::ZERO, None, 0, None);
    t.record_tokens("gpt-4o", &TokenBreakdown::default(), Duration::ZERO, None, 0, None);
    let s = t.totals();
    assert_eq!((s.calls, s.unpriced_calls, s.prompt_tokens), (3, 2, 2000));
    assert!((s.total_cost - cost.unwrap()).abs() < 1e-9);
    assert_eq!(t.per_model()[0].0, "gpt-4o");
}

#[test]
fn concurrent_updates_are_not_lost() {
    let t = Arc::new(UsageTracker::new());
    let u = usage(json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (t, u) = (t.clone(), u.clone());
            std::thread::spawn(move || {
                let model = format!("m{}", i % 3);
                for j in 0..5_000u64 {
                    if j % 10 == 0 {
                        t.record_failure(&model, Duration::from_millis(j % 7), 1);
                    } else {
                        t.record_success(&model, Some(&u), Duration::from_micros(j), None, 0, Some(0.000_001));
                    }
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    let s = t.totals();
    assert_eq!(s.calls, 40_000);
    assert_eq!(s.failures, 4_000);
    assert_eq!(s.retries, 4_000);
    assert_eq!(s.prompt_tokens, 36_000 * 3);
    assert_eq!(s.total_tokens, 36_000 * 5);
    assert!((s.total_cost - 0.036).abs() < 1e-9);
    assert_eq!(t.stats().latency().count(), 36_000);
    let per: u64 = t.per_model().iter().map(|(_, s)| s.calls).sum();
    assert_eq!(per, 40_000);
}
