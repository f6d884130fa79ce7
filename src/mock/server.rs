//! The HTTP side of the mock provider: accept loop, per-connection hyper tasks, routing and the
//! chat and embeddings handlers that apply scripted faults.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::body::MockBody;
use super::chat::{self, Envelope, StreamEnd, StreamPlan};
use super::embeddings;
use super::faults::{default_error, error_body, format_retry_after, Fault};
use super::store::Store;
use super::RecordedRequest;

const JSON: HeaderValue = HeaderValue::from_static("application/json");
const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");
const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const RETRY_AFTER_MS: HeaderName = HeaderName::from_static("retry-after-ms");

/// Locks a mutex, ignoring poisoning (the protected data stays consistent on every path).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Behaviour settings copied from the configuration.
#[derive(Debug)]
pub(crate) struct Behaviour {
    pub(crate) reply: Option<String>,
    pub(crate) latency: Duration,
    pub(crate) chunk_delay: Duration,
    pub(crate) stream_chunks: Option<usize>,
    pub(crate) stream_pieces: Option<Vec<String>>,
    pub(crate) record: bool,
    pub(crate) max_embedding_inputs: usize,
}

/// State shared by the server handle, the accept loop and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) behaviour: Behaviour,
    pub(crate) started: Instant,
    /// Sequence for ids; never reset so ids stay unique.
    seq: AtomicU64,
    pub(crate) count: AtomicU64,
    pub(crate) log: Mutex<Vec<RecordedRequest>>,
    pub(crate) faults: Mutex<VecDeque<Fault>>,
    /// Number of queued faults, read without locking on the hot path.
    pub(crate) pending: AtomicUsize,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) listener_closed: AtomicBool,
    pub(crate) live: AtomicUsize,
    /// Files, batches and stored responses.
    pub(crate) store: Mutex<Store>,
}

impl Shared {
    /// The configured stream pieces, unless the fault scripts its own reply.
    pub(crate) fn stream_pieces(&self, fault: &Fault) -> Option<&[String]> {
        if fault.reply.is_some() {
            None
        } else {
            self.behaviour.stream_pieces.as_deref()
        }
    }

    /// The reply text: the configured stream pieces joined, else the fault's reply, the
    /// configured reply, what `echo` gives (the provider's idea of the last user turn), or the
    /// fallback greeting.
    pub(crate) fn reply_text(&self, fault: &Fault, echo: impl FnOnce() -> Option<String>) -> String {
        match self.stream_pieces(fault) {
            Some(pieces) => pieces.concat(),
            None => fault
                .reply
                .clone()
                .or_else(|| self.behaviour.reply.clone())
                .or_else(echo)
                .unwrap_or_else(|| chat::FALLBACK_REPLY.to_owned()),
        }
    }

    pub(crate) fn new(behaviour: Behaviour) -> Self {
        Shared {
            behaviour,
            started: Instant::now(),
            seq: AtomicU64::new(0),
            count: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
            faults: Mutex::new(VecDeque::new()),
            pending: AtomicUsize::new(0),
            shutdown: watch::channel(false).0,
            listener_closed: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            store: Mutex::new(Store::default()),
        }
    }

    pub(crate) fn pop_fault(&self) -> Option<Fault> {
        if self.pending.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut faults = lock(&self.faults);
        let fault = faults.pop_front();
        self.pending.store(faults.len(), Ordering::Release);
        fault
    }
}

/// Decrements the live-connection count when a connection task ends.
struct LiveGuard(Arc<Shared>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves once shutdown has been requested.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // Dropping the returned guard here keeps the caller's future `Send`.
    let _ = stop.wait_for(|s| *s).await;
}

/// Accepts connections until shutdown, then drops the listener.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.shutdown.subscribe();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.live.fetch_add(1, Ordering::AcqRel);
                    let guard = LiveGuard(Arc::clone(&shared));
                    tokio::spawn(serve_connection(stream, builder.clone(), guard));
                }
                Err(err) => {
                    log::warn!("mock server: accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
        }
    }
    drop(listener);
    shared.listener_closed.store(true, Ordering::Release);
}

async fn serve_connection(stream: TcpStream, builder: hyper::server::conn::http1::Builder, guard: LiveGuard) {
    let _ = stream.set_nodelay(true);
    let shared = Arc::clone(&guard.0);
    let mut stop = shared.shutdown.subscribe();
    let service = hyper::service::service_fn(move |req| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(shared, req).await) }
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = conn => {
            if let Err(err) = result {
                log::debug!("mock server: connection ended: {err}");
            }
        }
        () = stopped(&mut stop) => {}
    }
    drop(guard);
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response<MockBody> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = Response::new(MockBody::full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, JSON);
    resp
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Response<MockBody> {
    let received = Instant::now();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
    shared.count.fetch_add(1, Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            log::debug!("mock server: failed to read request body: {err}");
            Bytes::new()
        }
    };
    if shared.behaviour.record {
        let headers = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let record = RecordedRequest {
            method: parts.method.as_str().to_owned(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers,
            body: body.clone(),
            received_at: received,
        };
        lock(&shared.log).push(record);
    }

    let path = parts.uri.path();
    let mut resp = match path {
        "/v1/chat/completions" | "/chat/completions" => {
            if parts.method == Method::POST {
                chat(&shared, seq, &body).await
            } else {
                let msg = format!("Invalid method for URL ({} {path}). Use POST.", parts.method);
                json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &error_body(&msg, "invalid_request_error", None, None),
                )
            }
        }
        "/v1/embeddings" | "/embeddings" => {
            if parts.method == Method::POST {
                embed(&shared, &body).await
            } else {
                let msg = format!("Invalid method for URL ({} {path}). Use POST.", parts.method);
                json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &error_body(&msg, "invalid_request_error", None, None),
                )
            }
        }
        "/v1/messages" | "/messages" if parts.method == Method::POST => {
            super::anthropic::messages(&shared, seq, &parts.headers, &body).await
        }
        p if p.starts_with("/v1beta/models/") || (p.starts_with("/v1/models/") && p.contains(':')) => {
            super::gemini::handle(&shared, seq, &parts, &body).await
        }
        _ => match super::routes::handle(&shared, seq, &parts, &body).await {
            Some(resp) => resp,
            None => {
                let msg = format!("Invalid URL ({} {path})", parts.method);
                json_response(
                    StatusCode::NOT_FOUND,
                    &error_body(&msg, "invalid_request_error", None, Some("unknown_url")),
                )
            }
        },
    };
    if let Ok(value) = HeaderValue::from_str(&format!("req_mock_{seq}")) {
        resp.headers_mut().insert(REQUEST_ID, value);
    }
    resp
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn apply_fault_headers(resp: &mut Response<MockBody>, fault: &Fault) {
    let headers = resp.headers_mut();
    if let Some(secs) = fault.retry_after {
        if let Ok(value) = HeaderValue::from_str(&format_retry_after(secs)) {
            headers.insert(RETRY_AFTER, value);
        }
    }
    if let Some(ms) = fault.retry_after_ms {
        if let Ok(value) = HeaderValue::from_str(&ms.to_string()) {
            headers.insert(RETRY_AFTER_MS, value);
        }
    }
    for (name, value) in &fault.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.insert(name, value);
        }
    }
}

/// A fault's explicit body: JSON values as JSON, strings as plain text.
pub(crate) fn verbatim_body(body: &Value) -> (Bytes, HeaderValue) {
    match body {
        Value::String(text) => (Bytes::from(text.clone()), TEXT),
        other => (Bytes::from(serde_json::to_vec(other).unwrap_or_default()), JSON),
    }
}

/// Takes the next fault, waits the configured latency plus the fault's delay, answers with
/// `respond` and adds the fault's headers: the common shape of every faultable endpoint.
pub(crate) async fn answer(shared: &Shared, respond: impl FnOnce(&Fault) -> Response<MockBody>) -> Response<MockBody> {
    let fault = shared.pop_fault().unwrap_or_default();
    let wait = shared.behaviour.latency + fault.delay.unwrap_or(Duration::ZERO);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let mut resp = respond(&fault);
    apply_fault_headers(&mut resp, &fault);
    resp
}

async fn chat(shared: &Shared, seq: u64, body: &Bytes) -> Response<MockBody> {
    answer(shared, |fault| chat_response(shared, seq, body, fault)).await
}

/// The response a fault scripts outright (an error status, or a verbatim body), if any.
pub(crate) fn scripted_response(body: &Bytes, fault: &Fault) -> Option<Response<MockBody>> {
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();
    if let Some(status) = status.filter(|s| s.as_u16() >= 400) {
        let (bytes, content_type) = match &fault.body {
            Some(verbatim) => verbatim_body(verbatim),
            None => {
                let model = chat::sniff_model(body);
                let doc = default_error(status.as_u16(), model.as_deref());
                (Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()), JSON)
            }
        };
        return Some(plain(status, bytes, content_type, cut));
    }
    let verbatim = fault.body.as_ref()?;
    let (bytes, content_type) = verbatim_body(verbatim);
    Some(plain(status.unwrap_or(StatusCode::OK), bytes, content_type, cut))
}

fn chat_response(shared: &Shared, seq: u64, body: &Bytes, fault: &Fault) -> Response<MockBody> {
    if let Some(scripted) = scripted_response(body, fault) {
        return scripted;
    }
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();

    let req = match chat::parse_request(body) {
        Ok(req) => req,
        Err(bad) => return json_response(StatusCode::BAD_REQUEST, &bad.body),
    };
    let explicit = shared.stream_pieces(fault);
    let text = shared.reply_text(fault, || {
        let echo = req.last_user_text.clone().filter(|t| !t.is_empty());
        match &req.response_format {
            Some(format) => super::schema::reply_for(format, echo.as_deref()).or(echo),
            None => echo,
        }
    });
    let reply = chat::make_reply(text, req.max_tokens);
    let id = format!("chatcmpl-mock-{seq}");
    let env = Envelope {
        id: &id,
        created: unix_now(),
        model: &req.model,
    };
    let status = status.unwrap_or(StatusCode::OK);

    if !req.stream {
        let mut doc = chat::completion_body(&env, &req, &reply);
        if fault.malformed {
            doc.truncate(doc.len() / 2);
        }
        return plain(status, Bytes::from(doc), JSON, cut);
    }

    let pieces = match (explicit, shared.behaviour.stream_chunks) {
        (Some(given), _) => chat::split_given(&reply.text, given),
        (None, Some(parts)) => chat::split_even(&reply.text, parts),
        (None, None) => chat::split_words(&reply.text),
    };
    let end = match (&fault.error_event, cut) {
        (Some(event), _) => StreamEnd::Error(event.clone()),
        (None, true) => StreamEnd::Cut,
        (None, false) => StreamEnd::Complete,
    };
    let limit = match end {
        StreamEnd::Complete => None,
        _ => Some(fault.cut_after.unwrap_or(0)),
    };
    let plan = StreamPlan {
        pieces,
        limit,
        malformed: fault.malformed,
        end,
    };
    let events = chat::stream_events(&env, &req, &reply, &plan);
    let body = MockBody::events(
        events.data,
        events.ends,
        shared.behaviour.chunk_delay,
        plan.end == StreamEnd::Cut,
    );
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, SSE);
    headers.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn embed(shared: &Shared, body: &Bytes) -> Response<MockBody> {
    answer(shared, |fault| embed_response(shared, body, fault)).await
}

fn embed_response(shared: &Shared, body: &Bytes, fault: &Fault) -> Response<MockBody> {
    if let Some(scripted) = scripted_response(body, fault) {
        return scripted;
    }
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();
    let req = match embeddings::parse_request(body, shared.behaviour.max_embedding_inputs) {
        Ok(req) => req,
        Err(bad) => return json_response(StatusCode::BAD_REQUEST, &bad.body),
    };
    let mut doc = embeddings::response_body(&req);
    if fault.malformed {
        doc.truncate(doc.len() / 2);
    }
    plain(status.unwrap_or(StatusCode::OK), Bytes::from(doc), JSON, cut)
}

pub(crate) fn plain(status: StatusCode, bytes: Bytes, content_type: HeaderValue, cut: bool) -> Response<MockBody> {
    let body = if cut {
        MockBody::half_then_cut(bytes)
    } else {
        MockBody::full(bytes)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, content_type);
    resp
}
