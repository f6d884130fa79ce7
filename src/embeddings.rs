//! Embeddings: `Client::embed` for one request and `Client::embed_batch` for many inputs.
//!
//! `embed_batch` splits the inputs into chunks of at most `batch_size` (default
//! [`DEFAULT_EMBED_BATCH_SIZE`], OpenAI's limit of inputs per request), sends the chunks through
//! the batch runner (concurrently, each with the client's retries), and merges the answers into
//! one [`EmbeddingResponse`]: vectors in input order with their input's index, usage summed.
//! Any chunk failing fails the whole call and cancels the other chunks.
//!
//! Also home of the small base64 codec used for `encoding_format: "base64"` (OpenAI's compact
//! float32 form).

use std::sync::Arc;

use reqwest::header::HeaderMap;

use crate::batch::{default_concurrency, BatchOptions, Pool};
use crate::client::{Client, Request};
use crate::error::{Error, Kind, Result};
use crate::types::{EmbeddingResponse, Usage};

/// Inputs per request when the caller does not say (OpenAI's maximum).
pub const DEFAULT_EMBED_BATCH_SIZE: usize = 2048;

/// Many inputs for one model, each already serialised, ready to be chunked into requests.
#[derive(Clone, Debug, Default)]
pub struct EmbedBatch {
    /// The request body's other fields as an unclosed JSON object, e.g.
    /// `{"model":"m","encoding_format":"base64"`; each chunk appends `,"input":[...]}`.
    pub head: Vec<u8>,
    /// The inputs' JSON texts, concatenated.
    pub inputs: Vec<u8>,
    /// End offset of each input in `inputs`.
    pub ends: Vec<usize>,
    /// The model, for error context.
    pub model: String,
    /// Per-call headers.
    pub headers: HeaderMap,
    /// How the chunks use the client's response cache.
    pub cache: crate::cache::Control,
}

impl EmbedBatch {
    /// Builds a batch from JSON values: `params` are the body's fields other than `input`.
    ///
    /// # Errors
    /// `InvalidArgument` when `params` has no string `model`.
    pub fn from_values(
        params: &serde_json::Map<String, serde_json::Value>,
        inputs: &[serde_json::Value],
    ) -> Result<Self> {
        let model = params
            .get("model")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Error::new(Kind::InvalidArgument, "model is required"))?
            .to_owned();
        let mut head = serde_json::to_vec(params).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
        head.pop();
        let mut batch = EmbedBatch {
            head,
            model,
            ..EmbedBatch::default()
        };
        for input in inputs {
            serde_json::to_writer(&mut batch.inputs, input)
                .map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
            batch.ends.push(batch.inputs.len());
        }
        Ok(batch)
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no inputs.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The request for inputs `range` (by input index).
    fn chunk(&self, range: std::ops::Range<usize>) -> Request {
        let start = if range.start == 0 {
            0
        } else {
            self.ends[range.start - 1]
        };
        let end = self.ends[range.end - 1];
        let mut body = Vec::with_capacity(self.head.len() + (end - start) + range.len() + 16);
        body.extend_from_slice(&self.head);
        if self.head.len() > 1 {
            body.push(b',');
        }
        body.extend_from_slice(b"\"input\":[");
        let mut from = start;
        for (n, &to) in self.ends[range].iter().enumerate() {
            if n > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.inputs[from..to]);
            from = to;
        }
        body.extend_from_slice(b"]}");
        Request {
            body: body.into(),
            model: self.model.clone(),
            headers: self.headers.clone(),
            cache: self.cache.clone(),
            ..Request::default()
        }
    }
}

/// Merges chunk answers (`(first input index, input count, response)`) into one response.
fn merge(parts: Vec<(usize, usize, EmbeddingResponse)>) -> Result<EmbeddingResponse> {
    let mut out = EmbeddingResponse {
        object: "list".to_owned(),
        ..EmbeddingResponse::default()
    };
    let mut usage = Usage::default();
    let all_hits = !parts.is_empty() && parts.iter().all(|(_, _, p)| p.cache_hit);
    for (start, count, part) in parts {
        if part.data.len() != count {
            return Err(Error::new(
                Kind::Serialization,
                format!(
                    "the provider returned {} embeddings for {count} inputs",
                    part.data.len()
                ),
            ));
        }
        if out.model.is_empty() {
            out.model = part.model;
            out.extra = part.extra;
        }
        usage.prompt_tokens = usage.prompt_tokens.saturating_add(part.usage.prompt_tokens);
        usage.completion_tokens = usage.completion_tokens.saturating_add(part.usage.completion_tokens);
        usage.total_tokens = usage.total_tokens.saturating_add(part.usage.total_tokens);
        let in_range = {
            let mut seen = vec![false; count];
            part.data.iter().all(|d| {
                let i = d.index as usize;
                i < count && !std::mem::replace(&mut seen[i], true)
            })
        };
        for (position, mut item) in part.data.into_iter().enumerate() {
            let local = if in_range { item.index as usize } else { position };
            item.index =
                u32::try_from(start + local).map_err(|_| Error::new(Kind::InvalidArgument, "too many inputs"))?;
            out.data.push(item);
        }
    }
    out.data.sort_by_key(|d| d.index);
    out.usage = usage;
    out.cache_hit = all_hits;
    Ok(out)
}

impl Client {
    /// Sends one embeddings request (`POST {base_url}/embeddings`, or the provider's own
    /// endpoint).
    ///
    /// # Errors
    /// As [`Client::chat`].
    pub async fn embed(&self, request: Request) -> Result<EmbeddingResponse> {
        self.embeddings(request).await
    }

    /// Embeds every input of `batch`, `batch_size` inputs per request (capped at the provider's
    /// maximum, e.g. 100 for Gemini), requests running concurrently; one
    /// response with the vectors in input order and the usage summed.
    ///
    /// # Errors
    /// `InvalidArgument` for a `batch_size` of 0; otherwise the first chunk failure (the other
    /// chunks are cancelled), or `Serialization` when a chunk's answer has the wrong count.
    pub async fn embed_batch(
        self: &Arc<Self>,
        mut batch: EmbedBatch,
        batch_size: usize,
        options: BatchOptions,
    ) -> Result<EmbeddingResponse> {
        if batch_size == 0 {
            return Err(Error::new(Kind::InvalidArgument, "batch_size must be at least 1"));
        }
        let batch_size = match self.max_embed_batch(&batch.model) {
            Some(max) => batch_size.min(max),
            None => batch_size,
        };
        let ranges: Vec<_> = (0..batch.len())
            .step_by(batch_size)
            .map(|s| s..(s + batch_size).min(batch.len()))
            .collect();
        let requests: Vec<_> = ranges.iter().map(|r| batch.chunk(r.clone())).collect();
        let model = std::mem::take(&mut batch.model);
        drop(batch);
        let concurrency = options.concurrency.unwrap_or_else(|| default_concurrency(self));
        let client = Arc::clone(self);
        let pool = Pool::start(requests, concurrency, options.progress, move |request| {
            let client = Arc::clone(&client);
            async move { client.embed(request).await }
        });
        let answers = pool.collect(true).await?;
        let parts = ranges
            .into_iter()
            .zip(answers)
            .map(|(r, a)| a.map(|a| (r.start, r.len(), a)))
            .collect::<Result<Vec<_>>>()?;
        let mut merged = merge(parts)?;
        if merged.model.is_empty() {
            merged.model = model;
        }
        Ok(merged)
    }
}

/// Decodes one base64 character.
fn sextet(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' | b'-' => 62,
        b'/' | b'_' => 63,
        _ => return None,
    }))
}

/// Decodes standard (or URL-safe) base64, padded or not.
///
/// # Errors
/// A readable reason for characters outside the alphabet or a truncated final group.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.trim_end().trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4 + 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for &c in bytes {
        let v = sextet(c).ok_or_else(|| format!("invalid base64 character {:?}", char::from(c)))?;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            // Truncation keeps the low byte, which is the decoded one.
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("truncated base64 data".to_owned());
    }
    Ok(out)
}

/// Decodes a base64 string of little-endian float32 values.
///
/// # Errors
/// Invalid base64, or a byte length that is not a multiple of 4.
pub fn decode_base64_f32(text: &str) -> Result<Vec<f32>, String> {
    let bytes = decode_base64(text)?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "base64 embedding has {} bytes, not a whole number of float32 values",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// Encodes bytes as padded standard base64 (used by the mock provider).
pub fn encode_base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [group[0], *group.get(1).unwrap_or(&0), *group.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Embedding, EmbeddingObject};

    #[test]
    fn base64_round_trip() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"abcd", &[0, 255, 128, 7, 9]] {
            let text = encode_base64(data);
            assert_eq!(decode_base64(&text).unwrap(), data, "{text}");
            assert_eq!(decode_base64(text.trim_end_matches('=')).unwrap(), data);
        }
        assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
        assert!(decode_base64("a$bc").is_err());
        assert!(decode_base64("a").is_err());
    }

    fn part(indices: &[u32], tokens: u64) -> EmbeddingResponse {
        EmbeddingResponse {
            model: "m".into(),
            data: indices
                .iter()
                .map(|&i| EmbeddingObject {
                    index: i,
                    embedding: Embedding(vec![i as f32]),
                    ..EmbeddingObject::default()
                })
                .collect(),
            usage: Usage {
                prompt_tokens: tokens,
                total_tokens: tokens,
                ..Usage::default()
            },
            ..EmbeddingResponse::default()
        }
    }

    #[test]
    fn merges_chunks_in_input_order() {
        let merged = merge(vec![(0, 2, part(&[1, 0], 3)), (2, 2, part(&[0, 1], 4))]).unwrap();
        let order: Vec<_> = merged.data.iter().map(|d| (d.index, d.embedding.0[0])).collect();
        assert_eq!(order, vec![(0, 0.0), (1, 1.0), (2, 0.0), (3, 1.0)]);
        assert_eq!(merged.usage.total_tokens, 7);
        assert!(merge(vec![(0, 3, part(&[0, 1], 1))]).is_err());
    }

    #[test]
    fn hostile_indexes_and_counts_neither_size_memory_nor_overflow() {
        // Out-of-range or repeated indexes fall back to the answer's order.
        for indices in [[u32::MAX, 0], [2, 0], [1, 1]] {
            let merged = merge(vec![(0, 2, part(&indices, u64::MAX))]).unwrap();
            let order: Vec<_> = merged.data.iter().map(|d| d.index).collect();
            assert_eq!(order, vec![0, 1], "{indices:?}");
        }
        let merged = merge(vec![(0, 1, part(&[0], u64::MAX)), (1, 1, part(&[0], u64::MAX))]).unwrap();
        assert_eq!(merged.usage.total_tokens, u64::MAX);
    }

    #[test]
    fn chunks_are_valid_json() {
        let params = serde_json::json!({"model": "m", "dimensions": 4});
        let inputs: Vec<_> = ["a", "b\"c", "d"].iter().map(|s| serde_json::json!(s)).collect();
        let batch = EmbedBatch::from_values(params.as_object().unwrap(), &inputs).unwrap();
        let body: serde_json::Value = serde_json::from_slice(&batch.chunk(1..3).body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"model": "m", "dimensions": 4, "input": ["b\"c", "d"]})
        );
    }
}
