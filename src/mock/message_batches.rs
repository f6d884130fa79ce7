//! Anthropic's Message Batches in the mock (`/v1/messages/batches`): create, list, retrieve,
//! cancel and results.
//!
//! A batch is `in_progress` until its first retrieval (with a batch delay: until the delay has
//! passed since its creation), then `ended` with one result line per request: the message the
//! mock's Messages API would answer, or `errored` for a request the Messages API would refuse
//! or whose last user message starts with `fail:`. Cancelling makes it `canceling`, and the
//! next retrieval `ended` with every request `canceled`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::anthropic::batch_message;
use super::routes::Out;
use super::state::Shared;
use super::store::Store;
use crate::server::keys::record::iso8601;

/// Most requests in one message batch (Anthropic's limit).
const MAX_REQUESTS: usize = 100_000;

/// One message batch: its document, its requests, when it was created and its results once
/// it ended.
#[derive(Debug)]
pub(crate) struct MessageBatch {
    doc: Value,
    requests: Vec<Value>,
    born: Instant,
    results: Option<Bytes>,
}

fn error(status: StatusCode, kind: &str, message: &str) -> Out {
    Out::Error(
        status,
        json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

fn invalid(message: &str) -> Out {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// An RFC 3339 UTC timestamp of unix seconds, as Anthropic writes them.
#[allow(clippy::cast_precision_loss)]
fn rfc3339(unix: u64) -> String {
    iso8601(unix as f64)
}

/// Whether a custom id is one Anthropic accepts (1 to 64 of `[A-Za-z0-9_-]`).
fn valid_custom_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl Store {
    /// `POST /v1/messages/batches`.
    pub(crate) fn create_message_batch(&mut self, body: &Map<String, Value>, seq: u64, now: u64) -> Out {
        let Some(requests) = body.get("requests").and_then(Value::as_array) else {
            return invalid("requests: Field required");
        };
        if requests.is_empty() || requests.len() > MAX_REQUESTS {
            return invalid("requests: must hold between 1 and 100000 requests");
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in requests.iter().enumerate() {
            let id = r.get("custom_id").and_then(Value::as_str).unwrap_or_default();
            if !valid_custom_id(id) {
                return invalid(&format!(
                    "requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
                ));
            }
            if !seen.insert(id) {
                return invalid(&format!("requests.{i}.custom_id: duplicate custom_id {id:?}"));
            }
            if !r.get("params").is_some_and(Value::is_object) {
                return invalid(&format!("requests.{i}.params: Field required"));
            }
        }
        let doc = json!({
            "id": format!("msgbatch_mock{seq:08}"),
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {"processing": requests.len(), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "ended_at": null,
            "created_at": rfc3339(now),
            "expires_at": rfc3339(now + 86_400),
            "archived_at": null,
            "cancel_initiated_at": null,
            "results_url": null,
        });
        self.message_batches.push(MessageBatch {
            doc: doc.clone(),
            requests: requests.clone(),
            born: Instant::now(),
            results: None,
        });
        Out::Json(doc)
    }

    /// `GET /v1/messages/batches` (newest first; `limit`, `after_id`).
    pub(crate) fn list_message_batches(&self, query: &[(String, String)]) -> Out {
        let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        let limit = match get("limit").map(str::parse::<usize>) {
            None => 20,
            Some(Ok(n)) if (1..=1000).contains(&n) => n,
            Some(_) => return invalid("limit: must be between 1 and 1000"),
        };
        let mut all: Vec<&Value> = self.message_batches.iter().rev().map(|b| &b.doc).collect();
        if let Some(after) = get("after_id") {
            match all.iter().position(|b| b["id"] == after) {
                Some(i) => drop(all.drain(..=i)),
                None => all.clear(),
            }
        }
        let has_more = all.len() > limit;
        all.truncate(limit);
        Out::Json(json!({
            "data": all,
            "has_more": has_more,
            "first_id": all.first().map(|b| b["id"].clone()),
            "last_id": all.last().map(|b| b["id"].clone()),
        }))
    }

    /// `GET /v1/messages/batches/{id}` (ends the batch when its time has come), `.../cancel`
    /// (POST) and `.../results`.
    pub(crate) fn message_batch_op(
        &mut self,
        shared: &Shared,
        id: &str,
        op: &str,
        delay: Option<Duration>,
        host: &str,
        now: u64,
    ) -> Out {
        let Some(batch) = self.message_batches.iter_mut().find(|b| b.doc["id"] == id) else {
            return error(
                StatusCode::NOT_FOUND,
                "not_found_error",
                &format!("No batch with id {id}"),
            );
        };
        let status = batch.doc["processing_status"].as_str().unwrap_or_default().to_owned();
        match op {
            "results" => {
                return match &batch.results {
                    Some(results) => Out::Bytes(results.clone(), "application/binary"),
                    None => invalid(&format!("Batch {id} has not ended yet")),
                };
            }
            "cancel" if status == "ended" => {
                return invalid(&format!("Batch {id} has already ended"));
            }
            "cancel" => {
                batch.doc["processing_status"] = "canceling".into();
                batch.doc["cancel_initiated_at"] = rfc3339(now).into();
            }
            _ if status == "canceling" => batch.end(shared, true, host, now),
            _ if status == "in_progress" && delay.is_none_or(|d| batch.born.elapsed() >= d) => {
                batch.end(shared, false, host, now);
            }
            _ => {}
        }
        Out::Json(batch.doc.clone())
    }
}

impl MessageBatch {
    /// Ends the batch: every request answered (or `canceled`), its results stored.
    fn end(&mut self, shared: &Shared, canceled: bool, host: &str, now: u64) {
        let (mut succeeded, mut errored) = (0, 0);
        let mut out = Vec::new();
        for (n, request) in self.requests.iter().enumerate() {
            let params = &request["params"];
            let result = if canceled {
                json!({"type": "canceled"})
            } else {
                match batch_message(shared, n as u64, params) {
                    Ok(message) => {
                        succeeded += 1;
                        json!({"type": "succeeded", "message": message})
                    }
                    Err(error) => {
                        errored += 1;
                        json!({"type": "errored", "error": error})
                    }
                }
            };
            let line = json!({"custom_id": request["custom_id"], "result": result});
            out.extend(serde_json::to_vec(&line).unwrap_or_default());
            out.push(b'\n');
        }
        let total = self.requests.len();
        let id = self.doc["id"].as_str().unwrap_or_default().to_owned();
        self.doc["processing_status"] = "ended".into();
        self.doc["ended_at"] = rfc3339(now).into();
        self.doc["results_url"] = format!("http://{host}/v1/messages/batches/{id}/results").into();
        self.doc["request_counts"] = json!({
            "processing": 0,
            "succeeded": succeeded,
            "errored": errored,
            "canceled": if canceled { total } else { 0 },
            "expired": 0,
        });
        self.results = Some(Bytes::from(out));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_and_read_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_200), "2024-03-01T00:00:00Z");
        assert_eq!(rfc3339(1_740_000_000), "2025-02-19T21:20:00Z");
        let stamp = 1_767_225_599; // 2025-12-31T23:59:59Z
        assert_eq!(crate::providers::anthropic::unix_of(&rfc3339(stamp)), 1_767_225_599);
    }
}
