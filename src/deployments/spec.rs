//! What a routing configuration describes, once checked: the deployments of each model group
//! and the router's settings. Built by [`super::config::parse`] from a LiteLLM-style config
//! (`model_list`, `router_settings`, `litellm_settings`) given as YAML, JSON or Python values.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::config::Secret;

/// A checked routing configuration.
#[derive(Clone, Debug, Default)]
pub struct RouterSpec {
    /// Every deployment, in the order of `model_list`.
    pub deployments: Vec<DeploymentSpec>,
    /// The router's settings (defaults where the config gives none).
    pub settings: RouterSettings,
    /// The response cache `litellm_settings.cache` asks for.
    pub cache: Option<crate::cache::CacheSettings>,
    /// Paths of keys LiteLLM accepts that liter_llm ignores (`litellm_settings.success_callback`,
    /// `model_list[0].litellm_params.mock_response`), for one warning.
    pub ignored: Vec<String>,
}

/// One deployment: a model at one host with one key, in the group `group`.
#[derive(Clone, Debug, Default)]
pub struct DeploymentSpec {
    /// The group's name (`model_name`): what callers pass as `model=`.
    pub group: String,
    /// The model as liter_llm routes it (`litellm_params.model`, such as `azure/gpt-4o` or
    /// `openai/gpt-4o-mini`).
    pub model: String,
    /// `litellm_params.api_key`; sent only to this deployment's host.
    pub api_key: Option<Secret>,
    /// `litellm_params.api_base`.
    pub api_base: Option<String>,
    /// `litellm_params.api_version` (Azure).
    pub api_version: Option<String>,
    /// Requests per minute this deployment allows.
    pub rpm: Option<u64>,
    /// Tokens per minute this deployment allows.
    pub tpm: Option<u64>,
    /// Per-read timeout of this deployment's requests.
    pub timeout: Option<Duration>,
    /// Retries on this same deployment before the router moves on (default 0).
    pub max_retries: Option<u32>,
    /// Relative share of traffic under `simple-shuffle` (finite, > 0).
    pub weight: Option<f64>,
    /// Lower orders are tried first, whatever the strategy.
    pub order: Option<u32>,
    /// `model_info.id`: the deployment's stable id (else one is generated from its settings).
    pub id: Option<String>,
    /// The rest of `model_info`, as given.
    pub model_info: Map<String, Value>,
    /// `litellm_params.extra_headers`: headers sent with every request to this deployment.
    pub extra_headers: Vec<(String, String)>,
    /// Default request parameters from `litellm_params` (`temperature`, `max_tokens`, ...),
    /// added to a request body that does not set them.
    pub defaults: Map<String, Value>,
}

/// How a deployment is picked within a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Random, by `weight`, else by `rpm`/`tpm`, else uniform.
    #[default]
    SimpleShuffle,
    /// Fewest requests in flight.
    LeastBusy,
    /// Lowest moving average of latency (of time per output token, for streams).
    LatencyBased,
    /// Lowest share of its `rpm`/`tpm` used in the current minute.
    UsageBased,
    /// Lowest `order` first, ties at random.
    Order,
}

/// `{group: [fallback groups or models, in order]}` pairs.
pub type Fallbacks = Vec<(String, Vec<String>)>;

/// The router's settings.
#[derive(Clone, Debug)]
pub struct RouterSettings {
    /// `routing_strategy`.
    pub strategy: Strategy,
    /// Retries on other deployments of the group after the first attempt (`None`: the
    /// client's `max_retries`).
    pub num_retries: Option<u32>,
    /// Failures a deployment may have within a minute before it cools down.
    pub allowed_fails: u32,
    /// How long a deployment cools down (a longer Retry-After wins).
    pub cooldown_time: Duration,
    /// The least wait before retrying on the same deployment.
    pub retry_after: Duration,
    /// Groups tried in order once a group's retries are spent.
    pub fallbacks: Fallbacks,
    /// Fallbacks of every group that has none of its own.
    pub default_fallbacks: Vec<String>,
    /// Where a request that does not fit the model's context window goes.
    pub context_window_fallbacks: Fallbacks,
    /// Where a request the provider refused on content policy goes.
    pub content_policy_fallbacks: Fallbacks,
    /// Per-read timeout of every deployment without its own.
    pub timeout: Option<Duration>,
    /// `redis://` URL through which the deployments' rpm/tpm limits are shared with every
    /// process routing the same deployments (`router_settings.redis_url`, or `redis_host`,
    /// `redis_port`, `redis_password`, `redis_db`).
    pub redis: Option<crate::config::Secret>,
}

/// Default `allowed_fails` (as LiteLLM's).
pub const DEFAULT_ALLOWED_FAILS: u32 = 3;
/// Default `cooldown_time` (as LiteLLM's).
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5);

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            strategy: Strategy::default(),
            num_retries: None,
            allowed_fails: DEFAULT_ALLOWED_FAILS,
            cooldown_time: DEFAULT_COOLDOWN,
            retry_after: Duration::ZERO,
            fallbacks: Vec::new(),
            default_fallbacks: Vec::new(),
            context_window_fallbacks: Vec::new(),
            content_policy_fallbacks: Vec::new(),
            timeout: None,
            redis: None,
        }
    }
}
