//! Gemini `streamGenerateContent?alt=sse` events -> OpenAI-shaped chunks.

use std::collections::VecDeque;

use serde_json::{json, Value};

use super::response::{
    candidate_blocked, error_from_value, finish_reason, fresh_id, is_blocking, prompt_blocked, read_parts,
    tool_call_json, unix_now, usage,
};
use crate::error::{Error, Kind, Result};
use crate::providers::adapter::StreamTranslator;
use crate::providers::choice_index;
use crate::sse::Event;
use crate::types::{ChatCompletionChunk, Usage};

/// What has been sent for one candidate.
#[derive(Debug, Default, Clone)]
struct CandidateState {
    role_sent: bool,
    produced: bool,
    tool_calls: u32,
    finished: bool,
}

/// Stateful translator of a Gemini `alt=sse` stream: each `data:` payload is one
/// `GenerateContentResponse`, and the stream has no `[DONE]` sentinel (it ends after the event
/// carrying `finishReason`).
///
/// Every event yields one chunk per candidate with content (the first chunk of a candidate
/// carries `role: "assistant"`); function calls arrive whole, as complete tool-call deltas with
/// their index; `finish_reason` is set on the chunk of the event whose candidate has
/// `finishReason`. When the finishing event carries `usageMetadata`, a usage chunk (no choices)
/// follows, like OpenAI's `stream_options.include_usage`.
#[derive(Debug)]
pub struct StreamState {
    model: String,
    id: Option<String>,
    created: i64,
    candidates: Vec<CandidateState>,
    usage: Option<Usage>,
    usage_sent: bool,
    finished: bool,
}

impl StreamState {
    /// A translator for a stream of `model` (used when events carry no `modelVersion`).
    pub fn new(model: &str) -> Self {
        StreamState {
            model: model.to_owned(),
            id: None,
            created: unix_now(),
            candidates: Vec::new(),
            usage: None,
            usage_sent: false,
            finished: false,
        }
    }

    fn chunk(&self, choices: Vec<Value>) -> Result<ChatCompletionChunk> {
        let value = json!({
            "id": self.id.as_deref().unwrap_or(""),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        });
        serde_json::from_value(value)
            .map_err(|e| Error::new(Kind::Streaming, format!("could not build a stream chunk: {e}")))
    }
}

impl StreamTranslator for StreamState {
    /// True once a candidate with a `finishReason` was seen: the end of the connection after
    /// that is a clean end of stream, before it a cut stream.
    fn finished(&self) -> bool {
        self.finished
    }

    /// Translates one SSE event, pushing zero or more chunks onto `out`.
    ///
    /// # Errors
    /// The provider's error for an `{"error": ...}` payload; `ContentPolicy` for a blocked prompt
    /// or a candidate stopped by a safety filter before producing anything; `Streaming` for data
    /// that is not a JSON object.
    fn on_event(&mut self, event: &Event, out: &mut VecDeque<ChatCompletionChunk>) -> Result<()> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(());
        }
        let doc: Value = serde_json::from_str(data)
            .map_err(|e| Error::new(Kind::Streaming, format!("a Gemini stream event is not valid JSON: {e}")))?;
        if !doc.is_object() {
            return Err(Error::new(
                Kind::Streaming,
                "a Gemini stream event is not a JSON object",
            ));
        }
        if event.event.as_deref() == Some("error") || doc.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error_from_value(doc, None));
        }
        let candidates = doc
            .get("candidates")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        if candidates.is_empty() {
            if let Some(err) = prompt_blocked(&doc) {
                return Err(err);
            }
        }
        if self.id.is_none() {
            self.id = Some(
                doc.get("responseId")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map_or_else(|| fresh_id("chatcmpl-"), str::to_owned),
            );
        }
        if let Some(version) = doc
            .get("modelVersion")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            version.clone_into(&mut self.model);
        }
        if let Some(meta) = doc.get("usageMetadata") {
            self.usage = Some(usage(meta));
        }
        let mut finishing = false;
        for (position, candidate) in candidates.iter().enumerate() {
            let index = choice_index(candidate.get("index"), position, Kind::Streaming)?;
            let slot = usize::try_from(index).unwrap_or(usize::MAX);
            if self.candidates.len() <= slot {
                self.candidates.resize_with(slot + 1, CandidateState::default);
            }
            let parts = read_parts(candidate);
            let reason = candidate
                .get("finishReason")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty());
            let state = &mut self.candidates[slot];
            state.produced |= parts.text.as_deref().is_some_and(|t| !t.is_empty()) || !parts.calls.is_empty();
            if let Some(r) = reason {
                if is_blocking(r) && !state.produced {
                    return Err(candidate_blocked(r, candidate));
                }
            }
            let mut delta = json!({});
            if !state.role_sent {
                delta["role"] = json!("assistant");
            }
            if let Some(text) = parts.text.filter(|t| !t.is_empty()) {
                delta["content"] = json!(text);
            }
            if let Some(thoughts) = parts.thoughts.filter(|t| !t.is_empty()) {
                delta["reasoning_content"] = json!(thoughts);
            }
            if !parts.calls.is_empty() {
                let calls: Vec<Value> = parts
                    .calls
                    .iter()
                    .map(|call| {
                        let mut value = tool_call_json(call);
                        value["index"] = json!(state.tool_calls);
                        state.tool_calls = state.tool_calls.saturating_add(1);
                        value
                    })
                    .collect();
                delta["tool_calls"] = Value::Array(calls);
            }
            let finish = reason.map(|r| finish_reason(r, state.tool_calls > 0));
            let has_delta = delta.as_object().is_some_and(|d| !d.is_empty());
            if !has_delta && finish.is_none() {
                continue;
            }
            state.role_sent = true;
            if reason.is_some() {
                state.finished = true;
                finishing = true;
            }
            let mut choice = json!({"index": index, "delta": delta, "finish_reason": finish, "logprobs": null});
            if let Some(r) = reason {
                choice["native_finish_reason"] = json!(r);
            }
            out.push_back(self.chunk(vec![choice])?);
        }
        if finishing {
            // The stream is over once every candidate has its finish reason.
            self.finished = self.candidates.iter().all(|c| c.finished);
            if !self.usage_sent {
                if let Some(usage) = self.usage.clone() {
                    self.usage_sent = true;
                    let mut chunk = self.chunk(Vec::new())?;
                    chunk.usage = Some(usage);
                    out.push_back(chunk);
                }
            }
        }
        Ok(())
    }
}
