//! A real `redis-server` for tests: started on a free 127.0.0.1 port in its own temporary
//! directory with persistence off, ready once it answers on that port, killed and reaped on drop.
//!
//! Readiness is polled (every 10 ms, up to [`READY_WITHIN`]), never guessed with a fixed sleep.
//! The probe asks `INFO server` for the answering process id, so a different server that happens
//! to hold the port is never mistaken for ours.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a started server gets to answer.
const READY_WITHIN: Duration = Duration::from_secs(15);
/// Fresh ports tried when a server does not come up (another process may take a free port first).
const PORT_TRIES: usize = 5;

/// A `redis-server` process owned by a test.
pub(crate) struct RedisServer {
    port: u16,
    password: Option<String>,
    dir: PathBuf,
    child: Option<Child>,
}

impl RedisServer {
    /// A running server without a password.
    pub(crate) fn start() -> RedisServer {
        Self::start_with(None)
    }

    /// A running server that requires `password` (`--requirepass`).
    pub(crate) fn with_password(password: &str) -> RedisServer {
        Self::start_with(Some(password))
    }

    fn start_with(password: Option<&str>) -> RedisServer {
        let mut why = String::new();
        for _ in 0..PORT_TRIES {
            let mut server = RedisServer::stopped(free_port(), password);
            match server.launch() {
                Ok(()) => return server,
                Err(e) => why = e,
            }
        }
        panic!("redis-server did not start: {why}");
    }

    /// A server for `port` that is not running yet: [`RedisServer::restart`] starts it.
    pub(crate) fn stopped(port: u16, password: Option<&str>) -> RedisServer {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("liter_llm-redis-{}-{port}-{nanos}", std::process::id()));
        RedisServer {
            port,
            password: password.map(str::to_owned),
            dir,
            child: None,
        }
    }

    /// The server's port on 127.0.0.1.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/0`, without credentials.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The URL with `password` as its credentials.
    pub(crate) fn url_with_password(&self, password: &str) -> String {
        format!("redis://:{password}@127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (if running) and waits for it to exit.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Suspends (`SIGSTOP`) or resumes (`SIGCONT`) the server: a hung server, without a reset.
    pub(crate) fn suspend(&self, suspended: bool) {
        let child = self.child.as_ref().expect("the server is running");
        let signal = if suspended { "-STOP" } else { "-CONT" };
        let status = Command::new("kill").arg(signal).arg(child.id().to_string()).status();
        assert!(
            status.as_ref().is_ok_and(|s| s.success()),
            "kill {signal} failed: {status:?}"
        );
    }

    /// Starts the server (again) on the same port; panics when it does not answer in time.
    pub(crate) fn restart(&mut self) {
        if let Err(why) = self.launch() {
            panic!("redis-server did not restart on port {}: {why}", self.port);
        }
    }

    /// Starts the process and waits until it answers; stops it again on failure.
    fn launch(&mut self) -> Result<(), String> {
        self.stop();
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let log = self.dir.join("redis.log");
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port").arg(self.port.to_string());
        cmd.args([
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]);
        cmd.arg("--dir").arg(&self.dir).arg("--logfile").arg(&log);
        if let Some(password) = &self.password {
            cmd.arg("--requirepass").arg(password);
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        let child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "redis-server is not installed (`make install` installs it)".to_owned(),
            _ => format!("cannot run redis-server: {e}"),
        })?;
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(format!("it exited ({status}); log: {}", tail(&log)));
            }
            if self.answering_pid() == Some(pid) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!("no answer within {READY_WITHIN:?}; log: {}", tail(&log)));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The process id of the server answering on our port, if one answers.
    fn answering_pid(&self) -> Option<u32> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
        stream.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        let mut request = Vec::new();
        if let Some(password) = &self.password {
            request.extend(resp(&["AUTH", password]));
        }
        request.extend(resp(&["INFO", "server"]));
        stream.write_all(&request).ok()?;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while seen.len() < 1 << 16 {
            let n = stream.read(&mut buf).ok()?;
            if n == 0 {
                return None;
            }
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen);
            if let Some(rest) = text.split("process_id:").nth(1) {
                if let Some(end) = rest.find("\r\n") {
                    return rest[..end].parse().ok();
                }
            }
        }
        None
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on right now (bound to 127.0.0.1:0, then released).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// One command in the Redis protocol.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n{arg}\r\n", arg.len()).into_bytes());
    }
    out
}

/// The end of the server's log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}
