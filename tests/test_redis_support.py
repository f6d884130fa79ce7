"""The ``redis_server`` fixture itself: a real server that can be killed and brought back."""

from __future__ import annotations

import socket

import pytest
from redis_support import MISSING, RedisServer


def ask(port: int, request: bytes) -> bytes:
    """Sends raw protocol bytes and returns the first reply chunk."""
    with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
        sock.sendall(request)
        return sock.recv(4096)


def test_serves_on_a_free_local_port_and_comes_back_after_a_kill(redis_server):
    port = redis_server.port
    assert redis_server.url == f"redis://127.0.0.1:{port}/0"
    assert ask(port, b"SET k v\r\n") == b"+OK\r\n"
    assert ask(port, b"CONFIG GET save\r\n") == b"*2\r\n$4\r\nsave\r\n$0\r\n\r\n", "no snapshots"

    redis_server.kill()
    assert not redis_server.running
    with pytest.raises(ConnectionRefusedError):
        ask(port, b"PING\r\n")

    redis_server.start()
    assert redis_server.port == port
    assert ask(port, b"PING\r\n") == b"+PONG\r\n"
    assert ask(port, b"GET k\r\n") == b"$-1\r\n", "persistence is off: a restart starts empty"


def test_a_password_is_required_when_given():
    with RedisServer(password="pw-fixture-5521") as server:
        assert ask(server.port, b"PING\r\n").startswith(b"-NOAUTH")
        assert ask(server.port, b"AUTH pw-fixture-5521\r\nPING\r\n").startswith(b"+OK\r\n")
        assert server.auth_url == f"redis://:pw-fixture-5521@127.0.0.1:{server.port}/0"
    assert not server.running


def test_a_missing_redis_server_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="make install"):
        RedisServer().start()
    assert "make install" in MISSING
