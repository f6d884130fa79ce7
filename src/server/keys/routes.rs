//! The `/key/*` admin routes, in LiteLLM's request and response shapes: `generate`, `info`,
//! `update`, `delete` and `list`. All but `info` want the master key; a virtual key may read its
//! own info.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::{KeyRequest, Keys, Refusal};
use crate::server::errors::{json_response, refused};
use crate::server::{AppState, Caller, Who};

/// The largest page `/key/list` answers.
const MAX_PAGE_SIZE: usize = 1_000;

/// `POST /key/generate`: a new key, shown this once, with its settings.
pub(crate) async fn generate(State(state): State<Arc<AppState>>, caller: Extension<Caller>, body: Bytes) -> Response {
    let (keys, request) = match admin_request(&state, &caller, &body) {
        Ok(both) => both,
        Err(refusal) => return refused(&refusal),
    };
    match keys.generate(&request).await {
        Ok((value, key)) => {
            let mut out = serde_json::Map::new();
            out.insert("key".into(), Value::String(value));
            out.extend(key.info());
            json_response(StatusCode::OK, &Value::Object(out))
        }
        Err(refusal) => refused(&refusal),
    }
}

/// `GET /key/info?key=...`: a key's settings and spend (the caller's own without `key`).
pub(crate) async fn info(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(keys) = &state.keys else {
        return refused(&no_keys());
    };
    let given = query.get("key").map(String::as_str);
    let key = match (&caller.who, given) {
        (Who::Key(own), None) => Ok(Some(Arc::clone(own))),
        (Who::Key(own), Some(given)) => match keys.lookup(given).await {
            Ok(Some(key)) if Arc::ptr_eq(&key, own) => Ok(Some(key)),
            _ => return refused(&Refusal::forbidden("a virtual key may only read its own info")),
        },
        (_, Some(given)) => keys.lookup(given).await,
        (_, None) => return bad_request("key is required (?key=...)"),
    };
    match key {
        Err(refusal) => refused(&refusal),
        Ok(Some(key)) => {
            let shown = given.map_or_else(|| key.token.clone(), str::to_owned);
            json_response(StatusCode::OK, &json!({"key": shown, "info": keys.info(&key).await}))
        }
        Ok(None) => refused(&Refusal::unknown_key()),
    }
}

/// `POST /key/update`: changes the fields sent for `key`.
pub(crate) async fn update(State(state): State<Arc<AppState>>, caller: Extension<Caller>, body: Bytes) -> Response {
    let (keys, request) = match admin_request(&state, &caller, &body) {
        Ok(both) => both,
        Err(refusal) => return refused(&refusal),
    };
    match keys.update(&request).await {
        Ok(key) => {
            let mut out = keys.info(&key).await;
            out.insert("key".into(), json!(request.key));
            json_response(StatusCode::OK, &Value::Object(out))
        }
        Err(refusal) => refused(&refusal),
    }
}

/// `POST /key/delete` with `{"keys": [...]}`: answers `{"deleted_keys": [...]}`.
pub(crate) async fn delete(State(state): State<Arc<AppState>>, caller: Extension<Caller>, body: Bytes) -> Response {
    let keys = match admin(&state, &caller) {
        Ok(keys) => keys,
        Err(refusal) => return refused(&refusal),
    };
    let given: Vec<String> = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut fields)) => match fields.remove("keys") {
            Some(Value::Array(items)) if items.len() <= MAX_PAGE_SIZE => {
                match items.into_iter().map(|v| v.as_str().map(str::to_owned)).collect() {
                    Some(given) => given,
                    None => return bad_request("keys must be a list of keys"),
                }
            }
            _ => return bad_request("keys must be a list of at most 1000 keys"),
        },
        _ => return bad_request("the request body must be a JSON object with keys: [...]"),
    };
    match keys.delete(&given).await {
        Ok(deleted) => json_response(StatusCode::OK, &json!({"deleted_keys": deleted})),
        Err(refusal) => refused(&refusal),
    }
}

/// `GET /key/list?page=1&size=10&key_alias=...&return_full_object=true`: key hashes (or whole
/// infos), oldest first, paged.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let keys = match admin(&state, &caller) {
        Ok(keys) => keys,
        Err(refusal) => return refused(&refusal),
    };
    let number = |name: &str, default: usize| match query.get(name) {
        None => Ok(default),
        Some(v) => v.parse::<usize>().ok().filter(|n| *n >= 1).ok_or(name.to_owned()),
    };
    let (page, size) = match (number("page", 1), number("size", 100)) {
        (Ok(page), Ok(size)) => (page, size.min(MAX_PAGE_SIZE)),
        (Err(name), _) | (_, Err(name)) => return bad_request(&format!("{name} must be a whole number >= 1")),
    };
    let full = query.get("return_full_object").is_some_and(|v| v == "true");
    let alias = query.get("key_alias");
    let matching: Vec<_> = keys
        .all()
        .into_iter()
        .filter(|k| alias.is_none() || k.alias().as_ref() == alias)
        .collect();
    let total = matching.len();
    let mut shown = Vec::with_capacity(size.min(total));
    for key in matching.iter().skip((page - 1).saturating_mul(size)).take(size) {
        shown.push(if full {
            Value::Object(keys.info(key).await)
        } else {
            json!(key.token)
        });
    }
    json_response(
        StatusCode::OK,
        &json!({"keys": shown, "total_count": total, "current_page": page, "total_pages": total.div_ceil(size)}),
    )
}

/// The key store, when the caller holds the master key.
fn admin<'a>(state: &'a AppState, caller: &Caller) -> Result<&'a Keys, Refusal> {
    let Some(keys) = &state.keys else {
        return Err(no_keys());
    };
    match caller.who {
        Who::Master => Ok(keys),
        _ => Err(Refusal::forbidden("only the master key may manage keys")),
    }
}

/// The key store and the key request of an admin's `generate` or `update`.
fn admin_request<'a>(state: &'a AppState, caller: &Caller, body: &[u8]) -> Result<(&'a Keys, KeyRequest), Refusal> {
    let keys = admin(state, caller)?;
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::bad_request(&format!("the request body is not valid JSON: {e}")))?;
    let request = KeyRequest::parse(&value).map_err(|e| Refusal::bad_request(&e))?;
    Ok((keys, request))
}

fn no_keys() -> Refusal {
    Refusal::bad_request("virtual keys need a master key: set general_settings.master_key")
}

fn bad_request(message: &str) -> Response {
    refused(&Refusal::bad_request(message))
}
