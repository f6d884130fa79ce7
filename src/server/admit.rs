//! Admission of one request by its caller's virtual key, and settling what it spent.

use std::sync::Arc;

use axum::response::Response;

use super::errors::refused;
use super::keys::{self, Admission, Estimate, Keys};
use super::{AppState, Caller};
use crate::types::{
    ChatCompletionResponse, EmbeddingResponse, ImagesResponse, ModerationResponse, RerankResponse, ResponseObject,
};
use crate::usage::TokenBreakdown;
use crate::Client;

/// A request's hold on its key (nothing for the master key or a server without keys).
#[derive(Debug, Default)]
pub(crate) struct Gate(Option<(Arc<Keys>, Admission)>);

/// Admits a request of `caller` to `model` with `body`, served by `client` (whose groups price
/// the estimate), or answers why not.
pub(crate) fn admit(
    state: &AppState,
    client: &Client,
    caller: &Caller,
    model: &str,
    body: &[u8],
) -> Result<Gate, Response> {
    let (Caller::Key(key), Some(store)) = (caller, &state.keys) else {
        return Ok(Gate::default());
    };
    let estimate = if key.needs_estimate() {
        let members = client.deployments().and_then(|d| d.group(model));
        let prices: Vec<&str> = members.map_or_else(Vec::new, |g| g.members.iter().map(|m| m.model.as_str()).collect());
        keys::estimate(body, model, &prices)
    } else {
        Estimate::default()
    };
    match store.admit(key, model, estimate) {
        Ok(admission) => Ok(Gate(Some((Arc::clone(store), admission)))),
        Err(refusal) => Err(refused(&refusal)),
    }
}

impl Gate {
    /// Settles with what the request spent (`cost` `None`: unknown, the estimate is charged);
    /// resolves once the spend is written.
    pub(crate) async fn settle(self, cost: Option<f64>, tokens: Option<u64>) {
        if let Some((store, admission)) = self.0 {
            store.settle(admission, cost, tokens).await;
        }
    }

    /// Settles in the background with the estimate: for a stream its caller left.
    pub(crate) fn abandon(self) {
        if self.0.is_some() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(self.settle(None, None));
            }
        }
    }
}

/// What an answer spent: its cost in USD (`None`: unknown) and its tokens.
pub(crate) trait Spent {
    /// Cost and tokens; by default nothing is charged.
    fn spent(&self) -> (Option<f64>, Option<u64>) {
        (Some(0.0), None)
    }
}

impl Spent for ChatCompletionResponse {
    fn spent(&self) -> (Option<f64>, Option<u64>) {
        (self.cost, self.usage.as_ref().map(|u| u.total_tokens))
    }
}

impl Spent for EmbeddingResponse {
    fn spent(&self) -> (Option<f64>, Option<u64>) {
        let cost = TokenBreakdown::from_usage(&self.usage).and_then(|t| crate::pricing::price(&self.model, None, &t));
        (cost, Some(self.usage.total_tokens))
    }
}

impl Spent for ModerationResponse {}
impl Spent for ImagesResponse {}
impl Spent for RerankResponse {}
impl Spent for ResponseObject {}
