//! Chat answers relayed as JSON text (the proxy's non-streamed chat). An answer already in
//! OpenAI's shape goes on as the provider sent it: only its model and usage are decoded (for
//! pricing, limits and spend), the rest is checked as JSON and skipped. Answers of other
//! protocols are translated to the typed answer and encoded.

use std::borrow::Cow;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::Deserialize;

use super::pipeline::Metered;
use crate::deployments::Served;
use crate::error::{Error, Kind, Result};
use crate::types::json::Lenient;
use crate::types::{ChatCompletionResponse, Usage};
use crate::usage::TokenBreakdown;

/// A chat answer as OpenAI-shaped JSON text, with what accounting needs from it.
#[derive(Clone, Debug)]
pub struct Relayed {
    /// The answer: one JSON object.
    pub body: Bytes,
    /// The model the answer names.
    pub model: String,
    /// The tokens it reports.
    pub usage: Option<Usage>,
    /// Its cost in USD, once priced.
    pub cost: Option<f64>,
    /// The deployment that answered, when a router chose one.
    pub deployment: Option<String>,
    /// Whether the response cache answered.
    pub cache_hit: bool,
}

/// The members of an OpenAI answer that accounting reads; `choices` must be a list.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    usage: Option<Lenient<Usage>>,
    #[serde(rename = "choices")]
    _choices: Option<Vec<IgnoredAny>>,
}

impl Relayed {
    /// `body` as it is, when it is an OpenAI chat answer (`None` otherwise).
    pub(crate) fn raw(body: Bytes) -> Option<Self> {
        let head: Head<'_> = serde_json::from_slice(&body).ok()?;
        let model = head.model.map(Cow::into_owned).unwrap_or_default();
        let usage = head.usage.map(|u| u.0);
        Some(Self {
            body,
            model,
            usage,
            cost: None,
            deployment: None,
            cache_hit: false,
        })
    }

    /// A typed answer encoded as OpenAI's JSON.
    ///
    /// # Errors
    /// `Serialization` when it cannot be encoded.
    pub(crate) fn typed(answer: ChatCompletionResponse) -> Result<Self> {
        let body = serde_json::to_vec(&answer).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
        Ok(Self {
            body: Bytes::from(body),
            model: answer.model,
            usage: answer.usage,
            cost: answer.cost,
            deployment: answer.deployment,
            cache_hit: answer.cache_hit,
        })
    }
}

impl Metered for Relayed {
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

impl Served for Relayed {
    fn tokens(&self) -> u64 {
        self.usage.as_ref().map_or(0, |u| u.total_tokens)
    }
    fn mark(&mut self, deployment: &str) {
        self.deployment = Some(deployment.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_openai_answer_keeps_its_bytes_and_reads_model_and_usage() {
        let body = Bytes::from_static(
            br#"{"id":"c","model":"m-1","choices":[{"index":0}],"x":{"y":[1]},"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
        );
        let relayed = Relayed::raw(body.clone()).unwrap();
        assert_eq!(relayed.body, body);
        assert_eq!(relayed.model, "m-1");
        assert_eq!(
            relayed.usage.as_ref().map(|u| (u.prompt_tokens, u.total_tokens)),
            Some((3, 7))
        );
        assert_eq!(Metered::settled_tokens(&relayed), Some(7));
    }

    #[test]
    fn only_a_json_object_with_a_list_of_choices_is_relayed_as_is() {
        for body in [
            &b"[1]"[..],
            b"{\"choices\":\"no\"}",
            b"{\"usage\":{\"total_tokens\":\"7\"}}",
            b"{\"model\":\"m\"",
            b"",
        ] {
            assert!(Relayed::raw(Bytes::copy_from_slice(body)).is_none(), "{body:?}");
        }
        assert!(Relayed::raw(Bytes::from_static(b"{}")).is_some());
    }

    #[test]
    fn a_typed_answer_is_encoded_with_its_accounting() {
        let answer: ChatCompletionResponse = serde_json::from_slice(
            br#"{"id":"c","model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        )
        .unwrap();
        let relayed = Relayed::typed(answer).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&relayed.body).unwrap();
        assert_eq!(
            (back["id"].as_str(), back["usage"]["total_tokens"].as_u64()),
            (Some("c"), Some(2))
        );
        assert_eq!(Served::tokens(&relayed), 2);
    }
}
