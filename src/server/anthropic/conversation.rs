//! Messages API conversation (`system` and `messages`) -> chat messages: content blocks become
//! content parts, tool results `tool` messages, tool uses `tool_calls` (the rules are listed on
//! the parent module).

use serde_json::{json, Map, Value};

use super::request::Invalid;

/// The chat messages: `system` first, then each turn's messages.
pub(super) fn conversation(fields: &Map<String, Value>, keep_thinking: bool) -> Result<Vec<Value>, Invalid> {
    let turns = match fields.get("messages") {
        Some(Value::Array(turns)) if !turns.is_empty() => turns,
        Some(Value::Array(_)) => return Err("messages: at least one message is required".to_owned()),
        _ => return Err("messages: a list is required".to_owned()),
    };
    let mut out = Vec::with_capacity(turns.len() + 1);
    if let Some(system) = system_message(fields.get("system"))? {
        out.push(system);
    }
    for (i, turn) in turns.iter().enumerate() {
        let at = format!("messages.{i}");
        let role = turn.get("role").and_then(Value::as_str);
        let content = turn.get("content");
        match (role, content) {
            (Some(role @ ("user" | "assistant")), Some(Value::String(text))) => {
                out.push(json!({"role": role, "content": text}));
            }
            (Some("user"), Some(Value::Array(blocks))) => user_turn(&at, blocks, &mut out)?,
            (Some("assistant"), Some(Value::Array(blocks))) => {
                out.push(assistant_turn(&at, blocks, keep_thinking)?);
            }
            (Some("user" | "assistant"), _) => {
                return Err(format!("{at}.content: a string or a list of blocks is required"))
            }
            _ => return Err(format!("{at}.role: must be user or assistant")),
        }
    }
    Ok(out)
}

/// The `system` prompt as a system message: one string, or text parts for several blocks.
fn system_message(system: Option<&Value>) -> Result<Option<Value>, Invalid> {
    let content = match system {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) if text.is_empty() => return Ok(None),
        Some(Value::String(text)) => Value::from(text.as_str()),
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, block) in blocks.iter().enumerate() {
                if block.get("type").and_then(Value::as_str) != Some("text") {
                    return Err(format!("system.{i}: only text blocks are allowed"));
                }
                parts.push(text_part(&format!("system.{i}"), block)?);
            }
            match parts.as_slice() {
                [] => return Ok(None),
                [only] => only["text"].clone(),
                _ => Value::Array(parts),
            }
        }
        Some(_) => return Err("system: a string or a list of text blocks is required".to_owned()),
    };
    Ok(Some(json!({"role": "system", "content": content})))
}

/// A text block as a text part.
fn text_part(at: &str, block: &Value) -> Result<Value, Invalid> {
    let text = block
        .get("text")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}.text: a string is required"))?;
    Ok(json!({"type": "text", "text": text}))
}

/// A user turn: its tool results as `tool` messages, then the rest as one user message.
fn user_turn(at: &str, blocks: &[Value], out: &mut Vec<Value>) -> Result<(), Invalid> {
    let mut parts = Vec::with_capacity(blocks.len());
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content.{j}");
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") => out.push(tool_message(&at, block, &mut parts)?),
            Some(_) => parts.push(user_part(&at, block)?),
            None => return Err(format!("{at}.type: a string is required")),
        }
    }
    let content = match parts.as_slice() {
        [] => return Ok(()),
        [only] if only["type"] == "text" => only["text"].clone(),
        _ => Value::Array(parts),
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

/// A user content block (text, image or document) as a content part.
fn user_part(at: &str, block: &Value) -> Result<Value, Invalid> {
    match block.get("type").and_then(Value::as_str) {
        Some("text") => text_part(at, block),
        Some("image") => image_part(at, block),
        Some("document") => document_part(at, block),
        Some(other) => Err(format!("{at}: content blocks of type {other:?} are not supported here")),
        None => Err(format!("{at}.type: a string is required")),
    }
}

/// The `source` of an image or document block and its `type`.
fn source<'a>(at: &str, block: &'a Value) -> Result<(&'a Value, &'a str), Invalid> {
    let source = block
        .get("source")
        .filter(|s| s.is_object())
        .ok_or_else(|| format!("{at}.source: an object is required"))?;
    let kind = source
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}.source.type: a string is required"))?;
    Ok((source, kind))
}

/// A string field of a source.
fn field<'a>(at: &str, source: &'a Value, key: &str) -> Result<&'a str, Invalid> {
    source
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("{at}.source.{key}: a non-empty string is required"))
}

/// An image block as an `image_url` part (a base64 source as a data URL).
fn image_part(at: &str, block: &Value) -> Result<Value, Invalid> {
    let url = match source(at, block)? {
        (source, "base64") => {
            let media_type = field(at, source, "media_type")?;
            format!("data:{media_type};base64,{}", field(at, source, "data")?)
        }
        (source, "url") => field(at, source, "url")?.to_owned(),
        (_, other) => {
            return Err(format!(
                "{at}.source.type: {other:?} is not supported here (base64 or url)"
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// A document block: a base64 PDF as a `file` part, a text source as a text part.
fn document_part(at: &str, block: &Value) -> Result<Value, Invalid> {
    match source(at, block)? {
        (source, "base64") => {
            let media_type = field(at, source, "media_type")?;
            if media_type != "application/pdf" {
                return Err(format!("{at}.source.media_type: only application/pdf is supported"));
            }
            let mut file = Map::with_capacity(2);
            let data = format!("data:application/pdf;base64,{}", field(at, source, "data")?);
            file.insert("file_data".to_owned(), Value::from(data));
            if let Some(title) = block.get("title").and_then(Value::as_str) {
                file.insert("filename".to_owned(), Value::from(title));
            }
            Ok(json!({"type": "file", "file": file}))
        }
        (source, "text") => Ok(json!({"type": "text", "text": field(at, source, "data")?})),
        (_, other) => Err(format!(
            "{at}.source.type: {other:?} is not supported here (base64 PDF or text)"
        )),
    }
}

/// A `tool_result` block as a `tool` message; its images are added to `images`, for the user
/// message that follows.
fn tool_message(at: &str, block: &Value, images: &mut Vec<Value>) -> Result<Value, Invalid> {
    let id = block
        .get("tool_use_id")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}.tool_use_id: a string is required"))?;
    let content = match block.get("content") {
        None | Some(Value::Null) => Value::from(""),
        Some(Value::String(text)) => Value::from(text.as_str()),
        Some(Value::Array(blocks)) => {
            let mut texts = Vec::with_capacity(blocks.len());
            for (k, inner) in blocks.iter().enumerate() {
                let at = format!("{at}.content.{k}");
                match inner.get("type").and_then(Value::as_str) {
                    Some("text") => texts.push(text_part(&at, inner)?),
                    Some("image") => images.push(image_part(&at, inner)?),
                    _ => return Err(format!("{at}: tool results may hold text and image blocks only")),
                }
            }
            match texts.as_slice() {
                [] => Value::from(""),
                [only] => only["text"].clone(),
                _ => Value::Array(texts),
            }
        }
        Some(_) => return Err(format!("{at}.content: a string or a list of blocks is required")),
    };
    Ok(json!({"role": "tool", "tool_call_id": id, "content": content}))
}

/// An assistant turn as one assistant message.
fn assistant_turn(at: &str, blocks: &[Value], keep_thinking: bool) -> Result<Value, Invalid> {
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut thinking = Vec::new();
    for (j, block) in blocks.iter().enumerate() {
        let at = format!("{at}.content.{j}");
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                let part = block
                    .get("text")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("{at}.text: a string is required"))?;
                text.push_str(part);
            }
            Some("tool_use") => calls.push(tool_call(&at, block)?),
            Some("thinking" | "redacted_thinking") => {
                let signed = block
                    .get("signature")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty())
                    || block.get("data").is_some_and(Value::is_string);
                if keep_thinking && signed {
                    thinking.push(block.clone());
                }
            }
            Some(other) => return Err(format!("{at}: content blocks of type {other:?} are not supported here")),
            None => return Err(format!("{at}.type: a string is required")),
        }
    }
    let mut message = Map::with_capacity(4);
    message.insert("role".to_owned(), Value::from("assistant"));
    let content = if text.is_empty() && !calls.is_empty() {
        Value::Null
    } else {
        Value::from(text)
    };
    message.insert("content".to_owned(), content);
    if !calls.is_empty() {
        message.insert("tool_calls".to_owned(), Value::Array(calls));
    }
    if !thinking.is_empty() {
        message.insert("thinking_blocks".to_owned(), Value::Array(thinking));
    }
    Ok(Value::Object(message))
}

/// A `tool_use` block as a tool call.
fn tool_call(at: &str, block: &Value) -> Result<Value, Invalid> {
    let text = |key: &str| {
        block
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("{at}.{key}: a non-empty string is required"))
    };
    let (id, name) = (text("id")?, text("name")?);
    let arguments = match block.get("input") {
        Some(input @ Value::Object(_)) => input.to_string(),
        _ => return Err(format!("{at}.input: an object is required")),
    };
    Ok(json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments}}))
}
