//! Prometheus metrics of the proxy (`GET /metrics`, text format): requests, latency, time to
//! first token, tokens, spend and errors, by route, model group, deployment, key alias and status.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The most distinct model groups or key aliases the labels take; past it they read `other`
/// (model names come from callers, and a label set per name would grow without bound).
const MAX_LABEL_VALUES: usize = 1_000;

/// The most label combinations whose metric handles are kept ready; past it a request looks
/// its metrics up in each family.
const MAX_READY: usize = 4_096;

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
    /// The handles of each label combination seen, by the hash of its label values: a request
    /// counts itself without building labels or looking up a family.
    ready: Mutex<HashMap<u64, Arc<Handles>>>,
    hasher: std::collections::hash_map::RandomState,
}

/// The label values of one finished request.
type Key<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>, u16);

/// The metrics one label combination counts in (each shares its family's value). Those not
/// every request has are made on first use, so that /metrics shows no series never counted.
#[derive(Debug)]
struct Handles {
    key: (String, Option<String>, Option<String>, Option<String>, u16),
    /// The bounded `model_group` and `key_alias` label values.
    group: String,
    alias: String,
    requests: Counter,
    errors: Option<Counter>,
    latency: Histogram,
    first_token: OnceLock<Histogram>,
    prompt_tokens: OnceLock<Counter>,
    completion_tokens: OnceLock<Counter>,
    spend: OnceLock<Counter<f64, std::sync::atomic::AtomicU64>>,
}

impl Handles {
    fn is(&self, key: &Key<'_>) -> bool {
        let (route, group, deployment, alias, status) = &self.key;
        (
            route.as_str(),
            group.as_deref(),
            deployment.as_deref(),
            alias.as_deref(),
            *status,
        ) == *key
    }
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
            ready: Mutex::new(HashMap::new()),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// A request started.
    pub(crate) fn started(&self) {
        self.in_flight.inc();
    }

    /// Counts a finished request.
    pub(crate) fn finished(&self, seen: &Observation<'_>) {
        self.in_flight.dec();
        let handles = self.handles(&(
            seen.route,
            seen.model_group,
            seen.deployment,
            seen.key_alias,
            seen.status,
        ));
        handles.requests.inc();
        if let Some(errors) = &handles.errors {
            errors.inc();
        }
        handles.latency.observe(seen.seconds);
        let (group, alias) = (&handles.group, &handles.alias);
        if let Some(first) = seen.first_token_seconds {
            let histogram = handles.first_token.get_or_init(|| {
                let labels = GroupLabels {
                    model_group: group.clone(),
                };
                self.first_token.get_or_create(&labels).clone()
            });
            histogram.observe(first);
        }
        let tokens = [
            ("prompt", seen.prompt_tokens, &handles.prompt_tokens),
            ("completion", seen.completion_tokens, &handles.completion_tokens),
        ];
        for (kind, count, counter) in tokens {
            if let Some(count) = count.filter(|c| *c > 0) {
                let counter = counter.get_or_init(|| {
                    let labels = TokenLabels {
                        model_group: group.clone(),
                        key_alias: alias.clone(),
                        kind,
                    };
                    self.tokens.get_or_create(&labels).clone()
                });
                counter.inc_by(count);
            }
        }
        if let Some(cost) = seen.cost.filter(|c| *c > 0.0) {
            let counter = handles.spend.get_or_init(|| {
                let labels = SpendLabels {
                    model_group: group.clone(),
                    key_alias: alias.clone(),
                };
                self.spend.get_or_create(&labels).clone()
            });
            counter.inc_by(cost);
        }
    }

    /// The handles of `key`'s label combination: kept ready, or looked up in each family.
    fn handles(&self, key: &Key<'_>) -> Arc<Handles> {
        let hash = self.hasher.hash_one(key);
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(handles) = ready.get(&hash).filter(|h| h.is(key)) {
            return Arc::clone(handles);
        }
        let handles = Arc::new(self.look_up(key));
        if ready.len() < MAX_READY && !ready.contains_key(&hash) {
            ready.insert(hash, Arc::clone(&handles));
        }
        handles
    }

    /// The metrics of one label combination, from each family (created on first use).
    fn look_up(&self, key: &Key<'_>) -> Handles {
        let &(route, group, deployment, alias, status) = key;
        let [group_label, deployment_label, alias_label] = self.bounded([group, deployment, alias]);
        let labels = RequestLabels {
            route: route.to_owned(),
            model_group: group_label.clone(),
            deployment: deployment_label,
            key_alias: alias_label.clone(),
            status,
        };
        Handles {
            key: (
                route.to_owned(),
                group.map(str::to_owned),
                deployment.map(str::to_owned),
                alias.map(str::to_owned),
                status,
            ),
            requests: self.requests.get_or_create(&labels).clone(),
            errors: (status >= 400).then(|| self.errors.get_or_create(&labels).clone()),
            latency: self
                .latency
                .get_or_create(&LatencyLabels {
                    route: labels.route.clone(),
                    model_group: group_label.clone(),
                })
                .clone(),
            group: group_label,
            alias: alias_label,
            first_token: OnceLock::new(),
            prompt_tokens: OnceLock::new(),
            completion_tokens: OnceLock::new(),
            spend: OnceLock::new(),
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
