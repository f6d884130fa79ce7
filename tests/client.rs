//! The core client against the built-in mock provider over real loopback HTTP, no Python.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use _liter_llm::mock::{Fault, MockConfig, MockServer};
use _liter_llm::types::ChatCompletionChunk;
use _liter_llm::{runtime, Client, ClientConfig, Kind, Request};

fn client(server: &MockServer, max_retries: u32) -> Client {
    Client::new(ClientConfig {
        api_key: _liter_llm::config::Secret::new("sk-rust-test"),
        base_url: Some(server.base_url()),
        max_retries,
        timeout: Duration::from_secs(5),
        ..ClientConfig::default()
    })
    .expect("client builds")
}

fn request(text: &str, stream: bool) -> Request {
    let body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": text}],
        "stream": stream,
    });
    Request {
        body: serde_json::to_vec(&body).unwrap().into(),
        model: "gpt-4o-mini".into(),
        ..Request::default()
    }
}

#[test]
fn chat_round_trip_sends_auth_and_parses_the_answer() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    let c = client(&server, 0);
    let r = runtime::get().block_on(c.chat(request("héllo 世界", false))).unwrap();
    assert_eq!(r.choices[0].message.content.as_deref(), Some("héllo 世界"));
    assert!(r.usage.unwrap().total_tokens > 0);
    let sent = &server.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer sk-rust-test"));
    assert!(sent.header("user-agent").unwrap().starts_with("liter-llm/"));
}

#[test]
fn retries_a_429_after_its_retry_after_then_succeeds() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    server.push_faults(vec![Fault {
        retry_after: Some(0.3),
        ..Fault::with_status(429)
    }]);
    let c = client(&server, 2);
    let started = Instant::now();
    let r = runtime::get().block_on(c.chat(request("again", false))).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(280));
    assert_eq!(r.choices[0].message.content.as_deref(), Some("again"));
    assert_eq!(server.request_count(), 2);
}

#[test]
fn gives_up_with_the_mapped_error_and_never_retries_a_400() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    server.push_faults(vec![Fault::with_status(503), Fault::with_status(503)]);
    let err = runtime::get()
        .block_on(client(&server, 1).chat(request("x", false)))
        .unwrap_err();
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.request_count(), 2);

    server.reset();
    server.push_faults(vec![Fault::with_status(400)]);
    let err = runtime::get()
        .block_on(client(&server, 3).chat(request("x", false)))
        .unwrap_err();
    assert_eq!(err.kind(), Kind::BadRequest);
    assert_eq!(server.request_count(), 1);
    assert!(err.request_id().is_some());
}

#[test]
fn stream_yields_every_piece_then_ends_cleanly() {
    let server = MockServer::start(MockConfig {
        stream_chunks: Some(50),
        ..MockConfig::default()
    })
    .unwrap();
    let c = client(&server, 0);
    let text: String = runtime::get()
        .block_on(async {
            let mut stream = c
                .chat_stream(request("a fairly long reply to split into fifty pieces", true))
                .await?;
            let mut out: VecDeque<ChatCompletionChunk> = VecDeque::new();
            while stream.next_batch(&mut out).await? {}
            assert!(stream.is_done());
            Ok::<_, _liter_llm::Error>(
                out.iter()
                    .filter_map(|c| c.choices.first()?.delta.content.clone())
                    .collect(),
            )
        })
        .unwrap();
    assert_eq!(text, "a fairly long reply to split into fifty pieces");
}

#[test]
fn a_cut_stream_is_an_error_not_a_truncation() {
    let server = MockServer::start(MockConfig::default()).unwrap();
    server.push_faults(vec![Fault {
        cut_after: Some(2),
        ..Fault::default()
    }]);
    let c = client(&server, 0);
    let (got, err) = runtime::get().block_on(async {
        let mut stream = c.chat_stream(request("one two three four five", true)).await.unwrap();
        let mut out = VecDeque::new();
        loop {
            match stream.next_batch(&mut out).await {
                Ok(true) => {}
                Ok(false) => return (out.len(), None),
                Err(e) => return (out.len(), Some(e)),
            }
        }
    });
    assert!(got >= 2, "chunks before the cut are delivered");
    assert_eq!(err.expect("a cut must fail").kind(), Kind::Streaming);
}
