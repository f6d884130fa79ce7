//! Anthropic Messages API translation (`POST /v1/messages`).
//!
//! * [`chat_request`] turns an OpenAI-shaped chat body into a Messages API body (the mapping
//!   rules are under *Request* below).
//! * [`chat_response`] turns a Messages API answer into a [`ChatCompletionResponse`](crate::types::ChatCompletionResponse).
//! * [`StreamState`] turns the Messages API event stream into [`ChatCompletionChunk`](crate::types::ChatCompletionChunk)s.
//! * [`error_from_response`] maps an error answer to an [`Error`] of the right [`Kind`].
//!
//! # Request
//!
//! * `system` and `developer` messages, wherever they appear, are gathered in order into the
//!   top-level `system`: a plain string when there is exactly one text without `cache_control`,
//!   otherwise a list of text blocks.
//! * Consecutive messages of the same role are merged into one turn (Anthropic wants user and
//!   assistant turns to alternate). `tool` messages become `tool_result` blocks of a user turn, so
//!   consecutive tool results (and a user message right after them) share one user turn.
//! * Content parts: `text`; `image_url` with an `http(s)` URL becomes an image with a `url`
//!   source, a `data:` URL a `base64` source (a PDF data URL becomes a `document`); `file` parts
//!   with `file_data` (a PDF or image data URL) become `document`/`image` blocks and a `file_id`
//!   a `document` with a `file` source. Parts already in Anthropic's shape (`image`, `document`,
//!   `tool_result`, ...) pass unchanged, and `cache_control` on a part (or on a message, applied
//!   to its last block) is kept. Empty text parts are dropped; a turn left empty is dropped.
//! * Assistant `tool_calls` become `tool_use` blocks (the JSON `arguments` string is parsed into
//!   `input`; invalid JSON is an `InvalidArgument` error). An assistant `thinking_blocks` list
//!   (Anthropic blocks, as returned by [`chat_response`] in the message's extra fields) is put
//!   first, so signed thinking survives a tool-use round trip.
//! * `max_completion_tokens` (else `max_tokens`, else [`DEFAULT_MAX_TOKENS`]) becomes the
//!   required `max_tokens`.
//! * `temperature`, `top_p`, `top_k`, `stream` and `model` pass unchanged; `stop` (string or
//!   list) becomes `stop_sequences`; `user` becomes `metadata.user_id` (of an OpenAI `metadata`
//!   object only `user_id` is kept, as Anthropic accepts nothing else there).
//! * Tools of type `function` become `{name, description, input_schema}` (`parameters`, or an
//!   empty object schema); other tools (Anthropic's own, already in its shape) pass unchanged.
//!   `tool_choice` `auto`/`none`/`required`/named function become `auto`/`none`/`any`/`tool`;
//!   `parallel_tool_calls: false` sets `disable_parallel_tool_use` (with `auto` when no choice was
//!   given).
//! * `reasoning_effort` becomes `thinking: {"type": "enabled", "budget_tokens": B}` with B =
//!   1024 (`minimal`, `low`), 2048 (`medium`), 4096 (`high`); `none` sends no thinking. When the
//!   request gives no token limit, `max_tokens` becomes `B + DEFAULT_MAX_TOKENS` so the answer
//!   still has room after thinking; an explicit limit that does not exceed B is an
//!   `InvalidArgument` error (Anthropic requires `max_tokens > budget_tokens`). A `thinking`
//!   object given by the caller passes unchanged and wins over `reasoning_effort`.
//! * OpenAI-only keys: `n` other than 1, `logprobs: true`, `top_logprobs`, and a
//!   `response_format` other than `text` are `InvalidArgument` errors (Anthropic has no
//!   equivalent; ask for JSON in the prompt or use a forced tool instead). `stream_options`,
//!   `seed`, `frequency_penalty`, `presence_penalty`, `logit_bias`, `store`, `modalities`,
//!   `prompt_cache_key`, `safety_identifier`, `verbosity`, `parallel_tool_calls`, `logprobs: false`
//!   and `response_format: text` are dropped; `service_tier` passes only with Anthropic's values
//!   (`auto`, `standard_only`). Every other key passes unchanged, so provider-specific parameters
//!   can be sent as extra keys.
//!
//! # Response
//!
//! Text blocks are concatenated into `content`; `tool_use` blocks become `tool_calls` (the input
//! serialised as the arguments string); `thinking` text goes to `reasoning_content` and the raw
//! thinking blocks (with their signatures) to the message's extra `thinking_blocks`.
//! `stop_reason` maps `end_turn`/`stop_sequence`/`pause_turn` to `stop`, `max_tokens` and
//! `model_context_window_exceeded` to `length`, `tool_use` to `tool_calls` and `refusal` to
//! `content_filter` (others pass unchanged); the matched `stop_sequence`, when there is one, is
//! kept in the choice's extra fields. Usage: `prompt_tokens` is `input_tokens +
//! cache_read_input_tokens + cache_creation_input_tokens` (Anthropic's `input_tokens` counts only
//! the uncached part, OpenAI's `prompt_tokens` counts all of it), `completion_tokens` is
//! `output_tokens`, and `prompt_tokens_details` carries `cached_tokens` (cache reads) and
//! `cache_creation_tokens` (cache writes).
//!
//! # Errors
//!
//! The HTTP status decides as for every provider (see [`crate::error`]), refined by Anthropic's
//! error `type`: `overloaded_error` is `ServiceUnavailable`, `rate_limit_error` `RateLimited`,
//! `authentication_error`/`permission_error` `Authentication`, `not_found_error` `NotFound`,
//! `api_error` `Server`, and an `invalid_request_error`/`request_too_large` whose message says the
//! prompt is too long (or exceeds the context limit) is `ContextWindowExceeded`.

mod adapter;
pub(crate) use adapter::unix_of;
mod request;
mod response;
mod stream;

#[cfg(test)]
mod tests;

use serde_json::Value;

use crate::error::{Error, Kind};

pub use adapter::Anthropic;
pub use request::chat_request;
pub use response::chat_response;
pub use stream::StreamState;

/// Value of the `anthropic-version` header every request must carry.
pub const API_VERSION: &str = "2023-06-01";

/// `max_tokens` sent when the request gives neither `max_tokens` nor `max_completion_tokens`
/// (Anthropic requires one).
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Maps an Anthropic error answer (status and raw body) to an [`Error`], keeping the status, the
/// parsed body and Anthropic's own message.
pub fn error_from_response(status: u16, body: &[u8]) -> Error {
    let err = Error::from_response(status, body);
    let refined = err.body().and_then(|b| refine_kind(b, err.kind()));
    match refined {
        Some(kind) => err.with_kind(kind),
        None => err,
    }
}

/// Maps the data of an `error` stream event (or an error document received with a success
/// status) to an [`Error`]; the status stays unset, the kind follows the error `type`.
pub(crate) fn error_from_event(value: Value) -> Error {
    let err = Error::from_stream_event(value);
    let refined = err.body().and_then(|b| refine_kind(b, err.kind()));
    match refined {
        Some(kind) => err.with_kind(kind),
        None => err,
    }
}

/// The kind Anthropic's error `type` (and message) call for, when it differs from `current`.
fn refine_kind(body: &Value, current: Kind) -> Option<Kind> {
    let error = body.get("error")?;
    let kind_name = error.get("type").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let kind = match kind_name {
        "overloaded_error" | "timeout_error" => Kind::ServiceUnavailable,
        "rate_limit_error" => Kind::RateLimited,
        "authentication_error" | "permission_error" => Kind::Authentication,
        "not_found_error" => Kind::NotFound,
        "api_error" => Kind::Server,
        "invalid_request_error" | "request_too_large" | "billing_error" => {
            if message.contains("prompt is too long")
                || message.contains("exceed context limit")
                || message.contains("context window")
            {
                Kind::ContextWindowExceeded
            } else if message.contains("content filtering") || message.contains("content policy") {
                Kind::ContentPolicy
            } else if matches!(current, Kind::Server | Kind::ServiceUnavailable) {
                // An invalid request is never worth retrying, whatever the status said.
                Kind::BadRequest
            } else {
                return None;
            }
        }
        _ => return None,
    };
    (kind != current).then_some(kind)
}
