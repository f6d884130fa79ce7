use super::*;
use serde_json::json;

fn store() -> (tempfile_dir::Dir, Keys) {
    let dir = tempfile_dir::Dir::new();
    let keys = Keys::open(&dir.path().join("keys.db")).unwrap();
    (dir, keys)
}

/// A temporary directory removed on drop (the crate has no tempfile dependency).
mod tempfile_dir {
    use std::path::{Path, PathBuf};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Self {
            let path =
                std::env::temp_dir().join(format!("liter-llm-keys-{}-{}", std::process::id(), fastrand::u64(..)));
            std::fs::create_dir_all(&path).unwrap();
            Dir(path)
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn request(body: serde_json::Value) -> KeyRequest {
    KeyRequest::parse(&body).unwrap()
}

/// A replica that lists every key again (its listening connection made anew) keeps a key made
/// here once the listing's query had begun, and names one made before it that the listing lacks
/// (deleted meanwhile, or committed as the query ran) to be read again, dropping it only when
/// that read finds it gone.
#[tokio::test]
async fn a_full_listing_drops_a_missing_key_only_once_read_again() {
    let (_dir, keys) = store();
    let (value, key) = keys.generate(&request(json!({}))).await.unwrap();
    let unlisted = |since| {
        keys.learn(pg::Change::All {
            keys: Vec::new(),
            since,
        })
    };
    assert!(unlisted(key.created_at).is_empty(), "made as the query began: kept");
    assert_eq!(unlisted(key.created_at + 1.0), vec![key.token.clone()]);
    assert!(
        keys.find(&value).await.unwrap().is_some(),
        "not dropped before it is read again"
    );
    keys.learn(pg::Change::One(key.token.clone(), Some(key.stored())));
    assert!(
        Arc::ptr_eq(&keys.find(&value).await.unwrap().unwrap(), &key),
        "read again and found: the same key, its spend and limits in memory kept"
    );
    keys.learn(pg::Change::One(key.token.clone(), None));
    assert!(
        keys.find(&value).await.unwrap().is_none(),
        "read again and gone: dropped"
    );
}

#[tokio::test]
async fn keys_are_stored_hashed_and_survive_a_reopen_with_their_spend() {
    let (dir, keys) = store();
    let (value, key) = keys
        .generate(&request(
            json!({"key_alias": "team-a", "max_budget": 1.0, "models": ["m"]}),
        ))
        .await
        .unwrap();
    assert!(value.starts_with("sk-") && value.len() == 35, "{value}");
    assert_eq!(key.token, hash(&value));
    assert!(keys.find(&value).await.unwrap().is_some());
    assert!(keys.find("sk-wrong").await.unwrap().is_none());
    let admission = keys
        .admit(&key, "m", Estimate { tokens: 10, cost: 0.25 })
        .await
        .unwrap();
    keys.settle(admission, Some(0.125), Some(9)).await;
    drop(keys);

    let raw = std::fs::read(dir.path().join("keys.db")).unwrap();
    assert!(
        !raw.windows(value.len()).any(|w| w == value.as_bytes()),
        "the key itself is never written"
    );
    let keys = Keys::open(&dir.path().join("keys.db")).unwrap();
    let key = keys.find(&value).await.unwrap().unwrap();
    let info = key.info();
    assert_eq!(info["spend"], json!(0.125));
    assert_eq!(info["model_spend"], json!({"m": 0.125}));
    assert_eq!(info["key_alias"], json!("team-a"));
}

#[tokio::test]
async fn budgets_count_what_requests_in_flight_reserved() {
    let (_dir, keys) = store();
    let (_, key) = keys.generate(&request(json!({"max_budget": 1.0}))).await.unwrap();
    let estimate = Estimate { tokens: 1, cost: 0.4 };
    let first = keys.admit(&key, "m", estimate).await.unwrap();
    let second = keys.admit(&key, "m", estimate).await.unwrap();
    let third = keys.admit(&key, "m", estimate).await.unwrap();
    let refused = keys.admit(&key, "m", estimate).await.unwrap_err();
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.kind, "budget_exceeded");
    // An answer cheaper than reserved frees room; a failed request frees all of its reservation.
    keys.settle(first, Some(0.1), None).await;
    drop(second);
    let fourth = keys.admit(&key, "m", estimate).await.unwrap();
    keys.settle(third, Some(0.5), None).await;
    keys.settle(fourth, Some(0.5), None).await;
    assert_eq!(key.info()["spend"], json!(1.1));
    assert_eq!(
        keys.admit(&key, "m", estimate).await.unwrap_err().kind,
        "budget_exceeded"
    );
}

#[tokio::test]
async fn limits_answer_429_with_a_retry_after() {
    let (_dir, keys) = store();
    let (_, key) = keys
        .generate(&request(json!({"rpm_limit": 2, "max_parallel_requests": 5})))
        .await
        .unwrap();
    let one = keys.admit(&key, "m", Estimate::default()).await.unwrap();
    let _two = keys.admit(&key, "m", Estimate::default()).await.unwrap();
    drop(one);
    let refused = keys.admit(&key, "m", Estimate::default()).await.unwrap_err();
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    let wait = refused.retry_after.unwrap();
    assert!((1..=61).contains(&wait), "{wait}");

    let (_, key) = keys
        .generate(&request(json!({"max_parallel_requests": 1})))
        .await
        .unwrap();
    let held = keys.admit(&key, "m", Estimate::default()).await.unwrap();
    assert_eq!(
        keys.admit(&key, "m", Estimate::default())
            .await
            .unwrap_err()
            .retry_after,
        Some(1)
    );
    drop(held);
    assert!(keys.admit(&key, "m", Estimate::default()).await.is_ok());

    let (_, key) = keys.generate(&request(json!({"tpm_limit": 100}))).await.unwrap();
    let big = keys.admit(&key, "m", Estimate { tokens: 90, cost: 0.0 }).await.unwrap();
    assert_eq!(
        keys.admit(&key, "m", Estimate { tokens: 20, cost: 0.0 })
            .await
            .unwrap_err()
            .status,
        StatusCode::TOO_MANY_REQUESTS
    );
    // It used 10 of the 90 reserved: the rest is free again.
    keys.settle(big, Some(0.0), Some(10)).await;
    assert!(keys.admit(&key, "m", Estimate { tokens: 20, cost: 0.0 }).await.is_ok());
}

#[tokio::test]
async fn models_expiry_blocking_updates_and_deletes() {
    let (_dir, keys) = store();
    let (value, key) = keys
        .generate(&request(json!({"models": ["a"], "duration": "1h"})))
        .await
        .unwrap();
    assert_eq!(
        keys.admit(&key, "b", Estimate::default()).await.unwrap_err().status,
        StatusCode::FORBIDDEN
    );
    assert!(key.unusable().is_none());
    keys.update(&request(json!({"key": value, "blocked": true, "models": []})))
        .await
        .unwrap();
    assert_eq!(key.unusable(), Some("this key is blocked"));
    assert!(key.allows("b"));
    key.lock().settings.expires = Some(record::now() - 1.0);
    keys.update(&request(json!({"key": key.token, "blocked": false})))
        .await
        .unwrap();
    assert_eq!(key.unusable(), Some("this key has expired"));

    assert_eq!(
        keys.delete(&[value.clone(), "sk-nope".into()]).await.unwrap(),
        std::slice::from_ref(&value)
    );
    assert!(keys.find(&value).await.unwrap().is_none());
    let custom = keys.generate(&request(json!({"key": "sk-my-own-key"}))).await.unwrap();
    assert_eq!(custom.0, "sk-my-own-key");
    let taken = keys
        .generate(&request(json!({"key": "sk-my-own-key"})))
        .await
        .unwrap_err();
    assert!(taken.message.contains("exists"), "{taken:?}");
    assert!(keys.generate(&request(json!({"key": "mine"}))).await.is_err());
}

#[tokio::test]
async fn a_budget_period_starts_the_spend_again() {
    let (_dir, keys) = store();
    let (_, key) = keys
        .generate(&request(json!({"max_budget": 1.0, "budget_duration": "30d"})))
        .await
        .unwrap();
    let admission = keys.admit(&key, "m", Estimate::default()).await.unwrap();
    keys.settle(admission, Some(1.0), None).await;
    assert_eq!(
        keys.admit(&key, "m", Estimate::default()).await.unwrap_err().kind,
        "budget_exceeded"
    );
    let due = record::now() - 1.0;
    key.lock().budget_reset_at = Some(due);
    keys.admit(&key, "m", Estimate::default()).await.unwrap();
    let info = key.info();
    assert_eq!(info["spend"], json!(0.0));
    let next = key.lock().budget_reset_at.unwrap();
    assert!((next - (due + 30.0 * 86_400.0)).abs() < 1e-6, "{next}");
}

#[test]
fn estimates_price_the_prompt_and_the_completion_budget() {
    let body = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}],"max_tokens":1000}"#;
    let estimate = estimate(body, "gpt-4o-mini", &[]);
    assert!(estimate.tokens > 1000, "{estimate:?}");
    // gpt-4o-mini: 0.60 USD per million output tokens.
    assert!(estimate.cost >= 1000.0 * 0.6e-6, "{estimate:?}");
    let group = estimate_of_group(body);
    assert!(group.cost > estimate.cost, "the dearest deployment prices it");
    assert_eq!(super::estimate(body, "no-such-model", &[]).cost, 0.0);
}

fn estimate_of_group(body: &[u8]) -> Estimate {
    super::estimate(body, "my-group", &["openai/gpt-4o-mini", "openai/gpt-4o"])
}

#[test]
fn new_keys_are_random_and_masked_in_lists() {
    let a = new_key_value().unwrap();
    let b = new_key_value().unwrap();
    assert_ne!(a, b);
    assert!(a[3..].bytes().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(masked(&a), format!("sk-...{}", &a[31..]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_spend_is_committed_whole() {
    let (dir, keys) = store();
    let keys = Arc::new(keys);
    let (value, key) = keys.generate(&request(json!({}))).await.unwrap();
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let (keys, key) = (Arc::clone(&keys), Arc::clone(&key));
            tokio::spawn(async move {
                let model = if i % 2 == 0 { "a" } else { "b" };
                let admission = keys.admit(&key, model, Estimate::default()).await.unwrap();
                keys.settle(admission, Some(0.25), None).await;
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    drop(keys);
    let keys = Keys::open(&dir.path().join("keys.db")).unwrap();
    let info = keys.find(&value).await.unwrap().unwrap().info();
    assert_eq!(info["spend"], json!(100.0));
    assert_eq!(info["model_spend"], json!({"a": 50.0, "b": 50.0}));
}

#[tokio::test]
async fn spend_after_close_is_still_written() {
    let (dir, keys) = store();
    let (value, key) = keys.generate(&request(json!({}))).await.unwrap();
    keys.close();
    let admission = keys.admit(&key, "m", Estimate::default()).await.unwrap();
    keys.settle(admission, Some(0.5), None).await;
    let reopened = Keys::open(&dir.path().join("keys.db")).unwrap();
    assert_eq!(
        reopened.find(&value).await.unwrap().unwrap().info()["spend"],
        json!(0.5)
    );
}
