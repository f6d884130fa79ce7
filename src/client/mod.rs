//! The core client: one immutable, cheaply shareable [`Client`] whose every call (chat, streams,
//! embeddings and each endpoint of `api/`) goes through one pipeline: route ([`call`]), send
//! with the rate limiter, retries and deadline ([`send`]), read and decode, account
//! ([`pipeline`]). What differs between protocols is in their adapters (`providers::adapter`).

mod cached;
mod cached_embeddings;
mod call;
pub(crate) mod pipeline;
pub(crate) mod relay;
mod send;
#[cfg(test)]
mod tests;
pub mod trace;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;

use crate::cache::{Cache, Control};
use crate::config::ClientConfig;
use crate::deployments::spec::RouterSpec;
use crate::deployments::Deployments;
use crate::error::{Error, Kind, Result};
use crate::http;
use crate::providers::adapter::Adapter;
use crate::providers::registry::Endpoint;
use crate::providers::route::Router;
use crate::retry::RetryPolicy;
use crate::sanitize;
use crate::stream::ChatStream;
use crate::types::{ChatCompletionResponse, EmbeddingResponse};

pub(crate) use call::Call;
pub use pipeline::Meter;
pub(crate) use pipeline::Metered;
pub(crate) use relay::Relayed;
pub(crate) use send::{Attempts, Sent};
pub use trace::{Attempt, Trace};

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
    /// Keeps a conversation on one deployment of a routed group while it stays healthy.
    pub session: Option<String>,
    /// Collects every attempt, for callbacks and tracing.
    pub trace: Option<Arc<Trace>>,
    /// The body already names the model as the provider knows it (a router aimed it).
    pub aimed: bool,
    /// How this call uses the client's response cache.
    pub cache: Control,
    /// A token estimate already made for this body (the proxy's key admission): a token
    /// limiter reserves it instead of counting the body again.
    pub tokens: Option<u64>,
    /// Retried only when the provider refused it unread (429, 408): a creation that must not
    /// happen twice (a provider batch), whose caller looks it up instead.
    pub once: bool,
}

/// An immutable, cheaply shareable LLM client.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    policy: RetryPolicy,
    pub(crate) router: Router,
    /// The model groups, when the client routes over deployments.
    deployments: Option<Arc<Deployments>>,
    /// The response cache, consulted above routing.
    cache: Option<Arc<Cache>>,
}

impl Client {
    /// Builds a client.
    ///
    /// # Errors
    /// `InvalidArgument` for a malformed base URL, `InvalidHeader` for bad extra headers.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let http = http::build(&config)?;
        Self::with_http(config, http)
    }

    /// Builds a client that sends through `http` (a connection pool shared with other clients,
    /// such as a router's deployments: their connections to one host are reused by all).
    fn with_http(config: ClientConfig, http: reqwest::Client) -> Result<Self> {
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
            http,
            policy: RetryPolicy::new(config.max_retries),
            router: Router::new(&config)?,
            config,
            deployments: None,
            cache: None,
        })
    }

    /// Builds a client that routes the model groups of `spec` over their deployments (see
    /// [`crate::deployments`]); other models go as with [`Client::new`]. `max_wait` bounds a
    /// wait for a cooling group or for room under a deployment's limits.
    ///
    /// # Errors
    /// As [`Client::new`], for the client and for each deployment.
    pub fn with_deployments(config: ClientConfig, spec: RouterSpec, max_wait: Duration) -> Result<Self> {
        let http = http::build(&config)?;
        Self::with_deployments_over(http, config, spec, max_wait)
    }

    /// [`Client::with_deployments`], sending through `http`: a connection pool shared with other
    /// clients (its default headers go with every request, so it must carry no credential).
    pub(crate) fn with_deployments_over(
        http: reqwest::Client,
        config: ClientConfig,
        spec: RouterSpec,
        max_wait: Duration,
    ) -> Result<Self> {
        let mut client = Client::with_http(config, http)?;
        let deployments = Deployments::build(spec, &client.config, max_wait, |config| {
            Client::with_http(config, client.http.clone())
        })?;
        client.deployments = Some(Arc::new(deployments));
        Ok(client)
    }

    /// This client with `other`'s model groups (their deployments and live state shared).
    #[must_use]
    pub fn with_groups_of(mut self, other: &Client) -> Self {
        self.deployments.clone_from(&other.deployments);
        self
    }

    /// This client with `cache` as its response cache (`None`: no cache).
    #[must_use]
    pub fn with_cache(mut self, cache: Option<Arc<Cache>>) -> Self {
        self.cache = cache;
        self
    }

    /// The response cache, if the client has one.
    pub fn cache(&self) -> Option<&Arc<Cache>> {
        self.cache.as_ref()
    }

    /// The model groups, when the client routes over deployments.
    pub fn deployments(&self) -> Option<&Deployments> {
        self.deployments.as_deref()
    }

    /// The router, when `model` names one of its groups.
    fn routed(&self, model: &str) -> Option<&Deployments> {
        self.deployments.as_deref().filter(|d| d.group(model).is_some())
    }

    /// The configuration this client was built from.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The client's own provider: the home of its explicit `api_key`.
    pub fn own_provider(&self) -> &str {
        self.router.own().name()
    }

    /// The protocol adapter a request for `model` would use.
    pub(crate) fn adapter_for(&self, model: &str) -> &'static dyn Adapter {
        self.router.route(model).target.adapter()
    }

    /// The most inputs one embeddings request for `model` may carry (for a routed group: the
    /// smallest of its deployments'), if its provider limits it.
    pub(crate) fn max_embed_batch(&self, model: &str) -> Option<usize> {
        match self.deployments().and_then(|d| d.group(model)) {
            Some(group) => group
                .members
                .iter()
                .filter_map(|d| d.client.adapter_for(&d.model).max_embed_batch())
                .min(),
            None => self.adapter_for(model).max_embed_batch(),
        }
    }

    /// [`Client::chat`] without the cache.
    async fn chat_uncached(&self, request: Request) -> Result<ChatCompletionResponse> {
        match self.routed(&request.model) {
            Some(router) => Box::pin(router.run(self, request, |c, r| c.chat_direct(r))).await,
            None => self.chat_direct(request).await,
        }
    }

    /// [`Client::chat`] without routing.
    async fn chat_direct(&self, request: Request) -> Result<ChatCompletionResponse> {
        self.chat_decoded(request, |call, received| {
            let body = received.body.into_bytes();
            let mut response = call.target.adapter().chat_response(&body, &call.model)?;
            response.request_id = received.request_id;
            Ok(response)
        })
        .await
    }

    /// A chat call on the provider `request.model` names, its answer read by `decode`.
    async fn chat_decoded<T: Metered>(
        &self,
        request: Request,
        decode: impl FnOnce(&Call, pipeline::Received) -> Result<T>,
    ) -> Result<T> {
        let request = self.prepare(request)?;
        let label = request.model.clone();
        let call = self.model_call(request, Endpoint::Chat, false);
        self.run(call, label, self.config.limits.response(), decode).await
    }

    /// [`Client::chat`] for a relay (the proxy): the answer as OpenAI-shaped JSON text, the
    /// provider's own bytes when they already are. With a response cache, the cached path.
    pub(crate) async fn chat_relay(&self, request: Request) -> Result<Relayed> {
        if self.cache.is_some() {
            // Every path is boxed: the proxy's handler future then holds a pointer, not the
            // state of the longest path (the cached one), and moves and copies less.
            return Relayed::typed(Box::pin(self.chat(request)).await?);
        }
        match self.routed(&request.model) {
            Some(router) => Box::pin(router.run(self, request, |c, r| c.relay_direct(r))).await,
            None => Box::pin(self.relay_direct(request)).await,
        }
    }

    /// [`Client::chat_relay`] without routing.
    async fn relay_direct(&self, request: Request) -> Result<Relayed> {
        self.chat_decoded(request, |call, received| {
            call.target
                .adapter()
                .chat_relay(received.body.into_bytes(), &call.model)
        })
        .await
    }

    /// [`Client::embeddings`] without the cache.
    async fn embeddings_uncached(&self, request: Request) -> Result<EmbeddingResponse> {
        match self.routed(&request.model) {
            Some(router) => Box::pin(router.run(self, request, |c, r| c.embeddings_direct(r))).await,
            None => self.embeddings_direct(request).await,
        }
    }

    /// [`Client::embeddings`] without routing.
    async fn embeddings_direct(&self, request: Request) -> Result<EmbeddingResponse> {
        let label = request.model.clone();
        let call = self.model_call(request, Endpoint::Embeddings, false);
        self.run(call, label, self.config.limits.response(), |call, received| {
            let body = received.body.into_bytes();
            call.target.adapter().embeddings_response(&body, &call.model)
        })
        .await
    }

    /// [`Client::chat_stream`] without the cache.
    async fn stream_uncached(&self, request: Request) -> Result<ChatStream> {
        match self.routed(&request.model) {
            Some(router) => Box::pin(router.run(self, request, |c, r| c.open_stream(r))).await,
            None => self.stream_direct(request).await,
        }
    }

    /// Opens a stream on a deployment and waits for its first chunk.
    async fn open_stream(&self, request: Request) -> Result<ChatStream> {
        self.stream_direct(request).await?.start().await
    }

    /// [`Client::chat_stream`] without routing.
    async fn stream_direct(&self, request: Request) -> Result<ChatStream> {
        let request = self.prepare(request)?;
        let mut meter = Meter::start(&self.config, request.model.clone());
        let call = match self.model_call(request, Endpoint::Chat, true) {
            Ok(call) => call,
            Err(err) => {
                meter.failure();
                return Err(err);
            }
        };
        // Boxed, as `run` boxes its exchange: the attempts are most of a call's state.
        let Attempts { outcome, retries } = Box::pin(self.send(&call)).await;
        meter.retries = retries;
        let Sent { resp, permit, timing } = match outcome {
            Ok(sent) => sent,
            Err(err) => {
                meter.failure();
                return Err(err);
            }
        };
        let target = &call.target;
        Ok(ChatStream::new(
            resp,
            timing,
            self.config.limits.stream_event(),
            call.request.model,
            target.name().to_owned(),
            target.secret.clone(),
        )
        .with_translator(target.adapter().stream(&call.model))
        .with_permit(permit)
        .with_meter(meter))
    }

    /// Adds the call's provider and model to an error and masks the call's key in it.
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
}
