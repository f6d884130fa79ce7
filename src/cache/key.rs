//! Cache keys: a BLAKE3 hash of the canonical form of everything that changes an answer.
//!
//! The hashed form is: a format version, the namespace, the scope (the provider and the base
//! URL it is reached at, or the routed group), the model, the endpoint, then the request body
//! without the fields that never change the answer ([`IGNORED`]), with object keys sorted and
//! numbers normalised (`1` and `1.0` are the same). Strings (base64 images and files among them)
//! are hashed byte for byte. Each value is tagged and length-prefixed, so no two different
//! requests share a hashed form.

use serde_json::{Map, Value};

use super::store::Key;

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

/// Objects of up to this many fields are sorted without allocating.
const SMALL: usize = 16;

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

    /// Adds a request body's fields, skipping `skip` and [`IGNORED`].
    pub fn body(&mut self, body: &Map<String, Value>, skip: &[&str]) {
        self.object(
            body.iter()
                .filter(|(k, _)| !IGNORED.contains(&k.as_str()) && !skip.contains(&k.as_str())),
        );
    }

    /// Adds a named header value (only headers that may change the answer are passed here).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        self.tag(b'h');
        self.bytes(name.as_bytes());
        self.bytes(value);
    }

    /// Adds one value.
    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.tag(b'n'),
            Value::Bool(b) => self.tag(if *b { b't' } else { b'f' }),
            Value::Number(n) => self.number(n),
            Value::String(s) => {
                self.tag(b's');
                self.bytes(s.as_bytes());
            }
            Value::Array(items) => {
                self.tag(b'a');
                self.0.update(&(items.len() as u64).to_le_bytes());
                for item in items {
                    self.value(item);
                }
            }
            Value::Object(map) => self.object(map.iter()),
        }
    }

    /// Adds an object's fields in key order (sorted on the stack for objects of up to
    /// [`SMALL`] fields, the common case, so no allocation).
    fn object<'v>(&mut self, fields: impl Iterator<Item = (&'v String, &'v Value)>) {
        let mut small: [Option<(&String, &Value)>; SMALL] = [None; SMALL];
        let mut len = 0;
        let mut spill = Vec::new();
        for field in fields {
            if len < SMALL {
                small[len] = Some(field);
            } else {
                if spill.is_empty() {
                    spill.extend(small.iter().flatten().copied());
                }
                spill.push(field);
            }
            len += 1;
        }
        let sorted: &mut [Option<(&String, &Value)>] = &mut small[..len.min(SMALL)];
        self.tag(b'o');
        self.0.update(&(len as u64).to_le_bytes());
        if spill.is_empty() {
            sorted.sort_unstable_by(|a, b| a.map(|f| f.0).cmp(&b.map(|f| f.0)));
            for (k, v) in sorted.iter().flatten() {
                self.field(k, v);
            }
        } else {
            spill.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, v) in spill {
                self.field(k, v);
            }
        }
    }

    fn field(&mut self, key: &str, value: &Value) {
        self.bytes(key.as_bytes());
        self.value(value);
    }

    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    fn number(&mut self, n: &serde_json::Number) {
        // Integers, and floats with an integral value that an i64 holds exactly, hash alike.
        let int = n.as_i64().or_else(|| {
            let f = n.as_f64()?;
            (f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0).then_some(f as i64)
        });
        if let Some(i) = int {
            self.tag(b'i');
            self.0.update(&i.to_le_bytes());
        } else if let Some(u) = n.as_u64() {
            self.tag(b'u');
            self.0.update(&u.to_le_bytes());
        } else {
            self.tag(b'd');
            self.0.update(&n.as_f64().unwrap_or(f64::NAN).to_bits().to_le_bytes());
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
    use serde_json::json;

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
        let mut h = KeyHasher::new(scope("gpt-4o"));
        h.body(body.as_object().unwrap(), &[]);
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
        let body = json!({"messages":[]});
        let mut h = KeyHasher::new(scope("a"));
        h.body(body.as_object().unwrap(), &[]);
        let mut g = KeyHasher::new(scope("b"));
        g.body(body.as_object().unwrap(), &[]);
        assert_ne!(h.finish(), g.finish());
        assert_ne!(key(&json!({"stop":"1"})), key(&json!({"stop":1})));
        assert_ne!(key(&json!({"a":["b","c"]})), key(&json!({"a":["bc"]})));
        assert_ne!(key(&json!({"x":0.5})), key(&json!({"x":0.25})));
    }
}
