//! Stage 2 of the pipeline: sending a call with the rate limiter, retries and the deadline.
//!
//! Retries follow [`crate::retry`]: 408, 409, 429, 5xx and failures before any response are
//! retried up to `max_retries` times with full-jitter backoff or the server's Retry-After hint.
//! The request body is serialised once and shared by every attempt.
//!
//! With a rate limiter configured, every attempt first waits for a grant for the request's
//! model (reserving [`estimate_tokens`] when tokens are limited). The grant's concurrency slot
//! is held until the response body has been read (for a stream, until it ends or is dropped);
//! the reserved tokens are then reconciled with the response's usage. Failed attempts settle as
//! follows: an HTTP 4xx (429 included) was not processed by the provider, so its tokens are
//! refunded (the request still counts); a connection that could not be opened refunds its
//! tokens too; 5xx answers, timeouts and other transport failures keep the estimate, since the
//! provider may have done the work. A 429 also pauses the request's limiter key for every caller
//! for the Retry-After period (or the backoff when the provider gives none).

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use super::trace::{Attempt, Trace};
use super::{Call, Client};
use crate::error::{Error, Kind, Result};
use crate::http::{self, Timing};
use crate::ratelimit::{estimate_tokens, Permit, RateLimiter};
use crate::retry;

/// A successful response whose body is still to be read, with what reading it needs.
pub(crate) struct Sent {
    /// The response, headers received.
    pub(crate) resp: reqwest::Response,
    /// The rate limiter's grant, settled once the body has been read.
    pub(crate) permit: Option<Permit>,
    /// Read waits and the call's deadline, for the body or stream.
    pub(crate) timing: Timing,
}

/// The outcome of sending a call, and the retries it took either way.
pub(crate) struct Attempts {
    /// The successful response, or the last error.
    pub(crate) outcome: Result<Sent>,
    /// Retries after the first attempt.
    pub(crate) retries: u32,
}

/// What every attempt of one call shares.
struct Plan<'a> {
    /// The limiter that applies to the call's model, if any.
    limiter: Option<&'a RateLimiter>,
    /// Tokens each grant reserves (0 when tokens are not limited).
    tokens: u64,
    /// The call's `total_timeout`.
    total: Option<Duration>,
}

/// A non-success answer: its error, its headers (retry hints) and whether to retry.
struct Refusal {
    err: Error,
    headers: HeaderMap,
    retryable: bool,
}

/// How one attempt ended.
enum Tried {
    /// A successful response.
    Answered(Sent),
    /// A failure not worth retrying.
    Final(Error),
    /// A failure to retry, with the response headers that may hint when.
    Retryable { err: Error, hint: Option<HeaderMap> },
}

impl Client {
    /// Sends a call, retrying as the policy says. Returns [`Attempts`]: a [`Sent`] response
    /// (with the limiter's permit, settled once the body has been read, and the timing its body
    /// is read with) or the last error, and the retries taken either way. The call's `total_timeout` starts with the first attempt (after the
    /// first rate-limit grant, whose wait `max_delay_seconds` bounds) and covers every retry,
    /// backoff and later grant; a backoff that would end past it gives up at once.
    pub(crate) async fn send(&self, call: &Call) -> Attempts {
        let plan = self.plan(call);
        let mut timing: Option<Timing> = None;
        let mut retries = 0;
        loop {
            let done = |outcome| Attempts { outcome, retries };
            let permit = match self.grant(call, &plan, timing.as_ref()).await {
                Ok(permit) => permit,
                Err(err) => return done(Err(err)),
            };
            let timing = *timing.get_or_insert_with(|| Timing::new(self.config.timeout, plan.total));
            let sent_at = call.request.trace.as_ref().map(|_| SystemTime::now());
            // Boxed: an attempt's state (the request in flight, its timeouts, reading an error
            // body) is most of a call's, and every future above would otherwise move it inline.
            let tried = Box::pin(self.attempt(call, timing, permit, retries)).await;
            if let (Some(trace), Some(sent_at)) = (&call.request.trace, sent_at) {
                self.trace(trace, call, sent_at, &tried);
            }
            let (err, hint) = match tried {
                Tried::Answered(sent) => return done(Ok(sent)),
                Tried::Final(err) => return done(Err(err)),
                Tried::Retryable { err, .. } if call.request.once && !matches!(err.status(), Some(408 | 429)) => {
                    return done(Err(err));
                }
                Tried::Retryable { err, hint } => (err, hint),
            };
            match self.backoff(call, &err, hint.as_ref(), retries, &timing) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => return done(Err(err)),
            }
            retries += 1;
        }
    }

    /// Records one attempt of a traced call.
    fn trace(&self, trace: &Trace, call: &Call, start: SystemTime, tried: &Tried) {
        let error = match tried {
            Tried::Answered(_) => None,
            Tried::Final(err) | Tried::Retryable { err, .. } => Some(err.clone()),
        };
        trace.record(Attempt {
            deployment: self.config.deployment.clone(),
            provider: call.target.name().to_owned(),
            model: call.request.model.clone(),
            start,
            end: SystemTime::now(),
            error,
        });
    }

    /// What every attempt of `call` shares: its deadline and its token reservation.
    fn plan<'a>(&'a self, call: &Call) -> Plan<'a> {
        let request = &call.request;
        let limiter = self
            .config
            .rate_limiter
            .as_deref()
            .filter(|l| l.is_limited(&request.model));
        let tokens = match limiter {
            // An empty source marks a call that spends no model tokens (listings, uploads).
            Some(l) if !call.source.is_empty() && l.counts_tokens(&request.model) => request
                .tokens
                .unwrap_or_else(|| estimate_tokens(&call.source, &call.model)),
            _ => 0,
        };
        Plan {
            limiter,
            tokens,
            total: request.total_timeout.or(self.config.total_timeout),
        }
    }

    /// Waits for the rate limiter's grant of one attempt (within the deadline, once it runs).
    async fn grant(&self, call: &Call, plan: &Plan<'_>, timing: Option<&Timing>) -> Result<Option<Permit>> {
        let Some(limiter) = plan.limiter else {
            return Ok(None);
        };
        let model = &call.request.model;
        let grant = limiter.acquire(model, plan.tokens);
        let granted = match timing.and_then(Timing::remaining) {
            Some(left) => tokio::time::timeout(left, grant)
                .await
                .unwrap_or_else(|_| Err(http::over_deadline(plan.total.unwrap_or_default()))),
            None => grant.await,
        };
        let model = Some(model.as_str()).filter(|m| !m.is_empty());
        granted.map(Some).map_err(|e| e.with_context(call.target.name(), model))
    }

    /// One attempt: sends the request and classifies what came back. A failed attempt settles
    /// its permit (4xx and unopened connections refund their tokens; a 429 pauses the key).
    async fn attempt(&self, call: &Call, timing: Timing, permit: Option<Permit>, retry_index: u32) -> Tried {
        let (url, request) = (&call.url, &call.request);
        let started = Instant::now();
        let built = match &call.upload {
            Some(upload) => self
                .http
                .request(call.method.clone(), url.clone())
                .headers(request.headers.clone())
                .multipart(upload.form())
                .build(),
            None => {
                // Built whole: the headers are the call's map as is, not copied in one by one.
                let mut built = reqwest::Request::new(call.method.clone(), url.clone());
                *built.headers_mut() = request.headers.clone();
                if !request.body.is_empty() {
                    *built.body_mut() = Some(request.body.clone().into());
                }
                Ok(built)
            }
        };
        let sending = async {
            match built {
                Ok(built) => self.http.execute(built).await,
                Err(err) => Err(err),
            }
        };
        let read = self.config.timeout.as_secs_f64();
        match timing
            .within(sending, || format!("no response within {read:.1}s"))
            .await
        {
            Ok(Ok(resp)) if resp.status().is_success() => {
                let waited = started.elapsed();
                if waited > self.config.timeout / 2 {
                    log::info!(target: "liter_llm", "slow response: {} took {:.2}s to answer", url.path(), waited.as_secs_f64());
                }
                Tried::Answered(Sent { resp, permit, timing })
            }
            Ok(Ok(resp)) => {
                let Refusal {
                    err,
                    headers,
                    retryable,
                } = self.error_from(resp, call, &timing).await;
                if let Some(permit) = permit {
                    let status = err.status().unwrap_or(500);
                    if status == 429 {
                        permit.pause(self.policy.delay_for(retry_index, Some(&headers)));
                    }
                    // A 4xx was refused before any work: give its tokens back.
                    permit.settle((400..500).contains(&status).then_some(0));
                }
                if retryable {
                    Tried::Retryable {
                        err,
                        hint: Some(headers),
                    }
                } else {
                    Tried::Final(err)
                }
            }
            Ok(Err(e)) => {
                if let Some(permit) = permit {
                    // Nothing reached the provider if the connection never opened.
                    permit.settle(e.is_connect().then_some(0));
                }
                let err = self.context(Error::from_reqwest(&e, false), call);
                if e.is_builder() {
                    Tried::Final(err)
                } else {
                    Tried::Retryable { err, hint: None }
                }
            }
            Err(timeout) => Tried::Retryable {
                err: self.context(timeout, call),
                hint: None,
            },
        }
    }

    /// The wait before retry `retry_index + 1`, or `None` to give up (no retries left, or the
    /// retry would start past the deadline). Logs the decision.
    fn backoff(
        &self,
        call: &Call,
        err: &Error,
        hint: Option<&HeaderMap>,
        retry_index: u32,
        timing: &Timing,
    ) -> Option<Duration> {
        let path = call.url.path();
        if retry_index >= self.policy.max_retries {
            if self.policy.max_retries > 0 {
                log::warn!(target: "liter_llm", "giving up on {path} after {} attempts: {err}", retry_index + 1);
            }
            return None;
        }
        let delay = self.policy.delay_for(retry_index, hint);
        if timing.remaining().is_some_and(|left| left <= delay) {
            log::warn!(
                target: "liter_llm",
                "giving up on {path} after {} attempts: the next retry would start past total_timeout: {err}",
                retry_index + 1
            );
            return None;
        }
        log::info!(
            target: "liter_llm",
            "retrying {path} in {:.2}s (attempt {} of {}, after {})",
            delay.as_secs_f64(),
            retry_index + 2,
            self.policy.max_retries + 1,
            err.status().map_or_else(|| err.message().to_owned(), |s| format!("HTTP {s}")),
        );
        Some(delay)
    }

    /// Reads an error response into the error, its headers and whether to retry. At most
    /// `max_error_body_bytes` of the body are read, and the key is masked in the raw bytes
    /// before anything parses, cuts or shows them.
    async fn error_from(&self, resp: reqwest::Response, call: &Call, timing: &Timing) -> Refusal {
        let status: StatusCode = resp.status();
        let headers = resp.headers().clone();
        let secret = call.target.secret.expose();
        let retryable = retry::should_retry_status(status.as_u16(), &headers);
        if status.is_redirection() {
            let err = self.context(redirect(status.as_u16(), &headers, secret), call);
            return Refusal {
                err,
                headers,
                retryable: false,
            };
        }
        let (raw, cut) = http::read_error_body(resp, timing, self.config.limits.max_error_body_bytes).await;
        let body = crate::redact::bytes(&raw, secret, cut);
        let retry_after = retry::retry_after(&headers, SystemTime::now());
        let err = call.target.adapter().error(status.as_u16(), &body);
        // Waits are capped by the policy; the hint shown to the caller is capped at a day.
        let retry_after = retry_after.or(err.retry_after()).map(|d| d.min(MAX_SHOWN_RETRY_AFTER));
        let err = self
            .context(err.with_request_id(http::request_id(&headers, secret)), call)
            .with_retry_after(retry_after);
        Refusal {
            err,
            headers,
            retryable,
        }
    }
}

/// The longest `retry_after` an error reports (a server may ask for any wait).
const MAX_SHOWN_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The error for a redirect, which is never followed (it could carry the key or the body to
/// another host): it names where the server pointed, without credentials or query.
fn redirect(status: u16, headers: &HeaderMap, secret: &str) -> Error {
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let target = match location.map(|l| (l, reqwest::Url::parse(l))) {
        Some((_, Ok(url))) => {
            format!(
                " to {}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.port().map_or_else(String::new, |p| format!(":{p}"))
            ) + url.path()
        }
        Some((l, Err(_))) => {
            // A relative or scheme-relative target: keep its path, drop any credentials.
            let path = l.split(['?', '#']).next().unwrap_or("");
            let path = path.rsplit_once('@').map_or(path, |(_, after)| after);
            format!(" to {path}")
        }
        None => String::new(),
    };
    let target = crate::redact::cut(&target, 300, secret);
    Error::new(
        Kind::BadRequest,
        format!(
            "the server answered with a redirect{target}; redirects are not followed, so that the key never \
             reaches another host: set base_url to the new address"
        ),
    )
    .with_status(status)
}
