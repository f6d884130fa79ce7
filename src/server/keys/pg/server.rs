//! A throw-away PostgreSQL cluster for tests: `initdb` in a temporary directory, the server on a
//! free 127.0.0.1 port (its socket in that directory, `fsync` off), stopped and removed on drop.
//! Run as the `postgres` user when the tests run as root (PostgreSQL refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::redis_link::server::free_port;

/// A running cluster owned by a test.
pub(crate) struct PgServer {
    port: u16,
    dir: PathBuf,
    bin: PathBuf,
    running: bool,
}

/// The directory holding `initdb` and `pg_ctl`: on `PATH`, else Debian's newest version.
fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.retain(|d| d.join("initdb").exists());
    found.sort();
    found
        .pop()
        .expect("PostgreSQL is not installed (`make install` installs Debian's postgresql)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program`, run as `postgres` when the tests run as root.
fn command(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// Runs `program` with `args`; panics with its output on failure.
fn run(program: &Path, args: &[&str]) -> Output {
    let out = command(program).args(args).output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{} {args:?} failed: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl PgServer {
    /// A fresh running cluster (user `liter`, no password, database `postgres`).
    pub(crate) fn start() -> PgServer {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!("liter_llm-pg-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        if is_root() {
            let ok = Command::new("chown")
                .arg("postgres:postgres")
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown postgres {}", dir.display());
        }
        let bin = bin_dir();
        let data = dir.join("data");
        let data = data.to_str().expect("a UTF-8 temporary directory");
        run(
            &bin.join("initdb"),
            &["-D", data, "-A", "trust", "-U", "liter", "-E", "UTF8", "--no-sync"],
        );
        let mut server = PgServer {
            port: free_port(),
            dir,
            bin,
            running: false,
        };
        server.restart();
        server
    }

    /// `postgresql://liter@127.0.0.1:{port}/postgres`.
    pub(crate) fn url(&self) -> String {
        format!("postgresql://liter@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again) and waits until it accepts connections.
    pub(crate) fn restart(&mut self) {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log");
        run(
            &self.bin.join("pg_ctl"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-o",
                &options,
                "-l",
                &log.to_string_lossy(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        self.running = true;
    }

    /// Stops the server at once (as a crash would).
    pub(crate) fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            let data = self.dir.join("data");
            run(
                &self.bin.join("pg_ctl"),
                &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"],
            );
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if std::mem::take(&mut self.running) {
            let data = self.dir.join("data");
            let _ = command(&self.bin.join("pg_ctl"))
                .args(["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
