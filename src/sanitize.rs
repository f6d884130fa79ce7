//! Request sanitising: make a Chat Completions body acceptable to the target model.
//!
//! [`sanitize`] edits the body in place and returns what it changed, for one INFO log line
//! ([`describe`]). It does three things:
//!
//! 1. **Parameters the model rejects are dropped or renamed** (only when present). Which model
//!    is which (reasoning API, system role, one sampler, provider) is the catalog's call
//!    ([`crate::catalog::capabilities_of`], [`crate::catalog::provider_of`]):
//!    - OpenAI reasoning models (o1, o3, o4 families, gpt-5 family except `gpt-5-chat`):
//!      `temperature`, `top_p`, `presence_penalty`, `frequency_penalty`, `logprobs`,
//!      `top_logprobs`, `logit_bias` dropped; `max_tokens` renamed to `max_completion_tokens`
//!      (dropped if that is already set). `o1-mini`/`o1-preview` also get their `system` and
//!      `developer` messages sent as `user` (they have no system role).
//!    - Claude 4.1 and 4.5 models: `top_p` dropped when `temperature` is also set (they accept
//!      only one of the two).
//!    - Mistral: `seed` renamed to `random_seed`, `max_completion_tokens` to `max_tokens`;
//!      `logit_bias`, `logprobs`, `top_logprobs`, `user`, `store`, `metadata`, `service_tier`
//!      dropped (Mistral rejects unknown fields).
//!    - Groq: `logprobs`, `top_logprobs`, `logit_bias` dropped, `n` dropped unless 1, and the
//!      `name` field of messages removed.
//!    - DeepSeek `deepseek-reasoner`: `temperature`, `top_p`, `presence_penalty`,
//!      `frequency_penalty`, `logprobs`, `top_logprobs` dropped.
//!    - xAI reasoning models (`grok-3-mini`, `grok-4*` except `*-non-reasoning`,
//!      `grok-code-*`): `presence_penalty`, `frequency_penalty`, `stop` dropped, and
//!      `reasoning_effort` too on grok-4 and grok-code.
//! 2. **The conversation is truncated to fit**: the budget is the model's context window (from
//!    the pricing table) less `max_completion_tokens` or `max_tokens` (0 when neither is set),
//!    capped by the model's maximum input. Prompt tokens are counted with
//!    [`crate::tokens::Counter`] (messages, multimodal parts, tool calls and tool definitions).
//!    While over budget, the oldest non-system *turn* is removed: a turn is one message, except
//!    that an assistant message and the `tool`/`function` results that follow it go together, so
//!    a tool call is never separated from its result. `system`/`developer` messages and the most
//!    recent turn are always kept. For Anthropic, which requires a user turn first, an assistant
//!    turn left at the start goes too. Models not in the table are not truncated.
//! 3. Nothing else: unknown parameters pass through untouched.

use std::fmt;

use serde_json::{Map, Value};

use crate::catalog::{capabilities_of, family_of, lookup, provider_of, Family, ProviderId, Reasoning};
use crate::tokens::{Counter, REPLY_PRIMING_TOKENS};

/// One change made by [`sanitize`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A parameter was removed.
    Dropped {
        /// Parameter name (`messages[].name` for a message field).
        param: String,
    },
    /// A parameter was renamed.
    Renamed {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// Messages were sent under another role.
    RoleChanged {
        /// Old role.
        from: String,
        /// New role.
        to: String,
        /// How many messages.
        count: usize,
    },
    /// Old messages were removed to fit the context window.
    Truncated {
        /// Messages removed.
        removed_messages: usize,
        /// Prompt tokens before.
        tokens_before: u64,
        /// Prompt tokens after.
        tokens_after: u64,
        /// Prompt tokens allowed.
        budget: u64,
    },
    /// The prompt is still over budget after truncation (system messages and the last turn are
    /// never removed); the provider will likely reject it.
    StillTooLong {
        /// Prompt tokens.
        tokens: u64,
        /// Prompt tokens allowed.
        budget: u64,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dropped { param } => write!(f, "dropped {param}"),
            Self::Renamed { from, to } => write!(f, "renamed {from} to {to}"),
            Self::RoleChanged { from, to, count } => write!(f, "sent {count} {from} message(s) as {to}"),
            Self::Truncated {
                removed_messages,
                tokens_before,
                tokens_after,
                budget,
            } => write!(
                f,
                "removed the {removed_messages} oldest message(s) to fit the context window \
                 ({tokens_before} -> {tokens_after} prompt tokens, budget {budget})"
            ),
            Self::StillTooLong { tokens, budget } => {
                write!(f, "prompt still has {tokens} tokens, over the budget of {budget}")
            }
        }
    }
}

/// One log line for a non-empty list of changes: `sanitised request for MODEL: a; b; c`.
pub fn describe(model: &str, changes: &[Change]) -> String {
    let parts: Vec<String> = changes.iter().map(ToString::to_string).collect();
    format!("sanitised request for {model}: {}", parts.join("; "))
}

/// Sanitises `body` for `model`, detecting the provider from the model string (see
/// [`provider_of`]). Returns the changes made, empty when none.
pub fn sanitize(model: &str, body: &mut Map<String, Value>) -> Vec<Change> {
    sanitize_for(provider_of(model), model, body)
}

/// Like [`sanitize`] with the provider given (e.g. known from the client's base URL).
pub fn sanitize_for(provider: Option<ProviderId>, model: &str, body: &mut Map<String, Value>) -> Vec<Change> {
    let mut changes = Vec::new();
    fix_params(provider, model, body, &mut changes);
    truncate(provider, model, body, &mut changes);
    changes
}

fn drop_params(body: &mut Map<String, Value>, params: &[&str], changes: &mut Vec<Change>) {
    for p in params {
        if body.remove(*p).is_some() {
            changes.push(Change::Dropped { param: (*p).to_owned() });
        }
    }
}

fn rename(body: &mut Map<String, Value>, from: &str, to: &str, changes: &mut Vec<Change>) {
    let Some(value) = body.remove(from) else { return };
    if body.contains_key(to) {
        changes.push(Change::Dropped { param: from.to_owned() });
    } else {
        body.insert(to.to_owned(), value);
        changes.push(Change::Renamed {
            from: from.to_owned(),
            to: to.to_owned(),
        });
    }
}

fn fix_params(provider: Option<ProviderId>, model: &str, body: &mut Map<String, Value>, changes: &mut Vec<Change>) {
    let caps = capabilities_of(model);
    match caps.reasoning {
        Some(Reasoning::OpenAi) => {
            drop_params(
                body,
                &[
                    "temperature",
                    "top_p",
                    "presence_penalty",
                    "frequency_penalty",
                    "logprobs",
                    "top_logprobs",
                    "logit_bias",
                ],
                changes,
            );
            rename(body, "max_tokens", "max_completion_tokens", changes);
            if !caps.system_role {
                for role in ["system", "developer"] {
                    change_role(body, role, "user", changes);
                }
            }
        }
        Some(Reasoning::DeepSeek) | Some(Reasoning::Grok { .. }) | None => {}
    }
    if caps.one_sampler && body.contains_key("temperature") {
        drop_params(body, &["top_p"], changes);
    }
    match provider {
        Some(ProviderId::Mistral) => {
            rename(body, "seed", "random_seed", changes);
            rename(body, "max_completion_tokens", "max_tokens", changes);
            drop_params(
                body,
                &[
                    "logit_bias",
                    "logprobs",
                    "top_logprobs",
                    "user",
                    "store",
                    "metadata",
                    "service_tier",
                ],
                changes,
            );
        }
        Some(ProviderId::Groq) => {
            drop_params(body, &["logprobs", "top_logprobs", "logit_bias"], changes);
            if body.get("n").is_some_and(|n| n.as_u64() != Some(1)) {
                drop_params(body, &["n"], changes);
            }
            let mut removed = false;
            if let Some(Value::Array(messages)) = body.get_mut("messages") {
                for m in messages.iter_mut().filter_map(Value::as_object_mut) {
                    removed |= m.remove("name").is_some();
                }
            }
            if removed {
                changes.push(Change::Dropped {
                    param: "messages[].name".to_owned(),
                });
            }
        }
        _ => {}
    }
    match caps.reasoning {
        Some(Reasoning::DeepSeek) => drop_params(
            body,
            &[
                "temperature",
                "top_p",
                "presence_penalty",
                "frequency_penalty",
                "logprobs",
                "top_logprobs",
            ],
            changes,
        ),
        Some(Reasoning::Grok { accepts_effort }) => {
            drop_params(body, &["presence_penalty", "frequency_penalty", "stop"], changes);
            if !accepts_effort {
                drop_params(body, &["reasoning_effort"], changes);
            }
        }
        Some(Reasoning::OpenAi) | None => {}
    }
}

fn change_role(body: &mut Map<String, Value>, from: &str, to: &str, changes: &mut Vec<Change>) {
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    let mut count = 0;
    for m in messages.iter_mut().filter_map(Value::as_object_mut) {
        if m.get("role").and_then(Value::as_str) == Some(from) {
            m.insert("role".into(), Value::from(to));
            count += 1;
        }
    }
    if count > 0 {
        changes.push(Change::RoleChanged {
            from: from.to_owned(),
            to: to.to_owned(),
            count,
        });
    }
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn is_system(m: &Value) -> bool {
    matches!(role(m), "system" | "developer")
}

/// Message indices of each non-system turn, oldest first.
fn turns(messages: &[Value]) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if is_system(m) {
            continue;
        }
        match (role(m), out.last_mut()) {
            ("tool" | "function", Some(turn)) => turn.push(i),
            _ => out.push(vec![i]),
        }
    }
    out
}

fn reserved_output(body: &Map<String, Value>) -> u64 {
    ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_u64))
        .unwrap_or(0)
}

fn truncate(provider: Option<ProviderId>, model: &str, body: &mut Map<String, Value>, changes: &mut Vec<Change>) {
    let Some(budget) = lookup(model).and_then(|info| info.prompt_budget(reserved_output(body))) else {
        return;
    };
    let counter = Counter::for_model(model);
    let fixed = REPLY_PRIMING_TOKENS
        + ["tools", "functions"]
            .iter()
            .filter_map(|k| body.get(*k))
            .map(|v| counter.text(&v.to_string()))
            .sum::<u64>();
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return;
    };
    let counts: Vec<u64> = messages.iter().map(|m| counter.message(m)).collect();
    let before = fixed + counts.iter().sum::<u64>();
    if before <= budget {
        return;
    }
    let turns = turns(messages);
    let mut keep = vec![true; messages.len()];
    let mut total = before;
    let mut first = 0;
    let drop_turn = |turn: &Vec<usize>, keep: &mut Vec<bool>, total: &mut u64| {
        for &i in turn {
            keep[i] = false;
            *total -= counts[i];
        }
    };
    while total > budget && first + 1 < turns.len() {
        drop_turn(&turns[first], &mut keep, &mut total);
        first += 1;
    }
    // Claude requires a user turn first, through Anthropic or a gateway (`openrouter/anthropic/…`).
    let user_first = provider == Some(ProviderId::Anthropic) || family_of(model) == Some(Family::Claude);
    if first > 0 && user_first {
        while first + 1 < turns.len() && role(&messages[turns[first][0]]) == "assistant" {
            drop_turn(&turns[first], &mut keep, &mut total);
            first += 1;
        }
    }
    let removed = keep.iter().filter(|k| !**k).count();
    if removed > 0 {
        let mut i = 0;
        messages.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        changes.push(Change::Truncated {
            removed_messages: removed,
            tokens_before: before,
            tokens_after: total,
            budget,
        });
    }
    if total > budget {
        changes.push(Change::StillTooLong { tokens: total, budget });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::register;
    use crate::pricing::ModelInfo;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn reasoning_models_lose_sampling_params() {
        let mut b = body(
            json!({"model": "o3-mini", "messages": [], "temperature": 0.2, "top_p": 0.9,
            "max_tokens": 100, "logprobs": true, "seed": 1}),
        );
        let changes = sanitize("o3-mini", &mut b);
        assert_eq!(b.get("max_completion_tokens"), Some(&json!(100)));
        for k in ["temperature", "top_p", "max_tokens", "logprobs"] {
            assert!(!b.contains_key(k), "{k}");
        }
        assert_eq!(b.get("seed"), Some(&json!(1)));
        assert!(changes.contains(&Change::Renamed {
            from: "max_tokens".into(),
            to: "max_completion_tokens".into()
        }));
        assert_eq!(changes.len(), 4);
        let line = describe("o3-mini", &changes);
        assert!(
            line.starts_with("sanitised request for o3-mini: dropped temperature; dropped top_p;"),
            "{line}"
        );
        // Both set: the older name goes.
        let mut b = body(json!({"max_tokens": 1, "max_completion_tokens": 2}));
        sanitize("gpt-5-mini", &mut b);
        assert_eq!(b, body(json!({"max_completion_tokens": 2})));
        // Ordinary chat models are left alone.
        let mut b = body(json!({"temperature": 0.2, "max_tokens": 5, "logprobs": true}));
        assert!(sanitize("gpt-4o-mini", &mut b).is_empty());
        assert!(sanitize("gpt-5-chat-latest", &mut b).is_empty());
        assert!(sanitize("unknown-model", &mut b).is_empty());
    }

    #[test]
    fn provider_rules() {
        let mut b = body(json!({"messages": [{"role": "system", "content": "s"}], "temperature": 1}));
        let c = sanitize("o1-mini", &mut b);
        assert_eq!(b["messages"][0]["role"], "user");
        assert!(c.contains(&Change::RoleChanged {
            from: "system".into(),
            to: "user".into(),
            count: 1
        }));
        let mut b = body(json!({"seed": 3, "max_completion_tokens": 9, "logit_bias": {}, "temperature": 0.1}));
        sanitize("mistral-large-latest", &mut b);
        assert_eq!(b, body(json!({"random_seed": 3, "max_tokens": 9, "temperature": 0.1})));
        let mut b =
            body(json!({"n": 2, "logprobs": true, "messages": [{"role": "user", "name": "bob", "content": "x"}]}));
        sanitize("groq/llama-3.1-8b-instant", &mut b);
        assert_eq!(b, body(json!({"messages": [{"role": "user", "content": "x"}]})));
        let mut b = body(json!({"temperature": 0.5, "top_p": 0.5}));
        sanitize("claude-sonnet-4-5-20250929", &mut b);
        assert_eq!(b, body(json!({"temperature": 0.5})));
        let mut b = body(json!({"temperature": 0.5, "top_p": 0.5}));
        assert!(sanitize("claude-3-5-haiku", &mut b).is_empty());
        let mut b = body(json!({"temperature": 0.5, "logprobs": true}));
        sanitize("deepseek-reasoner", &mut b);
        assert!(b.is_empty());
        let mut b = body(json!({"stop": ["x"], "reasoning_effort": "high", "presence_penalty": 1}));
        sanitize("grok-4-0709", &mut b);
        assert!(b.is_empty());
        let mut b = body(json!({"stop": ["x"], "reasoning_effort": "high"}));
        sanitize("grok-3-mini", &mut b);
        assert_eq!(b, body(json!({"reasoning_effort": "high"})));
        let mut b = body(json!({"stop": ["x"]}));
        assert!(sanitize("grok-4-fast-non-reasoning", &mut b).is_empty());
    }

    fn tiny_model(name: &str, window: u64, provider: &str) {
        let mut info = ModelInfo::new(name, 1.0, 1.0);
        info.context_window = Some(window);
        info.provider = Some(provider.into());
        register(info);
    }

    fn msg(role: &str, words: usize) -> Value {
        json!({"role": role, "content": "hello ".repeat(words)})
    }

    fn roles(b: &Map<String, Value>) -> Vec<&str> {
        b["messages"].as_array().unwrap().iter().map(role).collect()
    }

    fn tool_turn() -> [Value; 2] {
        [
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "hello ".repeat(40)}),
        ]
    }

    #[test]
    fn truncates_oldest_turns_and_keeps_tool_results_with_their_call() {
        let name = "gpt-4o-sanitize-test";
        let c = Counter::for_model(name);
        let [call, result] = tool_turn();
        let messages = vec![
            msg("system", 3),
            msg("user", 40),
            call,
            result,
            msg("user", 40),
            msg("assistant", 40),
            msg("user", 40),
        ];
        let total: u64 = messages.iter().map(|m| c.message(m)).sum::<u64>() + REPLY_PRIMING_TOKENS;
        // Removing the first user message alone is one token short: the tool turn goes too.
        let budget = total - c.message(&messages[1]) - 1;
        tiny_model(name, budget + 20, "openai");
        let mut b = body(json!({"max_tokens": 20, "messages": messages}));
        let changes = sanitize(name, &mut b);
        assert_eq!(roles(&b), ["system", "user", "assistant", "user"], "{changes:?}");
        let expected_after = total - c.message(&messages[1]) - c.message(&messages[2]) - c.message(&messages[3]);
        assert_eq!(
            changes,
            [Change::Truncated {
                removed_messages: 3,
                tokens_before: total,
                tokens_after: expected_after,
                budget
            }]
        );

        // Enough room for the tool turn: the call and its result stay together.
        let [call, result] = tool_turn();
        let messages = vec![msg("user", 200), call, result, msg("user", 40)];
        let total: u64 = messages.iter().map(|m| c.message(m)).sum::<u64>() + REPLY_PRIMING_TOKENS;
        tiny_model(name, total - c.message(&messages[0]), "openai");
        let mut b = body(json!({"messages": messages}));
        sanitize(name, &mut b);
        assert_eq!(roles(&b), ["assistant", "tool", "user"]);
    }

    #[test]
    fn anthropic_conversations_start_with_a_user_turn() {
        let name = "claude-sanitize-test";
        let c = Counter::for_model(name);
        let messages = vec![msg("user", 40), msg("assistant", 40), msg("user", 40)];
        let total: u64 = messages.iter().map(|m| c.message(m)).sum::<u64>() + REPLY_PRIMING_TOKENS;
        tiny_model(name, total - c.message(&messages[0]), "anthropic");
        let mut b = body(json!({"messages": messages}));
        let changes = sanitize(name, &mut b);
        assert_eq!(roles(&b), ["user"]);
        assert!(matches!(
            changes[0],
            Change::Truncated {
                removed_messages: 2,
                ..
            }
        ));
    }

    #[test]
    fn never_removes_system_or_last_turn() {
        tiny_model("gpt-4o-sanitize-tiny", 50, "openai");
        let mut b = body(json!({"messages": [msg("system", 30), msg("user", 10), msg("user", 30)]}));
        let changes = sanitize("gpt-4o-sanitize-tiny", &mut b);
        assert_eq!(b["messages"].as_array().unwrap().len(), 2);
        assert!(
            matches!(changes.last(), Some(Change::StillTooLong { budget: 50, .. })),
            "{changes:?}"
        );
    }

    #[test]
    fn multimodal_images_are_not_tokenized_as_text() {
        tiny_model("gpt-4o-sanitize-img", 2000, "openai");
        let image = json!({"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", "A".repeat(100_000))}}]});
        let mut b = body(json!({"messages": [image.clone(), msg("assistant", 5), image]}));
        // Two images at 765 tokens each exceed 2,000 only with the base64 counted.
        assert!(sanitize("gpt-4o-sanitize-img", &mut b).is_empty());
        assert!(sanitize("unknown-model-no-window", &mut b).is_empty());
    }

    #[test]
    fn fits_within_real_windows() {
        let mut b = body(json!({"messages": [msg("user", 10)], "max_tokens": 10}));
        assert!(sanitize("gpt-4o-mini", &mut b).is_empty());
    }
}
