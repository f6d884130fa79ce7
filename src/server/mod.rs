//! The OpenAI-compatible proxy server (`liter-llm serve`): one [`Client`] (its deployments, cache
//! and limiter) behind the OpenAI HTTP API, so any language or tool can share one set of keys,
//! routes, limits and caches.
//!
//! Built on axum. Every response carries an `x-request-id`; a body past `max_body_bytes` is a
//! 413; with a master key, every route but the health checks wants `Authorization: Bearer KEY`
//! (compared in constant time). Streams pass through chunk by chunk, never buffered whole; a
//! client that disconnects drops the stream, which closes the upstream request. Accepted
//! connections get TCP_NODELAY, so each relayed event leaves at once.

mod errors;
mod openai;

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;

use crate::config::Secret;
use crate::Client;

pub use errors::{error_response, from_core};

/// The largest request body accepted by default (LiteLLM-sized prompts with images fit).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 << 20;

/// How the server answers.
#[derive(Debug, Default)]
pub struct ServeOptions {
    /// `general_settings.master_key`: required as a bearer token when set.
    pub master_key: Option<Secret>,
    /// The largest request body accepted (0: [`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
}

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) client: Arc<Client>,
    master_key: Option<Secret>,
}

/// The routes, ready to serve.
pub fn router(client: Arc<Client>, options: ServeOptions) -> Router {
    let limit = match options.max_body_bytes {
        0 => DEFAULT_MAX_BODY_BYTES,
        n => n,
    };
    let state = Arc::new(AppState {
        client,
        master_key: options.master_key,
    });
    let api = Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/embeddings", post(openai::embeddings))
        .route("/v1/moderations", post(openai::moderations))
        .route("/moderations", post(openai::moderations))
        .route("/v1/images/generations", post(openai::images))
        .route("/images/generations", post(openai::images))
        .route("/v1/rerank", post(openai::rerank))
        .route("/rerank", post(openai::rerank))
        .route("/v1/responses", post(openai::responses))
        .route("/responses", post(openai::responses))
        .route("/v1/models", get(openai::models))
        .route("/models", get(openai::models))
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), authenticate));
    Router::new()
        .route("/health/liveliness", get(|| async { "I'm alive!" }))
        .route("/health/readiness", get(openai::readiness))
        .merge(api)
        .fallback(|| async { error_response(StatusCode::NOT_FOUND, "not_found_error", "no such route", None) })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(request_id))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting and lets the
/// requests and streams in flight finish.
///
/// # Errors
/// What accepting connections fails with.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    // Streams are many small writes: without TCP_NODELAY, Nagle holds each one back until the
    // client's delayed ACK (up to 40 ms) of the one before.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            log::debug!("serve: TCP_NODELAY not set: {err}");
        }
    });
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}

/// Checks the bearer token against the master key, when one is set.
async fn authenticate(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(key) = &state.master_key {
        let given = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), key.expose().as_bytes()) {
            return error_response(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing or invalid API key: send Authorization: Bearer <key>",
                Some("invalid_api_key"),
            );
        }
    }
    next.run(request).await
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Gives every response an `x-request-id` (the caller's, when it sent a sane one).
async fn request_id(request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get("x-request-id")
        .filter(|v| v.len() <= 128 && v.to_str().is_ok_and(|s| s.bytes().all(|b| b.is_ascii_graphic())))
        .cloned();
    let mut response = next.run(request).await;
    let id = given.unwrap_or_else(|| {
        HeaderValue::from_str(&format!("req_{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..)))
            .unwrap_or(HeaderValue::from_static("req_unknown"))
    });
    response.headers_mut().insert("x-request-id", id);
    response
}

#[cfg(test)]
mod tests;
