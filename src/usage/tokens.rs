//! Token classes of one call: [`TokenBreakdown`] reads prompt, cached, cache-write, completion
//! and reasoning tokens out of a provider's usage object (chat or Responses API), and
//! [`plausible_tokens`] rejects counts no single call could spend (past [`MAX_CALL_TOKENS`]), so
//! a server's absurd usage counts as unknown instead of overflowing a counter.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{Map, Value};

use crate::types::{ResponseUsage, Usage};

/// The most tokens one call may plausibly report: over three times the largest context window
/// offered today. A larger count from a server is treated as unknown (see [`plausible_tokens`]).
pub const MAX_CALL_TOKENS: u64 = 1 << 25;

/// `tokens` when a single call could have spent them, else `None` (logged once per process): a
/// server's absurd usage must never become a huge rate-limit debt or overflow a counter.
pub fn plausible_tokens(tokens: u64) -> Option<u64> {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if tokens <= MAX_CALL_TOKENS {
        return Some(tokens);
    }
    if !WARNED.swap(true, Relaxed) {
        log::warn!(
            target: "liter_llm",
            "ignoring a response's usage of {tokens} tokens (more than one call can spend); it counts as unknown"
        );
    }
    None
}

/// The token classes of one call's usage, normalised across providers.
///
/// Accepted fields (top level of the usage object, i.e. `Usage.extra`, or inside
/// `prompt_tokens_details` / `completion_tokens_details`):
/// - `prompt_tokens` (or Anthropic's `input_tokens`), `completion_tokens` (or `output_tokens`).
/// - OpenAI, Gemini, xAI, Groq, Mistral: `prompt_tokens_details.cached_tokens` — **included** in
///   `prompt_tokens`. DeepSeek: `prompt_cache_hit_tokens` — included likewise.
/// - Anthropic: `cache_read_input_tokens`, `cache_creation_input_tokens` (top level or in
///   `prompt_tokens_details`), and `cache_creation.ephemeral_1h_input_tokens` — **not** included
///   in the input tokens, billed in addition. When an OpenAI-style `cached_tokens` is also present
///   (gateways that normalise Anthropic usage) the counts are taken as included; if the cache
///   counts exceed the prompt they are taken as separate whatever the shape.
/// - `completion_tokens_details.reasoning_tokens` — part of `completion_tokens` (OpenAI,
///   DeepSeek), except when `total_tokens` equals prompt + completion + reasoning (xAI), where
///   they are added to the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenBreakdown {
    /// All prompt tokens: uncached input plus cache reads and writes.
    pub prompt: u64,
    /// Uncached input tokens (billed at the input price).
    pub input: u64,
    /// Cache-read tokens.
    pub cached: u64,
    /// Cache-write tokens at the default (5-minute) duration.
    pub cache_write: u64,
    /// Cache-write tokens at the 1-hour duration (Anthropic).
    pub cache_write_1h: u64,
    /// All output tokens, reasoning included.
    pub completion: u64,
    /// Reasoning tokens (a part of `completion`).
    pub reasoning: u64,
}

impl TokenBreakdown {
    /// Reads the breakdown out of a usage object (see the type docs for the fields accepted);
    /// `None` when a count is past [`MAX_CALL_TOKENS`], since such usage cannot be true.
    pub fn from_usage(u: &Usage) -> Option<Self> {
        Self::read_usage(u).filter(|t| t.is_plausible())
    }

    /// Whether every count is one a single call could spend.
    fn is_plausible(&self) -> bool {
        [
            self.prompt,
            self.completion,
            self.reasoning,
            self.cached,
            self.cache_write,
            self.cache_write_1h,
        ]
        .into_iter()
        .all(|n| plausible_tokens(n).is_some())
    }

    /// The breakdown as reported, `None` when its counts overflow when combined.
    fn read_usage(u: &Usage) -> Option<Self> {
        let extra = Some(&u.extra).map(|m| m as &Map<String, Value>);
        let top = |k: &str| extra.and_then(|m| m.get(k)).and_then(Value::as_u64);
        let details = u.prompt_tokens_details.as_ref();
        let prompt = if u.prompt_tokens > 0 {
            u.prompt_tokens
        } else {
            top("input_tokens").unwrap_or(0)
        };
        let completion = if u.completion_tokens > 0 {
            u.completion_tokens
        } else {
            top("output_tokens").unwrap_or(0)
        };
        let detail = |k: &str| details.and_then(|d| d.extra.get(k)).and_then(Value::as_u64);
        let openai_cached = details
            .and_then(|d| d.cached_tokens)
            .or_else(|| top("prompt_cache_hit_tokens"));
        let read = top("cache_read_input_tokens").or_else(|| detail("cache_read_input_tokens"));
        let write_total = top("cache_creation_input_tokens")
            .or_else(|| detail("cache_creation_input_tokens"))
            .unwrap_or(0);
        let write_1h = extra
            .and_then(|m| m.get("cache_creation"))
            .and_then(|c| c.get("ephemeral_1h_input_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .min(write_total);
        let cached = openai_cached.or(read).unwrap_or(0);
        let included = openai_cached.is_some() && cached.saturating_add(write_total) <= prompt;
        let (input, prompt_total) = if included {
            (prompt - cached - write_total, prompt)
        } else {
            (prompt, prompt.checked_add(cached)?.checked_add(write_total)?)
        };
        let reasoning = u
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens)
            .unwrap_or(0);
        let separate_reasoning = reasoning > 0
            && u.total_tokens > 0
            && Some(u.total_tokens)
                == u.prompt_tokens
                    .checked_add(u.completion_tokens)
                    .and_then(|n| n.checked_add(reasoning));
        Some(Self {
            prompt: prompt_total,
            input,
            cached,
            cache_write: write_total - write_1h,
            cache_write_1h: write_1h,
            completion: if separate_reasoning {
                completion.checked_add(reasoning)?
            } else {
                completion
            },
            reasoning,
        })
    }

    /// Reads the breakdown out of a Responses API usage object (cached input is a part of
    /// `input_tokens`, reasoning a part of `output_tokens`); `None` past [`MAX_CALL_TOKENS`].
    pub fn from_response_usage(u: &ResponseUsage) -> Option<Self> {
        let cached = u.input_tokens_details.cached_tokens.min(u.input_tokens);
        Some(Self {
            prompt: u.input_tokens,
            input: u.input_tokens - cached,
            cached,
            completion: u.output_tokens,
            reasoning: u.output_tokens_details.reasoning_tokens.min(u.output_tokens),
            ..Self::default()
        })
        .filter(Self::is_plausible)
    }

    /// Prompt plus completion tokens (saturating).
    pub fn total(&self) -> u64 {
        self.prompt.saturating_add(self.completion)
    }
}
