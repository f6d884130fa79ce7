//! The client's cache against the mock provider: what is sent upstream, and what comes back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::{Cache, CacheSettings, Control};
use crate::config::ClientConfig;
use crate::mock::{Fault, MockConfig, MockServer};
use crate::types::ChatCompletionChunk;
use crate::{Client, Request};

fn client(server: &MockServer, cache: &Arc<Cache>) -> Client {
    Client::new(ClientConfig {
        api_key: crate::config::Secret::new("sk-test"),
        base_url: Some(server.base_url()),
        max_retries: 0,
        ..ClientConfig::default()
    })
    .unwrap()
    .with_cache(Some(Arc::clone(cache)))
}

fn memory() -> Arc<Cache> {
    Arc::new(
        Cache::open(CacheSettings {
            url: "memory".into(),
            ..CacheSettings::default()
        })
        .unwrap(),
    )
}

fn chat(body: &str) -> Request {
    Request {
        body: Bytes::from(body.to_owned()),
        model: "gpt-4o-mini".into(),
        ..Request::default()
    }
}

const HI: &str = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}"#;

async fn drain(mut stream: crate::stream::ChatStream) -> Vec<ChatCompletionChunk> {
    let mut out = VecDeque::new();
    while stream.next_batch(&mut out).await.unwrap() {}
    out.into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_chat_is_answered_from_the_cache() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let cache = memory();
    let c = client(&server, &cache);
    let first = c.chat(chat(HI)).await.unwrap();
    let second = c.chat(chat(HI)).await.unwrap();
    assert_eq!(server.request_count(), 1);
    assert!(!first.cache_hit && second.cache_hit);
    assert_eq!(second.choices, first.choices);
    assert_eq!(second.usage, first.usage);
    assert_eq!(second.cost, Some(0.0));
    let totals = c.config().usage.totals();
    assert_eq!((totals.calls, totals.cache_hits), (1, 1));
    assert_eq!(totals.cache_saved_tokens, first.usage.unwrap().total_tokens);

    let warmer = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}],"temperature":0.9}"#;
    c.chat(chat(warmer)).await.unwrap();
    assert_eq!(server.request_count(), 2, "a changed parameter is a new call");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directives_skip_reads_or_writes() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let cache = memory();
    let c = client(&server, &cache);
    let with = |control: Control| Request {
        cache: control,
        ..chat(HI)
    };
    c.chat(with(Control {
        no_store: true,
        ..Control::default()
    }))
    .await
    .unwrap();
    c.chat(chat(HI)).await.unwrap();
    assert_eq!(server.request_count(), 2, "no-store wrote nothing");
    c.chat(with(Control {
        no_cache: true,
        ..Control::default()
    }))
    .await
    .unwrap();
    assert_eq!(server.request_count(), 3, "no-cache read nothing");
    let other = Control {
        namespace: Some("eval-7".into()),
        ..Control::default()
    };
    c.chat(with(other.clone())).await.unwrap();
    c.chat(with(other)).await.unwrap();
    assert_eq!(server.request_count(), 4, "a namespace has its own entries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_calls_make_one_upstream_call() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(200),
        ..MockConfig::default()
    })
    .unwrap();
    let cache = memory();
    let c = Arc::new(client(&server, &cache));
    let calls = (0..50).map(|_| {
        let c = Arc::clone(&c);
        tokio::spawn(async move { c.chat(chat(HI)).await })
    });
    let answers = futures_util::future::join_all(calls).await;
    assert!(answers.into_iter().all(|a| a.unwrap().is_ok()));
    assert_eq!(server.request_count(), 1);
    assert_eq!(cache.stats().joined + cache.stats().hits, 49);
    assert!(cache.flights.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_get_the_leaders_error_and_errors_are_not_stored() {
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(200),
        ..MockConfig::default()
    })
    .unwrap();
    server.push_faults(vec![Fault::with_status(500)]);
    let cache = memory();
    let c = Arc::new(client(&server, &cache));
    let calls = (0..5).map(|_| {
        let c = Arc::clone(&c);
        tokio::spawn(async move { c.chat(chat(HI)).await })
    });
    for answer in futures_util::future::join_all(calls).await {
        assert!(answer.unwrap().is_err());
    }
    assert_eq!(server.request_count(), 1);
    assert!(!c.chat(chat(HI)).await.unwrap().cache_hit);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_replay_chunk_for_chunk_and_serve_plain_calls() {
    let server = MockServer::start(MockConfig {
        stream_chunks: Some(4),
        ..MockConfig::default()
    })
    .unwrap();
    let cache = memory();
    let c = client(&server, &cache);
    let streamed = |s: &str| chat(&s.replace("}]}", "}],\"stream\":true,\"stream_options\":{\"include_usage\":true}}"));
    let live = c.chat_stream(streamed(HI)).await.unwrap();
    assert!(!live.cache_hit());
    let original = drain(live).await;
    let replay = c.chat_stream(streamed(HI)).await.unwrap();
    assert!(replay.cache_hit());
    assert_eq!(drain(replay).await, original);
    let whole = c.chat(chat(HI)).await.unwrap();
    assert!(whole.cache_hit);
    assert_eq!(whole.choices[0].message.content.as_deref(), Some("hello there"));
    assert_eq!(server.request_count(), 1);

    // A plain answer serves a later stream.
    let other = HI.replace("hello there", "good night");
    let plain = c.chat(chat(&other)).await.unwrap();
    let chunks = drain(c.chat_stream(streamed(&other)).await.unwrap()).await;
    let replayed = crate::cache::payload::assemble(&chunks);
    assert_eq!(replayed.choices[0].message.content, plain.choices[0].message.content);
    assert_eq!(replayed.choices[0].finish_reason, plain.choices[0].finish_reason);
    assert_eq!(replayed.usage, plain.usage);
    assert_eq!(server.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_cut_before_its_end_is_not_stored() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    server.push_faults(vec![Fault {
        cut_after: Some(2),
        ..Fault::default()
    }]);
    let cache = memory();
    let c = client(&server, &cache);
    let streamed = chat(&HI.replace("}]}", "}],\"stream\":true}"));
    let mut stream = c.chat_stream(streamed.clone()).await.unwrap();
    let mut out = VecDeque::new();
    let mut failed = false;
    loop {
        match stream.next_batch(&mut out).await {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the cut stream fails");
    let again = c.chat_stream(streamed).await.unwrap();
    assert!(!again.cache_hit());
    drain(again).await;
    assert_eq!(server.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_send_only_the_inputs_not_cached() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let cache = memory();
    let c = client(&server, &cache);
    let embed = |inputs: &[&str]| Request {
        body: Bytes::from(serde_json::json!({"model":"text-embedding-3-small","input":inputs}).to_string()),
        model: "text-embedding-3-small".into(),
        ..Request::default()
    };
    let first = c.embeddings(embed(&["a", "b", "c"])).await.unwrap();
    let mixed = c.embeddings(embed(&["b", "x", "a", "y"])).await.unwrap();
    let sent = server.requests();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].json().unwrap()["input"], serde_json::json!(["x", "y"]));
    assert_eq!(mixed.data.len(), 4);
    assert_eq!(mixed.data[0].embedding, first.data[1].embedding);
    assert_eq!(mixed.data[2].embedding, first.data[0].embedding);
    assert!(mixed.data.iter().zip(0u32..).all(|(d, i)| d.index == i));
    assert!(!mixed.cache_hit);
    let all = c.embeddings(embed(&["y", "c"])).await.unwrap();
    assert!(all.cache_hit);
    assert_eq!(server.request_count(), 2);
    assert_eq!(all.data[1].embedding, first.data[2].embedding);
}

fn redis_cache(url: &str) -> Arc<Cache> {
    Arc::new(
        Cache::open(CacheSettings {
            url: url.to_owned(),
            ..CacheSettings::default()
        })
        .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_concurrent_calls_of_two_processes_make_one_upstream_call() {
    let redis = crate::redis_link::server::RedisServer::start();
    let server = MockServer::start(MockConfig {
        latency: Duration::from_millis(300),
        ..MockConfig::default()
    })
    .unwrap();
    // Two caches on one Redis stand for two processes: each its own flights and claims.
    let (a, b) = (redis_cache(&redis.url()), redis_cache(&redis.url()));
    let clients = [Arc::new(client(&server, &a)), Arc::new(client(&server, &b))];
    let calls = (0..20).map(|i| {
        let c = Arc::clone(&clients[i % 2]);
        tokio::spawn(async move { c.chat(chat(HI)).await })
    });
    let answers: Vec<_> = futures_util::future::join_all(calls).await;
    let texts: Vec<String> = answers
        .into_iter()
        .map(|a| {
            a.unwrap().unwrap().choices[0]
                .message
                .content
                .clone()
                .unwrap_or_default()
        })
        .collect();
    assert!(texts.iter().all(|t| t == "hello there"), "{texts:?}");
    assert_eq!(server.request_count(), 1, "one upstream call between both processes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_claimed_by_a_dead_process_is_made_once_its_claim_runs_out() {
    let redis = crate::redis_link::server::RedisServer::start();
    let server = MockServer::start(MockConfig::default()).unwrap();
    let cache = redis_cache(&redis.url());
    let c = client(&server, &cache);
    let mut request = chat(HI);
    let key = super::store::Key([9; 32]);
    request.cache.key = Some(key);
    // A process claimed this call and died: its claim lasts 800 ms more, and no answer comes.
    let dead = crate::cache::redis::RedisStore::new(&redis.url(), Duration::from_secs(2)).unwrap();
    assert!(
        super::store::Store::claim(&dead, &key, "dead", Duration::from_millis(800))
            .await
            .unwrap()
    );
    let started = std::time::Instant::now();
    let answer = c.chat(request).await.unwrap();
    assert!(!answer.cache_hit);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "did not wait for the claim: {:?}",
        started.elapsed()
    );
    assert_eq!(server.request_count(), 1);
}
