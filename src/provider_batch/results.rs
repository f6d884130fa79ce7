//! Reading a provider batch's result lines into one outcome per request: a chat response
//! decoded as `chat` decodes one (Anthropic's translated), or the error the provider reported.
//!
//! Result files come from the provider and are not trusted: a line that does not parse, names
//! a custom id we did not send or one outside its batch is skipped; a request with no line gets
//! an error that says why (cancelled, expired, rejected batch, or missing).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

use super::encode::index_of;
use super::manifest::{Api, Part, PartState};
use crate::error::{Error, Kind, Result};
use crate::types::ChatCompletionResponse;

/// One outcome slot per request of the job.
pub(super) type Slots = Vec<Option<Result<ChatCompletionResponse>>>;

/// A result line, as far as it is read: the custom id, and the rest borrowed unparsed.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    custom_id: Option<Cow<'a, str>>,
    /// OpenAI: the answer.
    #[serde(borrow)]
    response: Option<&'a RawValue>,
    /// OpenAI: an error instead of an answer.
    error: Option<Value>,
    /// Anthropic: the outcome.
    #[serde(borrow)]
    result: Option<Outcome<'a>>,
}

/// OpenAI's `response` of a line.
#[derive(Deserialize)]
struct Answer<'a> {
    status_code: Option<u64>,
    request_id: Option<String>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

/// Anthropic's `result` of a line.
#[derive(Deserialize)]
struct Outcome<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    message: Option<&'a RawValue>,
    error: Option<Value>,
}

/// Reads result lines of `part` into `slots` (the first line for a request wins).
pub(super) fn read(api: Api, data: &[u8], part: &Part, slots: &mut Slots) {
    let range = part.first..part.first + part.count;
    for line in data.split(|b| *b == b'\n') {
        let Ok(line) = serde_json::from_slice::<Line<'_>>(line) else {
            continue;
        };
        let Some(index) = line
            .custom_id
            .as_deref()
            .and_then(index_of)
            .filter(|i| range.contains(i))
        else {
            continue;
        };
        if slots[index].is_none() {
            slots[index] = Some(match api {
                Api::OpenAi => openai_outcome(line),
                Api::Anthropic => anthropic_outcome(line.result),
            });
        }
    }
}

/// A request a cancellation stopped before it ran.
fn cancelled() -> Error {
    Error::new(Kind::Cancelled, "the batch was cancelled before this request ran")
}

/// A request the batch's completion window ended before.
fn expired() -> Error {
    Error::new(
        Kind::Timeout,
        "the batch's completion window ended before this request ran",
    )
}

/// The outcome for a request of `part` that has no result line.
pub(super) fn missing(part: &Part) -> Error {
    match part.state {
        PartState::Cancelled => cancelled(),
        PartState::Expired => expired(),
        PartState::Failed => Error::new(
            Kind::BadRequest,
            format!(
                "the provider rejected the batch: {}",
                part.errors.as_deref().unwrap_or("no reason given")
            ),
        ),
        _ => Error::new(Kind::Server, "the provider returned no result for this request"),
    }
}

fn not_an_answer(e: &serde_json::Error) -> Error {
    Error::new(
        Kind::Serialization,
        format!("the result is not a valid chat completion: {e}"),
    )
}

/// An OpenAI output or error line: `{"response": {"status_code", "request_id", "body"},
/// "error": {"code", "message"} | null}`.
fn openai_outcome(line: Line<'_>) -> Result<ChatCompletionResponse> {
    let answer = match line.response {
        Some(raw) if raw.get() != "null" => {
            Some(serde_json::from_str::<Answer<'_>>(raw.get()).map_err(|e| not_an_answer(&e))?)
        }
        _ => None,
    };
    let request_id = answer.as_ref().and_then(|a| a.request_id.clone());
    if let Some(error) = line.error.filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(Value::as_str).unwrap_or_default();
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the request failed");
        let kind = match code {
            "batch_expired" => Kind::Timeout,
            "batch_cancelled" => Kind::Cancelled,
            _ => Kind::Server,
        };
        return Err(Error::new(kind, message.to_owned()).with_request_id(request_id));
    }
    let Some(answer) = answer else {
        return Err(Error::new(
            Kind::Serialization,
            "the result line has neither a response nor an error",
        ));
    };
    let body = answer.body.map_or("null", RawValue::get).as_bytes();
    let status = answer.status_code.and_then(|s| u16::try_from(s).ok()).unwrap_or(0);
    if status != 200 {
        return Err(Error::from_response(status, body).with_request_id(request_id));
    }
    let mut parsed: ChatCompletionResponse = serde_json::from_slice(body).map_err(|e| not_an_answer(&e))?;
    parsed.request_id = request_id;
    Ok(parsed)
}

/// An Anthropic result: `{"type": "succeeded", "message"} | {"type": "errored", "error"} |
/// {"type": "canceled"} | {"type": "expired"}`.
fn anthropic_outcome(result: Option<Outcome<'_>>) -> Result<ChatCompletionResponse> {
    let Some(result) = result else {
        return Err(Error::new(Kind::Serialization, "the result line has no result"));
    };
    match result.kind.as_ref() {
        "succeeded" => {
            let message = result.message.map_or("null", RawValue::get);
            crate::providers::anthropic::chat_response(message.as_bytes())
        }
        "errored" => Err(crate::providers::anthropic::error_from_event(
            result.error.unwrap_or(Value::Null),
        )),
        "canceled" => Err(cancelled()),
        "expired" => Err(expired()),
        other => Err(Error::new(
            Kind::Serialization,
            format!("unknown result type {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(first: usize, count: usize, state: PartState) -> Part {
        Part {
            state,
            ..Part::new(first, count, 0, String::new())
        }
    }

    #[test]
    fn openai_lines_fill_their_slots_and_foreign_lines_are_skipped() {
        let ok = r#"{"custom_id":"r1","response":{"status_code":200,"request_id":"req_1","body":{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}},"error":null}"#;
        let refused = r#"{"custom_id":"r2","response":{"status_code":429,"body":{"error":{"message":"slow down","type":"rate_limit"}}},"error":null}"#;
        let expired = r#"{"custom_id":"r3","response":null,"error":{"code":"batch_expired","message":"expired"}}"#;
        let foreign = r#"{"custom_id":"r9","response":{"status_code":200,"body":{}}}"#;
        let data = [ok, refused, "not json", expired, foreign, r#"{"custom_id":"r1"}"#].join("\n");
        let mut slots: Slots = (0..10).map(|_| None).collect();
        read(
            Api::OpenAi,
            data.as_bytes(),
            &part(1, 3, PartState::Completed),
            &mut slots,
        );
        let first = slots[1].take().unwrap().unwrap();
        assert_eq!(first.choices[0].message.content.as_deref(), Some("hi"));
        assert_eq!(first.request_id.as_deref(), Some("req_1"));
        assert_eq!(slots[2].take().unwrap().unwrap_err().kind(), Kind::RateLimited);
        assert_eq!(slots[3].take().unwrap().unwrap_err().kind(), Kind::Timeout);
        assert!(slots.iter().all(Option::is_none), "r9 is outside the part");
    }

    #[test]
    fn anthropic_results_translate_and_errors_keep_their_type() {
        let ok = r#"{"custom_id":"r0","result":{"type":"succeeded","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}}}"#;
        let bad = r#"{"custom_id":"r1","result":{"type":"errored","error":{"type":"error","error":{"type":"overloaded_error","message":"busy"}}}}"#;
        let gone = r#"{"custom_id":"r2","result":{"type":"canceled"}}"#;
        let data = [ok, bad, gone].join("\n");
        let mut slots: Slots = (0..4).map(|_| None).collect();
        read(
            Api::Anthropic,
            data.as_bytes(),
            &part(0, 4, PartState::Completed),
            &mut slots,
        );
        let first = slots[0].take().unwrap().unwrap();
        assert_eq!(first.choices[0].message.content.as_deref(), Some("hello"));
        assert_eq!(first.choices[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(first.usage.unwrap().prompt_tokens, 3);
        assert_eq!(slots[1].take().unwrap().unwrap_err().kind(), Kind::ServiceUnavailable);
        assert_eq!(slots[2].take().unwrap().unwrap_err().kind(), Kind::Cancelled);
        assert!(slots[3].is_none());
        assert_eq!(missing(&part(0, 4, PartState::Expired)).kind(), Kind::Timeout);
    }
}
