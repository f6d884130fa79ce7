//! One adapter per wire protocol, behind one trait: everything the client needs to know to
//! speak a protocol (the body and path it sends, the headers and query it always adds, how its
//! answers, stream events, errors and model lists read) and nothing about retries, limits or
//! accounting, which the pipeline (`client`) does once for all of them.
//!
//! Adding a protocol is a new folder under `providers/` with a type implementing [`Adapter`],
//! a `Protocol` variant in the registry and its line in [`of`].

use std::collections::VecDeque;
use std::fmt;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::{Map, Value};

use crate::client::relay::Relayed;
use crate::error::{Error, Kind, Result};
use crate::providers::registry::{Endpoint, Protocol};
use crate::sse::Event;
use crate::types::{ChatCompletionChunk, ChatCompletionResponse, EmbeddingResponse, ModelsListResponse};

/// What a call is sent as, besides its body: the model on the wire, whether it streams, and
/// the client's settings some protocols need.
#[derive(Clone, Copy, Debug)]
pub struct Wire<'a> {
    /// The model name on the wire (provider prefix stripped).
    pub model: &'a str,
    /// Whether the answer is a stream.
    pub stream: bool,
    /// Azure OpenAI's `api-version`.
    pub api_version: &'a str,
}

/// A request body in a protocol's format, and the path it goes to when the body decides it.
#[derive(Debug)]
pub struct Encoded {
    /// The body.
    pub body: Vec<u8>,
    /// The path below the provider's base, when the body decides it (Gemini embeddings).
    pub path: Option<String>,
}

/// Turns a native stream's events into OpenAI-shaped chunks.
pub trait StreamTranslator: Send + fmt::Debug {
    /// Translates one event into `out`.
    ///
    /// # Errors
    /// The provider's error for an error event; `Streaming` for an event that cannot be read.
    fn on_event(&mut self, event: &Event, out: &mut VecDeque<ChatCompletionChunk>) -> Result<()>;

    /// Whether the stream's finishing event was seen (such streams may close without `[DONE]`).
    fn finished(&self) -> bool;
}

/// How one wire protocol is spoken. The defaults are OpenAI's.
pub trait Adapter: Send + Sync + fmt::Debug {
    /// Whether every body is re-encoded (a native format), not only those whose model name or
    /// parameters a provider changes.
    fn native_body(&self) -> bool {
        false
    }

    /// The body for `endpoint` from the OpenAI-shaped body (model already set for the wire).
    ///
    /// # Errors
    /// `InvalidArgument` or `Serialization` for bodies the protocol cannot express.
    fn encode(&self, _endpoint: Endpoint, body: &Map<String, Value>, _wire: Wire<'_>) -> Result<Encoded> {
        let body = serde_json::to_vec(body).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
        Ok(Encoded { body, path: None })
    }

    /// The chat path when it does not depend on the model, so it can be built once per provider.
    fn fixed_chat_path(&self) -> Option<&'static str> {
        Some("chat/completions")
    }

    /// The path below the provider's base of a chat or embeddings call.
    ///
    /// # Errors
    /// `InvalidArgument` for a model that cannot go into a URL path.
    fn path(&self, endpoint: Endpoint, _wire: Wire<'_>) -> Result<String> {
        Ok(match endpoint {
            Endpoint::Embeddings => "embeddings",
            _ => "chat/completions",
        }
        .to_owned())
    }

    /// The path below the provider's base of another endpoint's call (`path` as OpenAI names it).
    ///
    /// # Errors
    /// As [`Adapter::path`].
    fn endpoint_path(&self, _endpoint: Endpoint, path: &str, _wire: Wire<'_>) -> Result<String> {
        Ok(path.to_owned())
    }

    /// Query parameters every call carries (Azure's `api-version`).
    fn query(&self, _wire: Wire<'_>) -> Option<(&'static str, String)> {
        None
    }

    /// Adds the headers this protocol always sends, unless the call set them.
    fn headers(&self, _headers: &mut HeaderMap) {}

    /// Decodes a chat answer.
    ///
    /// # Errors
    /// `Serialization` for a body that is not an answer.
    fn chat_response(&self, body: &[u8], _model: &str) -> Result<ChatCompletionResponse> {
        serde_json::from_slice(body).map_err(|e| {
            Error::new(
                Kind::Serialization,
                format!("the response is not a valid chat completion: {e}"),
            )
        })
    }

    /// A chat answer as OpenAI-shaped JSON text for a relay (the proxy): the body as sent when
    /// it already is one. An adapter that overrides [`Adapter::chat_response`] overrides this
    /// too, to translate.
    ///
    /// # Errors
    /// As [`Adapter::chat_response`].
    fn chat_relay(&self, body: Bytes, model: &str) -> Result<Relayed> {
        match Relayed::raw(body.clone()) {
            Some(relayed) => Ok(relayed),
            // Not an answer: the typed decoder says why (or, lenient, reads it after all).
            None => Relayed::typed(self.chat_response(&body, model)?),
        }
    }

    /// Decodes an embeddings answer.
    ///
    /// # Errors
    /// `Serialization` for a body that is not an answer.
    fn embeddings_response(&self, body: &[u8], _model: &str) -> Result<EmbeddingResponse> {
        serde_json::from_slice(body).map_err(|e| {
            Error::new(
                Kind::Serialization,
                format!("the response is not a valid embeddings response: {e}"),
            )
        })
    }

    /// A translator for this protocol's stream events; `None` reads OpenAI chunks as they are.
    fn stream(&self, _model: &str) -> Option<Box<dyn StreamTranslator>> {
        None
    }

    /// The error for a non-success answer (its body already cut and redacted).
    fn error(&self, status: u16, body: &[u8]) -> Error {
        Error::from_response(status, body)
    }

    /// The most inputs one embeddings request may carry, when the protocol limits it.
    fn max_embed_batch(&self) -> Option<usize> {
        None
    }

    /// The query parameter asking for the whole model list in one page, when lists are paged.
    fn models_page(&self) -> Option<(&'static str, &'static str)> {
        None
    }

    /// Decodes a model list into OpenAI's shape.
    ///
    /// # Errors
    /// `Serialization` for a body that is not a model list.
    fn models(&self, body: &[u8]) -> Result<ModelsListResponse> {
        crate::api::parse(body, "model list")
    }
}

/// The adapter of a protocol.
pub fn of(protocol: Protocol) -> &'static dyn Adapter {
    match protocol {
        Protocol::OpenAi => &super::openai::OpenAi,
        Protocol::Azure => &super::azure::Azure,
        Protocol::Anthropic => &super::anthropic::Anthropic,
        Protocol::Gemini => &super::gemini::Gemini,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_model_lists_take_the_openai_shape() {
        let anthropic = br#"{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"Claude",
            "created_at":"2025-02-19T00:00:00Z"}],"has_more":false}"#;
        let r = of(Protocol::Anthropic).models(anthropic).unwrap();
        assert_eq!(r.data[0].id, "claude-sonnet-4-5");
        assert_eq!(r.data[0].created, 1_739_923_200);
        assert_eq!(r.data[0].owned_by, "anthropic");
        assert_eq!(r.data[0].extra["display_name"], "Claude");
        let gemini = br#"{"models":[{"name":"models/gemini-2.5-flash","displayName":"Gemini"}]}"#;
        let r = of(Protocol::Gemini).models(gemini).unwrap();
        assert_eq!(
            (r.data[0].id.as_str(), r.data[0].object.as_str()),
            ("gemini-2.5-flash", "model")
        );
    }
}
