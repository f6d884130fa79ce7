//! What a model accepts, judged from its own name (no `provider/` prefix, `ft:` ignored, any
//! case):
//!
//! - **Reasoning**: OpenAI's o1, o3 and o4 families and the gpt-5 family except `gpt-5-chat*`;
//!   DeepSeek's `deepseek-reasoner`; xAI's `grok-3-mini`, and `grok-4*` and `grok-code*` except
//!   `*non-reasoning*` (grok-4 and grok-code reject `reasoning_effort`, grok-3-mini takes it).
//! - **System role**: every model but `o1-mini` and `o1-preview`.
//! - **One sampler**: Claude 4.1 and 4.5 models (`opus-4-1`, `opus-4-5`, `sonnet-4-5`,
//!   `haiku-4-5`, dashes or dots) accept `temperature` or `top_p`, not both.

use super::family::{family_of, Family};
use super::name::{base, contains, in_family};

/// Which reasoning API a reasoning model follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reasoning {
    /// OpenAI o-series / gpt-5: no sampling parameters, `max_completion_tokens`.
    OpenAi,
    /// DeepSeek's reasoner: no sampling parameters.
    DeepSeek,
    /// xAI Grok reasoning: no penalties or `stop`.
    Grok {
        /// Whether `reasoning_effort` is accepted (grok-3-mini) or rejected (grok-4, grok-code).
        accepts_effort: bool,
    },
}

/// What a model accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The reasoning API, `None` for models not known to reason.
    pub reasoning: Option<Reasoning>,
    /// Whether `system`/`developer` messages are accepted.
    pub system_role: bool,
    /// Whether only one of `temperature` and `top_p` may be set.
    pub one_sampler: bool,
}

const CLAUDE_ONE_SAMPLER: [&str; 8] = [
    "opus-4-1",
    "opus-4-5",
    "sonnet-4-5",
    "haiku-4-5",
    "opus-4.1",
    "opus-4.5",
    "sonnet-4.5",
    "haiku-4.5",
];

fn reasoning(name: &str, family: Option<Family>) -> Option<Reasoning> {
    match family? {
        Family::OSeries => Some(Reasoning::OpenAi),
        Family::Gpt if in_family(name, "gpt-5") && !contains(name, "-chat") => Some(Reasoning::OpenAi),
        Family::DeepSeek if in_family(name, "deepseek-reasoner") => Some(Reasoning::DeepSeek),
        Family::Grok
            if (in_family(name, "grok-4") || in_family(name, "grok-code")) && !contains(name, "non-reasoning") =>
        {
            Some(Reasoning::Grok { accepts_effort: false })
        }
        Family::Grok if in_family(name, "grok-3-mini") => Some(Reasoning::Grok { accepts_effort: true }),
        _ => None,
    }
}

/// The capabilities of `model` (see the module docs). No allocation.
pub fn capabilities_of(model: &str) -> Capabilities {
    let name = base(model);
    let family = family_of(model);
    Capabilities {
        reasoning: reasoning(name, family),
        system_role: !(in_family(name, "o1-mini") || in_family(name, "o1-preview")),
        one_sampler: family == Some(Family::Claude) && CLAUDE_ONE_SAMPLER.iter().any(|v| contains(name, v)),
    }
}
