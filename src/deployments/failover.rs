//! Running a routed call: attempts on the group's deployments, then its fallbacks.
//!
//! A failure that says nothing about the request (a 5xx, 429, 401, 404, 408, a timeout or a
//! broken connection, a local limit that would wait too long) is tried again on another
//! deployment of the group at once, up to `num_retries` times; only a retry on the very
//! deployment that just failed waits (the retry backoff, at least `retry_after`). Once the
//! group is spent, its `fallbacks` are tried in order (a group, or a plain model); a request
//! too long for the context goes to `context_window_fallbacks`, and one refused on content
//! policy to `content_policy_fallbacks`, instead. Other failures (a bad request) are final.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqwest::header::HeaderMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::pick::Pick;
use super::{health, Deployment, Deployments, Group};
use crate::api::{ApiRequest, Payload};
use crate::client::{Client, Request};
use crate::error::{Error, Kind, Result};
use crate::http;

/// A request a router can aim at a deployment.
pub(crate) trait Routable: Clone + Send + Sync {
    /// The model (or group) asked for.
    fn model(&self) -> &str;
    /// The conversation to keep on one deployment.
    fn session(&self) -> Option<&str> {
        None
    }
    /// The call's own `total_timeout`.
    fn total_timeout(&self) -> Option<Duration> {
        None
    }
    /// This request for `target`, with `defaults` added to a chat body that lacks them, and
    /// `left` of the call's deadline.
    fn aim(&self, target: Target<'_>, defaults: &Map<String, Value>, left: Option<Duration>) -> Result<Self>;
}

/// Where a routed request goes: the model as routed (`azure/gpt-4o`) and as its provider knows
/// it (`gpt-4o`).
#[derive(Clone, Copy)]
pub(crate) struct Target<'a> {
    pub(crate) model: &'a str,
    pub(crate) wire: &'a str,
    /// The deployment's own headers (a request's headers win).
    pub(crate) headers: Option<&'a HeaderMap>,
}

impl<'a> Target<'a> {
    /// A plain model (a fallback that is no group): the client routes and renames it.
    fn plain(model: &'a str) -> Self {
        Target {
            model,
            wire: model,
            headers: None,
        }
    }

    /// `own` with the deployment's headers added where it has none of that name.
    fn headers(&self, own: &HeaderMap) -> HeaderMap {
        let mut out = own.clone();
        for (name, value) in self.headers.into_iter().flatten() {
            if !out.contains_key(name) {
                out.insert(name.clone(), value.clone());
            }
        }
        out
    }
}

/// An answer a router can mark with the deployment that served it.
pub(crate) trait Served {
    /// Tokens the answer spent (usage-based routing).
    fn tokens(&self) -> u64 {
        0
    }
    /// Notes the deployment that answered.
    fn mark(&mut self, _deployment: &str) {}
    /// Keeps the deployment busy while the answer is still being read (streams); other
    /// answers are whole, so the deployment is free once they arrive.
    fn keep_busy(&mut self, _busy: Busy) {}
}

/// The retries left for a call, and what it tried.
struct Budget {
    left: u32,
    tried: Vec<usize>,
    last: Option<usize>,
}

/// A request in flight on a deployment, counted until dropped (also when the call is
/// cancelled); a stream keeps it until it ends or is dropped.
#[derive(Debug)]
pub struct Busy(Arc<Deployment>);

impl Busy {
    fn enter(deployment: &Arc<Deployment>) -> Self {
        deployment.in_flight.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(deployment))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Which fallback list a failure goes to.
fn fallback_kind(err: &Error) -> Option<FallbackKind> {
    match err.kind() {
        Kind::ContextWindowExceeded => Some(FallbackKind::ContextWindow),
        Kind::ContentPolicy => Some(FallbackKind::ContentPolicy),
        _ if worth_another(err) => Some(FallbackKind::Any),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum FallbackKind {
    Any,
    ContextWindow,
    ContentPolicy,
}

/// Whether a failure is a local rate limiter's refusal (nothing was sent).
fn is_local_limit(err: &Error) -> bool {
    err.kind() == Kind::RateLimited && err.status().is_none()
}

/// Whether another deployment may succeed where this one failed.
fn worth_another(err: &Error) -> bool {
    health::blame(err).is_some()
        || matches!(
            err.kind(),
            Kind::RateLimited | Kind::Server | Kind::ServiceUnavailable | Kind::EndpointNotSupported
        )
}

impl Deployments {
    /// Runs `request` on the group it names, then on its fallbacks; `op` makes one call with a
    /// client (a deployment's, or `parent` for a fallback that is a plain model).
    pub(crate) async fn run<'c, R, T, F, Fut>(&'c self, parent: &'c Client, request: R, op: F) -> Result<T>
    where
        R: Routable,
        T: Served,
        F: Fn(&'c Client, R) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let total = request.total_timeout().or(parent.config().total_timeout);
        let deadline = total.map(|t| (Instant::now() + t, t));
        let name = request.model().to_owned();
        // The op is boxed on the paths that call it here (as in `attempt`): inline, its state
        // would sit in this future, and every request's would carry it.
        let Some(group) = self.group(&name) else {
            return Box::pin(op(parent, request)).await;
        };
        let err = match self.run_group(group, &request, deadline, &op).await {
            Ok(answer) => return Ok(answer),
            Err(err) => err,
        };
        let targets = match fallback_kind(&err) {
            Some(kind) => self.fallbacks(&name, kind),
            None => &[],
        };
        let mut last = err;
        for target in targets {
            log::info!(target: "liter_llm", "{name}: falling back to {target} after: {last}");
            let result = match self.group(target) {
                // Each of its deployments re-aims the request.
                Some(group) => self.run_group(group, &request, deadline, &op).await,
                None => {
                    let left = remaining(deadline)?;
                    Box::pin(op(parent, request.aim(Target::plain(target), &Map::new(), left)?)).await
                }
            };
            match result {
                Ok(answer) => return Ok(answer),
                Err(err) => last = err,
            }
        }
        Err(last)
    }

    /// The fallback list of `group` for a failure of `kind`.
    fn fallbacks(&self, group: &str, kind: FallbackKind) -> &[String] {
        let s = &self.settings;
        let find = |list: &'_ [(String, Vec<String>)]| -> Option<usize> { list.iter().position(|(g, _)| g == group) };
        match kind {
            FallbackKind::ContextWindow => {
                find(&s.context_window_fallbacks).map(|i| &s.context_window_fallbacks[i].1[..])
            }
            FallbackKind::ContentPolicy => {
                find(&s.content_policy_fallbacks).map(|i| &s.content_policy_fallbacks[i].1[..])
            }
            FallbackKind::Any => find(&s.fallbacks)
                .map(|i| &s.fallbacks[i].1[..])
                .or(Some(&s.default_fallbacks[..]).filter(|d| !d.is_empty())),
        }
        .unwrap_or(&[])
    }

    /// Whether a failure of `group` has somewhere else to go.
    fn has_fallbacks(&self, group: &str) -> bool {
        !self.fallbacks(group, FallbackKind::Any).is_empty()
    }

    /// Attempts on the deployments of one group, within the call's retries.
    async fn run_group<'c, R, T, F, Fut>(
        &'c self,
        group: &'c Group,
        request: &R,
        deadline: Option<(Instant, Duration)>,
        op: &F,
    ) -> Result<T>
    where
        R: Routable,
        T: Served,
        F: Fn(&'c Client, R) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut budget = Budget {
            left: self.num_retries,
            tried: Vec::new(),
            last: None,
        };
        let mut failure: Option<Error> = None;
        loop {
            let index = match self.pick(group, &budget.tried, request.session()) {
                Pick::One(index) => index,
                Pick::Cooling(back) => {
                    self.wait_for_cooling(group, back, deadline, failure.take()).await?;
                    continue;
                }
            };
            let deployment = &group.members[index];
            if budget.last == Some(index) {
                if let Some(refused) = failure.take_if(|e| is_local_limit(e)) {
                    // Its own limiter just said the wait is too long: asking again cannot help.
                    return Err(refused);
                }
                let delay = self
                    .policy
                    .delay_for(self.num_retries - budget.left - 1, None)
                    .max(self.settings.retry_after);
                if remaining(deadline)?.is_some_and(|left| left <= delay) {
                    return Err(
                        failure.unwrap_or_else(|| http::over_deadline(deadline.map_or(Duration::ZERO, |d| d.1)))
                    );
                }
                tokio::time::sleep(delay).await;
            }
            let target = Target {
                model: &deployment.model,
                wire: &deployment.wire_model,
                headers: Some(&deployment.headers).filter(|h| !h.is_empty()),
            };
            let aimed = request.aim(target, &deployment.defaults, remaining(deadline)?)?;
            match self.attempt(deployment, aimed, op).await {
                Ok(mut answer) => {
                    answer.mark(&deployment.id);
                    if let Some(session) = request.session() {
                        self.sessions.bind(session, &deployment.id);
                    }
                    return Ok(answer);
                }
                Err(err) => {
                    if budget.left == 0 || !worth_another(&err) {
                        return Err(err);
                    }
                    log::info!(
                        target: "liter_llm",
                        "{}: deployment {} failed, trying another: {err}",
                        group.name,
                        deployment.id
                    );
                    budget.left -= 1;
                    budget.tried.push(index);
                    budget.last = Some(index);
                    failure = Some(err);
                }
            }
        }
    }

    /// Counts use of `deployment` this minute (usage-based routing), here and, when shared,
    /// for every process.
    fn count(&self, deployment: &Deployment, requests: u64, tokens: u64) {
        deployment.count(requests, tokens);
        if let Some(shared) = &self.shared {
            shared.count(deployment, super::minute_now(), requests, tokens);
        }
    }

    /// One call on one deployment, with its in-flight count, latency and health kept.
    async fn attempt<'c, R, T, F, Fut>(&self, deployment: &'c Arc<Deployment>, request: R, op: &F) -> Result<T>
    where
        T: Served,
        F: Fn(&'c Client, R) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let started = Instant::now();
        self.count(deployment, 1, 0);
        let busy = Busy::enter(deployment);
        // Boxed: the deployment's call is the bulk of a routed call's state, and every future
        // above it would otherwise carry (and move) it inline.
        let mut result = Box::pin(op(&deployment.client, request)).await;
        match &mut result {
            Ok(answer) => {
                deployment.record_latency(started.elapsed().as_secs_f64());
                self.count(deployment, 0, answer.tokens());
                answer.keep_busy(busy);
            }
            Err(err) => {
                if let (Some(shared), Some(at_once)) = (&self.shared, super::health::blame(err)) {
                    let period = super::health::period(err, &self.settings);
                    shared.failed(deployment, at_once, self.settings.allowed_fails, period);
                }
                if let Some(period) = deployment.health.failed(err, &self.settings, Instant::now()) {
                    log::warn!(
                        target: "liter_llm",
                        "deployment {} of {} cools down for {:.1}s after: {err}",
                        deployment.id,
                        deployment.group,
                        period.as_secs_f64()
                    );
                }
            }
        }
        result
    }

    /// Every deployment is out: fails at once when the group has fallbacks to go to, or when
    /// the first one back is further than `max_wait` or the deadline; else waits for it.
    async fn wait_for_cooling(
        &self,
        group: &Group,
        back: Duration,
        deadline: Option<(Instant, Duration)>,
        failure: Option<Error>,
    ) -> Result<()> {
        let left = remaining(deadline)?;
        let too_long = back > self.max_wait || left.is_some_and(|l| l <= back);
        if too_long || (failure.is_some() && self.has_fallbacks(&group.name)) {
            let err = Error::new(
                Kind::RateLimited,
                format!(
                    "every deployment of {} is cooling down; the first is back in {:.1}s",
                    group.name,
                    back.as_secs_f64()
                ),
            )
            .with_context("router", Some(&group.name))
            .with_retry_after(Some(back));
            return Err(match failure {
                Some(last) if !too_long => last,
                _ => err,
            });
        }
        log::info!(
            target: "liter_llm",
            "every deployment of {} is cooling down: waiting {:.1}s for the first to return",
            group.name,
            back.as_secs_f64()
        );
        tokio::time::sleep(back).await;
        Ok(())
    }
}

/// What is left of the call's deadline (`None`: no deadline).
///
/// # Errors
/// `Timeout` once it has passed.
fn remaining(deadline: Option<(Instant, Duration)>) -> Result<Option<Duration>> {
    match deadline {
        None => Ok(None),
        Some((at, total)) => match at.checked_duration_since(Instant::now()) {
            Some(left) if !left.is_zero() => Ok(Some(left)),
            _ => Err(http::over_deadline(total)),
        },
    }
}

/// A JSON object body with `"model"` replaced (and put first) and `defaults` added where
/// absent (only to chat bodies: those with `messages`). The members' values are copied as they
/// are in the text, never parsed into values: a long conversation costs one scan.
fn retarget(body: &[u8], model: &str, defaults: &Map<String, Value>) -> Result<Bytes> {
    let Members(members) = serde_json::from_slice(body)
        .map_err(|e| Error::new(Kind::Serialization, format!("request body is not a JSON object: {e}")))?;
    let chat = !defaults.is_empty() && members.iter().any(|(k, _)| k == "messages");
    let mut out = Vec::with_capacity(body.len() + model.len() + 16);
    let member = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
        out.push(if out.is_empty() { b'{' } else { b',' });
        // A str always serialises.
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
        out.extend_from_slice(value);
    };
    let model = serde_json::to_vec(model).map_err(|e| Error::new(Kind::Serialization, e.to_string()))?;
    member(&mut out, "model", &model);
    for (key, value) in &members {
        if key != "model" {
            member(&mut out, key, value.get().as_bytes());
        }
    }
    if chat {
        for (key, value) in defaults {
            if !members.iter().any(|(k, _)| k == key) {
                member(&mut out, key, value.to_string().as_bytes());
            }
        }
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

/// The members of a JSON object, in order, their values left unparsed.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Members<'de>, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, &'de RawValue>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(Visit)
    }
}

impl Routable for Request {
    fn model(&self) -> &str {
        &self.model
    }
    fn session(&self) -> Option<&str> {
        self.session.as_deref()
    }
    fn total_timeout(&self) -> Option<Duration> {
        self.total_timeout
    }
    fn aim(&self, target: Target<'_>, defaults: &Map<String, Value>, left: Option<Duration>) -> Result<Self> {
        Ok(Request {
            body: retarget(&self.body, target.wire, defaults)?,
            model: target.model.to_owned(),
            headers: target.headers(&self.headers),
            sanitize: self.sanitize,
            total_timeout: left,
            session: None,
            trace: self.trace.clone(),
            aimed: true,
            cache: crate::cache::Control::default(),
            tokens: self.tokens,
            once: self.once,
        })
    }
}

impl Routable for ApiRequest {
    fn model(&self) -> &str {
        &self.model
    }
    fn aim(&self, target: Target<'_>, _defaults: &Map<String, Value>, _left: Option<Duration>) -> Result<Self> {
        let model = target.model;
        let mut aimed = self.clone();
        aimed.model = model.to_owned();
        aimed.headers = target.headers(&self.headers);
        match &mut aimed.payload {
            Payload::Json(body) => *body = retarget(body, model, &Map::new())?,
            Payload::Form(upload) => {
                for (name, value) in &mut upload.fields {
                    if name == "model" {
                        model.clone_into(value);
                    }
                }
            }
            Payload::Empty => {}
        }
        Ok(aimed)
    }
}

impl Served for crate::types::ChatCompletionResponse {
    fn tokens(&self) -> u64 {
        self.usage.as_ref().map_or(0, |u| u.total_tokens)
    }
    fn mark(&mut self, deployment: &str) {
        self.deployment = Some(deployment.to_owned());
    }
}

impl Served for crate::types::EmbeddingResponse {
    fn tokens(&self) -> u64 {
        self.usage.total_tokens
    }
    fn mark(&mut self, deployment: &str) {
        self.deployment = Some(deployment.to_owned());
    }
}

impl Served for crate::stream::ChatStream {
    fn mark(&mut self, deployment: &str) {
        self.set_deployment(deployment);
    }
    fn keep_busy(&mut self, busy: Busy) {
        self.hold(busy);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retarget_replaces_the_model_keeps_the_rest_verbatim_and_adds_missing_defaults() {
        let body = br#"{"messages":[{"role":"user","content":"h\u00e9 \"x\""}],"model":"g","temperature":0.5}"#;
        let mut defaults = Map::new();
        defaults.insert("temperature".into(), Value::from(0.1));
        defaults.insert("max_tokens".into(), Value::from(64));
        let out = retarget(body, "gpt-4o", &defaults).unwrap();
        let text = std::str::from_utf8(&out).unwrap();
        assert!(text.starts_with(r#"{"model":"gpt-4o","messages":[{"role":"user","content":"h\u00e9 \"x\""}]"#));
        let value: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["temperature"], 0.5);
        assert_eq!(value["max_tokens"], 64);
        // Defaults are for chat bodies only.
        let out = retarget(br#"{"input":"x","model":"g"}"#, "emb", &defaults).unwrap();
        assert_eq!(&out[..], br#"{"model":"emb","input":"x"}"#);
        assert!(retarget(b"[1]", "m", &defaults).is_err());
    }
}
