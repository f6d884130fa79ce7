//! `POST /v1/chat/completions` of the mock provider: the handler applies a scripted fault or
//! answers with the reply (echo, configured text or a schema instance) as a whole
//! `chat.completion` document or an SSE stream. Its parts: request validation (`request`), the
//! whole document (`document`) and the stream events (`stream`).

mod document;
mod request;
mod stream;

use bytes::Bytes;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use super::body::MockBody;
use super::faults::Fault;
use super::reply::{make_reply, Reply};
use super::respond::{answer, json_response, plain, scripted_response, unix_now, JSON};
use super::split::{split_even, split_given, split_words};
use super::state::Shared;

pub(crate) use document::{completion_body, Envelope};
pub(crate) use request::{content_text, invalid_type, optional_bool, parse_request, sniff_model, BadRequest};
pub(crate) use stream::{stream_events, StreamEnd, StreamPlan};

const SSE: HeaderValue = HeaderValue::from_static("text/event-stream");

/// Answers a chat-completions request, applying the next queued fault.
pub(crate) async fn handle(shared: &Shared, seq: u64, body: &Bytes) -> Response<MockBody> {
    answer(shared, |fault| chat_response(shared, seq, body, fault)).await
}

fn chat_response(shared: &Shared, seq: u64, body: &Bytes, fault: &Fault) -> Response<MockBody> {
    if let Some(scripted) = scripted_response(body, fault) {
        return scripted;
    }
    let status = fault.status.and_then(|s| StatusCode::from_u16(s).ok());
    let cut = fault.cut_after.is_some();

    let req = match parse_request(body) {
        Ok(req) => req,
        Err(bad) => return json_response(StatusCode::BAD_REQUEST, &bad.body),
    };
    let explicit = shared.stream_pieces(fault);
    // What the model answers: the tool results that end the conversation, else the last user
    // message.
    let prompt = req.tool_results.as_ref().or(req.last_user_text.as_ref());
    let calls = match prompt.filter(|_| fault.reply.is_none() && !req.tools.is_empty()) {
        Some(prompt) => match super::tool_call::calls(prompt, &req.tools) {
            Ok(calls) => calls,
            Err(why) => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &BadRequest::new(why, Some("messages"), None).body,
                )
            }
        },
        None => Vec::new(),
    };
    let reply = if calls.is_empty() {
        let text = shared.reply_text(fault, || {
            let echo = prompt.cloned().filter(|t| !t.is_empty());
            match &req.response_format {
                Some(format) => super::schema::reply_for(format, echo.as_deref()).or(echo),
                None => echo,
            }
        });
        make_reply(text, req.max_tokens)
    } else {
        let arguments: usize = calls.iter().map(|c| c.arguments.to_string().len()).sum();
        Reply {
            text: String::new(),
            finish_reason: "tool_calls",
            tokens: u64::try_from(arguments.div_ceil(4)).unwrap_or(u64::MAX) + 10 * calls.len() as u64,
        }
    };
    let id = format!("chatcmpl-mock-{seq}");
    let env = Envelope {
        id: &id,
        created: unix_now(),
        model: &req.model,
    };
    let status = status.unwrap_or(StatusCode::OK);

    if !req.stream {
        let mut doc = completion_body(&env, &req, &reply, &calls);
        if fault.malformed {
            doc.truncate(doc.len() / 2);
        }
        return plain(status, Bytes::from(doc), JSON, cut);
    }

    let pieces = match (explicit, shared.behaviour.stream_chunks) {
        (Some(given), _) => split_given(&reply.text, given),
        (None, Some(parts)) => split_even(&reply.text, parts),
        (None, None) => split_words(&reply.text),
    };
    let end = match (&fault.error_event, cut) {
        (Some(event), _) => StreamEnd::Error(event.clone()),
        (None, true) => StreamEnd::Cut,
        (None, false) => StreamEnd::Complete,
    };
    let limit = match end {
        StreamEnd::Complete => None,
        _ => Some(fault.cut_after.unwrap_or(0)),
    };
    let plan = StreamPlan {
        pieces,
        limit,
        malformed: fault.malformed,
        end,
    };
    let events = stream_events(&env, &req, &reply, &calls, &plan);
    let body = MockBody::events(
        events.data,
        events.ends,
        shared.behaviour.chunk_delay,
        plan.end == StreamEnd::Cut,
    );
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, SSE);
    headers.insert(hyper::header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
