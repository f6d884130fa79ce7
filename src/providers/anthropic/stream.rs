//! Messages API event stream -> OpenAI-shaped chunks.
//!
//! | Anthropic event | chunks pushed |
//! |---|---|
//! | `message_start` | one with `role: assistant` and empty content (id, model and input usage are kept) |
//! | `content_block_start` `tool_use` | one `tool_calls` delta with the call's index, id, name and `""` arguments |
//! | `content_block_start` `text`/`thinking` | one with the block's initial text, only when it is not empty |
//! | `content_block_delta` `text_delta` | `content` |
//! | `content_block_delta` `input_json_delta` | `tool_calls` arguments fragment for the block's call |
//! | `content_block_delta` `thinking_delta` | `reasoning_content` |
//! | `message_delta` | one with the mapped `finish_reason` (usage counts are updated) |
//! | `message_stop` | the usage chunk (no choices, `usage` set, as OpenAI's `include_usage`) |
//! | `ping`, `content_block_stop`, `signature_delta`, server tool blocks, unknown events | nothing |
//! | `error` | an `Err` mapped from Anthropic's error type |
//!
//! Tool-call indices count `tool_use` blocks only (0, 1, ...), not content block positions.

use std::collections::{HashMap, VecDeque};

use serde_json::Value;

use super::error_from_event;
use super::response::{finish_reason, unix_now, Tokens};
use crate::error::{Error, Kind, Result};
use crate::providers::adapter::StreamTranslator;
use crate::sse::Event;
use crate::types::{ChatCompletionChunk, FunctionCallDelta, StreamChoice, StreamDelta, ToolCallDelta};

/// Translation state of one Messages API stream.
#[derive(Debug, Clone)]
pub struct StreamState {
    id: String,
    model: String,
    created: i64,
    tokens: Tokens,
    /// Tool-call index of each content block that is a `tool_use`, by block index (a map, so
    /// a stream of many tool calls costs constant time per delta).
    tool_blocks: HashMap<u64, u32>,
    tool_count: u32,
    finished: bool,
}

impl Default for StreamState {
    fn default() -> Self {
        Self::new()
    }
}

fn broken(why: impl std::fmt::Display) -> Error {
    Error::new(Kind::Streaming, format!("undecodable Anthropic stream event: {why}"))
}

impl StreamState {
    /// A state for a new stream.
    pub fn new() -> Self {
        StreamState {
            id: String::new(),
            model: String::new(),
            created: unix_now(),
            tokens: Tokens::default(),
            tool_blocks: HashMap::new(),
            tool_count: 0,
            finished: false,
        }
    }

    fn block_start(&mut self, index: u64, block: &Value, out: &mut VecDeque<ChatCompletionChunk>) {
        let text = |key: &str| block.get(key).and_then(Value::as_str).filter(|t| !t.is_empty());
        match block.get("type").and_then(Value::as_str) {
            Some("text") => {
                if let Some(text) = text("text") {
                    out.push_back(self.text_chunk(text.to_owned()));
                }
            }
            Some("thinking") => {
                if let Some(thinking) = text("thinking") {
                    out.push_back(self.reasoning_chunk(thinking.to_owned()));
                }
            }
            Some("tool_use") => {
                let call = self.tool_count;
                self.tool_count = self.tool_count.saturating_add(1);
                self.tool_blocks.entry(index).or_insert(call);
                let arguments = match block.get("input") {
                    Some(Value::Object(input)) if !input.is_empty() => block["input"].to_string(),
                    _ => String::new(),
                };
                let delta = ToolCallDelta {
                    index: call,
                    id: text("id").map(str::to_owned),
                    r#type: Some("function".to_owned()),
                    function: Some(FunctionCallDelta {
                        name: text("name").map(str::to_owned),
                        arguments: Some(arguments),
                        ..FunctionCallDelta::default()
                    }),
                    ..ToolCallDelta::default()
                };
                out.push_back(self.tool_chunk(delta));
            }
            _ => {}
        }
    }

    fn block_delta(&self, index: u64, delta: &Value, out: &mut VecDeque<ChatCompletionChunk>) {
        let field = |key: &str| delta.get(key).and_then(Value::as_str).unwrap_or("");
        match delta.get("type").and_then(Value::as_str) {
            Some("text_delta") => {
                let text = field("text");
                if !text.is_empty() {
                    out.push_back(self.text_chunk(text.to_owned()));
                }
            }
            Some("thinking_delta") => {
                let thinking = field("thinking");
                if !thinking.is_empty() {
                    out.push_back(self.reasoning_chunk(thinking.to_owned()));
                }
            }
            Some("input_json_delta") => {
                // Input of a server tool (`server_tool_use`, run by Anthropic) is not a tool call
                // for the caller: only `tool_use` blocks have a call index.
                let call = self.tool_blocks.get(&index).copied();
                let partial = field("partial_json");
                if let Some(call) = call.filter(|_| !partial.is_empty()) {
                    let delta = ToolCallDelta {
                        index: call,
                        function: Some(FunctionCallDelta {
                            arguments: Some(partial.to_owned()),
                            ..FunctionCallDelta::default()
                        }),
                        ..ToolCallDelta::default()
                    };
                    out.push_back(self.tool_chunk(delta));
                }
            }
            // signature_delta, citations_delta and later delta types have no OpenAI counterpart.
            _ => {}
        }
    }

    fn chunk(&self, delta: StreamDelta, finish_reason: Option<String>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![StreamChoice {
                index: 0,
                delta,
                finish_reason,
                ..StreamChoice::default()
            }],
            ..ChatCompletionChunk::default()
        }
    }

    fn text_chunk(&self, text: String) -> ChatCompletionChunk {
        self.chunk(
            StreamDelta {
                content: Some(text),
                ..StreamDelta::default()
            },
            None,
        )
    }

    fn reasoning_chunk(&self, text: String) -> ChatCompletionChunk {
        self.chunk(
            StreamDelta {
                reasoning_content: Some(text),
                ..StreamDelta::default()
            },
            None,
        )
    }

    fn tool_chunk(&self, delta: ToolCallDelta) -> ChatCompletionChunk {
        self.chunk(
            StreamDelta {
                tool_calls: Some(vec![delta]),
                ..StreamDelta::default()
            },
            None,
        )
    }
}

impl StreamTranslator for StreamState {
    /// True once `message_stop` was seen: the stream ended cleanly. A stream whose connection
    /// ends before this is truncated, which the caller reports as a `Streaming` error.
    fn finished(&self) -> bool {
        self.finished
    }

    /// Translates one SSE event, pushing zero or more OpenAI-shaped chunks to `out`.
    ///
    /// # Errors
    /// The mapped provider error for an `error` event (e.g. `overloaded_error` is
    /// `ServiceUnavailable`); `Streaming` for data that is not a Messages API event.
    fn on_event(&mut self, event: &Event, out: &mut VecDeque<ChatCompletionChunk>) -> Result<()> {
        if event.data.is_empty() && event.event.as_deref() == Some("ping") {
            return Ok(());
        }
        let data: Value = serde_json::from_str(&event.data).map_err(broken)?;
        let kind = data
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or("");
        match kind {
            "message_start" => {
                let message = data
                    .get("message")
                    .ok_or_else(|| broken("message_start has no message"))?;
                if let Some(id) = message.get("id").and_then(Value::as_str) {
                    id.clone_into(&mut self.id);
                }
                if let Some(model) = message.get("model").and_then(Value::as_str) {
                    model.clone_into(&mut self.model);
                }
                if let Some(usage) = message.get("usage") {
                    self.tokens.update(usage);
                }
                out.push_back(self.chunk(
                    StreamDelta {
                        role: Some("assistant".to_owned()),
                        content: Some(String::new()),
                        ..StreamDelta::default()
                    },
                    None,
                ));
            }
            "content_block_start" => {
                let index = block_index(&data)?;
                let block = data
                    .get("content_block")
                    .ok_or_else(|| broken("content_block_start has no content_block"))?;
                self.block_start(index, block, out);
            }
            "content_block_delta" => {
                let index = block_index(&data)?;
                let delta = data
                    .get("delta")
                    .ok_or_else(|| broken("content_block_delta has no delta"))?;
                self.block_delta(index, delta, out);
            }
            "message_delta" => {
                if let Some(usage) = data.get("usage") {
                    self.tokens.update(usage);
                }
                let stop = data
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str);
                if let Some(stop) = stop {
                    let mut chunk = self.chunk(StreamDelta::default(), Some(finish_reason(stop)));
                    if let Some(sequence) = data.get("delta").and_then(|d| d.get("stop_sequence")) {
                        if !sequence.is_null() {
                            chunk.choices[0]
                                .extra
                                .insert("stop_sequence".to_owned(), sequence.clone());
                        }
                    }
                    out.push_back(chunk);
                }
            }
            "message_stop" => {
                self.finished = true;
                let mut chunk = self.chunk(StreamDelta::default(), None);
                chunk.choices.clear();
                chunk.usage = Some(self.tokens.usage());
                out.push_back(chunk);
            }
            "error" => return Err(error_from_event(data)),
            // ping, content_block_stop and event types added later carry nothing to forward.
            _ => {}
        }
        Ok(())
    }
}

fn block_index(data: &Value) -> Result<u64> {
    data.get("index")
        .and_then(Value::as_u64)
        .ok_or_else(|| broken("a content block event has no index"))
}
