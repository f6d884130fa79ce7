//! Model pricing and context-window table, and the cost of a call.
//!
//! The built-in table (`pricing/models.json`, embedded) covers current OpenAI, Anthropic, Gemini,
//! Mistral, Groq, DeepSeek and xAI models: USD per million input, cached-input (cache read),
//! cache-write and output tokens, an optional higher tier for long prompts, context window,
//! maximum output and (gpt-5) maximum input. [`register`] adds or replaces entries at run time
//! (process-wide).
//!
//! **Lookup** ([`lookup`]) is case-insensitive. It tries the full name, then the name with each
//! leading `provider/` segment removed (`openrouter/anthropic/claude-…` → `anthropic/claude-…` →
//! `claude-…`). For each candidate an exact key wins, else the longest key that is a prefix of it
//! ending at a `-`, `.`, `:`, `@` or `_` boundary (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`,
//! `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`). Claude names written with dots
//! (`claude-sonnet-4.5`) are retried with dashes. Unknown models have no price: [`cost`] is `None`.
//!
//! **Cost** ([`ModelInfo::cost`]) reads the token classes from a [`Usage`] through
//! [`TokenBreakdown`] (see there for the accepted fields and which counts include which):
//! uncached input × input price, plus cache reads × cached price, plus cache writes ×
//! cache-write price, plus output (reasoning included) × output price. A missing cached or cache-write price falls back
//! to the input price; Anthropic's 1-hour cache writes cost twice the input price. When the prompt
//! (cached tokens included) exceeds an entry's `long_context.threshold`, that tier's prices apply
//! to the whole call. Batch, flex and priority tiers are not modelled.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::{Map, Value};

use crate::types::Usage;
use crate::usage::TokenBreakdown;

static BUILTIN: &str = include_str!("pricing/models.json");

/// An LLM provider the table and the sanitiser know about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// OpenAI (and Azure OpenAI).
    OpenAi,
    /// Anthropic.
    Anthropic,
    /// Google Gemini.
    Gemini,
    /// Mistral AI.
    Mistral,
    /// Groq.
    Groq,
    /// DeepSeek.
    DeepSeek,
    /// xAI.
    XAi,
}

impl Provider {
    /// The canonical lowercase name (`openai`, `anthropic`, `gemini`, `mistral`, `groq`,
    /// `deepseek`, `xai`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Mistral => "mistral",
            Self::Groq => "groq",
            Self::DeepSeek => "deepseek",
            Self::XAi => "xai",
        }
    }

    /// Parses a provider name or common alias (`azure`, `google`, `vertex_ai`, `mistralai`,
    /// `x-ai`, ...), case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "openai" | "azure" | "azure_openai" | "azure-openai" => Self::OpenAi,
            "anthropic" | "claude" => Self::Anthropic,
            "gemini" | "google" | "vertex_ai" | "vertex" | "google-ai" => Self::Gemini,
            "mistral" | "mistralai" | "mistral-ai" => Self::Mistral,
            "groq" => Self::Groq,
            "deepseek" | "deepseek-ai" => Self::DeepSeek,
            "xai" | "x-ai" | "grok" => Self::XAi,
            _ => return None,
        })
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider of `model`: a `provider/` prefix naming a known provider, else the table entry's
/// provider, else a guess from the name (`gpt-`/`o1`… OpenAI, `claude` Anthropic, `gemini`
/// Gemini, `mistral`/`codestral`/… Mistral, `deepseek` DeepSeek, `grok` xAI).
pub fn provider_of(model: &str) -> Option<Provider> {
    let mut segments = model.split('/');
    let last = segments.next_back().unwrap_or(model);
    if let Some(p) = segments.find_map(Provider::from_name) {
        return Some(p);
    }
    if let Some(p) = lookup(model).and_then(|info| info.provider.as_deref().and_then(Provider::from_name)) {
        return Some(p);
    }
    let name = last.to_ascii_lowercase();
    let starts = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
    if starts(&["gpt-", "chatgpt-", "text-embedding-", "davinci", "babbage", "codex-"])
        || ["o1", "o3", "o4"]
            .iter()
            .any(|p| name.strip_prefix(p).is_some_and(|r| r.is_empty() || r.starts_with('-')))
    {
        Some(Provider::OpenAi)
    } else if starts(&["claude"]) {
        Some(Provider::Anthropic)
    } else if starts(&["gemini", "gemma"]) {
        Some(Provider::Gemini)
    } else if starts(&[
        "mistral",
        "open-mistral",
        "codestral",
        "ministral",
        "magistral",
        "pixtral",
        "devstral",
    ]) {
        Some(Provider::Mistral)
    } else if starts(&["deepseek"]) {
        Some(Provider::DeepSeek)
    } else if starts(&["grok"]) {
        Some(Provider::XAi)
    } else {
        None
    }
}

/// Prices that apply above a prompt-size threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct LongContextPricing {
    /// Prompt tokens (cached included) above which these prices apply.
    pub threshold: u64,
    /// USD per million uncached input tokens.
    pub input_cost_per_million: f64,
    /// USD per million cache-read tokens.
    pub cached_input_cost_per_million: Option<f64>,
    /// USD per million cache-write tokens.
    pub cache_write_cost_per_million: Option<f64>,
    /// USD per million output tokens.
    pub output_cost_per_million: f64,
}

/// One model's prices and limits.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The table key (lowercase).
    pub name: String,
    /// Provider name (`openai`, `anthropic`, ...), when known.
    pub provider: Option<String>,
    /// USD per million uncached input tokens.
    pub input_cost_per_million: f64,
    /// USD per million output tokens (reasoning included).
    pub output_cost_per_million: f64,
    /// USD per million cache-read input tokens; `None` bills them as input.
    pub cached_input_cost_per_million: Option<f64>,
    /// USD per million cache-write input tokens; `None` bills them as input.
    pub cache_write_cost_per_million: Option<f64>,
    /// Context window in tokens (prompt plus output).
    pub context_window: Option<u64>,
    /// Maximum output tokens per call.
    pub max_output_tokens: Option<u64>,
    /// Maximum prompt tokens, when lower than the context window allows.
    pub max_input_tokens: Option<u64>,
    /// Prices for long prompts.
    pub long_context: Option<LongContextPricing>,
}

impl ModelInfo {
    /// An entry with input and output prices and nothing else.
    pub fn new(name: &str, input_cost_per_million: f64, output_cost_per_million: f64) -> Self {
        Self {
            name: name.to_ascii_lowercase(),
            provider: None,
            input_cost_per_million,
            output_cost_per_million,
            cached_input_cost_per_million: None,
            cache_write_cost_per_million: None,
            context_window: None,
            max_output_tokens: None,
            max_input_tokens: None,
            long_context: None,
        }
    }

    /// Cost in USD of a call with this usage (0 for usage no call could have).
    pub fn cost(&self, usage: &Usage) -> f64 {
        TokenBreakdown::from_usage(usage).map_or(0.0, |t| self.cost_of(&t))
    }

    /// Cost in USD of these token counts.
    #[allow(clippy::cast_precision_loss)]
    pub fn cost_of(&self, t: &TokenBreakdown) -> f64 {
        let (input, cached, write, output) = match &self.long_context {
            Some(lc) if t.prompt > lc.threshold => (
                lc.input_cost_per_million,
                lc.cached_input_cost_per_million.or(self.cached_input_cost_per_million),
                lc.cache_write_cost_per_million.or(self.cache_write_cost_per_million),
                lc.output_cost_per_million,
            ),
            _ => (
                self.input_cost_per_million,
                self.cached_input_cost_per_million,
                self.cache_write_cost_per_million,
                self.output_cost_per_million,
            ),
        };
        let write_1h = if self.provider.as_deref() == Some("anthropic") {
            2.0 * input
        } else {
            write.unwrap_or(input)
        };
        (t.input as f64 * input
            + t.cached as f64 * cached.unwrap_or(input)
            + t.cache_write as f64 * write.unwrap_or(input)
            + t.cache_write_1h as f64 * write_1h
            + t.completion as f64 * output)
            / 1_000_000.0
    }

    /// The entry as a JSON object (the Python `model_info()` dict).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.clone()));
        m.insert(
            "provider".into(),
            self.provider.clone().map_or(Value::Null, Value::from),
        );
        m.insert(
            "input_cost_per_million".into(),
            Value::from(self.input_cost_per_million),
        );
        m.insert(
            "output_cost_per_million".into(),
            Value::from(self.output_cost_per_million),
        );
        m.insert(
            "cached_input_cost_per_million".into(),
            opt_f64(self.cached_input_cost_per_million),
        );
        m.insert(
            "cache_write_cost_per_million".into(),
            opt_f64(self.cache_write_cost_per_million),
        );
        m.insert(
            "context_window".into(),
            self.context_window.map_or(Value::Null, Value::from),
        );
        m.insert(
            "max_output_tokens".into(),
            self.max_output_tokens.map_or(Value::Null, Value::from),
        );
        m.insert(
            "max_input_tokens".into(),
            self.max_input_tokens.map_or(Value::Null, Value::from),
        );
        let long = self.long_context.as_ref().map_or(Value::Null, |lc| {
            let mut l = Map::new();
            l.insert("threshold".into(), Value::from(lc.threshold));
            l.insert("input_cost_per_million".into(), Value::from(lc.input_cost_per_million));
            l.insert(
                "cached_input_cost_per_million".into(),
                opt_f64(lc.cached_input_cost_per_million),
            );
            l.insert(
                "cache_write_cost_per_million".into(),
                opt_f64(lc.cache_write_cost_per_million),
            );
            l.insert(
                "output_cost_per_million".into(),
                Value::from(lc.output_cost_per_million),
            );
            Value::Object(l)
        });
        m.insert("long_context".into(), long);
        Value::Object(m)
    }

    /// Prompt tokens that fit: the context window less `reserved_output`, capped by
    /// `max_input_tokens`. `None` when the context window is unknown.
    pub fn prompt_budget(&self, reserved_output: u64) -> Option<u64> {
        let window = self.context_window?.saturating_sub(reserved_output);
        Some(self.max_input_tokens.map_or(window, |cap| window.min(cap)))
    }
}

fn opt_f64(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn parse_entry(name: &str, v: &Value) -> Option<ModelInfo> {
    let f = |o: &Value, k: &str| o.get(k).and_then(Value::as_f64);
    let u = |k: &str| v.get(k).and_then(Value::as_u64);
    let long_context = v.get("long_context").and_then(|lc| {
        Some(LongContextPricing {
            threshold: lc.get("threshold")?.as_u64()?,
            input_cost_per_million: f(lc, "input")?,
            cached_input_cost_per_million: f(lc, "cached_input"),
            cache_write_cost_per_million: f(lc, "cache_write"),
            output_cost_per_million: f(lc, "output")?,
        })
    });
    Some(ModelInfo {
        name: name.to_ascii_lowercase(),
        provider: v.get("provider").and_then(Value::as_str).map(str::to_owned),
        input_cost_per_million: f(v, "input")?,
        output_cost_per_million: f(v, "output")?,
        cached_input_cost_per_million: f(v, "cached_input"),
        cache_write_cost_per_million: f(v, "cache_write"),
        context_window: u("context_window"),
        max_output_tokens: u("max_output_tokens"),
        max_input_tokens: u("max_input_tokens"),
        long_context,
    })
}

type Table = HashMap<String, Arc<ModelInfo>>;

fn builtin() -> Table {
    let parsed: Value = serde_json::from_str(BUILTIN).unwrap_or(Value::Null);
    let mut table = HashMap::new();
    if let Value::Object(entries) = parsed {
        for (name, v) in &entries {
            if name.starts_with('_') {
                continue;
            }
            match parse_entry(name, v) {
                Some(info) => {
                    table.insert(info.name.clone(), Arc::new(info));
                }
                None => log::error!(target: "liter_llm", "pricing table entry {name:?} is malformed; skipped"),
            }
        }
    }
    table
}

fn registry() -> &'static RwLock<Table> {
    static TABLE: OnceLock<RwLock<Table>> = OnceLock::new();
    TABLE.get_or_init(|| RwLock::new(builtin()))
}

const BOUNDARIES: [char; 5] = ['-', '.', ':', '@', '_'];

fn find(table: &Table, name: &str) -> Option<Arc<ModelInfo>> {
    if let Some(info) = table.get(name) {
        return Some(info.clone());
    }
    let mut end = name.len();
    while let Some(cut) = name[..end].rfind(BOUNDARIES) {
        if let Some(info) = table.get(&name[..cut]) {
            return Some(info.clone());
        }
        end = cut;
    }
    None
}

/// The table entry for `model` (see the module docs for how names resolve).
pub fn lookup(model: &str) -> Option<Arc<ModelInfo>> {
    let mut lower = model.trim().to_ascii_lowercase();
    let last = lower.rfind('/').map_or(0, |i| i + 1);
    if lower[last..].starts_with("claude") {
        // Anthropic's ids use dashes (claude-sonnet-4-5); some gateways write versions with dots.
        let fixed = lower[last..].replace('.', "-");
        lower.replace_range(last.., &fixed);
    }
    let table = registry().read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut candidate = lower.as_str();
    loop {
        if let Some(info) = find(&table, candidate) {
            return Some(info);
        }
        match candidate.split_once('/') {
            Some((_, rest)) if !rest.is_empty() => candidate = rest,
            _ => return None,
        }
    }
}

/// Adds `info` to the table, replacing any entry of the same name (process-wide).
pub fn register(info: ModelInfo) {
    let mut info = info;
    info.name = info.name.trim().to_ascii_lowercase();
    let mut table = registry().write().unwrap_or_else(std::sync::PoisonError::into_inner);
    table.insert(info.name.clone(), Arc::new(info));
}

/// Names of every entry in the table, sorted.
pub fn model_names() -> Vec<String> {
    let table = registry().read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut names: Vec<String> = table.keys().cloned().collect();
    names.sort();
    names
}

/// Cost in USD of a call to `model` with `usage`; `None` when the model has no price.
pub fn cost(model: &str, usage: &Usage) -> Option<f64> {
    lookup(model).map(|info| info.cost(usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage(v: Value) -> Usage {
        serde_json::from_value(v).unwrap()
    }

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
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
    fn providers() {
        assert_eq!(provider_of("gpt-4o"), Some(Provider::OpenAi));
        assert_eq!(provider_of("o4-mini"), Some(Provider::OpenAi));
        assert_eq!(provider_of("claude-haiku-4-5"), Some(Provider::Anthropic));
        assert_eq!(provider_of("openrouter/anthropic/claude-x"), Some(Provider::Anthropic));
        assert_eq!(provider_of("llama-3.1-8b-instant"), Some(Provider::Groq));
        assert_eq!(provider_of("groq/openai/gpt-oss-20b"), Some(Provider::Groq));
        assert_eq!(provider_of("gemini-9-ultra"), Some(Provider::Gemini));
        assert_eq!(provider_of("codestral-2508"), Some(Provider::Mistral));
        assert_eq!(provider_of("grok-5"), Some(Provider::XAi));
        assert_eq!(provider_of("my-model"), None);
    }

    #[test]
    fn openai_cached_tokens_are_part_of_the_prompt() {
        // 1,000 prompt tokens of which 400 cached; 200 completion tokens (50 reasoning).
        let u = usage(
            json!({"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
            "prompt_tokens_details": {"cached_tokens": 400},
            "completion_tokens_details": {"reasoning_tokens": 50}}),
        );
        let expected = (600.0 * 0.15 + 400.0 * 0.075 + 200.0 * 0.6) / 1e6;
        close(cost("gpt-4o-mini-2024-07-18", &u).unwrap(), expected);
        close(
            cost("gpt-5", &u).unwrap(),
            (600.0 * 1.25 + 400.0 * 0.125 + 200.0 * 10.0) / 1e6,
        );
        // No cached price: cached tokens bill as input.
        close(cost("gpt-4", &u).unwrap(), (1000.0 * 30.0 + 200.0 * 60.0) / 1e6);
    }

    #[test]
    fn anthropic_cache_tokens_are_separate() {
        let u = usage(
            json!({"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150,
            "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 1000}),
        );
        let expected = (100.0 * 3.0 + 2000.0 * 0.3 + 1000.0 * 3.75 + 50.0 * 15.0) / 1e6;
        close(cost("claude-sonnet-4-5", &u).unwrap(), expected);
        // Native field names, and the same fields inside prompt_tokens_details.
        let native = usage(json!({"input_tokens": 100, "output_tokens": 50,
            "cache_read_input_tokens": 2000, "cache_creation_input_tokens": 1000}));
        close(cost("claude-sonnet-4-5", &native).unwrap(), expected);
        let nested = usage(json!({"prompt_tokens": 100, "completion_tokens": 50,
            "prompt_tokens_details": {"cache_read_input_tokens": 2000, "cache_creation_input_tokens": 1000}}));
        close(cost("claude-sonnet-4-5", &nested).unwrap(), expected);
        // One-hour cache writes cost twice the input price.
        let hour = usage(
            json!({"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 1000,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 1000}}),
        );
        close(cost("claude-haiku-4-5", &hour).unwrap(), 1000.0 * 2.0 / 1e6);
    }

    #[test]
    fn deepseek_and_xai_usage() {
        let ds = usage(
            json!({"prompt_tokens": 1000, "completion_tokens": 100, "total_tokens": 1100,
            "prompt_cache_hit_tokens": 800, "prompt_cache_miss_tokens": 200}),
        );
        close(
            cost("deepseek-chat", &ds).unwrap(),
            (200.0 * 0.28 + 800.0 * 0.028 + 100.0 * 0.42) / 1e6,
        );
        // xAI reports reasoning tokens outside completion_tokens (total includes them).
        let x = usage(
            json!({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 410,
            "completion_tokens_details": {"reasoning_tokens": 300}}),
        );
        close(cost("grok-3-mini", &x).unwrap(), (100.0 * 0.3 + 310.0 * 0.5) / 1e6);
    }

    #[test]
    fn long_context_tier() {
        let small = usage(json!({"prompt_tokens": 200_000, "completion_tokens": 1000}));
        let big = usage(json!({"prompt_tokens": 200_001, "completion_tokens": 1000}));
        close(
            cost("gemini-2.5-pro", &small).unwrap(),
            (200_000.0 * 1.25 + 1000.0 * 10.0) / 1e6,
        );
        close(
            cost("gemini-2.5-pro", &big).unwrap(),
            (200_001.0 * 2.5 + 1000.0 * 15.0) / 1e6,
        );
    }

    #[test]
    fn register_overrides_and_adds() {
        let mut info = ModelInfo::new("Test-Model-XYZ", 1.0, 2.0);
        info.context_window = Some(1000);
        register(info);
        let u = usage(json!({"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}));
        close(cost("test-model-xyz-2025", &u).unwrap(), 3.0);
        assert_eq!(lookup("provider/test-model-xyz").unwrap().context_window, Some(1000));
        assert!(model_names().contains(&"test-model-xyz".to_owned()));
        assert_eq!(cost("unknown-model-abc", &u), None);
        let json = lookup("gpt-4o").unwrap().to_json();
        assert_eq!(json["cached_input_cost_per_million"], 1.25);
        assert_eq!(lookup("gpt-5").unwrap().prompt_budget(1000), Some(272_000));
        assert_eq!(lookup("gpt-4o").unwrap().prompt_budget(1000), Some(127_000));
    }
}
