//! Tests of the Anthropic translation on bodies and event transcripts shaped like Anthropic's
//! documented examples.

use std::collections::VecDeque;

use serde_json::{json, Map, Value};

use super::*;
use crate::error::Kind;
use crate::providers::adapter::StreamTranslator;
use crate::sse::{Decoder, Event};
use crate::types::ChatCompletionChunk;

fn obj(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

/// Translates a request and parses the bytes back.
fn translate(value: Value) -> Value {
    let bytes = chat_request(&obj(value)).expect("request translates");
    serde_json::from_slice(&bytes).expect("valid JSON")
}

fn translate_err(value: Value) -> crate::Error {
    chat_request(&obj(value)).expect_err("request is rejected")
}

fn user(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

mod errors;
mod request;
mod response;
mod streaming;
