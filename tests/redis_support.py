"""A real ``redis-server`` for the cache tests: a free 127.0.0.1 port, its own temporary directory,
persistence off.

``RedisServer.start()`` runs the process and polls (every 10 ms, up to ``READY_TIMEOUT``) until it
answers PING on a raw socket, so no Python redis package is needed; the same probe reads the
answering process id from ``INFO server``, so another server that took the port is never mistaken
for ours. ``kill()`` stops the process and ``start()`` brings it back on the same port (outage
tests); ``stop()`` also removes the directory. As a context manager it starts on entry and stops
on exit. The ``redis_server`` fixture in conftest.py wraps it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

READY_TIMEOUT = 15.0
"""Seconds a started server gets to answer PING."""
PORT_TRIES = 5
"""Fresh ports tried when the first start fails (another process may take a free port first)."""
MISSING = "redis-server is not installed; `make install` installs it (Debian package redis-server)"


def free_port() -> int:
    """A port nothing listens on right now (bound to 127.0.0.1:0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _command(*args: str) -> bytes:
    """One command in the Redis protocol."""
    out = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def _answering_pid(port: int, password: str | None) -> int | None:
    """The process id of the server on ``port`` once it answers PING with +PONG; None otherwise."""
    request = (_command("AUTH", password) if password is not None else b"") + b"PING\r\n"
    request += _command("INFO", "server")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(request)
            seen = b""
            while len(seen) < 1 << 16:
                chunk = sock.recv(4096)
                if not chunk:
                    return None
                seen += chunk
                _, found, rest = seen.partition(b"process_id:")
                if found and b"\r\n" in rest:
                    return int(rest.split(b"\r\n", 1)[0]) if b"+PONG\r\n" in seen else None
    except (OSError, ValueError):
        return None
    return None


class RedisServer:
    """A ``redis-server`` process owned by a test.

    Args:
        password: Started with ``--requirepass password`` when given.
        port: The port to use; a free one when None.
    """

    def __init__(self, password: str | None = None, port: int | None = None) -> None:
        self.password = password
        self.port = port if port is not None else free_port()
        self._pick_port = port is None
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:{port}/0``, without credentials."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def auth_url(self) -> str:
        """The URL with the server's password as its credentials."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The running server's process id (for its CPU time in benches)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        """Starts the server (again, on the same port once it has run) and waits until it answers."""
        if self.running:
            return self
        tries = PORT_TRIES if self._pick_port else 1
        error: str | None = None
        for attempt in range(tries):
            if attempt:
                self.port = free_port()
            error = self._launch()
            if error is None:
                self._pick_port = False
                return self
        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}: {error}")

    def command(self, *args: str) -> bytes:
        """Sends one command on a fresh connection and returns the first reply line."""
        request = (_command("AUTH", self.password) if self.password is not None else b"") + _command(*args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(request)
            seen = b""
            lines_wanted = 2 if self.password is not None else 1
            while seen.count(b"\r\n") < lines_wanted:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                seen += chunk
        return seen.split(b"\r\n")[lines_wanted - 1]

    def kill(self) -> None:
        """Kills the server (if running) and waits for it to exit."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        """Kills the server and removes its directory."""
        self.kill()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _launch(self) -> str | None:
        """Runs the process and waits until it answers; returns why not on failure."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(MISSING)
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="liter_llm-redis-"))
        log = self._dir / "redis.log"
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--daemonize", "no", "--dir", str(self._dir), "--logfile", str(log)]
        if self.password is not None:
            args += ["--requirepass", self.password]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._proc = proc
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                self._proc = None
                return f"it exited ({proc.returncode}); log: {_tail(log)}"
            if _answering_pid(self.port, self.password) == proc.pid:
                return None
            if time.monotonic() > deadline:
                self.kill()
                return f"no answer within {READY_TIMEOUT} s; log: {_tail(log)}"
            time.sleep(0.01)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _tail(log: Path) -> str:
    """The end of the server's log, for a failure message."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(lines[-5:])
