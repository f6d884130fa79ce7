"""Retries: which failures are retried, how many attempts the server sees, and how long the client waits."""

from __future__ import annotations

import logging
import time
from email.utils import formatdate

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, user
from liter_llm import (
    AuthenticationError,
    BadRequestError,
    LlmError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    ServiceUnavailableError,
)

RETRYABLE = [408, 409, 429, 500, 502, 503, 504, 529]
NOT_RETRYABLE = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (422, BadRequestError),
]


def gaps(scenario) -> list[float]:
    arrivals = [r.arrived for r in scenario.requests]
    return [b - a for a, b in zip(arrivals, arrivals[1:])]


@pytest.mark.parametrize("status", RETRYABLE)
async def test_retryable_status_is_retried_and_the_retry_succeeds(mock_server, make_client, status):
    client = make_client(mock_server.base_url, max_retries=1)
    mock_server.push_faults([{"status": status, "retry_after_ms": 10}])
    r = await client.chat(model=MODEL, messages=user("second time lucky"))
    assert r.choices[0].message.content == "second time lucky"
    assert mock_server.request_count == 2


@pytest.mark.parametrize(("status", "cls"), NOT_RETRYABLE)
async def test_client_errors_are_never_retried(mock_server, make_client, status, cls):
    client = make_client(mock_server.base_url, max_retries=3)
    mock_server.push_faults([{"status": status}, {}])
    with pytest.raises(cls):
        await client.chat(model=MODEL, messages=user("hi"))
    assert mock_server.request_count == 1


@pytest.mark.parametrize(("max_retries", "attempts"), [(0, 1), (1, 2), (3, 4)])
async def test_max_retries_bounds_the_attempts_the_server_sees(mock_server, make_client, max_retries, attempts):
    client = make_client(mock_server.base_url, max_retries=max_retries)
    mock_server.push_faults([{"status": 503, "retry_after_ms": 10}] * 10)
    with pytest.raises(ServiceUnavailableError):
        await client.chat(model=MODEL, messages=user("hi"))
    assert mock_server.request_count == attempts


async def test_default_max_retries_is_three(scenario, make_client):
    from liter_llm import LlmClient

    client = LlmClient(api_key=API_KEY, base_url=scenario.base_url, timeout=20)
    scenario.set_default(ss.error_response(500, "down", type="server_error", headers={"retry-after-ms": "10"}))
    with pytest.raises(ServerError):
        await client.chat(model=MODEL, messages=user("hi"))
    assert scenario.request_count == 4


async def test_every_attempt_sends_the_same_request(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=2, extra_headers={"X-Trace": "t-1"})
    fail = ss.error_response(502, "bad gateway", headers={"retry-after-ms": "10"})
    scenario.script(fail, fail)
    await client.chat(model=MODEL, messages=user("same every time ✓"), temperature=0.3)
    reqs = scenario.requests
    assert len(reqs) == 3
    assert len({r.body for r in reqs}) == 1
    for r in reqs:
        assert r.path == "/v1/chat/completions"
        assert r.headers["authorization"] == f"Bearer {API_KEY}"
        assert r.headers["x-trace"] == "t-1"


async def test_x_should_retry_false_prevents_the_retry(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=3)
    scenario.script(ss.error_response(503, "overloaded", type="server_error", headers={"x-should-retry": "false"}))
    with pytest.raises(ServiceUnavailableError):
        await client.chat(model=MODEL, messages=user("hi"))
    assert scenario.request_count == 1


async def test_the_error_after_the_last_attempt_describes_the_last_response(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=1)
    scenario.script(
        ss.error_response(503, "first failure", headers={"x-request-id": "req_1", "retry-after-ms": "10"}),
        ss.error_response(500, "second failure", headers={"x-request-id": "req_2"}),
    )
    with pytest.raises(ServerError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 500
    assert info.value.request_id == "req_2"
    assert "second failure" in str(info.value)


async def test_retry_after_seconds_is_honoured(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=1)
    scenario.script(ss.error_response(429, "slow down", type="requests", headers={"Retry-After": "1"}))
    start = time.monotonic()
    r = await client.chat(model=MODEL, messages=user("after the wait"))
    elapsed = time.monotonic() - start
    assert r.choices[0].message.content == "after the wait"
    assert scenario.request_count == 2
    assert elapsed >= 0.9
    assert 0.9 <= gaps(scenario)[0] < 3


async def test_retry_after_ms_is_honoured(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=1)
    scenario.script(ss.error_response(429, "slow down", type="requests", headers={"retry-after-ms": "800"}))
    await client.chat(model=MODEL, messages=user("hi"))
    assert 0.75 <= gaps(scenario)[0] < 3


async def test_retry_after_http_date_is_honoured(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=1)
    when = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1-2 s from now
    scenario.script(ss.error_response(503, "maintenance", type="server_error", headers={"Retry-After": when}))
    await client.chat(model=MODEL, messages=user("hi"))
    assert 0.8 <= gaps(scenario)[0] < 4


async def test_retry_after_on_the_mock_server_makes_the_client_wait(mock_server, make_client):
    client = make_client(mock_server.base_url, max_retries=1)
    mock_server.push_faults([{"status": 429, "retry_after": 1}])
    start = time.monotonic()
    await client.chat(model=MODEL, messages=user("hi"))
    assert time.monotonic() - start >= 0.9
    assert mock_server.request_count == 2


async def test_backoff_without_retry_after_stays_within_the_exponential_bounds(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=3)
    scenario.set_default(ss.error_response(500, "down", type="server_error"))
    start = time.monotonic()
    with pytest.raises(ServerError):
        await client.chat(model=MODEL, messages=user("hi"))
    elapsed = time.monotonic() - start
    assert scenario.request_count == 4
    # full jitter: the k-th wait is uniform in [0, 0.5 * 2**(k-1)] (capped at 8 s)
    for k, gap in enumerate(gaps(scenario), start=1):
        assert gap <= min(8.0, 0.5 * 2 ** (k - 1)) + 0.3, (k, gap)
    assert elapsed < 0.5 + 1 + 2 + 1.5


async def test_a_reset_connection_is_retried(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=1)
    scenario.script(ss.reset_connection())
    r = await client.chat(model=MODEL, messages=user("reconnected"))
    assert r.choices[0].message.content == "reconnected"
    assert scenario.request_count == 2


async def test_connection_refused_after_retries_raises_network_error_promptly(make_client):
    from liter_llm import NetworkError

    client = make_client(ss.refused_base_url(), max_retries=2)
    start = time.monotonic()
    with pytest.raises(NetworkError):
        await client.chat(model=MODEL, messages=user("hi"))
    assert time.monotonic() - start < 0.5 + 1 + 2


async def test_the_initial_stream_request_is_retried(mock_server, make_client):
    client = make_client(mock_server.base_url, max_retries=1)
    mock_server.push_faults([{"status": 503, "retry_after_ms": 10}])
    stream = await client.chat_stream(model=MODEL, messages=user("streamed after retry"))
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "streamed after retry"
    assert mock_server.request_count == 2


async def test_retries_are_logged_at_info_with_attempt_status_and_delay(scenario, make_client, caplog):
    caplog.set_level(logging.INFO, logger="liter_llm")
    client = make_client(scenario.base_url, max_retries=2)
    fail = ss.error_response(503, "busy", type="server_error", headers={"retry-after-ms": "300"})
    scenario.script(fail, fail)
    await client.chat(model=MODEL, messages=user("hi"))

    records = [
        r
        for r in caplog.records
        if (r.name == "liter_llm" or r.name.startswith("liter_llm.")) and r.levelno == logging.INFO
    ]
    messages = [r.getMessage() for r in records]
    assert len(records) == 2, messages
    for msg in messages:
        assert "503" in msg
        assert "0.3" in msg or "300" in msg
    assert messages[0] != messages[1]  # the attempt number differs
    assert all(API_KEY not in m for m in messages)


async def test_a_request_without_retries_logs_no_retry(mock_server, make_client, caplog):
    caplog.set_level(logging.INFO, logger="liter_llm")
    client = make_client(mock_server.base_url, max_retries=3)
    mock_server.push_faults([{"status": 400}])
    with pytest.raises(LlmError):
        await client.chat(model=MODEL, messages=user("hi"))
    retry_logs = [r for r in caplog.records if r.name.startswith("liter_llm") and "retr" in r.getMessage().lower()]
    assert retry_logs == []


async def test_rate_limit_error_after_retries_keeps_retry_after(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=1)
    limited = ss.error_response(429, "limit", type="requests", headers={"retry-after-ms": "20"})
    scenario.script(limited, limited)
    with pytest.raises(RateLimitedError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.retry_after == pytest.approx(0.02)
    assert scenario.request_count == 2


def test_give_up_warnings_are_logged_but_never_printed():
    """With no logging configured, a library must stay silent on stderr (NullHandler)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import asyncio
        from liter_llm import LlmClient, ServerError
        from liter_llm.testing import MockServer
        with MockServer() as server:
            server.push_faults([{"status": 500}, {"status": 500}])
            client = LlmClient(api_key="k", base_url=server.base_url, max_retries=1)
            try:
                asyncio.run(client.chat(model="m", messages=[{"role": "user", "content": "x"}]))
            except ServerError:
                print("raised")
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "raised"
    assert done.stderr == ""
