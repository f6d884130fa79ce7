//! The embeddings call with a cache: each input is cached on its own, so a batch with a few new
//! inputs sends only those; identical inputs in flight are asked for once.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use serde_json::{Map, Value};

use super::cached::{body_of, not_an_object};
use super::{Client, Request};
use crate::cache::flight::{follow, Flight, Join, Lead};
use crate::cache::key::Canon;
use crate::cache::payload::Payload;
use crate::cache::store::Key;
use crate::cache::{Cache, Control};
use crate::error::{Error, Kind, Result};
use crate::types::{EmbeddingObject, EmbeddingResponse, Usage};

/// Where each input's vector comes from.
#[derive(Default)]
struct Plan {
    /// Found in the cache (or, once settled, from any source), by input position.
    found: Vec<Option<Arc<Payload>>>,
    /// Inputs to send, with the flight each one leads (`None`: no-cache).
    send: Vec<(usize, Option<Lead>)>,
    /// Inputs an identical call in flight is fetching.
    wait: Vec<(usize, Arc<Flight>)>,
}

impl Client {
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
        let Some((keys, single)) = self.input_keys(cache, &request)? else {
            return self.embeddings_uncached(request).await;
        };
        let mut plan = plan(cache, &keys, &request.cache).await;
        let sent = if plan.send.is_empty() {
            None
        } else {
            let send = std::mem::take(&mut plan.send);
            Some(
                self.send_missing(cache, &request, &keys, single, send, &mut plan.found)
                    .await?,
            )
        };
        for (i, flight) in std::mem::take(&mut plan.wait) {
            match follow(flight).await {
                Some(Ok(payload)) => {
                    cache.note_joined();
                    plan.found[i] = Some(payload);
                }
                Some(Err(err)) => return Err(err),
                // Its leader went away: this call asks for everything itself.
                None => return self.embeddings_uncached(request).await,
            }
        }
        let (data, tokens) = vectors(plan.found)?;
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

    /// One key per input, and whether `input` is one item (a string or a list of token ids);
    /// `None` for a body without a usable `input` (sent as it is, for the provider to judge).
    fn input_keys(&self, cache: &Cache, request: &Request) -> Result<Option<(Vec<Key>, bool)>> {
        let body = body_of(request)?;
        let (items, single) = match body.get("input") {
            Some(Canon::Arr(a)) if !a.is_empty() && !a.iter().any(|v| matches!(v, Canon::Int(_) | Canon::UInt(_))) => {
                (a.iter().collect::<Vec<_>>(), false)
            }
            Some(input @ (Canon::Str(_) | Canon::Arr(_))) => (vec![input], true),
            _ => return Ok(None),
        };
        let target = self.cache_target(&request.model);
        Ok(Some((
            cache.embedding_keys(&request.cache, target, &request.model, &body, &items),
            single,
        )))
    }

    /// Sends the inputs of `send` in one request, hands each vector to the calls waiting on it
    /// and stores it; the response (its usage is what was paid) for the merged answer.
    async fn send_missing(
        &self,
        cache: &Cache,
        request: &Request,
        keys: &[Key],
        single: bool,
        send: Vec<(usize, Option<Lead>)>,
        found: &mut [Option<Arc<Payload>>],
    ) -> Result<EmbeddingResponse> {
        let mut body: Map<String, Value> =
            serde_json::from_slice(&request.body).map_err(|e| not_an_object(&e.to_string()))?;
        let items: Vec<Value> = match body.remove("input") {
            Some(Value::Array(a)) if !single => a,
            Some(input) => vec![input],
            None => Vec::new(),
        };
        let input = if single {
            items.first().cloned().unwrap_or(Value::Null)
        } else {
            Value::Array(send.iter().filter_map(|(i, _)| items.get(*i).cloned()).collect())
        };
        body.insert("input".to_owned(), input);
        let part = Request {
            body: Bytes::from(serde_json::to_vec(&body).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?),
            ..request.clone()
        };
        let response = match self
            .embeddings_uncached(part)
            .await
            .and_then(|r| in_order(r, send.len()))
        {
            Ok(response) => response,
            Err(err) => {
                for lead in send.iter().filter_map(|(_, lead)| lead.as_ref()) {
                    lead.land(Err(err.clone()));
                }
                return Err(err);
            }
        };
        let sizes: Vec<usize> = send.iter().map(|(i, _)| items.get(*i).map_or(1, item_size)).collect();
        let shares = token_shares(response.usage.prompt_tokens, &sizes);
        let mut writes = Vec::with_capacity(send.len());
        for (((i, lead), object), tokens) in send.into_iter().zip(&response.data).zip(shares) {
            let payload = Arc::new(Payload::Embedding(object.embedding.clone(), tokens));
            if let Some(lead) = &lead {
                lead.land(Ok(Arc::clone(&payload)));
            }
            writes.push(cache.store(keys[i], Arc::clone(&payload), &request.cache, lead));
            found[i] = Some(payload);
        }
        join_all(writes).await;
        Ok(response)
    }
}

/// Looks every key up, then joins (or leads) the flight of each one not found.
async fn plan(cache: &Arc<Cache>, keys: &[Key], control: &Control) -> Plan {
    let mut plan = Plan::default();
    if control.no_cache {
        plan.found = vec![None; keys.len()];
        plan.send = (0..keys.len()).map(|i| (i, None)).collect();
        return plan;
    }
    let looked = join_all(keys.iter().map(|k| cache.lookup(k, control))).await;
    // Only a vector answers an input (anything else under its key is a miss).
    plan.found = looked
        .into_iter()
        .map(|p| p.filter(|p| matches!(**p, Payload::Embedding(..))))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        if plan.found[i].is_none() {
            match cache.flights.join(*key) {
                Join::Lead(lead) => plan.send.push((i, Some(lead))),
                Join::Follow(flight) => plan.wait.push((i, flight)),
            }
        }
    }
    plan
}

/// The vectors in input order, and the tokens their original calls used.
fn vectors(found: Vec<Option<Arc<Payload>>>) -> Result<(Vec<EmbeddingObject>, u64)> {
    let mut tokens = 0u64;
    let mut data = Vec::with_capacity(found.len());
    for (payload, index) in found.into_iter().zip(0u32..) {
        let Some(Payload::Embedding(vector, share)) = payload.as_deref() else {
            return Err(Error::new(Kind::Serialization, format!("no vector for input {index}")));
        };
        tokens = tokens.saturating_add(*share);
        data.push(EmbeddingObject {
            index,
            embedding: vector.clone(),
            object: "embedding".to_owned(),
            ..EmbeddingObject::default()
        });
    }
    Ok((data, tokens))
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
