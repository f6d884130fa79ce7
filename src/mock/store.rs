//! The mock's in-memory file store and batch jobs.
//!
//! Files are listed newest first with `limit`/`after` paging, as OpenAI does. A batch moves one
//! step per retrieval: `validating` -> `in_progress` -> `finalizing` -> `completed`; with a
//! batch delay it is `in_progress` until the delay has passed since its creation (its completed
//! count growing with the time), then `completed` at the next retrieval. A completed batch gets
//! an output file with one answer per input line (chat completions and embeddings are answered
//! as the mock answers them directly); a chat request whose last user message starts with
//! `fail:` fails instead, into the error file. Cancelling moves it to `cancelling`, and the
//! next retrieval to `cancelled`. Anthropic's Message Batches are in `message_batches`.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::chat::{self, BadRequest, Envelope};
use super::embeddings;
use super::multipart::FormPart;
use super::reply::{make_reply, FALLBACK_REPLY};
use super::routes::{bad, not_found, Out};

/// The start of a last user message that makes a batch request fail.
pub(crate) const FAIL: &str = "fail:";
const PURPOSES: &[&str] = &["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];
const BATCH_ENDPOINTS: &[&str] = &[
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
];

/// Everything the mock keeps between requests.
#[derive(Debug, Default)]
pub(crate) struct Store {
    files: Vec<(Value, Bytes)>,
    /// OpenAI batches, with when each was created.
    batches: Vec<(Value, Instant)>,
    /// Anthropic message batches.
    pub(crate) message_batches: Vec<super::message_batches::MessageBatch>,
    /// Stored Responses API objects, with whether each was created in the background.
    pub(crate) responses: Vec<(Value, bool)>,
}

fn id_of(v: &Value) -> &str {
    v.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// One page of `items` (oldest first in storage, listed newest first).
fn page(items: impl DoubleEndedIterator<Item = Value>, query: &[(String, String)]) -> Out {
    let get = |k: &str| query.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let limit = match get("limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (1..=10_000).contains(&n) => n,
        Some(_) => return bad("Invalid 'limit': expected an integer between 1 and 10000.", "limit"),
    };
    let purpose = get("purpose");
    let mut all: Vec<Value> = items
        .rev()
        .filter(|v| purpose.is_none_or(|p| v.get("purpose").and_then(Value::as_str) == Some(p)))
        .collect();
    if let Some(after) = get("after") {
        match all.iter().position(|v| id_of(v) == after) {
            Some(i) => {
                all.drain(..=i);
            }
            None => all.clear(),
        }
    }
    let has_more = all.len() > limit;
    all.truncate(limit);
    let first = all.first().map(|v| id_of(v).to_owned());
    let last = all.last().map(|v| id_of(v).to_owned());
    Out::Json(json!({"object": "list", "data": all, "first_id": first, "last_id": last, "has_more": has_more}))
}

impl Store {
    fn add_file(
        &mut self,
        id: String,
        now: u64,
        filename: &str,
        purpose: &str,
        expires_at: Option<u64>,
        data: Bytes,
    ) -> Value {
        let doc = json!({
            "id": id,
            "object": "file",
            "bytes": data.len(),
            "created_at": now,
            "filename": filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": null,
            "expires_at": expires_at,
        });
        self.files.push((doc.clone(), data));
        doc
    }

    /// `POST /files` (multipart).
    pub(crate) fn create_file(&mut self, form: &[FormPart], seq: u64, now: u64) -> Out {
        let Some(file) = form.iter().find(|p| p.name == "file" && p.filename.is_some()) else {
            return bad("Missing required parameter: 'file'.", "file");
        };
        let purpose = form.iter().find(|p| p.name == "purpose").map(FormPart::text);
        let Some(purpose) = purpose.filter(|p| PURPOSES.contains(&p.as_str())) else {
            return bad(
                "Invalid value for 'purpose': expected one of 'assistants', 'batch', 'fine-tune', 'vision', 'user_data' or 'evals'.",
                "purpose",
            );
        };
        let field = |name: &str| form.iter().find(|p| p.name == name).map(FormPart::text);
        let expires_at = match (field("expires_after[anchor]"), field("expires_after[seconds]")) {
            (None, None) => None,
            (Some(anchor), Some(seconds)) if anchor == "created_at" => match seconds.parse::<u64>() {
                Ok(s) if (3_600..=2_592_000).contains(&s) => Some(now + s),
                _ => {
                    return bad(
                        "Invalid 'expires_after[seconds]': expected an integer between 3600 (1 hour) and 2592000 (30 days).",
                        "expires_after.seconds",
                    )
                }
            },
            _ => {
                return bad(
                    "Invalid 'expires_after': expected 'anchor' = 'created_at' and 'seconds'.",
                    "expires_after",
                )
            }
        };
        let filename = file.filename.clone().unwrap_or_default();
        Out::Json(self.add_file(
            format!("file-mock{seq:08}"),
            now,
            &filename,
            &purpose,
            expires_at,
            file.data.clone(),
        ))
    }

    /// `GET /files`.
    pub(crate) fn list_files(&self, query: &[(String, String)]) -> Out {
        page(self.files.iter().map(|(doc, _)| doc.clone()), query)
    }

    fn file(&self, id: &str) -> Option<&(Value, Bytes)> {
        self.files.iter().find(|(doc, _)| id_of(doc) == id)
    }

    /// `GET /files/{id}`, `DELETE /files/{id}` and `GET /files/{id}/content`.
    pub(crate) fn file_op(&mut self, id: &str, op: &str) -> Out {
        let Some((doc, data)) = self.file(id).cloned() else {
            return not_found(&format!("No such File object: {id}"), "id");
        };
        match op {
            "content" => Out::Bytes(data, "application/octet-stream"),
            "delete" => {
                self.files.retain(|(d, _)| id_of(d) != id);
                Out::Json(json!({"id": id, "object": "file", "deleted": true}))
            }
            _ => Out::Json(doc),
        }
    }

    /// `POST /batches`.
    pub(crate) fn create_batch(&mut self, body: &Map<String, Value>, seq: u64, now: u64) -> Out {
        let text = |k: &str| body.get(k).and_then(Value::as_str);
        let Some(input) = text("input_file_id") else {
            return bad("Missing required parameter: 'input_file_id'.", "input_file_id");
        };
        let Some(endpoint) = text("endpoint").filter(|e| BATCH_ENDPOINTS.contains(e)) else {
            return bad("Invalid value for 'endpoint'.", "endpoint");
        };
        if text("completion_window") != Some("24h") {
            return bad(
                "Invalid value for 'completion_window': only '24h' is supported.",
                "completion_window",
            );
        }
        let Some((_, data)) = self.file(input) else {
            return bad(
                &format!("Invalid 'input_file_id': no such file {input}."),
                "input_file_id",
            );
        };
        let total = data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
        let doc = json!({
            "id": format!("batch_mock{seq:08}"),
            "object": "batch",
            "endpoint": endpoint,
            "errors": null,
            "input_file_id": input,
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": null,
            "error_file_id": null,
            "created_at": now,
            "in_progress_at": null,
            "expires_at": now + 86_400,
            "finalizing_at": null,
            "completed_at": null,
            "failed_at": null,
            "expired_at": null,
            "cancelling_at": null,
            "cancelled_at": null,
            "request_counts": {"total": total, "completed": 0, "failed": 0},
            "metadata": body.get("metadata").cloned().unwrap_or(Value::Null),
        });
        self.batches.push((doc.clone(), Instant::now()));
        Out::Json(doc)
    }

    /// `GET /batches`.
    pub(crate) fn list_batches(&self, query: &[(String, String)]) -> Out {
        page(self.batches.iter().map(|(doc, _)| doc.clone()), query)
    }

    /// `GET /batches/{id}` (advances the batch one step, or by the time passed with a
    /// `delay`) and `POST /batches/{id}/cancel`.
    pub(crate) fn batch_op(&mut self, id: &str, cancel: bool, delay: Option<Duration>, seq: u64, now: u64) -> Out {
        let Some(i) = self.batches.iter().position(|(b, _)| id_of(b) == id) else {
            return not_found(&format!("No batch found with id '{id}'."), "batch_id");
        };
        let status = self.batches[i].0["status"].as_str().unwrap_or_default().to_owned();
        let elapsed = self.batches[i].1.elapsed();
        let next = match (cancel, status.as_str(), delay) {
            (true, "validating" | "in_progress" | "finalizing", _) => Some("cancelling"),
            (true, _, _) => {
                return bad(&format!("Cannot cancel a batch with status '{status}'."), "batch_id");
            }
            (false, "cancelling", _) => Some("cancelled"),
            (false, "validating" | "in_progress" | "finalizing", Some(delay)) if elapsed >= delay => Some("completed"),
            (false, "validating" | "in_progress", Some(delay)) => {
                let batch = &mut self.batches[i].0;
                let total = batch["request_counts"]["total"].as_u64().unwrap_or(0);
                let share = elapsed.as_secs_f64() / delay.as_secs_f64().max(1e-9);
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss
                )]
                let done = ((total as f64 * share) as u64).min(total);
                batch["request_counts"]["completed"] = done.into();
                (status == "validating").then_some("in_progress")
            }
            (false, "validating", None) => Some("in_progress"),
            (false, "in_progress", None) => Some("finalizing"),
            (false, "finalizing", None) => Some("completed"),
            _ => None,
        };
        if let Some(next) = next {
            if next == "completed" {
                let (output, errors, ok, failed) = self.batch_output(i, now);
                let name = format!("{id}_output.jsonl");
                let file = self.add_file(format!("file-mock{seq:08}"), now, &name, "batch_output", None, output);
                self.batches[i].0["output_file_id"] = file["id"].clone();
                if failed > 0 {
                    let name = format!("{id}_errors.jsonl");
                    let file = self.add_file(
                        format!("file-mock{seq:08}-errors"),
                        now,
                        &name,
                        "batch_output",
                        None,
                        errors,
                    );
                    self.batches[i].0["error_file_id"] = file["id"].clone();
                }
                let counts = &mut self.batches[i].0["request_counts"];
                counts["completed"] = ok.into();
                counts["failed"] = failed.into();
            }
            let batch = &mut self.batches[i].0;
            batch["status"] = next.into();
            for step in ["in_progress", "finalizing", next] {
                let stamp = format!("{step}_at");
                if batch[stamp.as_str()].is_null() && (step == next || next == "completed") {
                    batch[stamp.as_str()] = now.into();
                }
            }
            if next == "finalizing" {
                let total = batch["request_counts"]["total"].clone();
                batch["request_counts"]["completed"] = total;
            }
        }
        Out::Json(self.batches[i].0.clone())
    }

    /// The output and error files of batch `i` (one line per input line between them), and
    /// how many lines each holds.
    fn batch_output(&self, i: usize, now: u64) -> (Bytes, Bytes, u64, u64) {
        let batch = &self.batches[i].0;
        let input = batch["input_file_id"].as_str().unwrap_or_default();
        let embeddings = batch["endpoint"] == "/v1/embeddings";
        let data = self.file(input).map(|(_, d)| d.clone()).unwrap_or_default();
        let (mut out, mut errors, mut ok, mut failed) = (Vec::new(), Vec::new(), 0, 0);
        for (n, line) in data.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
            let line: Value = serde_json::from_slice(line).unwrap_or(Value::Null);
            let body = serde_json::to_vec(&line["body"]).unwrap_or_default();
            let answer = if embeddings {
                embeddings::parse_request(&body, usize::MAX).map(|r| embeddings::response_body(&r))
            } else {
                chat::parse_request(&body).and_then(|req| {
                    let text = req.last_user_text.clone().unwrap_or_else(|| FALLBACK_REPLY.to_owned());
                    if text.starts_with(FAIL) {
                        let message = format!("mock failure requested: {text}");
                        return Err(BadRequest::new(message, None, Some("mock_failure")));
                    }
                    let reply = make_reply(text, req.max_tokens);
                    let id = format!("chatcmpl-mock-batch-{n}");
                    let env = Envelope {
                        id: &id,
                        created: now,
                        model: &req.model,
                    };
                    Ok(chat::completion_body(&env, &req, &reply, &[]))
                })
            };
            let request_id = format!("req_batch_{n}");
            let (response, into) = match answer {
                Ok(doc) => {
                    ok += 1;
                    let body: Value = serde_json::from_slice(&doc).unwrap_or(Value::Null);
                    (
                        json!({"status_code": 200, "request_id": request_id, "body": body}),
                        &mut out,
                    )
                }
                Err(e) => {
                    failed += 1;
                    (
                        json!({"status_code": 400, "request_id": request_id, "body": e.body}),
                        &mut errors,
                    )
                }
            };
            let doc = json!({"id": format!("batch_req_{n}"), "custom_id": line["custom_id"], "response": response, "error": null});
            into.extend(serde_json::to_vec(&doc).unwrap_or_default());
            into.push(b'\n');
        }
        (Bytes::from(out), Bytes::from(errors), ok, failed)
    }
}
