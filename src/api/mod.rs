//! OpenAI endpoints beyond chat and embeddings: models, images, audio, moderation, rerank,
//! files, batches and the Responses API.
//!
//! Every call goes through the client's retry loop, rate limiter and error mapping, exactly as
//! chat does. A call with a model is routed by it (the `provider/` prefix is stripped on the
//! wire); a call without one (files, batches, retrieving a response) goes to the client's own
//! provider. A provider lacking the endpoint family fails with `EndpointNotSupported` before
//! anything is sent. Uploads keep the file in memory as [`Bytes`] and rebuild the multipart form
//! for every attempt, so a retry always sends the whole body again.
//!
//! With a rate limiter, every call takes a request grant and a concurrency slot for its model
//! (model-less calls count against the global limits only); calls that spend model tokens
//! (speech, moderation, rerank, responses) also reserve a token estimate from their JSON body.
//! A Responses answer reports its usage: the reservation is settled with it, and its tokens and
//! cost go to `client.usage`; the other estimates are kept (no usage to reconcile with).

mod endpoints;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use reqwest::multipart::{Form, Part};
use reqwest::Method;

use std::sync::Arc;

use crate::client::{Client, Metered, Trace};
use crate::deployments::Served;
use crate::error::{Error, Kind, Result};
use crate::http::Chunks;
use crate::providers::registry::Endpoint;
use crate::usage::TokenBreakdown;

pub(crate) use endpoints::segment;
pub use endpoints::{check_id, BatchParams, ListParams};

/// A file to upload as one part of a multipart form, plus the form's text fields.
#[derive(Clone, Debug)]
pub struct Upload {
    /// Text fields, in order, sent before the file.
    pub fields: Vec<(String, String)>,
    /// The file field's name (`file`).
    pub field: String,
    /// The file's bytes, shared by every attempt.
    pub data: Bytes,
    /// The file name sent in the part's `Content-Disposition`.
    pub filename: String,
    /// The part's content type.
    pub content_type: HeaderValue,
}

impl Upload {
    /// A fresh form for one attempt (the file bytes are shared, not copied).
    pub(crate) fn form(&self) -> Form {
        let mut form = Form::new();
        for (name, value) in &self.fields {
            form = form.text(name.clone(), value.clone());
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, self.content_type.clone());
        let len = self.data.len() as u64;
        let part = Part::stream_with_length(self.data.clone(), len)
            .file_name(self.filename.clone())
            .headers(headers);
        form.part(self.field.clone(), part)
    }
}

/// The content type for a file name, from its extension (`application/octet-stream` when
/// unknown).
pub fn content_type_for(filename: &str) -> &'static str {
    let ext = filename.rsplit_once('.').map_or("", |(_, e)| e).to_ascii_lowercase();
    match ext.as_str() {
        "mp3" | "mpeg" | "mpga" => "audio/mpeg",
        "mp4" | "m4a" => "audio/mp4",
        "wav" => "audio/wav",
        "webm" => "audio/webm",
        "ogg" | "oga" => "audio/ogg",
        "flac" => "audio/flac",
        "json" => "application/json",
        "jsonl" => "application/jsonl",
        "txt" => "text/plain",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// The extension of well-known audio formats, recognised by their first bytes.
pub fn sniff_audio(data: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| data.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"RIFF") && at(8, b"WAVE") {
        Some("wav")
    } else if at(0, b"ID3") || (data.len() > 1 && data[0] == 0xFF && data[1] & 0xE0 == 0xE0) {
        Some("mp3")
    } else if at(0, b"fLaC") {
        Some("flac")
    } else if at(0, b"OggS") {
        Some("ogg")
    } else if at(4, b"ftyp") {
        Some("m4a")
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("webm")
    } else {
        None
    }
}

/// What an endpoint call sends.
#[derive(Clone, Debug)]
pub enum Payload {
    /// No body (GET, DELETE, cancellations).
    Empty,
    /// A JSON body, serialised once.
    Json(Bytes),
    /// A multipart upload.
    Form(Upload),
}

/// One call to an endpoint other than chat and embeddings.
#[derive(Clone, Debug)]
pub struct ApiRequest {
    /// The endpoint family, checked against the provider's.
    pub endpoint: Endpoint,
    /// HTTP method.
    pub method: Method,
    /// Path below the base URL, e.g. `images/generations`.
    pub path: String,
    /// Query parameters.
    pub query: Vec<(&'static str, String)>,
    /// The body.
    pub payload: Payload,
    /// The model, for routing; empty for the client's own provider.
    pub model: String,
    /// When `model` is empty: a model whose provider the call goes to, without counting the
    /// call as one of that model's (batch-job calls go to their requests' provider).
    pub via: String,
    /// Per-call headers.
    pub headers: HeaderMap,
    /// The answer is a binary download (`max_download_bytes` caps it instead of
    /// `max_response_bytes`).
    pub download: bool,
    /// Collects every attempt, for callbacks and tracing.
    pub trace: Option<Arc<Trace>>,
    /// See [`crate::client::Request::once`].
    pub once: bool,
}

impl ApiRequest {
    /// A request without body, query or model.
    pub fn new(endpoint: Endpoint, method: Method, path: impl Into<String>) -> Self {
        ApiRequest {
            endpoint,
            method,
            path: path.into(),
            query: Vec::new(),
            payload: Payload::Empty,
            model: String::new(),
            via: String::new(),
            headers: HeaderMap::new(),
            download: false,
            trace: None,
            once: false,
        }
    }
}

/// A successful answer: the body and its content type.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The whole body.
    pub body: Bytes,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
}

impl Answer {
    /// Whether the body is JSON (by content type, or by its first byte when there is none).
    pub fn is_json(&self) -> bool {
        match &self.content_type {
            Some(ct) => ct.contains("json"),
            None => self.body.first().is_some_and(|b| *b == b'{' || *b == b'['),
        }
    }
}

/// An endpoint answer and the usage it reports (Responses API): the tokens and the model that
/// spent them, which prices them.
pub(crate) struct Priced<T> {
    pub value: T,
    pub usage: Option<(String, TokenBreakdown)>,
}

impl<T> Served for Priced<T> {
    fn tokens(&self) -> u64 {
        self.usage.as_ref().map_or(0, |(_, t)| t.total())
    }
}

impl<T> Metered for Priced<T> {
    fn tokens(&self) -> Option<TokenBreakdown> {
        self.usage.as_ref().map(|(_, t)| *t)
    }
    fn price_model(&self) -> Option<&str> {
        self.usage.as_ref().map(|(m, _)| m.as_str())
    }
}

/// Parses a JSON answer into `T`.
///
/// # Errors
/// `Serialization` naming `what` when the body does not fit.
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(body)
        .map_err(|e| Error::new(Kind::Serialization, format!("the response is not a valid {what}: {e}")))
}

impl Client {
    /// Sends an endpoint call with the client's retries and reads the whole answer.
    ///
    /// # Errors
    /// `EndpointNotSupported` when the provider lacks the endpoint (nothing is sent); otherwise
    /// as [`Client::chat`].
    pub async fn api(&self, req: ApiRequest) -> Result<Answer> {
        self.api_metered(req, |body, content_type| {
            Ok(Priced {
                value: Answer {
                    body: body.into_bytes(),
                    content_type,
                },
                usage: None,
            })
        })
        .await
    }

    /// As [`Client::api`], for binary downloads: the body is capped by `max_download_bytes` and
    /// kept in the chunks it arrived in (with its content type), to be copied once into its
    /// final buffer.
    ///
    /// # Errors
    /// As [`Client::api`].
    pub async fn api_chunks(&self, mut req: ApiRequest) -> Result<(Chunks, Option<String>)> {
        req.download = true;
        self.api_metered(req, |body, content_type| {
            Ok(Priced {
                value: (body, content_type),
                usage: None,
            })
        })
        .await
    }

    /// Sends an endpoint call through the pipeline and decodes its answer with `read`, which
    /// also returns the usage the answer reports, if any. Calls without a model are counted in
    /// `client.usage` under their endpoint family (`files`, `batches`...).
    ///
    /// # Errors
    /// As [`Client::api`], and whatever `read` returns.
    pub(crate) async fn api_metered<T: Send>(
        &self,
        req: ApiRequest,
        read: impl Fn(Chunks, Option<String>) -> Result<Priced<T>> + Send + Sync,
    ) -> Result<T> {
        let priced = match self.deployments().filter(|d| d.group(&req.model).is_some()) {
            Some(router) => Box::pin(router.run(self, req, |c, r| c.api_priced(r, &read))).await?,
            None => self.api_priced(req, &read).await?,
        };
        Ok(priced.value)
    }

    /// [`Client::api_metered`] without routing.
    async fn api_priced<T>(
        &self,
        req: ApiRequest,
        read: &impl Fn(Chunks, Option<String>) -> Result<Priced<T>>,
    ) -> Result<Priced<T>> {
        let label = if req.model.is_empty() {
            req.endpoint.describe().to_owned()
        } else {
            req.model.clone()
        };
        let limits = &self.config().limits;
        let cap = if req.download {
            limits.download()
        } else {
            limits.response()
        };
        let call = self.api_call(req);
        self.run(call, label, cap, |_, received| {
            let content_type = received.content_type();
            read(received.body, content_type)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_follow_the_extension_and_audio_is_sniffed() {
        assert_eq!(content_type_for("a/b/talk.MP3"), "audio/mpeg");
        assert_eq!(content_type_for("x.m4a"), "audio/mp4");
        assert_eq!(content_type_for("x.flac"), "audio/flac");
        assert_eq!(content_type_for("batch.jsonl"), "application/jsonl");
        assert_eq!(content_type_for("noext"), "application/octet-stream");
        assert_eq!(sniff_audio(b"RIFF\0\0\0\0WAVEfmt "), Some("wav"));
        assert_eq!(sniff_audio(b"ID3\x04"), Some("mp3"));
        assert_eq!(sniff_audio(b"\0\0\0\x20ftypM4A "), Some("m4a"));
        assert_eq!(sniff_audio(b"hello"), None);
    }
}
