//! Cache keys: a BLAKE3 hash of the canonical form of everything that changes an answer.
//!
//! The hashed form is: a format version, the namespace, the scope (the provider and the base
//! URL it is reached at, or the routed group), the model, the endpoint, then the request body
//! without the fields that never change the answer ([`IGNORED`]), with object keys sorted and
//! numbers normalised (`1` and `1.0` are the same). Strings (base64 images and files among them)
//! are hashed byte for byte. Each value is tagged and length-prefixed, so no two different
//! requests share a hashed form.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::store::Key;
use crate::types::json::Key as JsonKey;

/// Body fields that never change the answer: who asked, where it is logged, how it is delivered.
pub const IGNORED: &[&str] = &[
    "model",
    "stream",
    "stream_options",
    "user",
    "metadata",
    "store",
    "prompt_cache_key",
    "safety_identifier",
];

/// A request body read for its key: strings borrowed from the body (unless escaped), objects
/// with their fields sorted by key, integral numbers as integers. Reading it allocates one
/// vector per array or object, far less than a `serde_json::Value`.
#[derive(Debug, PartialEq)]
pub enum Canon<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer (also a float with an integral value an `i64` holds exactly).
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array.
    Arr(Vec<Canon<'a>>),
    /// An object, sorted by key.
    Obj(Vec<(Cow<'a, str>, Canon<'a>)>),
}

impl<'a> Canon<'a> {
    /// Reads a JSON text.
    ///
    /// # Errors
    /// When `json` is not valid JSON.
    pub fn parse(json: &'a [u8]) -> serde_json::Result<Canon<'a>> {
        serde_json::from_slice(json)
    }

    /// An object's field.
    pub fn get(&self, key: &str) -> Option<&Canon<'a>> {
        match self {
            Canon::Obj(fields) => fields
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &fields[i].1),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Canon<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CanonVisitor)
    }
}

struct CanonVisitor;

impl<'de> Visitor<'de> for CanonVisitor {
    type Value = Canon<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Canon<'de>, E> {
        Ok(Canon::Null)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Canon<'de>, E> {
        Ok(Canon::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Canon<'de>, E> {
        Ok(Canon::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Canon<'de>, E> {
        Ok(i64::try_from(v).map_or(Canon::UInt(v), Canon::Int))
    }
    #[allow(clippy::cast_possible_truncation)]
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Canon<'de>, E> {
        // `1.0` and `1` ask for the same thing.
        Ok(if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
            Canon::Int(v as i64)
        } else {
            Canon::Float(v)
        })
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Canon<'de>, E> {
        Ok(Canon::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Canon<'de>, E> {
        Ok(Canon::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Canon<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Canon::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Canon<'de>, A::Error> {
        let mut fields: Vec<(Cow<'de, str>, Canon<'de>)> = Vec::with_capacity(map.size_hint().unwrap_or(4).min(64));
        while let Some(JsonKey(key)) = map.next_key()? {
            let value = map.next_value()?;
            fields.push((key, value));
        }
        // A repeated key keeps its last value, as JSON readers do.
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                std::mem::swap(later, earlier);
            }
            same
        });
        Ok(Canon::Obj(fields))
    }
}

/// The request-level parts of a key shared by every item of one call.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    /// Entries of one namespace are never seen from another.
    pub namespace: &'a str,
    /// The provider (`group` for a routed group).
    pub provider: &'a str,
    /// The base URL the provider is reached at (empty for a routed group).
    pub base: &'a str,
    /// The model as the caller named it (the group name when routing).
    pub model: &'a str,
    /// `chat` or `embeddings`.
    pub endpoint: &'a str,
}

/// Builds one key.
#[derive(Clone)]
pub struct KeyHasher(blake3::Hasher);

impl KeyHasher {
    /// Starts a key for `scope`.
    pub fn new(scope: Scope<'_>) -> Self {
        let mut h = KeyHasher(blake3::Hasher::new());
        h.bytes(b"liter_llm/cache/v1");
        for part in [scope.namespace, scope.provider, scope.base, scope.model, scope.endpoint] {
            h.bytes(part.as_bytes());
        }
        h
    }

    fn bytes(&mut self, b: &[u8]) {
        self.0.update(&(b.len() as u64).to_le_bytes());
        self.0.update(b);
    }

    fn tag(&mut self, t: u8) {
        self.0.update(&[t]);
    }

    /// Adds a request body's fields (an object's), skipping `skip` and [`IGNORED`].
    pub fn body(&mut self, body: &Canon<'_>, skip: &[&str]) {
        let empty = Vec::new();
        let fields = match body {
            Canon::Obj(fields) => fields,
            _ => &empty,
        };
        let kept = |(k, _): &&(Cow<'_, str>, Canon<'_>)| !IGNORED.contains(&k.as_ref()) && !skip.contains(&k.as_ref());
        self.tag(b'o');
        self.0
            .update(&(fields.iter().filter(kept).count() as u64).to_le_bytes());
        for (k, v) in fields.iter().filter(kept) {
            self.bytes(k.as_bytes());
            self.value(v);
        }
    }

    /// Adds a named header value (only headers that may change the answer are passed here).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        self.tag(b'h');
        self.bytes(name.as_bytes());
        self.bytes(value);
    }

    /// Adds one value.
    pub fn value(&mut self, v: &Canon<'_>) {
        match v {
            Canon::Null => self.tag(b'n'),
            Canon::Bool(b) => self.tag(if *b { b't' } else { b'f' }),
            Canon::Int(i) => {
                self.tag(b'i');
                self.0.update(&i.to_le_bytes());
            }
            Canon::UInt(u) => {
                self.tag(b'u');
                self.0.update(&u.to_le_bytes());
            }
            Canon::Float(f) => {
                self.tag(b'd');
                self.0.update(&f.to_bits().to_le_bytes());
            }
            Canon::Str(s) => {
                self.tag(b's');
                self.bytes(s.as_bytes());
            }
            Canon::Arr(items) => {
                self.tag(b'a');
                self.0.update(&(items.len() as u64).to_le_bytes());
                for item in items {
                    self.value(item);
                }
            }
            Canon::Obj(fields) => {
                self.tag(b'o');
                self.0.update(&(fields.len() as u64).to_le_bytes());
                for (k, v) in fields {
                    self.bytes(k.as_bytes());
                    self.value(v);
                }
            }
        }
    }

    /// The finished key.
    pub fn finish(&self) -> Key {
        Key(*self.0.finalize().as_bytes())
    }
}

/// Whether a per-call header may change the answer, so belongs in the key: feature switches
/// (`anthropic-beta`, `OpenAI-Beta`) and API versions; never auth, tracing or idempotency.
pub fn header_matters(name: &str) -> bool {
    name.contains("beta") || name.contains("version")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn scope(model: &str) -> Scope<'_> {
        Scope {
            namespace: "",
            provider: "openai",
            base: "https://api.openai.com/v1",
            model,
            endpoint: "chat",
        }
    }

    fn key(body: &Value) -> Key {
        let text = body.to_string();
        let mut h = KeyHasher::new(scope("gpt-4o"));
        h.body(&Canon::parse(text.as_bytes()).unwrap(), &[]);
        h.finish()
    }

    #[test]
    fn ignores_order_delivery_and_bookkeeping_fields() {
        let a = json!({"messages":[{"role":"user","content":"hi"}],"temperature":1,"model":"x"});
        let b = json!({"temperature":1.0,"stream":true,"stream_options":{"include_usage":true},
            "user":"u","metadata":{"k":"v"},"messages":[{"content":"hi","role":"user"}],"model":"y"});
        assert_eq!(key(&a), key(&b));
    }

    #[test]
    fn every_answer_field_changes_the_key() {
        let base = json!({"messages":[{"role":"user","content":"hi"}]});
        let mut seen = vec![key(&base)];
        for (field, value) in [
            ("temperature", json!(0.5)),
            ("top_p", json!(0.9)),
            ("seed", json!(7)),
            ("n", json!(2)),
            ("max_tokens", json!(10)),
            ("stop", json!(["x"])),
            ("logprobs", json!(true)),
            ("tools", json!([{"type":"function","function":{"name":"f"}}])),
            ("tool_choice", json!("required")),
            ("response_format", json!({"type":"json_object"})),
            ("reasoning_effort", json!("low")),
        ] {
            let mut body = base.clone();
            body[field] = value;
            let k = key(&body);
            assert!(!seen.contains(&k), "{field} did not change the key");
            seen.push(k);
        }
        let other = json!({"messages":[{"role":"user","content":"hi!"}]});
        assert!(!seen.contains(&key(&other)));
    }

    #[test]
    fn strings_borrow_unless_escaped_and_repeated_keys_keep_the_last() {
        let c = Canon::parse(br#"{"b":"plain","a":"tab\t","b":"again"}"#).unwrap();
        assert!(matches!(c.get("a"), Some(Canon::Str(Cow::Owned(s))) if s == "tab\t"));
        assert!(matches!(c.get("b"), Some(Canon::Str(Cow::Borrowed("again")))));
        assert_eq!(key(&json!({"a": "tab\t", "b": "again"})), {
            let mut h = KeyHasher::new(scope("gpt-4o"));
            h.body(&c, &[]);
            h.finish()
        });
        assert!(Canon::parse(b"{\"a\":").is_err());
    }

    #[test]
    fn large_objects_are_sorted_too() {
        let forward: Map<String, Value> = (0..40).map(|i| (format!("k{i:02}"), json!(i))).collect();
        let backward: Map<String, Value> = (0..40).rev().map(|i| (format!("k{i:02}"), json!(i))).collect();
        assert_eq!(key(&json!({"x": forward.clone()})), key(&json!({"x": backward})));
        let mut fewer = forward.clone();
        fewer.remove("k39");
        assert_ne!(key(&json!({"x": forward})), key(&json!({"x": fewer})));
    }

    #[test]
    fn scope_parts_and_types_are_not_confused() {
        let body = Canon::parse(br#"{"messages":[]}"#).unwrap();
        let mut h = KeyHasher::new(scope("a"));
        h.body(&body, &[]);
        let mut g = KeyHasher::new(scope("b"));
        g.body(&body, &[]);
        assert_ne!(h.finish(), g.finish());
        assert_ne!(key(&json!({"stop":"1"})), key(&json!({"stop":1})));
        assert_ne!(key(&json!({"a":["b","c"]})), key(&json!({"a":["bc"]})));
        assert_ne!(key(&json!({"x":0.5})), key(&json!({"x":0.25})));
    }
}
