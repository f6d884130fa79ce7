//! Google Gemini (Generative Language API, `v1beta`) translation.
//!
//! Turns an OpenAI-shaped chat request into a `GenerateContentRequest`, and Gemini's answers
//! (`GenerateContentResponse` bodies, `alt=sse` stream events, `{"error": {...}}` documents,
//! `embedContent` / `batchEmbedContents` answers) back into the OpenAI-shaped types.
//!
//! # Chat request mapping
//!
//! * `system` / `developer` messages (wherever they appear) become `systemInstruction.parts`.
//! * `user` -> role `user`, `assistant` -> role `model`; `tool` (and legacy `function`)
//!   messages become user-role `functionResponse` parts. Consecutive turns of the same role are
//!   merged into one `Content`, as Gemini expects alternating turns (parallel tool results end
//!   up in one turn).
//! * Content parts: `text`; `image_url` with a `data:` URL -> `inlineData`, with any other URL
//!   (`https://`, `gs://`, Files API URIs) -> `fileData` (MIME type guessed from the extension,
//!   left out when unknown); `input_audio` -> `inlineData` `audio/{format}`; `file` with a
//!   `file_data` data URL -> `inlineData`, with a `file_id` -> `fileData`.
//! * Assistant `tool_calls` -> `functionCall` parts (`arguments` parsed; invalid JSON or a
//!   non-object is an `InvalidArgument` error). A tool call's `thought_signature` extra (kept
//!   from an earlier response) is sent back as the part's `thoughtSignature`.
//! * Tool results -> `functionResponse {name, response}`; the name is looked up from the
//!   earlier assistant tool call with the same id (or the message's `name`). A content that is
//!   a JSON object is sent as the `response` itself, anything else as `{"result": text}`.
//! * `generationConfig`: `temperature`, `top_p` -> `topP`, `top_k` -> `topK`,
//!   `max_completion_tokens` (else `max_tokens`) -> `maxOutputTokens`, `stop` ->
//!   `stopSequences`, `n` -> `candidateCount`, `seed`, `presence_penalty` /
//!   `frequency_penalty`, `response_format` (`json_object` -> `responseMimeType:
//!   application/json`; `json_schema` -> that plus `responseSchema`), `reasoning_effort` ->
//!   `thinkingConfig` (see [`thinking_budget`]; any effort but `none` also sets
//!   `includeThoughts`, so thought summaries come back as `reasoning_content`). A `generationConfig` object given by the caller
//!   is merged over the mapped one, key by key.
//! * `tools` of type `function` -> one `{functionDeclarations: [...]}` tool; any other tool
//!   object (e.g. `{"googleSearch": {}}`) is passed through as a Gemini tool.
//! * `tool_choice` `auto` / `none` / `required` / `{"function": {"name"}}` ->
//!   `toolConfig.functionCallingConfig.mode` `AUTO` / `NONE` / `ANY` / `ANY` +
//!   `allowedFunctionNames`.
//! * JSON schemas (response schemas and tool parameters) are reduced to the OpenAPI subset
//!   Gemini's `Schema` accepts: unknown keywords (`additionalProperties`, `$schema`, `strict`,
//!   `$id`, `const`, `examples`, ...) are dropped, local `$ref`s into `$defs` / `definitions`
//!   are inlined, `"type": ["string", "null"]` becomes `type` + `nullable`, and `const`
//!   becomes a one-value `enum`.
//! * Dropped because Gemini has no equivalent and rejects them: `stream`, `stream_options`,
//!   `user`, `logprobs`, `top_logprobs`, `parallel_tool_calls`, `store`, `metadata`,
//!   `service_tier`, `logit_bias`, `prediction`, `safety_identifier`, `prompt_cache_key`.
//! * Every other key is passed through at the top level, so Gemini-specific parameters
//!   (`safetySettings`, `cachedContent`, `labels`, ...) can be sent as they are.
//!
//! # Response mapping
//!
//! Candidates become choices; text parts are concatenated into `content` (parts marked
//! `thought: true` into `reasoning_content`); `functionCall` parts become `tool_calls` (id from
//! the part, else a generated `call_...`). `finishReason` `STOP` -> `stop` (`tool_calls` when the
//! candidate called functions), `MAX_TOKENS` -> `length`, `SAFETY` / `RECITATION` /
//! `BLOCKLIST` / `PROHIBITED_CONTENT` / `SPII` / `IMAGE_SAFETY` -> `content_filter`, anything
//! else -> `stop`; the original value is kept in the choice's `native_finish_reason` extra.
//! Usage: `promptTokenCount` -> `prompt_tokens`, `candidatesTokenCount + thoughtsTokenCount` ->
//! `completion_tokens`, `totalTokenCount` -> `total_tokens`, `cachedContentTokenCount` ->
//! `prompt_tokens_details.cached_tokens`, `thoughtsTokenCount` ->
//! `completion_tokens_details.reasoning_tokens`.
//!
//! A prompt blocked by `promptFeedback.blockReason`, or an answer whose every candidate stopped
//! for a safety reason without producing anything, is a [`Kind::ContentPolicy`](crate::error::Kind::ContentPolicy) error.

mod adapter;
mod embed;
mod request;
mod response;
mod schema;
mod stream;

#[cfg(test)]
mod tests;

pub use adapter::Gemini;
pub use embed::{embed_request, embed_response, MAX_BATCH_EMBED};
pub use request::{chat_request, thinking_budget};
pub use response::{chat_response, error_from_response};
pub use stream::StreamState;

/// URL path, relative to the API base URL (e.g. `https://generativelanguage.googleapis.com/v1beta`),
/// of a chat call: `models/{model}:generateContent`, or
/// `models/{model}:streamGenerateContent?alt=sse` when `stream` is set. A model already given
/// as a resource name (`models/...`, `tunedModels/...`) is used as is.
///
/// # Errors
/// `InvalidArgument` for a model name with a `.` or `..` path segment.
pub fn chat_path(model: &str, stream: bool) -> crate::error::Result<String> {
    let name = resource_name(model);
    let name = crate::providers::path_escape(&name)?;
    Ok(if stream {
        format!("{name}:streamGenerateContent?alt=sse")
    } else {
        format!("{name}:generateContent")
    })
}

/// `models/{model}` unless `model` already names a resource.
pub(crate) fn resource_name(model: &str) -> String {
    if model.starts_with("models/") || model.starts_with("tunedModels/") {
        model.to_owned()
    } else {
        format!("models/{model}")
    }
}
