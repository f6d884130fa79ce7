"""A throw-away PostgreSQL cluster for the proxy's key store tests: ``initdb`` in a temporary
directory, the server on a free 127.0.0.1 port with its socket in that directory and ``fsync`` off,
stopped and removed afterwards. As root (CI machines) the tools run as the ``postgres`` user, since
PostgreSQL refuses root. ``pg_ctl -w`` waits until the server accepts connections, so nothing here
sleeps. The ``postgres_server`` fixture in conftest.py wraps it."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from redis_support import free_port

MISSING = "PostgreSQL is not installed; `make install` installs it (Debian package postgresql)"


def bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: on PATH, else Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


class PgServer:
    """A PostgreSQL cluster owned by a test (user ``liter``, no password, database ``postgres``)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="liter_llm-pg-"))
        self._running = False
        self._bin = bin_dir()
        if self._bin is None:
            raise RuntimeError(MISSING)

    @property
    def url(self) -> str:
        return f"postgresql://liter@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")

    def start(self) -> PgServer:
        data = self._dir / "data"
        if not data.exists():
            if os.geteuid() == 0:
                shutil.chown(self._dir, "postgres", "postgres")
            self._run("initdb", "-D", str(data), "-A", "trust", "-U", "liter", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self._dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(self._dir / "log"), "-w", "-t", "60", "start")
        self._running = True
        return self

    def query(self, sql: str) -> str:
        """The rows ``sql`` answers, as ``psql -At`` prints them."""
        psql = shutil.which("psql") or str(self._bin / "psql")
        command = [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "liter", "-d", "postgres", "-At", "-c", sql]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout.strip()

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._run("pg_ctl", "-D", str(self._dir / "data"), "-m", "immediate", "-w", "stop")

    def __enter__(self) -> PgServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)
