//! The floor of an LLM proxy on this machine, for the issue-15 proxy benchmark (`benches/bench_proxy.py`).
//!
//! A bare forwarder and nothing else: `POST /v1/chat/completions` checks `Authorization: Bearer KEY`,
//! parses the request body as JSON (`serde_json::Value`), forwards the body unchanged to the upstream
//! with reqwest, and for a non-streaming request parses the upstream's JSON answer and sends it back;
//! a streaming request (`"stream": true`) passes the upstream's SSE body through chunk by chunk.
//! No routing, limits, keys, spend or logging: whatever a real proxy costs above this is its features.
//!
//! ```text
//! proxy-floor --port 0 --upstream http://127.0.0.1:8400/v1 --key sk-floor [--threads 1]
//! ```
//!
//! Prints `proxy floor listening on http://127.0.0.1:PORT` once it accepts connections and serves until
//! killed. Accepted connections get TCP_NODELAY. The runtime is a multi-thread tokio runtime with `--threads` workers (default 1, as the
//! package's runtime); only 127.0.0.1 is bound.

use std::io::Write;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use axum::Router;
use serde_json::Value;

/// What the handler shares: the upstream client and the keys.
struct Floor {
    http: reqwest::Client,
    url: reqwest::Url,
    key: String,
    upstream_auth: HeaderValue,
}

/// An OpenAI-shaped error answer.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({"error": {"message": message, "type": "floor_error"}});
    (status, [(CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

async fn chat(State(floor): State<Arc<Floor>>, headers: HeaderMap, body: Bytes) -> Response {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if bearer != Some(floor.key.as_str()) {
        return error(StatusCode::UNAUTHORIZED, "bad key");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);
    let sent = floor
        .http
        .post(floor.url.clone())
        .header(AUTHORIZATION, floor.upstream_auth.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await;
    let upstream = match sent {
        Ok(upstream) => upstream,
        Err(_) => return error(StatusCode::BAD_GATEWAY, "upstream unreachable"),
    };
    let status = upstream.status();
    if stream && status.is_success() {
        let chunks = futures_util::stream::unfold(Some(upstream), |upstream| async move {
            let mut upstream = upstream?;
            match upstream.chunk().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(upstream))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        });
        return ([(CONTENT_TYPE, "text/event-stream")], Body::from_stream(chunks)).into_response();
    }
    let Ok(answer) = upstream.bytes().await else {
        return error(StatusCode::BAD_GATEWAY, "upstream body failed");
    };
    if serde_json::from_slice::<Value>(&answer).is_err() {
        return error(StatusCode::BAD_GATEWAY, "upstream answer is not JSON");
    }
    (status, [(CONTENT_TYPE, "application/json")], answer).into_response()
}

/// `--name value` from the command line, or `default`.
fn flag(args: &[String], name: &str, default: Option<&str>) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| default.map(str::to_owned))
        .unwrap_or_else(|| panic!("missing {name}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = flag(&args, "--port", Some("0")).parse().expect("--port");
    let threads: usize = flag(&args, "--threads", Some("1")).parse().expect("--threads");
    let upstream = flag(&args, "--upstream", None);
    let floor = Floor {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        url: reqwest::Url::parse(&format!("{}/chat/completions", upstream.trim_end_matches('/'))).expect("--upstream"),
        key: flag(&args, "--key", None),
        upstream_auth: HeaderValue::from_static("Bearer sk-upstream"),
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(chat))
        .with_state(Arc::new(floor));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let at = listener.local_addr().expect("address");
        // Streams are many small writes: without TCP_NODELAY, Nagle holds each one back until the
        // client's (delayed, up to 40 ms) ACK of the previous one.
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let mut out = std::io::stdout();
        writeln!(out, "proxy floor listening on http://{at}").expect("stdout");
        out.flush().expect("stdout");
        axum::serve(listener, app).await.expect("serve");
    });
}
