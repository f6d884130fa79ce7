//! OpenAI-shaped chat body -> Messages API body (the rules are listed on the parent module).

use serde_json::{json, Map, Value};

use super::DEFAULT_MAX_TOKENS;
use crate::error::{Error, Kind, Result};

/// OpenAI-only keys that are dropped silently (Anthropic would reject them).
const DROPPED: &[&str] = &[
    "stream_options",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "store",
    "modalities",
    "prompt_cache_key",
    "safety_identifier",
    "verbosity",
    "parallel_tool_calls",
    "logprobs",
    "n",
    "response_format",
];

/// Keys translated explicitly below.
const HANDLED: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "reasoning_effort",
    "thinking",
    "tools",
    "tool_choice",
    "user",
    "metadata",
    "stop",
    "service_tier",
];

/// Thinking budgets for `reasoning_effort`.
const BUDGET_LOW: u64 = 1024;
const BUDGET_MEDIUM: u64 = 2048;
const BUDGET_HIGH: u64 = 4096;

fn invalid(message: impl Into<String>) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

/// Translates an OpenAI-shaped chat body (the provider prefix already stripped from `model`)
/// into the bytes of a Messages API body.
///
/// # Errors
/// `InvalidArgument` for a request Anthropic cannot express (see the module docs: `n` other
/// than 1, log probabilities, a JSON `response_format`, unparsable tool-call arguments, a token
/// limit not above the thinking budget, malformed messages).
pub fn chat_request(body: &Map<String, Value>) -> Result<Vec<u8>> {
    let translated = translate(body)?;
    serde_json::to_vec(&Value::Object(translated)).map_err(|e| {
        Error::new(
            Kind::Serialization,
            format!("could not encode the Anthropic request: {e}"),
        )
    })
}

/// The translated body as a JSON object.
pub(super) fn translate(body: &Map<String, Value>) -> Result<Map<String, Value>> {
    reject_unsupported(body)?;
    let mut out = Map::with_capacity(body.len() + 2);
    if let Some(model) = body.get("model").filter(|m| !m.is_null()) {
        out.insert("model".to_owned(), model.clone());
    }
    let messages = match body.get("messages") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err(invalid("the request has no messages")),
        Some(_) => return Err(invalid("messages must be a list")),
    };
    let (system, turns) = convert_messages(messages)?;
    if let Some(system) = system {
        out.insert("system".to_owned(), system);
    }
    out.insert("messages".to_owned(), Value::Array(turns));

    let limit = token_limit(body)?;
    let thinking = thinking(body)?;
    let budget = thinking.as_ref().and_then(|(_, budget)| *budget);
    let max_tokens = match (limit, budget) {
        (Some(limit), Some(budget)) if limit <= budget => {
            return Err(invalid(format!(
                "max_tokens ({limit}) must be greater than the thinking budget ({budget} tokens); \
                 raise max_tokens or lower reasoning_effort"
            )));
        }
        (Some(limit), _) => limit,
        (None, Some(budget)) => budget + DEFAULT_MAX_TOKENS,
        (None, None) => DEFAULT_MAX_TOKENS,
    };
    out.insert("max_tokens".to_owned(), Value::from(max_tokens));
    if let Some((config, _)) = thinking {
        out.insert("thinking".to_owned(), config);
    }

    for (key, value) in body {
        if value.is_null() || HANDLED.contains(&key.as_str()) || DROPPED.contains(&key.as_str()) {
            continue;
        }
        out.insert(key.clone(), value.clone());
    }
    if let Some(stop) = body.get("stop").filter(|s| !s.is_null()) {
        out.insert("stop_sequences".to_owned(), stop_sequences(stop)?);
    }
    if let Some(tier) = body.get("service_tier").and_then(Value::as_str) {
        if matches!(tier, "auto" | "standard_only") {
            out.insert("service_tier".to_owned(), Value::from(tier));
        }
    }
    if let Some(metadata) = metadata(body) {
        out.insert("metadata".to_owned(), metadata);
    }
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        let tools = convert_tools(tools)?;
        if !tools.is_empty() {
            out.insert("tools".to_owned(), Value::Array(tools));
            if let Some(choice) = tool_choice(body)? {
                out.insert("tool_choice".to_owned(), choice);
            }
        }
    }
    Ok(out)
}

fn reject_unsupported(body: &Map<String, Value>) -> Result<()> {
    if let Some(n) = body.get("n").filter(|n| !n.is_null()) {
        if n.as_u64() != Some(1) {
            return Err(invalid(format!(
                "Anthropic returns one choice per request; n must be 1, got {n}"
            )));
        }
    }
    if body.get("logprobs") == Some(&Value::Bool(true)) || body.get("top_logprobs").is_some_and(|v| !v.is_null()) {
        return Err(invalid(
            "Anthropic does not return log probabilities (logprobs / top_logprobs)",
        ));
    }
    match body.get("response_format") {
        None | Some(Value::Null) => {}
        Some(format) if format.get("type").and_then(Value::as_str) == Some("text") => {}
        Some(format) => {
            let kind = format.get("type").and_then(Value::as_str).unwrap_or("?");
            return Err(invalid(format!(
                "response_format {kind:?} is not supported by Anthropic; ask for JSON in the prompt or \
                 force a tool call with tool_choice instead"
            )));
        }
    }
    Ok(())
}

/// `max_completion_tokens`, else `max_tokens`, when given.
fn token_limit(body: &Map<String, Value>) -> Result<Option<u64>> {
    for key in ["max_completion_tokens", "max_tokens"] {
        match body.get(key) {
            None | Some(Value::Null) => {}
            Some(value) => {
                return match value.as_u64() {
                    Some(n) if n >= 1 => Ok(Some(n)),
                    _ => Err(invalid(format!("{key} must be a positive integer, got {value}"))),
                };
            }
        }
    }
    Ok(None)
}

/// The `thinking` config and its budget: the caller's own `thinking` object, else the one
/// `reasoning_effort` calls for.
fn thinking(body: &Map<String, Value>) -> Result<Option<(Value, Option<u64>)>> {
    if let Some(given) = body.get("thinking").filter(|t| !t.is_null()) {
        let budget = given
            .get("budget_tokens")
            .and_then(Value::as_u64)
            .filter(|_| given.get("type").and_then(Value::as_str) == Some("enabled"));
        return Ok(Some((given.clone(), budget)));
    }
    let budget = match body.get("reasoning_effort") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(effort)) => match effort.as_str() {
            "none" => return Ok(None),
            "minimal" | "low" => BUDGET_LOW,
            "medium" => BUDGET_MEDIUM,
            "high" => BUDGET_HIGH,
            other => {
                return Err(invalid(format!(
                    "reasoning_effort must be none, minimal, low, medium or high, got {other:?}"
                )))
            }
        },
        Some(other) => return Err(invalid(format!("reasoning_effort must be a string, got {other}"))),
    };
    Ok(Some((
        json!({"type": "enabled", "budget_tokens": budget}),
        Some(budget),
    )))
}

fn stop_sequences(stop: &Value) -> Result<Value> {
    match stop {
        Value::String(s) => Ok(json!([s])),
        Value::Array(items) if items.iter().all(Value::is_string) => Ok(stop.clone()),
        other => Err(invalid(format!(
            "stop must be a string or a list of strings, got {other}"
        ))),
    }
}

/// `metadata.user_id` from the caller's `metadata` or, failing that, `user`.
fn metadata(body: &Map<String, Value>) -> Option<Value> {
    let from_metadata = body
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .filter(|u| !u.is_null());
    let user_id = from_metadata.or_else(|| body.get("user").filter(|u| u.is_string()))?;
    Some(json!({ "user_id": user_id }))
}

fn convert_tools(tools: &Value) -> Result<Vec<Value>> {
    let Value::Array(items) = tools else {
        return Err(invalid("tools must be a list"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, tool)| {
            let Value::Object(tool) = tool else {
                return Err(invalid(format!("tools[{i}] must be an object")));
            };
            let is_function = tool.get("type").and_then(Value::as_str) == Some("function");
            let Some(function) = tool.get("function").filter(|_| is_function) else {
                // Anthropic's own tool shapes (client or server tools) pass unchanged.
                return Ok(Value::Object(tool.clone()));
            };
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("tools[{i}].function has no name")))?;
            let mut out = Map::new();
            out.insert("name".to_owned(), Value::from(name));
            if let Some(description) = function.get("description").filter(|d| !d.is_null()) {
                out.insert("description".to_owned(), description.clone());
            }
            let schema = function
                .get("parameters")
                .filter(|p| !p.is_null())
                .cloned()
                .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
            out.insert("input_schema".to_owned(), schema);
            let cache = tool.get("cache_control").or_else(|| function.get("cache_control"));
            if let Some(cache) = cache.filter(|c| !c.is_null()) {
                out.insert("cache_control".to_owned(), cache.clone());
            }
            Ok(Value::Object(out))
        })
        .collect()
}

fn tool_choice(body: &Map<String, Value>) -> Result<Option<Value>> {
    let mut choice = match body.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(mode)) => Some(match mode.as_str() {
            "auto" => json!({"type": "auto"}),
            "none" => json!({"type": "none"}),
            "required" | "any" => json!({"type": "any"}),
            other => {
                return Err(invalid(format!(
                    "tool_choice must be auto, none, required or a named function, got {other:?}"
                )))
            }
        }),
        Some(Value::Object(obj)) => match obj.get("type").and_then(Value::as_str) {
            Some("function") => {
                let name = obj
                    .get("function")
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| invalid("tool_choice names no function"))?;
                Some(json!({"type": "tool", "name": name}))
            }
            // Already Anthropic's shape (auto, any, tool, none).
            _ => Some(Value::Object(obj.clone())),
        },
        Some(other) => {
            return Err(invalid(format!(
                "tool_choice must be a string or an object, got {other}"
            )))
        }
    };
    if body.get("parallel_tool_calls") == Some(&Value::Bool(false)) {
        let obj = choice.get_or_insert_with(|| json!({"type": "auto"}));
        if obj.get("type").and_then(Value::as_str) != Some("none") {
            if let Value::Object(map) = obj {
                map.insert("disable_parallel_tool_use".to_owned(), Value::Bool(true));
            }
        }
    }
    Ok(choice)
}

/// One turn of the conversation being built.
struct Turn {
    role: &'static str,
    blocks: Vec<Value>,
}

/// Splits the messages into the `system` value and the alternating turns.
fn convert_messages(messages: &[Value]) -> Result<(Option<Value>, Vec<Value>)> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::with_capacity(messages.len());
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(invalid(format!("messages[{i}] must be an object")));
        };
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("messages[{i}] has no role")))?;
        let (role, mut blocks) = match role {
            "system" | "developer" => ("system", system_blocks(i, message.get("content"))?),
            "user" => ("user", content_blocks(i, message.get("content"))?),
            "assistant" => ("assistant", assistant_blocks(i, message)?),
            "tool" => ("user", vec![tool_result(i, message)?]),
            other => {
                return Err(invalid(format!(
                    "messages[{i}] has role {other:?}, which Anthropic does not support"
                )))
            }
        };
        if let Some(cache) = message.get("cache_control").filter(|c| !c.is_null()) {
            if let Some(Value::Object(last)) = blocks.last_mut() {
                last.insert("cache_control".to_owned(), cache.clone());
            }
        }
        if role == "system" {
            system.extend(blocks);
            continue;
        }
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some(turn) if turn.role == role => turn.blocks.extend(blocks),
            _ => turns.push(Turn { role, blocks }),
        }
    }
    let system = match system.as_slice() {
        [] => None,
        [only] if is_plain_text(only) => only.get("text").cloned(),
        _ => Some(Value::Array(system)),
    };
    let turns = turns
        .into_iter()
        .map(|turn| {
            let content = match turn.blocks.as_slice() {
                [only] if is_plain_text(only) => only.get("text").cloned().unwrap_or_default(),
                _ => Value::Array(turn.blocks),
            };
            json!({"role": turn.role, "content": content})
        })
        .collect();
    Ok((system, turns))
}

/// A text block with nothing but its text.
fn is_plain_text(block: &Value) -> bool {
    block.get("type").and_then(Value::as_str) == Some("text") && block.as_object().is_some_and(|b| b.len() == 2)
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn system_blocks(i: usize, content: Option<&Value>) -> Result<Vec<Value>> {
    let blocks = content_blocks(i, content)?;
    if blocks
        .iter()
        .any(|b| b.get("type").and_then(Value::as_str) != Some("text"))
    {
        return Err(invalid(format!("messages[{i}]: system messages may only hold text")));
    }
    Ok(blocks)
}

/// The blocks of a message `content`: a string, a list of parts, or nothing.
fn content_blocks(i: usize, content: Option<&Value>) -> Result<Vec<Value>> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text_block(text)]),
        Some(Value::Array(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                if let Some(block) = convert_part(i, j, part)? {
                    blocks.push(block);
                }
            }
            Ok(blocks)
        }
        Some(other) => Err(invalid(format!(
            "messages[{i}].content must be a string or a list of parts, got {other}"
        ))),
    }
}

/// One content part as an Anthropic block; `None` for an empty text.
fn convert_part(i: usize, j: usize, part: &Value) -> Result<Option<Value>> {
    let where_ = || format!("messages[{i}].content[{j}]");
    let part = match part {
        Value::String(text) if text.is_empty() => return Ok(None),
        Value::String(text) => return Ok(Some(text_block(text))),
        Value::Object(part) => part,
        other => return Err(invalid(format!("{} must be an object, got {other}", where_()))),
    };
    let kind = part.get("type").and_then(Value::as_str).unwrap_or("");
    let mut block = match kind {
        "text" | "refusal" => {
            let text = part
                .get(kind)
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{} has no {kind} string", where_())))?;
            if text.is_empty() {
                return Ok(None);
            }
            text_block(text)
        }
        "image_url" => {
            let url = match part.get("image_url") {
                Some(Value::String(url)) => url.as_str(),
                Some(obj) => obj.get("url").and_then(Value::as_str).unwrap_or(""),
                None => "",
            };
            if url.is_empty() {
                return Err(invalid(format!("{} has no image URL", where_())));
            }
            media_block(url).map_err(|why| invalid(format!("{}: {why}", where_())))?
        }
        "file" => file_block(part.get("file")).map_err(|why| invalid(format!("{}: {why}", where_())))?,
        "input_audio" => return Err(invalid(format!("{}: Anthropic does not accept audio input", where_()))),
        // Anthropic's own blocks (image, document, tool_result, ...) pass unchanged.
        _ => return Ok(Some(Value::Object(part.clone()))),
    };
    if let (Some(cache), Value::Object(obj)) = (part.get("cache_control").filter(|c| !c.is_null()), &mut block) {
        obj.insert("cache_control".to_owned(), cache.clone());
    }
    Ok(Some(block))
}

/// The block for an image (or PDF) URL: a remote `url` source or an inline `base64` one.
fn media_block(url: &str) -> std::result::Result<Value, String> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = parse_data_url(rest)?;
        let kind = if media_type == "application/pdf" {
            "document"
        } else {
            "image"
        };
        return Ok(json!({
            "type": kind,
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }));
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return Err("the URL must be http(s) or a base64 data URL".to_owned());
    }
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let kind = if path.to_ascii_lowercase().ends_with(".pdf") {
        "document"
    } else {
        "image"
    };
    Ok(json!({"type": kind, "source": {"type": "url", "url": url}}))
}

/// `media/type;base64,DATA` (after `data:`) -> (media type, base64 data).
fn parse_data_url(rest: &str) -> std::result::Result<(&str, &str), String> {
    let (meta, data) = rest
        .split_once(',')
        .ok_or_else(|| "the data URL has no comma".to_owned())?;
    let mut fields = meta.split(';');
    let media_type = fields.next().unwrap_or("").trim();
    if !fields.any(|f| f.trim().eq_ignore_ascii_case("base64")) {
        return Err("only base64 data URLs are supported".to_owned());
    }
    if media_type.is_empty() {
        return Err("the data URL has no media type".to_owned());
    }
    Ok((media_type, data))
}

/// An OpenAI `file` part: inline `file_data` (PDF or image data URL) or an uploaded `file_id`.
fn file_block(file: Option<&Value>) -> std::result::Result<Value, String> {
    let file = file.ok_or_else(|| "the file part has no file object".to_owned())?;
    let mut block = if let Some(data) = file.get("file_data").and_then(Value::as_str) {
        let rest = data
            .strip_prefix("data:")
            .ok_or_else(|| "file_data must be a base64 data URL".to_owned())?;
        let (media_type, _) = parse_data_url(rest)?;
        if media_type != "application/pdf" && !media_type.starts_with("image/") {
            return Err(format!(
                "Anthropic does not accept {media_type} files inline (PDF or images only)"
            ));
        }
        media_block(data)?
    } else if let Some(id) = file.get("file_id").and_then(Value::as_str) {
        json!({"type": "document", "source": {"type": "file", "file_id": id}})
    } else {
        return Err("the file part has neither file_data nor file_id".to_owned());
    };
    if block.get("type").and_then(Value::as_str) == Some("document") {
        if let (Some(name), Value::Object(obj)) = (file.get("filename").and_then(Value::as_str), &mut block) {
            obj.insert("title".to_owned(), Value::from(name));
        }
    }
    Ok(block)
}

fn assistant_blocks(i: usize, message: &Map<String, Value>) -> Result<Vec<Value>> {
    let mut blocks = Vec::new();
    if let Some(Value::Array(thinking)) = message.get("thinking_blocks") {
        blocks.extend(thinking.iter().cloned());
    }
    blocks.extend(content_blocks(i, message.get("content"))?);
    match message.get("tool_calls") {
        None | Some(Value::Null) => {}
        Some(Value::Array(calls)) => {
            for (j, call) in calls.iter().enumerate() {
                blocks.push(tool_use(i, j, call)?);
            }
        }
        Some(_) => return Err(invalid(format!("messages[{i}].tool_calls must be a list"))),
    }
    Ok(blocks)
}

fn tool_use(i: usize, j: usize, call: &Value) -> Result<Value> {
    let where_ = format!("messages[{i}].tool_calls[{j}]");
    let id = call
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{where_} has no id")))?;
    let function = call
        .get("function")
        .ok_or_else(|| invalid(format!("{where_} has no function")))?;
    let name = function
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{where_}.function has no name")))?;
    let input = match function.get("arguments") {
        None | Some(Value::Null) => json!({}),
        Some(Value::String(args)) if args.trim().is_empty() => json!({}),
        Some(Value::String(args)) => serde_json::from_str(args)
            .map_err(|e| invalid(format!("{where_}.function.arguments is not valid JSON: {e}")))?,
        Some(other) => other.clone(),
    };
    if !input.is_object() {
        return Err(invalid(format!(
            "{where_}.function.arguments must encode a JSON object"
        )));
    }
    Ok(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
}

fn tool_result(i: usize, message: &Map<String, Value>) -> Result<Value> {
    let id = message
        .get("tool_call_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("messages[{i}] (a tool result) has no tool_call_id")))?;
    let mut block = Map::new();
    block.insert("type".to_owned(), Value::from("tool_result"));
    block.insert("tool_use_id".to_owned(), Value::from(id));
    match message.get("content") {
        Some(Value::String(text)) if !text.is_empty() => {
            block.insert("content".to_owned(), Value::from(text.as_str()));
        }
        Some(Value::Array(_)) => {
            let blocks = content_blocks(i, message.get("content"))?;
            if !blocks.is_empty() {
                block.insert("content".to_owned(), Value::Array(blocks));
            }
        }
        _ => {}
    }
    if let Some(is_error) = message.get("is_error").filter(|e| e.is_boolean()) {
        block.insert("is_error".to_owned(), is_error.clone());
    }
    Ok(Value::Object(block))
}
