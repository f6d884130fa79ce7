//! The model catalog: every fact liter_llm decides from a model string, and every model-name rule
//! it uses, in one place.
//!
//! [`facts`] is the one lookup. For a model string — with or without `provider/` prefixes
//! (`groq/…`, `openrouter/anthropic/…`), an OpenAI `ft:` fine-tune prefix, a date or other suffix,
//! in any case — it returns [`ModelFacts`]:
//!
//! - **provider** ([`provider_of`]): the first `provider/` segment naming a built-in provider
//!   (the registry's nineteen, [`ProviderId`], or an alias such as `google` or `mistralai`),
//!   else the provider of the model's table entry, else the vendor of its family;
//! - **family** ([`family_of`], rules in `family.rs`): the model line, from the model's own name;
//! - **tokenizer** ([`tokenizer_of`], [`encoding_of`]): an exact OpenAI encoding or the family
//!   the estimate is scaled for;
//! - **prices and limits** ([`lookup`]): the table entry (context window, maximum output and
//!   input, prices), resolved by the rules in `table.rs`;
//! - **capabilities** ([`capabilities_of`]): reasoning API, system role, one sampler only.
//!
//! The field functions are also offered alone, for hot paths: [`route_by_name`] (every routed
//! request), [`encoding_of`] and [`tokenizer_of`] (every rate-limited request) do not allocate
//! unless a name shows neither an encoding nor a family. The provider registry, pricing, token
//! counting and the request sanitiser call these and keep no name rules of their own.

mod capabilities;
mod family;
mod name;
mod provider;
mod table;
#[cfg(test)]
mod tests;
mod tokenizer;

use std::sync::Arc;

pub use capabilities::{capabilities_of, Capabilities, Reasoning};
pub use family::{family_of, route_by_name, Family};
pub use provider::ProviderId;
pub use table::{lookup, model_names, register};
pub use tokenizer::{encoding_of, tokenizer_of, Tokenizer};

use crate::pricing::ModelInfo;

/// Everything known about one model string.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFacts {
    /// Who serves or makes it (see [`provider_of`]).
    pub provider: Option<ProviderId>,
    /// The model line, from its own name.
    pub family: Option<Family>,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its prices and limits, when the table has it.
    pub info: Option<Arc<ModelInfo>>,
    /// What it accepts.
    pub capabilities: Capabilities,
}

impl ModelFacts {
    /// Context window in tokens, when known.
    pub fn context_window(&self) -> Option<u64> {
        self.info.as_ref().and_then(|i| i.context_window)
    }

    /// Maximum output tokens per call, when known.
    pub fn max_output_tokens(&self) -> Option<u64> {
        self.info.as_ref().and_then(|i| i.max_output_tokens)
    }
}

/// All facts about `model` (see the module docs).
pub fn facts(model: &str) -> ModelFacts {
    let info = lookup(model);
    ModelFacts {
        provider: provider_from(model, || info.clone()),
        family: family_of(model),
        tokenizer: tokenizer_of(model),
        capabilities: capabilities_of(model),
        info,
    }
}

/// The provider of `model`: the first `provider/` segment naming a built-in provider, else the
/// provider of its table entry, else its family's vendor.
pub fn provider_of(model: &str) -> Option<ProviderId> {
    provider_from(model, || lookup(model))
}

fn provider_from(model: &str, info: impl FnOnce() -> Option<Arc<ModelInfo>>) -> Option<ProviderId> {
    name::prefixes(model)
        .find_map(ProviderId::from_name)
        .or_else(|| info().and_then(|i| i.provider.as_deref().and_then(ProviderId::from_name)))
        .or_else(|| family_of(model).map(Family::vendor))
}
