//! The audio routes: `POST /v1/audio/speech` (JSON in, audio bytes out) and
//! `POST /v1/audio/transcriptions` (a multipart upload, routed by its `model` field).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::Value;

use super::admit::{admit, Spend};
use super::errors::{error_response, from_core, json_response, refused};
use super::multipart;
use super::{AppState, Caller};
use crate::types::ToJson;
use crate::Request;

/// The longest text field of a transcription upload.
const MAX_FIELD_BYTES: usize = 64 << 10;

/// `POST /v1/audio/speech`: the provider's audio, with its content type.
pub(crate) async fn speech(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    let (model, format) = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(fields)) => match fields.get("model") {
            Some(Value::String(m)) if !m.is_empty() => (
                m.clone(),
                fields
                    .get("response_format")
                    .and_then(Value::as_str)
                    .unwrap_or("mp3")
                    .to_owned(),
            ),
            _ => return bad_request("model is required (a non-empty string)"),
        },
        _ => return bad_request("the request body must be a JSON object"),
    };
    let gate = match admit(&state, &state.client, &caller, &model, &body).await {
        Ok(gate) => gate,
        Err(refusal) => return refused(&refusal),
    };
    let request = Request {
        body,
        model,
        ..Request::default()
    };
    match state.client.speech(request).await {
        Ok(audio) => {
            gate.settle(Spend::default()).await;
            let mut response = Response::new(Body::from(audio.into_bytes()));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static(audio_type(&format)));
            response
        }
        Err(err) => from_core(&err),
    }
}

/// `POST /v1/audio/transcriptions`: OpenAI's JSON, or plain text for the `text`, `srt` and
/// `vtt` formats.
pub(crate) async fn transcriptions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    form: Multipart,
) -> Response {
    let upload = match multipart::read(form, "audio", MAX_FIELD_BYTES)
        .await
        .and_then(multipart::Form::into_upload)
    {
        Ok(upload) => upload,
        Err(why) => return bad_request(&why),
    };
    let field = |name: &str| upload.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(model) = field("model").filter(|m| !m.is_empty()) else {
        return bad_request("model is required (a form field)");
    };
    let plain = matches!(field("response_format").as_deref(), Some("text" | "srt" | "vtt"));
    let gate = match admit(&state, &state.client, &caller, &model, b"").await {
        Ok(gate) => gate,
        Err(refusal) => return refused(&refusal),
    };
    match state.client.transcribe(upload, model, HeaderMap::new()).await {
        Ok(text) => {
            gate.settle(Spend::default()).await;
            if plain {
                let mut response = Response::new(Body::from(text.text));
                response
                    .headers_mut()
                    .insert("content-type", HeaderValue::from_static("text/plain; charset=utf-8"));
                response
            } else {
                json_response(StatusCode::OK, &text.to_json())
            }
        }
        Err(err) => from_core(&err),
    }
}

/// The content type of a speech `response_format`.
fn audio_type(format: &str) -> &'static str {
    match format {
        "opus" => "audio/ogg",
        "aac" => "audio/aac",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        "pcm" => "audio/pcm",
        _ => "audio/mpeg",
    }
}

fn bad_request(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "invalid_request_error", message, None)
}
