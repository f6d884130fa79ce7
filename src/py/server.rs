//! `serve()`: runs the proxy server in front of a client until SIGINT or SIGTERM.

use std::io::Write;
use std::sync::Arc;

use pyo3::exceptions::{PyOSError, PyUserWarning};
use pyo3::prelude::*;

use crate::config::Secret;
use crate::deployments::config::{general_settings, Database, GeneralSettings};
use crate::py::client::{config_root, PyLlmClient};
use crate::server::keys::{default_store, Keys};
use crate::server::{router, serve as serve_on, AccessLog, LogTarget, ServeOptions};

/// Serves the OpenAI-compatible API in front of `client` (its deployments, cache and limits) on
/// `host:port` until SIGINT or SIGTERM, then lets the requests in flight finish and returns.
/// Prints `listening on http://HOST:PORT` once it accepts connections. Runs without the GIL.
/// Without `master_key`, the `general_settings.master_key` of `config` (a LiteLLM config's path
/// or dict) applies, if any. With a master key, virtual keys are kept where
/// `general_settings.database_url` says: a SQLite file (default: `liter_llm/proxy.db` in the
/// user's data directory) or a PostgreSQL database (with `general_settings.redis_url`, or the
/// router's Redis, replicas on one database share keys' budgets, limits and spend there).
/// `access_log` (else `general_settings.access_log`) is `"stdout"` (the default), `"off"` or a
/// file path: one JSON line per request. After a stop signal, requests in flight get
/// `grace_period` seconds to finish.
/// `general_settings.allow_user_config` and `allow_client_side_credentials` let requests bring
/// their own model list or provider credentials.
#[pyfunction]
#[pyo3(signature = (client, *, host="127.0.0.1", port=4000, master_key=None, config=None, max_body_bytes=0, access_log=None, grace_period=30.0))]
#[allow(clippy::too_many_arguments)]
pub fn serve(
    py: Python<'_>,
    client: &Bound<'_, PyLlmClient>,
    host: &str,
    port: u16,
    master_key: Option<String>,
    config: Option<&Bound<'_, PyAny>>,
    max_body_bytes: usize,
    access_log: Option<String>,
    grace_period: f64,
) -> PyResult<()> {
    if !(grace_period.is_finite() && (0.0..=86_400.0).contains(&grace_period)) {
        return Err(pyo3::exceptions::PyValueError::new_err(
            "grace_period must be a number of seconds from 0 to 86400",
        ));
    }
    let grace = std::time::Duration::from_secs_f64(grace_period);
    let inner = Arc::clone(&client.get().inner);
    let mut general = match config.filter(|c| !c.is_none()) {
        Some(config) => {
            let root = config_root(config)?;
            let env = |name: &str| std::env::var(name).ok();
            let general = general_settings(&root, &env)?;
            let mut ignored = crate::deployments::config::parse(&root, &env)?.ignored;
            ignored.retain(|path| path != "general_settings");
            ignored.extend(general.ignored.iter().cloned());
            if !ignored.is_empty() {
                let message = format!("liter-llm serve ignores these LiteLLM settings: {}", ignored.join(", "));
                let message = std::ffi::CString::new(message.replace('\0', " ")).unwrap_or_default();
                PyErr::warn(py, &py.get_type::<PyUserWarning>(), &message, 1)?;
            }
            general
        }
        None => GeneralSettings::default(),
    };
    if let Some(key) = master_key.filter(|k| !k.is_empty()) {
        general.master_key = Some(Secret::new(key));
    }
    let keys = match &general.master_key {
        Some(_) => Some(open_keys(py, &mut general, &inner)?),
        None => None,
    };
    let target = match access_log.or(general.access_log).as_deref() {
        None | Some("stdout" | "-") => LogTarget::Stdout,
        Some("off" | "none" | "") => LogTarget::Off,
        Some(path) => LogTarget::File(path.into()),
    };
    let access_log = AccessLog::open(&target).map_err(|e| PyOSError::new_err(format!("access log: {e}")))?;
    let log_closer = access_log.as_ref().map(AccessLog::closer);
    let store = keys.clone();
    let options = ServeOptions {
        master_key: general.master_key,
        max_body_bytes,
        keys,
        access_log,
        allow_client_side_credentials: general.allow_client_side_credentials,
        allow_user_config: general.allow_user_config,
    };
    let host = host.to_owned();
    py.detach(move || {
        crate::runtime::get().block_on(async move {
            let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
            let at = listener.local_addr()?;
            // Listening for the signals before saying so: one sent right after is not lost.
            let stop = stop_signal()?;
            let mut out = std::io::stdout();
            writeln!(out, "listening on http://{at}")?;
            out.flush()?;
            let served = serve_on(listener, router(inner, options), stop, grace).await;
            // Requests cut off after the grace period may still hold the server's state: write
            // out the spend and the log lines now.
            if let Some(store) = store {
                store.close();
            }
            if let Some(closer) = log_closer {
                closer.close();
            }
            served
        })
    })
    .map_err(|e| PyOSError::new_err(format!("serve: {e}")))
}

/// The key store `general` names, its counters shared through Redis when it is a PostgreSQL
/// database and a Redis server is configured (`general_settings.redis_url`, else the router's).
fn open_keys(py: Python<'_>, general: &mut GeneralSettings, client: &crate::Client) -> PyResult<Arc<Keys>> {
    let keys = match general.database.take() {
        Some(Database::Postgres(url)) => {
            let keys = py
                .detach(|| Keys::open_postgres(url.expose()))
                .map_err(PyOSError::new_err)?;
            let redis = general
                .redis
                .take()
                .or_else(|| client.deployments().and_then(|d| d.settings().redis.clone()));
            match redis {
                Some(redis) => keys
                    .with_redis(redis.expose())
                    .map_err(pyo3::exceptions::PyValueError::new_err)?,
                None => {
                    let message = c"liter-llm serve: without general_settings.redis_url, each replica on this PostgreSQL key store counts keys' budgets and limits on its own";
                    PyErr::warn(py, &py.get_type::<PyUserWarning>(), message, 1)?;
                    keys
                }
            }
        }
        sqlite => {
            if general.redis.is_some() {
                let message = c"liter-llm serve: general_settings.redis_url is used with a PostgreSQL key store only; one server owns a SQLite file";
                PyErr::warn(py, &py.get_type::<PyUserWarning>(), message, 1)?;
            }
            let path = match sqlite {
                Some(Database::Sqlite(path)) => path,
                _ => default_store(),
            };
            py.detach(|| Keys::open(&path)).map_err(PyOSError::new_err)?
        }
    };
    let keys = Arc::new(keys);
    keys.follow();
    Ok(keys)
}

/// A future resolving on SIGINT or SIGTERM, listening from now on.
#[cfg(unix)]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}

/// A future resolving on Ctrl-C.
#[cfg(not(unix))]
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// Adds `serve` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(serve, m)?)
}
