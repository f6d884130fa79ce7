//! The mock Responses API: `POST /responses`, `GET /responses/{id}` and
//! `POST /responses/{id}/cancel`.
//!
//! A response echoes the input's last user text (or the configured reply) as one `message`
//! item; reasoning models (`o*`, `gpt-5*`, or a `reasoning` parameter) add a `reasoning` item
//! first, and a request with function tools gets a `function_call` of the first tool instead of
//! a message (unless `tool_choice` is `none`). `max_output_tokens` cuts the text and marks the
//! response `incomplete`. With `background: true` the response starts `queued`, moves one step
//! per retrieval (`in_progress`, then `completed`) and can be cancelled until it completes;
//! `store: false` responses cannot be retrieved.

use serde_json::{json, Map, Value};

use super::chat::content_text;
use super::reply::{estimate_tokens, make_reply};
use super::routes::{bad, not_found, Out};
use super::store::Store;

/// The text of the last user turn of `input` (a string or a list of items).
pub(crate) fn input_text(body: &Map<String, Value>) -> Option<String> {
    match body.get("input")? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|i| i.get("role").and_then(Value::as_str).is_none_or(|r| r == "user"))
            .map(|i| content_text(i.get("content"))),
        _ => None,
    }
}

fn output(body: &Map<String, Value>, seq: u64, text: String) -> (Vec<Value>, u64, u64, Value) {
    let model = body.get("model").and_then(Value::as_str).unwrap_or_default();
    let mut items = Vec::new();
    let mut reasoning_tokens = 0;
    let reasons = body.get("reasoning").is_some_and(Value::is_object)
        || model.starts_with("gpt-5")
        || (model.starts_with('o') && model.chars().nth(1).is_some_and(|c| c.is_ascii_digit()));
    if reasons {
        let summary = match body.get("reasoning").and_then(|r| r.get("summary")) {
            Some(Value::String(_)) => json!([{"type": "summary_text", "text": "The user wants a short answer."}]),
            _ => json!([]),
        };
        items.push(json!({"type": "reasoning", "id": format!("rs_mock{seq}"), "summary": summary}));
        reasoning_tokens = 16;
    }
    let tool = body
        .get("tools")
        .and_then(Value::as_array)
        .and_then(|tools| {
            tools
                .iter()
                .find(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        })
        .filter(|_| body.get("tool_choice").and_then(Value::as_str) != Some("none"));
    if let Some(tool) = tool {
        let name = tool.get("name").and_then(Value::as_str).unwrap_or_default();
        items.push(json!({
            "type": "function_call", "id": format!("fc_mock{seq}"), "call_id": format!("call_mock{seq}"),
            "name": name, "arguments": "{}", "status": "completed",
        }));
        return (items, 8 + reasoning_tokens, reasoning_tokens, Value::Null);
    }
    let limit = body.get("max_output_tokens").and_then(Value::as_u64);
    let reply = make_reply(text, limit.map(|l| l.saturating_sub(reasoning_tokens).max(1)));
    let incomplete = if reply.finish_reason == "length" {
        json!({"reason": "max_output_tokens"})
    } else {
        Value::Null
    };
    items.push(json!({
        "type": "message", "id": format!("msg_mock{seq}"), "status": "completed", "role": "assistant",
        "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}],
    }));
    (items, reply.tokens + reasoning_tokens, reasoning_tokens, incomplete)
}

/// `POST /responses`; `text` is the reply to give.
pub(crate) fn create(store: &mut Store, body: &Map<String, Value>, seq: u64, now: u64, text: String) -> Out {
    let Some(model) = body.get("model").and_then(Value::as_str).filter(|m| !m.is_empty()) else {
        return bad("Missing required parameter: 'model'.", "model");
    };
    let input_tokens = estimate_tokens(&input_text(body).unwrap_or_default())
        + body
            .get("instructions")
            .and_then(Value::as_str)
            .map_or(0, estimate_tokens);
    let (items, output_tokens, reasoning_tokens, incomplete) = output(body, seq, text);
    let background = body.get("background").and_then(Value::as_bool).unwrap_or(false);
    let status = match (background, incomplete.is_null()) {
        (true, _) => "queued",
        (false, true) => "completed",
        (false, false) => "incomplete",
    };
    let param = |k: &str, default: Value| body.get(k).cloned().unwrap_or(default);
    let mut doc = json!({
        "id": format!("resp_mock{seq:08}"),
        "object": "response",
        "created_at": now,
        "status": status,
        "background": background,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": param("instructions", Value::Null),
        "max_output_tokens": param("max_output_tokens", Value::Null),
        "model": model,
        "output": items,
        "parallel_tool_calls": param("parallel_tool_calls", Value::Bool(true)),
        "previous_response_id": param("previous_response_id", Value::Null),
        "reasoning": {"effort": null, "summary": null},
        "store": param("store", Value::Bool(true)),
        "temperature": param("temperature", json!(1.0)),
        "text": {"format": {"type": "text"}},
        "tool_choice": param("tool_choice", json!("auto")),
        "tools": param("tools", json!([])),
        "top_p": param("top_p", json!(1.0)),
        "truncation": "disabled",
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": input_tokens + output_tokens,
        },
        "user": param("user", Value::Null),
        "metadata": param("metadata", json!({})),
    });
    if let Some(reasoning) = body.get("reasoning").filter(|r| r.is_object()) {
        doc["reasoning"] = reasoning.clone();
    }
    if body.get("store").and_then(Value::as_bool) != Some(false) {
        store.responses.push((doc.clone(), background));
    }
    if background {
        doc["output"] = json!([]);
        doc["usage"] = Value::Null;
    }
    Out::Json(doc)
}

/// `GET /responses/{id}` (advances a background response one step) and
/// `POST /responses/{id}/cancel`.
pub(crate) fn retrieve(store: &mut Store, id: &str, cancel: bool) -> Out {
    let Some((doc, background)) = store.responses.iter_mut().find(|(d, _)| d["id"] == id) else {
        return not_found(&format!("Response with id '{id}' not found."), "response_id");
    };
    let status = doc["status"].as_str().unwrap_or_default().to_owned();
    if cancel {
        if !*background {
            return bad("Cannot cancel a synchronous response.", "response_id");
        }
        if matches!(status.as_str(), "queued" | "in_progress") {
            doc["status"] = "cancelled".into();
        }
        let mut shown = doc.clone();
        shown["output"] = json!([]);
        shown["usage"] = Value::Null;
        return Out::Json(shown);
    }
    let next = match status.as_str() {
        "queued" => "in_progress",
        "in_progress" if doc["incomplete_details"].is_null() => "completed",
        "in_progress" => "incomplete",
        other => other,
    };
    doc["status"] = next.into();
    let mut shown = doc.clone();
    if matches!(next, "queued" | "in_progress" | "cancelled") {
        shown["output"] = json!([]);
        shown["usage"] = Value::Null;
    }
    Out::Json(shown)
}
