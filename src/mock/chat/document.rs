//! The whole `chat.completion` document of a non-streamed answer: the response [`Envelope`]
//! shared with streams, the choices (with logprobs and reasoning when asked) and the usage.

use serde_json::{json, Value};

use super::request::ChatRequest;
use crate::mock::logprobs;
use crate::mock::reply::{reply_tokens, Reply};
use crate::mock::tool_call::Call;

/// `system_fingerprint` of every mock response.
pub(super) const FINGERPRINT: &str = "fp_mock";

/// Identity shared by every document of one response.
#[derive(Debug)]
pub(crate) struct Envelope<'a> {
    pub(crate) id: &'a str,
    pub(crate) created: u64,
    pub(crate) model: &'a str,
}

/// Usage of `n` choices, reasoning tokens included in the completion tokens.
pub(super) fn usage_json(req: &ChatRequest, reply: &Reply) -> Value {
    let reasoning = req.reasoning.map_or(0, reply_tokens) * req.n as u64;
    let (prompt, completion) = (req.prompt_tokens, reply.tokens * req.n as u64 + reasoning);
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    })
}

/// The `tool_calls` of an answer: ids derived from the completion's, arguments as JSON text.
pub(crate) fn tool_calls_json(env: &Envelope<'_>, calls: &[Call]) -> Value {
    calls
        .iter()
        .enumerate()
        .map(|(i, call)| {
            json!({
                "id": call_id(env, i),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments.to_string()},
            })
        })
        .collect()
}

/// The id of call `i` of a completion.
pub(crate) fn call_id(env: &Envelope<'_>, i: usize) -> String {
    format!("call_{}_{i}", env.id.trim_start_matches("chatcmpl-"))
}

/// The whole `chat.completion` document (the message's `tool_calls` when `calls` are asked for).
pub(crate) fn completion_body(env: &Envelope<'_>, req: &ChatRequest, reply: &Reply, calls: &[Call]) -> Vec<u8> {
    let logprobs = req
        .logprobs
        .map_or(Value::Null, |top| logprobs::choice(&reply.text, top, 0));
    let choices: Vec<Value> = (0..req.n)
        .map(|index| {
            let mut message = json!({"role": "assistant", "content": reply.text, "refusal": null, "annotations": []});
            if !calls.is_empty() {
                message["content"] = Value::Null;
                message["tool_calls"] = tool_calls_json(env, calls);
            }
            if let Some(reasoning) = req.reasoning {
                message["reasoning_content"] = json!(reasoning);
            }
            json!({
                "index": index,
                "message": message,
                "logprobs": logprobs,
                "finish_reason": reply.finish_reason,
            })
        })
        .collect();
    let doc = json!({
        "id": env.id,
        "object": "chat.completion",
        "created": env.created,
        "model": env.model,
        "choices": choices,
        "usage": usage_json(req, reply),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    });
    serde_json::to_vec(&doc).unwrap_or_default()
}
