//! Structured output of the mock provider: a minimal valid instance of the requested
//! `json_schema` (or a small object for `json_object`), used as the reply text.
//!
//! Instances follow the schema: `const` and the first `enum` value win; objects carry every
//! property; arrays `max(minItems, 1)` items; strings `"mock"` (padded to `minLength`, a fixed
//! date for `date-time`/`date`/`time`, a nil UUID for `uuid`); numbers their `minimum` or 0;
//! `anyOf`/`oneOf` their first non-null variant; `$ref` resolves under `#/$defs` and
//! `#/definitions`. Recursion stops at a fixed depth with the smallest value of the type.

use serde_json::{json, Map, Value};

/// Depth at which nested objects and arrays are left empty (recursive schemas).
const MAX_DEPTH: usize = 12;

/// The reply text for a `response_format`, when it asks for JSON.
pub(crate) fn reply_for(format: &Value, echo: Option<&str>) -> Option<String> {
    match format.get("type").and_then(Value::as_str)? {
        "json_schema" => {
            let schema = format.get("json_schema")?.get("schema").unwrap_or(&Value::Null);
            Some(instance(schema, schema, 0).to_string())
        }
        "json_object" => Some(json!({ "message": echo.unwrap_or(super::reply::FALLBACK_REPLY) }).to_string()),
        _ => None,
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    path.split('/').try_fold(root, |node, key| node.get(key))
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// A minimal instance of `schema`, whose `$ref`s resolve against `root`.
pub(crate) fn instance(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(node) = schema else {
        return Value::Null;
    };
    if let Some(value) = node.get("const") {
        return value.clone();
    }
    if let Some(first) = node.get("enum").and_then(Value::as_array).and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(target) = node.get("$ref").and_then(Value::as_str).and_then(|r| resolve(root, r)) {
        if depth < MAX_DEPTH {
            return instance(target, root, depth + 1);
        }
        return Value::Null;
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = node.get(key).and_then(Value::as_array) {
            let pick = variants.iter().find(|v| !is_null_schema(v)).or(variants.first());
            return pick.map_or(Value::Null, |v| instance(v, root, depth + 1));
        }
    }
    if let Some(parts) = node.get("allOf").and_then(Value::as_array) {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(fields) = instance(part, root, depth + 1) {
                merged.extend(fields);
            }
        }
        return Value::Object(merged);
    }
    let kind = match node.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if node.contains_key("properties") => "object",
        _ if node.contains_key("items") => "array",
        _ => return Value::Object(Map::new()),
    };
    match kind {
        "object" => object(node, root, depth),
        "array" => array(node, root, depth),
        "string" => string(node),
        "integer" => node
            .get("minimum")
            .and_then(Value::as_i64)
            .map_or(json!(0), |m| json!(m)),
        "number" => node
            .get("minimum")
            .and_then(Value::as_f64)
            .map_or(json!(0.0), |m| json!(m)),
        "boolean" => Value::Bool(true),
        _ => Value::Null,
    }
}

fn object(node: &Map<String, Value>, root: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    if depth >= MAX_DEPTH {
        return Value::Object(out);
    }
    if let Some(Value::Object(properties)) = node.get("properties") {
        for (name, schema) in properties {
            out.insert(name.clone(), instance(schema, root, depth + 1));
        }
    }
    Value::Object(out)
}

fn array(node: &Map<String, Value>, root: &Value, depth: usize) -> Value {
    if depth >= MAX_DEPTH {
        return Value::Array(Vec::new());
    }
    if let Some(Value::Array(prefix)) = node.get("prefixItems") {
        return prefix.iter().map(|s| instance(s, root, depth + 1)).collect();
    }
    let count = node.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1);
    let item = node.get("items").map_or(Value::Null, |s| instance(s, root, depth + 1));
    Value::Array((0..count).map(|_| item.clone()).collect())
}

fn string(node: &Map<String, Value>) -> Value {
    let text = match node.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z".to_owned(),
        Some("date") => "2024-01-01".to_owned(),
        Some("time") => "00:00:00".to_owned(),
        Some("uuid") => "00000000-0000-0000-0000-000000000000".to_owned(),
        Some("email") => "mock@example.com".to_owned(),
        Some("uri") => "https://example.com/".to_owned(),
        _ => {
            let min = node.get("minLength").and_then(Value::as_u64).unwrap_or(0);
            let mut text = "mock".to_owned();
            while (text.len() as u64) < min {
                text.push('k');
            }
            text
        }
    };
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_minimal_valid_instance() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 6},
                "age": {"type": "integer", "minimum": 18},
                "score": {"type": "number"},
                "ok": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "color": {"type": "string", "enum": ["red", "green"]},
                "note": {"anyOf": [{"type": "null"}, {"type": "string", "format": "date"}]},
                "pet": {"$ref": "#/$defs/Pet"},
                "kind": {"const": "fixed"},
                "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "boolean"}]},
                "maybe": {"type": ["null", "integer"]},
            },
            "$defs": {"Pet": {"type": "object", "properties": {"legs": {"type": "integer"}}}},
        });
        assert_eq!(
            instance(&schema, &schema, 0),
            json!({"name": "mockkk", "age": 18, "score": 0.0, "ok": true, "tags": ["mock", "mock"],
                   "color": "red", "note": "2024-01-01", "pet": {"legs": 0}, "kind": "fixed",
                   "pair": [0, true], "maybe": 0})
        );
    }

    #[test]
    fn recursion_stops_and_formats_pick_the_reply() {
        let schema = json!({"$ref": "#/$defs/Node", "$defs": {"Node": {"type": "object",
            "properties": {"child": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]}}}}});
        let value = instance(&schema, &schema, 0);
        assert!(value["child"]["child"].is_object());
        let format = json!({"type": "json_schema", "json_schema": {"name": "n", "schema": {"type": "object",
            "properties": {"a": {"type": "string"}}}}});
        assert_eq!(reply_for(&format, Some("x")).as_deref(), Some(r#"{"a":"mock"}"#));
        let object = json!({"type": "json_object"});
        assert_eq!(reply_for(&object, Some("hi")).as_deref(), Some(r#"{"message":"hi"}"#));
        assert_eq!(reply_for(&json!({"type": "text"}), Some("hi")), None);
    }
}
