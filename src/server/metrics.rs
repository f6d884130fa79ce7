//! Prometheus metrics of the proxy (`GET /metrics`, text format): requests, latency, time to
//! first token, tokens, spend and errors, by route, model group, deployment, key alias and status.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The most distinct model groups or key aliases the labels take; past it they read `other`
/// (model names come from callers, and a label set per name would grow without bound).
const MAX_LABEL_VALUES: usize = 1_000;

/// Latency buckets in seconds: 5 ms to 5 minutes.
const LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    model_group: String,
    deployment: String,
    key_alias: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    route: String,
    model_group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabels {
    model_group: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SpendLabels {
    model_group: String,
    key_alias: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    model_group: String,
    key_alias: String,
    kind: &'static str,
}

/// One finished request, as metrics count it.
#[derive(Debug, Default)]
pub(crate) struct Observation<'a> {
    pub(crate) route: &'a str,
    pub(crate) model_group: Option<&'a str>,
    pub(crate) deployment: Option<&'a str>,
    pub(crate) key_alias: Option<&'a str>,
    pub(crate) status: u16,
    pub(crate) seconds: f64,
    pub(crate) first_token_seconds: Option<f64>,
    pub(crate) prompt_tokens: Option<u64>,
    pub(crate) completion_tokens: Option<u64>,
    pub(crate) cost: Option<f64>,
}

/// Every metric of the server.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram>,
    first_token: Family<GroupLabels, Histogram>,
    tokens: Family<TokenLabels, Counter>,
    spend: Family<SpendLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    in_flight: Gauge,
    seen: Mutex<HashSet<String>>,
}

impl Metrics {
    /// Registers every metric under `liter_llm_proxy_`.
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("liter_llm_proxy");
        let requests = Family::<RequestLabels, Counter>::default();
        let errors = Family::<RequestLabels, Counter>::default();
        let latency =
            Family::<LatencyLabels, Histogram>::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS) as Histogram);
        let first_token =
            Family::<GroupLabels, Histogram>::new_with_constructor(|| Histogram::new(LATENCY_BUCKETS) as Histogram);
        let tokens = Family::<TokenLabels, Counter>::default();
        let spend = Family::<SpendLabels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
        let in_flight = Gauge::default();
        registry.register("requests", "Requests answered", requests.clone());
        registry.register(
            "errors",
            "Requests answered with a status of 400 or more",
            errors.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from the request to the end of its answer (a stream's last chunk)",
            latency.clone(),
        );
        registry.register(
            "time_to_first_token_seconds",
            "Time from a streamed request to its first chunk",
            first_token.clone(),
        );
        registry.register("tokens", "Tokens spent, by kind (prompt, completion)", tokens.clone());
        registry.register("spend_usd", "Spend in USD by the pricing table", spend.clone());
        registry.register("requests_in_flight", "Requests being answered now", in_flight.clone());
        Metrics {
            registry,
            requests,
            errors,
            latency,
            first_token,
            tokens,
            spend,
            in_flight,
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// A request started.
    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    /// Counts a finished request.
    pub(crate) fn finished(&self, seen: &Observation<'_>) {
        self.in_flight.dec();
        let [group, deployment, alias] = self.bounded([seen.model_group, seen.deployment, seen.key_alias]);
        let labels = RequestLabels {
            route: seen.route.to_owned(),
            model_group: group.clone(),
            deployment,
            key_alias: alias.clone(),
            status: seen.status,
        };
        self.requests.get_or_create(&labels).inc();
        if seen.status >= 400 {
            self.errors.get_or_create(&labels).inc();
        }
        self.latency
            .get_or_create(&LatencyLabels {
                route: labels.route,
                model_group: group.clone(),
            })
            .observe(seen.seconds);
        if let Some(first) = seen.first_token_seconds {
            self.first_token
                .get_or_create(&GroupLabels {
                    model_group: group.clone(),
                })
                .observe(first);
        }
        for (kind, count) in [("prompt", seen.prompt_tokens), ("completion", seen.completion_tokens)] {
            if let Some(count) = count.filter(|c| *c > 0) {
                self.tokens
                    .get_or_create(&TokenLabels {
                        model_group: group.clone(),
                        key_alias: alias.clone(),
                        kind,
                    })
                    .inc_by(count);
            }
        }
        if let Some(cost) = seen.cost.filter(|c| *c > 0.0) {
            self.spend
                .get_or_create(&SpendLabels {
                    model_group: group,
                    key_alias: alias,
                })
                .inc_by(cost);
        }
    }

    /// The metrics in Prometheus' text format.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// `values` as label values: empty when absent, `other` once too many distinct values were
    /// seen.
    fn bounded<const N: usize>(&self, values: [Option<&str>; N]) -> [String; N] {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        values.map(|value| match value {
            None => String::new(),
            Some(value) if seen.contains(value) => value.to_owned(),
            Some(_) if seen.len() >= MAX_LABEL_VALUES => "other".to_owned(),
            Some(value) => {
                seen.insert(value.to_owned());
                value.to_owned()
            }
        })
    }
}
