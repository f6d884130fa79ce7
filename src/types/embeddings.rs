//! Embeddings models: the response, its vectors, and the decoding of `encoding_format: base64`.
//!
//! A vector arrives either as a JSON array of numbers or, with `encoding_format: "base64"`, as a
//! base64 string of little-endian float32 values (OpenAI's compact form, which the client asks
//! for by default). Both decode into the same [`Embedding`] of `f32`s, so callers always see
//! floats. OpenAI's vectors are float32 values, so `f32` storage is exact for them.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

use super::chat::Usage;
use super::json::{model, Field, ToJson};
use crate::embeddings::decode_base64_f32;

/// One embedding vector.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Embedding(pub Vec<f32>);

impl super::json::Heap for Embedding {
    fn heap(&self) -> usize {
        if self.0.capacity() == 0 {
            0
        } else {
            4 * self.0.capacity() + super::json::ALLOC_OVERHEAD
        }
    }
}

impl Embedding {
    /// The values, widened to `f64`.
    pub fn to_f64(&self) -> Vec<f64> {
        self.0.iter().map(|&v| f64::from(v)).collect()
    }
}

/// Capacity reserved for a vector of unknown length (OpenAI's common size).
const TYPICAL_DIMENSIONS: usize = 1536;

struct EmbeddingVisitor;

impl<'de> Visitor<'de> for EmbeddingVisitor {
    type Value = Embedding;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of numbers or a base64 string of float32 values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Embedding, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(TYPICAL_DIMENSIONS));
        while let Some(v) = seq.next_element::<f32>()? {
            out.push(v);
        }
        // A short vector must not keep the guess: `[]` would otherwise cost 6 KiB per 2 bytes.
        if out.capacity() > 2 * out.len() {
            out.shrink_to_fit();
        }
        Ok(Embedding(out))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Embedding, E> {
        decode_base64_f32(v).map(Embedding).map_err(E::custom)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Embedding, E> {
        Ok(Embedding::default())
    }

    fn visit_none<E: de::Error>(self) -> Result<Embedding, E> {
        Ok(Embedding::default())
    }
}

impl Field for Embedding {
    fn decode<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(EmbeddingVisitor)
    }
}

impl serde::Serialize for Embedding {
    /// Each number as the shortest text that reads back as the same `f32`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(&self.0)
    }
}

impl ToJson for Embedding {
    fn to_json(&self) -> Value {
        Value::Array(self.0.iter().map(|&v| Value::from(f64::from(v))).collect())
    }
}

model! {
    /// One vector of an embeddings response.
    pub struct EmbeddingObject {
        /// Position of the input this vector belongs to.
        index: u32 = "index",
        /// The vector (decoded from base64 when the provider sent it that way).
        embedding: Embedding = "embedding",
        /// Always `embedding`.
        object: String = "object",
    }
}

model! {
    /// An embeddings response.
    pub struct EmbeddingResponse {
        /// Always `list`.
        object: String = "object",
        /// One vector per input, in input order.
        data: Vec<EmbeddingObject> = "data",
        /// Model that answered.
        model: String = "model",
        /// Token usage (`completion_tokens` is 0).
        usage: Usage = "usage",
        ; local:
        /// The id of the deployment that answered, when the model named a routed group.
        deployment: Option<String>,
        /// Every vector came from the response cache (no call was made).
        cache_hit: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embeddings::encode_base64;

    #[test]
    fn parses_floats_and_base64_alike() {
        let values = [0.25f32, -1.5, 3.0e-5];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let b64 = encode_base64(&bytes);
        let doc = format!(
            r#"{{"object":"list","model":"m","usage":{{"prompt_tokens":2,"total_tokens":2}},
               "data":[{{"object":"embedding","index":0,"embedding":[0.25,-1.5,3.0e-5]}},
                       {{"object":"embedding","index":1,"embedding":"{b64}"}}]}}"#
        );
        let r: EmbeddingResponse = serde_json::from_str(&doc).unwrap();
        assert_eq!(r.data[0].embedding.0, values);
        assert_eq!(r.data[1].embedding.0, values);
        assert_eq!(r.usage.prompt_tokens, 2);
        assert_eq!(r.to_json()["data"][1]["embedding"][1], -1.5);
        let bad = serde_json::from_str::<EmbeddingResponse>(r#"{"data":[{"embedding":"AAA"}]}"#);
        assert!(bad.is_err());
        let wrong = serde_json::from_str::<EmbeddingResponse>(r#"{"data":[{"embedding":5}]}"#);
        assert!(wrong.is_err());
    }

    #[test]
    fn short_vectors_do_not_keep_the_capacity_guess() {
        let body = format!(r#"{{"data":[{}]}}"#, vec![r#"{"embedding":[]}"#; 100].join(","));
        let r: EmbeddingResponse = serde_json::from_str(&body).unwrap();
        assert!(r.data.iter().all(|d| d.embedding.0.capacity() == 0));
        let full: Embedding = serde_json::from_str::<EmbeddingObject>(&format!(
            r#"{{"embedding":[{}]}}"#,
            vec!["0.5"; TYPICAL_DIMENSIONS].join(",")
        ))
        .unwrap()
        .embedding;
        assert_eq!(full.0.capacity(), TYPICAL_DIMENSIONS);
    }
}
