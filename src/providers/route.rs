//! Routing: which provider a model goes to, at which URL, with which key.
//!
//! Selection: the `provider/` prefix of the model (stripped on the wire); else a custom
//! provider's model prefix; else, when the client has a `model_hint` or a `base_url`, the
//! client's own provider (so a model served by your own endpoint is never sent elsewhere); else
//! the well-known name patterns (`gpt-*`, `o1`/`o3`/`o4*`, `claude-*`, `gemini-*`); else the own
//! provider. The own provider is the one `model_hint` names (by its `provider/` prefix, a custom
//! provider's model prefix, or a name pattern: `claude-*` is Anthropic's), or OpenAI(-compatible).
//!
//! Hosts: a provider's base URL is its `providers=[...]` override, else the client's
//! `base_url`, else its default; the protocol never changes with the host. A router's deployment
//! (a config with `deployment` set) is the exception: its own provider is at its `base_url`
//! (the deployment's `api_base`) even when `providers=[...]` moves that provider elsewhere.
//!
//! Keys: a key is bound to a host. The client's explicit `api_key` goes only to requests that go
//! to the client's own provider or to the client's `base_url`; every other request uses its
//! provider's key from the environment (read once, when the client is built), and only at that
//! provider's own host, never another provider's key. A provider that needs a key and has none at its default host fails with
//! `Authentication`, naming the variable, before anything is sent (at a host of the user's
//! choosing, such as a proxy or a local server, requests may go without a key). A config with
//! `credentials_from_env: false` reads nothing from the environment: no keys, no
//! `AZURE_API_BASE`, no `AZURE_API_VERSION` (the proxy builds such clients for its callers).

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};

use super::registry::{self, Auth, Endpoint, Protocol, Provider};
use crate::config::{ClientConfig, Secret};
use crate::error::{Error, Kind, Result};

/// Default `api-version` of Azure OpenAI requests.
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// A key ready to send.
#[derive(Debug)]
pub enum Credential {
    /// A header, marked sensitive.
    Header(HeaderName, HeaderValue),
    /// A query parameter's name; the value is the target's secret.
    Query(String),
}

/// A provider as this client reaches it.
#[derive(Debug)]
pub struct Target {
    /// The provider's registry entry.
    pub provider: Provider,
    /// Effective base URL, without a trailing slash.
    pub base: String,
    /// How the key travels (`None`: keyless).
    pub auth: Option<Credential>,
    /// The chat URL, for protocols where it does not depend on the model.
    pub chat_url: Option<reqwest::Url>,
    /// The key, for redacting echoes of it from errors.
    pub secret: Secret,
    /// Why no request can go (a missing key), checked before sending.
    pub missing_key: Option<String>,
}

impl Target {
    /// Fails with `Authentication` when the provider needs a key it does not have.
    ///
    /// # Errors
    /// `Authentication` naming the environment variable to set.
    pub fn check_key(&self) -> Result<()> {
        match &self.missing_key {
            Some(message) => Err(Error::new(Kind::Authentication, message.clone())),
            None => Ok(()),
        }
    }

    /// Adds the key to a request: its header, or its query parameter.
    pub fn authorize(&self, url: &mut reqwest::Url, headers: &mut reqwest::header::HeaderMap) {
        match &self.auth {
            Some(Credential::Header(name, value)) => {
                headers.insert(name.clone(), value.clone());
            }
            Some(Credential::Query(param)) => {
                url.query_pairs_mut().append_pair(param, self.secret.expose());
            }
            None => {}
        }
    }

    /// The provider's name, for errors.
    pub fn name(&self) -> &str {
        &self.provider.name
    }

    /// The wire protocol.
    pub fn protocol(&self) -> Protocol {
        self.provider.protocol
    }

    /// How the provider's protocol is spoken.
    pub fn adapter(&self) -> &'static dyn super::adapter::Adapter {
        super::adapter::of(self.provider.protocol)
    }
}

/// Where one request goes.
#[derive(Debug)]
pub struct Route<'a> {
    /// The provider.
    pub target: &'a Arc<Target>,
    /// The model name on the wire (prefix stripped).
    pub model: &'a str,
}

/// Routes models to providers; built once per client.
#[derive(Debug)]
pub struct Router {
    own: Arc<Target>,
    by_name: HashMap<String, Arc<Target>>,
    prefixes: Vec<(String, Arc<Target>)>,
    sticky: bool,
    /// `api-version` for Azure.
    pub azure_api_version: String,
}

fn credential(auth: &Auth, key: &str) -> Result<Credential> {
    let bad = || {
        Error::new(
            Kind::InvalidHeader,
            "the API key contains characters not allowed in a header",
        )
    };
    let (name, value) = match auth {
        Auth::Bearer => (AUTHORIZATION, format!("Bearer {key}")),
        Auth::Header(h) => (
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| Error::new(Kind::InvalidHeader, format!("invalid auth header name {h:?}")))?,
            key.to_owned(),
        ),
        Auth::Query(param) => return Ok(Credential::Query(param.clone())),
    };
    let mut value = HeaderValue::from_str(&value).map_err(|_| bad())?;
    value.set_sensitive(true);
    Ok(Credential::Header(name, value))
}

fn env_key(provider: &Provider) -> Option<String> {
    provider
        .key_env
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

/// The provider a `model_hint` names: its `provider/` prefix, else a provider whose model
/// prefixes match it, else the model-name patterns (`claude-*` is Anthropic's).
fn hinted_provider<'a>(providers: &'a [Provider], hint: &str) -> Option<&'a str> {
    let named = |name: &str| providers.iter().find(|p| p.name == name).map(|p| p.name.as_str());
    hint.split_once('/')
        .and_then(|(prefix, _)| named(prefix))
        .or_else(|| named(hint))
        .or_else(|| {
            providers
                .iter()
                .filter_map(|p| {
                    let len = p
                        .model_prefixes
                        .iter()
                        .filter(|m| hint.starts_with(m.as_str()))
                        .map(String::len)
                        .max()?;
                    Some((len, p.name.as_str()))
                })
                .max_by_key(|(len, _)| *len)
                .map(|(_, name)| name)
        })
        .or_else(|| registry::by_pattern(hint).and_then(named))
}

impl Router {
    /// Builds the routes of a client.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad custom provider or base URL; `InvalidHeader` for a key that
    /// cannot be sent in a header.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let mut providers = registry::builtins();
        let builtin_count = providers.len();
        registry::apply(&mut providers, &config.providers)?;
        let own_name = config
            .model_hint
            .as_deref()
            .and_then(|hint| hinted_provider(&providers, hint))
            .unwrap_or("openai")
            .to_owned();
        let overridden: Vec<&str> = config
            .providers
            .iter()
            .filter(|c| c.base_url.is_some())
            .map(|c| c.name.as_str())
            .collect();
        let explicit = Some(config.api_key.expose()).filter(|k| !k.is_empty());
        let mut by_name = HashMap::new();
        let mut own = None;
        for (index, mut provider) in providers.into_iter().enumerate() {
            let is_own = provider.name == own_name;
            // A router's deployment is where its `api_base` says, whatever `providers=[...]` says.
            let deployment_host = is_own && config.deployment.is_some() && config.base_url.is_some();
            let custom_host = overridden.contains(&provider.name.as_str()) && !deployment_host;
            let client_host = !custom_host && config.base_url.is_some();
            let base = if client_host {
                config.base_url().to_owned()
            } else if provider.base_url.is_empty() && config.credentials_from_env {
                std::env::var("AZURE_API_BASE").unwrap_or_default()
            } else {
                provider.base_url.clone()
            };
            let key = match explicit {
                Some(k) if is_own || client_host => Some(k.to_owned()),
                // A provider's environment key goes to its own host (or, for the own provider,
                // to the client's base_url as the openai SDK does), never to a host standing in
                // for another provider.
                _ if client_host && !is_own => None,
                _ if config.credentials_from_env => env_key(&provider),
                _ => None,
            };
            // At a host of the user's choosing (a proxy, a local server) a key is optional; a
            // provider the user added is at its own default host.
            let at_default_host = !client_host && (!custom_host || index >= builtin_count);
            if !at_default_host && provider.protocol == Protocol::OpenAi && !provider.supports(Endpoint::Rerank) {
                provider.endpoints.push(Endpoint::Rerank);
            }
            let missing_key = match (&key, provider.needs_key && at_default_host) {
                (None, true) if config.credentials_from_env => Some(format!(
                    "no API key for provider {:?}: set {} or pass api_key=",
                    provider.name,
                    provider.key_env.join(" or ")
                )),
                (None, true) => Some(format!("no API key for provider {:?}: give its api_key", provider.name)),
                _ => None,
            };
            let secret = Secret::new(key.clone().unwrap_or_default());
            let auth = key.as_deref().map(|k| credential(&provider.auth, k)).transpose()?;
            let base = base.trim_end_matches('/').to_owned();
            let chat_path = super::adapter::of(provider.protocol).fixed_chat_path();
            let chat_url = chat_path.and_then(|p| reqwest::Url::parse(&format!("{base}/{p}")).ok());
            let target = Arc::new(Target {
                base,
                auth,
                chat_url,
                secret,
                missing_key,
                provider,
            });
            if is_own {
                own = Some(Arc::clone(&target));
            }
            by_name.insert(target.provider.name.clone(), target);
        }
        let own = own.ok_or_else(|| Error::new(Kind::InvalidArgument, "no own provider"))?;
        let mut prefixes: Vec<(String, Arc<Target>)> = by_name
            .values()
            .flat_map(|t| {
                t.provider
                    .model_prefixes
                    .iter()
                    .map(move |p| (p.clone(), Arc::clone(t)))
            })
            .collect();
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.0.len()));
        Ok(Router {
            own,
            by_name,
            prefixes,
            sticky: config.model_hint.is_some() || config.base_url.is_some(),
            azure_api_version: config
                .api_version
                .clone()
                .or_else(|| {
                    config
                        .credentials_from_env
                        .then(|| std::env::var("AZURE_API_VERSION").ok())
                        .flatten()
                })
                .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned()),
        })
    }

    /// The client's own provider.
    pub fn own(&self) -> &Arc<Target> {
        &self.own
    }

    /// Where a request for `model` goes.
    pub fn route<'a>(&'a self, model: &'a str) -> Route<'a> {
        if let Some((prefix, rest)) = model.split_once('/') {
            if let Some(target) = self.by_name.get(prefix) {
                return Route { target, model: rest };
            }
        }
        if let Some((_, target)) = self.prefixes.iter().find(|(p, _)| model.starts_with(p.as_str())) {
            return Route { target, model };
        }
        let target = if self.sticky {
            &self.own
        } else {
            registry::by_pattern(model)
                .and_then(|name| self.by_name.get(name))
                .unwrap_or(&self.own)
        };
        Route { target, model }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::registry::ProviderConfig;

    fn router(tweak: impl FnOnce(&mut ClientConfig)) -> Router {
        let mut config = ClientConfig {
            api_key: Secret::new("sk-own"),
            ..ClientConfig::default()
        };
        tweak(&mut config);
        Router::new(&config).unwrap()
    }

    #[test]
    fn prefixes_route_and_are_stripped_and_patterns_apply_without_a_base_url() {
        let r = router(|_| {});
        let route = r.route("anthropic/claude-sonnet-4-5");
        assert_eq!((route.target.name(), route.model), ("anthropic", "claude-sonnet-4-5"));
        assert_eq!(r.route("openrouter/anthropic/claude").model, "anthropic/claude");
        assert_eq!(r.route("gemini-2.5-flash").target.name(), "gemini");
        assert_eq!(r.route("gpt-4o").target.name(), "openai");
        assert_eq!(r.route("meta-llama/Llama-3").target.name(), "openai");
        assert_eq!(r.route("meta-llama/Llama-3").model, "meta-llama/Llama-3");
    }

    #[test]
    fn a_base_url_or_hint_keeps_bare_models_on_the_own_provider() {
        let r = router(|c| c.base_url = Some("http://127.0.0.1:9/v1".into()));
        assert_eq!(r.route("claude-sonnet-4-5").target.name(), "openai");
        assert_eq!(r.route("claude-sonnet-4-5").target.base, "http://127.0.0.1:9/v1");
        let r = router(|c| c.model_hint = Some("groq/llama3-70b".into()));
        assert_eq!(r.route("gemini-2.5-flash").target.name(), "groq");
        assert_eq!(r.own().base, "https://api.groq.com/openai/v1");
    }

    #[test]
    fn the_explicit_key_never_goes_to_another_providers_host() {
        let r = router(|_| {});
        assert_eq!(r.own().secret.expose(), "sk-own");
        let anthropic = r.route("anthropic/claude").target;
        assert_ne!(anthropic.secret.expose(), "sk-own");
        assert_eq!(anthropic.base, "https://api.anthropic.com/v1");
        if std::env::var("ANTHROPIC_API_KEY").is_err() {
            let err = anthropic.check_key().unwrap_err();
            assert_eq!(err.kind(), Kind::Authentication);
            assert!(err.message().contains("ANTHROPIC_API_KEY"));
        }
        // Pointed at one host with no explicit key, other providers' environment keys stay home.
        let r = router(|c| {
            c.api_key = Secret::default();
            c.base_url = Some("http://127.0.0.1:9/v1".into());
        });
        assert_eq!(r.route("anthropic/claude").target.secret.expose(), "");
        assert!(r.route("anthropic/claude").target.check_key().is_ok());
        // Pointed at one host, the client's key goes with every request to that host.
        let r = router(|c| c.base_url = Some("http://127.0.0.1:9/v1".into()));
        assert_eq!(r.route("anthropic/claude").target.secret.expose(), "sk-own");
        // A provider moved elsewhere by providers=[...] does not get it.
        let r = router(|c| {
            c.base_url = Some("http://127.0.0.1:9/v1".into());
            c.providers = vec![ProviderConfig {
                name: "anthropic".into(),
                base_url: Some("http://127.0.0.1:10/v1".into()),
                ..ProviderConfig::default()
            }];
        });
        let t = r.route("anthropic/claude").target;
        assert_eq!(t.base, "http://127.0.0.1:10/v1");
        assert_ne!(t.secret.expose(), "sk-own");
    }

    #[test]
    fn a_deployments_api_base_wins_over_a_provider_override_for_its_own_provider() {
        let r = router(|c| {
            c.base_url = Some("http://127.0.0.1:9/v1".into());
            c.model_hint = Some("openai/gpt-4o".into());
            c.deployment = Some("gpt-4o-1".into());
            c.providers = ["openai", "anthropic"]
                .map(|name| ProviderConfig {
                    name: name.into(),
                    base_url: Some("http://127.0.0.1:10/v1".into()),
                    ..ProviderConfig::default()
                })
                .to_vec();
        });
        let t = r.route("openai/gpt-4o").target;
        assert_eq!(
            (t.base.as_str(), t.secret.expose()),
            ("http://127.0.0.1:9/v1", "sk-own")
        );
        let t = r.route("anthropic/claude").target;
        assert_eq!(t.base, "http://127.0.0.1:10/v1");
        assert_ne!(t.secret.expose(), "sk-own");
    }

    #[test]
    fn a_bare_model_hint_makes_its_providers_host_the_home_of_the_explicit_key() {
        let r = router(|c| c.model_hint = Some("claude-sonnet-4-5".into()));
        assert_eq!(r.own().name(), "anthropic");
        let t = r.route("claude-sonnet-4-5").target;
        assert_eq!(
            (t.name(), t.base.as_str()),
            ("anthropic", "https://api.anthropic.com/v1")
        );
        assert_eq!(t.secret.expose(), "sk-own");
        assert_ne!(r.route("openai/gpt-4o").target.secret.expose(), "sk-own");
        let r = router(|c| {
            c.model_hint = Some("acme-large".into());
            c.providers = vec![ProviderConfig {
                name: "acme".into(),
                base_url: Some("http://127.0.0.1:11/v1".into()),
                model_prefixes: vec!["acme-".into()],
                ..ProviderConfig::default()
            }];
        });
        assert_eq!(r.own().name(), "acme");
        assert_eq!(
            router(|c| c.model_hint = Some("my-finetune".into())).own().name(),
            "openai"
        );
    }

    #[test]
    fn a_custom_provider_that_names_its_key_variable_needs_it_set() {
        let r = router(|c| {
            c.providers = vec![ProviderConfig {
                name: "acme".into(),
                base_url: Some("http://127.0.0.1:11/v1".into()),
                model_prefixes: vec!["acme-".into()],
                api_key_env: Some("LITER_LLM_TEST_UNSET_ACME_KEY".into()),
                ..ProviderConfig::default()
            }];
        });
        let err = r.route("acme-large").target.check_key().unwrap_err();
        assert_eq!(err.kind(), Kind::Authentication);
        assert!(err.message().contains("LITER_LLM_TEST_UNSET_ACME_KEY"));
        // Without a declared variable a custom host may be keyless.
        let r = router(|c| {
            c.providers = vec![ProviderConfig {
                name: "acme".into(),
                base_url: Some("http://127.0.0.1:11/v1".into()),
                ..ProviderConfig::default()
            }];
        });
        assert!(r.route("acme/large").target.check_key().is_ok());
    }

    #[test]
    fn openai_compatible_providers_rerank_only_at_a_host_of_the_users_choosing() {
        let r = router(|_| {});
        assert!(!r.own().provider.supports(Endpoint::Rerank));
        let r = router(|c| c.base_url = Some("http://127.0.0.1:9/v1".into()));
        assert!(r.own().provider.supports(Endpoint::Rerank));
        assert!(!r.route("anthropic/claude").target.provider.supports(Endpoint::Rerank));
    }

    #[test]
    fn a_client_without_environment_credentials_reads_no_key_from_the_environment() {
        // PATH is set in every test process: as a provider's key variable it stands for the
        // proxy's own secrets.
        let env_keyed = ProviderConfig {
            name: "acme".into(),
            base_url: Some("http://127.0.0.1:11/v1".into()),
            api_key_env: Some("PATH".into()),
            ..ProviderConfig::default()
        };
        let with_env = router(|c| c.providers = vec![env_keyed.clone()]);
        assert!(!with_env.route("acme/large").target.secret.expose().is_empty());
        let r = router(|c| {
            c.api_key = Secret::default();
            c.base_url = Some("http://127.0.0.1:9/v1".into());
            c.providers = vec![env_keyed];
            c.credentials_from_env = false;
        });
        for model in ["acme/large", "gpt-4o", "anthropic/claude", "azure/gpt"] {
            assert_eq!(r.route(model).target.secret.expose(), "", "{model}");
        }
        // At a provider's own host, a missing key is asked of the config, not the environment.
        let r = router(|c| {
            c.api_key = Secret::default();
            c.credentials_from_env = false;
        });
        let err = r.route("anthropic/claude").target.check_key().unwrap_err();
        assert_eq!(err.kind(), Kind::Authentication);
        assert!(!err.message().contains("ANTHROPIC_API_KEY"), "{err}");
        assert_eq!(r.route("azure/gpt").target.base, "", "AZURE_API_BASE is not read");
    }

    #[test]
    fn local_servers_need_no_key() {
        let r = router(|c| c.api_key = Secret::default());
        assert!(r.route("ollama/llama3").target.check_key().is_ok());
        assert_eq!(r.route("ollama/llama3").target.base, "http://localhost:11434/v1");
    }
}
