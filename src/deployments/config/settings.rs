//! `router_settings` and the router keys of `litellm_settings`: strategy, retries, cooldowns,
//! fallbacks and timeouts.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::Result;

use super::fields::*;
use super::model_list::names;
use super::Sections;
use crate::deployments::spec::{Fallbacks, RouterSettings, Strategy};

/// `router_settings` keys LiteLLM accepts that liter_llm does not implement: shared state
/// (Redis, caching), per-group policies and aliases, pre-call checks, budgets, tag filtering,
/// alerting and logging switches.
pub(super) const IGNORED_ROUTER_KEYS: &[&str] = &[
    "client_ttl",
    "cache_responses",
    "cache_kwargs",
    "caching_groups",
    "routing_strategy_args",
    "model_group_alias",
    "enable_pre_call_checks",
    "optional_pre_call_checks",
    "provider_budget_config",
    "model_group_retry_policy",
    "retry_policy",
    "allowed_fails_policy",
    "disable_cooldowns",
    "enable_tag_filtering",
    "set_verbose",
    "debug_level",
    "alerting_config",
    "polling_interval",
    "max_fallbacks",
    "stream_timeout",
    "default_max_parallel_requests",
    "default_priority",
    "default_litellm_params",
];

/// One router setting, as read from `router_settings` or `litellm_settings`.
pub(super) enum Setting {
    Strategy(Strategy),
    NumRetries(u32),
    AllowedFails(u32),
    Cooldown(Duration),
    RetryAfter(Duration),
    Timeout(Duration),
    DefaultFallbacks(Vec<String>),
    Fallbacks(Which, Vec<Rule>),
    /// `litellm_settings.cache`: whether responses are cached.
    Cache(bool),
    /// `litellm_settings.cache_params`.
    CacheParams(Box<super::cache::CacheParams>),
    /// One of `router_settings.redis_*`.
    Redis(RedisPart),
}

/// One `router_settings.redis_*` key.
pub(super) enum RedisPart {
    Url(String),
    Host(String),
    Port(u16),
    Password(String),
    Db(u32),
}

/// Which of the three fallback lists a `Setting::Fallbacks` sets.
pub(super) enum Which {
    Any,
    ContextWindow,
    ContentPolicy,
}

/// One group's fallbacks, with where they were given.
pub(super) struct Rule {
    pub(super) path: String,
    pub(super) group: String,
    pub(super) targets: Vec<String>,
}

pub(super) const ROUTER_SETTINGS: Section<Vec<Setting>> = Section {
    setters: &[
        ("routing_strategy", |s, ctx, _, f| {
            add(s, Setting::Strategy(strategy(ctx, f)?))
        }),
        ("num_retries", num_retries),
        ("allowed_fails", allowed_fails),
        ("cooldown_time", cooldown_time),
        ("retry_after", |s, _, _, f| {
            add(s, Setting::RetryAfter(f.seconds(false, HOUR)?))
        }),
        ("timeout", timeout),
        ("fallbacks", fallbacks),
        ("context_window_fallbacks", fallbacks),
        ("content_policy_fallbacks", fallbacks),
        ("default_fallbacks", default_fallbacks),
        ("redis_url", |s, _, _, f| {
            add(s, Setting::Redis(RedisPart::Url(f.text()?)))
        }),
        ("redis_host", |s, _, _, f| {
            add(s, Setting::Redis(RedisPart::Host(f.text()?)))
        }),
        ("redis_port", |s, _, _, f| {
            add(s, Setting::Redis(RedisPart::Port(f.int(1, 65_535)?)))
        }),
        ("redis_password", |s, _, _, f| {
            add(s, Setting::Redis(RedisPart::Password(f.text()?)))
        }),
        ("redis_db", |s, _, _, f| {
            add(s, Setting::Redis(RedisPart::Db(f.int(0, 1 << 20)?)))
        }),
    ],
    ignored: IGNORED_ROUTER_KEYS,
    lenient: false,
};

/// In `litellm_settings` only the router's keys are read; every other key is ignored.
pub(super) const LITELLM_SETTINGS: Section<Vec<Setting>> = Section {
    setters: &[
        ("num_retries", num_retries),
        ("allowed_fails", allowed_fails),
        ("cooldown_time", cooldown_time),
        ("request_timeout", timeout),
        ("fallbacks", fallbacks),
        ("context_window_fallbacks", fallbacks),
        ("content_policy_fallbacks", fallbacks),
        ("default_fallbacks", default_fallbacks),
        ("cache", |s, _, _, f| add(s, Setting::Cache(f.boolean()?))),
        ("cache_params", |s, ctx, _, f| {
            add(s, Setting::CacheParams(Box::new(super::cache::cache_params(ctx, f)?)))
        }),
    ],
    ignored: &[],
    lenient: true,
};

/// Adds a checked router setting.
pub(super) fn add(settings: &mut Vec<Setting>, setting: Setting) -> Result<()> {
    settings.push(setting);
    Ok(())
}

/// `routing_strategy`; `cost-based-routing` is ignored (simple shuffle instead).
pub(super) fn strategy(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<Strategy> {
    Ok(match field.text()?.as_str() {
        "simple-shuffle" => Strategy::SimpleShuffle,
        "least-busy" => Strategy::LeastBusy,
        "latency-based-routing" => Strategy::LatencyBased,
        "usage-based-routing" | "usage-based-routing-v2" => Strategy::UsageBased,
        "order" => Strategy::Order,
        "cost-based-routing" => {
            ctx.ignored.push(field.path.clone());
            Strategy::SimpleShuffle
        }
        _ => {
            return Err(field.fail(
                "expected simple-shuffle, least-busy, latency-based-routing, usage-based-routing, \
                 usage-based-routing-v2 or order",
            ))
        }
    })
}

pub(super) fn num_retries(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::NumRetries(f.int(0, 100)?))
}

pub(super) fn allowed_fails(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::AllowedFails(f.int(0, 1000)?))
}

pub(super) fn cooldown_time(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::Cooldown(f.seconds(false, DAY)?))
}

pub(super) fn timeout(s: &mut Vec<Setting>, _: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::Timeout(f.seconds(true, YEAR)?))
}

pub(super) fn default_fallbacks(s: &mut Vec<Setting>, ctx: &mut Ctx<'_>, _: &str, f: &Field<'_>) -> Result<()> {
    add(s, Setting::DefaultFallbacks(names(ctx, f)?))
}

/// `fallbacks` and its kin: a list of `{group: [targets]}` mappings (LiteLLM's shape), or one
/// mapping of several groups; a target list may be a single string.
pub(super) fn fallbacks(s: &mut Vec<Setting>, ctx: &mut Ctx<'_>, key: &str, field: &Field<'_>) -> Result<()> {
    let which = match key {
        "context_window_fallbacks" => Which::ContextWindow,
        "content_policy_fallbacks" => Which::ContentPolicy,
        _ => Which::Any,
    };
    let mut rules = Vec::new();
    match &*field.value {
        Value::Object(map) => add_rules(ctx, &field.path, map, &mut rules)?,
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item = ctx.field(index(&field.path, i), item)?;
                match item.map()? {
                    map if map.is_empty() => return Err(item.fail("must not be empty")),
                    map => add_rules(ctx, &item.path, map, &mut rules)?,
                }
            }
        }
        _ => return Err(field.fail("expected a list of {group: [fallbacks]} mappings")),
    }
    add(s, Setting::Fallbacks(which, rules))
}

/// The rules of one `{group: [targets]}` mapping; a group gets one rule.
pub(super) fn add_rules(ctx: &Ctx<'_>, path: &str, map: &Map<String, Value>, rules: &mut Vec<Rule>) -> Result<()> {
    for (group, targets) in map {
        let field = ctx.field(child(path, group), targets)?;
        if let Some(first) = rules.iter().find(|rule| rule.group == *group) {
            return Err(invalid(format!(
                "{}: the group already has fallbacks at {}",
                field.path, first.path
            )));
        }
        let targets = names(ctx, &field)?;
        if targets.contains(group) {
            return Err(field.fail("a group cannot fall back to itself"));
        }
        rules.push(Rule {
            path: field.path,
            group: group.clone(),
            targets,
        });
    }
    Ok(())
}

/// The router's settings: `litellm_settings`, then `router_settings` over them.
pub(super) fn settings(sections: &Sections) -> Result<RouterSettings> {
    let groups: HashSet<&str> = sections.deployments.iter().map(|d| d.group.as_str()).collect();
    let mut settings = RouterSettings::default();
    let (mut url, mut host, mut port, mut password, mut db) = (None, None, None, None, None);
    for setting in sections.litellm_settings.iter().chain(&sections.router_settings) {
        match setting {
            Setting::Strategy(strategy) => settings.strategy = *strategy,
            Setting::NumRetries(n) => settings.num_retries = Some(*n),
            Setting::AllowedFails(n) => settings.allowed_fails = *n,
            Setting::Cooldown(time) => settings.cooldown_time = *time,
            Setting::RetryAfter(time) => settings.retry_after = *time,
            Setting::Timeout(time) => settings.timeout = Some(*time),
            Setting::DefaultFallbacks(targets) => settings.default_fallbacks.clone_from(targets),
            Setting::Fallbacks(which, rules) => {
                let list = match which {
                    Which::Any => &mut settings.fallbacks,
                    Which::ContextWindow => &mut settings.context_window_fallbacks,
                    Which::ContentPolicy => &mut settings.content_policy_fallbacks,
                };
                *list = checked_fallbacks(rules, &groups)?;
            }
            Setting::Redis(part) => match part {
                RedisPart::Url(v) => url = Some(v.as_str()),
                RedisPart::Host(v) => host = Some(v.as_str()),
                RedisPart::Port(v) => port = Some(*v),
                RedisPart::Password(v) => password = Some(v.as_str()),
                RedisPart::Db(v) => db = Some(*v),
            },
            Setting::Cache(_) | Setting::CacheParams(_) => {}
        }
    }
    if url.is_some() || host.is_some() || port.is_some() {
        let url = url.map_or_else(
            || super::cache::redis_url(host, port, None, password, db),
            str::to_owned,
        );
        settings.redis = Some(crate::config::Secret::new(url));
    }
    Ok(settings)
}

/// The rules as fallbacks, each keyed by a group of `model_list` (else it could never apply).
pub(super) fn checked_fallbacks(rules: &[Rule], groups: &HashSet<&str>) -> Result<Fallbacks> {
    rules
        .iter()
        .map(|rule| {
            if groups.contains(rule.group.as_str()) {
                Ok((rule.group.clone(), rule.targets.clone()))
            } else {
                Err(invalid(format!(
                    "{}: no deployment in model_list has the model_name {}, so these fallbacks can never apply",
                    rule.path,
                    Value::from(rule.group.as_str())
                )))
            }
        })
        .collect()
}
