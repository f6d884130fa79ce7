//! Routing of every mock endpoint: chat completions and embeddings (405 for a method other
//! than POST; also at Azure OpenAI's deployment URLs), Anthropic's messages, Gemini's model methods, and the rest of the OpenAI surface
//! (models, images, audio, moderation, rerank, files, batches and responses, answered here);
//! anything else is a 404 `unknown_url`. Every route goes through
//! [`answer`](super::respond::answer), so queued faults (error statuses, delays, Retry-After
//! headers, malformed or cut bodies) apply to it as to chat.

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};

use super::body::MockBody;
use super::faults::{error_body, Fault};
use super::respond::{answer, json_response, plain, scripted_response, unix_now};
use super::state::{lock, Shared};
use super::{anthropic, chat, embeddings, gemini, media, multipart, responses};

/// What a handler answers.
pub(crate) enum Out {
    /// A JSON document (200).
    Json(Value),
    /// Raw bytes with their content type (200).
    Bytes(Bytes, &'static str),
    /// An error status with an OpenAI error document.
    Error(StatusCode, Value),
}

/// A 400 `invalid_request_error` about `param`.
pub(crate) fn bad(message: &str, param: &str) -> Out {
    Out::Error(
        StatusCode::BAD_REQUEST,
        error_body(message, "invalid_request_error", Some(param), None),
    )
}

/// A 404 `invalid_request_error` about `param`.
pub(crate) fn not_found(message: &str, param: &str) -> Out {
    Out::Error(
        StatusCode::NOT_FOUND,
        error_body(message, "invalid_request_error", Some(param), None),
    )
}

/// Where a request goes.
enum Endpoint<'a> {
    /// `POST /v1/chat/completions`.
    Chat,
    /// `POST /v1/embeddings`.
    Embeddings,
    /// Chat completions or embeddings with a method other than POST.
    MethodNotAllowed,
    /// Anthropic's `POST /v1/messages`.
    Messages,
    /// Gemini's `/v1beta/models/...`, or `/v1/models/{model}:{method}`.
    Gemini,
    /// The rest of the OpenAI surface, answered here.
    Other(Route<'a>),
}

/// The endpoint of `method` on `path`; `None` for an unknown URL.
fn endpoint<'a>(method: &Method, path: &'a str) -> Option<Endpoint<'a>> {
    let post = method == Method::POST;
    Some(match path {
        "/v1/chat/completions" | "/chat/completions" if post => Endpoint::Chat,
        "/v1/embeddings" | "/embeddings" if post => Endpoint::Embeddings,
        "/v1/chat/completions" | "/chat/completions" | "/v1/embeddings" | "/embeddings" => Endpoint::MethodNotAllowed,
        p if post && azure_action(p) == Some("chat/completions") => Endpoint::Chat,
        p if post && azure_action(p) == Some("embeddings") => Endpoint::Embeddings,
        "/v1/messages" | "/messages" if post => Endpoint::Messages,
        p if p.starts_with("/v1beta/models/") || (p.starts_with("/v1/models/") && p.contains(':')) => Endpoint::Gemini,
        _ => Endpoint::Other(route(method, path)?),
    })
}

/// The action of an Azure OpenAI deployment URL (`[/v1]/openai/deployments/{name}/{action}`).
fn azure_action(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1").unwrap_or(path);
    let (name, action) = rest.strip_prefix("/openai/deployments/")?.split_once('/')?;
    (!name.is_empty()).then_some(action)
}

/// Answers a request, whatever its URL.
pub(crate) async fn handle(shared: &Shared, seq: u64, parts: &Parts, body: &Bytes) -> Response<MockBody> {
    let path = parts.uri.path();
    match endpoint(&parts.method, path) {
        Some(Endpoint::Chat) => chat::handle(shared, seq, body).await,
        Some(Endpoint::Embeddings) => embeddings::handle(shared, body).await,
        Some(Endpoint::MethodNotAllowed) => {
            let msg = format!("Invalid method for URL ({} {path}). Use POST.", parts.method);
            json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &error_body(&msg, "invalid_request_error", None, None),
            )
        }
        Some(Endpoint::Messages) => anthropic::messages(shared, seq, &parts.headers, body).await,
        Some(Endpoint::Gemini) => gemini::handle(shared, seq, parts, body).await,
        Some(Endpoint::Other(route)) => openai(shared, seq, route, parts, body).await,
        None => {
            let msg = format!("Invalid URL ({} {path})", parts.method);
            json_response(
                StatusCode::NOT_FOUND,
                &error_body(&msg, "invalid_request_error", None, Some("unknown_url")),
            )
        }
    }
}

/// One of the OpenAI endpoints beyond chat and embeddings.
#[derive(Clone, Copy)]
enum Route<'a> {
    Models,
    Images,
    Speech,
    Transcription,
    Moderation,
    Rerank,
    CreateFile,
    ListFiles,
    File(&'a str, &'static str),
    CreateBatch,
    ListBatches,
    Batch(&'a str, bool),
    CreateResponse,
    Response(&'a str, bool),
    CreateMessageBatch,
    ListMessageBatches,
    MessageBatch(&'a str, &'static str),
}

fn route<'a>(method: &Method, path: &'a str) -> Option<Route<'a>> {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (get, post, delete) = (method == Method::GET, method == Method::POST, method == Method::DELETE);
    Some(match segments.as_slice() {
        ["models"] if get => Route::Models,
        ["images", "generations"] if post => Route::Images,
        ["audio", "speech"] if post => Route::Speech,
        ["audio", "transcriptions"] if post => Route::Transcription,
        ["moderations"] if post => Route::Moderation,
        ["rerank"] if post => Route::Rerank,
        ["files"] if post => Route::CreateFile,
        ["files"] if get => Route::ListFiles,
        ["files", id] if get => Route::File(id, "retrieve"),
        ["files", id] if delete => Route::File(id, "delete"),
        ["files", id, "content"] if get => Route::File(id, "content"),
        ["batches"] if post => Route::CreateBatch,
        ["batches"] if get => Route::ListBatches,
        ["batches", id] if get => Route::Batch(id, false),
        ["batches", id, "cancel"] if post => Route::Batch(id, true),
        ["responses"] if post => Route::CreateResponse,
        ["responses", id] if get => Route::Response(id, false),
        ["responses", id, "cancel"] if post => Route::Response(id, true),
        ["messages", "batches"] if post => Route::CreateMessageBatch,
        ["messages", "batches"] if get => Route::ListMessageBatches,
        ["messages", "batches", id] if get => Route::MessageBatch(id, "retrieve"),
        ["messages", "batches", id, "cancel"] if post => Route::MessageBatch(id, "cancel"),
        ["messages", "batches", id, "results"] if get => Route::MessageBatch(id, "results"),
        _ => return None,
    })
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `GET /models`, in Anthropic's or Gemini's own shape when the request carries their headers.
fn models(parts: &Parts) -> Out {
    if parts.headers.contains_key("anthropic-version") {
        return Out::Json(json!({
            "data": [
                {"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"},
                {"type": "model", "id": "claude-haiku-4-5", "display_name": "Claude Haiku 4.5", "created_at": "2025-10-15T00:00:00Z"},
            ],
            "has_more": false,
            "first_id": "claude-sonnet-4-5",
            "last_id": "claude-haiku-4-5",
        }));
    }
    if parts.headers.contains_key("x-goog-api-key") {
        return Out::Json(json!({
            "models": [
                {"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash", "inputTokenLimit": 1_048_576,
                 "supportedGenerationMethods": ["generateContent", "countTokens"]},
                {"name": "models/text-embedding-004", "displayName": "Text Embedding 004", "inputTokenLimit": 2048,
                 "supportedGenerationMethods": ["embedContent"]},
            ],
        }));
    }
    let entry = |id: &str, created: u64, owner: &str| json!({"id": id, "object": "model", "created": created, "owned_by": owner});
    Out::Json(json!({
        "object": "list",
        "data": [
            entry("mock-model", 0, "liter_llm"),
            entry("gpt-4o-mini", 1_721_172_741, "system"),
            entry("text-embedding-3-small", 1_705_948_997, "system"),
            entry("dall-e-3", 1_698_785_189, "system"),
            entry("tts-1", 1_681_940_951, "openai-internal"),
            entry("whisper-1", 1_677_532_384, "openai-internal"),
            entry("omni-moderation-latest", 1_731_689_265, "system"),
        ],
    }))
}

fn json_body(body: &Bytes) -> Result<Map<String, Value>, Out> {
    serde_json::from_slice(body).map_err(|_| {
        bad(
            "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
            "body",
        )
    })
}

fn form_body(parts: &Parts, body: &Bytes) -> Result<Vec<multipart::FormPart>, Out> {
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    multipart::parse(content_type, body).ok_or_else(|| {
        bad(
            "Invalid Content-Type header, expected multipart/form-data with a well-formed body.",
            "file",
        )
    })
}

fn handle_route(shared: &Shared, seq: u64, route: Route<'_>, parts: &Parts, body: &Bytes, fault: &Fault) -> Out {
    let now = unix_now();
    let result = (|| -> Result<Out, Out> {
        let mut store = lock(&shared.store);
        Ok(match route {
            Route::Models => models(parts),
            Route::Images => media::images(&json_body(body)?, now),
            Route::Speech => media::speech(&json_body(body)?),
            Route::Transcription => media::transcription(&form_body(parts, body)?),
            Route::Moderation => media::moderation(&json_body(body)?, seq),
            Route::Rerank => media::rerank(&json_body(body)?, seq),
            Route::CreateFile => store.create_file(&form_body(parts, body)?, seq, now),
            Route::ListFiles => store.list_files(&query_pairs(parts.uri.query())),
            Route::File(id, op) => store.file_op(id, op),
            Route::CreateBatch => store.create_batch(&json_body(body)?, seq, now),
            Route::ListBatches => store.list_batches(&query_pairs(parts.uri.query())),
            Route::Batch(id, cancel) => store.batch_op(id, cancel, shared.behaviour.batch_delay, seq, now),
            Route::CreateResponse => {
                let doc = json_body(body)?;
                let text = shared.reply_text(fault, || responses::input_text(&doc).filter(|t| !t.is_empty()));
                responses::create(&mut store, &doc, seq, now, text)
            }
            Route::Response(id, cancel) => responses::retrieve(&mut store, id, cancel),
            Route::CreateMessageBatch => store.create_message_batch(&json_body(body)?, seq, now),
            Route::ListMessageBatches => store.list_message_batches(&query_pairs(parts.uri.query())),
            Route::MessageBatch(id, op) => {
                let host = parts
                    .headers
                    .get(HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1");
                store.message_batch_op(shared, id, op, shared.behaviour.batch_delay, host, now)
            }
        })
    })();
    result.unwrap_or_else(|err| err)
}

/// Answers one of the OpenAI endpoints beyond chat and embeddings.
async fn openai(shared: &Shared, seq: u64, route: Route<'_>, parts: &Parts, body: &Bytes) -> Response<MockBody> {
    answer(shared, |fault| {
        if let Some(scripted) = scripted_response(body, fault) {
            return scripted;
        }
        let cut = fault.cut_after.is_some();
        // A fault status below 400 serves the request normally with that status.
        let ok = fault
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        match handle_route(shared, seq, route, parts, body, fault) {
            Out::Json(doc) => {
                let mut bytes = serde_json::to_vec(&doc).unwrap_or_default();
                if fault.malformed {
                    bytes.truncate(bytes.len() / 2);
                }
                plain(
                    ok,
                    Bytes::from(bytes),
                    HeaderValue::from_static("application/json"),
                    cut,
                )
            }
            Out::Bytes(bytes, content_type) => plain(ok, bytes, HeaderValue::from_static(content_type), cut),
            Out::Error(status, doc) => json_response(status, &doc),
        }
    })
    .await
}
