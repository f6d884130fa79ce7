//! One managed, multiplexed connection to a Redis server, shared by everything that keeps state
//! there (the response cache, the shared rate limiter).
//!
//! Construction only parses the URL (`redis://[user:password@]host[:port][/db]`; TLS and unix
//! sockets are not supported yet) and never fails because the server is down. The first command
//! connects. When the server cannot be reached, or stops answering, that command fails and for the
//! next second every command fails at once without touching the network; then one command connects
//! again while concurrent ones wait for its outcome instead of connecting too. A connection the
//! server drops (restart, idle timeout) is re-established by the connection manager and the command
//! that noticed is retried once (callers send only commands that are safe to repeat). Each command,
//! connecting included, gives up after `op_timeout`.
//!
//! Messages show the server as `host:port`; the password never appears.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, ConnectionAddr, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError};
use tokio::time::{timeout_at, Instant};

#[cfg(test)]
pub(crate) mod server;

/// How long an outage keeps commands from reaching for the network again.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The longest `op_timeout` honoured (longer ones are cut to this).
const MAX_OP_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A connection to one Redis server, made on first use and remade after outages.
pub struct RedisLink {
    client: Client,
    /// `host:port`, for messages.
    at: String,
    db: i64,
    /// Masked in every message built from a Redis error.
    password: Option<String>,
    op_timeout: Duration,
    link: Mutex<Link>,
    /// Held while connecting, so that only one command connects at a time.
    connecting: tokio::sync::Mutex<()>,
}

/// The connection, or why there is none and when to try again.
#[derive(Default)]
struct Link {
    manager: Option<ConnectionManager>,
    /// Counts managers, so a late failure on an old one cannot drop its successor.
    generation: u64,
    retry_at: Option<Instant>,
    last_error: String,
}

/// A connect in progress. Dropped while it still has a `why` (failed, or cut short by its
/// operation's timeout), it records an outage, so the next connect waits [`RETRY_AFTER`].
struct Pending<'a> {
    link: &'a RedisLink,
    why: Option<String>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(why) = self.why.take() {
            let mut link = self.link.link();
            link.retry_at = Some(Instant::now() + RETRY_AFTER);
            link.last_error = why;
        }
    }
}

/// A Lua script run by its SHA (`EVALSHA`), loaded on first use and again after the server
/// forgot it (a restart).
pub(crate) struct Script {
    source: &'static str,
    sha: Mutex<Option<String>>,
}

impl Script {
    /// The script `source`, not loaded yet.
    pub(crate) const fn new(source: &'static str) -> Script {
        Script {
            source,
            sha: Mutex::new(None),
        }
    }

    /// Runs the script on `link` with `keys` and `args`; a failure says which command failed.
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        link: &RedisLink,
        keys: &[String],
        args: &[Vec<Vec<u8>>],
    ) -> Result<T, (&'static str, Failure)> {
        for _ in 0..2 {
            let cached = self.sha.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let sha = match cached {
                Some(sha) => sha,
                None => {
                    let mut load = ::redis::cmd("SCRIPT");
                    load.arg("LOAD").arg(self.source);
                    let sha: String = link.query(&load).await.map_err(|f| ("SCRIPT LOAD", f))?;
                    *self.sha.lock().unwrap_or_else(PoisonError::into_inner) = Some(sha.clone());
                    sha
                }
            };
            let mut cmd = ::redis::cmd("EVALSHA");
            cmd.arg(&sha).arg(keys.len()).arg(keys);
            for arg in args {
                cmd.arg(arg);
            }
            match link.query::<T>(&cmd).await {
                Err(Failure::Refused(e)) if e.code() == Some("NOSCRIPT") => {
                    *self.sha.lock().unwrap_or_else(PoisonError::into_inner) = None;
                }
                done => return done.map_err(|f| ("EVALSHA", f)),
            }
        }
        Err((
            "EVALSHA",
            Failure::Down("the server forgot the script twice in a row".to_owned()),
        ))
    }
}

/// One script argument.
pub(crate) fn arg(value: impl ::redis::ToRedisArgs) -> Vec<Vec<u8>> {
    value.to_redis_args()
}

/// Leases a process holds in Redis, per Redis key, for a background task to renew while any
/// are held.
#[derive(Default)]
pub(crate) struct Leases {
    held: Mutex<HashMap<String, HashSet<String>>>,
    renewing: AtomicBool,
}

impl Leases {
    /// Notes `lease` held under `key`; true when no renewer runs (the caller starts one).
    pub(crate) fn hold(&self, key: &str, lease: &str) -> bool {
        self.lock().entry(key.to_owned()).or_default().insert(lease.to_owned());
        !self.renewing.swap(true, Ordering::AcqRel)
    }

    /// Forgets `lease` (given back, or no longer to be renewed).
    pub(crate) fn forget(&self, key: &str, lease: &str) {
        let mut held = self.lock();
        if let Some(set) = held.get_mut(key) {
            set.remove(lease);
            if set.is_empty() {
                held.remove(key);
            }
        }
    }

    /// The leases to renew now, per key; `None` when none are held (the renewer stops, and the
    /// next [`Leases::hold`] starts another).
    pub(crate) fn due(&self) -> Option<Vec<(String, Vec<String>)>> {
        let held = self.lock();
        if held.is_empty() {
            self.renewing.store(false, Ordering::Release);
            return None;
        }
        Some(
            held.iter()
                .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                .collect(),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, HashSet<String>>> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Why a command failed.
pub(crate) enum Failure {
    /// No usable connection (refused, dropped, timed out, authentication failed).
    Down(String),
    /// The server answered the command with an error.
    Refused(RedisError),
}

impl RedisLink {
    /// A link to the server at `url` (`redis://[user:password@]host[:port][/db]`, port 6379 and
    /// database 0 by default) whose operations each give up after `op_timeout` (taken as at least
    /// 1 ms and at most a day). Does not connect.
    ///
    /// # Errors
    /// A malformed URL, a `rediss://` (TLS) or unix-socket URL, or a negative database number; the
    /// message shows the URL with its credentials replaced by `***`.
    pub fn new(url: &str, op_timeout: Duration) -> Result<RedisLink, String> {
        let invalid = |why: &str| format!("invalid redis URL {}: {why}", shown(url));
        let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match scheme.as_deref() {
            Some("redis") => {}
            Some("rediss") => return Err(invalid("TLS (rediss://) is not supported yet; use redis://")),
            Some("unix" | "redis+unix") => {
                return Err(invalid("unix sockets are not supported; use redis://host:port"))
            }
            _ => return Err(invalid("expected redis://[user:password@]host[:port][/db]")),
        }
        let info = url.into_connection_info().map_err(|e| invalid(&e.to_string()))?;
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            return Err(invalid("expected a TCP address"));
        };
        let db = info.redis_settings().db();
        if db < 0 {
            return Err(invalid("the database number must not be negative"));
        }
        let password = info.redis_settings().password().map(str::to_owned);
        let client = Client::open(info).map_err(|e| invalid(&e.to_string()))?;
        let at = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(RedisLink {
            client,
            at,
            db,
            password,
            op_timeout: op_timeout.clamp(Duration::from_millis(1), MAX_OP_TIMEOUT),
            link: Mutex::new(Link::default()),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `cmd` within one `op_timeout`, connecting first when there is no connection.
    pub(crate) async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, Failure> {
        let deadline = Instant::now() + self.op_timeout;
        let (mut conn, generation) = match timeout_at(deadline, self.manager()).await {
            Ok(found) => found.map_err(Failure::Down)?,
            Err(_) => return Err(Failure::Down(self.down(&self.no_answer()))),
        };
        let attempt = async {
            match cmd.query_async::<T>(&mut conn).await {
                // The manager is reconnecting; the retry waits for it.
                Err(e) if e.is_io_error() && !e.is_timeout() => cmd.query_async::<T>(&mut conn).await,
                done => done,
            }
        };
        match timeout_at(deadline, attempt).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) if answered(&e) => Err(Failure::Refused(e)),
            Ok(Err(e)) => Err(Failure::Down(self.trip(generation, self.describe(&e)))),
            Err(_) => Err(Failure::Down(self.trip(generation, self.no_answer()))),
        }
    }

    /// The connection manager, connecting when there is none and the last attempt is a second old.
    async fn manager(&self) -> Result<(ConnectionManager, u64), String> {
        if let Some(found) = self.current()? {
            return Ok(found);
        }
        let _only_one = self.connecting.lock().await;
        // Another operation may have connected, or failed to, while this one waited.
        if let Some(found) = self.current()? {
            return Ok(found);
        }
        let mut pending = Pending {
            link: self,
            why: Some(self.no_answer()),
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.op_timeout))
            .set_response_timeout(Some(self.op_timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(200));
        match ConnectionManager::new_with_config(self.client.clone(), config).await {
            Ok(manager) => {
                pending.why = None;
                drop(pending);
                let mut link = self.link();
                link.generation += 1;
                link.manager = Some(manager.clone());
                link.retry_at = None;
                Ok((manager, link.generation))
            }
            Err(e) => {
                let why = self.describe(&e);
                let err = self.down(&why);
                pending.why = Some(why);
                drop(pending);
                Err(err)
            }
        }
    }

    /// A new connection for subscriptions (pub/sub needs its own), within `op_timeout`.
    pub(crate) async fn pubsub(&self) -> Result<::redis::aio::PubSub, String> {
        match tokio::time::timeout(self.op_timeout, self.client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(e)) => Err(self.down(&self.describe(&e))),
            Err(_) => Err(self.down(&self.no_answer())),
        }
    }

    /// The live manager, `Ok(None)` when it is time to connect, or the outage still in force.
    fn current(&self) -> Result<Option<(ConnectionManager, u64)>, String> {
        self.usable(&self.link())
    }

    fn usable(&self, link: &Link) -> Result<Option<(ConnectionManager, u64)>, String> {
        if let Some(manager) = &link.manager {
            return Ok(Some((manager.clone(), link.generation)));
        }
        match link.retry_at {
            Some(at) if Instant::now() < at => Err(self.down(&link.last_error)),
            _ => Ok(None),
        }
    }

    /// Records an outage seen on manager `generation`: the next connect waits [`RETRY_AFTER`].
    fn trip(&self, generation: u64, why: String) -> String {
        let err = self.down(&why);
        let mut link = self.link();
        if link.generation == generation && link.manager.is_some() {
            link.manager = None;
            link.retry_at = Some(Instant::now() + RETRY_AFTER);
            link.last_error = why;
        }
        err
    }

    fn link(&self) -> std::sync::MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn down(&self, why: &str) -> String {
        format!("redis at {} unavailable: {why}", self.at)
    }

    fn no_answer(&self) -> String {
        format!("no answer within {} ms", self.op_timeout.as_millis())
    }

    /// A Redis error as text, with the password masked (Redis does not echo it; belt and braces).
    pub(crate) fn describe(&self, e: &RedisError) -> String {
        let text = e.to_string();
        match &self.password {
            Some(password) => crate::redact::text(&text, password).into_owned(),
            None => text,
        }
    }

    /// The server as `host:port`, for messages.
    pub(crate) fn at(&self) -> &str {
        &self.at
    }

    /// The message for a failed command (`verb` names it).
    pub(crate) fn failed(&self, verb: &str, failure: Failure) -> String {
        match failure {
            Failure::Down(err) => err,
            Failure::Refused(e) => format!("redis at {} refused {verb}: {}", self.at, self.describe(&e)),
        }
    }
}

impl fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisLink")
            .field("at", &format!("{}/{}", self.at, self.db))
            .field("op_timeout", &self.op_timeout)
            .finish()
    }
}

/// Whether the server answered the command itself with an error (as opposed to no connection).
fn answered(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}

/// `url` for messages: everything between the scheme and the last `@` becomes `***`, and so does
/// the query (a unix-socket URL carries its password there).
///
/// Not [`crate::redact::url`], which stops at the first `/`, `?` or `#` after the scheme: a URL
/// rejected because its password holds one of those unencoded would show part of the password.
pub(crate) fn shown(url: &str) -> String {
    let mut out = match url.rfind('@') {
        Some(at) => {
            let start = match url.find("://") {
                Some(i) if i + 3 <= at => i + 3,
                _ => 0,
            };
            format!("{}***{}", &url[..start], &url[at..])
        }
        None => url.to_owned(),
    };
    if let Some(query) = out.find('?') {
        out.truncate(query);
        out.push_str("?***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_hide_everything_up_to_the_last_at() {
        assert_eq!(shown("redis://u:p@h:1/0"), "redis://***@h:1/0");
        assert_eq!(shown("redis://:p/a@ss@h"), "redis://***@h");
        assert_eq!(shown("u:p@h"), "***@h");
        assert_eq!(shown("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(shown("unix:///s.sock?user=u&pass=p"), "unix:///s.sock?***");
        assert_eq!(shown("redis://:p?q@h/0?protocol=3"), "redis://***@h/0?***");
    }
}
