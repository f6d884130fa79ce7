//! The client's use of its response cache, above routing: the public chat, stream and
//! embeddings calls look up the cache, join an identical call in flight, or lead the call and
//! store its answer. Without a cache they go straight to the uncached paths.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use serde_json::{Map, Value};

use super::{Client, Request};
use crate::cache::flight::{follow, Join, Lead};
use crate::cache::key::Canon;
use crate::cache::payload::Payload;
use crate::cache::recorder::Recorder;
use crate::cache::store::Key;
use crate::cache::Cache;
use crate::error::{Error, Kind, Result};
use crate::stream::ChatStream;
use crate::types::{ChatCompletionResponse, Embedding, EmbeddingObject, EmbeddingResponse, Usage};

/// What a cached call does next.
enum Step {
    /// Answered (from the cache or by the leader of an identical call).
    Hit(Arc<Payload>),
    /// Make the call, leading the identical calls that arrive meanwhile (`None`: no-cache).
    Call(Option<Lead>),
}

/// Reads a request body (a JSON object) for its key.
fn body_of(request: &Request) -> Result<Canon<'_>> {
    match Canon::parse(&request.body) {
        Ok(body @ Canon::Obj(_)) => Ok(body),
        Ok(_) => Err(not_an_object("not an object")),
        Err(e) => Err(not_an_object(&e.to_string())),
    }
}

fn not_an_object(why: &str) -> Error {
    Error::new(Kind::Serialization, format!("request body is not a JSON object: {why}"))
}

impl Client {
    /// What a key names the model's target by: the routed group, or the provider and the base
    /// URL it is reached at (so two servers' answers for one model name never mix).
    fn cache_target<'a>(&'a self, model: &'a str) -> (&'a str, &'a str) {
        if self.routed(model).is_some() {
            return ("group", "");
        }
        let target = self.router.route(model).target;
        (target.name(), &target.base)
    }

    /// The cache and the key of a chat request, unless the call bypasses the cache.
    fn chat_cache(&self, request: &Request) -> Result<Option<(&Arc<Cache>, Key)>> {
        let Some(cache) = self.cache.as_ref().filter(|_| !request.cache.bypass()) else {
            return Ok(None);
        };
        if let Some(key) = request.cache.key {
            return Ok(Some((cache, key)));
        }
        let body = body_of(request)?;
        let target = self.cache_target(&request.model);
        let key = cache.chat_key(&request.cache, target, &request.model, &body, &request.headers);
        Ok(Some((cache, key)))
    }

    /// Answers a chat request at once from a memory cache when it holds the answer (no task, no
    /// wait). Otherwise notes the key (and that memory has no answer) in `request`, so the call
    /// does not compute or look again.
    ///
    /// # Errors
    /// `Serialization` when the body is not a JSON object.
    pub fn chat_from_memory(&self, request: &mut Request) -> Result<Option<ChatCompletionResponse>> {
        if request.cache.no_cache {
            return Ok(None);
        }
        let Some((cache, key)) = self.chat_cache(request)? else {
            return Ok(None);
        };
        request.cache.key = Some(key);
        let Some(found) = cache.lookup_now(&key, &request.cache) else {
            return Ok(None);
        };
        match found {
            Some(payload) => Ok(self.chat_hit(&request.model, &payload)),
            None => {
                request.cache.looked = true;
                Ok(None)
            }
        }
    }

    /// A cached chat answer as the response to a call for `model` (counted as a hit).
    fn chat_hit(&self, model: &str, payload: &Payload) -> Option<ChatCompletionResponse> {
        let mut response = payload.to_response()?;
        self.note_hit(model, response.usage.as_ref(), payload.cost());
        response.cost = Some(0.0);
        response.request_id = None;
        response.deployment = None;
        response.cache_hit = true;
        Some(response)
    }

    /// Looks `key` up, then joins (or leads) the identical call in flight.
    async fn cached_step(cache: &Arc<Cache>, key: Key, request: &Request) -> Result<Step> {
        let control = &request.cache;
        if control.no_cache {
            return Ok(Step::Call(None));
        }
        let mut looked = control.looked;
        loop {
            if !std::mem::take(&mut looked) {
                if let Some(hit) = cache.lookup(&key, control).await {
                    return Ok(Step::Hit(hit));
                }
            }
            match cache.flights.join(key) {
                Join::Lead(lead) => return Ok(Step::Call(Some(lead))),
                Join::Follow(rx) => match follow(rx).await {
                    Some(Ok(payload)) => {
                        cache.note_joined();
                        return Ok(Step::Hit(payload));
                    }
                    Some(Err(err)) => return Err(err),
                    // The leader went away without an answer: look again, and maybe lead.
                    None => {}
                },
            }
        }
    }

    /// Counts a call answered from the cache: no tokens or cost charged, the original usage
    /// and cost kept as saved.
    fn note_hit(&self, model: &str, usage: Option<&Usage>, saved: Option<f64>) {
        self.config.usage.record_cache_hit(model, usage, saved);
    }

    /// Sends a chat completion and parses the answer (from the client's cache when it holds
    /// one for this request).
    ///
    /// # Errors
    /// The mapped provider or transport error after retries; `Serialization` for a malformed body.
    pub async fn chat(&self, request: Request) -> Result<ChatCompletionResponse> {
        let Some((cache, key)) = self.chat_cache(&request)? else {
            return self.chat_uncached(request).await;
        };
        let lead = match Self::cached_step(cache, key, &request).await? {
            Step::Hit(payload) => {
                if let Some(response) = self.chat_hit(&request.model, &payload) {
                    return Ok(response);
                }
                None
            }
            Step::Call(lead) => lead,
        };
        let control = request.cache.clone();
        let result = self.chat_uncached(request).await;
        match &result {
            Ok(response) => {
                let payload = Arc::new(Payload::Chat(response.clone(), response.cost));
                if let Some(lead) = &lead {
                    lead.land(Ok(Arc::clone(&payload)));
                }
                cache.store(key, payload, &control, lead).await;
            }
            Err(err) => {
                if let Some(lead) = &lead {
                    lead.land(Err(err.clone()));
                }
            }
        }
        result
    }

    /// Starts a streamed chat completion; resolves once the response headers arrived (for a
    /// routed group, once the first chunk did: a deployment failing before it is failed over).
    /// The stream reads, decodes and accounts for itself as it is consumed. With a cache, a
    /// stored answer replays chunk for chunk, and a stream that ends cleanly is stored.
    ///
    /// # Errors
    /// As [`Client::chat`], for failures before the stream starts.
    pub async fn chat_stream(&self, request: Request) -> Result<ChatStream> {
        let Some((cache, key)) = self.chat_cache(&request)? else {
            return self.stream_uncached(request).await;
        };
        let lead = match Self::cached_step(cache, key, &request).await? {
            Step::Hit(payload) => {
                if let Some(chunks) = payload.to_chunks() {
                    let usage = chunks.iter().rev().find_map(|c| c.usage.as_ref());
                    self.note_hit(&request.model, usage, payload.cost());
                    let provider = self.cache_target(&request.model).0.to_owned();
                    return Ok(ChatStream::replay(chunks, request.model, provider));
                }
                None
            }
            Step::Call(lead) => lead,
        };
        let control = request.cache.clone();
        match self.stream_uncached(request).await {
            Ok(mut stream) => {
                stream.record(Recorder::new(Arc::clone(cache), key, control, lead));
                Ok(stream)
            }
            Err(err) => {
                if let Some(lead) = &lead {
                    lead.land(Err(err.clone()));
                }
                Err(err)
            }
        }
    }

    /// Sends one embeddings request to its provider (`POST {base}/embeddings`, or the
    /// provider's native endpoint) with retries and parses the answer. With a cache, each input
    /// is cached on its own: only the inputs not found are sent.
    ///
    /// # Errors
    /// As [`Client::chat`]; `EndpointNotSupported` when the provider lacks embeddings.
    pub async fn embeddings(&self, request: Request) -> Result<EmbeddingResponse> {
        let Some(cache) = self.cache.as_ref().filter(|_| !request.cache.bypass()) else {
            return self.embeddings_uncached(request).await;
        };
        let canon = body_of(&request)?;
        let (keyed, single) = match canon.get("input") {
            Some(Canon::Arr(a)) if !a.is_empty() && !a.iter().any(|v| matches!(v, Canon::Int(_) | Canon::UInt(_))) => {
                (a.iter().collect::<Vec<_>>(), false)
            }
            Some(input @ (Canon::Str(_) | Canon::Arr(_))) => (vec![input], true),
            _ => return self.embeddings_uncached(request).await,
        };
        let control = request.cache.clone();
        let target = self.cache_target(&request.model);
        let keys = cache.embedding_keys(&control, target, &request.model, &canon, &keyed);
        drop(keyed);
        drop(canon);
        // The body again, as values to send: the inputs not found are sent in their own request.
        let mut body: Map<String, Value> =
            serde_json::from_slice(&request.body).map_err(|e| not_an_object(&e.to_string()))?;
        let items: Vec<Value> = match body.get("input") {
            Some(Value::Array(a)) if !single => a.clone(),
            Some(input) => vec![input.clone()],
            None => return self.embeddings_uncached(request).await,
        };
        let mut found: Vec<Option<Arc<Payload>>> = if control.no_cache {
            vec![None; items.len()]
        } else {
            join_all(keys.iter().map(|k| cache.lookup(k, &control))).await
        };
        let mut leads = Vec::new();
        let mut follows = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if found[i].is_some() {
                continue;
            }
            if control.no_cache {
                leads.push((i, None));
                continue;
            }
            match cache.flights.join(*key) {
                Join::Lead(lead) => leads.push((i, Some(lead))),
                Join::Follow(rx) => follows.push((i, rx)),
            }
        }
        let mut sent = None;
        if !leads.is_empty() {
            let input = if single {
                items[0].clone()
            } else {
                Value::Array(leads.iter().map(|(i, _)| items[*i].clone()).collect())
            };
            body.insert("input".to_owned(), input);
            let part = Request {
                body: Bytes::from(
                    serde_json::to_vec(&body).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?,
                ),
                ..request.clone()
            };
            let response = match self
                .embeddings_uncached(part)
                .await
                .and_then(|r| in_order(r, leads.len()))
            {
                Ok(response) => response,
                Err(err) => {
                    for (_, lead) in &leads {
                        if let Some(lead) = lead {
                            lead.land(Err(err.clone()));
                        }
                    }
                    return Err(err);
                }
            };
            let sizes: Vec<usize> = leads.iter().map(|(i, _)| item_size(&items[*i])).collect();
            let shares = token_shares(response.usage.prompt_tokens, &sizes);
            let mut writes = Vec::with_capacity(leads.len());
            for (((i, lead), object), tokens) in leads.into_iter().zip(&response.data).zip(shares) {
                let payload = Arc::new(Payload::Embedding(object.embedding.clone(), tokens));
                if let Some(lead) = &lead {
                    lead.land(Ok(Arc::clone(&payload)));
                }
                writes.push(cache.store(keys[i], Arc::clone(&payload), &control, lead));
                found[i] = Some(payload);
            }
            join_all(writes).await;
            sent = Some(response);
        }
        for (i, rx) in follows {
            match follow(rx).await {
                Some(Ok(payload)) => {
                    cache.note_joined();
                    found[i] = Some(payload);
                }
                Some(Err(err)) => return Err(err),
                // Its leader went away: this call asks for everything itself.
                None => return self.embeddings_uncached(request).await,
            }
        }
        let mut tokens = 0u64;
        let data = found
            .into_iter()
            .zip(0u32..)
            .map(|(payload, index)| {
                let (vector, share) = match payload.as_deref() {
                    Some(Payload::Embedding(v, t)) => (v.clone(), *t),
                    _ => (Embedding::default(), 0),
                };
                tokens += share;
                EmbeddingObject {
                    index,
                    embedding: vector,
                    object: "embedding".to_owned(),
                    ..EmbeddingObject::default()
                }
            })
            .collect();
        Ok(match sent {
            Some(response) => EmbeddingResponse { data, ..response },
            None => {
                let usage = Usage {
                    prompt_tokens: tokens,
                    total_tokens: tokens,
                    ..Usage::default()
                };
                self.note_hit(&request.model, Some(&usage), None);
                EmbeddingResponse {
                    object: "list".to_owned(),
                    data,
                    model: request.model,
                    usage,
                    cache_hit: true,
                    ..EmbeddingResponse::default()
                }
            }
        })
    }
}

/// A provider's vectors in input order, checked to be one per input sent.
fn in_order(mut response: EmbeddingResponse, sent: usize) -> Result<EmbeddingResponse> {
    response.data.sort_by_key(|d| d.index);
    let complete = response.data.len() == sent && response.data.iter().zip(0u32..).all(|(d, i)| d.index == i);
    if complete {
        Ok(response)
    } else {
        Err(Error::new(
            Kind::Serialization,
            format!(
                "the provider returned {} vectors for {sent} inputs",
                response.data.len()
            ),
        ))
    }
}

/// An input's weight for sharing the request's tokens: its length in characters or tokens.
fn item_size(item: &Value) -> usize {
    match item {
        Value::String(s) => s.chars().count().max(1),
        Value::Array(a) => a.len().max(1),
        _ => 1,
    }
}

/// Splits `total` tokens over items in proportion to their sizes; the shares add up to `total`.
fn token_shares(total: u64, sizes: &[usize]) -> Vec<u64> {
    let sum: u128 = sizes.iter().map(|&s| s as u128).sum::<u128>().max(1);
    let mut shares: Vec<u64> = sizes
        .iter()
        .map(|&s| u64::try_from(u128::from(total) * s as u128 / sum).unwrap_or(u64::MAX))
        .collect();
    let given: u64 = shares.iter().sum();
    if let Some(last) = shares.last_mut() {
        *last += total.saturating_sub(given);
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::token_shares;

    #[test]
    fn token_shares_are_proportional_and_add_up() {
        assert_eq!(token_shares(10, &[1, 1]), vec![5, 5]);
        assert_eq!(token_shares(10, &[1, 2]), vec![3, 7]);
        assert_eq!(token_shares(0, &[4]), vec![0]);
        assert_eq!(token_shares(7, &[3, 3, 3]).iter().sum::<u64>(), 7);
    }
}
