//! `litellm_settings.cache` and `cache_params`: LiteLLM's response cache settings, read into
//! our cache's URL and options. `type: local` is the memory backend, `disk` the SQLite backend
//! (a file in `disk_cache_dir`), `redis` the Redis backend (`host`/`port`/`password`/`db`, or a
//! `url`). LiteLLM's object-store and semantic caches are not implemented and fail clearly.

use std::time::Duration;

use super::fields::{walk, Ctx, Field, Section, YEAR};
use crate::cache::CacheSettings;
use crate::error::Result;

/// The SQLite file `type: disk` keeps in `disk_cache_dir`.
pub(super) const DISK_FILE: &str = "liter_llm_cache.db";

/// What `cache_params` says, before it becomes a URL.
#[derive(Clone, Default)]
pub(super) struct CacheParams {
    kind: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    password: Option<String>,
    username: Option<String>,
    db: Option<u32>,
    url: Option<String>,
    dir: Option<String>,
    ttl: Option<Duration>,
    memory_ttl: Option<Duration>,
    redis_ttl: Option<Duration>,
    namespace: Option<String>,
    max_bytes: Option<u64>,
}

pub(super) const CACHE_PARAMS: Section<CacheParams> = Section {
    setters: &[
        ("type", |p, _, _, f| {
            let kind = f.text()?;
            match kind.as_str() {
                "local" | "disk" | "redis" => {}
                _ => return Err(f.fail("liter_llm caches in memory (`local`), on disk (`disk`, SQLite) or in `redis`")),
            }
            p.kind = Some(kind);
            Ok(())
        }),
        ("host", |p, _, _, f| text(&mut p.host, f)),
        ("port", |p, _, _, f| {
            p.port = Some(f.int(1, 65_535)?);
            Ok(())
        }),
        ("password", |p, _, _, f| text(&mut p.password, f)),
        ("username", |p, _, _, f| text(&mut p.username, f)),
        ("db", |p, _, _, f| {
            p.db = Some(f.int(0, 1 << 20)?);
            Ok(())
        }),
        ("url", |p, _, _, f| text(&mut p.url, f)),
        ("redis_url", |p, _, _, f| text(&mut p.url, f)),
        ("disk_cache_dir", |p, _, _, f| text(&mut p.dir, f)),
        ("ttl", |p, _, _, f| seconds(&mut p.ttl, f)),
        ("default_in_memory_ttl", |p, _, _, f| seconds(&mut p.memory_ttl, f)),
        ("default_in_redis_ttl", |p, _, _, f| seconds(&mut p.redis_ttl, f)),
        ("namespace", |p, _, _, f| text(&mut p.namespace, f)),
        ("max_bytes", |p, _, _, f| {
            p.max_bytes = Some(f.int(1, i64::MAX)?);
            Ok(())
        }),
    ],
    ignored: &[
        "supported_call_types",
        "mode",
        "max_connections",
        "socket_timeout",
        "ssl",
        "redis_startup_nodes",
        "service_name",
        "sentinel_nodes",
        "similarity_threshold",
        "redis_semantic_cache_embedding_model",
        "redis_flush_size",
        "gcp_service_account",
    ],
    lenient: false,
};

fn text(slot: &mut Option<String>, f: &Field<'_>) -> Result<()> {
    *slot = Some(f.text()?);
    Ok(())
}

fn seconds(slot: &mut Option<Duration>, f: &Field<'_>) -> Result<()> {
    *slot = Some(f.seconds(true, YEAR)?);
    Ok(())
}

/// Reads `cache_params` (its path is `path`).
pub(super) fn cache_params(ctx: &mut Ctx<'_>, field: &Field<'_>) -> Result<CacheParams> {
    let mut params = CacheParams::default();
    walk(ctx, field, &CACHE_PARAMS, &mut params)?;
    Ok(params)
}

/// The cache the settings describe, `None` unless `cache` is true.
pub(super) fn settings(on: bool, params: Option<&CacheParams>) -> Option<CacheSettings> {
    if !on {
        return None;
    }
    let p = params.cloned().unwrap_or_default();
    let kind = p.kind.as_deref().unwrap_or("local");
    let url = match kind {
        "disk" => {
            let dir = p.dir.as_deref().unwrap_or(".litellm_cache").trim_end_matches('/');
            format!("sqlite://{dir}/{DISK_FILE}")
        }
        "redis" => p.url.clone().unwrap_or_else(|| {
            redis_url(
                p.host.as_deref(),
                p.port,
                p.username.as_deref(),
                p.password.as_deref(),
                p.db,
            )
        }),
        _ => "memory".to_owned(),
    };
    let ttl = match kind {
        "local" => p.memory_ttl.or(p.ttl),
        "redis" => p.redis_ttl.or(p.ttl),
        _ => p.ttl,
    };
    Some(CacheSettings {
        url,
        ttl,
        max_bytes: p.max_bytes,
        namespace: p.namespace.unwrap_or_default(),
    })
}

/// A `redis://` URL from LiteLLM's separate settings (127.0.0.1:6379/0 by default).
pub(super) fn redis_url(
    host: Option<&str>,
    port: Option<u16>,
    username: Option<&str>,
    password: Option<&str>,
    db: Option<u32>,
) -> String {
    let auth = match (username, password) {
        (Some(user), Some(pass)) => format!("{}:{}@", escaped(user), escaped(pass)),
        (None, Some(pass)) => format!(":{}@", escaped(pass)),
        _ => String::new(),
    };
    let host = host.unwrap_or("127.0.0.1");
    format!("redis://{auth}{host}:{}/{}", port.unwrap_or(6379), db.unwrap_or(0))
}

/// `text` percent-encoded for the user-info part of a URL (all but unreserved characters).
fn escaped(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}
