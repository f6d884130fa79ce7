//! The built-in mock LLM provider: an OpenAI-compatible HTTP/1.1 server running inside the
//! process, on the shared runtime.
//!
//! It serves `POST /v1/chat/completions` (plain and streamed; also at Azure OpenAI's
//! `/openai/deployments/{name}/chat/completions`), echoes the last user message (or
//! a configured reply), estimates token usage deterministically, records requests and replays
//! scripted [`Fault`]s. `POST /v1/embeddings` answers with deterministic vectors derived from
//! each input (float or base64), and rejects more than `max_embedding_inputs` inputs. Chat answers
//! honour `n`, `logprobs`/`top_logprobs` (deterministic, see `logprobs.rs`) and a `json_schema`
//! `response_format` (a minimal valid instance, see `schema.rs`); models named `*reasoner*` or
//! `*thinking*` add `reasoning_content`. It also serves the rest of the OpenAI surface with
//! bodies of the documented shapes: `GET /v1/models`, images, speech and transcription,
//! moderation, rerank, an in-memory file store, batches that advance one state per retrieval,
//! and the Responses API (see `routes`). Faults apply to every endpoint. It is used by the test
//! suite, the benchmarks and for offline testing.
//!
//! ```no_run
//! use _liter_llm::mock::{Fault, MockConfig, MockServer};
//!
//! let server = MockServer::start(MockConfig::default())?;
//! server.push_faults(vec![Fault::with_status(429)]);
//! println!("point the client at {}", server.base_url());
//! # Ok::<(), std::io::Error>(())
//! ```

mod anthropic;
mod body;
mod chat;
mod embeddings;
mod faults;
mod gemini;
mod logprobs;
mod media;
mod message_batches;
pub mod multipart;
mod reply;
mod respond;
mod responses;
mod routes;
mod schema;
mod server;
mod split;
mod state;
mod store;
mod tool_call;

#[cfg(test)]
mod tests;

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::net::TcpSocket;

pub use faults::Fault;

use state::{lock, Behaviour, Shared};

/// How long [`MockServer::shutdown`] waits for the listener and connections to close.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(2);

/// Settings of a [`MockServer`].
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Address to bind (default `127.0.0.1`).
    pub host: String,
    /// Port to bind; 0 picks a free port (default).
    pub port: u16,
    /// Fixed reply text; `None` echoes the last user message.
    pub reply: Option<String>,
    /// Wait before sending the response headers of chat requests.
    pub latency: Duration,
    /// Wait between stream events.
    pub chunk_delay: Duration,
    /// Split streamed replies into exactly this many content chunks instead of one per word.
    pub stream_chunks: Option<usize>,
    /// Explicit stream pieces: the reply becomes their concatenation and streams send exactly
    /// these content chunks. Takes precedence over `reply` and `stream_chunks` (a fault's `reply`
    /// still wins).
    pub stream_pieces: Option<Vec<String>>,
    /// Keep a log of the requests (default `true`); [`MockServer::request_count`] counts anyway.
    pub record: bool,
    /// Most inputs one embeddings request may carry (default 2048, as OpenAI); more is a 400.
    pub max_embedding_inputs: usize,
    /// How long batches (OpenAI and Anthropic) take to complete after their creation; `None`
    /// moves them one state per retrieval.
    pub batch_delay: Option<Duration>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            host: "127.0.0.1".to_owned(),
            port: 0,
            reply: None,
            latency: Duration::ZERO,
            chunk_delay: Duration::ZERO,
            stream_chunks: None,
            stream_pieces: None,
            record: true,
            max_embedding_inputs: crate::embeddings::DEFAULT_EMBED_BATCH_SIZE,
            batch_delay: None,
        }
    }
}

/// One request as the mock server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Raw query string, without `?`.
    pub query: Option<String>,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Raw request body.
    pub body: Bytes,
    /// When the request head was handled.
    pub received_at: Instant,
}

impl RecordedRequest {
    /// Value of the first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The parts of a `multipart/form-data` body, if it is one.
    pub fn form(&self) -> Option<Vec<multipart::FormPart>> {
        multipart::parse(self.header("content-type")?, &self.body)
    }
}

/// A running mock provider. Dropping it shuts it down.
#[derive(Debug)]
pub struct MockServer {
    shared: Arc<Shared>,
    port: u16,
    base_url: String,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.to_owned())
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| invalid("host did not resolve to any address"))
}

fn url_host(host: &str, addr: &SocketAddr) -> String {
    match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if host.parse::<IpAddr>().is_ok() => format!("[{ip}]"),
        IpAddr::V4(ip) if host.parse::<IpAddr>().is_ok() => ip.to_string(),
        _ => host.to_owned(),
    }
}

impl MockServer {
    /// Binds the listener now and serves on the shared runtime.
    ///
    /// Fails with `InvalidInput` for a bad configuration (empty host, `stream_chunks` of 0) and
    /// with the OS error when the address cannot be bound (e.g. port in use).
    pub fn start(config: MockConfig) -> io::Result<MockServer> {
        if config.host.is_empty() {
            return Err(invalid("host must not be empty"));
        }
        if config.stream_chunks == Some(0) {
            return Err(invalid("stream_chunks must be at least 1"));
        }
        let addr = resolve(&config.host, config.port)?;
        // Usage is billed in o200k tokens; load the vocabulary here, not on the first request.
        crate::tokens::Encoding::O200kBase.preload();
        let runtime = crate::runtime::get();
        let _context = runtime.enter();
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(1024)?;
        let local = listener.local_addr()?;
        let base_url = format!("http://{}:{}/v1", url_host(&config.host, &addr), local.port());
        let shared = Arc::new(Shared::new(Behaviour {
            reply: config.reply,
            latency: config.latency,
            chunk_delay: config.chunk_delay,
            stream_chunks: config.stream_chunks,
            stream_pieces: config.stream_pieces,
            record: config.record,
            max_embedding_inputs: config.max_embedding_inputs.max(1),
            batch_delay: config.batch_delay,
        }));
        runtime.spawn(server::accept_loop(listener, Arc::clone(&shared)));
        Ok(MockServer {
            shared,
            port: local.port(),
            base_url,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:{port}/v1`, the value to use as an OpenAI base URL.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    /// When the server started; `RecordedRequest::received_at` is relative to it.
    pub fn started_at(&self) -> Instant {
        self.shared.started
    }

    /// Queues faults; each request to a served endpoint consumes the oldest one.
    pub fn push_faults(&self, faults: Vec<Fault>) {
        let mut queue = lock(&self.shared.faults);
        queue.extend(faults);
        self.shared.pending.store(queue.len(), Ordering::Release);
    }

    /// Number of faults still queued.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).len()
    }

    /// The recorded requests, oldest first (empty when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Number of requests received since start or the last [`reset`](Self::reset).
    pub fn request_count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Clears the request log, the request count, the queued faults and the stored files,
    /// batches and responses.
    pub fn reset(&self) {
        lock(&self.shared.log).clear();
        *lock(&self.shared.store) = store::Store::default();
        let mut queue = lock(&self.shared.faults);
        queue.clear();
        self.shared.pending.store(0, Ordering::Release);
        self.shared.count.store(0, Ordering::Relaxed);
    }

    /// Whether [`shutdown`](Self::shutdown) has been called.
    pub fn is_closed(&self) -> bool {
        *self.shared.shutdown.borrow()
    }

    /// Stops accepting and drops every open connection. Idempotent.
    ///
    /// Called outside an async context it waits (briefly) until the port is closed and the
    /// connections are gone, so a connection attempt right after it is refused.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
        if tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        let deadline = Instant::now() + SHUTDOWN_WAIT;
        while Instant::now() < deadline {
            if self.shared.listener_closed.load(Ordering::Acquire) && self.shared.live.load(Ordering::Acquire) == 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        log::warn!("mock server on port {}: shutdown did not complete in time", self.port);
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
