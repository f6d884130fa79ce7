"""Shared fixtures for the client tests.

* ``mock_server``: the built-in ``liter_llm.testing.MockServer`` (one per module, reset per test).
* ``client``: an ``LlmClient`` pointed at ``mock_server`` (no retries, so faults surface at once).
* ``scenario``: the independent aiohttp ``ScenarioServer`` (one per session, reset per test).
* ``scenario_client``: an ``LlmClient`` pointed at ``scenario``.
* ``servers``: four more scenario servers (one per deployment in the routing tests), reset per test.
* ``make_client``: factory for clients with other settings.
* ``mock``: a ``MockServer`` of the test's own; ``client_for(server, **overrides)`` a client of it.
* ``redis_server``: a real ``redis-server`` on a free port (``redis_support.RedisServer``), one per test;
  ``kill()`` / ``start()`` make an outage. A missing redis-server fails the test (``make install``).
* ``postgres_server``: a throw-away PostgreSQL cluster on a free port (``pg_support.PgServer``), one
  per test. Missing PostgreSQL binaries fail the test (``make install``).

Every client uses ``API_KEY``, a recognisable string the security tests hunt for with
``assert_no_key`` (over ``surface(exc)``, everything a user might print about an exception).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import time
import traceback
from typing import Any, Callable

import pg_support
import pytest
from redis_support import MISSING, RedisServer
from scenario_server import ScenarioServer

API_KEY = "sk-test-SECRET123-c0ffee-do-not-leak"
MODEL = "gpt-4o-mini"


MARKERS = (API_KEY, "SECRET123", "c0ffee-do-not-leak")


def pytest_configure(config: pytest.Config) -> None:
    # A shell that starts pytest as a background job (``pytest &``, ``nohup``) makes it ignore SIGINT,
    # and an ignored signal stays ignored across exec: every subprocess a test starts would shrug
    # off the Ctrl-C the test sends it. A caught signal is reset to its default at exec instead, so
    # catching SIGINT here gives the Ctrl-C tests' children a normal SIGINT again.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def surface(exc: BaseException) -> str:
    """Everything a user might print or log about an exception, including its cause chain."""
    parts: list[str] = []
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        parts += [str(e), repr(e), repr(e.args)]
        for name in ("body", "request_id", "provider", "model", "status_code", "retry_after"):
            value = getattr(e, name, None)
            parts.append(repr(value))
            if isinstance(value, (dict, list)):
                parts.append(json.dumps(value))
        parts.append("".join(traceback.format_exception(type(e), e, e.__traceback__)))
        e = e.__cause__ or e.__context__
    return "\n".join(parts)


def assert_no_key(text: str) -> None:
    for marker in MARKERS:
        assert marker not in text


async def eventually(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> None:
    """Waits until ``predicate()`` is true (checked every 10 ms); fails the test after ``timeout``.

    For states nothing signals (a log line, a count on the built-in mock): a wait for an event,
    not a guess at how long it takes, so a busy machine only makes it slower.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


def user(text: str) -> list[dict[str, Any]]:
    """A one-message conversation."""
    return [{"role": "user", "content": text}]


@pytest.fixture
def mock():
    """A ``MockServer`` of the test's own (its log and stored batches hold only this test's)."""
    from liter_llm.testing import MockServer

    with MockServer() as server:
        yield server


def client_for(server: Any, **overrides: Any) -> Any:
    """A client of ``server`` with the test key and no retries (``overrides`` change either)."""
    from liter_llm import LlmClient

    return LlmClient(**{"api_key": API_KEY, "base_url": server.base_url, "max_retries": 0, **overrides})


@pytest.fixture(scope="module")
def _mock_server_module():
    from liter_llm.testing import MockServer

    with MockServer() as server:
        yield server


@pytest.fixture
def mock_server(_mock_server_module):
    _mock_server_module.reset()
    yield _mock_server_module
    _mock_server_module.reset()


@pytest.fixture(scope="session")
def _scenario_session():
    server = ScenarioServer().start()
    yield server
    server.stop()


@pytest.fixture
def scenario(_scenario_session):
    _scenario_session.reset()
    yield _scenario_session
    _scenario_session.reset()


@pytest.fixture
def make_client():
    """``make_client(base_url, **overrides)``: a client with the test key, no retries, 20 s timeout."""
    from liter_llm import LlmClient

    def make(base_url: str, **overrides: Any) -> LlmClient:
        kwargs: dict[str, Any] = {"api_key": API_KEY, "base_url": base_url, "max_retries": 0, "timeout": 20}
        kwargs.update(overrides)
        return LlmClient(**kwargs)

    return make


@pytest.fixture
def client(mock_server, make_client):
    return make_client(mock_server.base_url)


@pytest.fixture
def scenario_client(scenario, make_client):
    return make_client(scenario.base_url)


@pytest.fixture(scope="session")
def _scenario_pool():
    pool = [ScenarioServer().start() for _ in range(4)]
    yield pool
    for server in pool:
        server.stop()


@pytest.fixture
def servers(_scenario_pool):
    """Four independent scenario servers (one per deployment in the routing tests), reset per test."""
    for server in _scenario_pool:
        server.reset()
    yield list(_scenario_pool)
    for server in _scenario_pool:
        server.reset()


@pytest.fixture
def redis_server():
    """A fresh ``redis-server`` on a free 127.0.0.1 port, persistence off, stopped after the test."""
    if shutil.which("redis-server") is None:
        pytest.fail(MISSING, pytrace=False)
    with RedisServer() as server:
        yield server


@pytest.fixture
def postgres_server():
    """A throw-away PostgreSQL cluster on a free 127.0.0.1 port, removed after the test."""
    if pg_support.bin_dir() is None:
        pytest.fail(pg_support.MISSING, pytrace=False)
    with pg_support.PgServer() as server:
        yield server
