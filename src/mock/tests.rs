//! End-to-end tests of the mock provider over real sockets.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Fault, MockConfig, MockServer};

fn server(config: MockConfig) -> MockServer {
    MockServer::start(config).expect("mock server starts")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client builds")
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    crate::runtime::get().block_on(fut)
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
    error: Option<String>,
}

impl Answer {
    fn json(&self) -> Value {
        assert_eq!(self.error, None);
        serde_json::from_slice(&self.bytes).expect("JSON body")
    }

    fn text(&self) -> String {
        assert_eq!(self.error, None);
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// `data:` payloads of an SSE body.
    fn events(&self) -> Vec<String> {
        sse_payloads(&self.text())
    }
}

fn sse_payloads(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data line").to_owned())
        .collect()
}

fn post(server: &MockServer, body: &Value) -> Answer {
    post_raw(server, "/chat/completions", serde_json::to_vec(body).expect("json"))
}

fn post_raw(server: &MockServer, path: &str, body: Vec<u8>) -> Answer {
    let url = format!("{}{path}", server.base_url());
    block_on(async move {
        let resp = client()
            .post(url)
            .header("content-type", "application/json")
            .header("authorization", "Bearer sk-test")
            .body(body)
            .send()
            .await
            .expect("response head");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut bytes = Vec::new();
        let mut resp = resp;
        let error = loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break None,
                Err(err) => break Some(err.to_string()),
            }
        };
        Answer {
            status,
            headers,
            bytes,
            error,
        }
    })
}

fn chat(content: &str) -> Value {
    json!({
        "model": "gpt-test",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": content}],
    })
}

fn stream_chat(content: &str) -> Value {
    let mut body = chat(content);
    body["stream"] = json!(true);
    body
}

fn contents(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| e.as_str() != "[DONE]")
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn plain_reply_echoes_last_user_message() {
    let server = server(MockConfig::default());
    let answer = post(&server, &chat("Hello there, mock!"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type").as_deref(), Some("application/json"));
    assert!(answer
        .header("x-request-id")
        .is_some_and(|v| v.starts_with("req_mock_")));
    let doc = answer.json();
    assert!(doc["id"].as_str().is_some_and(|id| id.starts_with("chatcmpl-mock-")));
    assert_eq!(doc["object"], "chat.completion");
    assert_eq!(doc["model"], "gpt-test");
    assert!(doc["created"].as_u64().is_some_and(|c| c > 1_600_000_000));
    assert!(doc["system_fingerprint"].is_string());
    let choice = &doc["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Hello there, mock!");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["finish_reason"], "stop");
    // The prompt is billed as the client's counter counts it; the reply in o200k tokens.
    let prompt = crate::tokens::count_prompt_tokens("gpt-test", &chat("Hello there, mock!")["messages"]);
    assert_eq!(doc["usage"]["prompt_tokens"], prompt);
    assert_eq!(doc["usage"]["completion_tokens"], 5);
    assert_eq!(doc["usage"]["total_tokens"], prompt + 5);
    assert_eq!(doc["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(doc["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[test]
fn content_parts_fixed_reply_n_and_fallback() {
    let server = server(MockConfig::default());
    let content = json!([
        {"type": "text", "text": "one"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "two"},
    ]);
    let parts = json!({"model": "m", "messages": [{"role": "user", "content": content}]});
    assert_eq!(
        post(&server, &parts).json()["choices"][0]["message"]["content"],
        "one two"
    );

    let no_user = json!({"model": "m", "messages": [{"role": "system", "content": "sys"}]});
    let doc = post(&server, &no_user).json();
    assert_eq!(doc["choices"][0]["message"]["content"], super::reply::FALLBACK_REPLY);

    let fixed = self::server(MockConfig {
        reply: Some("Fixed answer".into()),
        ..MockConfig::default()
    });
    let mut body = chat("ignored");
    body["n"] = json!(3);
    let doc = post(&fixed, &body).json();
    let choices = doc["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 3);
    for (i, choice) in choices.iter().enumerate() {
        assert_eq!(choice["index"], i);
        assert_eq!(choice["message"]["content"], "Fixed answer");
    }
    // "Fixed answer" is two o200k tokens, billed once per choice.
    assert_eq!(doc["usage"]["completion_tokens"], 6);
}

#[test]
fn max_tokens_truncates_with_length() {
    let server = server(MockConfig::default());
    let mut body = chat("The quick brown fox jumps over the lazy dog");
    body["max_tokens"] = json!(2);
    let doc = post(&server, &body).json();
    assert_eq!(doc["choices"][0]["message"]["content"], "The quick");
    assert_eq!(doc["choices"][0]["finish_reason"], "length");
    assert_eq!(doc["usage"]["completion_tokens"], 2);

    let mut body = stream_chat("The quick brown fox jumps over the lazy dog");
    body["max_completion_tokens"] = json!(1);
    let events = post(&server, &body).events();
    assert_eq!(contents(&events), "The");
    let finish: Value = serde_json::from_str(&events[events.len() - 2]).expect("finish chunk");
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
}

#[test]
fn invalid_requests_and_unknown_paths() {
    let server = server(MockConfig::default());
    for body in [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m"}),
        json!({"model": 3, "messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m", "messages": "hi"}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 0}),
    ] {
        let answer = post(&server, &body);
        assert_eq!(answer.status, 400, "{body}");
        let doc = answer.json();
        assert_eq!(doc["error"]["type"], "invalid_request_error");
        assert!(doc["error"]["message"].is_string());
        assert!(doc["error"].get("param").is_some() && doc["error"].get("code").is_some());
    }
    let answer = post_raw(&server, "/chat/completions", b"{not json".to_vec());
    assert_eq!(answer.status, 400);
    let answer = post_raw(&server, "/nope", b"{}".to_vec());
    assert_eq!(answer.status, 404);
    assert_eq!(answer.json()["error"]["type"], "invalid_request_error");
    assert!(answer.header("x-request-id").is_some());
    // Both spellings of the path work.
    let url = server.base_url().trim_end_matches("/v1").to_owned();
    let answer = block_on(async move {
        let body = serde_json::to_vec(&chat("short path")).unwrap_or_default();
        let resp = client().post(format!("{url}/chat/completions")).body(body).send().await;
        let bytes = resp.expect("response").bytes().await.expect("body");
        serde_json::from_slice::<Value>(&bytes).expect("json")
    });
    assert_eq!(answer["choices"][0]["message"]["content"], "short path");
}

#[test]
fn streaming_shape() {
    let server = server(MockConfig::default());
    let answer = post(&server, &stream_chat("Hello  big\nworld"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type").as_deref(), Some("text/event-stream"));
    let events = answer.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    // role, 3 words, finish
    assert_eq!(chunks.len(), 5);
    let id = chunks[0]["id"].as_str().expect("id").to_owned();
    for chunk in &chunks {
        assert_eq!(chunk["id"], id.as_str());
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["model"], "gpt-test");
        assert_eq!(chunk["created"], chunks[0]["created"]);
        assert!(chunk.get("usage").is_none());
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    let pieces: Vec<&str> = chunks[1..4]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(pieces, vec!["Hello", "  big", "\nworld"]);
    let last = &chunks[4]["choices"][0];
    assert_eq!(last["delta"], json!({}));
    assert_eq!(last["finish_reason"], "stop");
}

#[test]
fn streaming_include_usage_and_n() {
    let server = server(MockConfig::default());
    let mut body = stream_chat("one two");
    body["stream_options"] = json!({"include_usage": true});
    body["n"] = json!(2);
    let events = post(&server, &body).events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("json"))
        .collect();
    // 2 role + 2x2 words + 2 finish + usage
    assert_eq!(chunks.len(), 9);
    let (usage_chunk, rest) = chunks.split_last().expect("chunks");
    for chunk in rest {
        assert_eq!(chunk["usage"], Value::Null);
        assert!(chunk.get("usage").is_some());
    }
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 4);
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens"],
        crate::tokens::count_prompt_tokens("gpt-test", &body["messages"])
    );
    let second: String = rest
        .iter()
        .filter(|c| c["choices"][0]["index"] == 1)
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(second, "one two");
}

#[test]
fn stream_chunks_and_delay() {
    let server = server(MockConfig {
        reply: Some("abcdefghij".into()),
        stream_chunks: Some(4),
        chunk_delay: Duration::from_millis(30),
        ..MockConfig::default()
    });
    let started = Instant::now();
    let events = post(&server, &stream_chat("x")).events();
    // role + 4 pieces + finish + DONE = 7 events, 6 gaps.
    assert!(
        started.elapsed() >= Duration::from_millis(170),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(events.len(), 7);
    let pieces = content_pieces(&events[1..5]);
    assert_eq!(pieces, vec!["abc", "def", "gh", "ij"]);
}

#[test]
fn explicit_stream_pieces() {
    let given = vec![
        "Hel".to_owned(),
        "lo, ".to_owned(),
        "wör".to_owned(),
        "ld! 👋".to_owned(),
    ];
    let server = server(MockConfig {
        stream_pieces: Some(given.clone()),
        ..MockConfig::default()
    });
    let events = post(&server, &stream_chat("ignored")).events();
    let pieces = content_pieces(&events[1..5]);
    assert_eq!(pieces, given);
    assert_eq!(events.len(), 7);
    assert_eq!(
        post(&server, &chat("ignored")).json()["choices"][0]["message"]["content"],
        "Hello, wörld! 👋"
    );
    let mut body = stream_chat("x");
    body["max_tokens"] = json!(1);
    assert_eq!(contents(&post(&server, &body).events()), "Hello");
}

#[test]
fn thousand_chunk_stream_is_fast() {
    let reply = "x".repeat(1000);
    let server = server(MockConfig {
        reply: Some(reply.clone()),
        stream_chunks: Some(1000),
        ..MockConfig::default()
    });
    let started = Instant::now();
    let events = post(&server, &stream_chat("x")).events();
    assert_eq!(events.len(), 1003);
    assert_eq!(contents(&events), reply);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn latency_delays_headers() {
    let server = server(MockConfig {
        latency: Duration::from_millis(80),
        ..MockConfig::default()
    });
    let started = Instant::now();
    assert_eq!(post(&server, &chat("hi")).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(80));
}

#[test]
fn status_faults_with_retry_after() {
    let server = server(MockConfig::default());
    server.push_faults(vec![
        Fault {
            retry_after: Some(2.0),
            retry_after_ms: Some(1500),
            ..Fault::with_status(429)
        },
        Fault {
            headers: vec![("x-custom".into(), "yes".into())],
            ..Fault::with_status(503)
        },
        Fault {
            body: Some(json!("<html>bad gateway</html>")),
            ..Fault::with_status(502)
        },
        Fault {
            body: Some(json!({"error": {"message": "custom"}})),
            ..Fault::with_status(400)
        },
    ]);
    assert_eq!(server.pending_faults(), 4);
    let answer = post(&server, &chat("a"));
    assert_eq!(answer.status, 429);
    assert_eq!(answer.header("retry-after").as_deref(), Some("2"));
    assert_eq!(answer.header("retry-after-ms").as_deref(), Some("1500"));
    let doc = answer.json();
    assert_eq!(doc["error"]["code"], "rate_limit_exceeded");
    assert!(doc["error"]["message"].as_str().is_some_and(|m| m.contains("gpt-test")));

    let answer = post(&server, &stream_chat("a"));
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("x-custom").as_deref(), Some("yes"));
    assert_eq!(answer.json()["error"]["type"], "server_error");

    let answer = post(&server, &chat("a"));
    assert_eq!(answer.status, 502);
    assert_eq!(answer.text(), "<html>bad gateway</html>");
    assert!(answer
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/plain")));

    let answer = post(&server, &chat("a"));
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["message"], "custom");

    // Queue empty: back to normal.
    assert_eq!(server.pending_faults(), 0);
    assert_eq!(post(&server, &chat("fine")).status, 200);

    let mut seen = Vec::new();
    for status in [400u16, 401, 403, 404, 408, 409, 422, 429, 500, 502, 503, 504, 418, 599] {
        server.push_faults(vec![Fault::with_status(status)]);
        let answer = post(&server, &chat("a"));
        assert_eq!(answer.status, status);
        let doc = answer.json();
        assert!(doc["error"]["message"].is_string() && doc["error"]["type"].is_string());
        seen.push(doc["error"]["code"].clone());
    }
    assert_eq!(seen[1], "invalid_api_key");
}

#[test]
fn cut_faults_drop_the_connection() {
    let server = server(MockConfig::default());
    server.push_faults(vec![
        Fault {
            cut_after: Some(2),
            ..Fault::default()
        },
        Fault {
            cut_after: Some(0),
            ..Fault::default()
        },
    ]);
    let answer = post(&server, &stream_chat("one two three four"));
    assert_eq!(answer.status, 200);
    assert!(answer.error.is_some(), "stream is cut");
    let partial = String::from_utf8_lossy(&answer.bytes).into_owned();
    let events = sse_payloads(&partial);
    assert!(!partial.contains("[DONE]"));
    assert_eq!(contents(&events), "one two", "{partial:?}");

    let answer = post(&server, &chat("a longer reply so half is visible"));
    assert_eq!(answer.status, 200);
    assert!(answer.error.is_some());
    assert!(!answer.bytes.is_empty());
    // Next request is served normally on a fresh connection.
    assert_eq!(
        post(&server, &chat("ok")).json()["choices"][0]["message"]["content"],
        "ok"
    );
}

#[test]
fn malformed_and_error_event_faults() {
    let server = server(MockConfig::default());
    server.push_faults(vec![
        Fault {
            malformed: true,
            ..Fault::default()
        },
        Fault {
            malformed: true,
            ..Fault::default()
        },
        Fault {
            error_event: Some(json!("boom")),
            cut_after: Some(1),
            ..Fault::default()
        },
        Fault {
            error_event: Some(json!({"message": "m", "type": "t", "code": "c"})),
            ..Fault::default()
        },
    ]);
    let answer = post(&server, &chat("hello"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.error, None);
    assert!(serde_json::from_slice::<Value>(&answer.bytes).is_err());

    let events = post(&server, &stream_chat("hello")).events();
    assert!(serde_json::from_str::<Value>(&events[1]).is_err(), "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));

    let events = post(&server, &stream_chat("one two three")).events();
    assert_eq!(events.len(), 3);
    assert_eq!(contents(&events), "one");
    let err: Value = serde_json::from_str(&events[2]).expect("error json");
    assert_eq!(err["error"]["message"], "boom");
    assert_eq!(err["error"]["type"], "server_error");

    let events = post(&server, &stream_chat("one two three")).events();
    assert_eq!(events.len(), 2);
    let err: Value = serde_json::from_str(&events[1]).expect("error json");
    assert_eq!(err["error"], json!({"message": "m", "type": "t", "code": "c"}));
}

#[test]
fn delay_and_reply_faults() {
    let server = server(MockConfig {
        reply: Some("configured".into()),
        ..MockConfig::default()
    });
    server.push_faults(vec![
        Fault {
            delay: Some(Duration::from_millis(100)),
            reply: Some("scripted".into()),
            ..Fault::default()
        },
        Fault {
            status: Some(201),
            ..Fault::default()
        },
    ]);
    let started = Instant::now();
    let doc = post(&server, &chat("x")).json();
    assert!(started.elapsed() >= Duration::from_millis(100));
    assert_eq!(doc["choices"][0]["message"]["content"], "scripted");
    let answer = post(&server, &chat("x"));
    assert_eq!(answer.status, 201);
    assert_eq!(answer.json()["choices"][0]["message"]["content"], "configured");
}

#[test]
fn request_log_count_and_reset() {
    let server = server(MockConfig::default());
    let body = chat("logged");
    post(&server, &body);
    let url = format!("{}/chat/completions?debug=1", server.base_url());
    block_on(async move {
        client()
            .post(url)
            .header("X-Trace", "abc")
            .body("{}")
            .send()
            .await
            .map(|_| ())
    })
    .expect("sent");
    server.push_faults(vec![Fault::with_status(500)]);
    post(&server, &body);
    assert_eq!(server.request_count(), 3);
    let log = server.requests();
    assert_eq!(log.len(), 3);
    assert_eq!(log[0].method, "POST");
    assert_eq!(log[0].path, "/v1/chat/completions");
    assert_eq!(log[0].query, None);
    assert_eq!(log[0].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(log[0].json(), Some(body.clone()));
    assert!(log[0].received_at >= server.started_at());
    assert_eq!(log[1].query.as_deref(), Some("debug=1"));
    assert_eq!(log[1].header("x-trace"), Some("abc"));
    assert!(log[1]
        .headers
        .iter()
        .all(|(k, _)| k.chars().all(|c| !c.is_ascii_uppercase())));
    assert_eq!(log[1].body.as_ref(), b"{}");

    server.push_faults(vec![Fault::with_status(500)]);
    server.reset();
    assert_eq!(server.request_count(), 0);
    assert!(server.requests().is_empty());
    assert_eq!(server.pending_faults(), 0);
    assert_eq!(post(&server, &body).status, 200);

    let quiet = self::server(MockConfig {
        record: false,
        ..MockConfig::default()
    });
    post(&quiet, &body);
    post(&quiet, &body);
    assert_eq!(quiet.request_count(), 2);
    assert!(quiet.requests().is_empty());
}

#[test]
fn shutdown_refuses_connections_and_port_conflicts_error() {
    let first = server(MockConfig::default());
    let taken = MockServer::start(MockConfig {
        port: first.port(),
        ..MockConfig::default()
    });
    assert!(taken.is_err());
    assert!(MockServer::start(MockConfig {
        stream_chunks: Some(0),
        ..MockConfig::default()
    })
    .is_err());

    let port = first.port();
    assert!(first.base_url().starts_with("http://127.0.0.1:"));
    // Keep a connection open to check shutdown drops it too.
    let keep = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
    first.shutdown();
    assert!(first.is_closed());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let mut buf = [0u8; 1];
    keep.set_read_timeout(Some(Duration::from_secs(2))).expect("timeout");
    assert!(matches!(std::io::Read::read(&mut &keep, &mut buf), Ok(0) | Err(_)));
    first.shutdown();
}

#[test]
fn concurrent_keep_alive_load() {
    let server = server(MockConfig {
        record: false,
        ..MockConfig::default()
    });
    let url = format!("{}/chat/completions", server.base_url());
    let body = serde_json::to_vec(&chat("load")).unwrap_or_default();
    let ok = block_on(async move {
        let client = client();
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (client, url, body) = (client.clone(), url.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for _ in 0..20 {
                    let resp = client.post(&url).body(body.clone()).send().await;
                    if let Ok(resp) = resp {
                        let bytes = resp.bytes().await.unwrap_or_default();
                        if serde_json::from_slice::<Value>(&bytes).is_ok() {
                            ok += 1;
                        }
                    }
                }
                ok
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap_or(0);
        }
        total
    });
    assert_eq!(ok, 1000);
    assert_eq!(server.request_count(), 1000);
}

/// The `delta.content` of each SSE data payload.
fn content_pieces(events: &[String]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).expect("json")["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

fn with_tools(messages: Value) -> Value {
    json!({
        "model": "gpt-test",
        "messages": messages,
        "tools": [
            {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "time", "parameters": {"type": "object"}}},
        ],
    })
}

#[test]
fn call_lines_become_tool_calls_and_tool_results_are_answered() {
    let server = server(MockConfig::default());
    let ask = json!([{"role": "user", "content": "Help.\ncall:weather {\"city\": \"Paris\"}\ncall:time"}]);
    let doc = post(&server, &with_tools(ask.clone())).json();
    let choice = &doc["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["function"]["name"], "weather");
    assert_eq!(calls[0]["function"]["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(
        (calls[1]["function"]["name"].clone(), calls[1]["type"].clone()),
        (json!("time"), json!("function"))
    );
    assert_ne!(calls[0]["id"], calls[1]["id"]);

    // The tool results that end the conversation are what the model answers (echoed).
    let mut messages = ask.as_array().unwrap().clone();
    messages.push(choice["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": calls[0]["id"], "content": "sunny"}));
    messages.push(json!({"role": "tool", "tool_call_id": calls[1]["id"], "content": "noon"}));
    let doc = post(&server, &with_tools(Value::Array(messages.clone()))).json();
    assert_eq!(doc["choices"][0]["finish_reason"], "stop");
    assert_eq!(doc["choices"][0]["message"]["content"], "sunny\nnoon");

    // A result that is itself a call line asks again; a call of an unknown tool is a 400.
    messages.push(json!({"role": "assistant", "content": "ok"}));
    messages.push(json!({"role": "user", "content": "call:nope"}));
    assert_eq!(post(&server, &with_tools(Value::Array(messages))).status, 400);
    // Without tools, the line is only text.
    let plain = post(
        &server,
        &json!({"model": "m", "messages": [{"role": "user", "content": "call:time"}]}),
    )
    .json();
    assert_eq!(plain["choices"][0]["message"]["content"], "call:time");
}

#[test]
fn streamed_tool_calls_send_ids_names_then_arguments() {
    let server = server(MockConfig::default());
    let mut body = with_tools(json!([{"role": "user", "content": "call:weather {\"city\": \"Oslo\"}"}]));
    body["stream"] = json!(true);
    let events = post(&server, &body).events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let deltas: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap()["choices"][0].clone())
        .collect();
    let opening = &deltas[1]["delta"]["tool_calls"][0];
    assert_eq!(
        (opening["index"].clone(), opening["function"]["name"].clone()),
        (json!(0), json!("weather"))
    );
    assert!(opening["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(
        deltas[2]["delta"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Oslo\"}"
    );
    assert_eq!(deltas.last().unwrap()["finish_reason"], "tool_calls");
}
