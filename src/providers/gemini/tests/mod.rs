//! Unit tests of the Gemini translation on bodies and transcripts shaped like Google's.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::*;
use crate::error::Kind;
use crate::providers::adapter::StreamTranslator;
use crate::sse::Event;
use crate::types::ChatCompletionChunk;

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn translate(v: Value) -> Value {
    serde_json::from_slice(&chat_request(&obj(v)).expect("translates")).expect("json")
}

fn translate_err(v: Value) -> crate::error::Error {
    chat_request(&obj(v)).expect_err("rejected")
}

fn event(data: &str) -> Event {
    Event {
        data: data.to_owned(),
        ..Event::default()
    }
}

fn run_stream(model: &str, events: &[Value]) -> (Vec<ChatCompletionChunk>, StreamState) {
    let mut state = StreamState::new(model);
    let mut out = VecDeque::new();
    for e in events {
        state
            .on_event(&event(&e.to_string()), &mut out)
            .expect("event translates");
    }
    (out.into_iter().collect(), state)
}

mod embed;
mod hostile;
mod request;
mod response;
mod streaming;
