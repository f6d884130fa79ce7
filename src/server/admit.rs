//! Admission of one request by its caller's virtual key, and settling what it spent (also noted
//! in the request's trail, for its log line and metrics).

use std::sync::Arc;
use std::time::Duration;

use super::keys::{self, Admission, Estimate, Keys, Refusal};
use super::observe::Trail;
use super::{AppState, Caller, Who};
use crate::client::Relayed;
use crate::stream::ChatStream;
use crate::types::{
    ChatCompletionResponse, EmbeddingResponse, ImagesResponse, ModerationResponse, RerankResponse, ResponseObject,
    Usage,
};
use crate::usage::TokenBreakdown;
use crate::Client;

/// A request's hold on its key (none for the master key or a server without keys) and its trail.
#[derive(Debug)]
pub(crate) struct Gate {
    hold: Option<(Arc<Keys>, Admission)>,
    trail: Arc<Trail>,
}

/// Admits a request of `caller` to `model` with `body`, served by `client` (whose groups are
/// the models it knows and price the estimate), or says why not.
pub(crate) async fn admit(
    state: &AppState,
    client: &Client,
    caller: &Caller,
    model: &str,
    body: &[u8],
) -> Result<Gate, Refusal> {
    let group = match client.deployments() {
        Some(deployments) => match deployments.group(model) {
            None => return Err(unknown_model(model, &deployments.group_names())),
            group => group,
        },
        None => None,
    };
    caller.trail.note(|seen| seen.model_group = Some(model.to_owned()));
    let mut gate = Gate {
        hold: None,
        trail: Arc::clone(&caller.trail),
    };
    let (Who::Key(key), Some(store)) = (&caller.who, &state.keys) else {
        return Ok(gate);
    };
    let estimate = if key.needs_estimate() {
        let prices: Vec<&str> = group.map_or_else(Vec::new, |g| g.members.iter().map(|m| m.model.as_str()).collect());
        keys::estimate(body, model, &prices)
    } else {
        Estimate::default()
    };
    let admission = store.admit(key, model, estimate).await?;
    gate.hold = Some((Arc::clone(store), admission));
    Ok(gate)
}

/// A 404 for a model that is none of the proxy's groups, naming some that are.
fn unknown_model(model: &str, groups: &[String]) -> Refusal {
    const SHOWN: usize = 20;
    let mut known = groups
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if groups.len() > SHOWN {
        known.push_str(&format!(" and {} more", groups.len() - SHOWN));
    }
    Refusal {
        status: axum::http::StatusCode::NOT_FOUND,
        kind: "not_found_error",
        message: format!("no model group named {model:?}; this proxy serves: {known}"),
        retry_after: None,
    }
}

impl Gate {
    /// The token estimate admission made (for the client's limiter to reuse), if any.
    pub(crate) fn tokens(&self) -> Option<u64> {
        self.hold
            .as_ref()
            .map(|(_, admission)| admission.tokens())
            .filter(|t| *t > 0)
    }

    /// Settles with what the request spent (an unknown cost charges the estimate); done when
    /// every replica sees it.
    pub(crate) async fn settle(self, spend: Spend<'_>) {
        if let Some((store, admission)) = self.noted(spend) {
            let usage = spend.usage.map(|u| u.total_tokens);
            store.settle(admission, spend.cost, usage).await;
        }
    }

    /// Settles with the estimate, in the background: for a stream its caller left.
    pub(crate) fn abandon(self) {
        if self.hold.is_none() {
            return;
        }
        if let Some((store, admission)) = self.noted(Spend::default()) {
            store.settle_soon(admission, None, None);
        }
    }

    /// Notes `spend` in the trail; the hold to settle, if any.
    fn noted(self, spend: Spend<'_>) -> Option<(Arc<Keys>, Admission)> {
        self.trail.note(|seen| {
            seen.deployment = spend.deployment.map(str::to_owned);
            seen.prompt_tokens = spend.usage.map(|u| u.prompt_tokens);
            seen.completion_tokens = spend.usage.map(|u| u.completion_tokens);
            seen.cost = spend.cost;
            seen.first_token = spend.first_token;
            seen.cache_hit = spend.cache_hit;
        });
        self.hold
    }
}

/// A stream's admission until the stream ends; a caller that leaves first is charged the
/// estimate (the provider bills what it generated).
pub(crate) struct Held(pub(crate) Option<Gate>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(gate) = self.0.take() {
            gate.abandon();
        }
    }
}

/// What an answer spent.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Spend<'a> {
    /// USD; `None` when unknown.
    pub(crate) cost: Option<f64>,
    pub(crate) usage: Option<&'a Usage>,
    pub(crate) deployment: Option<&'a str>,
    pub(crate) first_token: Option<Duration>,
    pub(crate) cache_hit: bool,
}

/// Answers that know what they spent.
pub(crate) trait Spent {
    /// What it spent; by default nothing is charged.
    fn spent(&self) -> Spend<'_> {
        Spend {
            cost: Some(0.0),
            ..Spend::default()
        }
    }
}

impl Spent for ChatCompletionResponse {
    fn spent(&self) -> Spend<'_> {
        Spend {
            cost: self.cost,
            usage: self.usage.as_ref(),
            deployment: self.deployment.as_deref(),
            first_token: None,
            cache_hit: self.cache_hit,
        }
    }
}

impl Spent for Relayed {
    fn spent(&self) -> Spend<'_> {
        Spend {
            cost: self.cost,
            usage: self.usage.as_ref(),
            deployment: self.deployment.as_deref(),
            first_token: None,
            cache_hit: self.cache_hit,
        }
    }
}

impl Spent for ChatStream {
    fn spent(&self) -> Spend<'_> {
        Spend {
            cost: self.cost(),
            usage: self.usage(),
            deployment: self.deployment(),
            first_token: self.time_to_first_chunk(),
            cache_hit: self.cache_hit(),
        }
    }
}

impl Spent for EmbeddingResponse {
    fn spent(&self) -> Spend<'_> {
        Spend {
            cost: TokenBreakdown::from_usage(&self.usage).and_then(|t| crate::pricing::price(&self.model, None, &t)),
            usage: Some(&self.usage),
            deployment: self.deployment.as_deref(),
            first_token: None,
            cache_hit: self.cache_hit,
        }
    }
}

impl Spent for ModerationResponse {}
impl Spent for ImagesResponse {}
impl Spent for RerankResponse {}
impl Spent for ResponseObject {}
