//! The provider registry compiled into the core: where each provider lives, how it
//! authenticates, which environment variable holds its key, which endpoints it serves and which
//! parameters it renames or rejects. Custom providers (`ProviderConfig`) extend it.
//!
//! Endpoint families beyond chat follow what each provider documents: OpenAI serves everything
//! but reranking; Anthropic and Gemini serve chat and model listing (Gemini embeddings too);
//! reranking (`POST {base}/rerank` with `{model, query, documents, top_n}`) is served by Cohere
//! (its v2 endpoint), Together, vLLM and llama.cpp, and by any OpenAI-protocol provider reached
//! at a host of the user's choosing (`base_url=` or a `providers=` override), since the
//! rerank servers people self-host (vLLM, TEI, Jina, LiteLLM) speak that format. Custom
//! providers serve every family. A missing family fails with `EndpointNotSupported` before any
//! request is sent.

use crate::catalog::ProviderId;
use crate::error::{Error, Kind, Result};

/// The wire protocol a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI Chat Completions and friends (most providers and every local server).
    OpenAi,
    /// Anthropic Messages API.
    Anthropic,
    /// Google Gemini generateContent.
    Gemini,
    /// Azure OpenAI: deployment URLs, `api-version` query, `api-key` header.
    Azure,
}

/// How the key travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// The key as the value of this header (`x-api-key`, `api-key`, `x-goog-api-key`).
    Header(String),
    /// The key as this query parameter (`?key=...`), for servers that accept nothing else. A key
    /// in a URL can reach access logs, so no built-in provider uses it; errors never show URLs.
    Query(String),
}

/// An endpoint family, for [`Provider::supports`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// Chat completions (plain and streamed).
    Chat,
    /// Embeddings.
    Embeddings,
    /// Model listing.
    Models,
    /// Image generation.
    Images,
    /// Speech synthesis and transcription.
    Audio,
    /// Moderation.
    Moderation,
    /// Reranking (`POST /rerank`, Cohere/Jina style).
    Rerank,
    /// File uploads and downloads.
    Files,
    /// Batch jobs.
    Batches,
    /// The Responses API.
    Responses,
    /// Anthropic's Message Batches.
    MessageBatches,
}

impl Endpoint {
    /// What the endpoint does, for errors.
    pub fn describe(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Models => "model listing",
            Endpoint::Images => "image generation",
            Endpoint::Audio => "audio (speech and transcription)",
            Endpoint::Moderation => "moderation",
            Endpoint::Rerank => "reranking",
            Endpoint::Files => "files",
            Endpoint::Batches => "batches",
            Endpoint::Responses => "the Responses API",
            Endpoint::MessageBatches => "message batches",
        }
    }
}

/// One provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Provider {
    /// Name, also the model prefix (`groq/llama-3.3-70b-versatile`).
    pub name: String,
    /// Default base URL (without trailing slash).
    pub base_url: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// How the key is sent.
    pub auth: Auth,
    /// Environment variables that may hold its key, in order of preference (empty: keyless).
    pub key_env: Vec<String>,
    /// Whether requests need a key (local servers do not).
    pub needs_key: bool,
    /// Endpoint families it serves.
    pub endpoints: Vec<Endpoint>,
    /// Body parameters renamed on the wire (`from`, `to`).
    pub renames: Vec<(String, String)>,
    /// Body parameters the provider rejects; dropped before sending.
    pub rejects: Vec<String>,
    /// Extra model prefixes routed here (custom providers).
    pub model_prefixes: Vec<String>,
    /// The rerank URL at the provider's default host when it is not `{base_url}/rerank`
    /// (cleared when the base URL is overridden).
    pub rerank_url: Option<String>,
}

impl Provider {
    /// Whether the provider serves `endpoint`.
    pub fn supports(&self, endpoint: Endpoint) -> bool {
        self.endpoints.contains(&endpoint)
    }

    /// The error for an endpoint it lacks.
    pub fn unsupported(&self, what: &str) -> Error {
        Error::new(
            Kind::EndpointNotSupported,
            format!("provider {:?} does not support {what}", self.name),
        )
    }
}

/// Everything (custom OpenAI-compatible providers: the registry cannot know what they lack).
const ALL: &[Endpoint] = &[
    Endpoint::Chat,
    Endpoint::Embeddings,
    Endpoint::Models,
    Endpoint::Images,
    Endpoint::Audio,
    Endpoint::Moderation,
    Endpoint::Rerank,
    Endpoint::Files,
    Endpoint::Batches,
    Endpoint::Responses,
];
/// OpenAI itself: everything but reranking.
const OPENAI: &[Endpoint] = &[
    Endpoint::Chat,
    Endpoint::Embeddings,
    Endpoint::Models,
    Endpoint::Images,
    Endpoint::Audio,
    Endpoint::Moderation,
    Endpoint::Files,
    Endpoint::Batches,
    Endpoint::Responses,
];
/// Azure OpenAI (moderation and the Responses API are not served under the same api-version).
const AZURE: &[Endpoint] = &[
    Endpoint::Chat,
    Endpoint::Embeddings,
    Endpoint::Models,
    Endpoint::Images,
    Endpoint::Audio,
    Endpoint::Files,
    Endpoint::Batches,
];
const CHAT_EMBED: &[Endpoint] = &[Endpoint::Chat, Endpoint::Embeddings, Endpoint::Models];
const CHAT: &[Endpoint] = &[Endpoint::Chat, Endpoint::Models];
const ANTHROPIC: &[Endpoint] = &[Endpoint::Chat, Endpoint::Models, Endpoint::MessageBatches];
const GROQ: &[Endpoint] = &[
    Endpoint::Chat,
    Endpoint::Models,
    Endpoint::Audio,
    Endpoint::Files,
    Endpoint::Batches,
];
const TOGETHER: &[Endpoint] = &[
    Endpoint::Chat,
    Endpoint::Embeddings,
    Endpoint::Models,
    Endpoint::Images,
    Endpoint::Audio,
    Endpoint::Rerank,
    Endpoint::Files,
    Endpoint::Batches,
];
const CHAT_EMBED_IMAGES: &[Endpoint] = &[Endpoint::Chat, Endpoint::Embeddings, Endpoint::Models, Endpoint::Images];
const CHAT_EMBED_RERANK: &[Endpoint] = &[Endpoint::Chat, Endpoint::Embeddings, Endpoint::Models, Endpoint::Rerank];

struct Builtin {
    id: ProviderId,
    base_url: &'static str,
    protocol: Protocol,
    key_env: &'static [&'static str],
    endpoints: &'static [Endpoint],
    renames: &'static [(&'static str, &'static str)],
    rejects: &'static [&'static str],
    rerank_url: Option<&'static str>,
}

/// `max_completion_tokens` is OpenAI's newer name; most compatible servers only know `max_tokens`.
const MAX_TOKENS: &[(&str, &str)] = &[("max_completion_tokens", "max_tokens")];

/// The built-ins, one per [`ProviderId`] in [`ProviderId::ALL`] order.
const BUILTINS: &[Builtin] = &[
    Builtin {
        id: ProviderId::OpenAi,
        base_url: "https://api.openai.com/v1",
        protocol: Protocol::OpenAi,
        key_env: &["OPENAI_API_KEY"],
        endpoints: OPENAI,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Anthropic,
        base_url: "https://api.anthropic.com/v1",
        protocol: Protocol::Anthropic,
        key_env: &["ANTHROPIC_API_KEY"],
        endpoints: ANTHROPIC,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Gemini,
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        protocol: Protocol::Gemini,
        key_env: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        endpoints: CHAT_EMBED,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Azure,
        base_url: "",
        protocol: Protocol::Azure,
        key_env: &["AZURE_API_KEY", "AZURE_OPENAI_API_KEY"],
        endpoints: AZURE,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Groq,
        base_url: "https://api.groq.com/openai/v1",
        protocol: Protocol::OpenAi,
        key_env: &["GROQ_API_KEY"],
        endpoints: GROQ,
        renames: &[],
        rejects: &["logit_bias", "top_logprobs", "logprobs"],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Together,
        base_url: "https://api.together.xyz/v1",
        protocol: Protocol::OpenAi,
        key_env: &["TOGETHER_API_KEY", "TOGETHERAI_API_KEY"],
        endpoints: TOGETHER,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Fireworks,
        base_url: "https://api.fireworks.ai/inference/v1",
        protocol: Protocol::OpenAi,
        key_env: &["FIREWORKS_API_KEY"],
        endpoints: CHAT_EMBED,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::DeepSeek,
        base_url: "https://api.deepseek.com/v1",
        protocol: Protocol::OpenAi,
        key_env: &["DEEPSEEK_API_KEY"],
        endpoints: CHAT,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Mistral,
        base_url: "https://api.mistral.ai/v1",
        protocol: Protocol::OpenAi,
        key_env: &["MISTRAL_API_KEY"],
        endpoints: CHAT_EMBED,
        renames: MAX_TOKENS,
        rejects: &["logit_bias", "user"],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::OpenRouter,
        base_url: "https://openrouter.ai/api/v1",
        protocol: Protocol::OpenAi,
        key_env: &["OPENROUTER_API_KEY"],
        endpoints: CHAT,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Perplexity,
        base_url: "https://api.perplexity.ai",
        protocol: Protocol::OpenAi,
        key_env: &["PERPLEXITY_API_KEY", "PERPLEXITYAI_API_KEY"],
        endpoints: CHAT,
        renames: MAX_TOKENS,
        rejects: &["n", "logit_bias"],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::XAi,
        base_url: "https://api.x.ai/v1",
        protocol: Protocol::OpenAi,
        key_env: &["XAI_API_KEY"],
        endpoints: CHAT_EMBED_IMAGES,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Cerebras,
        base_url: "https://api.cerebras.ai/v1",
        protocol: Protocol::OpenAi,
        key_env: &["CEREBRAS_API_KEY"],
        endpoints: CHAT,
        renames: &[],
        rejects: &["frequency_penalty", "presence_penalty", "logit_bias"],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::DeepInfra,
        base_url: "https://api.deepinfra.com/v1/openai",
        protocol: Protocol::OpenAi,
        key_env: &["DEEPINFRA_API_KEY"],
        endpoints: CHAT_EMBED_IMAGES,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Cohere,
        base_url: "https://api.cohere.ai/compatibility/v1",
        protocol: Protocol::OpenAi,
        key_env: &["COHERE_API_KEY", "CO_API_KEY"],
        endpoints: CHAT_EMBED_RERANK,
        renames: MAX_TOKENS,
        rejects: &["logit_bias", "n"],
        rerank_url: Some("https://api.cohere.ai/v2/rerank"),
    },
    Builtin {
        id: ProviderId::Ollama,
        base_url: "http://localhost:11434/v1",
        protocol: Protocol::OpenAi,
        key_env: &[],
        endpoints: CHAT_EMBED,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::Vllm,
        base_url: "http://localhost:8000/v1",
        protocol: Protocol::OpenAi,
        key_env: &[],
        endpoints: CHAT_EMBED_RERANK,
        renames: &[],
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::LmStudio,
        base_url: "http://localhost:1234/v1",
        protocol: Protocol::OpenAi,
        key_env: &[],
        endpoints: CHAT_EMBED,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
    Builtin {
        id: ProviderId::LlamaCpp,
        base_url: "http://localhost:8080/v1",
        protocol: Protocol::OpenAi,
        key_env: &[],
        endpoints: CHAT_EMBED_RERANK,
        renames: MAX_TOKENS,
        rejects: &[],
        rerank_url: None,
    },
];

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Every built-in provider.
pub fn builtins() -> Vec<Provider> {
    BUILTINS
        .iter()
        .map(|b| Provider {
            name: b.id.as_str().to_owned(),
            base_url: b.base_url.to_owned(),
            protocol: b.protocol,
            auth: match b.protocol {
                Protocol::Anthropic => Auth::Header("x-api-key".to_owned()),
                Protocol::Gemini => Auth::Header("x-goog-api-key".to_owned()),
                Protocol::Azure => Auth::Header("api-key".to_owned()),
                Protocol::OpenAi => Auth::Bearer,
            },
            key_env: owned(b.key_env),
            needs_key: !b.key_env.is_empty(),
            endpoints: b.endpoints.to_vec(),
            renames: b
                .renames
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
            rejects: owned(b.rejects),
            model_prefixes: Vec::new(),
            rerank_url: b.rerank_url.map(str::to_owned),
        })
        .collect()
}

/// The provider a bare model name is routed to by its well-known pattern, if any (the catalog's
/// routing rules, [`crate::catalog::route_by_name`]; no allocation).
pub fn by_pattern(model: &str) -> Option<&'static str> {
    crate::catalog::route_by_name(model).map(ProviderId::as_str)
}

/// A custom provider, as `LlmClient(providers=[...])` and `register_provider` take it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Name; also a model prefix. A built-in name overrides that provider's base URL/auth.
    pub name: String,
    /// Base URL.
    pub base_url: Option<String>,
    /// Header carrying the key (`Authorization` means `Bearer <key>`); `None` keeps the default.
    pub auth_header: Option<String>,
    /// Extra model prefixes routed to it (`my-model-` routes `my-model-7b`).
    pub model_prefixes: Vec<String>,
    /// Environment variable holding its key.
    pub api_key_env: Option<String>,
    /// Query parameter carrying the key instead of a header (`key` sends `?key=<key>`).
    pub auth_query: Option<String>,
}

/// Applies custom providers to a registry: new names are OpenAI-compatible providers, built-in
/// names override base URL and auth. A model prefix claimed twice is an error.
///
/// # Errors
/// `InvalidArgument` for an empty name, a missing base URL on a new provider, or a prefix
/// conflict.
pub fn apply(registry: &mut Vec<Provider>, configs: &[ProviderConfig]) -> Result<()> {
    for c in configs {
        let invalid = |m: String| Error::new(Kind::InvalidArgument, m);
        if c.name.is_empty() || c.name.contains('/') {
            return Err(invalid(format!(
                "provider name must be non-empty and without '/', got {:?}",
                c.name
            )));
        }
        let auth = match (&c.auth_header, &c.auth_query) {
            (Some(_), Some(_)) => {
                return Err(invalid(format!(
                    "provider {:?}: give auth_header or auth_query, not both",
                    c.name
                )))
            }
            (None, Some(q)) if q.is_empty() => {
                return Err(invalid(format!("provider {:?}: auth_query is empty", c.name)))
            }
            (None, Some(q)) => Some(Auth::Query(q.clone())),
            (Some(h), None) if h.eq_ignore_ascii_case("authorization") => Some(Auth::Bearer),
            (Some(h), None) => Some(Auth::Header(h.to_ascii_lowercase())),
            (None, None) => None,
        };
        for prefix in &c.model_prefixes {
            if let Some(owner) = registry
                .iter()
                .find(|p| p.name != c.name && (p.model_prefixes.contains(prefix) || p.name == *prefix))
            {
                return Err(invalid(format!(
                    "model prefix {prefix:?} of provider {:?} is already routed to {:?}",
                    c.name, owner.name
                )));
            }
        }
        if let Some(existing) = registry.iter_mut().find(|p| p.name == c.name) {
            if let Some(url) = &c.base_url {
                existing.base_url = url.trim_end_matches('/').to_owned();
                existing.rerank_url = None;
            }
            if let Some(auth) = auth {
                existing.auth = auth;
            }
            if let Some(env) = &c.api_key_env {
                existing.key_env = vec![env.clone()];
            }
            existing.model_prefixes.extend(c.model_prefixes.iter().cloned());
            continue;
        }
        let Some(url) = &c.base_url else {
            return Err(invalid(format!("custom provider {:?} needs a base_url", c.name)));
        };
        registry.push(Provider {
            name: c.name.clone(),
            base_url: url.trim_end_matches('/').to_owned(),
            protocol: Protocol::OpenAi,
            auth: auth.unwrap_or(Auth::Bearer),
            key_env: c.api_key_env.iter().cloned().collect(),
            // A provider that names its key variable needs it set.
            needs_key: c.api_key_env.is_some(),
            endpoints: ALL.to_vec(),
            renames: Vec::new(),
            rejects: Vec::new(),
            model_prefixes: c.model_prefixes.clone(),
            rerank_url: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lists_every_required_provider_with_its_key_variable() {
        let all = builtins();
        for name in [
            "openai",
            "anthropic",
            "gemini",
            "azure",
            "groq",
            "together",
            "fireworks",
            "deepseek",
            "mistral",
            "openrouter",
            "perplexity",
            "xai",
            "cerebras",
            "deepinfra",
            "cohere",
            "ollama",
            "vllm",
            "lmstudio",
            "llamacpp",
        ] {
            let p = all
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(
                p.needs_key,
                !["ollama", "vllm", "lmstudio", "llamacpp"].contains(&name),
                "{name}"
            );
            assert!(p.supports(Endpoint::Chat));
        }
        let anthropic = all.iter().find(|p| p.name == "anthropic").unwrap();
        assert_eq!(anthropic.auth, Auth::Header("x-api-key".into()));
        assert_eq!(anthropic.key_env, ["ANTHROPIC_API_KEY"]);
        assert!(!anthropic.supports(Endpoint::Embeddings));
    }

    #[test]
    fn endpoint_families_follow_what_each_provider_serves() {
        let mut reg = builtins();
        let get = |reg: &[Provider], name: &str| reg.iter().find(|p| p.name == name).unwrap().clone();
        let openai = get(&reg, "openai");
        assert!(openai.supports(Endpoint::Files) && openai.supports(Endpoint::Responses));
        assert!(!openai.supports(Endpoint::Rerank));
        for name in ["anthropic", "gemini"] {
            let p = get(&reg, name);
            for e in [
                Endpoint::Images,
                Endpoint::Audio,
                Endpoint::Moderation,
                Endpoint::Rerank,
                Endpoint::Files,
                Endpoint::Batches,
                Endpoint::Responses,
            ] {
                assert!(!p.supports(e), "{name} {e:?}");
            }
            assert!(p.supports(Endpoint::Models));
        }
        let cohere = get(&reg, "cohere");
        assert!(cohere.supports(Endpoint::Rerank));
        assert_eq!(cohere.rerank_url.as_deref(), Some("https://api.cohere.ai/v2/rerank"));
        let moved = ProviderConfig {
            name: "cohere".into(),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            ..ProviderConfig::default()
        };
        apply(&mut reg, &[moved]).unwrap();
        assert_eq!(get(&reg, "cohere").rerank_url, None);
    }

    #[test]
    fn well_known_names_pick_their_provider() {
        assert_eq!(by_pattern("gpt-4o-mini"), Some("openai"));
        assert_eq!(by_pattern("o3-mini"), Some("openai"));
        assert_eq!(by_pattern("o1"), Some("openai"));
        assert_eq!(by_pattern("claude-sonnet-4-5"), Some("anthropic"));
        assert_eq!(by_pattern("gemini-2.5-flash"), Some("gemini"));
        assert_eq!(by_pattern("llama-3.3-70b"), None);
        assert_eq!(by_pattern("o1x"), None);
        assert_eq!(by_pattern("GPT-4o"), Some("openai"));
        assert_eq!(by_pattern("ft:gpt-4o-mini:org::x"), Some("openai"));
        assert_eq!(by_pattern("claude"), Some("anthropic"));
        assert_eq!(by_pattern("gemma-3-27b-it"), None);
        assert_eq!(by_pattern("mistral-large-latest"), None);
        assert_eq!(by_pattern("meta-llama/gpt-x"), None);
    }

    #[test]
    fn custom_providers_add_and_override_and_conflicts_are_errors() {
        let mut reg = builtins();
        let custom = ProviderConfig {
            name: "acme".into(),
            base_url: Some("https://llm.acme.test/v1/".into()),
            auth_header: Some("X-Acme-Key".into()),
            model_prefixes: vec!["acme-".into()],
            api_key_env: Some("ACME_KEY".into()),
            auth_query: None,
        };
        apply(&mut reg, std::slice::from_ref(&custom)).unwrap();
        let acme = reg.iter().find(|p| p.name == "acme").unwrap();
        assert_eq!(acme.base_url, "https://llm.acme.test/v1");
        assert_eq!(acme.auth, Auth::Header("x-acme-key".into()));
        let clash = ProviderConfig {
            name: "other".into(),
            base_url: Some("http://x".into()),
            model_prefixes: vec!["acme-".into()],
            ..ProviderConfig::default()
        };
        let err = apply(&mut reg, &[clash]).unwrap_err();
        assert_eq!(err.kind(), Kind::InvalidArgument);
        assert!(err.message().contains("already routed to \"acme\""));
        let moved = ProviderConfig {
            name: "anthropic".into(),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            ..ProviderConfig::default()
        };
        apply(&mut reg, &[moved]).unwrap();
        let a = reg.iter().find(|p| p.name == "anthropic").unwrap();
        assert_eq!(
            (a.base_url.as_str(), a.protocol),
            ("http://127.0.0.1:9/v1", Protocol::Anthropic)
        );
        assert!(apply(
            &mut reg,
            &[ProviderConfig {
                name: "nourl".into(),
                ..ProviderConfig::default()
            }]
        )
        .is_err());
        let query = ProviderConfig {
            name: "qk".into(),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            auth_query: Some("key".into()),
            ..ProviderConfig::default()
        };
        apply(&mut reg, std::slice::from_ref(&query)).unwrap();
        let qk = reg.iter().find(|p| p.name == "qk").unwrap();
        assert_eq!(qk.auth, Auth::Query("key".into()));
        let both = ProviderConfig {
            name: "both".into(),
            auth_header: Some("x-key".into()),
            ..query
        };
        assert!(apply(&mut reg, &[both]).unwrap_err().message().contains("not both"));
    }
}
