//! The Gemini `generateContent` protocol as an [`Adapter`].

use bytes::Bytes;
use serde_json::{Map, Value};

use super::{
    chat_path, chat_request, chat_response, embed_request, embed_response, error_from_response, StreamState,
    MAX_BATCH_EMBED,
};
use crate::client::relay::Relayed;
use crate::error::{Error, Kind, Result};
use crate::providers::adapter::{Adapter, Encoded, StreamTranslator, Wire};
use crate::providers::model_list;
use crate::providers::registry::Endpoint;
use crate::types::{ChatCompletionResponse, EmbeddingResponse, ModelsListResponse};

/// Google Gemini (`models/{model}:generateContent`, `:streamGenerateContent?alt=sse`,
/// `:embedContent` / `:batchEmbedContents`).
#[derive(Debug)]
pub struct Gemini;

impl Adapter for Gemini {
    fn native_body(&self) -> bool {
        true
    }

    fn encode(&self, endpoint: Endpoint, body: &Map<String, Value>, wire: Wire<'_>) -> Result<Encoded> {
        Ok(match endpoint {
            Endpoint::Chat => Encoded {
                body: chat_request(body)?,
                path: None,
            },
            _ => {
                let (path, body) = embed_request(body, wire.model)?;
                Encoded { body, path: Some(path) }
            }
        })
    }

    fn fixed_chat_path(&self) -> Option<&'static str> {
        None
    }

    fn path(&self, endpoint: Endpoint, wire: Wire<'_>) -> Result<String> {
        match endpoint {
            Endpoint::Chat => chat_path(wire.model, wire.stream),
            // The embeddings path depends on the input count: `encode` gives it.
            _ => Err(Error::new(Kind::InvalidArgument, "Gemini embeddings need their body")),
        }
    }

    fn chat_response(&self, body: &[u8], model: &str) -> Result<ChatCompletionResponse> {
        chat_response(body, model)
    }

    fn chat_relay(&self, body: Bytes, model: &str) -> Result<Relayed> {
        Relayed::typed(self.chat_response(&body, model)?)
    }

    fn embeddings_response(&self, body: &[u8], model: &str) -> Result<EmbeddingResponse> {
        embed_response(body, model)
    }

    fn stream(&self, model: &str) -> Option<Box<dyn StreamTranslator>> {
        Some(Box::new(StreamState::new(model)))
    }

    fn error(&self, status: u16, body: &[u8]) -> Error {
        error_from_response(status, body)
    }

    fn max_embed_batch(&self) -> Option<usize> {
        Some(MAX_BATCH_EMBED)
    }

    fn models_page(&self) -> Option<(&'static str, &'static str)> {
        // Lists are paged (50 by default); ask for everything at once.
        Some(("pageSize", "1000"))
    }

    fn models(&self, body: &[u8]) -> Result<ModelsListResponse> {
        model_list(body, "models", "google", |m| {
            let name = m.get("name").and_then(Value::as_str).unwrap_or_default();
            (name.strip_prefix("models/").unwrap_or(name).to_owned(), 0)
        })
    }
}
