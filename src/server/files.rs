//! Files and batches, passed to a provider that has them: the deployment of the model group
//! named by `?model=GROUP` (or a `model` form field on uploads), else the server's own provider.
//! A file or batch lives at one provider, so later calls about it name the same group.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Multipart, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::errors::{error_response, from_core, json_response};
use super::multipart;
use super::{AppState, Caller, Who};
use crate::api::{BatchParams, ListParams};
use crate::deployments::Deployment;
use crate::types::ToJson;
use crate::Client;

/// The longest text field of an upload form.
const MAX_FIELD_BYTES: usize = 1024;
/// The largest page size passed on.
const MAX_LIMIT: u64 = 10_000;

type Params = Query<HashMap<String, String>>;

/// `POST /v1/files` (multipart: `purpose`, `file`, optional `model`).
pub(crate) async fn create_file(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Query(query): Params,
    form: Multipart,
) -> Response {
    let mut form = match multipart::read(form, "upload.jsonl", MAX_FIELD_BYTES).await {
        Ok(form) => form,
        Err(why) => return bad_request(&why),
    };
    let model = form.take("model").or_else(|| query.get("model").cloned());
    match form.fields.as_slice() {
        [(name, _)] if name == "purpose" => {}
        [] => return bad_request("purpose is required (a form field)"),
        _ => return bad_request("unexpected form fields: a file upload takes purpose, file and model"),
    }
    let upload = match form.into_upload() {
        Ok(upload) => upload,
        Err(why) => return bad_request(&why),
    };
    let provider = match Provider::pick(&state, &caller, model.as_deref()) {
        Ok(provider) => provider,
        Err(response) => return *response,
    };
    reply(provider.client().create_file(upload, HeaderMap::new()).await)
}

/// `GET /v1/files`.
pub(crate) async fn list_files(provider: Provider, Query(query): Params) -> Response {
    match list_params(&query) {
        Ok(params) => reply(provider.client().list_files(params).await),
        Err(why) => bad_request(&why),
    }
}

/// `GET /v1/files/{id}`.
pub(crate) async fn retrieve_file(provider: Provider, Path(id): Path<String>) -> Response {
    reply(provider.client().retrieve_file(&id).await)
}

/// `DELETE /v1/files/{id}`.
pub(crate) async fn delete_file(provider: Provider, Path(id): Path<String>) -> Response {
    reply(provider.client().delete_file(&id).await)
}

/// `GET /v1/files/{id}/content`: the bytes as the provider sent them.
pub(crate) async fn file_content(provider: Provider, Path(id): Path<String>) -> Response {
    match provider.client().file_content(&id).await {
        Ok(content) => {
            let mut response = Response::new(Body::from(content.into_bytes()));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/octet-stream"));
            response
        }
        Err(err) => from_core(&err),
    }
}

/// `POST /v1/batches` (OpenAI's body: `input_file_id`, `endpoint`, `completion_window`).
pub(crate) async fn create_batch(provider: Provider, body: Bytes) -> Response {
    if !matches!(
        serde_json::from_slice::<serde_json::Value>(&body),
        Ok(serde_json::Value::Object(_))
    ) {
        return bad_request("the request body must be a JSON object");
    }
    let params = BatchParams {
        body,
        headers: HeaderMap::new(),
    };
    reply(provider.client().create_batch(params).await)
}

/// `GET /v1/batches`.
pub(crate) async fn list_batches(provider: Provider, Query(query): Params) -> Response {
    match list_params(&query) {
        Ok(params) => reply(provider.client().list_batches(params).await),
        Err(why) => bad_request(&why),
    }
}

/// `GET /v1/batches/{id}`.
pub(crate) async fn retrieve_batch(provider: Provider, Path(id): Path<String>) -> Response {
    reply(provider.client().retrieve_batch(&id).await)
}

/// `POST /v1/batches/{id}/cancel`.
pub(crate) async fn cancel_batch(provider: Provider, Path(id): Path<String>) -> Response {
    reply(provider.client().cancel_batch(&id).await)
}

/// The provider a files or batches call goes to, from its `?model=GROUP`.
pub(crate) enum Provider {
    /// The server's own client.
    Own(Arc<AppState>),
    /// The first deployment of the group named.
    Deployment(Arc<Deployment>),
}

impl Provider {
    fn client(&self) -> &Client {
        match self {
            Provider::Own(state) => &state.client,
            Provider::Deployment(deployment) => &deployment.client,
        }
    }

    /// The deployment holding the caller's files and batches: the first of the group `model`
    /// (which a virtual key must be allowed), else the server's own provider.
    fn pick(state: &Arc<AppState>, caller: &Caller, model: Option<&str>) -> Result<Self, Box<Response>> {
        let Some(model) = model.filter(|m| !m.is_empty()) else {
            return Ok(Provider::Own(Arc::clone(state)));
        };
        if let Who::Key(key) = &caller.who {
            if !key.allows(model) {
                return Err(Box::new(error_response(
                    StatusCode::FORBIDDEN,
                    "permission_error",
                    &format!("this key may not use the model {model:?}"),
                    None,
                )));
            }
        }
        let deployment = state
            .client
            .deployments()
            .and_then(|d| d.group(model))
            .and_then(|g| g.members.first());
        match deployment {
            Some(deployment) => Ok(Provider::Deployment(Arc::clone(deployment))),
            None => Err(Box::new(error_response(
                StatusCode::NOT_FOUND,
                "not_found_error",
                &format!("no model group named {model:?}"),
                None,
            ))),
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Provider {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> Result<Self, Response> {
        let Query(query) = Params::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Some(caller) = parts.extensions.get::<Caller>() else {
            return Err(error_response(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "no caller",
                None,
            ));
        };
        Provider::pick(state, caller, query.get("model").map(String::as_str)).map_err(|r| *r)
    }
}

/// `limit`, `after` and `purpose` of a list query.
fn list_params(query: &HashMap<String, String>) -> Result<ListParams, String> {
    let limit = match query.get("limit") {
        None => None,
        Some(v) => Some(
            v.parse::<u64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| format!("limit must be a whole number from 1 to {MAX_LIMIT}"))?,
        ),
    };
    Ok(ListParams {
        purpose: query.get("purpose").cloned(),
        limit,
        after: query.get("after").cloned(),
    })
}

fn reply<T: ToJson>(answer: crate::Result<T>) -> Response {
    match answer {
        Ok(answer) => json_response(StatusCode::OK, &answer.to_json()),
        Err(err) => from_core(&err),
    }
}

fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request_error", message, None)
}
