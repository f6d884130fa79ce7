//! The catalog's table of model strings and the facts expected for each, including every case
//! where the four places that used to decide them disagreed.

use super::table::{builtin, BUILTIN};
use super::*;
use crate::tokens::Encoding::{Cl100kBase, O200kBase};
use serde_json::Value;

use Family as F;
use ProviderId as P;

const fn exact(encoding: crate::tokens::Encoding) -> Tokenizer {
    Tokenizer::Exact {
        encoding,
        legacy_chat_format: false,
    }
}

struct Row {
    model: &'static str,
    provider: Option<ProviderId>,
    family: Option<Family>,
    tokenizer: Tokenizer,
    entry: Option<&'static str>,
    reasoning: Option<Reasoning>,
    routes: Option<ProviderId>,
}

#[allow(clippy::too_many_arguments)]
const fn row(
    model: &'static str,
    provider: Option<ProviderId>,
    family: Option<Family>,
    tokenizer: Tokenizer,
    entry: Option<&'static str>,
    reasoning: Option<Reasoning>,
    routes: Option<ProviderId>,
) -> Row {
    Row {
        model,
        provider,
        family,
        tokenizer,
        entry,
        reasoning,
        routes,
    }
}

const OPENAI_R: Option<Reasoning> = Some(Reasoning::OpenAi);
const NEAR: Tokenizer = Tokenizer::NearO200k;

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // OpenAI: unprefixed, prefixed, mixed case, dated, ft:.
    row("gpt-4o-mini", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), Some("gpt-4o-mini"), None, Some(P::OpenAi)),
    row("openai/gpt-4.1-nano-2025-04-14", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), Some("gpt-4.1-nano"), None, None),
    row("GPT-4o-2024-08-06", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), Some("gpt-4o"), None, Some(P::OpenAi)),
    row("gpt-4o-2024-05-13", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), Some("gpt-4o-2024-05-13"), None, Some(P::OpenAi)),
    // Disagreement: by_pattern did not see through `ft:` (tokens did); a fine-tune is not priced.
    row("ft:gpt-4o-mini:org::x", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), None, None, Some(P::OpenAi)),
    row("gpt-4", Some(P::OpenAi), Some(F::Gpt), exact(Cl100kBase), Some("gpt-4"), None, Some(P::OpenAi)),
    row("gpt-40", Some(P::OpenAi), Some(F::Gpt), NEAR, None, None, Some(P::OpenAi)),
    row("gpt-3.5-turbo-0301", Some(P::OpenAi), Some(F::Gpt), Tokenizer::Exact { encoding: Cl100kBase, legacy_chat_format: true }, Some("gpt-3.5-turbo"), None, Some(P::OpenAi)),
    row("text-embedding-3-small", Some(P::OpenAi), Some(F::OpenAiEmbedding), exact(Cl100kBase), Some("text-embedding-3-small"), None, Some(P::OpenAi)),
    row("chatgpt-4o-latest", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), Some("chatgpt-4o-latest"), None, Some(P::OpenAi)),
    row("davinci-002", Some(P::OpenAi), Some(F::OpenAiLegacy), NEAR, None, None, None),
    row("o3-mini-2025-01-31", Some(P::OpenAi), Some(F::OSeries), exact(O200kBase), Some("o3-mini"), OPENAI_R, Some(P::OpenAi)),
    row("o1", Some(P::OpenAi), Some(F::OSeries), exact(O200kBase), Some("o1"), OPENAI_R, Some(P::OpenAi)),
    row("O4-Mini", Some(P::OpenAi), Some(F::OSeries), exact(O200kBase), Some("o4-mini"), OPENAI_R, Some(P::OpenAi)),
    row("o1x", None, None, Tokenizer::Unknown, None, None, None),
    // Disagreement: sanitize did not strip `ft:`, so a fine-tuned o4-mini kept its sampling params.
    row("ft:o4-mini:org::x", Some(P::OpenAi), Some(F::OSeries), exact(O200kBase), None, OPENAI_R, Some(P::OpenAi)),
    row("azure/gpt-5-mini", Some(P::Azure), Some(F::Gpt), exact(O200kBase), Some("gpt-5-mini"), OPENAI_R, None),
    row("gpt-5-chat-latest", Some(P::OpenAi), Some(F::Gpt), exact(O200kBase), Some("gpt-5-chat-latest"), None, Some(P::OpenAi)),
    // Claude. Disagreement: `claude-` (routing) vs `claude` (pricing): now `claude` at a boundary.
    row("claude-sonnet-4-5-20250929", Some(P::Anthropic), Some(F::Claude), Tokenizer::Claude, Some("claude-sonnet-4-5"), None, Some(P::Anthropic)),
    row("anthropic/claude-opus-4.1", Some(P::Anthropic), Some(F::Claude), Tokenizer::Claude, Some("claude-opus-4-1"), None, None),
    row("Claude-3-5-Haiku-latest", Some(P::Anthropic), Some(F::Claude), Tokenizer::Claude, Some("claude-3-5-haiku"), None, Some(P::Anthropic)),
    row("claude", Some(P::Anthropic), Some(F::Claude), Tokenizer::Claude, None, None, Some(P::Anthropic)),
    row("claudette", None, None, Tokenizer::Unknown, None, None, None),
    // Disagreement: with nineteen providers `openrouter` is the provider; the family still says Claude.
    row("openrouter/anthropic/claude-x", Some(P::OpenRouter), Some(F::Claude), Tokenizer::Claude, None, None, None),
    // Gemini. Disagreement: `gemini-` (routing) vs `gemini`/`gemma` (pricing): Gemma is Google's
    // (provider gemini) but open weights, so not routed by name.
    row("gemini-2.5-flash-preview-05-20", Some(P::Gemini), Some(F::Gemini), NEAR, Some("gemini-2.5-flash"), None, Some(P::Gemini)),
    row("gemini/gemini-2.5-flash-lite", Some(P::Gemini), Some(F::Gemini), NEAR, Some("gemini-2.5-flash-lite"), None, None),
    row("gemini", Some(P::Gemini), Some(F::Gemini), NEAR, None, None, Some(P::Gemini)),
    row("gemma-3-27b-it", Some(P::Gemini), Some(F::Gemma), NEAR, None, None, None),
    row("gemma2-9b-it", Some(P::Gemini), Some(F::Gemma), NEAR, None, None, None),
    // Groq-hosted: the table's provider, or the prefix.
    row("llama-3.1-8b-instant", Some(P::Groq), None, NEAR, Some("llama-3.1-8b-instant"), None, None),
    row("groq/llama-3.3-70b-versatile", Some(P::Groq), None, NEAR, Some("llama-3.3-70b-versatile"), None, None),
    row("groq/openai/gpt-oss-20b", Some(P::Groq), Some(F::Gpt), exact(O200kBase), Some("openai/gpt-oss-20b"), None, None),
    row("meta-llama/llama-4-scout-17b-16e-instruct", Some(P::Groq), None, NEAR, Some("meta-llama/llama-4-scout-17b-16e-instruct"), None, None),
    // Mistral, DeepSeek, xAI.
    row("mistral-large-latest", Some(P::Mistral), Some(F::Mistral), Tokenizer::Mistral, Some("mistral-large"), None, None),
    row("Codestral-2508", Some(P::Mistral), Some(F::Mistral), Tokenizer::Mistral, Some("codestral"), None, None),
    row("mistralai/Mixtral-8x7B", Some(P::Mistral), None, Tokenizer::Mistral, None, None, None),
    row("deepseek/deepseek-reasoner", Some(P::DeepSeek), Some(F::DeepSeek), NEAR, Some("deepseek-reasoner"), Some(Reasoning::DeepSeek), None),
    row("deepseek-chat", Some(P::DeepSeek), Some(F::DeepSeek), NEAR, Some("deepseek-chat"), None, None),
    row("xai/grok-4-fast-reasoning", Some(P::XAi), Some(F::Grok), NEAR, Some("grok-4-fast"), Some(Reasoning::Grok { accepts_effort: false }), None),
    row("grok-4-fast-non-reasoning", Some(P::XAi), Some(F::Grok), NEAR, Some("grok-4-fast"), None, None),
    row("grok-3-mini", Some(P::XAi), Some(F::Grok), NEAR, Some("grok-3-mini"), Some(Reasoning::Grok { accepts_effort: true }), None),
    // Local and unknown.
    row("ollama/llama3", Some(P::Ollama), None, Tokenizer::Unknown, None, None, None),
    row("together/deepseek-ai/DeepSeek-V3", Some(P::Together), Some(F::DeepSeek), NEAR, None, None, None),
    row("my-local-model", None, None, Tokenizer::Unknown, None, None, None),
    row("", None, None, Tokenizer::Unknown, None, None, None),
];

#[test]
fn every_model_string_resolves_to_its_facts() {
    for r in ROWS {
        let f = facts(r.model);
        let m = r.model;
        assert_eq!(f.provider, r.provider, "provider of {m:?}");
        assert_eq!(provider_of(m), r.provider, "provider_of {m:?}");
        assert_eq!(f.family, r.family, "family of {m:?}");
        assert_eq!(f.tokenizer, r.tokenizer, "tokenizer of {m:?}");
        assert_eq!(f.info.as_ref().map(|i| i.name.as_str()), r.entry, "entry of {m:?}");
        assert_eq!(f.capabilities.reasoning, r.reasoning, "reasoning of {m:?}");
        assert_eq!(route_by_name(m), r.routes, "route of {m:?}");
        let exact = match r.tokenizer {
            Tokenizer::Exact { encoding, .. } => Some(encoding),
            _ => None,
        };
        assert_eq!(encoding_of(m), exact, "encoding of {m:?}");
    }
}

#[test]
fn capabilities_beyond_reasoning() {
    assert!(!capabilities_of("o1-mini").system_role);
    assert!(!capabilities_of("openai/O1-Preview-2024-09-12").system_role);
    assert!(capabilities_of("o1").system_role);
    for m in ["claude-sonnet-4-5-20250929", "claude-opus-4.1", "CLAUDE-HAIKU-4-5"] {
        assert!(capabilities_of(m).one_sampler, "{m}");
    }
    for m in ["claude-3-5-haiku", "gpt-4o", "my-sonnet-4-5"] {
        assert!(!capabilities_of(m).one_sampler, "{m}");
    }
    let f = facts("gpt-5");
    assert_eq!(
        (f.context_window(), f.max_output_tokens()),
        (Some(400_000), Some(128_000))
    );
    assert_eq!(facts("nope").context_window(), None);
}

#[test]
fn provider_identity_is_the_registry_list() {
    let registry = crate::providers::registry::builtins();
    let names: Vec<&str> = registry.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ProviderId::ALL.map(ProviderId::as_str));
    for p in ProviderId::ALL {
        assert_eq!(ProviderId::from_name(&p.as_str().to_ascii_uppercase()), Some(p));
        assert_eq!(p.to_string(), p.as_str());
    }
    for (alias, p) in [
        ("google", P::Gemini),
        ("Vertex_AI", P::Gemini),
        ("mistralai", P::Mistral),
        ("deepseek-ai", P::DeepSeek),
        ("x-ai", P::XAi),
        ("azure_openai", P::Azure),
    ] {
        assert_eq!(ProviderId::from_name(alias), Some(p), "{alias}");
    }
    assert_eq!(ProviderId::from_name("meta-llama"), None);
}

#[test]
fn builtin_table_parses_completely() {
    let raw: Value = serde_json::from_str(BUILTIN).unwrap();
    let expected = raw.as_object().unwrap().keys().filter(|k| !k.starts_with('_')).count();
    assert_eq!(builtin().len(), expected);
    for info in builtin().values() {
        assert!(info.provider.is_some(), "{}", info.name);
        assert!(info.context_window.is_some(), "{}", info.name);
        assert!(info.input_cost_per_million >= 0.0 && info.output_cost_per_million >= 0.0);
    }
}

#[test]
fn lookups() {
    let name = |m: &str| lookup(m).map(|i| i.name.clone());
    assert_eq!(name("gpt-4o-mini").as_deref(), Some("gpt-4o-mini"));
    assert_eq!(name("gpt-4o-mini-2024-07-18").as_deref(), Some("gpt-4o-mini"));
    assert_eq!(name("GPT-4o-2024-08-06").as_deref(), Some("gpt-4o"));
    assert_eq!(name("gpt-4o-2024-05-13").as_deref(), Some("gpt-4o-2024-05-13"));
    assert_eq!(name("openai/gpt-4.1-nano-2025-04-14").as_deref(), Some("gpt-4.1-nano"));
    assert_eq!(name("azure/gpt-5-mini").as_deref(), Some("gpt-5-mini"));
    assert_eq!(name("o3-mini-2025-01-31").as_deref(), Some("o3-mini"));
    assert_eq!(name("o3-2025-04-16").as_deref(), Some("o3"));
    assert_eq!(name("claude-sonnet-4-5-20250929").as_deref(), Some("claude-sonnet-4-5"));
    assert_eq!(name("claude-sonnet-4-20250514").as_deref(), Some("claude-sonnet-4"));
    assert_eq!(name("anthropic/claude-opus-4.1").as_deref(), Some("claude-opus-4-1"));
    assert_eq!(name("claude-3-5-haiku-latest").as_deref(), Some("claude-3-5-haiku"));
    assert_eq!(
        name("gemini/gemini-2.5-flash-lite").as_deref(),
        Some("gemini-2.5-flash-lite")
    );
    assert_eq!(
        name("gemini-2.5-flash-preview-05-20").as_deref(),
        Some("gemini-2.5-flash")
    );
    assert_eq!(
        name("groq/llama-3.3-70b-versatile").as_deref(),
        Some("llama-3.3-70b-versatile")
    );
    assert_eq!(name("groq/openai/gpt-oss-120b").as_deref(), Some("openai/gpt-oss-120b"));
    assert_eq!(name("mistral-large-latest").as_deref(), Some("mistral-large"));
    assert_eq!(name("deepseek/deepseek-reasoner").as_deref(), Some("deepseek-reasoner"));
    assert_eq!(name("xai/grok-4-fast-reasoning").as_deref(), Some("grok-4-fast"));
    assert_eq!(name("grok-4-0709").as_deref(), Some("grok-4"));
    assert_eq!(name("no-such-model"), None);
    assert_eq!(name("gpt"), None);
    assert_eq!(name("o1x"), None);
}

#[test]
fn providers_former_pricing_cases() {
    assert_eq!(provider_of("gpt-4o"), Some(P::OpenAi));
    assert_eq!(provider_of("o4-mini"), Some(P::OpenAi));
    assert_eq!(provider_of("claude-haiku-4-5"), Some(P::Anthropic));
    assert_eq!(provider_of("openrouter/anthropic/claude-x"), Some(P::OpenRouter));
    assert_eq!(provider_of("llama-3.1-8b-instant"), Some(P::Groq));
    assert_eq!(provider_of("groq/openai/gpt-oss-20b"), Some(P::Groq));
    assert_eq!(provider_of("gemini-9-ultra"), Some(P::Gemini));
    assert_eq!(provider_of("codestral-2508"), Some(P::Mistral));
    assert_eq!(provider_of("grok-5"), Some(P::XAi));
    assert_eq!(provider_of("my-model"), None);
}
