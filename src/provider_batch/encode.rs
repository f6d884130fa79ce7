//! Turning a job's chat requests into provider batch input: every request routed and encoded
//! exactly as `chat` would send it, one line each, split into provider batches by the
//! provider's limits. Everything here fails before anything is sent.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;

use super::manifest::{Api, Part};
use crate::client::{Client, Request};
use crate::error::{Error, Kind, Result};
use crate::providers::registry::{Endpoint, Protocol};
use crate::providers::route::Target;

/// What a caller chooses for a job.
#[derive(Clone, Debug)]
pub struct Options {
    /// The completion window (`24h`, the only one the providers offer).
    pub completion_window: String,
    /// Fewer requests per provider batch than the provider allows.
    pub max_requests: Option<usize>,
    /// Fewer input bytes per provider batch than the provider allows.
    pub max_bytes: Option<u64>,
}

/// A job's requests, ready to send.
pub(super) struct Prepared {
    pub api: Api,
    pub target: Arc<Target>,
    /// The first request's model, which routes to `target`.
    pub model: String,
    pub one_model: bool,
    pub max_requests: usize,
    pub max_bytes: u64,
    /// Each provider batch and the body that creates it (the JSONL file for OpenAI, the
    /// request body for Anthropic).
    pub parts: Vec<(Part, Bytes)>,
}

fn invalid(message: String) -> Error {
    Error::new(Kind::InvalidArgument, message)
}

/// The custom id of request `index`, which its result line carries back.
pub(super) fn custom_id(index: usize) -> String {
    format!("r{index}")
}

/// The request index a result line's custom id names (`None` for an id we did not send).
pub(super) fn index_of(custom_id: &str) -> Option<usize> {
    let digits = custom_id.strip_prefix('r')?;
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The API of a provider's protocol, when it has a batch API we drive.
fn api_of(target: &Target) -> Result<Api> {
    let provider = &target.provider;
    match provider.protocol {
        Protocol::OpenAi if provider.supports(Endpoint::Batches) && provider.supports(Endpoint::Files) => {
            Ok(Api::OpenAi)
        }
        Protocol::Anthropic if provider.supports(Endpoint::MessageBatches) => Ok(Api::Anthropic),
        _ => Err(provider.unsupported("provider batch jobs")),
    }
}

/// The limits of a job: the provider's, or lower ones the caller asked for.
fn limits(api: Api, options: &Options) -> Result<(usize, u64)> {
    let (requests, bytes) = api.limits();
    let pick = |asked: Option<u64>, max: u64, name: &str| match asked {
        None => Ok(max),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(invalid(format!(
            "{name} must be between 1 and {max} (the provider's limit), not {n}"
        ))),
    };
    let requests = pick(
        options.max_requests.map(|n| n as u64),
        requests as u64,
        "max_requests_per_batch",
    )?;
    let bytes = pick(options.max_bytes, bytes, "max_bytes_per_batch")?;
    Ok((usize::try_from(requests).unwrap_or(usize::MAX), bytes))
}

/// Splits items of `sizes` bytes (separators included) into consecutive runs of at most
/// `max_count` items and `max_bytes` bytes (`overhead` counted once per run).
///
/// # Errors
/// The index of an item too large for a run of its own.
pub(super) fn split(
    sizes: &[u64],
    max_count: usize,
    max_bytes: u64,
    overhead: u64,
) -> Result<Vec<Range<usize>>, usize> {
    let mut runs = Vec::new();
    let (mut start, mut bytes) = (0, overhead);
    for (i, &size) in sizes.iter().enumerate() {
        if overhead + size > max_bytes {
            return Err(i);
        }
        if i > start && (i - start == max_count || bytes + size > max_bytes) {
            runs.push(start..i);
            (start, bytes) = (i, overhead);
        }
        bytes += size;
    }
    if start < sizes.len() {
        runs.push(start..sizes.len());
    }
    Ok(runs)
}

/// Routes and encodes every request, and splits them into provider batches.
///
/// # Errors
/// `InvalidArgument` for no requests, a streamed request, requests that go to different
/// providers, a router group, a completion window other than `24h`, limits above the
/// provider's or a request too large for a batch; `EndpointNotSupported` for a provider
/// without a batch API. Errors about one request start with `requests[i]: `.
pub(super) fn prepare(client: &Client, requests: Vec<Request>, options: &Options) -> Result<Prepared> {
    if requests.is_empty() {
        return Err(invalid("requests must not be empty".into()));
    }
    if requests.len() > super::manifest::MAX_REQUESTS {
        return Err(invalid(format!(
            "{} requests, more than one job may hold ({}): submit several jobs",
            requests.len(),
            super::manifest::MAX_REQUESTS
        )));
    }
    if options.completion_window != "24h" {
        return Err(invalid(format!(
            "completion_window must be \"24h\" (the only window the providers offer), not {:?}",
            options.completion_window
        )));
    }
    let at = |i: usize| move |e: Error| e.with_prefix(&format!("requests[{i}]: "));
    let model = requests[0].model.clone();
    let one_model = requests.iter().all(|r| r.model == model);
    let mut target: Option<Arc<Target>> = None;
    let mut lines = Vec::with_capacity(requests.len());
    for (i, request) in requests.into_iter().enumerate() {
        if client.deployments().is_some_and(|d| d.group(&request.model).is_some()) {
            return Err(at(i)(invalid(format!(
                "{:?} is a router group; a batch job goes to one provider, so name a model",
                request.model
            ))));
        }
        if streams(&request.body) {
            return Err(at(i)(invalid("a batch job's requests cannot stream".into())));
        }
        let call = client.model_call(request, Endpoint::Chat, false).map_err(at(i))?;
        match &target {
            None => target = Some(Arc::clone(&call.target)),
            Some(t) if t.name() != call.target.name() || t.base != call.target.base => {
                return Err(at(i)(invalid(format!(
                    "a batch job goes to one provider: this request goes to {:?}, requests[0] to {:?}",
                    call.target.name(),
                    t.name()
                ))));
            }
            Some(_) => {}
        }
        lines.push(call.request.body);
    }
    let target = target.ok_or_else(|| invalid("requests must not be empty".into()))?;
    let api = api_of(&target)?;
    let (max_requests, max_bytes) = limits(api, options)?;
    let lines: Vec<Vec<u8>> = lines.iter().enumerate().map(|(i, body)| line(api, i, body)).collect();
    let sizes: Vec<u64> = lines.iter().map(|l| l.len() as u64 + 1).collect();
    let overhead = match api {
        Api::OpenAi => 0,
        Api::Anthropic => OPEN.len() as u64 + CLOSE.len() as u64,
    };
    let runs = split(&sizes, max_requests, max_bytes, overhead).map_err(|i| {
        invalid(format!(
            "requests[{i}]: {} bytes encoded, more than a provider batch may hold ({max_bytes} bytes)",
            sizes[i]
        ))
    })?;
    let parts = runs
        .into_iter()
        .map(|run| {
            let body = Bytes::from(assemble(api, &lines[run.clone()]));
            let digest = blake3::hash(&body).to_hex()[..32].to_owned();
            (Part::new(run.start, run.len(), body.len() as u64, digest), body)
        })
        .collect();
    Ok(Prepared {
        api,
        target,
        model,
        one_model,
        max_requests,
        max_bytes,
        parts,
    })
}

/// Whether a chat body asks to stream.
fn streams(body: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Flag {
        stream: Option<bool>,
    }
    serde_json::from_slice::<Flag>(body).is_ok_and(|f| f.stream == Some(true))
}

/// The start and end of an Anthropic batch creation body around its request lines.
const OPEN: &[u8] = b"{\"requests\":[";
const CLOSE: &[u8] = b"]}";

/// One request's line: the provider-encoded body wrapped with its custom id.
fn line(api: Api, index: usize, body: &[u8]) -> Vec<u8> {
    let id = custom_id(index);
    let head = match api {
        Api::OpenAi => {
            format!("{{\"custom_id\":\"{id}\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":")
        }
        Api::Anthropic => format!("{{\"custom_id\":\"{id}\",\"params\":"),
    };
    let mut out = Vec::with_capacity(head.len() + body.len() + 1);
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out.push(b'}');
    out
}

/// The body that creates one provider batch from its lines.
fn assemble(api: Api, lines: &[Vec<u8>]) -> Vec<u8> {
    let size: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut out = Vec::with_capacity(size + OPEN.len() + CLOSE.len());
    match api {
        Api::OpenAi => {
            for l in lines {
                out.extend_from_slice(l);
                out.push(b'\n');
            }
        }
        Api::Anthropic => {
            out.extend_from_slice(OPEN);
            for (i, l) in lines.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(l);
            }
            out.extend_from_slice(CLOSE);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_end_at_the_count_limit_and_at_the_byte_limit() {
        assert_eq!(split(&[1; 5], 2, 100, 0).unwrap(), vec![0..2, 2..4, 4..5]);
        // 10 + 10 + 10 = 30 fits in 30 bytes; the fourth starts a new run.
        assert_eq!(split(&[10, 10, 10, 10], 100, 30, 0).unwrap(), vec![0..3, 3..4]);
        // Overhead counts once per run.
        assert_eq!(split(&[10, 10, 10], 100, 30, 5).unwrap(), vec![0..2, 2..3]);
        assert_eq!(split(&[10, 31, 10], 100, 30, 0), Err(1));
        assert_eq!(split(&[], 10, 10, 0).unwrap(), Vec::<Range<usize>>::new());
    }

    #[test]
    fn the_provider_limits_split_exactly_at_their_edges() {
        let (count, bytes) = Api::OpenAi.limits();
        let runs = split(&vec![1; count + 1], count, bytes, 0).unwrap();
        assert_eq!(runs, vec![0..count, count..count + 1]);
        let (count, bytes) = Api::Anthropic.limits();
        assert_eq!((count, bytes), (100_000, 256_000_000));
        // Two items and the overhead one byte short of the limit: one more byte still fits,
        // two do not.
        let half = 127_999_992;
        assert_eq!(2 * half + 15, bytes - 1);
        assert_eq!(split(&[half, half, 1], count, bytes, 15).unwrap(), vec![0..3]);
        assert_eq!(split(&[half, half, 2], count, bytes, 15).unwrap(), vec![0..2, 2..3]);
    }

    #[test]
    fn custom_ids_round_trip_and_foreign_ones_are_refused() {
        assert_eq!(index_of(&custom_id(41)), Some(41));
        for id in ["", "r", "x1", "r-1", "r1a", "r99999999999", "r+1"] {
            assert_eq!(index_of(id), None, "{id}");
        }
    }

    #[test]
    fn lines_wrap_the_encoded_body() {
        let line = line(Api::OpenAi, 3, br#"{"model":"m"}"#);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["custom_id"], "r3");
        assert_eq!(v["url"], "/v1/chat/completions");
        assert_eq!(v["body"]["model"], "m");
        let body = assemble(Api::Anthropic, &[b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["requests"][1]["b"], 2);
    }
}
