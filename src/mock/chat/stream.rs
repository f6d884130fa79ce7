//! A streamed chat completion as pre-serialised SSE events: role chunk, content chunks (with
//! logprobs), finish and usage chunks and `[DONE]`, or a cut or `{"error": ...}` end as a
//! [`StreamPlan`] scripts.

use std::borrow::Cow;
use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use serde_json::{json, Value};

use super::document::{call_id, usage_json, Envelope, FINGERPRINT};
use super::request::ChatRequest;
use crate::mock::faults::error_event_object;
use crate::mock::logprobs;
use crate::mock::reply::Reply;
use crate::mock::tool_call::Call;

/// How a stream ends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEnd {
    /// Finish chunk, optional usage chunk, `[DONE]`.
    Complete,
    /// Stop after the content chunks and drop the connection.
    Cut,
    /// Send an `{"error": ...}` event and end the body cleanly, without `[DONE]`.
    Error(Value),
}

/// What to put in a stream.
#[derive(Debug)]
pub(crate) struct StreamPlan<'a> {
    pub(crate) pieces: Vec<&'a str>,
    /// Number of content pieces to send before the end (all when `None`).
    pub(crate) limit: Option<usize>,
    pub(crate) malformed: bool,
    pub(crate) end: StreamEnd,
}

/// Pre-serialised SSE events, concatenated in one buffer with the end offset of each event.
#[derive(Debug)]
pub(crate) struct Events {
    pub(crate) data: Bytes,
    pub(crate) ends: Vec<usize>,
}

struct EventWriter {
    buf: BytesMut,
    ends: Vec<usize>,
}

impl EventWriter {
    fn push(&mut self, parts: &[&[u8]]) {
        self.buf.put_slice(b"data: ");
        for part in parts {
            self.buf.put_slice(part);
        }
        self.buf.put_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }
}

/// Builds every SSE event of a streamed completion.
pub(crate) fn stream_events(
    env: &Envelope<'_>,
    req: &ChatRequest,
    reply: &Reply,
    calls: &[Call],
    plan: &StreamPlan<'_>,
) -> Events {
    let model = serde_json::to_string(env.model).unwrap_or_else(|_| "\"mock\"".to_owned());
    let mut prefix = String::with_capacity(160);
    let _ = write!(
        prefix,
        "{{\"id\":\"{}\",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":{model},\
         \"service_tier\":\"default\",\"system_fingerprint\":\"{FINGERPRINT}\",\"choices\":[",
        env.id, env.created
    );
    let suffix: &[u8] = if req.include_usage { b"],\"usage\":null}" } else { b"]}" };
    let sent = plan.limit.map_or(plan.pieces.len(), |l| l.min(plan.pieces.len()));
    let approx = (prefix.len() + 110) * req.n * (sent + 3) + reply.text.len() * req.n + 256;
    let mut w = EventWriter {
        buf: BytesMut::with_capacity(approx),
        ends: Vec::with_capacity(req.n * (sent + 3) + 2),
    };
    let p = prefix.as_bytes();
    let heads: Vec<Vec<u8>> = (0..req.n)
        .map(|i| format!("{{\"index\":{i},\"delta\":").into_bytes())
        .collect();

    for head in &heads {
        w.push(&[
            p,
            head,
            b"{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}",
            suffix,
        ]);
    }
    if plan.malformed {
        w.push(&[p, b"{\"index\":0,\"delta\":{\"content\":\"unterminated"]);
    }
    // One delta for every choice.
    let mut each = |delta: &str| {
        for head in &heads {
            w.push(&[
                p,
                head,
                delta.as_bytes(),
                b",\"logprobs\":null,\"finish_reason\":null}",
                suffix,
            ]);
        }
    };
    if let Some(reasoning) = req.reasoning {
        each(&json!({ "reasoning_content": reasoning }).to_string());
    }
    // Each tool call: its id and name, then its arguments, as OpenAI streams them.
    for (i, call) in calls.iter().enumerate() {
        let opening = json!({"tool_calls": [{
            "index": i,
            "id": call_id(env, i),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }]})
        .to_string();
        let arguments =
            json!({"tool_calls": [{"index": i, "function": {"arguments": call.arguments.to_string()}}]}).to_string();
        each(&opening);
        each(&arguments);
    }
    let mut position = 0;
    for piece in &plan.pieces[..sent] {
        let escaped = serde_json::to_string(piece).unwrap_or_default();
        let tail = match req.logprobs {
            None => Cow::Borrowed(&b"},\"logprobs\":null,\"finish_reason\":null}"[..]),
            Some(top) => {
                let (content, next) = logprobs::content(piece, top, position);
                position = next;
                let doc = json!({ "content": content, "refusal": null });
                Cow::Owned(format!("}},\"logprobs\":{doc},\"finish_reason\":null}}").into_bytes())
            }
        };
        for head in &heads {
            w.push(&[p, head, b"{\"content\":", escaped.as_bytes(), &tail, suffix]);
        }
    }
    match &plan.end {
        StreamEnd::Complete => {
            let finish = format!("{{}},\"logprobs\":null,\"finish_reason\":\"{}\"}}", reply.finish_reason);
            for head in &heads {
                w.push(&[p, head, finish.as_bytes(), suffix]);
            }
            if req.include_usage {
                let usage = usage_json(req, reply);
                let usage = serde_json::to_string(&usage).unwrap_or_default();
                w.push(&[p, b"],\"usage\":", usage.as_bytes(), b"}"]);
            }
            w.buf.put_slice(b"data: [DONE]\n\n");
            w.ends.push(w.buf.len());
        }
        StreamEnd::Cut => {}
        StreamEnd::Error(value) => {
            let doc = json!({ "error": error_event_object(value) });
            let doc = serde_json::to_string(&doc).unwrap_or_default();
            w.push(&[doc.as_bytes()]);
        }
    }
    Events {
        data: w.buf.freeze(),
        ends: w.ends,
    }
}
