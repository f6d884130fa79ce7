"""RateLimiter(backend=..., name=...): one budget shared by separate processes through a real
redis-server, counted where the requests land (the mock provider's arrival times)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from liter_llm import LlmClient, RateLimiter, ServiceUnavailableError

WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from liter_llm import LlmClient, RateLimiter

    backend, base_url, name, worker, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    limiter = RateLimiter(max_requests_per_minute=20, window_seconds=1.0, backend=backend, name=name)
    client = LlmClient(api_key="sk-test", base_url=base_url, rate_limiter=limiter, max_retries=0)
    requests = [
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{worker}-{i}"}]} for i in range(n)
    ]
    results = asyncio.run(client.chat_batch(requests, max_concurrency=8))
    failed = [r for r in results if isinstance(r, Exception)]
    print(len(results) - len(failed), len(failed), flush=True)
    """
)


def test_processes_share_one_requests_budget_counted_at_the_provider(redis_server, mock_server):
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_server.url, mock_server.base_url, "fleet", str(w), "15"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(3)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        assert out.split() == ["15", "0"], (out, err)
    arrivals = sorted(r["received_at"] for r in mock_server.requests())
    assert len(arrivals) == 45
    # 20 per second between all three, never 20 per second each: no one-second window at the
    # provider holds more than 20 (5 ms of slack for the hop from limiter to provider).
    for i, start in enumerate(arrivals):
        in_window = sum(1 for t in arrivals[i:] if t - start < 0.995)
        assert in_window <= 20, f"{in_window} requests within one second from {start:.3f}"
    # Paced at the shared rate: 45 requests at 20/s take more than two seconds from first to last.
    assert arrivals[-1] - arrivals[0] > 2.0


def test_backend_arguments_are_checked_before_anything_connects():
    with pytest.raises(ValueError, match="needs name="):
        RateLimiter(max_requests_per_minute=1, backend="redis://127.0.0.1:1")
    with pytest.raises(ValueError, match="needs backend="):
        RateLimiter(max_requests_per_minute=1, name="x")
    with pytest.raises(ValueError, match="invalid redis URL"):
        RateLimiter(max_requests_per_minute=1, backend="http://127.0.0.1:1", name="x")
    with pytest.raises(ValueError, match="name must be"):
        RateLimiter(max_requests_per_minute=1, backend="redis://127.0.0.1:1", name="a b")
    with pytest.raises(ValueError, match="expected_processes"):
        RateLimiter(max_requests_per_minute=1, backend="redis://127.0.0.1:1", name="x", backend_outage="local")
    with pytest.raises(ValueError, match="'wait' or 'local'"):
        RateLimiter(max_requests_per_minute=1, backend="redis://127.0.0.1:1", name="x", backend_outage="drop")
    with pytest.raises(TypeError, match="backend must be a str"):
        RateLimiter(max_requests_per_minute=1, backend=6379, name="x")
    with pytest.raises(ValueError, match="lease_seconds"):
        RateLimiter(max_requests_per_minute=1, backend="redis://127.0.0.1:1", name="x", lease_seconds=0.01)


def test_the_backend_password_never_shows():
    limiter = RateLimiter(
        max_concurrency=2,
        backend="redis://app:s3cret-pw@127.0.0.1:1/2",
        name="org",
        backend_outage="local",
        expected_processes=4,
    )
    for shown in (repr(limiter), str(limiter), limiter.backend):
        assert "s3cret" not in shown
    assert limiter.backend == "redis://***@127.0.0.1:1/2"
    assert (limiter.name, limiter.backend_outage, limiter.expected_processes) == ("org", "local", 4)
    assert limiter.lease_seconds == 30.0
    assert "backend_outage='local', expected_processes=4" in repr(limiter)


async def test_an_unreachable_backend_fails_clearly_after_max_delay_and_sends_nothing(redis_server, mock_server):
    limiter = RateLimiter(max_requests_per_minute=100, max_delay_seconds=0.3, backend=redis_server.url, name="gone")
    client = LlmClient(api_key="sk-test", base_url=mock_server.base_url, rate_limiter=limiter, max_retries=0)
    redis_server.kill()
    with pytest.raises(ServiceUnavailableError, match="nothing was sent"):
        await client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert mock_server.request_count == 0
