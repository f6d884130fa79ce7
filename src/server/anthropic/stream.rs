//! Chat chunks -> Messages API events, written straight to bytes (no JSON tree per chunk).
//!
//! The first chunk opens the message (`message_start`); a change of kind (thinking, text, a new
//! tool call) closes the open content block and opens the next; the end closes the last block
//! and sends `message_delta` (stop reason and usage, from the usage chunk) and `message_stop`.
//! Only choice 0 is relayed, and at most [`MAX_TOOL_CALLS`] tool calls.

use std::io::Write;

use serde_json::json;

use super::error_type;
use super::response::{message_id, stop_reason, tool_use_id, Tokens};
use crate::error::Error;
use crate::server::errors::failure_of;
use crate::types::{ChatCompletionChunk, ToolCallDelta};

/// Tool calls relayed per answer; further calls are dropped (bounds the writer's state).
pub(super) const MAX_TOOL_CALLS: usize = 256;

/// The kind of a content block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
    Tool,
}

/// The content block being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Open {
    kind: Block,
    index: u32,
}

/// Turns one stream's chunks into Anthropic's events.
#[derive(Debug)]
pub(super) struct EventWriter {
    /// The requested model, named when no chunk does.
    model: String,
    started: bool,
    /// Content blocks opened so far.
    blocks: u32,
    open: Option<Open>,
    /// (upstream tool-call index, block index) of each tool call.
    tools: Vec<(u32, u32)>,
    finish_reason: Option<String>,
    tokens: Option<Tokens>,
}

/// Writes `event: NAME` and the start of the data line.
fn event(out: &mut Vec<u8>, name: &str) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
}

/// Writes `s` as a JSON string.
fn string(out: &mut Vec<u8>, s: &str) {
    // Serialising a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes a number.
fn number(out: &mut Vec<u8>, n: u32) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// A `content_block_delta` event of `kind` whose `field` is `text`.
fn block_delta(out: &mut Vec<u8>, index: u32, kind: &str, field: &str, text: &str) {
    event(out, "content_block_delta");
    out.extend_from_slice(b"{\"type\":\"content_block_delta\",\"index\":");
    number(out, index);
    out.extend_from_slice(b",\"delta\":{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"");
    out.extend_from_slice(field.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, text);
    out.extend_from_slice(b"}}\n\n");
}

impl EventWriter {
    /// A writer for a stream the client asked of `model`.
    pub(super) fn new(model: &str) -> Self {
        EventWriter {
            model: model.to_owned(),
            started: false,
            blocks: 0,
            open: None,
            tools: Vec::new(),
            finish_reason: None,
            tokens: None,
        }
    }

    /// Writes the events of one chunk.
    pub(super) fn chunk(&mut self, chunk: &ChatCompletionChunk, out: &mut Vec<u8>) {
        if !self.started {
            self.start(&chunk.id, &chunk.model, out);
        }
        if let Some(usage) = &chunk.usage {
            self.tokens = Some(Tokens::of(usage));
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else {
            return;
        };
        let delta = &choice.delta;
        if let Some(thinking) = delta.reasoning_content.as_deref().filter(|t| !t.is_empty()) {
            let index = self.block(Block::Thinking, out);
            block_delta(out, index, "thinking_delta", "thinking", thinking);
        }
        for text in [&delta.content, &delta.refusal].into_iter().flatten() {
            if !text.is_empty() {
                let index = self.block(Block::Text, out);
                block_delta(out, index, "text_delta", "text", text);
            }
        }
        for call in delta.tool_calls.iter().flatten() {
            self.tool_call(call, out);
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
    }

    /// Writes the closing events of a stream that ended cleanly.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            self.start("", "", out);
        }
        self.close(out);
        let stop = stop_reason(self.finish_reason.as_deref(), !self.tools.is_empty());
        event(out, "message_delta");
        out.extend_from_slice(b"{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"");
        out.extend_from_slice(stop.as_bytes());
        out.extend_from_slice(b"\",\"stop_sequence\":null},\"usage\":");
        let usage = self.tokens.unwrap_or_default().to_json();
        out.extend_from_slice(usage.to_string().as_bytes());
        out.extend_from_slice(b"}\n\n");
        event(out, "message_stop");
        out.extend_from_slice(b"{\"type\":\"message_stop\"}\n\n");
    }

    /// Writes the `error` event of a stream that broke.
    pub(super) fn fail(&mut self, err: &Error, out: &mut Vec<u8>) {
        let kind = error_type(failure_of(err).status);
        let body = json!({"type": "error", "error": {"type": kind, "message": err.message()}});
        event(out, "error");
        out.extend_from_slice(body.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    /// Writes `message_start`.
    fn start(&mut self, id: &str, model: &str, out: &mut Vec<u8>) {
        self.started = true;
        let model = if model.is_empty() { &self.model } else { model };
        let start = json!({"type": "message_start", "message": {
            "id": message_id(id), "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }});
        event(out, "message_start");
        out.extend_from_slice(start.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    /// The index of the open block of `kind` (thinking or text), opening one when needed.
    fn block(&mut self, kind: Block, out: &mut Vec<u8>) -> u32 {
        if let Some(open) = self.open.filter(|open| open.kind == kind) {
            return open.index;
        }
        self.close(out);
        let index = self.next_index();
        event(out, "content_block_start");
        out.extend_from_slice(b"{\"type\":\"content_block_start\",\"index\":");
        number(out, index);
        match kind {
            Block::Thinking => {
                out.extend_from_slice(
                    b",\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
                );
            }
            _ => out.extend_from_slice(b",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"),
        }
        self.open = Some(Open { kind, index });
        index
    }

    /// Writes a tool call's fragment: opens its `tool_use` block on its first fragment, then
    /// relays its argument fragments as `input_json_delta`.
    fn tool_call(&mut self, call: &ToolCallDelta, out: &mut Vec<u8>) {
        let function = call.function.as_ref();
        let index = match self.tools.iter().rev().find(|(upstream, _)| *upstream == call.index) {
            Some(&(_, index)) => index,
            None if self.tools.len() >= MAX_TOOL_CALLS => return,
            None => {
                self.close(out);
                let index = self.next_index();
                let id = call.id.clone().filter(|id| !id.is_empty()).unwrap_or_else(tool_use_id);
                let name = function.and_then(|f| f.name.as_deref()).unwrap_or("");
                event(out, "content_block_start");
                out.extend_from_slice(b"{\"type\":\"content_block_start\",\"index\":");
                number(out, index);
                out.extend_from_slice(b",\"content_block\":{\"type\":\"tool_use\",\"id\":");
                string(out, &id);
                out.extend_from_slice(b",\"name\":");
                string(out, name);
                out.extend_from_slice(b",\"input\":{}}}\n\n");
                self.open = Some(Open {
                    kind: Block::Tool,
                    index,
                });
                self.tools.push((call.index, index));
                index
            }
        };
        if let Some(arguments) = function.and_then(|f| f.arguments.as_deref()).filter(|a| !a.is_empty()) {
            block_delta(out, index, "input_json_delta", "partial_json", arguments);
        }
    }

    /// Closes the open block, if any.
    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some(open) = self.open.take() {
            event(out, "content_block_stop");
            out.extend_from_slice(b"{\"type\":\"content_block_stop\",\"index\":");
            number(out, open.index);
            out.extend_from_slice(b"}\n\n");
        }
    }

    fn next_index(&mut self) -> u32 {
        let index = self.blocks;
        self.blocks = self.blocks.saturating_add(1);
        index
    }
}
