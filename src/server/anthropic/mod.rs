//! Anthropic's Messages API on the proxy (`POST /v1/messages`, `POST /v1/messages/count_tokens`),
//! so Anthropic SDK clients and coding agents can use any configured model: the request is
//! translated to a chat-completions body, sent through the client like any chat call, and the
//! answer (or its stream) is translated back.
//!
//! # Request
//!
//! * `model`, `messages` and `max_tokens` (a positive integer) are required, as Anthropic
//!   requires them (`count_tokens` does not need `max_tokens`); `max_tokens` is sent as is.
//! * `system` (a string or text blocks) becomes the first message, a `system` one.
//! * User content: `text` blocks become text parts; `image` blocks (base64 or URL source) become
//!   `image_url` parts (a base64 source as a data URL); a `document` with a base64 PDF source
//!   becomes a `file` part, one with a text source a text part. `tool_result` blocks become `tool`
//!   messages in their order, ahead of the rest of the turn (tool results answer the assistant
//!   turn before them); their text is the tool message's content, and images in them go to the
//!   user message that follows (`is_error` has no counterpart and is dropped).
//! * Assistant content: text blocks are joined into `content`; `tool_use` blocks become
//!   `tool_calls` (the `input` object as the JSON `arguments` string). Thinking blocks are
//!   dropped, unless the request turns `thinking` on and the block is signed (as Anthropic models
//!   return it): then it goes to the message's `thinking_blocks`, which the Anthropic provider
//!   sends back first so signed thinking survives a tool-use round trip.
//! * `cache_control` and `citations` on blocks are dropped.
//! * `temperature`, `top_p` and `stream` pass unchanged; `stop_sequences` becomes `stop`;
//!   `metadata.user_id` becomes `user`; `tools` (`name`, `description`, `input_schema`) become
//!   function tools; `tool_choice` `auto`/`any`/`tool`/`none` becomes
//!   `auto`/`required`/the named function/`none`, and its `disable_parallel_tool_use: true` sets
//!   `parallel_tool_calls: false`. `thinking` `enabled` with a `budget_tokens` B becomes
//!   `reasoning_effort` `low` (B < 2048), `medium` (B < 4096) or `high`; `adaptive` and
//!   `between_tools` leave the effort to the model; `disabled` sends none.
//!   `output_config.format` (a JSON schema) becomes a `json_schema` `response_format`; its
//!   `effort` is a hint and is dropped.
//! * `top_k`, `service_tier`, `speed`, `inference_geo` (hints not every provider takes),
//!   `context_management`, top-level `cache_control`, `diagnostics`, `user_profile_id` and
//!   `workspace_id` (Anthropic account and cache settings) are dropped. Any other key (such as
//!   `container` or `mcp_servers`), Anthropic's server tools (a tool with a `type`) and content
//!   blocks other than those above are a 400 before anything is sent.
//! * A streamed request also asks for usage (`stream_options.include_usage`).
//!
//! # Answer
//!
//! A `message` whose content is the thinking (the signed blocks an Anthropic model returned,
//! else the reasoning text as one `thinking` block), the text, then one `tool_use` block per tool
//! call (`input` parsed from the arguments; arguments that are not a JSON object give `{}`).
//! `stop_reason`: `stop` is `end_turn` (`stop_sequence`, with the sequence, when an Anthropic
//! model said so), `length` `max_tokens`, `tool_calls` `tool_use`, `content_filter` `refusal`;
//! tool calls make it `tool_use` whatever the upstream said, unless it was `max_tokens`. Usage:
//! `input_tokens` is the prompt tokens less the cached ones, which are
//! `cache_read_input_tokens` (and `cache_creation_input_tokens` when the provider reports
//! writes).
//!
//! # Stream
//!
//! Server-sent events with `event:` lines: `message_start`, then per block
//! `content_block_start`, `content_block_delta` (`thinking_delta`, `text_delta` or
//! `input_json_delta` with the tool call's argument fragments) and `content_block_stop`, then
//! `message_delta` (stop reason and usage) and `message_stop`. An upstream failure mid-stream
//! is an `error` event. Events are written straight to bytes, with no JSON tree per chunk.
//!
//! # Errors
//!
//! Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`, with the status the
//! OpenAI routes would answer (see [`super::errors::failure_of`]) and the error type for it.

mod conversation;
mod request;
mod response;
mod stream;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::admit::{admit, Gate, Held, Spent};
use super::errors::{add_retry_after, failure_of, json_response, set_retry_after};
use super::keys::Refusal;
use super::{AppState, Caller};
use crate::error::Error;
use crate::stream::ChatStream;
use crate::types::ChatCompletionChunk;
use crate::Request;

use request::{translate, Purpose};
use stream::EventWriter;

/// `POST /v1/messages`: answered whole, or as Anthropic's server-sent events when `stream` is
/// true.
pub(crate) async fn messages(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let translated = match translate(&body, Purpose::Create) {
        Ok(translated) => translated,
        Err(why) => return invalid_request(&why),
    };
    let encoded = match serde_json::to_vec(&translated.body) {
        Ok(encoded) => encoded,
        Err(e) => return invalid_request(&e.to_string()),
    };
    let gate = match admit(&state, &state.client, &caller, &translated.model, &encoded).await {
        Ok(gate) => gate,
        Err(refusal) => return refused(&refusal),
    };
    let request = Request {
        body: Bytes::from(encoded),
        model: translated.model.clone(),
        tokens: gate.tokens(),
        ..Request::default()
    };
    if translated.stream {
        return match state.client.chat_stream(request).await {
            Ok(stream) => events(stream, &translated.model, gate),
            Err(err) => from_core(&err),
        };
    }
    match state.client.chat(request).await {
        Ok(answer) => {
            gate.settle(answer.spent()).await;
            json_response(StatusCode::OK, &response::message_of(&answer, &translated.model))
        }
        Err(err) => from_core(&err),
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}` for the translated request (exact for
/// OpenAI-family models, an estimate otherwise; see [`crate::tokens`]).
pub(crate) async fn count_tokens(body: Bytes) -> Response {
    match translate(&body, Purpose::Count) {
        Ok(translated) => {
            let n = crate::tokens::count_request_tokens(&translated.model, &translated.body);
            json_response(StatusCode::OK, &json!({ "input_tokens": n }))
        }
        Err(why) => invalid_request(&why),
    }
}

/// Anthropic's error `type` for an HTTP status.
pub(super) fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// A response with `status` and Anthropic's error body.
fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": error_type(status), "message": message}});
    json_response(status, &body)
}

/// A 400 `invalid_request_error`.
fn invalid_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, message)
}

/// A key's refusal in Anthropic's shape, with its `Retry-After`.
fn refused(refusal: &Refusal) -> Response {
    let mut response = error_response(refusal.status, &refusal.message);
    set_retry_after(&mut response, refusal.retry_after);
    response
}

/// A core error in Anthropic's shape, with the status and `Retry-After` of the OpenAI routes.
fn from_core(err: &Error) -> Response {
    let mut response = error_response(failure_of(err).status, err.message());
    add_retry_after(&mut response, err);
    response
}

/// Where a stream's relay is.
enum Relay {
    Open(Box<ChatStream>, VecDeque<ChatCompletionChunk>, Box<EventWriter>, Held),
    Done,
}

/// A chat stream as Anthropic's events: each read's chunks in one write, the closing events
/// when the upstream ends, an `error` event when it breaks. Backpressure as the OpenAI route:
/// the next read waits until the client has taken the last write.
fn events(stream: ChatStream, model: &str, gate: Gate) -> Response {
    let relay = Relay::Open(
        Box::new(stream),
        VecDeque::new(),
        Box::new(EventWriter::new(model)),
        Held(Some(gate)),
    );
    let body = futures_util::stream::unfold(relay, |relay| async move {
        let Relay::Open(mut stream, mut chunks, mut writer, mut held) = relay else {
            return None;
        };
        let mut out = Vec::with_capacity(256);
        match stream.next_batch(&mut chunks).await {
            Ok(true) => {
                out.reserve(256 * chunks.len());
                for chunk in chunks.drain(..) {
                    writer.chunk(&chunk, &mut out);
                }
                Some((
                    Ok::<_, Infallible>(Bytes::from(out)),
                    Relay::Open(stream, chunks, writer, held),
                ))
            }
            Ok(false) => {
                if let Some(gate) = held.0.take() {
                    gate.settle(stream.spent()).await;
                }
                writer.finish(&mut out);
                Some((Ok(Bytes::from(out)), Relay::Done))
            }
            Err(err) => {
                writer.fail(&err, &mut out);
                Some((Ok(Bytes::from(out)), Relay::Done))
            }
        }
    });
    let mut response = Response::new(Body::from_stream(body));
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("text/event-stream"));
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}
