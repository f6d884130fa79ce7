//! Which tokenizer a model uses.
//!
//! **Exact** (an OpenAI encoding, judged from the model's own name by family prefix with a
//! boundary): `o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, chatgpt-4o, gpt-oss,
//! codex, computer-use-preview, omni-moderation, gpt-realtime and gpt-audio; `cl100k_base` for
//! gpt-4, gpt-3.5 (`gpt-35` too), text-embedding-ada-002 and text-embedding-3. `gpt-3.5-turbo-0301`
//! also uses the older chat message overhead.
//!
//! **Estimated** otherwise, by the tokenizer family: the model's [`Family`] when its name shows
//! one (Claude; Mistral; Gemini, Gemma, DeepSeek, Grok and OpenAI names without a known encoding
//! are close to o200k), else the provider ([`super::provider_of`]): Anthropic, Mistral, or close
//! to o200k for OpenAI, Azure, Gemini, DeepSeek, xAI and Groq; unknown for anything else.

use super::family::{family_of, Family};
use super::name::{base, in_family};
use super::provider::ProviderId;
use crate::tokens::Encoding;

/// How a model's tokens relate to the encodings shipped with the package.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tokenizer {
    /// Exactly this OpenAI encoding.
    Exact {
        /// The encoding.
        encoding: Encoding,
        /// `gpt-3.5-turbo-0301`'s chat format: 4 tokens per message, a name costs -1.
        legacy_chat_format: bool,
    },
    /// Anthropic's tokenizer (finer than o200k).
    Claude,
    /// Mistral's tokenizer.
    Mistral,
    /// A tokenizer close to o200k (Gemini, DeepSeek, Grok, Llama as served by Groq, ...).
    NearO200k,
    /// Nothing is known about the model.
    Unknown,
}

const O200K: [&str; 14] = [
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "o1",
    "o3",
    "o4",
    "chatgpt-4o",
    "gpt-oss",
    "codex",
    "computer-use-preview",
    "omni-moderation",
    "gpt-realtime",
    "gpt-audio",
];
const CL100K: [&str; 5] = [
    "gpt-4",
    "gpt-3.5",
    "gpt-35",
    "text-embedding-ada-002",
    "text-embedding-3",
];

/// The exact OpenAI encoding of `model`, or `None` (a `provider/` or `ft:` prefix is ignored;
/// no allocation).
pub fn encoding_of(model: &str) -> Option<Encoding> {
    let name = base(model);
    if O200K.iter().any(|p| in_family(name, p)) {
        Some(Encoding::O200kBase)
    } else if CL100K.iter().any(|p| in_family(name, p)) {
        Some(Encoding::Cl100kBase)
    } else {
        None
    }
}

/// The tokenizer of a family.
fn of_family(family: Family) -> Tokenizer {
    match family {
        Family::Claude => Tokenizer::Claude,
        Family::Mistral => Tokenizer::Mistral,
        _ => Tokenizer::NearO200k,
    }
}

/// The tokenizer of a provider's models when the name shows no family.
fn of_provider(provider: Option<ProviderId>) -> Tokenizer {
    match provider {
        Some(ProviderId::Anthropic) => Tokenizer::Claude,
        Some(ProviderId::Mistral) => Tokenizer::Mistral,
        Some(
            ProviderId::OpenAi
            | ProviderId::Azure
            | ProviderId::Gemini
            | ProviderId::DeepSeek
            | ProviderId::XAi
            | ProviderId::Groq,
        ) => Tokenizer::NearO200k,
        _ => Tokenizer::Unknown,
    }
}

/// The tokenizer of `model` (see the module docs). Allocates only for a name that shows neither
/// an encoding nor a family (the table is then consulted for its provider).
pub fn tokenizer_of(model: &str) -> Tokenizer {
    if let Some(encoding) = encoding_of(model) {
        return Tokenizer::Exact {
            encoding,
            legacy_chat_format: base(model).eq_ignore_ascii_case("gpt-3.5-turbo-0301"),
        };
    }
    match family_of(model) {
        Some(family) => of_family(family),
        None => of_provider(super::provider_of(model)),
    }
}
