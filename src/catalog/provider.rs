//! Provider identity: the nineteen built-in providers of the registry, their canonical names and
//! the aliases a `provider/` prefix or a table entry may use (`google`, `vertex_ai`, `mistralai`,
//! `deepseek-ai`, `x-ai`, `azure_openai`, ...). The registry (`crate::providers::registry`) builds
//! its built-ins from [`ProviderId::ALL`], so both speak of the same providers.

use std::fmt;

/// A built-in provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProviderId {
    /// OpenAI.
    OpenAi,
    /// Anthropic.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// Azure OpenAI.
    Azure,
    /// Groq.
    Groq,
    /// Together AI.
    Together,
    /// Fireworks AI.
    Fireworks,
    /// DeepSeek.
    DeepSeek,
    /// Mistral AI.
    Mistral,
    /// OpenRouter.
    OpenRouter,
    /// Perplexity.
    Perplexity,
    /// xAI.
    XAi,
    /// Cerebras.
    Cerebras,
    /// DeepInfra.
    DeepInfra,
    /// Cohere.
    Cohere,
    /// Ollama (local).
    Ollama,
    /// vLLM (local).
    Vllm,
    /// LM Studio (local).
    LmStudio,
    /// llama.cpp server (local).
    LlamaCpp,
}

impl ProviderId {
    /// Every built-in provider, in the registry's order.
    pub const ALL: [Self; 19] = [
        Self::OpenAi,
        Self::Anthropic,
        Self::Gemini,
        Self::Azure,
        Self::Groq,
        Self::Together,
        Self::Fireworks,
        Self::DeepSeek,
        Self::Mistral,
        Self::OpenRouter,
        Self::Perplexity,
        Self::XAi,
        Self::Cerebras,
        Self::DeepInfra,
        Self::Cohere,
        Self::Ollama,
        Self::Vllm,
        Self::LmStudio,
        Self::LlamaCpp,
    ];

    /// The canonical lowercase name, also the routing prefix (`openai`, `anthropic`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Azure => "azure",
            Self::Groq => "groq",
            Self::Together => "together",
            Self::Fireworks => "fireworks",
            Self::DeepSeek => "deepseek",
            Self::Mistral => "mistral",
            Self::OpenRouter => "openrouter",
            Self::Perplexity => "perplexity",
            Self::XAi => "xai",
            Self::Cerebras => "cerebras",
            Self::DeepInfra => "deepinfra",
            Self::Cohere => "cohere",
            Self::Ollama => "ollama",
            Self::Vllm => "vllm",
            Self::LmStudio => "lmstudio",
            Self::LlamaCpp => "llamacpp",
        }
    }

    /// Parses a canonical name or a common alias, ASCII case-insensitively, without allocating.
    pub fn from_name(name: &str) -> Option<Self> {
        const ALIASES: [(&str, ProviderId); 14] = [
            ("azure_openai", ProviderId::Azure),
            ("azure-openai", ProviderId::Azure),
            ("claude", ProviderId::Anthropic),
            ("google", ProviderId::Gemini),
            ("vertex_ai", ProviderId::Gemini),
            ("vertex", ProviderId::Gemini),
            ("google-ai", ProviderId::Gemini),
            ("mistralai", ProviderId::Mistral),
            ("mistral-ai", ProviderId::Mistral),
            ("deepseek-ai", ProviderId::DeepSeek),
            ("x-ai", ProviderId::XAi),
            ("grok", ProviderId::XAi),
            ("togetherai", ProviderId::Together),
            ("together_ai", ProviderId::Together),
        ];
        Self::ALL
            .into_iter()
            .find(|p| p.as_str().eq_ignore_ascii_case(name))
            .or_else(|| {
                ALIASES
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
                    .map(|(_, p)| *p)
            })
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
