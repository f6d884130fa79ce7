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
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};

use crate::api::Upload;
use crate::config::ClientConfig;
use crate::error::{Error, Kind, Result};
use crate::http::{self, Timing};
use crate::providers::registry::{Endpoint, Protocol};
use crate::providers::route::{Router, Target};
use crate::providers::{anthropic, gemini};
use crate::ratelimit::{estimate_tokens, Permit};
use crate::retry::{self, RetryPolicy};
use crate::sanitize;
use crate::stream::{Accounting, ChatStream, Translator};
use crate::types::{ChatCompletionResponse, EmbeddingResponse};

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
    /// Per-call override of the client's `total_timeout`.
    pub total_timeout: Option<Duration>,
}

/// A successful response whose body is still to be read, with what reading it needs.
pub(crate) struct Sent {
    /// The response, headers received.
    pub(crate) resp: reqwest::Response,
    /// The rate limiter's grant, settled once the body has been read.
    pub(crate) permit: Option<Permit>,
    /// Read waits and the call's deadline, for the body or stream.
    pub(crate) timing: Timing,
}

/// A whole successful body.
struct Received {
    body: Bytes,
    permit: Option<Permit>,
    request_id: Option<String>,
}

/// An immutable, cheaply shareable LLM client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    policy: RetryPolicy,
    pub(crate) router: Router,
}

/// A call made ready for its provider: where it goes and the body it sends.
pub(crate) struct Call {
    pub(crate) target: Arc<Target>,
    pub(crate) url: reqwest::Url,
    pub(crate) request: Request,
    /// The OpenAI-shaped body as the caller gave it (token estimates count this one).
    pub(crate) source: Bytes,
    /// The model name on the wire.
    pub(crate) model: String,
    /// HTTP method (POST for chat and embeddings).
    pub(crate) method: Method,
    /// A multipart upload sent instead of `request.body`; its form is rebuilt for every attempt
    /// from the bytes kept in memory.
    pub(crate) upload: Option<Arc<Upload>>,
}

impl Client {
    /// Builds a client.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed base URL, `InvalidHeader` for bad extra headers.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let base = config.base_url();
        let parsed = reqwest::Url::parse(base).map_err(|e| {
            let shown = crate::redact::url(base);
            Error::new(Kind::InvalidArgument, format!("invalid base_url {shown:?}: {e}"))
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::new(
                Kind::InvalidArgument,
                "base_url must start with http:// or https://",
            ));
        }
        Ok(Client {
            http: http::build(&config)?,
            policy: RetryPolicy::new(config.max_retries),
            router: Router::new(&config)?,
            config,
        })
    }

    /// Routes a request to its provider and builds the provider's URL and body for `endpoint`.
    fn call(&self, mut request: Request, endpoint: Endpoint, stream: bool) -> Result<Call> {
        let route = self.router.route(&request.model);
        let target = Arc::clone(route.target);
        let context = |e: Error| e.with_context(target.name(), Some(&request.model));
        if !target.provider.supports(endpoint) {
            return Err(context(target.provider.unsupported(endpoint.describe())));
        }
        target.check_key().map_err(context)?;
        if target.base.is_empty() {
            return Err(context(Error::new(
                Kind::InvalidArgument,
                format!("provider {:?} needs a base_url (or AZURE_API_BASE)", target.name()),
            )));
        }
        let model = route.model.to_owned();
        let protocol = target.protocol();
        let provider = &target.provider;
        let rewrite = model.len() != request.model.len()
            || protocol != Protocol::OpenAi
            || !provider.renames.is_empty()
            || !provider.rejects.is_empty();
        let source = request.body.clone();
        let mut native_path = None;
        if rewrite {
            let mut body: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&request.body)
                .map_err(|e| Error::new(Kind::Serialization, format!("request body is not a JSON object: {e}")))?;
            body.insert("model".to_owned(), serde_json::Value::String(model.clone()));
            for (from, to) in &provider.renames {
                // The provider only knows the new name; when both are given the new one wins.
                if let Some(v) = body.remove(from) {
                    body.entry(to.clone()).or_insert(v);
                }
            }
            for key in &provider.rejects {
                body.remove(key);
            }
            let bytes = match (protocol, endpoint) {
                (Protocol::Anthropic, _) => anthropic::chat_request(&body).map_err(context)?,
                (Protocol::Gemini, Endpoint::Chat) => gemini::chat_request(&body).map_err(context)?,
                (Protocol::Gemini, _) => {
                    let (path, bytes) = gemini::embed_request(&body, &model).map_err(context)?;
                    native_path = Some(path);
                    bytes
                }
                _ => serde_json::to_vec(&body).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?,
            };
            request.body = Bytes::from(bytes);
        }
        let mut url = match (&target.chat_url, endpoint) {
            (Some(url), Endpoint::Chat) => url.clone(),
            _ => {
                let path = match (protocol, endpoint) {
                    (Protocol::Anthropic, _) => "messages".to_owned(),
                    (Protocol::Gemini, Endpoint::Chat) => gemini::chat_path(&model, stream).map_err(context)?,
                    (Protocol::Gemini, _) => native_path.unwrap_or_default(),
                    (Protocol::Azure, Endpoint::Chat) => format!(
                        "openai/deployments/{}/chat/completions?api-version={}",
                        crate::providers::path_escape(&model).map_err(context)?,
                        self.router.azure_api_version
                    ),
                    (Protocol::Azure, _) => format!(
                        "openai/deployments/{}/embeddings?api-version={}",
                        crate::providers::path_escape(&model).map_err(context)?,
                        self.router.azure_api_version
                    ),
                    (Protocol::OpenAi, Endpoint::Embeddings) => "embeddings".to_owned(),
                    (Protocol::OpenAi, _) => "chat/completions".to_owned(),
                };
                let full = format!("{}/{path}", target.base);
                reqwest::Url::parse(&full)
                    .map_err(|e| context(Error::new(Kind::InvalidArgument, format!("invalid URL {full:?}: {e}"))))?
            }
        };
        target.authorize(&mut url, &mut request.headers);
        if protocol == Protocol::Anthropic && !request.headers.contains_key("anthropic-version") {
            request.headers.insert(
                "anthropic-version",
                reqwest::header::HeaderValue::from_static(anthropic::API_VERSION),
            );
        }
        Ok(Call {
            target,
            url,
            request,
            source,
            model,
            method: Method::POST,
            upload: None,
        })
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The client's own provider: the home of its explicit `api_key`.
    pub fn own_provider(&self) -> &str {
        self.router.own().name()
    }

    /// The wire protocol a request for `model` would speak.
    pub(crate) fn protocol_for(&self, model: &str) -> Protocol {
        self.router.route(model).target.protocol()
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
        let result = match self.call(request.clone(), Endpoint::Chat, false) {
            Ok(call) => self.chat_once(&call, &mut retries).await,
            Err(err) => Err(err),
        };
        match result {
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

    async fn chat_once(&self, call: &Call, retries: &mut u32) -> Result<ChatCompletionResponse> {
        let Received {
            body,
            permit,
            request_id,
        } = self.exchange(call, retries).await?;
        let parsed = match call.target.protocol() {
            Protocol::Anthropic => anthropic::chat_response(&body),
            Protocol::Gemini => gemini::chat_response(&body, &call.model),
            Protocol::OpenAi | Protocol::Azure => serde_json::from_slice(&body).map_err(|e| {
                Error::new(
                    Kind::Serialization,
                    format!("the response is not a valid chat completion: {e}"),
                )
            }),
        };
        let parsed = match parsed {
            Ok(mut response) => {
                response.request_id = request_id;
                Ok(response)
            }
            Err(e) => Err(self.context(e, call).with_request_id(request_id)),
        };
        if let Some(permit) = permit {
            let used = match &parsed {
                Ok(r) if permit.tokens() > 0 => r.usage.as_ref().map(|u| u.total_tokens),
                _ => None,
            };
            permit.settle(used);
        }
        parsed
    }

    pub(crate) fn context(&self, err: Error, call: &Call) -> Error {
        let model = Some(call.request.model.as_str()).filter(|m| !m.is_empty());
        err.with_context(call.target.name(), model)
            .redact(call.target.secret.expose())
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

    /// Sends one embeddings request to its provider (`POST {base}/embeddings`, or the
    /// provider's native endpoint) with retries and parses the answer.
    ///
    /// # Errors
    /// As [`Client::chat`]; `EndpointNotSupported` when the provider lacks embeddings.
    pub async fn embeddings(&self, request: Request) -> Result<EmbeddingResponse> {
        let started = Instant::now();
        let model = request.model.clone();
        let mut retries = 0;
        let result = self.embeddings_once(request, &mut retries).await;
        let usage = &self.config.usage;
        match &result {
            Ok(r) => {
                usage.record_call(&model, Some(&r.model), Some(&r.usage), started.elapsed(), None, retries);
            }
            Err(_) => usage.record_failure(&model, started.elapsed(), retries),
        }
        result
    }

    async fn embeddings_once(&self, request: Request, retries: &mut u32) -> Result<EmbeddingResponse> {
        let call = self.call(request, Endpoint::Embeddings, false)?;
        let Received {
            body,
            permit,
            request_id,
        } = self.exchange(&call, retries).await?;
        let parsed = match call.target.protocol() {
            Protocol::Gemini => gemini::embed_response(&body, &call.model),
            _ => serde_json::from_slice::<EmbeddingResponse>(&body).map_err(|e| {
                Error::new(
                    Kind::Serialization,
                    format!("the response is not a valid embeddings response: {e}"),
                )
            }),
        };
        let parsed = parsed.map_err(|e| self.context(e, &call).with_request_id(request_id));
        if let Some(permit) = permit {
            let used = match &parsed {
                Ok(r) if permit.tokens() > 0 => Some(r.usage.total_tokens),
                _ => None,
            };
            permit.settle(used);
        }
        parsed
    }

    /// Sends `call` with retries and reads the whole successful body.
    async fn exchange(&self, call: &Call, retries: &mut u32) -> Result<Received> {
        let Sent { resp, permit, timing } = self.send(call, retries).await?;
        let request_id = http::request_id(resp.headers(), call.target.secret.expose());
        let body = http::read_body(resp, &timing, self.config.limits.response())
            .await
            .map_err(|e| self.context(e, call).with_request_id(request_id.clone()))?;
        Ok(Received {
            body,
            permit,
            request_id,
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
        let sent = match self.call(request.clone(), Endpoint::Chat, true) {
            Ok(call) => self.send(&call, &mut retries).await.map(|sent| (sent, call)),
            Err(err) => Err(err),
        };
        let (Sent { resp, permit, timing }, call) = match sent {
            Ok(sent) => sent,
            Err(err) => {
                usage.record_failure(&request.model, started.elapsed(), retries);
                return Err(err);
            }
        };
        let translator = match call.target.protocol() {
            Protocol::Anthropic => Translator::Anthropic(Box::default()),
            Protocol::Gemini => Translator::Gemini(Box::new(gemini::StreamState::new(&call.model))),
            Protocol::OpenAi | Protocol::Azure => Translator::OpenAi,
        };
        Ok(ChatStream::new(
            resp,
            timing,
            self.config.limits.stream_event(),
            request.model,
            call.target.name().to_owned(),
            call.target.secret.clone(),
        )
        .with_translator(translator)
        .with_permit(permit)
        .with_accounting(Accounting {
            tracker: usage,
            started,
            retries,
        }))
    }

    /// Sends a call, retrying as the policy says; returns a successful response, the rate
    /// limiter's permit for it (to be settled once the body has been read) and the timing its
    /// body is read with. The call's `total_timeout` starts with the first attempt (after the
    /// first rate-limit grant, whose wait `max_delay_seconds` bounds) and covers every retry,
    /// backoff and later grant; a backoff that would end past it gives up at once.
    pub(crate) async fn send(&self, call: &Call, retries: &mut u32) -> Result<Sent> {
        let (url, request) = (&call.url, &call.request);
        let name = call.target.name();
        let model = Some(request.model.as_str()).filter(|m| !m.is_empty());
        let total = request.total_timeout.or(self.config.total_timeout);
        let limiter = self
            .config
            .rate_limiter
            .as_deref()
            .filter(|l| l.is_limited(&request.model));
        let tokens = match limiter {
            // An empty source marks a call that spends no model tokens (listings, uploads).
            Some(l) if !call.source.is_empty() && l.counts_tokens(&request.model) => {
                estimate_tokens(&call.source, &call.model)
            }
            _ => 0,
        };
        let mut timing: Option<Timing> = None;
        let mut retry_index = 0;
        loop {
            *retries = retry_index;
            let permit = match limiter {
                Some(l) => {
                    let grant = l.acquire(&request.model, tokens);
                    let granted = match timing.and_then(|t| t.remaining()) {
                        Some(left) => tokio::time::timeout(left, grant)
                            .await
                            .unwrap_or_else(|_| Err(http::over_deadline(total.unwrap_or_default()))),
                        None => grant.await,
                    };
                    Some(granted.map_err(|e| e.with_context(name, model))?)
                }
                None => None,
            };
            let timing = *timing.get_or_insert_with(|| Timing::new(self.config.timeout, total));
            let started = Instant::now();
            let builder = self
                .http
                .request(call.method.clone(), url.clone())
                .headers(request.headers.clone());
            let attempt = match &call.upload {
                Some(upload) => builder.multipart(upload.form()),
                None if request.body.is_empty() => builder,
                None => builder.body(request.body.clone()),
            }
            .send();
            let read = self.config.timeout.as_secs_f64();
            let (err, hint_headers) = match timing
                .within(attempt, || format!("no response within {read:.1}s"))
                .await
            {
                Ok(Ok(resp)) if resp.status().is_success() => {
                    let waited = started.elapsed();
                    if waited > self.config.timeout / 2 {
                        log::info!(target: "liter_llm", "slow response: {} took {:.2}s to answer", url.path(), waited.as_secs_f64());
                    }
                    return Ok(Sent { resp, permit, timing });
                }
                Ok(Ok(resp)) => {
                    let (err, headers, retryable) = self.error_from(resp, call, &timing).await;
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
                    let err = self.context(Error::from_reqwest(&e, false), call);
                    if e.is_builder() {
                        return Err(err);
                    }
                    (err, None)
                }
                Err(timeout) => (self.context(timeout, call), None),
            };
            if retry_index >= self.policy.max_retries {
                if self.policy.max_retries > 0 {
                    log::warn!(target: "liter_llm", "giving up on {} after {} attempts: {err}", url.path(), retry_index + 1);
                }
                return Err(err);
            }
            let delay = self.policy.delay_for(retry_index, hint_headers.as_ref());
            if timing.remaining().is_some_and(|left| left <= delay) {
                log::warn!(
                    target: "liter_llm",
                    "giving up on {} after {} attempts: the next retry would start past total_timeout: {err}",
                    url.path(),
                    retry_index + 1
                );
                return Err(err);
            }
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

    /// Reads an error response; returns the error, the headers and whether to retry. At most
    /// `max_error_body_bytes` of the body are read, and the key is masked in the raw bytes
    /// before anything parses, cuts or shows them.
    async fn error_from(&self, resp: reqwest::Response, call: &Call, timing: &Timing) -> (Error, HeaderMap, bool) {
        let status: StatusCode = resp.status();
        let headers = resp.headers().clone();
        let secret = call.target.secret.expose();
        let retryable = retry::should_retry_status(status.as_u16(), &headers);
        if status.is_redirection() {
            return (self.context(redirect(status.as_u16(), &headers), call), headers, false);
        }
        let (raw, cut) = http::read_error_body(resp, timing, self.config.limits.max_error_body_bytes).await;
        let body = crate::redact::bytes(&raw, secret, cut);
        let retry_after = retry::retry_after(&headers, SystemTime::now());
        let err = match call.target.protocol() {
            Protocol::Anthropic => anthropic::error_from_response(status.as_u16(), &body),
            Protocol::Gemini => gemini::error_from_response(status.as_u16(), &body),
            Protocol::OpenAi | Protocol::Azure => Error::from_response(status.as_u16(), &body),
        };
        // Waits are capped by the policy; the hint shown to the caller is capped at a day.
        let retry_after = retry_after.or(err.retry_after()).map(|d| d.min(MAX_SHOWN_RETRY_AFTER));
        let err = self
            .context(err.with_request_id(http::request_id(&headers, secret)), call)
            .with_retry_after(retry_after);
        (err, headers, retryable)
    }
}

/// The longest `retry_after` an error reports (a server may ask for any wait).
const MAX_SHOWN_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The error for a redirect, which is never followed (it could carry the key or the body to
/// another host): it names where the server pointed, without credentials or query.
fn redirect(status: u16, headers: &HeaderMap) -> Error {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let target = match location.map(|l| (l, reqwest::Url::parse(l))) {
        Some((_, Ok(url))) => {
            format!(
                " to {}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.port().map_or_else(String::new, |p| format!(":{p}"))
            ) + url.path()
        }
        Some((l, Err(_))) => format!(" to {}", l.split(['?', '#']).next().unwrap_or("")),
        None => String::new(),
    };
    let target = crate::redact::cut(&target, 300, "");
    Error::new(
        Kind::BadRequest,
        format!(
            "the server answered with a redirect{target}; redirects are not followed, so that the key never \
             reaches another host: set base_url to the new address"
        ),
    )
    .with_status(status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ApiRequest;
    use crate::providers::registry::ProviderConfig;

    /// A client whose Azure and Gemini providers live under a base path.
    fn client() -> Client {
        let at = |name: &str, base: &str| ProviderConfig {
            name: name.to_owned(),
            base_url: Some(base.to_owned()),
            ..ProviderConfig::default()
        };
        Client::new(ClientConfig {
            providers: vec![
                at("azure", "https://res.example/base"),
                at("gemini", "https://gem.example/v1beta"),
            ],
            ..ClientConfig::default()
        })
        .unwrap()
    }

    fn chat(model: &str) -> Request {
        Request {
            body: Bytes::from_static(br#"{"messages":[{"role":"user","content":"hi"}],"input":"hi"}"#),
            model: model.to_owned(),
            ..Request::default()
        }
    }

    /// The URL of every call that puts `name` into a path, or the first error.
    fn urls(c: &Client, name: &str) -> Result<Vec<reqwest::Url>> {
        let mut out = Vec::new();
        for endpoint in [Endpoint::Chat, Endpoint::Embeddings] {
            for provider in ["azure", "gemini"] {
                out.push(c.call(chat(&format!("{provider}/{name}")), endpoint, false)?.url);
            }
        }
        let images = ApiRequest {
            model: format!("azure/{name}"),
            ..ApiRequest::new(Endpoint::Images, Method::POST, "images/generations")
        };
        out.push(c.api_call(images)?.url);
        Ok(out)
    }

    #[test]
    fn model_names_never_leave_the_provider_path() {
        let c = client();
        let good = [
            "gpt-4.1",
            "gemini-2.5-flash",
            "my.deployment",
            "...",
            "a\\b",
            "x?y#z",
            "%2e%2e%2e",
        ];
        for name in good {
            for url in urls(&c, name).unwrap() {
                let path = url.path();
                let under = path.starts_with("/base/openai/deployments/") || path.starts_with("/v1beta/models/");
                assert!(under, "{name:?}: {url}");
                assert!(url.fragment().is_none(), "{name:?}: {url}");
            }
        }
        let tuned = c
            .call(chat("gemini/tunedModels/my-model"), Endpoint::Chat, false)
            .unwrap();
        assert_eq!(tuned.url.path(), "/v1beta/tunedModels/my-model:generateContent");
        let bad = [
            "..",
            ".",
            "../../../../x",
            "%2e%2e",
            "%2E.",
            "a/../b",
            "..\\x",
            "x/..",
            "x/%2e",
        ];
        for name in bad {
            let err = urls(&c, name).unwrap_err();
            assert_eq!(err.kind(), Kind::InvalidArgument, "{name:?}");
            assert!(err.message().contains("path segment"), "{}", err.message());
        }
    }
}
