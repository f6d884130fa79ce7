//! The price and limits table: the embedded `models.json` plus entries added at run time.
//!
//! The built-in table covers current OpenAI, Anthropic, Gemini, Mistral, Groq, DeepSeek and xAI
//! models: USD per million input, cached-input (cache read), cache-write and output tokens, an
//! optional higher tier for long prompts, context window, maximum output and (gpt-5) maximum
//! input. [`register`] adds or replaces entries at run time (process-wide).
//!
//! **Lookup** ([`lookup`]) is case-insensitive. It tries the full name, then the name with each
//! leading `provider/` segment removed (`openrouter/anthropic/claude-…` → `anthropic/claude-…` →
//! `claude-…`). For each candidate an exact key wins, else the longest key that is a prefix of it
//! ending at a `-`, `.`, `:`, `@` or `_` boundary (`gpt-4o-mini-2024-07-18` → `gpt-4o-mini`,
//! `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`). Claude names written with dots
//! (`claude-sonnet-4.5`) are retried with dashes. An `ft:` fine-tune is not priced as its base
//! model (fine-tunes cost more). Unknown models have no entry.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use serde_json::Value;

use super::family::{family_of, Family};
use super::name::BOUNDARIES;
use crate::pricing::{LongContextPricing, ModelInfo};

pub(super) static BUILTIN: &str = include_str!("models.json");

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
        batch_price_factor: f(v, "batch"),
    })
}

type Table = HashMap<String, Arc<ModelInfo>>;

pub(super) fn builtin() -> Table {
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

type Memo = HashMap<Box<str>, Option<Arc<ModelInfo>>>;

/// The answers [`lookup`] gave, by the name it was asked (cleared by [`register`]): the proxy
/// and the client price the same few models on every call.
fn memo() -> &'static RwLock<Memo> {
    static MEMO: OnceLock<RwLock<Memo>> = OnceLock::new();
    MEMO.get_or_init(RwLock::default)
}

/// The most names remembered; past it answers are worked out each time (callers name models).
const MAX_MEMO: usize = 4096;

/// The table entry for `model` (see the module docs for how names resolve).
pub fn lookup(model: &str) -> Option<Arc<ModelInfo>> {
    if let Some(known) = memo()
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(model)
    {
        return known.clone();
    }
    let table = registry().read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let found = resolve(&table, model);
    let mut memo = memo().write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if memo.len() < MAX_MEMO {
        memo.insert(model.into(), found.clone());
    }
    found
}

/// [`lookup`] in `table`.
fn resolve(table: &Table, model: &str) -> Option<Arc<ModelInfo>> {
    let mut lower = model.trim().to_ascii_lowercase();
    let last = lower.rfind('/').map_or(0, |i| i + 1);
    if family_of(&lower[last..]) == Some(Family::Claude) {
        // Anthropic's ids use dashes (claude-sonnet-4-5); some gateways write versions with dots.
        let fixed = lower[last..].replace('.', "-");
        lower.replace_range(last.., &fixed);
    }
    let mut candidate = lower.as_str();
    loop {
        if let Some(info) = find(table, candidate) {
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
    // Under the table's lock: a lookup resolving against the old table cannot land after this.
    memo()
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clear();
}

/// Names of every entry in the table, sorted.
pub fn model_names() -> Vec<String> {
    let table = registry().read().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut names: Vec<String> = table.keys().cloned().collect();
    names.sort();
    names
}
