//! The one pipeline every call goes through, in stages:
//!
//! 1. **route** ([`Client::model_call`], [`Client::api_call`]): pick the provider, check it can
//!    take the endpoint and has a key, build the URL, body and headers. A deployment router
//!    replaces this stage's choice of target.
//! 2. **send** ([`Client::send`]): rate-limit grants, attempts, retries and backoff within the
//!    call's deadline. A router fails over here; a response cache answers before it and stores
//!    after stage 3.
//! 3. **read and decode**: the body within its size cap, decoded by the protocol's adapter.
//! 4. **account** ([`Meter`]): settle the limiter's token reservation with the answer's usage,
//!    record the call (tokens, cost, latency, retries) in `client.usage`, set its cost.
//!
//! Streams run stages 1 and 2 here and do 3 and 4 as they are read (`stream::ChatStream`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, CONTENT_TYPE};

use super::send::{Attempts, Sent};
use super::{Call, Client};
use crate::config::ClientConfig;
use crate::error::Result;
use crate::http::{self, Cap, Chunks};
use crate::pricing;
use crate::types::{ChatCompletionResponse, EmbeddingResponse};
use crate::usage::{Stats, TokenBreakdown, UsageTracker};

/// What an answer tells the accounting stage.
pub(crate) trait Metered {
    /// The tokens the answer reports spending (`None`: unknown, or nothing to count).
    fn tokens(&self) -> Option<TokenBreakdown> {
        None
    }
    /// The model that prices those tokens, when the answer names it.
    fn price_model(&self) -> Option<&str> {
        None
    }
    /// The tokens that settle the rate limiter's reservation.
    fn settled_tokens(&self) -> Option<u64> {
        self.tokens().map(|t| t.total())
    }
    /// Receives the call's cost (`None` when it could not be priced).
    fn priced(&mut self, _cost: Option<f64>) {}
}

impl Metered for ChatCompletionResponse {
    fn tokens(&self) -> Option<TokenBreakdown> {
        self.usage.as_ref().and_then(TokenBreakdown::from_usage)
    }
    fn price_model(&self) -> Option<&str> {
        Some(&self.model)
    }
    fn settled_tokens(&self) -> Option<u64> {
        self.usage.as_ref().map(|u| u.total_tokens)
    }
    fn priced(&mut self, cost: Option<f64>) {
        self.cost = cost;
    }
}

impl Metered for EmbeddingResponse {
    fn tokens(&self) -> Option<TokenBreakdown> {
        TokenBreakdown::from_usage(&self.usage)
    }
    fn price_model(&self) -> Option<&str> {
        Some(&self.model)
    }
    fn settled_tokens(&self) -> Option<u64> {
        Some(self.usage.total_tokens)
    }
}

/// A whole successful body, with what the decoder may need from its response.
#[derive(Debug)]
pub(crate) struct Received {
    /// The body, as the chunks it arrived in.
    pub(crate) body: Chunks,
    /// The provider's request id (redacted).
    pub(crate) request_id: Option<String>,
    /// The response headers.
    pub(crate) headers: HeaderMap,
}

impl Received {
    /// The `Content-Type` header, if any.
    pub(crate) fn content_type(&self) -> Option<String> {
        self.headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// Records one call in the client's usage tracker once it ends.
#[derive(Debug)]
pub struct Meter {
    tracker: Arc<UsageTracker>,
    label: String,
    /// The deployment whose counters also record the call.
    deployment: Option<Arc<Stats>>,
    started: Instant,
    /// Retries the call took (set once it was sent).
    pub(crate) retries: u32,
}

impl Meter {
    /// Starts timing a call recorded under `label` (its model, or an endpoint family), and
    /// under its deployment when a router's deployment client makes it.
    pub(crate) fn start(config: &ClientConfig, label: String) -> Self {
        Meter {
            tracker: Arc::clone(&config.usage),
            deployment: config.deployment.as_deref().map(|id| config.usage.deployment(id)),
            label,
            started: Instant::now(),
            retries: 0,
        }
    }

    /// How long the call has taken so far.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Records a success priced by `price_model` (else the label); returns its cost (`None`
    /// without tokens or a price: the call is counted, with no tokens and no cost).
    pub(crate) fn success(
        self,
        price_model: Option<&str>,
        tokens: Option<&TokenBreakdown>,
        ttft: Option<Duration>,
    ) -> Option<f64> {
        let latency = self.started.elapsed();
        let cost = tokens.and_then(|t| pricing::price(&self.label, price_model, t));
        let tokens = tokens.copied().unwrap_or_default();
        self.tracker
            .record_tokens(&self.label, &tokens, latency, ttft, self.retries, cost);
        if let Some(stats) = &self.deployment {
            stats.success(&tokens, latency, ttft, self.retries, cost);
        }
        cost
    }

    /// Records a failure.
    pub(crate) fn failure(self) {
        let latency = self.started.elapsed();
        self.tracker.record_failure(&self.label, latency, self.retries);
        if let Some(stats) = &self.deployment {
            stats.failure(latency, self.retries);
        }
    }
}

impl Client {
    /// Runs a routed call through send, read, decode and account; `label` names it in
    /// `client.usage` and `cap` bounds its body.
    pub(crate) async fn run<T: Metered>(
        &self,
        call: Result<Call>,
        label: String,
        cap: Cap,
        decode: impl FnOnce(&Call, Received) -> Result<T>,
    ) -> Result<T> {
        let mut meter = Meter::start(&self.config, label);
        // Boxed: the exchange (the call, its attempts and the body read) is most of a call's
        // state; inline, every future above it (the router's, the cache's, the proxy's
        // handler) would carry it and copy it each time one is created.
        match Box::pin(self.exchange(call, cap, &mut meter, decode)).await {
            Ok(mut answer) => {
                let tokens = answer.tokens();
                let cost = meter.success(answer.price_model(), tokens.as_ref(), None);
                answer.priced(cost);
                Ok(answer)
            }
            Err(err) => {
                meter.failure();
                Err(err)
            }
        }
    }

    /// Stages 2 and 3, and the limiter's settlement.
    async fn exchange<T: Metered>(
        &self,
        call: Result<Call>,
        cap: Cap,
        meter: &mut Meter,
        decode: impl FnOnce(&Call, Received) -> Result<T>,
    ) -> Result<T> {
        let call = call?;
        let Attempts { outcome, retries } = self.send(&call).await;
        meter.retries = retries;
        let Sent {
            mut resp,
            permit,
            timing,
        } = outcome?;
        // The body reader needs none of them (its length comes from the body itself).
        let headers = std::mem::take(resp.headers_mut());
        let request_id = http::request_id(&headers, call.target.secret.expose());
        let failed = |e| self.context(e, &call).with_request_id(request_id.clone());
        let body = http::read_chunks(resp, &timing, cap).await.map_err(failed)?;
        let received = Received {
            body,
            request_id: request_id.clone(),
            headers,
        };
        let decoded = decode(&call, received).map_err(failed);
        if let Some(permit) = permit {
            let used = match &decoded {
                Ok(answer) if permit.tokens() > 0 => answer.settled_tokens(),
                _ => None,
            };
            permit.settle(used);
        }
        decoded
    }
}
