//! The OpenAI-shaped routes: chat completions (plain and streamed), embeddings and the model
//! list. A request's `metadata` is the caller's own and is never forwarded upstream, nor are
//! its `user_config` and credentials (see [`super::client_side`]).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::admit::{admit, Gate, Held, Spent};
use super::client_side;
use super::errors::{error_body, error_response, from_core, json_response, refused};
use super::{AppState, Caller, Who};
use crate::stream::ChatStream;
use crate::types::ToJson;
use crate::{Client, Request};

/// `POST /v1/chat/completions`: answered whole, or as server-sent events when `stream` is true.
pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let Parsed {
        mut request,
        stream,
        client,
    } = match parse(&state, &caller, body) {
        Ok(parsed) => parsed,
        Err(refused) => return *refused,
    };
    if request.model.contains(',') {
        if stream {
            return bad_request("a stream goes to one model; model names several");
        }
        // Boxed, as the stream below: the plain relay's future stays small.
        return Box::pin(fan_out(&state, &client, &caller, request)).await;
    }
    let gate = match admit(&state, &client, &caller, &request.model, &request.body).await {
        Ok(gate) => gate,
        Err(refusal) => return refused(&refusal),
    };
    request.tokens = gate.tokens();
    if stream {
        return match Box::pin(client.chat_stream(request)).await {
            Ok(stream) => events(stream, gate),
            Err(err) => from_core(&err),
        };
    }
    match client.chat_relay(request).await {
        Ok(answer) => {
            gate.settle(answer.spent()).await;
            timed(&answer.body, started)
        }
        Err(err) => from_core(&err),
    }
}

/// `model="a,b"`: the same request to each model at once; a JSON list of their answers, in
/// order (a failure is its error object).
async fn fan_out(state: &AppState, client: &Client, caller: &Caller, request: Request) -> Response {
    let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(&request.body) else {
        return bad_request("the request body must be a JSON object");
    };
    let models = models_of(&request.model);
    let mut requests = Vec::with_capacity(models.len());
    for model in models {
        let mut fields = fields.clone();
        fields.insert("model".to_owned(), Value::String(model.to_owned()));
        let body = Bytes::from(Value::Object(fields).to_string());
        // Every model is admitted before any is called: a refusal sends nothing.
        match admit(state, client, caller, model, &body).await {
            Ok(gate) => requests.push((
                Request {
                    body,
                    model: model.to_owned(),
                    tokens: gate.tokens(),
                    ..Request::default()
                },
                gate,
            )),
            Err(refusal) => return refused(&refusal),
        }
    }
    let calls = requests.into_iter().map(|(one, gate)| async move {
        let answer = client.chat(one).await;
        if let Ok(answer) = &answer {
            gate.settle(answer.spent()).await;
        }
        answer
    });
    let answers: Vec<Value> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|answer| match answer {
            Ok(answer) => answer.to_json(),
            Err(err) => error_body("api_error", err.message(), None),
        })
        .collect();
    json_response(StatusCode::OK, &Value::Array(answers))
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    answer(state, &caller, body, None, |client, request| async move {
        client.embeddings(request).await
    })
    .await
}

/// `POST /v1/moderations` (`model` defaults to OpenAI's `omni-moderation-latest`).
pub(crate) async fn moderations(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let body = with_default_model(body, "omni-moderation-latest");
    answer(state, &caller, body, None, |client, request| async move {
        client.moderate(request).await
    })
    .await
}

/// `POST /v1/images/generations`.
pub(crate) async fn images(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    answer(state, &caller, body, None, |client, request| async move {
        client.image_generate(request).await
    })
    .await
}

/// `POST /v1/rerank`.
pub(crate) async fn rerank(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    answer(state, &caller, body, None, |client, request| async move {
        client.rerank(request).await
    })
    .await
}

/// `POST /v1/responses` (answered whole; a streamed Responses call is refused).
pub(crate) async fn responses(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let refused = Some("stream is not supported on /v1/responses by this proxy; stream /v1/chat/completions");
    answer(state, &caller, body, refused, |client, request| async move {
        client.create_response(request).await
    })
    .await
}

/// Runs one call of the client on a body's request and answers its result as JSON; a request
/// asking for a stream is refused with `no_stream` when given.
async fn answer<T, F, Fut>(
    state: Arc<AppState>,
    caller: &Caller,
    body: Bytes,
    no_stream: Option<&str>,
    call: F,
) -> Response
where
    T: serde::Serialize + Spent,
    F: FnOnce(Arc<Client>, Request) -> Fut,
    Fut: std::future::Future<Output = crate::Result<T>>,
{
    let started = Instant::now();
    let Parsed {
        mut request,
        client,
        stream,
    } = match parse(&state, caller, body) {
        Ok(parsed) => parsed,
        Err(refused) => return *refused,
    };
    if let (true, Some(why)) = (stream, no_stream) {
        return bad_request(why);
    }
    let gate = match admit(&state, &client, caller, &request.model, &request.body).await {
        Ok(gate) => gate,
        Err(refusal) => return refused(&refusal),
    };
    request.tokens = gate.tokens();
    match call(client, request).await {
        Ok(answer) => {
            gate.settle(answer.spent()).await;
            match serde_json::to_vec(&answer) {
                Ok(body) => timed(&body, started),
                Err(e) => error_response(StatusCode::INTERNAL_SERVER_ERROR, "api_error", &e.to_string(), None),
            }
        }
        Err(err) => from_core(&err),
    }
}

/// `body` with `model` set to `model` when it names none (a body that is not an object is
/// left for [`parse`] to refuse).
fn with_default_model(body: Bytes, model: &str) -> Bytes {
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut fields)) if !fields.contains_key("model") => {
            fields.insert("model".to_owned(), Value::String(model.to_owned()));
            Bytes::from(Value::Object(fields).to_string())
        }
        _ => body,
    }
}

/// `GET /v1/models`: the model groups of the config this caller may use.
pub(crate) async fn models(State(state): State<Arc<AppState>>, Extension(caller): Extension<Caller>) -> Response {
    let data: Vec<Value> = state
        .client
        .deployments()
        .map(|d| d.group_names())
        .unwrap_or_default()
        .into_iter()
        .filter(|group| match &caller.who {
            Who::Key(key) => key.allows(group),
            Who::Open | Who::Master => true,
        })
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "liter_llm"}))
        .collect();
    json_response(StatusCode::OK, &json!({"object": "list", "data": data}))
}

/// `GET /health/readiness`: the server takes requests.
pub(crate) async fn readiness() -> Response {
    json_response(StatusCode::OK, &json!({"status": "healthy"}))
}

/// A 400 in OpenAI's shape.
fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request_error", message, None)
}

/// A request as the server takes it.
struct Parsed {
    /// Its `model` and the body to send (without `metadata`, `user_config` or credentials).
    request: Request,
    /// Whether it asks for a stream.
    stream: bool,
    /// The client that serves it: the server's, or one built for what the caller brought.
    client: Arc<Client>,
}

/// Reads a request body: its `model` (required), whether it streams, what the caller brought of
/// its own, and the body to send (its `metadata` goes to the caller's trail); a 400 saying what
/// is wrong with it otherwise.
fn parse(state: &AppState, caller: &Caller, body: Bytes) -> Result<Parsed, Box<Response>> {
    if let Some(parsed) = plain(state, &body) {
        return Ok(parsed);
    }
    let mut fields: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Err(Box::new(bad_request("the request body must be a JSON object"))),
        Err(e) => {
            return Err(Box::new(bad_request(&format!(
                "the request body is not valid JSON: {e}"
            ))))
        }
    };
    let model = match fields.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err(Box::new(bad_request("model is required (a non-empty string)"))),
    };
    let stream = match fields.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Box::new(bad_request("stream must be a boolean"))),
    };
    let given = fields.len();
    if let Some(metadata) = fields.remove("metadata") {
        caller.trail.note_metadata(metadata);
    }
    let brought = client_side::take(state, &mut fields).map_err(|why| Box::new(bad_request(&why)))?;
    let body = if fields.len() == given {
        body
    } else {
        Bytes::from(serde_json::to_vec(&fields).map_err(|e| Box::new(bad_request(&e.to_string())))?)
    };
    let client = client_side::client_for(state, brought, &models_of(&model)).map_err(|e| Box::new(from_core(&e)))?;
    let request = Request {
        body,
        model,
        ..Request::default()
    };
    Ok(Parsed {
        request,
        stream,
        client,
    })
}

/// What the common request needs read: its model and whether it streams; the fields that
/// send it down the full path are only looked for (their values skipped unread).
#[derive(serde::Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    model: Option<std::borrow::Cow<'a, str>>,
    stream: Option<bool>,
    #[serde(borrow)]
    metadata: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    user_config: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    api_key: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    api_base: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    base_url: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    api_version: Option<&'a serde_json::value::RawValue>,
}

/// A request with a model and nothing to take out of its body (no `metadata`, `user_config`
/// or credentials): served by the server's client with the body as sent, without building a
/// JSON tree. `None` for every other body (the full path reads it, and says what is wrong).
fn plain(state: &AppState, body: &Bytes) -> Option<Parsed> {
    let head: Head<'_> = serde_json::from_slice(body).ok()?;
    let extras = [
        head.metadata,
        head.user_config,
        head.api_key,
        head.api_base,
        head.base_url,
        head.api_version,
    ];
    let model = head.model.filter(|m| !m.is_empty())?;
    if extras.iter().any(Option::is_some) {
        return None;
    }
    Some(Parsed {
        request: Request {
            body: body.clone(),
            model: model.into_owned(),
            ..Request::default()
        },
        stream: head.stream.unwrap_or(false),
        client: Arc::clone(&state.client),
    })
}

/// The models `model` names: one, or several as `"a,b"`.
fn models_of(model: &str) -> Vec<&str> {
    model.split(',').map(str::trim).filter(|m| !m.is_empty()).collect()
}

/// A JSON object answer with LiteLLM's `_response_ms` (time spent answering) added as its
/// last member.
fn timed(answer: &[u8], started: Instant) -> Response {
    let end = answer
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let mut out = Vec::with_capacity(end + 32);
    out.extend_from_slice(&answer[..end]);
    if out.last() == Some(&b'}') {
        out.pop();
        let empty = out.iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !empty {
            out.push(b',');
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        // A Vec takes every write.
        let _ = write!(out, "\"_response_ms\":{ms}}}");
    }
    let mut response = Response::new(Body::from(out));
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// Where a stream's relay is.
enum Relay {
    Open(Box<ChatStream>, VecDeque<crate::types::ChatCompletionChunk>, Held),
    Done,
}

/// A stream as server-sent events: each read's chunks in one write, `data: [DONE]` at the end
/// (once the spend is settled), an error event (OpenAI's shape) when the upstream stream breaks.
fn events(stream: ChatStream, gate: Gate) -> Response {
    let relay = Relay::Open(Box::new(stream), VecDeque::new(), Held(Some(gate)));
    let body = futures_util::stream::unfold(relay, |relay| async move {
        let Relay::Open(mut stream, mut chunks, mut held) = relay else {
            return None;
        };
        match stream.next_batch(&mut chunks).await {
            Ok(true) => {
                let mut out = Vec::with_capacity(256 * chunks.len());
                for chunk in chunks.drain(..) {
                    out.extend_from_slice(b"data: ");
                    if serde_json::to_writer(&mut out, &chunk).is_err() {
                        out.extend_from_slice(b"{}");
                    }
                    out.extend_from_slice(b"\n\n");
                }
                Some((Ok::<_, Infallible>(Bytes::from(out)), Relay::Open(stream, chunks, held)))
            }
            Ok(false) => {
                if let Some(gate) = held.0.take() {
                    gate.settle(stream.spent()).await;
                }
                Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), Relay::Done))
            }
            Err(err) => {
                let event = error_body("api_error", err.message(), None);
                Some((Ok(Bytes::from(format!("data: {event}\n\n"))), Relay::Done))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn text_of(response: Response) -> String {
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn response_ms_closes_any_object_the_upstream_sent() {
        for (sent, kept) in [
            (&b"{\"id\":\"c\"}\n"[..], Some("c")),
            (b"{\"id\":\"c\"} \r\n", Some("c")),
            (b"{}", None),
            (b"{ \n}", None),
        ] {
            let text = text_of(timed(sent, Instant::now())).await;
            let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(answer["id"].as_str(), kept);
            assert!(answer["_response_ms"].as_f64().unwrap() >= 0.0, "{text}");
        }
    }
}
