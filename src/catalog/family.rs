//! Model families: which line a model belongs to, judged from its own name by prefix, and whose
//! model it is. One rule table serves both the catalog's facts and request routing.
//!
//! | prefix | boundary | family | vendor | routes |
//! |---|---|---|---|---|
//! | `gpt-`, `chatgpt-`, `codex-` | no | GPT | openai | `gpt-`, `chatgpt-` |
//! | `o1`, `o3`, `o4` | yes | o-series | openai | yes |
//! | `text-embedding-` | no | OpenAI embedding | openai | yes |
//! | `davinci`, `babbage` | no | OpenAI legacy | openai | no |
//! | `claude` | yes | Claude | anthropic | yes |
//! | `gemini` | yes | Gemini | gemini | yes |
//! | `gemma` | no | Gemma | gemini | no |
//! | `mistral`, `open-mistral`, `codestral`, `ministral`, `magistral`, `pixtral`, `devstral` | no | Mistral | mistral | no |
//! | `deepseek` | no | DeepSeek | deepseek | no |
//! | `grok` | no | Grok | xai | no |
//!
//! Matching is ASCII case-insensitive. "Boundary" means the prefix must end the name or be
//! followed by `-`, `.`, `:`, `@` or `_` (`o1x` and `claudette` are not in a family, `gemma2-9b-it`
//! is). "Routes" marks the names a client without a base URL or model hint sends to the vendor by
//! name alone: only families whose vendor's API is where such names are normally served; open
//! weights (Gemma, Mistral, DeepSeek, Llama, ...) and the rest go to the client's own provider
//! unless prefixed (`mistral/...`).

use super::name::{base, in_family, starts_with, strip_ft};
use super::provider::ProviderId;

/// A model line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// OpenAI GPT chat models (`gpt-*`, `chatgpt-*`, `codex-*`).
    Gpt,
    /// OpenAI o-series reasoning models (`o1`, `o3`, `o4` and their variants).
    OSeries,
    /// OpenAI embedding models (`text-embedding-*`).
    OpenAiEmbedding,
    /// OpenAI legacy completion models (`davinci*`, `babbage*`).
    OpenAiLegacy,
    /// Anthropic Claude.
    Claude,
    /// Google Gemini.
    Gemini,
    /// Google Gemma (open weights).
    Gemma,
    /// Mistral AI models.
    Mistral,
    /// DeepSeek models.
    DeepSeek,
    /// xAI Grok.
    Grok,
}

impl Family {
    /// The provider whose model line this is.
    pub fn vendor(self) -> ProviderId {
        match self {
            Self::Gpt | Self::OSeries | Self::OpenAiEmbedding | Self::OpenAiLegacy => ProviderId::OpenAi,
            Self::Claude => ProviderId::Anthropic,
            Self::Gemini | Self::Gemma => ProviderId::Gemini,
            Self::Mistral => ProviderId::Mistral,
            Self::DeepSeek => ProviderId::DeepSeek,
            Self::Grok => ProviderId::XAi,
        }
    }
}

struct Rule {
    prefix: &'static str,
    boundary: bool,
    family: Family,
    routes: bool,
}

const fn rule(prefix: &'static str, boundary: bool, family: Family, routes: bool) -> Rule {
    Rule {
        prefix,
        boundary,
        family,
        routes,
    }
}

const RULES: [Rule; 21] = [
    rule("gpt-", false, Family::Gpt, true),
    rule("chatgpt-", false, Family::Gpt, true),
    rule("codex-", false, Family::Gpt, false),
    rule("o1", true, Family::OSeries, true),
    rule("o3", true, Family::OSeries, true),
    rule("o4", true, Family::OSeries, true),
    rule("text-embedding-", false, Family::OpenAiEmbedding, true),
    rule("davinci", false, Family::OpenAiLegacy, false),
    rule("babbage", false, Family::OpenAiLegacy, false),
    rule("claude", true, Family::Claude, true),
    rule("gemini", true, Family::Gemini, true),
    rule("gemma", false, Family::Gemma, false),
    rule("mistral", false, Family::Mistral, false),
    rule("open-mistral", false, Family::Mistral, false),
    rule("codestral", false, Family::Mistral, false),
    rule("ministral", false, Family::Mistral, false),
    rule("magistral", false, Family::Mistral, false),
    rule("pixtral", false, Family::Mistral, false),
    rule("devstral", false, Family::Mistral, false),
    rule("deepseek", false, Family::DeepSeek, false),
    rule("grok", false, Family::Grok, false),
];

fn matching(name: &str) -> Option<&'static Rule> {
    RULES.iter().find(|r| {
        if r.boundary {
            in_family(name, r.prefix)
        } else {
            starts_with(name, r.prefix)
        }
    })
}

/// The family of `model`, judged from its own name (`provider/` and `ft:` prefixes are ignored;
/// no allocation).
pub fn family_of(model: &str) -> Option<Family> {
    matching(base(model)).map(|r| r.family)
}

/// The provider a bare model name is routed to by name alone (the "routes" column), without
/// allocating: this runs for every routed request. The name is matched as given (`ft:` ignored):
/// a `vendor/model` id that no provider prefix claimed is not routed by pattern.
pub fn route_by_name(model: &str) -> Option<ProviderId> {
    matching(strip_ft(model))
        .filter(|r| r.routes)
        .map(|r| r.family.vendor())
}
