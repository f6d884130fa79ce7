//! Model prices and limits ([`ModelInfo`]), and the cost of a call.
//!
//! The table of entries and how a model string finds its entry live in [`crate::catalog`]
//! ([`lookup`] is the catalog's, re-exported for callers that price calls).
//!
//! **Cost** ([`ModelInfo::cost`]) reads the token classes from a [`Usage`] through
//! [`TokenBreakdown`] (see there for the accepted fields and which counts include which):
//! uncached input × input price, plus cache reads × cached price, plus cache writes ×
//! cache-write price, plus output (reasoning included) × output price. A missing cached or cache-write price falls back
//! to the input price; Anthropic's 1-hour cache writes cost twice the input price. When the prompt
//! (cached tokens included) exceeds an entry's `long_context.threshold`, that tier's prices apply
//! to the whole call. Provider batch jobs are billed at [`ModelInfo::batch_factor`] of these
//! prices; flex and priority tiers are not modelled. Unknown models have no price: [`cost`] is
//! `None`.

use serde_json::{Map, Value};

pub use crate::catalog::lookup;
use crate::types::Usage;
use crate::usage::TokenBreakdown;

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
    /// Provider batch-job prices as a fraction of these (`None`: the provider's usual discount,
    /// see [`ModelInfo::batch_factor`]).
    pub batch_price_factor: Option<f64>,
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
            batch_price_factor: None,
        }
    }

    /// What a provider batch job pays of the standard prices: the entry's own factor, else half
    /// for OpenAI and Anthropic models (both bill batches at 50%), else the full price.
    pub fn batch_factor(&self) -> f64 {
        self.batch_price_factor.unwrap_or(match self.provider.as_deref() {
            Some("openai" | "anthropic") => 0.5,
            _ => 1.0,
        })
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
        m.insert("batch_price_factor".into(), Value::from(self.batch_factor()));
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

/// The entry that prices a call: `price_model`'s (the model the answer names, e.g. a dated
/// snapshot) when the table has it, else `label`'s (the model asked for).
fn entry_for(label: &str, price_model: Option<&str>) -> Option<std::sync::Arc<ModelInfo>> {
    price_model
        .filter(|m| !m.is_empty())
        .and_then(lookup)
        .or_else(|| lookup(label))
}

/// Cost in USD of `tokens` spent by one call (see [`entry_for`]); `None` when neither model
/// has a price.
pub fn price(label: &str, price_model: Option<&str>, tokens: &TokenBreakdown) -> Option<f64> {
    entry_for(label, price_model).map(|info| info.cost_of(tokens))
}

/// Cost in USD of `tokens` spent by one request of a provider batch job: [`price`] at the
/// entry's batch factor.
pub fn batch_price(label: &str, price_model: Option<&str>, tokens: &TokenBreakdown) -> Option<f64> {
    entry_for(label, price_model).map(|info| info.cost_of(tokens) * info.batch_factor())
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
        use crate::catalog::{model_names, register};
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

    #[test]
    fn a_name_looked_up_before_register_gets_the_new_entry() {
        use crate::catalog::register;
        let u = usage(json!({"prompt_tokens": 1_000_000, "completion_tokens": 0}));
        assert_eq!(cost("acme/remembered-model-q", &u), None);
        register(ModelInfo::new("remembered-model-q", 4.0, 8.0));
        close(cost("acme/remembered-model-q", &u).unwrap(), 4.0);
        register(ModelInfo::new("remembered-model-q", 5.0, 8.0));
        close(cost("acme/remembered-model-q", &u).unwrap(), 5.0);
    }
}
