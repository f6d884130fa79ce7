//! Client configuration and its defaults (see `retry` for the retry constants).
//!
//! A client has no rate limiter by default; one [`RateLimiter`] may be shared by many clients
//! (copies of a config share it).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::http::Cap;
use crate::providers::registry::ProviderConfig;
use crate::ratelimit::RateLimiter;
use crate::retry::{DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_SECS};
use crate::usage::UsageTracker;

/// Default base URL of OpenAI-compatible requests.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret itself; only for building the auth header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Everything a [`crate::client::Client`] is built from. Immutable once the client exists.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The provider API key.
    pub api_key: Secret,
    /// Base URL; `None` means [`DEFAULT_BASE_URL`].
    pub base_url: Option<String>,
    /// Provider hint such as `groq/llama3-70b`.
    pub model_hint: Option<String>,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Bounds connect, time to response headers, and each gap between body reads.
    pub timeout: Duration,
    /// Headers added to every request.
    pub extra_headers: Vec<(String, String)>,
    /// Paces every attempt of every request; `None` sends at once.
    pub rate_limiter: Option<Arc<RateLimiter>>,
    /// Records every call (tokens, cost, latency); shared by copies made with `with_options`.
    pub usage: Arc<UsageTracker>,
    /// Sanitise every chat request for its model (drop/rename parameters, fit the context).
    pub sanitize: bool,
    /// Custom providers and overrides of built-in ones.
    pub providers: Vec<ProviderConfig>,
    /// Azure OpenAI `api-version` (`None`: `AZURE_API_VERSION` or the default).
    pub api_version: Option<String>,
    /// Size caps on what a server may send (see [`Limits`]).
    pub limits: Limits,
    /// Bounds a whole call, from its first attempt to its last byte (retries, backoff and the
    /// body or stream included); `None` leaves only the per-read `timeout`.
    pub total_timeout: Option<Duration>,
    /// The id of the deployment this client serves, when a router built it: its calls are
    /// also recorded under that id in `usage`.
    pub deployment: Option<Arc<str>>,
    /// Whether providers' keys (`OPENAI_API_KEY`, ...), `AZURE_API_BASE` and `AZURE_API_VERSION`
    /// are read from the environment (default `true`). `false` for a client built from what a
    /// proxy's caller sent: the server's environment holds the server's secrets, which must never
    /// go to a host the caller chose.
    pub credentials_from_env: bool,
}

/// Default [`Limits::max_response_bytes`]: 128 MiB (a 2,048-input embeddings answer at 3,072
/// dimensions is about 70 MB of JSON).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 128 << 20;
/// Default [`Limits::max_download_bytes`]: 2 GiB (files and speech).
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 2 << 30;
/// Default [`Limits::max_stream_event_bytes`]: 16 MiB.
pub const DEFAULT_MAX_STREAM_EVENT_BYTES: u64 = 16 << 20;
/// Default [`Limits::max_error_body_bytes`]: 64 KiB.
pub const DEFAULT_MAX_ERROR_BODY_BYTES: u64 = 64 << 10;

/// Caps on the bytes a server may make the client hold. Sizes count decoded bytes, so a
/// compressed body (gzip, brotli, zstd) stops at the cap however small it was on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest decoded body of a successful answer (chat, embeddings, every JSON endpoint).
    pub max_response_bytes: u64,
    /// The largest binary download (`file_content`, `speech`).
    pub max_download_bytes: u64,
    /// The largest SSE line or event (all its `data` lines together) in a stream.
    pub max_stream_event_bytes: u64,
    /// How much of an error body is read and kept (the rest is dropped with the connection).
    pub max_error_body_bytes: u64,
}

impl Limits {
    /// The cap on a successful answer's body.
    pub fn response(&self) -> Cap {
        Cap {
            what: "the response",
            max: self.max_response_bytes,
            setting: "max_response_bytes",
        }
    }

    /// The cap on a binary download (`file_content`, `speech`).
    pub fn download(&self) -> Cap {
        Cap {
            what: "the download",
            max: self.max_download_bytes,
            setting: "max_download_bytes",
        }
    }

    /// The cap on one SSE line or event.
    pub fn stream_event(&self) -> Cap {
        Cap {
            what: "a stream event",
            max: self.max_stream_event_bytes,
            setting: "max_stream_event_bytes",
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_download_bytes: DEFAULT_MAX_DOWNLOAD_BYTES,
            max_stream_event_bytes: DEFAULT_MAX_STREAM_EVENT_BYTES,
            max_error_body_bytes: DEFAULT_MAX_ERROR_BODY_BYTES,
        }
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            api_key: Secret::default(),
            base_url: None,
            model_hint: None,
            max_retries: DEFAULT_MAX_RETRIES,
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS),
            extra_headers: Vec::new(),
            rate_limiter: None,
            usage: Arc::new(UsageTracker::new()),
            sanitize: false,
            providers: Vec::new(),
            api_version: None,
            limits: Limits::default(),
            total_timeout: None,
            deployment: None,
            credentials_from_env: true,
        }
    }
}

impl ClientConfig {
    /// The effective base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        self.base_url
            .as_deref()
            .unwrap_or(DEFAULT_BASE_URL)
            .trim_end_matches('/')
    }
}
