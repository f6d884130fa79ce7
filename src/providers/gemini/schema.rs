//! JSON Schema -> the OpenAPI subset Gemini's `Schema` accepts.
//!
//! Gemini rejects a schema with keywords it does not know (`additionalProperties`, `$schema`,
//! `$ref`, ...), which OpenAI-style schemas (and Pydantic's) routinely carry. This keeps the
//! keywords Gemini documents, inlines local `$ref`s, and rewrites the two common JSON Schema
//! forms it has an equivalent for (`type` lists with `"null"`, and `const`).

use serde_json::{Map, Value};

/// Keywords of Gemini's `Schema` object.
const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// How deep `$ref`s are followed before giving up (recursive schemas cannot be inlined).
const MAX_DEPTH: usize = 24;

/// The Gemini form of `schema` (a JSON Schema object).
pub(crate) fn to_gemini(schema: &Value) -> Value {
    let defs = collect_defs(schema);
    convert(schema, &defs, 0)
}

fn collect_defs(schema: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(Value::Object(d)) = schema.get(key) {
            for (name, def) in d {
                defs.insert(format!("#/{key}/{name}"), def.clone());
            }
        }
    }
    defs
}

fn convert(schema: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    if let Some(Value::String(target)) = obj.get("$ref") {
        if depth < MAX_DEPTH {
            if let Some(def) = defs.get(target) {
                let mut inlined = convert(def, defs, depth + 1);
                // Sibling keywords (e.g. a description next to the $ref) win over the definition's.
                if let (Value::Object(out), Value::Object(_)) = (&mut inlined, def) {
                    for (k, v) in obj {
                        if k != "$ref" && KEPT.contains(&k.as_str()) {
                            out.insert(k.clone(), convert_keyword(k, v, defs, depth));
                        }
                    }
                }
                return inlined;
            }
        }
        // An unresolvable (or too deep) reference: the best Gemini can take is "any object".
        return serde_json::json!({"type": "object"});
    }
    let mut out = Map::new();
    for (k, v) in obj {
        if KEPT.contains(&k.as_str()) {
            out.insert(k.clone(), convert_keyword(k, v, defs, depth));
        }
    }
    if let Some(c) = obj.get("const") {
        out.entry("enum").or_insert_with(|| Value::Array(vec![c.clone()]));
    }
    if let Some(Value::Array(types)) = obj.get("type") {
        let non_null: Vec<&Value> = types.iter().filter(|t| t.as_str() != Some("null")).collect();
        if non_null.len() < types.len() {
            out.insert("nullable".to_owned(), Value::Bool(true));
        }
        match non_null.as_slice() {
            [one] => {
                out.insert("type".to_owned(), (*one).clone());
            }
            [] => {
                out.remove("type");
            }
            many => {
                out.remove("type");
                let variants = many.iter().map(|t| serde_json::json!({ "type": t })).collect();
                out.insert("anyOf".to_owned(), Value::Array(variants));
            }
        }
    }
    // `anyOf: [X, {"type": "null"}]` (Pydantic's Optional[X]) -> X + nullable.
    if let Some(Value::Array(variants)) = out.get("anyOf") {
        let is_null = |v: &Value| v.get("type").and_then(Value::as_str) == Some("null");
        if variants.iter().any(is_null) {
            let rest: Vec<Value> = variants.iter().filter(|v| !is_null(v)).cloned().collect();
            out.remove("anyOf");
            out.insert("nullable".to_owned(), Value::Bool(true));
            if let [Value::Object(only)] = rest.as_slice() {
                for (k, v) in only {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
            } else if !rest.is_empty() {
                out.insert("anyOf".to_owned(), Value::Array(rest));
            }
        }
    }
    Value::Object(out)
}

fn convert_keyword(key: &str, value: &Value, defs: &Map<String, Value>, depth: usize) -> Value {
    match (key, value) {
        ("properties", Value::Object(props)) => Value::Object(
            props
                .iter()
                .map(|(name, s)| (name.clone(), convert(s, defs, depth)))
                .collect(),
        ),
        ("items", item @ Value::Object(_)) => convert(item, defs, depth),
        ("anyOf", Value::Array(variants)) => Value::Array(variants.iter().map(|s| convert(s, defs, depth)).collect()),
        _ => value.clone(),
    }
}

/// Whether `schema` is an object schema without any property (Gemini rejects those as
/// function parameters, so they are left out).
pub(crate) fn is_empty_object(schema: &Value) -> bool {
    let Value::Object(obj) = schema else {
        return true;
    };
    let no_props = obj
        .get("properties")
        .and_then(Value::as_object)
        .is_none_or(Map::is_empty);
    let object_type = obj.get("type").and_then(Value::as_str).is_none_or(|t| t == "object");
    object_type && no_props && !obj.contains_key("anyOf")
}
