//! The OpenAI-compatible proxy server (`liter-llm serve`): one [`Client`] (its deployments, cache
//! and limiter) behind the OpenAI HTTP API, so any language or tool can share one set of keys,
//! routes, limits and caches.
//!
//! Built on axum. Every response carries an `x-request-id`; a body past `max_body_bytes` is a
//! 413; with a master key, every route but the health checks wants `Authorization: Bearer KEY`
//! (compared in constant time). Streams pass through chunk by chunk, never buffered whole; a
//! client that disconnects drops the stream, which closes the upstream request. Accepted
//! connections get TCP_NODELAY, so each relayed event leaves at once.
//!
//! A request may bring its own routing (`user_config`) or provider credentials (`api_key`,
//! `api_base`, `api_version`) only where `general_settings` allows it; see [`client_side`].

mod admit;
mod anthropic;
mod audio;
mod client_side;
mod errors;
mod files;
mod health;
pub mod keys;
mod metrics;
mod multipart;
mod observe;
mod openai;

use std::future::Future;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;

use self::keys::{Keys, VirtualKey};
use crate::config::Secret;
use crate::Client;

pub use errors::{error_response, from_core};
pub use observe::{AccessLog, LogCloser, LogTarget};

/// The largest request body accepted by default (LiteLLM-sized prompts with images fit).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// How the server answers.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// `general_settings.master_key`: required as a bearer token when set.
    pub master_key: Option<Secret>,
    /// The largest request body accepted (0: [`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// The virtual keys (with a master key only).
    pub keys: Option<Arc<Keys>>,
    /// The access log's writer (`None`: no access log).
    pub access_log: Option<AccessLog>,
    /// `general_settings.allow_client_side_credentials`: a request may bring its own `api_key`,
    /// `api_base` and `api_version` (the server's keys never go with it).
    pub allow_client_side_credentials: bool,
    /// `general_settings.allow_user_config`: a request may bring its own `user_config` (model
    /// list and router settings).
    pub allow_user_config: bool,
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) client: Arc<Client>,
    master_key: Option<Secret>,
    pub(crate) keys: Option<Arc<Keys>>,
    allow_client_side_credentials: bool,
    allow_user_config: bool,
    /// The connection pool of the clients built for what callers bring (no credential in it),
    /// made on first use.
    callers_http: OnceLock<reqwest::Client>,
    metrics: metrics::Metrics,
    access_log: Option<AccessLog>,
    /// The routes' patterns, for the log line, the metrics and the open routes.
    patterns: Patterns,
    /// The largest request body, for the routes' extractors.
    body_limit: DefaultBodyLimit,
    /// Requests answered whose log line and metrics are still being written; a stopping server
    /// waits for them.
    finishing: TaskTracker,
}

/// A request's caller, and the trail its handlers note what they learn in.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) who: Who,
    pub(crate) trail: Arc<observe::Trail>,
}

/// Who sent a request, as its key says.
#[derive(Clone, Debug)]
pub(crate) enum Who {
    /// No master key is set: anyone may call.
    Open,
    /// The master key: every model and the admin routes.
    Master,
    /// A virtual key, with its models, budget and limits.
    Key(Arc<VirtualKey>),
}

/// The server, ready to serve: [`observe::observe`] around the routes, once for the whole
/// router (a layer on the router would wrap every route, and cost each request a service clone
/// and a boxed future more).
#[derive(Clone)]
pub struct App {
    state: Arc<AppState>,
    routes: Router,
}

/// The route patterns, to name a request's route before it is routed.
pub(crate) struct Patterns {
    /// A path's pattern's index in `names`.
    by_path: matchit::Router<usize>,
    names: Vec<String>,
}

impl Patterns {
    fn add(&mut self, pattern: String) {
        if self.by_path.insert(pattern.clone(), self.names.len()).is_ok() {
            self.names.push(pattern);
        }
    }

    /// The index of the route `path` takes, if any.
    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        self.by_path.at(path).ok().map(|m| *m.value)
    }

    /// A route's pattern (`None` for no route).
    pub(crate) fn pattern(&self, route: Option<usize>) -> Option<&str> {
        route.and_then(|i| self.names.get(i)).map(String::as_str)
    }

    /// A route's pattern, `unmatched` for none (its label in the log line and metrics).
    pub(crate) fn name(&self, route: Option<usize>) -> &str {
        self.pattern(route).unwrap_or("unmatched")
    }
}

impl tower_service::Service<axum::extract::Request> for App {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: axum::extract::Request) -> Self::Future {
        let (state, routes) = (Arc::clone(&self.state), self.routes.clone());
        Box::pin(async move { Ok(observe::observe(state, routes, request).await) })
    }
}

/// The routes and what they share, ready to serve.
pub fn router(client: Arc<Client>, options: ServeOptions) -> App {
    let limit = match options.max_body_bytes {
        0 => DEFAULT_MAX_BODY_BYTES,
        n => n,
    };
    // OpenAI's routes, each with and without the `/v1` prefix.
    let openai_routes = [
        ("/chat/completions", post(openai::chat_completions)),
        ("/embeddings", post(openai::embeddings)),
        ("/moderations", post(openai::moderations)),
        ("/images/generations", post(openai::images)),
        ("/audio/speech", post(audio::speech)),
        ("/audio/transcriptions", post(audio::transcriptions)),
        ("/rerank", post(openai::rerank)),
        ("/responses", post(openai::responses)),
        ("/messages", post(anthropic::messages)),
        ("/messages/count_tokens", post(anthropic::count_tokens)),
        ("/models", get(openai::models)),
        ("/files", post(files::create_file).get(files::list_files)),
        ("/files/{id}", get(files::retrieve_file).delete(files::delete_file)),
        ("/files/{id}/content", get(files::file_content)),
        ("/batches", post(files::create_batch).get(files::list_batches)),
        ("/batches/{id}", get(files::retrieve_batch)),
        ("/batches/{id}/cancel", post(files::cancel_batch)),
    ];
    let mut routes = Router::new();
    let mut patterns = Patterns {
        by_path: matchit::Router::new(),
        names: Vec::new(),
    };
    for (path, route) in openai_routes {
        let prefixed = format!("/v1{path}");
        routes = routes.route(&prefixed, route.clone()).route(path, route);
        patterns.add(prefixed);
        patterns.add(path.to_owned());
    }
    let others: [(&str, axum::routing::MethodRouter<Arc<AppState>>); 9] = [
        ("/key/generate", post(keys::generate)),
        ("/key/info", get(keys::info)),
        ("/key/update", post(keys::update)),
        ("/key/delete", post(keys::delete)),
        ("/key/list", get(keys::list)),
        ("/metrics", get(metrics)),
        ("/health", get(health::health)),
        ("/health/readiness", get(openai::readiness)),
        ("/health/liveliness", get(|| async { "I'm alive!" })),
    ];
    for (path, route) in others {
        routes = routes.route(path, route);
        patterns.add(path.to_owned());
    }
    let state = Arc::new(AppState {
        callers_http: OnceLock::new(),
        client,
        keys: options.keys.filter(|_| options.master_key.is_some()),
        master_key: options.master_key,
        metrics: metrics::Metrics::new(),
        access_log: options.access_log,
        allow_client_side_credentials: options.allow_client_side_credentials,
        allow_user_config: options.allow_user_config,
        patterns,
        body_limit: DefaultBodyLimit::max(limit),
        finishing: TaskTracker::new(),
    });
    let routes = routes
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "not_found_error", "no such route", None) })
        .with_state(Arc::clone(&state));
    App { state, routes }
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting and lets the
/// requests and streams in flight finish, for at most `grace`.
///
/// # Errors
/// What accepting connections fails with.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<()> {
    // Streams are many small writes: without TCP_NODELAY, Nagle holds each one back until the
    // client's delayed ACK (up to 40 ms) of the one before.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            log::debug!("serve: TCP_NODELAY not set: {err}");
        }
    });
    let stopping = Arc::new(tokio::sync::Notify::new());
    let told = Arc::clone(&stopping);
    let finishing = app.state.finishing.clone();
    let server = axum::serve(listener, axum::ServiceExt::into_make_service(app)).with_graceful_shutdown(async move {
        shutdown.await;
        told.notify_one();
    });
    tokio::select! {
        served = async {
            let served = server.await;
            finishing.close();
            finishing.wait().await;
            served
        } => served,
        () = async {
            stopping.notified().await;
            tokio::time::sleep(grace).await;
        } => {
            log::warn!("requests still in flight after the {grace:?} grace period were cut off");
            Ok(())
        }
    }
}

/// Finds who is calling: the master key, a virtual key that may be used now, or (without a
/// master key) anyone. Refuses the rest with a 401.
pub(crate) async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Who, Box<Response>> {
    let Some(master) = &state.master_key else {
        return Ok(Who::Open);
    };
    let given = presented_key(headers).unwrap_or("");
    if constant_time_eq(given.as_bytes(), master.expose().as_bytes()) {
        return Ok(Who::Master);
    }
    let found = match &state.keys {
        Some(keys) => keys
            .find(given)
            .await
            .map_err(|refusal| Box::new(errors::refused(&refusal)))?,
        None => None,
    };
    match found {
        Some(key) => match key.unusable() {
            None => Ok(Who::Key(key)),
            Some(why) => Err(Box::new(unauthorized(why))),
        },
        None => Err(Box::new(unauthorized(
            "missing or invalid API key: send Authorization: Bearer <key>",
        ))),
    }
}

/// The routes anyone may call: liveness and readiness probes (and unknown paths, which the
/// fallback answers with a 404).
pub(crate) fn is_open(route: Option<&str>) -> bool {
    matches!(route, None | Some("/health/liveliness" | "/health/readiness"))
}

/// `GET /metrics`: Prometheus' text format (the master key only, when one is set).
async fn metrics(State(state): State<Arc<AppState>>, axum::Extension(caller): axum::Extension<Caller>) -> Response {
    if let Some(refused) = master_only(&caller, "read /metrics") {
        return refused;
    }
    let mut response = Response::new(axum::body::Body::from(state.metrics.render()));
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// A 403 for a virtual key on an admin route (`what` it may not do).
pub(crate) fn master_only(caller: &Caller, what: &str) -> Option<Response> {
    matches!(caller.who, Who::Key(_)).then(|| {
        error_response(
            StatusCode::FORBIDDEN,
            "permission_error",
            &format!("only the master key may {what}"),
            None,
        )
    })
}

/// The key a request presents: `Authorization: Bearer KEY`, or Anthropic's `x-api-key: KEY`.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
}

fn unauthorized(why: &str) -> Response {
    error_response(
        StatusCode::UNAUTHORIZED,
        "authentication_error",
        why,
        Some("invalid_api_key"),
    )
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The id a request is answered with: the caller's `x-request-id`, when it sent a sane one,
/// else a new random one.
pub(crate) fn request_id(headers: &HeaderMap) -> HeaderValue {
    let given = headers
        .get("x-request-id")
        .filter(|v| v.len() <= 128 && v.to_str().is_ok_and(|s| s.bytes().all(|b| b.is_ascii_graphic())))
        .cloned();
    given.unwrap_or_else(|| {
        HeaderValue::from_str(&format!("req_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)))
            .unwrap_or(HeaderValue::from_static("req_unknown"))
    })
}

#[cfg(test)]
mod client_side_tests;
#[cfg(test)]
pub(crate) mod tests;
