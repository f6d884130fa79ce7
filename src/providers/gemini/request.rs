//! OpenAI chat request -> Gemini `GenerateContentRequest`.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use super::schema;
use crate::error::{Error, Kind, Result};

/// OpenAI keys dropped because Gemini has no equivalent and rejects unknown fields.
const DROPPED: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "logprobs",
    "top_logprobs",
    "parallel_tool_calls",
    "store",
    "metadata",
    "service_tier",
    "logit_bias",
    "prediction",
    "safety_identifier",
    "prompt_cache_key",
];

/// OpenAI keys translated into the Gemini body.
const MAPPED: &[&str] = &[
    "messages",
    "temperature",
    "top_p",
    "top_k",
    "max_tokens",
    "max_completion_tokens",
    "stop",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_format",
    "reasoning_effort",
    "tools",
    "tool_choice",
    "generationConfig",
];

fn invalid(message: impl Into<String>) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

/// The `thinkingConfig.thinkingBudget` for an OpenAI `reasoning_effort`: `none` -> 0 (thinking
/// off where the model allows it), `minimal` -> 512, `low` -> 1024, `medium` -> 8192, `high` ->
/// 24576. `None` for any other value.
pub fn thinking_budget(effort: &str) -> Option<u32> {
    match effort {
        "none" => Some(0),
        "minimal" => Some(512),
        "low" => Some(1024),
        "medium" => Some(8192),
        "high" => Some(24576),
        _ => None,
    }
}

/// Translates an OpenAI-shaped chat body (provider prefix already stripped from `model`) into
/// the JSON bytes of a Gemini `GenerateContentRequest`. The model goes in the URL path
/// ([`chat_path`](super::chat_path)), not in the body.
///
/// # Errors
/// `InvalidArgument` for messages Gemini cannot express: a missing or empty `messages`, an
/// unknown role or content part, tool-call arguments that are not a JSON object, a tool result
/// whose call cannot be found, or a malformed `tools` / `tool_choice` / `response_format`.
pub fn chat_request(body: &Map<String, Value>) -> Result<Vec<u8>> {
    let messages = match body.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err(invalid("messages must not be empty")),
        _ => return Err(invalid("messages must be a list of messages")),
    };
    let mut out = Map::new();
    let (system, contents) = translate_messages(messages)?;
    out.insert("contents".to_owned(), Value::Array(contents));
    if !system.is_empty() {
        out.insert("systemInstruction".to_owned(), json!({ "parts": system }));
    }
    if let Some(tools) = body.get("tools").filter(|t| !t.is_null()) {
        let tools = translate_tools(tools)?;
        if !tools.is_empty() {
            out.insert("tools".to_owned(), Value::Array(tools));
        }
    }
    if let Some(choice) = body.get("tool_choice").filter(|t| !t.is_null()) {
        out.insert("toolConfig".to_owned(), translate_tool_choice(choice)?);
    }
    let config = generation_config(body)?;
    if !config.is_empty() {
        out.insert("generationConfig".to_owned(), Value::Object(config));
    }
    for (key, value) in body {
        if !DROPPED.contains(&key.as_str()) && !MAPPED.contains(&key.as_str()) {
            out.insert(key.clone(), value.clone());
        }
    }
    serde_json::to_vec(&Value::Object(out)).map_err(|e| Error::new(Kind::Serialization, e.to_string()))
}

/// Splits the messages into system parts and alternating `contents`.
fn translate_messages(messages: &[Value]) -> Result<(Vec<Value>, Vec<Value>)> {
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    let mut call_names: HashMap<String, String> = HashMap::new();
    for (i, message) in messages.iter().enumerate() {
        let Value::Object(message) = message else {
            return Err(invalid(format!("messages[{i}] must be an object")));
        };
        let role = message.get("role").and_then(Value::as_str).unwrap_or("");
        let (gemini_role, parts) = match role {
            "system" | "developer" => {
                system.extend(content_parts(message.get("content"), i)?);
                continue;
            }
            "user" => ("user", content_parts(message.get("content"), i)?),
            "assistant" => ("model", assistant_parts(message, i, &mut call_names)?),
            "tool" | "function" => ("user", vec![tool_result_part(message, i, role, &call_names)?]),
            "" => return Err(invalid(format!("messages[{i}] has no role"))),
            other => return Err(invalid(format!("messages[{i}] has an unsupported role {other:?}"))),
        };
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            Some(last) if last["role"] == gemini_role => {
                if let Some(Value::Array(existing)) = last.get_mut("parts") {
                    existing.extend(parts);
                }
            }
            _ => contents.push(json!({ "role": gemini_role, "parts": parts })),
        }
    }
    if contents.is_empty() {
        return Err(invalid(
            "the messages need at least one user or assistant message with content",
        ));
    }
    Ok((system, contents))
}

/// Gemini parts of a message `content` (a string or a list of OpenAI content parts).
fn content_parts(content: Option<&Value>, i: usize) -> Result<Vec<Value>> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) if text.is_empty() => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![json!({ "text": text })]),
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                if let Some(part) = content_part(item, i)? {
                    parts.push(part);
                }
            }
            Ok(parts)
        }
        Some(_) => Err(invalid(format!(
            "messages[{i}].content must be a string or a list of parts"
        ))),
    }
}

fn content_part(item: &Value, i: usize) -> Result<Option<Value>> {
    let kind = item.get("type").and_then(Value::as_str);
    match (kind, item) {
        (_, Value::String(text)) => Ok((!text.is_empty()).then(|| json!({ "text": text }))),
        (Some("text"), _) => {
            let text = item.get("text").and_then(Value::as_str).unwrap_or("");
            Ok((!text.is_empty()).then(|| json!({ "text": text })))
        }
        (Some("image_url"), _) => {
            let url = match item.get("image_url") {
                Some(Value::String(url)) => url.as_str(),
                Some(obj) => obj.get("url").and_then(Value::as_str).unwrap_or(""),
                None => "",
            };
            if url.is_empty() {
                return Err(invalid(format!("messages[{i}]: an image_url part needs a url")));
            }
            media_part(url, None, i).map(Some)
        }
        (Some("input_audio"), _) => {
            let audio = item.get("input_audio");
            let data = audio.and_then(|a| a.get("data")).and_then(Value::as_str).unwrap_or("");
            let format = audio
                .and_then(|a| a.get("format"))
                .and_then(Value::as_str)
                .unwrap_or("wav");
            if data.is_empty() {
                return Err(invalid(format!("messages[{i}]: an input_audio part needs data")));
            }
            Ok(Some(
                json!({"inlineData": {"mimeType": format!("audio/{format}"), "data": data}}),
            ))
        }
        (Some("file"), _) => {
            let file = item.get("file");
            let get = |k: &str| {
                file.and_then(|f| f.get(k))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            if let Some(data) = get("file_data") {
                return media_part(data, get("format"), i).map(Some);
            }
            if let Some(id) = get("file_id") {
                let mut data = json!({ "fileUri": id });
                if let Some(mime) = get("format").or_else(|| guess_mime(id)) {
                    data["mimeType"] = json!(mime);
                }
                return Ok(Some(json!({ "fileData": data })));
            }
            Err(invalid(format!(
                "messages[{i}]: a file part needs file_data or file_id"
            )))
        }
        (Some(other), _) => Err(invalid(format!(
            "messages[{i}]: content part type {other:?} is not supported by Gemini"
        ))),
        (None, _) => Err(invalid(format!("messages[{i}]: a content part has no type"))),
    }
}

/// `inlineData` for a `data:` URL, `fileData` for any other URI.
fn media_part(url: &str, mime: Option<&str>, i: usize) -> Result<Value> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| invalid(format!("messages[{i}]: malformed data URL")))?;
        let Some(media_type) = meta.strip_suffix(";base64") else {
            return Err(invalid(format!("messages[{i}]: data URLs must be base64-encoded")));
        };
        let media_type = media_type.split(';').next().unwrap_or("");
        let media_type = if media_type.is_empty() {
            mime.unwrap_or("application/octet-stream")
        } else {
            media_type
        };
        return Ok(json!({"inlineData": {"mimeType": media_type, "data": data}}));
    }
    let mut data = json!({ "fileUri": url });
    if let Some(mime) = mime.or_else(|| guess_mime(url)) {
        data["mimeType"] = json!(mime);
    }
    Ok(json!({ "fileData": data }))
}

/// MIME type from a URL's file extension, for the types Gemini accepts.
fn guess_mime(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let ext = path.rsplit_once('.')?.1.to_ascii_lowercase();
    if ext.contains('/') {
        return None;
    }
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "wav" => "audio/wav",
        "mp3" => "audio/mp3",
        "aac" => "audio/aac",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "aiff" => "audio/aiff",
        "mp4" => "video/mp4",
        "mpeg" | "mpg" => "video/mpeg",
        "mov" => "video/mov",
        "avi" => "video/avi",
        "webm" => "video/webm",
        "wmv" => "video/wmv",
        "flv" => "video/x-flv",
        "3gp" | "3gpp" => "video/3gpp",
        _ => return None,
    })
}

/// Parts of an assistant message: its text, then one `functionCall` per tool call.
fn assistant_parts(
    message: &Map<String, Value>,
    i: usize,
    call_names: &mut HashMap<String, String>,
) -> Result<Vec<Value>> {
    let mut parts = content_parts(message.get("content"), i)?;
    let calls = match message.get("tool_calls") {
        None | Some(Value::Null) => return Ok(parts),
        Some(Value::Array(calls)) => calls,
        Some(_) => return Err(invalid(format!("messages[{i}].tool_calls must be a list"))),
    };
    for (j, call) in calls.iter().enumerate() {
        let function = call.get("function");
        let name = function
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(format!("messages[{i}].tool_calls[{j}] has no function name")))?;
        let args = match function.and_then(|f| f.get("arguments")) {
            None | Some(Value::Null) => json!({}),
            Some(Value::String(s)) if s.trim().is_empty() => json!({}),
            Some(Value::String(s)) => serde_json::from_str::<Value>(s).map_err(|e| {
                invalid(format!(
                    "messages[{i}].tool_calls[{j}].function.arguments is not valid JSON: {e}"
                ))
            })?,
            Some(obj @ Value::Object(_)) => obj.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "messages[{i}].tool_calls[{j}].function.arguments must be a JSON string"
                )))
            }
        };
        if !args.is_object() {
            return Err(invalid(format!(
                "messages[{i}].tool_calls[{j}].function.arguments must encode a JSON object"
            )));
        }
        if let Some(id) = call.get("id").and_then(Value::as_str) {
            call_names.insert(id.to_owned(), name.to_owned());
        }
        let mut part = json!({"functionCall": {"name": name, "args": args}});
        if let Some(sig) = call.get("thought_signature").and_then(Value::as_str) {
            part["thoughtSignature"] = json!(sig);
        }
        parts.push(part);
    }
    Ok(parts)
}

/// The `functionResponse` part of a `tool` (or legacy `function`) message.
fn tool_result_part(
    message: &Map<String, Value>,
    i: usize,
    role: &str,
    call_names: &HashMap<String, String>,
) -> Result<Value> {
    let by_id = message
        .get("tool_call_id")
        .and_then(Value::as_str)
        .and_then(|id| call_names.get(id))
        .map(String::as_str);
    let name = by_id
        .or_else(|| message.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()))
        .ok_or_else(|| {
            let id = message.get("tool_call_id").and_then(Value::as_str).unwrap_or("");
            invalid(format!(
                "messages[{i}] ({role}): tool_call_id {id:?} matches no earlier assistant tool call, and the message has no name"
            ))
        })?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.as_str().or_else(|| p.get("text").and_then(Value::as_str)))
            .collect::<Vec<_>>()
            .join(""),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    let response = match serde_json::from_str::<Value>(&text) {
        Ok(obj @ Value::Object(_)) => obj,
        _ => json!({ "result": text }),
    };
    Ok(json!({"functionResponse": {"name": name, "response": response}}))
}

fn translate_tools(tools: &Value) -> Result<Vec<Value>> {
    let Value::Array(items) = tools else {
        return Err(invalid("tools must be a list"));
    };
    let mut declarations = Vec::new();
    let mut native = Vec::new();
    for (j, tool) in items.iter().enumerate() {
        match tool.get("type").and_then(Value::as_str) {
            Some("function") => {
                let function = tool
                    .get("function")
                    .ok_or_else(|| invalid(format!("tools[{j}] has no function")))?;
                let name = function
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| invalid(format!("tools[{j}].function has no name")))?;
                let mut decl = json!({ "name": name });
                if let Some(desc) = function.get("description").and_then(Value::as_str) {
                    decl["description"] = json!(desc);
                }
                if let Some(params) = function.get("parameters").filter(|p| !p.is_null()) {
                    let converted = schema::to_gemini(params);
                    if !schema::is_empty_object(&converted) {
                        decl["parameters"] = converted;
                    }
                }
                declarations.push(decl);
            }
            Some(other) => {
                return Err(invalid(format!(
                    "tools[{j}] has type {other:?}; only function tools (or native Gemini tool objects) are supported"
                )))
            }
            None if tool.is_object() => native.push(tool.clone()),
            None => return Err(invalid(format!("tools[{j}] must be an object"))),
        }
    }
    let mut out = Vec::new();
    if !declarations.is_empty() {
        out.push(json!({ "functionDeclarations": declarations }));
    }
    out.extend(native);
    Ok(out)
}

fn translate_tool_choice(choice: &Value) -> Result<Value> {
    let config = match choice {
        Value::String(mode) => match mode.as_str() {
            "auto" => json!({"mode": "AUTO"}),
            "none" => json!({"mode": "NONE"}),
            "required" | "any" => json!({"mode": "ANY"}),
            other => return Err(invalid(format!("tool_choice {other:?} is not supported"))),
        },
        Value::Object(obj) => {
            let name = obj
                .get("function")
                .and_then(|f| f.get("name"))
                .or_else(|| obj.get("name"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    invalid("tool_choice must name a function: {\"type\": \"function\", \"function\": {\"name\": ...}}")
                })?;
            json!({"mode": "ANY", "allowedFunctionNames": [name]})
        }
        _ => return Err(invalid("tool_choice must be a string or an object")),
    };
    Ok(json!({ "functionCallingConfig": config }))
}

fn generation_config(body: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut config = Map::new();
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = body.get(from).filter(|v| !v.is_null()) {
            config.insert(to.to_owned(), v.clone());
        }
    };
    copy("temperature", "temperature");
    copy("top_p", "topP");
    copy("top_k", "topK");
    copy("max_tokens", "maxOutputTokens");
    copy("max_completion_tokens", "maxOutputTokens");
    copy("n", "candidateCount");
    copy("seed", "seed");
    copy("presence_penalty", "presencePenalty");
    copy("frequency_penalty", "frequencyPenalty");
    match body.get("stop") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => {
            config.insert("stopSequences".to_owned(), json!([s]));
        }
        Some(list @ Value::Array(_)) => {
            config.insert("stopSequences".to_owned(), list.clone());
        }
        Some(_) => return Err(invalid("stop must be a string or a list of strings")),
    }
    if let Some(format) = body.get("response_format").filter(|f| !f.is_null()) {
        match format.get("type").and_then(Value::as_str) {
            Some("text") => {}
            Some("json_object") => {
                config.insert("responseMimeType".to_owned(), json!("application/json"));
            }
            Some("json_schema") => {
                let schema = format
                    .get("json_schema")
                    .and_then(|s| s.get("schema"))
                    .ok_or_else(|| invalid("response_format json_schema needs json_schema.schema"))?;
                config.insert("responseMimeType".to_owned(), json!("application/json"));
                config.insert("responseSchema".to_owned(), schema::to_gemini(schema));
            }
            _ => return Err(invalid("response_format.type must be text, json_object or json_schema")),
        }
    }
    if let Some(effort) = body.get("reasoning_effort").filter(|e| !e.is_null()) {
        let effort = effort.as_str().unwrap_or("");
        let budget = thinking_budget(effort).ok_or_else(|| {
            invalid(format!(
                "reasoning_effort {effort:?} is not one of none, minimal, low, medium, high"
            ))
        })?;
        let thinking = if budget == 0 {
            json!({ "thinkingBudget": 0 })
        } else {
            json!({ "thinkingBudget": budget, "includeThoughts": true })
        };
        config.insert("thinkingConfig".to_owned(), thinking);
    }
    match body.get("generationConfig") {
        None | Some(Value::Null) => {}
        Some(Value::Object(given)) => {
            for (k, v) in given {
                config.insert(k.clone(), v.clone());
            }
        }
        Some(_) => return Err(invalid("generationConfig must be an object")),
    }
    Ok(config)
}
