//! Stage 1 of the pipeline: routing a request to its provider and building what it sends.
//!
//! Chat and embeddings carry an OpenAI-shaped JSON body that the provider's adapter may
//! re-encode (a native protocol, a renamed model, renamed or rejected parameters); the other
//! endpoints (`api::ApiRequest`) carry a path, a query and a JSON or multipart payload. Both
//! share the same checks (the provider serves the endpoint, has a key and a base URL) and the
//! same finish (the protocol's query and headers, then the key).

use std::sync::Arc;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{Map, Value};

use super::{Client, Request};
use crate::api::{ApiRequest, Payload, Upload};
use crate::error::{Error, Kind, Result};
use crate::providers::adapter::Wire;
use crate::providers::registry::Endpoint;
use crate::providers::route::Target;

/// A call made ready for its provider: where it goes and the body it sends.
pub(crate) struct Call {
    pub(crate) target: Arc<Target>,
    pub(crate) url: reqwest::Url,
    pub(crate) request: Request,
    /// The OpenAI-shaped body as the caller gave it (token estimates count this one; empty for
    /// calls that spend no model tokens).
    pub(crate) source: Bytes,
    /// The model name on the wire.
    pub(crate) model: String,
    /// HTTP method (POST for chat and embeddings).
    pub(crate) method: Method,
    /// A multipart upload sent instead of `request.body`; its form is rebuilt for every attempt
    /// from the bytes kept in memory.
    pub(crate) upload: Option<Arc<Upload>>,
}

/// The provider a request goes to, checked for the endpoint.
struct Routed {
    target: Arc<Target>,
    /// The model name on the wire (the `provider/` prefix stripped).
    model: String,
}

impl Client {
    /// Routes `model`'s request for `endpoint`: the provider must serve the endpoint and have
    /// its key and base URL. Errors carry the provider and `model`.
    fn route_to(&self, model: &str, endpoint: Endpoint) -> Result<Routed> {
        let route = self.router.route(model);
        let target = Arc::clone(route.target);
        let context = |e: Error| e.with_context(target.name(), Some(model).filter(|m| !m.is_empty()));
        if !target.provider.supports(endpoint) {
            return Err(context(target.provider.unsupported(endpoint.describe())));
        }
        target.check_key().map_err(context)?;
        if target.base.is_empty() {
            return Err(context(Error::new(
                Kind::InvalidArgument,
                format!("provider {:?} needs a base_url (or AZURE_API_BASE)", target.name()),
            )));
        }
        Ok(Routed {
            model: route.model.to_owned(),
            target,
        })
    }

    /// The provider `model`'s chat requests go to (it must have its key and base URL).
    pub(crate) fn chat_target(&self, model: &str) -> Result<Arc<Target>> {
        self.route_to(model, Endpoint::Chat).map(|r| r.target)
    }

    /// What the adapter needs to know of a call besides its body.
    fn wire<'a>(&'a self, model: &'a str, stream: bool) -> Wire<'a> {
        Wire {
            model,
            stream,
            api_version: &self.router.azure_api_version,
        }
    }

    /// Adds the protocol's query and headers, then the key, to a call's URL and headers.
    fn finish(target: &Target, wire: Wire<'_>, url: &mut reqwest::Url, headers: &mut HeaderMap) {
        let adapter = target.adapter();
        if let Some((name, value)) = adapter.query(wire) {
            url.query_pairs_mut().append_pair(name, &value);
        }
        adapter.headers(headers);
        target.authorize(url, headers);
    }

    /// Routes a chat or embeddings request and builds its URL and body.
    pub(crate) fn model_call(&self, mut request: Request, endpoint: Endpoint, stream: bool) -> Result<Call> {
        let Routed { target, model } = self.route_to(&request.model, endpoint)?;
        let context = |e: Error| e.with_context(target.name(), Some(&request.model));
        let wire = self.wire(&model, stream);
        let adapter = target.adapter();
        let provider = &target.provider;
        let source = request.body.clone();
        let rewrite = (model.len() != request.model.len() && !request.aimed)
            || adapter.native_body()
            || !provider.renames.is_empty()
            || !provider.rejects.is_empty();
        let mut path = None;
        if rewrite {
            let mut body = json_object(&request.body)?;
            body.insert("model".to_owned(), Value::String(model.clone()));
            for (from, to) in &provider.renames {
                // The provider only knows the new name; when both are given the new one wins.
                if let Some(v) = body.remove(from) {
                    body.entry(to.clone()).or_insert(v);
                }
            }
            for key in &provider.rejects {
                body.remove(key);
            }
            let encoded = adapter.encode(endpoint, &body, wire).map_err(context)?;
            request.body = Bytes::from(encoded.body);
            path = encoded.path;
        }
        let mut url = match (&target.chat_url, endpoint) {
            (Some(url), Endpoint::Chat) => url.clone(),
            _ => {
                let path = match path {
                    Some(path) => path,
                    None => adapter.path(endpoint, wire).map_err(context)?,
                };
                parse_url(&format!("{}/{path}", target.base)).map_err(context)?
            }
        };
        Self::finish(&target, wire, &mut url, &mut request.headers);
        Ok(Call {
            target,
            url,
            request,
            source,
            model,
            method: Method::POST,
            upload: None,
        })
    }

    /// Routes an endpoint call and builds its URL, body and headers.
    pub(crate) fn api_call(&self, req: ApiRequest) -> Result<Call> {
        let routing = if req.model.is_empty() { &req.via } else { &req.model };
        let Routed { target, model } = self.route_to(routing, req.endpoint)?;
        let label = Some(req.model.as_str()).filter(|m| !m.is_empty());
        let context = |e: Error| e.with_context(target.name(), label);
        let wire = self.wire(&model, false);
        let full = match (req.endpoint, &target.provider.rerank_url) {
            (Endpoint::Rerank, Some(url)) if target.base == target.provider.base_url => url.clone(),
            (Endpoint::Rerank, _) => format!("{}/rerank", target.base),
            _ => {
                let path = target
                    .adapter()
                    .endpoint_path(req.endpoint, &req.path, wire)
                    .map_err(context)?;
                format!("{}/{path}", target.base)
            }
        };
        let mut url = parse_url(&full).map_err(context)?;
        if !req.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &req.query {
                pairs.append_pair(k, v);
            }
        }
        let mut headers = req.headers;
        Self::finish(&target, wire, &mut url, &mut headers);
        let renamed = label.is_some_and(|m| m.len() != model.len());
        let (body, upload) = match req.payload {
            Payload::Empty => (Bytes::new(), None),
            Payload::Json(body) if renamed => (with_model(&body, &model).map_err(context)?, None),
            Payload::Json(body) => (body, None),
            Payload::Form(mut upload) => {
                for (name, value) in &mut upload.fields {
                    if renamed && name == "model" {
                        value.clone_from(&model);
                    }
                }
                (Bytes::new(), Some(Arc::new(upload)))
            }
        };
        // Only calls that spend model tokens reserve an estimate with a token limiter.
        let spends_tokens = matches!(
            req.endpoint,
            Endpoint::Audio | Endpoint::Moderation | Endpoint::Rerank | Endpoint::Responses
        );
        Ok(Call {
            target,
            url,
            source: if spends_tokens { body.clone() } else { Bytes::new() },
            request: Request {
                body,
                model: req.model,
                headers,
                trace: req.trace,
                once: req.once,
                ..Request::default()
            },
            model,
            method: req.method,
            upload,
        })
    }
}

/// A request body as a JSON object.
fn json_object(body: &[u8]) -> Result<Map<String, Value>> {
    serde_json::from_slice(body)
        .map_err(|e| Error::new(Kind::Serialization, format!("request body is not a JSON object: {e}")))
}

/// Replaces `"model"` in a JSON object body.
fn with_model(body: &Bytes, model: &str) -> Result<Bytes> {
    let mut map = json_object(body)?;
    map.insert("model".to_owned(), Value::String(model.to_owned()));
    serde_json::to_vec(&map)
        .map(Bytes::from)
        .map_err(|e| Error::new(Kind::Serialization, e.to_string()))
}

/// Parses a call's URL.
fn parse_url(full: &str) -> Result<reqwest::Url> {
    reqwest::Url::parse(full).map_err(|e| Error::new(Kind::InvalidArgument, format!("invalid URL {full:?}: {e}")))
}
