//! The core client: sends requests with retries and turns answers into typed models or errors.
//!
//! Retries follow [`crate::retry`]: 408, 409, 429, 5xx and failures before any response are
//! retried up to `max_retries` times with full-jitter backoff or the server's Retry-After hint.
//! The request body is serialised once by the caller and shared by every attempt.
//!
//! With a rate limiter configured, every attempt first waits for a grant for the request's
//! model (reserving [`estimate_tokens`] when tokens are limited). The grant's concurrency slot
//! is held until the response body has been read (for a stream, until it ends or is dropped);
//! the reserved tokens are then reconciled with the response's `usage.total_tokens`. Failed
//! attempts settle as follows: an HTTP 4xx (429 included) was not processed by the provider, so
//! its tokens are refunded (the request still counts); a connection that could not be opened
//! refunds its tokens too; 5xx answers, timeouts and other transport failures keep the estimate,
//! since the provider may have done the work. A 429 also pauses the request's limiter key for
//! every caller for the Retry-After period (or the backoff when the provider gives none).

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::config::ClientConfig;
use crate::error::{Error, Kind, Result};
use crate::http;
use crate::ratelimit::{self, estimate_tokens, total_tokens_in, Permit};
use crate::retry::{self, RetryPolicy};
use crate::sanitize;
use crate::stream::{Accounting, ChatStream};
use crate::types::ChatCompletionResponse;

/// Name used in errors for OpenAI-compatible providers.
const PROVIDER: &str = "openai";

/// One outgoing request, already serialised.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The JSON body, shared across retries.
    pub body: Bytes,
    /// The model, for error context.
    pub model: String,
    /// Per-call headers, added after the client's.
    pub headers: HeaderMap,
    /// Per-call override of the client's `sanitize` setting (chat only).
    pub sanitize: Option<bool>,
}

/// An immutable, cheaply shareable LLM client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    policy: RetryPolicy,
    chat_url: reqwest::Url,
}

impl Client {
    /// Builds a client.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed base URL, `InvalidHeader` for bad extra headers.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let base = config.base_url();
        let chat_url = reqwest::Url::parse(&format!("{base}/chat/completions"))
            .map_err(|e| Error::new(Kind::InvalidArgument, format!("invalid base_url {base:?}: {e}")))?;
        if !matches!(chat_url.scheme(), "http" | "https") {
            return Err(Error::new(
                Kind::InvalidArgument,
                "base_url must start with http:// or https://",
            ));
        }
        Ok(Client {
            http: http::build(&config)?,
            policy: RetryPolicy::new(config.max_retries),
            chat_url,
            config,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends a chat completion and parses the answer.
    ///
    /// # Errors
    /// The mapped provider or transport error after retries; `Serialization` for a malformed body.
    pub async fn chat(&self, request: Request) -> Result<ChatCompletionResponse> {
        let request = self.prepare(request)?;
        let started = Instant::now();
        let mut retries = 0;
        let usage = &self.config.usage;
        match self
            .post_to::<ChatCompletionResponse>(&self.chat_url, &request, "chat completion", &mut retries)
            .await
        {
            Ok(mut response) => {
                let latency = started.elapsed();
                let price_model = Some(response.model.as_str());
                response.cost = usage.record_call(
                    &request.model,
                    price_model,
                    response.usage.as_ref(),
                    latency,
                    None,
                    retries,
                );
                Ok(response)
            }
            Err(err) => {
                usage.record_failure(&request.model, started.elapsed(), retries);
                Err(err)
            }
        }
    }

    /// Sanitises the body for its model when the call or the client asks for it.
    fn prepare(&self, mut request: Request) -> Result<Request> {
        if !request.sanitize.unwrap_or(self.config.sanitize) {
            return Ok(request);
        }
        let mut body: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&request.body)
            .map_err(|e| Error::new(Kind::Serialization, format!("request body is not a JSON object: {e}")))?;
        let changes = sanitize::sanitize(&request.model, &mut body);
        if !changes.is_empty() {
            log::info!(target: "liter_llm", "{}", sanitize::describe(&request.model, &changes));
            let bytes = serde_json::to_vec(&body).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
            request.body = Bytes::from(bytes);
        }
        Ok(request)
    }

    /// POSTs `request` to `{base_url}{path}` (e.g. `/embeddings`) with retries and parses the
    /// JSON answer into `T`; `what` names the expected object in errors.
    ///
    /// # Errors
    /// As [`Client::chat`]; `InvalidArgument` if `path` does not form a valid URL.
    pub async fn post_json<T: DeserializeOwned>(&self, path: &str, request: &Request, what: &str) -> Result<T> {
        self.post_to(&self.url(path)?, request, what, &mut 0).await
    }

    /// The absolute URL of an endpoint path under the base URL.
    ///
    /// # Errors
    /// `InvalidArgument` if the result is not a valid URL.
    pub fn url(&self, path: &str) -> Result<reqwest::Url> {
        let full = format!("{}/{}", self.config.base_url(), path.trim_start_matches('/'));
        reqwest::Url::parse(&full).map_err(|e| Error::new(Kind::InvalidArgument, format!("invalid URL {full:?}: {e}")))
    }

    async fn post_to<T: DeserializeOwned>(
        &self,
        url: &reqwest::Url,
        request: &Request,
        what: &str,
        retries: &mut u32,
    ) -> Result<T> {
        let (resp, permit) = self.send(url, request, retries).await?;
        let request_id = http::request_id(resp.headers());
        let body = http::read_body(resp, self.config.timeout)
            .await
            .map_err(|e| e.with_context(PROVIDER, Some(&request.model)))?;
        if let Some(permit) = permit {
            let usage = if permit.tokens() > 0 {
                total_tokens_in(&body)
            } else {
                None
            };
            permit.settle(usage);
        }
        serde_json::from_slice(&body).map_err(|e| {
            Error::new(Kind::Serialization, format!("the response is not a valid {what}: {e}"))
                .with_context(PROVIDER, Some(&request.model))
                .with_request_id(request_id)
        })
    }

    /// Starts a streamed chat completion; resolves once the response headers arrived.
    ///
    /// # Errors
    /// As [`Client::chat`], for failures before the stream starts.
    pub async fn chat_stream(&self, request: Request) -> Result<ChatStream> {
        let request = self.prepare(request)?;
        let started = Instant::now();
        let mut retries = 0;
        let usage = Arc::clone(&self.config.usage);
        let (resp, permit) = match self.send(&self.chat_url, &request, &mut retries).await {
            Ok(sent) => sent,
            Err(err) => {
                usage.record_failure(&request.model, started.elapsed(), retries);
                return Err(err);
            }
        };
        let resp = match permit {
            Some(permit) => ratelimit::attach(resp, permit),
            None => resp,
        };
        Ok(ChatStream::new(
            resp,
            self.config.timeout,
            request.model,
            PROVIDER,
            self.config.api_key.clone(),
        )
        .with_accounting(Accounting {
            tracker: usage,
            started,
            retries,
        }))
    }

    /// POSTs `request` to `url`, retrying as the policy says; returns a successful response and
    /// the rate limiter's permit for it (to be settled once the body has been read).
    async fn send(
        &self,
        url: &reqwest::Url,
        request: &Request,
        retries: &mut u32,
    ) -> Result<(reqwest::Response, Option<Permit>)> {
        let timeout = self.config.timeout;
        let limiter = self
            .config
            .rate_limiter
            .as_deref()
            .filter(|l| l.is_limited(&request.model));
        let tokens = match limiter {
            Some(l) if l.counts_tokens(&request.model) => estimate_tokens(&request.body, &request.model),
            _ => 0,
        };
        let mut retry_index = 0;
        loop {
            *retries = retry_index;
            let permit = match limiter {
                Some(l) => Some(
                    l.acquire(&request.model, tokens)
                        .await
                        .map_err(|e| e.with_context(PROVIDER, Some(&request.model)))?,
                ),
                None => None,
            };
            let started = Instant::now();
            let attempt = self
                .http
                .request(Method::POST, url.clone())
                .headers(request.headers.clone())
                .body(request.body.clone())
                .send();
            let (err, hint_headers) = match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(resp)) if resp.status().is_success() => {
                    let waited = started.elapsed();
                    if waited > timeout / 2 {
                        log::info!(target: "liter_llm", "slow response: {} took {:.2}s to answer", url.path(), waited.as_secs_f64());
                    }
                    return Ok((resp, permit));
                }
                Ok(Ok(resp)) => {
                    let (err, headers, retryable) = self.error_from(resp, &request.model).await;
                    if let Some(permit) = permit {
                        let status = err.status().unwrap_or(500);
                        if status == 429 {
                            permit.pause(self.policy.delay_for(retry_index, Some(&headers)));
                        }
                        // A 4xx was refused before any work: give its tokens back.
                        permit.settle((400..500).contains(&status).then_some(0));
                    }
                    if !retryable {
                        return Err(err);
                    }
                    (err, Some(headers))
                }
                Ok(Err(e)) => {
                    if let Some(permit) = permit {
                        // Nothing reached the provider if the connection never opened.
                        permit.settle(e.is_connect().then_some(0));
                    }
                    let err = Error::from_reqwest(&e, false).with_context(PROVIDER, Some(&request.model));
                    if e.is_builder() {
                        return Err(err);
                    }
                    (err, None)
                }
                Err(_) => (
                    Error::new(
                        Kind::Timeout,
                        format!("no response within {:.1}s", timeout.as_secs_f64()),
                    )
                    .with_context(PROVIDER, Some(&request.model)),
                    None,
                ),
            };
            if retry_index >= self.policy.max_retries {
                if self.policy.max_retries > 0 {
                    log::warn!(target: "liter_llm", "giving up on {} after {} attempts: {err}", url.path(), retry_index + 1);
                }
                return Err(err);
            }
            let delay = self.policy.delay_for(retry_index, hint_headers.as_ref());
            log::info!(
                target: "liter_llm",
                "retrying {} in {:.2}s (attempt {} of {}, after {})",
                url.path(),
                delay.as_secs_f64(),
                retry_index + 2,
                self.policy.max_retries + 1,
                err.status().map_or_else(|| err.message().to_owned(), |s| format!("HTTP {s}")),
            );
            tokio::time::sleep(delay).await;
            retry_index += 1;
        }
    }

    /// Reads an error response; returns the error, the headers and whether to retry.
    async fn error_from(&self, resp: reqwest::Response, model: &str) -> (Error, HeaderMap, bool) {
        let status: StatusCode = resp.status();
        let headers = resp.headers().clone();
        let body = http::read_body(resp, self.config.timeout).await.unwrap_or_default();
        let retry_after = retry::retry_after(&headers, SystemTime::now());
        let err = Error::from_response(status.as_u16(), &body)
            .with_context(PROVIDER, Some(model))
            .with_request_id(http::request_id(&headers))
            .with_retry_after(retry_after)
            .redact(self.config.api_key.expose());
        let retryable = retry::should_retry_status(status.as_u16(), &headers);
        (err, headers, retryable)
    }
}
