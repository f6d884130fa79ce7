//! End-to-end tests of the Gemini mock through the Gemini translation: generation, streaming,
//! embeddings, conventions, errors and faults.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::error::{Error, Kind};
use crate::mock::{Fault, MockConfig, MockServer};
use crate::providers::adapter::StreamTranslator;
use crate::providers::gemini::{
    chat_path, chat_request, chat_response, embed_request, embed_response, error_from_response, StreamState,
};
use crate::sse::Decoder;
use crate::types::ChatCompletionChunk;

fn server(config: MockConfig) -> MockServer {
    MockServer::start(config).expect("mock server starts")
}

fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    crate::runtime::get().block_on(fut)
}

/// POSTs `body` to `/v1beta/{path}`; returns the status, the body read so far, and whether
/// the read failed (cut connection).
fn post(server: &MockServer, path: &str, body: Vec<u8>, key: bool) -> (u16, Vec<u8>, bool) {
    let url = format!("http://127.0.0.1:{}/v1beta/{path}", server.port());
    block_on(async move {
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        let mut req = client.post(url).header("content-type", "application/json").body(body);
        if key {
            req = req.header("x-goog-api-key", "AIza-test");
        }
        let mut resp = req.send().await.expect("response head");
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
                Ok(None) => break (status, bytes, false),
                Err(_) => break (status, bytes, true),
            }
        }
    })
}

fn openai(messages: Value, extra: Value) -> Map<String, Value> {
    let mut body = json!({"model": "gemini-2.5-flash", "messages": messages});
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        b.extend(e);
    }
    match body {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn user(text: &str) -> Value {
    json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}])
}

fn chat(server: &MockServer, body: &Map<String, Value>) -> Result<crate::types::ChatCompletionResponse, Error> {
    let (status, bytes, _) = post(
        server,
        &chat_path("gemini-2.5-flash", false).unwrap(),
        chat_request(body).unwrap(),
        true,
    );
    if status >= 400 {
        return Err(error_from_response(status, &bytes));
    }
    chat_response(&bytes, "gemini-2.5-flash")
}

/// Streams `body` through `StreamState`: the chunks, then the error or cut if any.
fn stream(server: &MockServer, body: &Map<String, Value>) -> (Vec<ChatCompletionChunk>, Option<Error>, bool) {
    let (status, bytes, cut) = post(
        server,
        &chat_path("gemini-2.5-flash", true).unwrap(),
        chat_request(body).unwrap(),
        true,
    );
    if status >= 400 {
        return (Vec::new(), Some(error_from_response(status, &bytes)), false);
    }
    let mut decoder = Decoder::new();
    decoder.feed(&bytes);
    let mut state = StreamState::new("gemini-2.5-flash");
    let mut out = VecDeque::new();
    while let Some(event) = decoder.next_event().expect("valid SSE") {
        if let Err(err) = state.on_event(&event, &mut out) {
            return (out.into_iter().collect(), Some(err), cut);
        }
    }
    assert_eq!(
        state.finished(),
        !cut,
        "a finished stream is exactly one that was not cut"
    );
    (out.into_iter().collect(), None, cut)
}

fn text_of(chunks: &[ChatCompletionChunk]) -> String {
    chunks
        .iter()
        .flat_map(|c| c.choices.iter())
        .filter_map(|c| c.delta.content.clone())
        .collect()
}

#[test]
fn generate_echoes_through_the_translator() {
    let server = server(MockConfig::default());
    let r = chat(&server, &openai(user("Hello Gemini"), json!({}))).unwrap();
    assert_eq!(r.choices[0].message.content.as_deref(), Some("Hello Gemini"));
    assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.model, "gemini-2.5-flash");
    assert!(r.id.starts_with("mock-gemini-"));
    let usage = r.usage.unwrap();
    assert!(usage.prompt_tokens > 0 && usage.completion_tokens > 0);
    assert_eq!(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    let sent = server.requests().pop().unwrap();
    assert_eq!(sent.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(
        sent.json().unwrap()["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );

    let two = chat(
        &server,
        &openai(user("one two three four five"), json!({"max_tokens": 2, "n": 2})),
    )
    .unwrap();
    assert_eq!(two.choices.len(), 2);
    assert_eq!(two.choices[1].finish_reason.as_deref(), Some("length"));
    assert_eq!(two.choices[1].message.content.as_deref(), Some("one two"));
}

#[test]
fn key_and_body_are_checked() {
    let server = server(MockConfig::default());
    let body = chat_request(&openai(user("x"), json!({}))).unwrap();
    let (status, bytes, _) = post(&server, "models/m:generateContent", body.clone(), false);
    assert_eq!(status, 403);
    let err = error_from_response(status, &bytes);
    assert_eq!(err.kind(), Kind::Authentication);
    assert_eq!(err.body().unwrap()["error"]["status"], "PERMISSION_DENIED");
    let (status, _, _) = post(&server, "models/m:generateContent?key=AIza-q", body, false);
    assert_eq!(status, 200);

    for bad in [
        json!({"contents": []}),
        json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
        json!({"contents": [{"role": "user", "parts": []}]}),
        json!({"contents": [{"role": "user", "parts": [{"text": "x"}]}], "generationConfig": {"candidateCount": 9}}),
    ] {
        let (status, bytes, _) = post(&server, "models/m:generateContent", bad.to_string().into_bytes(), true);
        assert_eq!(status, 400, "{bad}");
        let err = error_from_response(status, &bytes);
        assert_eq!(err.kind(), Kind::BadRequest);
        assert_eq!(err.body().unwrap()["error"]["status"], "INVALID_ARGUMENT");
    }
    let (status, _, _) = post(&server, "models/m:streamGenerateContent", b"{}".to_vec(), true);
    assert_eq!(status, 400, "only alt=sse streams are served");
    let (status, _, _) = post(&server, "models/m:countTokens", b"{}".to_vec(), true);
    assert_eq!(status, 404);
}

#[test]
fn streams_words_with_final_usage() {
    let server = server(MockConfig::default());
    let (chunks, err, cut) = stream(&server, &openai(user("one two three"), json!({"stream": true})));
    assert!(err.is_none() && !cut);
    assert_eq!(text_of(&chunks), "one two three");
    let content_chunks = chunks.iter().filter(|c| !c.choices.is_empty()).count();
    assert_eq!(content_chunks, 3, "one event per word");
    assert_eq!(chunks[0].choices[0].delta.role.as_deref(), Some("assistant"));
    assert_eq!(chunks[2].choices[0].finish_reason.as_deref(), Some("stop"));
    let usage = chunks.last().unwrap().usage.as_ref().expect("usage chunk");
    assert!(usage.completion_tokens > 0);
    assert!(server.requests()[0].query.as_deref() == Some("alt=sse"));

    let pieces = server_with_pieces(&["Hel", "lo", "!"]);
    let (chunks, _, _) = stream(&pieces, &openai(user("ignored"), json!({})));
    let got: Vec<String> = chunks
        .iter()
        .filter_map(|c| c.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(got, vec!["Hel", "lo", "!"]);
}

fn server_with_pieces(pieces: &[&str]) -> MockServer {
    server(MockConfig {
        stream_pieces: Some(pieces.iter().map(|p| (*p).to_owned()).collect()),
        ..MockConfig::default()
    })
}

#[test]
fn function_call_round_trip() {
    let server = server(MockConfig::default());
    let tools = json!({"tools": [{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]});
    let first = chat(
        &server,
        &openai(user(r#"call:get_weather {"city":"Paris"}"#), tools.clone()),
    )
    .unwrap();
    let choice = &first.choices[0];
    assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
    let call = &choice.message.tool_calls.as_ref().unwrap()[0];
    assert_eq!(call.function.name, "get_weather");
    assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);

    let history = json!([
        {"role": "user", "content": r#"call:get_weather {"city":"Paris"}"#},
        crate::types::ToJson::to_json(&choice.message),
        {"role": "tool", "tool_call_id": call.id, "content": "{\"temp\":21}"},
    ]);
    let second = chat(&server, &openai(history, tools.clone())).unwrap();
    assert_eq!(
        second.choices[0].message.content.as_deref(),
        Some(r#"get_weather returned {"temp":21}"#)
    );

    // Without declared tools the text is just echoed; streamed calls arrive whole.
    let plain = chat(&server, &openai(user("call:get_weather"), json!({}))).unwrap();
    assert_eq!(plain.choices[0].message.content.as_deref(), Some("call:get_weather"));
    let (chunks, err, _) = stream(&server, &openai(user("call:get_weather"), tools));
    assert!(err.is_none());
    let calls = chunks[0].choices[0].delta.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function.as_ref().unwrap().arguments.as_deref(), Some("{}"));
    assert_eq!(chunks[0].choices[0].finish_reason.as_deref(), Some("tool_calls"));
}

#[test]
fn blocked_prompts_are_content_policy() {
    let server = server(MockConfig::default());
    let err = chat(&server, &openai(user("blocked: how to"), json!({}))).unwrap_err();
    assert_eq!(err.kind(), Kind::ContentPolicy);
    let (chunks, err, _) = stream(&server, &openai(user("blocked: how to"), json!({})));
    assert!(chunks.is_empty());
    assert_eq!(err.unwrap().kind(), Kind::ContentPolicy);
}

#[test]
fn faults_in_google_shape() {
    let server = server(MockConfig::default());
    server.push_faults(vec![
        Fault {
            retry_after: Some(2.0),
            ..Fault::with_status(429)
        },
        Fault::with_status(503),
        Fault {
            cut_after: Some(1),
            error_event: Some(json!("backend exploded")),
            ..Fault::default()
        },
        Fault {
            cut_after: Some(2),
            ..Fault::default()
        },
        Fault {
            reply: Some("scripted".to_owned()),
            ..Fault::default()
        },
        Fault {
            malformed: true,
            ..Fault::default()
        },
    ]);
    let body = openai(user("alpha beta gamma delta"), json!({}));
    let err = chat(&server, &body).unwrap_err();
    assert_eq!(err.kind(), Kind::RateLimited);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(err.body().unwrap()["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(chat(&server, &body).unwrap_err().kind(), Kind::ServiceUnavailable);

    let (chunks, err, _) = stream(&server, &body);
    assert_eq!(text_of(&chunks), "alpha");
    let err = err.expect("error event");
    assert_eq!(err.kind(), Kind::Server);
    assert_eq!(err.message(), "backend exploded");

    let (chunks, err, cut) = stream(&server, &body);
    assert!(err.is_none() && cut, "the connection is cut before a finishReason");
    assert_eq!(text_of(&chunks), "alpha beta");

    let r = chat(&server, &body).unwrap();
    assert_eq!(r.choices[0].message.content.as_deref(), Some("scripted"));
    let (chunks, err, _) = stream(&server, &body);
    assert_eq!(
        text_of(&chunks),
        "alpha",
        "the event before the broken one is delivered"
    );
    assert_eq!(err.expect("broken event").kind(), Kind::Streaming);
}

#[test]
fn embeddings_both_shapes() {
    let server = server(MockConfig::default());
    let embed = |body: Value| {
        let body = match body {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let (path, bytes) = embed_request(&body, "gemini-embedding-001").unwrap();
        let (status, answer, _) = post(&server, &path, bytes, true);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        embed_response(&answer, "gemini-embedding-001").unwrap()
    };
    let one = embed(json!({"input": "hello", "dimensions": 8}));
    assert_eq!(one.data.len(), 1);
    assert_eq!(one.data[0].embedding.0, crate::mock::embeddings::vector("hello", 8));
    let many = embed(json!({"input": ["a", "hello", "c"], "dimensions": 8}));
    assert_eq!(many.data.len(), 3);
    assert_eq!(many.data[1].index, 1);
    assert_eq!(
        many.data[1].embedding.0, one.data[0].embedding.0,
        "same text, same vector"
    );
    assert_eq!(
        embed(json!({"input": "x"})).data[0].embedding.0.len(),
        super::embed::DEFAULT_DIMENSIONS
    );

    let mismatched = json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "a"}]}}]});
    let (status, bytes, _) = post(
        &server,
        "models/gemini-embedding-001:batchEmbedContents",
        mismatched.to_string().into_bytes(),
        true,
    );
    assert_eq!(status, 400);
    assert_eq!(error_from_response(status, &bytes).kind(), Kind::BadRequest);
}
