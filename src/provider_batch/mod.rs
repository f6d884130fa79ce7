//! Provider batch jobs: many chat requests run through a provider's half-price batch API
//! (OpenAI's Files + Batches, Anthropic's Message Batches) behind one job.
//!
//! [`Job::prepare`] routes and encodes every request exactly as `chat` would, and splits them
//! by the provider's limits into provider batches ("parts"); nothing is sent yet. Each
//! [`Job::advance`] first submits the parts not submitted yet, then polls the running ones.
//! [`Job::results`] reads the result files of an ended job into one outcome per request, in
//! input order, and records their usage and cost (at the batch price) in `client.usage`.
//!
//! **Resuming.** A job's [`Manifest`] holds everything needed to go on in another process,
//! and never a key. With a manifest path, every step is written to it before the next one is
//! sent: a part's creation time is recorded before its creation is sent, so a process that
//! died before hearing the answer looks the batch up ([`openai::find`] by its input file,
//! [`anthropic::find`] by size and creation time) instead of creating it again. For the same
//! reason a creation is never retried blindly (only a 429 or 408, which the provider refused
//! unread): a timeout or a 5xx fails the step, and the next one looks the batch up first. A part that
//! was never created needs its requests again ([`Job::load`] with `requests`, checked against
//! the part's digest).

mod anthropic;
mod encode;
mod manifest;
mod openai;
mod results;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

pub use encode::Options;
pub use manifest::{Api, Manifest, Part, PartState};

use crate::client::{Client, Request};
use crate::error::{Error, Kind, Result};
use crate::types::ChatCompletionResponse;
use crate::usage::TokenBreakdown;

/// What the provider said of one batch.
#[derive(Debug)]
pub(crate) struct Seen {
    id: String,
    state: PartState,
    succeeded: u64,
    failed: u64,
    total: u64,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    errors: Option<String>,
}

/// A provider batch job (see the module docs).
#[derive(Debug)]
pub struct Job {
    client: Arc<Client>,
    manifest: Mutex<Manifest>,
    /// Per part, the body that creates it, while it is not created.
    payloads: Mutex<Vec<Option<Bytes>>>,
    /// Where every change is written, once set.
    path: Mutex<Option<PathBuf>>,
    /// Per part, whether its usage went to `client.usage` already.
    recorded: Mutex<Vec<bool>>,
    /// One operation at a time (a poll and a cancellation do not interleave).
    ops: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

impl Job {
    /// Routes, encodes and splits `requests` (see [`encode::prepare`] for the checks); sends
    /// nothing.
    ///
    /// # Errors
    /// As [`encode::prepare`].
    pub fn prepare(client: Arc<Client>, requests: Vec<Request>, options: &Options) -> Result<Job> {
        let total = requests.len();
        let prepared = encode::prepare(&client, requests, options)?;
        let (parts, payloads): (Vec<Part>, Vec<Bytes>) = prepared.parts.into_iter().unzip();
        let manifest = Manifest {
            format: manifest::FORMAT,
            id: format!("bjob_{:016x}", fastrand::u64(..)),
            api: prepared.api,
            provider: prepared.target.name().to_owned(),
            base_url: crate::redact::url(&prepared.target.base).into_owned(),
            model: prepared.model,
            one_model: prepared.one_model,
            completion_window: options.completion_window.clone(),
            max_requests: prepared.max_requests,
            max_bytes: prepared.max_bytes,
            total,
            created_at: now(),
            cancelled: false,
            parts,
        };
        Ok(Job::new(client, manifest, payloads.into_iter().map(Some).collect()))
    }

    fn new(client: Arc<Client>, manifest: Manifest, payloads: Vec<Option<Bytes>>) -> Job {
        let parts = manifest.parts.len();
        Job {
            client,
            manifest: Mutex::new(manifest),
            payloads: Mutex::new(payloads),
            path: Mutex::new(None),
            recorded: Mutex::new(vec![false; parts]),
            ops: tokio::sync::Mutex::new(()),
        }
    }

    /// A job from the manifest at `path` (which it keeps writing to). `requests` are needed
    /// only when some part was never created; they must be the job's own (each part's
    /// digest is checked).
    ///
    /// # Errors
    /// `InvalidArgument` for an unreadable manifest, a client that routes the job's model to
    /// another provider or base URL, or requests that differ from the job's; as
    /// [`Job::prepare`] for the requests.
    pub fn load(client: Arc<Client>, path: &Path, requests: Option<Vec<Request>>) -> Result<Job> {
        let manifest = Manifest::read(path)?;
        let target = client.chat_target(&manifest.model)?;
        let base = crate::redact::url(&target.base);
        if target.name() != manifest.provider || base != manifest.base_url {
            return Err(invalid(format!(
                "the job's batches live at {:?} ({}); this client sends {:?} to {:?} ({})",
                manifest.provider,
                manifest.base_url,
                manifest.model,
                target.name(),
                base
            )));
        }
        let mut payloads = vec![None; manifest.parts.len()];
        if let Some(requests) = requests {
            let options = Options {
                completion_window: manifest.completion_window.clone(),
                max_requests: Some(manifest.max_requests),
                max_bytes: Some(manifest.max_bytes),
            };
            let again = encode::prepare(&client, requests, &options)?;
            let same = again.parts.len() == manifest.parts.len()
                && again
                    .parts
                    .iter()
                    .zip(&manifest.parts)
                    .all(|((p, _), q)| p.digest == q.digest);
            if !same {
                return Err(invalid("requests differ from the ones the job was made of".into()));
            }
            for (k, (_, body)) in again.parts.into_iter().enumerate() {
                if manifest.parts[k].batch_id.is_none() {
                    payloads[k] = Some(body);
                }
            }
        }
        let job = Job::new(client, manifest, payloads);
        *lock(&job.path) = Some(path.to_owned());
        Ok(job)
    }

    /// A copy of the manifest as it stands.
    pub fn manifest(&self) -> Manifest {
        lock(&self.manifest).clone()
    }

    /// Writes the manifest to `path` now, and after every later change.
    ///
    /// # Errors
    /// `InvalidArgument` when the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.manifest().write(path)?;
        *lock(&self.path) = Some(path.to_owned());
        Ok(())
    }

    /// Changes the manifest and writes the manifest when it has a path.
    fn update(&self, change: impl FnOnce(&mut Manifest)) -> Result<()> {
        let snapshot = {
            let mut m = lock(&self.manifest);
            change(&mut m);
            m.clone()
        };
        match lock(&self.path).as_deref() {
            Some(path) => snapshot.write(path),
            None => Ok(()),
        }
    }

    /// Records what the provider said of part `k`.
    fn apply(&self, k: usize, seen: Seen) -> Result<()> {
        self.update(|m| {
            let part = &mut m.parts[k];
            let count = part.count as u64;
            part.batch_id = Some(seen.id);
            part.state = seen.state;
            part.succeeded = seen.succeeded.min(count);
            part.failed = seen.failed.min(count - part.succeeded);
            part.output_file_id = seen.output_file_id.or(part.output_file_id.take());
            part.error_file_id = seen.error_file_id.or(part.error_file_id.take());
            part.errors = seen.errors.or(part.errors.take());
        })
    }

    /// Submits the parts not submitted yet, then polls the running ones; returns the
    /// manifest as it then stands.
    ///
    /// # Errors
    /// A provider error (the parts done so far stay recorded, and the next call goes on from
    /// there); `InvalidArgument` when a part was never created and its requests are not known.
    pub async fn advance(&self) -> Result<Manifest> {
        let _op = self.ops.lock().await;
        let parts = self.manifest().parts.len();
        for k in 0..parts {
            self.submit(k).await?;
        }
        for (k, part) in self.manifest().parts.iter().enumerate() {
            if let (Some(id), false) = (&part.batch_id, part.state.ended()) {
                let seen = self.status(id, false).await?;
                self.apply(k, seen)?;
            }
        }
        Ok(self.manifest())
    }

    /// Creates part `k` at the provider unless it exists (or the job was cancelled).
    async fn submit(&self, k: usize) -> Result<()> {
        let m = self.manifest();
        let part = &m.parts[k];
        if part.batch_id.is_some() || part.state != PartState::Unsubmitted {
            return Ok(());
        }
        let client = &self.client;
        let via = m.model.as_str();
        if let Some(since) = part.submitted_at {
            let found = match (m.api, &part.input_file_id) {
                (Api::OpenAi, Some(file)) => openai::find(client, via, file).await?,
                (Api::Anthropic, _) => {
                    let taken: Vec<String> = m.parts.iter().filter_map(|p| p.batch_id.clone()).collect();
                    anthropic::find(client, via, part.count, since, &taken).await?
                }
                (Api::OpenAi, None) => None,
            };
            if let Some(seen) = found {
                lock(&self.payloads)[k] = None;
                let id = seen.id.clone();
                self.apply(k, seen)?;
                if m.cancelled && !self.manifest().parts[k].state.ended() {
                    let seen = self.status(&id, true).await?;
                    self.apply(k, seen)?;
                }
                return Ok(());
            }
        }
        if m.cancelled {
            return self.update(|m| m.parts[k].state = PartState::Cancelled);
        }
        // The requests are needed unless their input is uploaded already.
        let payload = lock(&self.payloads)[k].clone().ok_or_else(|| {
            invalid(format!(
                "requests {}..{} of the job were never submitted; load the job with the same requests to submit them",
                part.first,
                part.first + part.count
            ))
        });
        let seen = match m.api {
            Api::OpenAi => {
                let file = match &part.input_file_id {
                    Some(file) => file.clone(),
                    None => {
                        let name = format!("{}-{k}.jsonl", m.id);
                        let file = openai::upload(client, via, name, payload?).await?;
                        self.update(|m| m.parts[k].input_file_id = Some(file.clone()))?;
                        file
                    }
                };
                self.update(|m| m.parts[k].submitted_at = Some(now()))?;
                openai::create(client, via, &file, &m.completion_window, &m.id).await?
            }
            Api::Anthropic => {
                let payload = payload?;
                self.update(|m| m.parts[k].submitted_at = Some(now()))?;
                anthropic::create(client, via, payload).await?
            }
        };
        lock(&self.payloads)[k] = None;
        self.apply(k, seen)
    }

    /// Polls a batch (or asks to cancel it).
    async fn status(&self, batch_id: &str, cancel: bool) -> Result<Seen> {
        let (api, via) = {
            let m = lock(&self.manifest);
            (m.api, m.model.clone())
        };
        match api {
            Api::OpenAi => openai::status(&self.client, &via, batch_id, cancel).await,
            Api::Anthropic => anthropic::status(&self.client, &via, batch_id, cancel).await,
        }
    }

    /// Cancels the job: running batches are asked to stop, parts not submitted yet never will
    /// be. Requests that already ran keep their results.
    ///
    /// # Errors
    /// A provider error (the cancellation is recorded; calling again asks again).
    pub async fn cancel(&self) -> Result<Manifest> {
        let _op = self.ops.lock().await;
        self.update(|m| {
            m.cancelled = true;
            for part in &mut m.parts {
                if part.state == PartState::Unsubmitted && part.submitted_at.is_none() {
                    part.state = PartState::Cancelled;
                }
            }
        })?;
        let parts = self.manifest().parts;
        for (k, part) in parts.iter().enumerate() {
            if let (Some(id), PartState::Running) = (&part.batch_id, part.state) {
                let seen = self.status(id, true).await?;
                self.apply(k, seen)?;
            }
        }
        Ok(self.manifest())
    }

    /// One outcome per request, in input order; their usage and cost (at the batch price)
    /// go to `client.usage` the first time.
    ///
    /// # Errors
    /// `InvalidArgument` while some batch has not ended; a provider error downloading results.
    pub async fn results(&self) -> Result<Vec<Result<ChatCompletionResponse>>> {
        let _op = self.ops.lock().await;
        let m = self.manifest();
        if !m.ended() {
            let pending: usize = m.parts.iter().filter(|p| !p.state.ended()).map(|p| p.count).sum();
            return Err(invalid(format!(
                "the batch job has not ended ({pending} of {} requests pending); wait for it first",
                m.total
            )));
        }
        let mut slots: results::Slots = (0..m.total).map(|_| None).collect();
        for part in &m.parts {
            let files = [part.output_file_id.as_deref(), part.error_file_id.as_deref()];
            match (m.api, &part.batch_id) {
                (Api::OpenAi, _) => {
                    for file in files.into_iter().flatten() {
                        let data = openai::file(&self.client, &m.model, file).await?;
                        results::read(m.api, &data, part, &mut slots);
                    }
                }
                (Api::Anthropic, Some(id)) => {
                    let data = anthropic::results(&self.client, &m.model, id).await?;
                    results::read(m.api, &data, part, &mut slots);
                }
                (Api::Anthropic, None) => {}
            }
        }
        // A provider that echoes the key in a result's error must not leak it.
        let target = self.client.chat_target(&m.model).ok();
        let secret = target.as_ref().map_or("", |t| t.secret.expose());
        let mut out: Vec<Result<ChatCompletionResponse>> = Vec::with_capacity(m.total);
        for part in &m.parts {
            for slot in &mut slots[part.first..part.first + part.count] {
                let outcome = slot.take().unwrap_or_else(|| Err(results::missing(part)));
                out.push(outcome.map_err(|e| e.redact(secret).with_context(&m.provider, Some(&m.model))));
            }
        }
        self.price(&m, &mut out);
        Ok(out)
    }

    /// Sets each response's cost at the batch price, and records the parts not recorded yet.
    fn price(&self, m: &Manifest, out: &mut [Result<ChatCompletionResponse>]) {
        let usage = &self.client.config().usage;
        let mut recorded = lock(&self.recorded);
        for (k, part) in m.parts.iter().enumerate() {
            let record = !std::mem::replace(&mut recorded[k], true);
            for outcome in &mut out[part.first..part.first + part.count] {
                let label = match outcome {
                    Ok(r) if !m.one_model && !r.model.is_empty() => r.model.clone(),
                    _ => m.model.clone(),
                };
                match outcome {
                    Ok(response) => {
                        let tokens = response.usage.as_ref().and_then(TokenBreakdown::from_usage);
                        let cost = tokens
                            .as_ref()
                            .and_then(|t| crate::pricing::batch_price(&label, Some(&response.model), t));
                        response.cost = cost;
                        if record {
                            let t = tokens.unwrap_or_default();
                            usage.record_batch_item(&label, Some((&t, cost)));
                        }
                    }
                    Err(_) if record => usage.record_batch_item(&label, None),
                    Err(_) => {}
                }
            }
        }
    }
}
