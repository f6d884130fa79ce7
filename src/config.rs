//! Client configuration and its defaults (see `retry` for the retry constants).
//!
//! A client has no rate limiter by default; one [`RateLimiter`] may be shared by many clients
//! (copies of a config share it).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

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
