//! The mock's Messages API over real sockets, read back through the Anthropic translation, so
//! the mock and the translator are checked against each other.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::error::Kind;
use crate::mock::{Fault, MockConfig, MockServer};
use crate::providers::adapter::StreamTranslator;
use crate::providers::anthropic::{chat_request, chat_response, error_from_response, StreamState, API_VERSION};
use crate::sse::Decoder;
use crate::types::ChatCompletionChunk;

fn server(config: MockConfig) -> MockServer {
    MockServer::start(config).expect("mock server starts")
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
    /// Set when the body broke off (a cut connection).
    error: Option<String>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).expect("JSON body")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Event names of an SSE body, in order.
    fn event_names(&self) -> Vec<String> {
        let text = String::from_utf8_lossy(&self.bytes);
        text.lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .map(str::to_owned)
            .collect()
    }
}

/// Posts raw bytes to `/v1/messages` with the given headers.
fn post_with(server: &MockServer, body: Vec<u8>, headers: &[(&str, &str)]) -> Answer {
    let url = format!("{}/messages", server.base_url());
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    crate::runtime::get().block_on(async move {
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let mut req = client.post(url).header("content-type", "application/json").body(body);
        for (name, value) in headers {
            req = req.header(name, value);
        }
        let mut resp = req.send().await.expect("response head");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let mut bytes = Vec::new();
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

const AUTH: &[(&str, &str)] = &[("x-api-key", "sk-ant-test"), ("anthropic-version", API_VERSION)];

/// Translates an OpenAI-shaped body and posts it like the client will.
fn post_openai(server: &MockServer, openai: &Value) -> Answer {
    let Value::Object(map) = openai else { panic!("object") };
    post_with(server, chat_request(map).expect("translates"), AUTH)
}

fn post_native(server: &MockServer, body: &Value) -> Answer {
    post_with(server, serde_json::to_vec(body).expect("json"), AUTH)
}

fn ask(text: &str) -> Value {
    json!({"model": "claude-mock", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": text},
    ]})
}

fn streamed(text: &str) -> Value {
    let mut body = ask(text);
    body["stream"] = json!(true);
    body
}

/// Feeds an SSE body through the translator.
fn translate_stream(bytes: &[u8]) -> (StreamState, Vec<ChatCompletionChunk>, Option<crate::Error>) {
    let mut decoder = Decoder::new();
    decoder.feed(bytes);
    let mut state = StreamState::new();
    let mut out = VecDeque::new();
    let mut error = None;
    while let Some(event) = decoder.next_event().expect("valid SSE") {
        if let Err(err) = state.on_event(&event, &mut out) {
            error = Some(err);
            break;
        }
    }
    (state, out.into_iter().collect(), error)
}

fn content(chunks: &[ChatCompletionChunk]) -> String {
    chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.as_deref())
        .collect()
}

fn finish(chunks: &[ChatCompletionChunk]) -> Vec<String> {
    chunks
        .iter()
        .filter_map(|c| c.choices.first()?.finish_reason.clone())
        .collect()
}

#[test]
fn plain_answer_echoes_and_translates() {
    let server = server(MockConfig::default());
    let answer = post_openai(&server, &ask("Hello there, Claude!"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let raw = answer.json();
    assert_eq!(raw["type"], "message");
    assert_eq!(raw["stop_reason"], "end_turn");
    let r = chat_response(&answer.bytes).expect("translator reads the mock");
    assert!(r.id.starts_with("msg_mock_"), "{}", r.id);
    assert_eq!(r.model, "claude-mock");
    assert_eq!(r.choices[0].message.content.as_deref(), Some("Hello there, Claude!"));
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = r.usage.expect("usage");
    assert!(usage.prompt_tokens > 0);
    assert_eq!(usage.completion_tokens, 5);
    assert_eq!(usage.total_tokens, usage.prompt_tokens + 5);

    // The request the mock saw is the translated one, with the system prompt lifted out.
    let sent = server.requests().pop().expect("recorded").json().expect("json body");
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(sent["max_tokens"], crate::providers::anthropic::DEFAULT_MAX_TOKENS);
}

#[test]
fn headers_are_required() {
    let server = server(MockConfig::default());
    let body =
        serde_json::to_vec(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}))
            .expect("json");
    let no_key = post_with(&server, body.clone(), &[("anthropic-version", API_VERSION)]);
    assert_eq!(no_key.status, 401);
    assert_eq!(no_key.json()["error"]["type"], "authentication_error");
    let err = error_from_response(no_key.status, &no_key.bytes);
    assert_eq!(err.kind(), Kind::Authentication);
    assert_eq!(err.message(), "x-api-key header is required");

    let no_version = post_with(&server, body, &[("x-api-key", "k")]);
    assert_eq!(no_version.status, 400);
    assert_eq!(no_version.json()["type"], "error");
    assert_eq!(error_from_response(400, &no_version.bytes).kind(), Kind::BadRequest);
}

#[test]
fn invalid_bodies_are_rejected_like_anthropic() {
    let server = server(MockConfig::default());
    let user = json!([{"role": "user", "content": "x"}]);
    for (body, needle) in [
        (json!({"model": "m", "messages": user}), "max_tokens: Field required"),
        (json!({"max_tokens": 5, "messages": user}), "model: Field required"),
        (
            json!({"model": "m", "max_tokens": 5, "messages": []}),
            "at least one message",
        ),
        (json!({"model": "m", "max_tokens": 0, "messages": user}), "max_tokens"),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": user, "n": 1}),
            "n: Extra inputs are not permitted",
        ),
    ] {
        let answer = post_native(&server, &body);
        assert_eq!(answer.status, 400, "{body}");
        let doc = answer.json();
        assert_eq!(doc["error"]["type"], "invalid_request_error");
        let message = doc["error"]["message"].as_str().expect("message");
        assert!(message.contains(needle), "{message} should mention {needle}");
        assert_eq!(error_from_response(400, &answer.bytes).kind(), Kind::BadRequest);
    }
}

#[test]
fn translated_requests_carry_no_openai_only_keys() {
    // Every OpenAI parameter the translator drops would make the mock answer 400.
    let server = server(MockConfig::default());
    let mut body = ask("fine");
    let extras = json!({"n": 1, "stop": ["END"], "user": "u1", "seed": 3, "stream_options": {"include_usage": true},
        "frequency_penalty": 0.1, "presence_penalty": 0.1, "logprobs": false, "max_completion_tokens": 50,
        "parallel_tool_calls": true, "response_format": {"type": "text"}, "temperature": 0.5});
    for (k, v) in extras.as_object().expect("object") {
        body[k] = v.clone();
    }
    let answer = post_openai(&server, &body);
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.bytes));
    assert_eq!(
        chat_response(&answer.bytes).expect("ok").choices[0]
            .message
            .content
            .as_deref(),
        Some("fine")
    );
}

#[test]
fn max_tokens_truncates_with_length() {
    let server = server(MockConfig::default());
    let mut body = ask("one two three four five six seven eight");
    body["max_tokens"] = json!(2);
    let r = chat_response(&post_openai(&server, &body).bytes).expect("ok");
    assert_eq!(r.choices[0].message.content.as_deref(), Some("one two"));
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("length"));
    assert_eq!(r.usage.expect("usage").completion_tokens, 2);

    body["stream"] = json!(true);
    let (state, chunks, error) = translate_stream(&post_openai(&server, &body).bytes);
    assert!(error.is_none() && state.finished());
    assert_eq!(content(&chunks), "one two");
    assert_eq!(finish(&chunks), ["length"]);
}

fn with_tools(text: &str) -> Value {
    let mut body = ask(text);
    body["tools"] = json!([{"type": "function", "function": {
        "name": "get_weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }}]);
    body
}

#[test]
fn call_convention_answers_with_tool_use() {
    let server = server(MockConfig::default());
    let answer = post_openai(&server, &with_tools(r#"call:get_weather {"city":"Paris"}"#));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["content"][0]["type"], "tool_use");
    let r = chat_response(&answer.bytes).expect("ok");
    let choice = &r.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(choice.message.content, None);
    let call = &choice.message.tool_calls.as_ref().expect("tool calls")[0];
    assert!(call.id.starts_with("toolu_mock_"));
    assert_eq!(call.function.name, "get_weather");
    let args: Value = serde_json::from_str(&call.function.arguments).expect("JSON arguments");
    assert_eq!(args, json!({"city": "Paris"}));

    // Second turn: the tool result goes back and the mock echoes it.
    let mut next = with_tools(r#"call:get_weather {"city":"Paris"}"#);
    let messages = next["messages"].as_array_mut().expect("messages");
    messages.push(json!({"role": "assistant", "content": null, "tool_calls": [
        {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": call.function.arguments}},
    ]}));
    messages.push(json!({"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21C"}));
    let r = chat_response(&post_openai(&server, &next).bytes).expect("ok");
    assert_eq!(r.choices[0].message.content.as_deref(), Some("Sunny, 21C"));
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));

    // Without tools the text is echoed; an unknown tool or bad input is a 400.
    let plain = chat_response(&post_openai(&server, &ask("call:get_weather {}")).bytes).expect("ok");
    assert_eq!(plain.choices[0].message.content.as_deref(), Some("call:get_weather {}"));
    assert_eq!(post_openai(&server, &with_tools("call:nope {}")).status, 400);
    assert_eq!(post_openai(&server, &with_tools("call:get_weather [1]")).status, 400);
    let bare = chat_response(&post_openai(&server, &with_tools("call:get_weather")).bytes).expect("ok");
    assert_eq!(
        bare.choices[0].message.tool_calls.as_ref().expect("calls")[0]
            .function
            .arguments,
        "{}"
    );
}

#[test]
fn streamed_tool_call_reassembles() {
    let server = server(MockConfig::default());
    let mut body = with_tools(r#"call:get_weather {"city":"Paris","unit":"celsius"}"#);
    body["stream"] = json!(true);
    let answer = post_openai(&server, &body);
    let names = answer.event_names();
    assert_eq!(names.iter().filter(|n| *n == "content_block_delta").count(), 3);
    let (state, chunks, error) = translate_stream(&answer.bytes);
    assert!(error.is_none() && state.finished());
    let deltas: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.tool_calls.as_ref())
        .flatten()
        .collect();
    assert!(deltas.iter().all(|d| d.index == 0));
    assert_eq!(
        deltas[0].function.as_ref().and_then(|f| f.name.as_deref()),
        Some("get_weather")
    );
    let args: String = deltas
        .iter()
        .filter_map(|d| d.function.as_ref()?.arguments.as_deref())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&args).expect("JSON"),
        json!({"city": "Paris", "unit": "celsius"})
    );
    assert_eq!(finish(&chunks), ["tool_calls"]);
}

#[test]
fn stream_sends_the_documented_event_sequence() {
    let server = server(MockConfig::default());
    let plain = chat_response(&post_openai(&server, &ask("Hello big world")).bytes).expect("ok");
    let answer = post_openai(&server, &streamed("Hello big world"));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("text/event-stream; charset=utf-8"));
    assert_eq!(
        answer.event_names(),
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let (state, chunks, error) = translate_stream(&answer.bytes);
    assert!(error.is_none());
    assert!(state.finished());
    assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
    assert_eq!(content(&chunks), "Hello big world");
    assert_eq!(finish(&chunks), ["stop"]);
    let usage = chunks.last().and_then(|c| c.usage.clone()).expect("usage chunk");
    assert_eq!(Some(usage), plain.usage, "streamed and plain usage agree");
}

#[test]
fn stream_pieces_chunks_and_delay() {
    let server = server(MockConfig {
        stream_pieces: Some(vec!["Hel".into(), "lo".into()]),
        chunk_delay: Duration::from_millis(30),
        ..MockConfig::default()
    });
    let started = Instant::now();
    let answer = post_openai(&server, &streamed("ignored"));
    // Nine events, 30 ms apart.
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "{:?}",
        started.elapsed()
    );
    let (_, chunks, _) = translate_stream(&answer.bytes);
    let pieces: Vec<_> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.as_deref())
        .filter(|t| !t.is_empty())
        .collect();
    assert_eq!(pieces, ["Hel", "lo"]);

    let server = self::server(MockConfig {
        stream_chunks: Some(4),
        reply: Some("abcdefgh".into()),
        ..MockConfig::default()
    });
    let answer = post_openai(&server, &streamed("x"));
    assert_eq!(
        answer
            .event_names()
            .iter()
            .filter(|n| *n == "content_block_delta")
            .count(),
        4
    );
    assert_eq!(content(&translate_stream(&answer.bytes).1), "abcdefgh");
}

#[test]
fn status_faults_use_anthropic_error_shapes() {
    let server = server(MockConfig::default());
    server.push_faults(vec![
        Fault::with_status(529),
        Fault {
            retry_after: Some(2.0),
            ..Fault::with_status(429)
        },
        Fault::with_status(500),
        Fault {
            status: Some(400),
            body: Some(json!({"type": "error", "error": {"type": "invalid_request_error",
                "message": "prompt is too long: 210000 tokens > 200000 maximum"}})),
            ..Fault::default()
        },
    ]);
    let overloaded = post_openai(&server, &ask("x"));
    assert_eq!(overloaded.status, 529);
    assert_eq!(
        overloaded.json(),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    let err = error_from_response(529, &overloaded.bytes);
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.message(), "Overloaded");

    let limited = post_openai(&server, &ask("x"));
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("2"));
    assert_eq!(limited.json()["error"]["type"], "rate_limit_error");
    assert_eq!(error_from_response(429, &limited.bytes).kind(), Kind::RateLimited);

    let server_error = post_openai(&server, &ask("x"));
    assert_eq!(server_error.json()["error"]["type"], "api_error");
    assert_eq!(error_from_response(500, &server_error.bytes).kind(), Kind::Server);

    let too_long = post_openai(&server, &ask("x"));
    assert_eq!(
        error_from_response(400, &too_long.bytes).kind(),
        Kind::ContextWindowExceeded
    );

    assert_eq!(post_openai(&server, &ask("after")).status, 200, "faults are consumed");
}

#[test]
fn stream_faults_error_event_cut_and_malformed() {
    let server = server(MockConfig::default());
    server.push_faults(vec![
        Fault {
            error_event: Some(json!({"type": "overloaded_error", "message": "Overloaded"})),
            cut_after: Some(1),
            ..Fault::default()
        },
        Fault {
            error_event: Some(json!("boom")),
            ..Fault::default()
        },
        Fault {
            cut_after: Some(2),
            ..Fault::default()
        },
        Fault {
            malformed: true,
            ..Fault::default()
        },
        Fault {
            reply: Some("scripted reply".into()),
            ..Fault::default()
        },
    ]);
    let overloaded = post_openai(&server, &streamed("one two three"));
    assert_eq!(overloaded.error, None, "an error event ends the body cleanly");
    assert_eq!(overloaded.event_names().last().map(String::as_str), Some("error"));
    let (state, chunks, error) = translate_stream(&overloaded.bytes);
    let err = error.expect("error event");
    assert_eq!(err.kind(), Kind::ServiceUnavailable);
    assert_eq!(err.message(), "Overloaded");
    assert_eq!(content(&chunks), "one");
    assert!(!state.finished());

    let boom = translate_stream(&post_openai(&server, &streamed("one two")).bytes);
    let err = boom.2.expect("error event");
    assert_eq!((err.kind(), err.message()), (Kind::Server, "boom"));
    assert_eq!(content(&boom.1), "");

    let cut = post_openai(&server, &streamed("one two three four"));
    assert!(cut.error.is_some(), "the connection is dropped");
    let (state, chunks, error) = translate_stream(&cut.bytes);
    assert!(error.is_none());
    assert!(!state.finished(), "EOF before message_stop is a truncated stream");
    assert_eq!(content(&chunks), "one two");

    let broken = translate_stream(&post_openai(&server, &streamed("x")).bytes);
    assert_eq!(broken.2.expect("undecodable").kind(), Kind::Streaming);

    let r = chat_response(&post_openai(&server, &with_tools("call:get_weather {}")).bytes).expect("ok");
    assert_eq!(
        r.choices[0].message.content.as_deref(),
        Some("scripted reply"),
        "a fault reply wins"
    );
}

#[test]
fn non_stream_malformed_cut_and_latency() {
    let server = server(MockConfig {
        latency: Duration::from_millis(60),
        ..MockConfig::default()
    });
    server.push_faults(vec![
        Fault {
            malformed: true,
            ..Fault::default()
        },
        Fault {
            cut_after: Some(0),
            ..Fault::default()
        },
    ]);
    let started = Instant::now();
    let malformed = post_openai(&server, &ask("hello"));
    assert!(started.elapsed() >= Duration::from_millis(60));
    assert_eq!(malformed.status, 200);
    assert_eq!(
        chat_response(&malformed.bytes).expect_err("half a body").kind(),
        Kind::Serialization
    );
    let cut = post_openai(&server, &ask("hello"));
    assert!(cut.error.is_some());

    // Header checks come before faults and consume none.
    server.push_faults(vec![Fault::with_status(529)]);
    let body =
        serde_json::to_vec(&json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}))
            .expect("json");
    assert_eq!(post_with(&server, body, &[]).status, 401);
    assert_eq!(server.pending_faults(), 1);
}
