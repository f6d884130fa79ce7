//! Messages API request -> chat-completions body: the parameters here, the conversation in
//! [`super::conversation`] (the rules are listed on the parent module).

use serde_json::{json, Map, Value};

use super::conversation::conversation;

/// What the translated body is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    /// A message to create: `max_tokens` is required.
    Create,
    /// A token count: `max_tokens` may be left out.
    Count,
}

/// A Messages request as a chat-completions call.
#[derive(Debug)]
pub(super) struct Translated {
    /// The model the client named.
    pub(super) model: String,
    /// Whether the client wants events.
    pub(super) stream: bool,
    /// The chat-completions body.
    pub(super) body: Map<String, Value>,
}

/// What is wrong with a request, as Anthropic's `invalid_request_error` message.
pub(super) type Invalid = String;

/// Keys accepted and dropped: sampling or serving hints not every provider takes, and
/// Anthropic account and cache settings with no meaning elsewhere.
const DROPPED: &[&str] = &[
    "top_k",
    "service_tier",
    "speed",
    "inference_geo",
    "context_management",
    "cache_control",
    "diagnostics",
    "user_profile_id",
    "workspace_id",
];

/// Translates the bytes of a Messages request.
///
/// # Errors
/// What is wrong with the request (missing or mistyped fields, unknown keys, content blocks or
/// tools with no chat-completions counterpart).
pub(super) fn translate(body: &[u8], purpose: Purpose) -> Result<Translated, Invalid> {
    let fields: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) => return Err("the request body must be a JSON object".to_owned()),
        Err(e) => return Err(format!("the request body is not valid JSON: {e}")),
    };
    let model = match fields.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err("model: a non-empty string is required".to_owned()),
    };
    let stream = match fields.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("stream: must be a boolean".to_owned()),
    };
    let thinking = thinking_of(fields.get("thinking"))?;
    let mut out = Map::with_capacity(fields.len() + 2);
    out.insert("model".to_owned(), Value::from(model.as_str()));
    out.insert(
        "messages".to_owned(),
        Value::Array(conversation(&fields, thinking != Thinking::Off)?),
    );
    match (fields.get("max_tokens"), purpose) {
        (None | Some(Value::Null), Purpose::Count) => {}
        (Some(n), _) if n.as_u64().is_some_and(|n| n >= 1) => {
            out.insert("max_tokens".to_owned(), n.clone());
        }
        _ => return Err("max_tokens: a positive integer is required".to_owned()),
    }
    if let Thinking::Effort(effort) = thinking {
        out.insert("reasoning_effort".to_owned(), Value::from(effort));
    }
    parameters(&fields, &mut out)?;
    if out.contains_key("tools") {
        tool_choice(fields.get("tool_choice"), &mut out)?;
    }
    if stream {
        out.insert("stream".to_owned(), Value::Bool(true));
        out.insert("stream_options".to_owned(), json!({"include_usage": true}));
    }
    Ok(Translated {
        model,
        stream,
        body: out,
    })
}

/// The sampling, stop, user and tool parameters; an unknown key is an error.
fn parameters(fields: &Map<String, Value>, out: &mut Map<String, Value>) -> Result<(), Invalid> {
    for (key, value) in fields {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "model" | "messages" | "system" | "max_tokens" | "stream" | "thinking" | "tool_choice" => {}
            "output_config" => {
                if let Some(format) = response_format(value)? {
                    out.insert("response_format".to_owned(), format);
                }
            }
            "temperature" | "top_p" => {
                if !value.is_number() {
                    return Err(format!("{key}: must be a number"));
                }
                out.insert(key.clone(), value.clone());
            }
            "stop_sequences" => {
                if !value.as_array().is_some_and(|s| s.iter().all(Value::is_string)) {
                    return Err("stop_sequences: must be a list of strings".to_owned());
                }
                out.insert("stop".to_owned(), value.clone());
            }
            "metadata" => {
                if let Some(user) = user_id(value)? {
                    out.insert("user".to_owned(), user);
                }
            }
            "tools" => {
                let tools = function_tools(value)?;
                if !tools.is_empty() {
                    out.insert("tools".to_owned(), Value::Array(tools));
                }
            }
            other if DROPPED.contains(&other) => {}
            other => return Err(format!("{other}: unknown parameter")),
        }
    }
    Ok(())
}

/// What a `thinking` config asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Thinking {
    /// No thinking.
    Off,
    /// The model decides (`adaptive`, `between_tools`): no effort is set.
    Model,
    /// A budget, as a `reasoning_effort`.
    Effort(&'static str),
}

/// The thinking a `thinking` config asks for.
fn thinking_of(thinking: Option<&Value>) -> Result<Thinking, Invalid> {
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(Thinking::Off);
    };
    match thinking.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(Thinking::Off),
        Some("adaptive" | "between_tools") => Ok(Thinking::Model),
        Some("enabled") => match thinking.get("budget_tokens").and_then(Value::as_u64) {
            Some(budget) if budget < 2048 => Ok(Thinking::Effort("low")),
            Some(budget) if budget < 4096 => Ok(Thinking::Effort("medium")),
            Some(_) => Ok(Thinking::Effort("high")),
            None => Err("thinking.budget_tokens: a non-negative integer is required".to_owned()),
        },
        _ => Err("thinking.type: must be enabled, adaptive, between_tools or disabled".to_owned()),
    }
}

/// The `response_format` of `output_config.format` (a JSON schema); its `effort` is a hint and
/// is dropped.
fn response_format(config: &Value) -> Result<Option<Value>, Invalid> {
    let Value::Object(config) = config else {
        return Err("output_config: must be an object".to_owned());
    };
    let Some(format) = config.get("format").filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match (format.get("type").and_then(Value::as_str), format.get("schema")) {
        (Some("json_schema"), Some(schema @ Value::Object(_))) => Ok(Some(json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema},
        }))),
        _ => Err("output_config.format: a json_schema format with a schema object is required".to_owned()),
    }
}

/// `metadata.user_id`, the only metadata with a chat-completions counterpart (`user`).
fn user_id(metadata: &Value) -> Result<Option<Value>, Invalid> {
    let Value::Object(metadata) = metadata else {
        return Err("metadata: must be an object".to_owned());
    };
    match metadata.get("user_id") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(user)) => Ok(Some(Value::from(user.as_str()))),
        Some(_) => Err("metadata.user_id: must be a string".to_owned()),
    }
}

/// Anthropic's client tools as function tools.
fn function_tools(tools: &Value) -> Result<Vec<Value>, Invalid> {
    let Value::Array(tools) = tools else {
        return Err("tools: must be a list".to_owned());
    };
    tools
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let Value::Object(tool) = tool else {
                return Err(format!("tools.{i}: must be an object"));
            };
            if let Some(kind) = tool.get("type").and_then(Value::as_str).filter(|k| *k != "custom") {
                return Err(format!(
                    "tools.{i}: the server tool {kind:?} is not supported here (client tools only)"
                ));
            }
            let name = tool
                .get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| format!("tools.{i}.name: a non-empty string is required"))?;
            let schema = match tool.get("input_schema") {
                Some(schema @ Value::Object(_)) => schema.clone(),
                _ => return Err(format!("tools.{i}.input_schema: an object is required")),
            };
            let mut function = Map::with_capacity(3);
            function.insert("name".to_owned(), Value::from(name));
            match tool.get("description") {
                None | Some(Value::Null) => {}
                Some(d @ Value::String(_)) => {
                    function.insert("description".to_owned(), d.clone());
                }
                Some(_) => return Err(format!("tools.{i}.description: must be a string")),
            }
            function.insert("parameters".to_owned(), schema);
            Ok(json!({"type": "function", "function": function}))
        })
        .collect()
}

/// Sets `tool_choice` (and `parallel_tool_calls: false` when parallel use is disabled).
fn tool_choice(choice: Option<&Value>, out: &mut Map<String, Value>) -> Result<(), Invalid> {
    let Some(choice) = choice.filter(|c| !c.is_null()) else {
        return Ok(());
    };
    let mapped = match choice.get("type").and_then(Value::as_str) {
        Some("auto") => json!("auto"),
        Some("any") => json!("required"),
        Some("none") => json!("none"),
        Some("tool") => {
            let name = choice
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| "tool_choice.name: a string is required".to_owned())?;
            json!({"type": "function", "function": {"name": name}})
        }
        _ => return Err("tool_choice.type: must be auto, any, tool or none".to_owned()),
    };
    out.insert("tool_choice".to_owned(), mapped);
    if choice.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
        out.insert("parallel_tool_calls".to_owned(), Value::Bool(false));
    }
    Ok(())
}
