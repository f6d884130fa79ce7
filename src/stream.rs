//! A streamed chat completion: reads SSE from the response and yields typed chunks in batches.
//!
//! Each network read is decoded whole, so one wake-up can hand over many chunks. The stream must
//! end with `data: [DONE]`; a connection that ends before it is a `Streaming` error, never a
//! silent truncation. An `error` event (or a data object with an `error` key) becomes the mapped
//! error. The timeout bounds each gap between reads, so a long stream that keeps sending is never cut
//! unless the call has a `total_timeout`; one line or event may hold at most `max_stream_event_bytes`.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use crate::cache::recorder::Recorder;
use crate::client::Meter;
use crate::config::Secret;
use crate::deployments::Busy;
use crate::error::{Error, Kind, Result};
use crate::http::{self, Cap, Timing};
use crate::providers::adapter::StreamTranslator;
use crate::ratelimit::Permit;
use crate::sse::{Decoder, Event, SseError};
use crate::types::{ChatCompletionChunk, Usage};
use crate::usage::TokenBreakdown;

/// An open chat stream. Dropping it closes the connection.
#[derive(Debug)]
pub struct ChatStream {
    /// A native protocol's event translator; `None` reads OpenAI chunks as they are.
    translator: Option<Box<dyn StreamTranslator>>,
    /// The response read; `None` for a stream replayed from the cache.
    resp: Option<reqwest::Response>,
    decoder: Decoder,
    timing: Timing,
    event_cap: Cap,
    model: String,
    provider: String,
    secret: Secret,
    request_id: Option<String>,
    done: bool,
    failed: Option<Error>,
    meter: Option<Meter>,
    first_chunk: Option<Duration>,
    usage: Option<Usage>,
    permit: Option<Permit>,
    /// Chunks read ahead (a router's look at the first chunk), delivered first.
    pending: VecDeque<ChatCompletionChunk>,
    /// The deployment streaming, for a routed call.
    deployment: Option<String>,
    /// The call's cost, once it ended priced.
    cost: Option<f64>,
    /// Counts the stream in flight on its deployment until it ends or is dropped.
    busy: Option<Busy>,
    /// Keeps the chunks for the response cache until the stream ends.
    recorder: Option<Recorder>,
    /// Replayed from the response cache.
    cache_hit: bool,
}

impl ChatStream {
    /// A stream reading `resp` within `timing` (per-read waits and the call's deadline), whose
    /// lines and events may hold at most `event_cap` bytes.
    pub(crate) fn new(
        resp: reqwest::Response,
        timing: Timing,
        event_cap: Cap,
        model: String,
        provider: String,
        secret: Secret,
    ) -> Self {
        let request_id = http::request_id(resp.headers(), secret.expose());
        ChatStream {
            translator: None,
            resp: Some(resp),
            decoder: Decoder::with_limit(usize::try_from(event_cap.max).unwrap_or(usize::MAX)),
            timing,
            event_cap,
            model,
            provider,
            secret,
            request_id,
            done: false,
            failed: None,
            meter: None,
            first_chunk: None,
            usage: None,
            permit: None,
            pending: VecDeque::new(),
            deployment: None,
            cost: None,
            busy: None,
            recorder: None,
            cache_hit: false,
        }
    }

    /// A stream replaying `chunks` from the cache: nothing is read and nothing is charged.
    pub(crate) fn replay(chunks: Vec<ChatCompletionChunk>, model: String, provider: String) -> Self {
        ChatStream {
            translator: None,
            resp: None,
            decoder: Decoder::with_limit(0),
            timing: Timing::new(Duration::ZERO, None),
            event_cap: Cap {
                what: "a stream event",
                max: 0,
                setting: "max_stream_event_bytes",
            },
            model,
            provider,
            secret: Secret::default(),
            request_id: None,
            done: true,
            failed: None,
            meter: None,
            first_chunk: Some(Duration::ZERO),
            usage: chunks.iter().rev().find_map(|c| c.usage.clone()),
            permit: None,
            pending: chunks.into(),
            deployment: None,
            cost: Some(0.0),
            busy: None,
            recorder: None,
            cache_hit: true,
        }
    }

    /// Whether the stream is replayed from the response cache.
    pub fn cache_hit(&self) -> bool {
        self.cache_hit
    }

    /// Records the chunks for the cache as they are read; stored when the stream ends cleanly.
    pub(crate) fn record(&mut self, mut recorder: Recorder) {
        // Chunks a router read ahead are delivered first, so they are recorded first.
        recorder.push(self.pending.iter());
        if self.done && self.failed.is_none() {
            // The whole stream arrived with the first read.
            recorder.finish(self.cost);
        } else {
            self.recorder = Some(recorder);
        }
    }

    /// The usage the stream reported (known once it ended).
    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// The time from sending to the first chunk.
    pub fn time_to_first_chunk(&self) -> Option<Duration> {
        self.first_chunk
    }

    /// The call's cost in USD, once it ended (`None`: unknown).
    pub fn cost(&self) -> Option<f64> {
        self.cost
    }

    /// The provider's request id.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The id of the deployment streaming, when the model named a routed group.
    pub fn deployment(&self) -> Option<&str> {
        self.deployment.as_deref()
    }

    /// Reads until the first chunk (or the clean end) and keeps what it read for the caller:
    /// a router's check that the stream really started before it stops failing over.
    ///
    /// # Errors
    /// As [`ChatStream::next_batch`].
    pub(crate) async fn start(mut self) -> Result<Self> {
        let mut first = VecDeque::new();
        self.next_batch(&mut first).await?;
        self.pending = first;
        Ok(self)
    }

    /// Keeps the deployment busy until the stream ends or is dropped.
    pub(crate) fn hold(&mut self, busy: Busy) {
        self.busy = Some(busy);
    }

    /// Notes the deployment streaming.
    pub(crate) fn set_deployment(&mut self, id: &str) {
        self.deployment = Some(id.to_owned());
    }

    /// Translates a native provider's events instead of reading OpenAI chunks.
    #[must_use]
    pub fn with_translator(mut self, translator: Option<Box<dyn StreamTranslator>>) -> Self {
        self.translator = translator;
        self
    }

    /// Records the call (tokens, cost, latency, time to first chunk) with `meter` when the
    /// stream ends, or a failure when it breaks.
    #[must_use]
    pub fn with_meter(mut self, meter: Meter) -> Self {
        self.meter = Some(meter);
        self
    }

    /// Holds the rate limiter's permit (and its concurrency slot) until the stream ends; it then
    /// settles with the usage the stream reported (OpenAI's usage chunk, or the translated usage
    /// of a native stream), or keeps the estimate when none came. Dropping the stream drops it.
    #[must_use]
    pub(crate) fn with_permit(mut self, permit: Option<Permit>) -> Self {
        self.permit = permit;
        self
    }

    /// Ends the call: settles the permit and records the call (or its failure).
    fn account(&mut self, success: bool) {
        self.busy = None;
        if let Some(permit) = self.permit.take() {
            permit.settle(self.usage.as_ref().map(|u| u.total_tokens));
        }
        if let Some(meter) = self.meter.take() {
            if success {
                let tokens = self.usage.as_ref().and_then(TokenBreakdown::from_usage);
                self.cost = meter.success(None, tokens.as_ref(), self.first_chunk);
            } else {
                meter.failure();
            }
        }
        if success {
            if let Some(recorder) = self.recorder.take() {
                recorder.finish(self.cost);
            }
        }
    }

    /// Ends the call with `err`: accounts for the failure and hands `err` to the callers
    /// waiting on this stream's answer.
    fn fail(&mut self, err: Error) -> Error {
        self.account(false);
        if let Some(recorder) = self.recorder.take() {
            recorder.fail(&err);
        }
        err
    }

    /// Whether the stream has ended (`[DONE]` seen, or a failure that the next call reports).
    pub fn is_done(&self) -> bool {
        self.done && self.failed.is_none() && self.pending.is_empty()
    }

    /// Reads until at least one chunk is available (or the end), appending every decoded chunk
    /// to `out`. Returns `false` once the stream has ended cleanly and nothing more will come.
    ///
    /// # Errors
    /// `Streaming` for a cut connection or an undecodable event, `Timeout` when a read stalls,
    /// or the provider's error from an error event.
    pub async fn next_batch(&mut self, out: &mut VecDeque<ChatCompletionChunk>) -> Result<bool> {
        if !self.pending.is_empty() {
            out.append(&mut self.pending);
            return Ok(true);
        }
        let before = out.len();
        loop {
            self.drain_events(out);
            if out.len() > before {
                // Chunks decoded before an error are delivered first; the error comes next call.
                return Ok(true);
            }
            if let Some(err) = self.failed.take() {
                return Err(self.fail(err));
            }
            if self.done {
                return Ok(false);
            }
            let Some(resp) = self.resp.as_mut() else {
                self.done = true;
                return Ok(false);
            };
            match http::next_chunk(resp, &self.timing, true).await {
                Ok(Some(bytes)) => self.decoder.feed(&bytes),
                Ok(None) if !self.decoder.has_partial() && self.native_finished() => {
                    self.done = true;
                    self.account(true);
                    return Ok(false);
                }
                Ok(None) => {
                    let why = if self.decoder.has_partial() {
                        "the connection closed in the middle of an event"
                    } else {
                        "the connection closed before the end of the stream ([DONE] never arrived)"
                    };
                    self.done = true;
                    let err = self.context(Error::new(Kind::Streaming, why));
                    return Err(self.fail(err));
                }
                Err(e) => {
                    self.done = true;
                    let err = self.context(e);
                    return Err(self.fail(err));
                }
            }
        }
    }

    /// Whether a native stream has seen its clean end (such streams may close without `[DONE]`).
    fn native_finished(&self) -> bool {
        self.translator.as_ref().is_some_and(|t| t.finished())
    }

    /// Decodes one event into `out`: OpenAI chunks as they are, native events translated.
    fn decode(&mut self, event: Event, out: &mut VecDeque<ChatCompletionChunk>) -> Result<()> {
        let Some(translator) = &mut self.translator else {
            if let Some(chunk) = self.handle(event)? {
                out.push_back(chunk);
            }
            return Ok(());
        };
        let translated = translator.on_event(&event, out);
        translated.map_err(|e| self.context(e))
    }

    /// Decodes every complete buffered event into `out`, noting the time to the first chunk and
    /// the usage for accounting; the first failure ends the stream and is kept for the next call.
    fn drain_events(&mut self, out: &mut VecDeque<ChatCompletionChunk>) {
        while !self.done {
            let before = out.len();
            let step = match self.decoder.next_event() {
                Ok(Some(event)) => self.decode(event, out),
                Ok(None) => break,
                Err(SseError::TooLarge) => Err(self.context(self.event_cap.exceeded())),
                Err(e) => Err(self.context(Error::new(Kind::Streaming, format!("undecodable stream event: {e}")))),
            };
            if let Some(recorder) = &mut self.recorder {
                recorder.push(out.range(before..));
            }
            if self.meter.is_some() || self.permit.is_some() {
                for chunk in out.range(before..) {
                    if self.first_chunk.is_none() {
                        self.first_chunk = self.meter.as_ref().map(Meter::elapsed);
                    }
                    if let Some(usage) = &chunk.usage {
                        self.usage = Some(usage.clone());
                    }
                }
            }
            if let Err(err) = step {
                self.done = true;
                self.failed = Some(err);
            } else if self.native_finished() {
                // Anthropic's `message_stop`, or Gemini's finishing event, ends the stream even if
                // the connection stays open; its usage was read just above.
                self.done = true;
                self.account(true);
            }
        }
    }

    fn handle(&mut self, event: Event) -> Result<Option<ChatCompletionChunk>> {
        if event.data.is_empty() && event.event.as_deref() != Some("error") {
            // A named event without data (`event: ping`) is a keep-alive.
            return Ok(None);
        }
        if event.data == "[DONE]" {
            self.done = true;
            self.account(true);
            return Ok(None);
        }
        if event.event.as_deref() != Some("error") {
            if let Ok(mut chunk) = serde_json::from_str::<ChatCompletionChunk>(&event.data) {
                if chunk.extra.get("error").is_none_or(Value::is_null) {
                    return Ok(Some(chunk));
                }
                let body = Value::Object(std::mem::take(&mut chunk.extra));
                return Err(self.context(Error::from_stream_event(body)));
            }
        }
        // Slow path: an error event, or data that is not a chunk.
        let value: Value = serde_json::from_str(&event.data).map_err(|e| {
            self.context(Error::new(
                Kind::Streaming,
                format!("a stream event is not valid JSON: {e}"),
            ))
        })?;
        if event.event.as_deref() == Some("error") || value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(self.context(Error::from_stream_event(value)));
        }
        let shape = serde_json::from_value::<ChatCompletionChunk>(value).err();
        Err(self.context(Error::new(
            Kind::Streaming,
            format!(
                "a stream chunk has an unexpected shape: {}",
                shape.map_or_else(String::new, |e| e.to_string())
            ),
        )))
    }

    fn context(&self, err: Error) -> Error {
        err.with_context(&self.provider, Some(&self.model))
            .with_request_id(self.request_id.clone())
            .redact(self.secret.expose())
    }
}
