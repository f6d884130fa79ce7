//! The client's use of its response cache, above routing: the public chat and stream calls look
//! up the cache, join an identical call in flight, or lead the call and store its answer (the
//! embeddings call, per input, is in `cached_embeddings.rs`). Without a cache they go straight
//! to the uncached paths.

use std::sync::Arc;

use super::{Client, Request};
use crate::cache::flight::{follow, Join, Lead};
use crate::cache::key::Canon;
use crate::cache::payload::Payload;
use crate::cache::recorder::Recorder;
use crate::cache::store::Key;
use crate::cache::Cache;
use crate::error::{Error, Kind, Result};
use crate::stream::ChatStream;
use crate::types::{ChatCompletionResponse, Usage};

/// What a cached call does next.
enum Step {
    /// Answered (from the cache or by the leader of an identical call).
    Hit(Arc<Payload>),
    /// Make the call, leading the identical calls that arrive meanwhile (`None`: no-cache).
    Call(Option<Lead>),
}

/// Reads a request body (a JSON object) for its key.
pub(super) fn body_of(request: &Request) -> Result<Canon<'_>> {
    match Canon::parse(&request.body) {
        Ok(body @ Canon::Obj(_)) => Ok(body),
        Ok(_) => Err(not_an_object("not an object")),
        Err(e) => Err(not_an_object(&e.to_string())),
    }
}

pub(super) fn not_an_object(why: &str) -> Error {
    Error::new(Kind::Serialization, format!("request body is not a JSON object: {why}"))
}

impl Client {
    /// What a key names the model's target by: the routed group, or the provider and the base
    /// URL it is reached at (so two servers' answers for one model name never mix).
    pub(super) fn cache_target<'a>(&'a self, model: &'a str) -> (&'a str, &'a str) {
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
                Join::Lead(mut lead) => {
                    if cache.claim(key, &mut lead).await {
                        return Ok(Step::Call(Some(lead)));
                    }
                    // Another process has this call in flight: its answer, once stored, is ours
                    // (and our followers'); if it ends without one, look again and maybe lead.
                    if let Some(payload) = cache.await_other(&key, control).await {
                        cache.note_joined();
                        lead.land(Ok(Arc::clone(&payload)));
                        return Ok(Step::Hit(payload));
                    }
                }
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
    pub(super) fn note_hit(&self, model: &str, usage: Option<&Usage>, saved: Option<f64>) {
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
}
