//! What each request leaves behind: one JSON access-log line (to stdout or a file) and its
//! metrics, written when its answer ends (a stream's last chunk, or its caller leaving).
//!
//! Handlers note what they learn (model group, deployment, tokens, cost, metadata) in the
//! request's [`Trail`]; the [`observe`] middleware turns it into the line and the metrics.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use axum::Router;
use futures_util::StreamExt;
use hyper::body::Body as _;
use serde_json::{json, Value};
use tower_layer::Layer;
use tower_service::Service;

use super::keys::record::{iso8601, now};
use super::metrics::Observation;
use super::{AppState, Caller, Who};

/// How often the writer writes out the lines gathered (requests never wake it).
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// The most bytes gathered between two writes; past it new lines are dropped (a stalled stdout
/// never holds up requests, nor grows without bound).
const MAX_PENDING_BYTES: usize = 16 << 20;
/// The largest `metadata` a log line carries, serialized.
const MAX_METADATA_BYTES: usize = 8 << 10;

/// Where access-log lines go (`general_settings.access_log`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output (the default).
    #[default]
    Stdout,
    /// Appended to a file.
    File(PathBuf),
    /// Not written.
    Off,
}

/// The access log: requests append lines to a buffer; a thread writes it out every
/// [`FLUSH_EVERY`], and once more when the log is dropped (the server stopped).
#[derive(Debug)]
pub struct AccessLog {
    shared: Arc<Pending>,
}

/// A handle that closes the access log (writes out what is gathered and stops its thread)
/// from outside the server.
#[derive(Debug, Clone)]
pub struct LogCloser(Arc<Pending>);

#[derive(Debug, Default)]
struct Pending {
    lines: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    closed: std::sync::atomic::AtomicBool,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Pending {
    /// Writes out what is gathered and stops the writer (once; later calls do nothing).
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(writer) = writer {
            writer.thread().unpark();
            let _ = writer.join();
        }
    }
}

impl LogCloser {
    /// Writes out the lines gathered so far and stops the log.
    pub fn close(&self) {
        self.0.close();
    }
}

impl AccessLog {
    /// Starts writing to `target` (`None` for [`LogTarget::Off`]).
    ///
    /// # Errors
    /// The file cannot be opened, or the thread cannot start.
    pub fn open(target: &LogTarget) -> io::Result<Option<Self>> {
        let out: Box<dyn Write + Send> = match target {
            LogTarget::Off => return Ok(None),
            LogTarget::Stdout => Box::new(io::stdout()),
            LogTarget::File(path) => Box::new(OpenOptions::new().create(true).append(true).open(path)?),
        };
        let shared = Arc::new(Pending::default());
        let gathered = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("liter-llm-access-log".into())
            .spawn(move || write_all(out, &gathered))?;
        *shared.writer.lock().unwrap_or_else(PoisonError::into_inner) = Some(writer);
        Ok(Some(AccessLog { shared }))
    }

    /// A handle that closes this log from outside the server.
    pub fn closer(&self) -> LogCloser {
        LogCloser(Arc::clone(&self.shared))
    }

    fn write(&self, line: &Line<'_>) {
        let mut lines = self.shared.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() >= MAX_PENDING_BYTES {
            drop(lines);
            if self.shared.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                log::warn!("access log: the output cannot keep up; lines are being dropped");
            }
            return;
        }
        if serde_json::to_writer(&mut *lines, line).is_ok() {
            lines.push(b'\n');
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// The writer thread: every [`FLUSH_EVERY`] (or when the log closes), what was gathered.
fn write_all(mut out: Box<dyn Write + Send>, pending: &Pending) {
    let mut spare = Vec::new();
    loop {
        let closing = pending.closed.load(Ordering::Acquire);
        std::mem::swap(
            &mut spare,
            &mut *pending.lines.lock().unwrap_or_else(PoisonError::into_inner),
        );
        if !spare.is_empty() {
            if out.write_all(&spare).and_then(|()| out.flush()).is_err() {
                return;
            }
            spare.clear();
        }
        if closing {
            return;
        }
        std::thread::park_timeout(FLUSH_EVERY);
    }
}

/// What a request's handlers noted about it.
#[derive(Debug, Default)]
pub(crate) struct Trail(Mutex<Seen>);

/// The fields of a [`Trail`].
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) model_group: Option<String>,
    pub(crate) deployment: Option<String>,
    pub(crate) key_alias: Option<String>,
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) completion_tokens: Option<u64>,
    pub(crate) cost: Option<f64>,
    pub(crate) first_token: Option<Duration>,
    pub(crate) cache_hit: bool,
    pub(crate) metadata: Option<Value>,
}

impl Trail {
    /// Notes something about the request.
    pub(crate) fn note(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Notes the caller's `metadata` (too large: a note saying so).
    pub(crate) fn note_metadata(&self, metadata: Value) {
        let kept = if metadata.to_string().len() <= MAX_METADATA_BYTES {
            metadata
        } else {
            json!({"_omitted": format!("metadata larger than {MAX_METADATA_BYTES} bytes")})
        };
        self.note(|seen| seen.metadata = Some(kept));
    }
}

/// What every request goes through before `routes`: gives it an id (answered in
/// `x-request-id`) and a [`Trail`], finds its [`Caller`] (a 401 for a route that needs a key and
/// has none), and logs and counts it when its answer ends.
pub(crate) async fn observe(state: Arc<AppState>, routes: Router, mut request: Request) -> Response {
    let started = Instant::now();
    let id = super::request_id(request.headers());
    let trail = Arc::new(Trail::default());
    let route = state.patterns.find(request.uri().path());
    let who = if super::is_open(state.patterns.pattern(route)) {
        Ok(Who::Open)
    } else {
        super::identify(&state, request.headers()).await
    };
    let method = request.method().clone();
    state.metrics.started();
    // Held across the handler: a caller that leaves before the answer is logged and counted
    // too, with nginx's 499 (client closed request).
    let mut done = Done {
        state,
        trail: Arc::clone(&trail),
        started,
        route,
        method,
        id: id.clone(),
        status: 499,
    };
    let mut response = match who {
        Ok(who) => {
            if let Who::Key(key) = &who {
                let alias = key.alias();
                trail.note(|seen| seen.key_alias = alias);
            }
            request.extensions_mut().insert(Caller { who, trail });
            let mut routes = done.state.body_limit.layer(routes);
            match routes.call(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        }
        Err(refused) => *refused,
    };
    response.headers_mut().insert("x-request-id", id);
    done.status = response.status().as_u16();
    // A whole body is sent at once: done once it is on its way (a task of its own, which runs
    // after this connection's task has written the answer, keeps the log line and metrics off
    // the caller's wait). A stream is done when its body ends or is dropped.
    if response.body().size_hint().exact().is_some() {
        let finishing = done.state.finishing.clone();
        finishing.spawn(async move { drop(done) });
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &done;
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// A request whose answer is ending: its line and metrics are written on drop.
struct Done {
    state: Arc<AppState>,
    trail: Arc<Trail>,
    started: Instant,
    /// The route's pattern (its index in the server's patterns); `None` for a path no route
    /// matched.
    route: Option<usize>,
    method: Method,
    id: HeaderValue,
    status: u16,
}

impl Drop for Done {
    fn drop(&mut self) {
        let elapsed = self.started.elapsed();
        let route = self.state.patterns.name(self.route);
        let seen = self.trail.0.lock().unwrap_or_else(PoisonError::into_inner);
        self.state.metrics.finished(&Observation {
            route,
            model_group: seen.model_group.as_deref(),
            deployment: seen.deployment.as_deref(),
            key_alias: seen.key_alias.as_deref(),
            status: self.status,
            seconds: elapsed.as_secs_f64(),
            first_token_seconds: seen.first_token.map(|d| d.as_secs_f64()),
            prompt_tokens: seen.prompt_tokens,
            completion_tokens: seen.completion_tokens,
            cost: seen.cost,
        });
        let Some(log) = &self.state.access_log else {
            return;
        };
        let write = |time: &str| {
            log.write(&Line {
                time,
                request_id: self.id.to_str().ok(),
                method: self.method.as_str(),
                route,
                status: self.status,
                latency_ms: round3(elapsed.as_secs_f64() * 1e3),
                ttft_ms: seen.first_token.map(|d| round3(d.as_secs_f64() * 1e3)),
                key_alias: seen.key_alias.as_deref(),
                model_group: seen.model_group.as_deref(),
                deployment: seen.deployment.as_deref(),
                prompt_tokens: seen.prompt_tokens,
                completion_tokens: seen.completion_tokens,
                cost: seen.cost,
                cache_hit: seen.cache_hit,
                metadata: seen.metadata.as_ref(),
            });
        };
        // The thread's stamp is gone only while the thread itself ends.
        if STAMP.try_with(|stamp| write(stamp.borrow_mut().now())).is_err() {
            write(&iso8601(now()));
        }
    }
}

thread_local! {
    /// This thread's last access-log timestamp: one line in a second formats it once.
    static STAMP: std::cell::RefCell<Stamp> = const { std::cell::RefCell::new(Stamp { second: -1, text: String::new() }) };
}

/// A whole second and its ISO 8601 text.
struct Stamp {
    second: i64,
    text: String,
}

impl Stamp {
    /// The text of the current second.
    fn now(&mut self) -> &str {
        let unix = now();
        // Whole seconds, as `iso8601` writes them.
        #[allow(clippy::cast_possible_truncation)]
        let second = unix.floor() as i64;
        if second != self.second {
            self.second = second;
            self.text = iso8601(unix);
        }
        &self.text
    }
}

/// One access-log line, in field order.
#[derive(serde::Serialize)]
struct Line<'a> {
    time: &'a str,
    request_id: Option<&'a str>,
    method: &'a str,
    route: &'a str,
    status: u16,
    latency_ms: f64,
    ttft_ms: Option<f64>,
    key_alias: Option<&'a str>,
    model_group: Option<&'a str>,
    deployment: Option<&'a str>,
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    cost: Option<f64>,
    cache_hit: bool,
    metadata: Option<&'a Value>,
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}
