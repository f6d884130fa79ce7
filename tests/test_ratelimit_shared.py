"""RateLimiter(backend=..., name=...): one budget shared by separate processes through a real
redis-server, counted where the requests land (the mock provider's arrival times)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from liter_llm import LlmClient, RateLimiter, ServiceUnavailableError
from liter_llm.testing import MockServer

WORKER = textwrap.dedent(
    """
    import asyncio, json, sys
    from liter_llm import LlmClient, RateLimiter

    spec = json.loads(sys.argv[1])
    limiter = RateLimiter(**spec["limits"])
    client = LlmClient(api_key="sk-test", base_url=spec["base_url"], rate_limiter=limiter, max_retries=0)
    body = {"max_tokens": spec["max_tokens"]} if spec.get("max_tokens") else {}
    requests = [
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"{spec['tag']}-{i} {spec['words']}"}],
         **body}
        for i in range(spec["n"])
    ]
    results = asyncio.run(client.chat_batch(requests, max_concurrency=spec.get("concurrency", 8)))
    tokens = {
        r.choices[0].message.content.split()[0]: r.usage.total_tokens for r in results if not isinstance(r, Exception)
    }
    failed = [repr(r) for r in results if isinstance(r, Exception)]
    print(json.dumps({"failed": failed, "tokens": tokens}))
    """
)
LOREM = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau"


def start_workers(count: int, spec: dict) -> list[subprocess.Popen]:
    """`count` worker processes running `WORKER` with `spec` (each tagged with its number)."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps({**spec, "tag": f"w{w}"})],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(count)
    ]


def finish(workers: list[subprocess.Popen]) -> dict[str, int]:
    """Waits for every worker; all requests succeeded; the tokens of each request by its tag."""
    tokens: dict[str, int] = {}
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        report = json.loads(out)
        assert report["failed"] == [], report["failed"]
        tokens.update(report["tokens"])
    return tokens


def arrivals(mock_server) -> list[tuple[float, str]]:
    """(arrival time, request tag) of every request the mock provider received, in order."""
    out = []
    for r in mock_server.requests():
        content = json.loads(r["body"])["messages"][0]["content"]
        out.append((r["received_at"], content.split()[0]))
    return sorted(out)


def most_in_a_window(times: list[float], weights: list[int], window: float) -> int:
    """The largest total weight of arrivals within any `window` seconds."""
    best = 0
    for i, start in enumerate(times):
        best = max(best, sum(w for t, w in zip(times[i:], weights[i:]) if t - start < window))
    return best


def test_four_processes_share_one_requests_budget_counted_at_the_provider(redis_server, mock_server):
    # 45 requests per 3 s between all four (15/s), never 45 each.
    limits = {"max_requests_per_minute": 45, "window_seconds": 3.0, "backend": redis_server.url, "name": "fleet"}
    finish(start_workers(4, {"limits": limits, "base_url": mock_server.base_url, "n": 12, "words": ""}))
    times = [t for t, _ in arrivals(mock_server)]
    assert len(times) == 48
    assert most_in_a_window(times, [1] * len(times), 3.0) <= 45
    # Utilisation: paced evenly, 48 requests need 47 intervals of (3 s + 30 ms margin) / 45.
    ideal = 47 * 3.03 / 45
    assert ideal / (times[-1] - times[0]) >= 0.95, f"{times[-1] - times[0]:.2f} s for an ideal {ideal:.2f} s"


def test_four_processes_share_one_tokens_budget_counted_at_the_provider(redis_server, mock_server):
    limits = {"max_tokens_per_minute": 1500, "window_seconds": 3.0, "backend": redis_server.url, "name": "tok"}
    spec = {"limits": limits, "base_url": mock_server.base_url, "n": 10, "words": LOREM, "max_tokens": 8}
    tokens = finish(start_workers(4, {**spec, "concurrency": 2}))
    seen = arrivals(mock_server)
    assert len(seen) == 40
    times = [t for t, _ in seen]
    weights = [tokens[tag] for _, tag in seen]
    assert most_in_a_window(times, weights, 3.0) <= 1500
    # Utilisation: the tokens sent after the first request, against what the limit allows meanwhile.
    allowed = 1500 * (times[-1] - times[0]) / 3.03
    assert sum(weights[1:]) / allowed >= 0.95, f"{sum(weights[1:])} tokens of {allowed:.0f} allowed"


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


HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from liter_llm import LlmClient, RateLimiter

    backend, base_url = sys.argv[1], sys.argv[2]
    limiter = RateLimiter(max_concurrency=2, lease_seconds=2.0, backend=backend, name="slots")
    client = LlmClient(api_key="sk-test", base_url=base_url, rate_limiter=limiter, max_retries=0, timeout=120)
    request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hold"}]}
    asyncio.run(client.chat_batch([request, request], max_concurrency=2))
    """
)


async def test_a_worker_killed_mid_run_returns_its_slots_within_the_lease(redis_server, mock_server):
    with MockServer(latency_ms=120_000) as slow:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLDER, redis_server.url, slow.base_url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while slow.request_count < 2:  # both slots taken: their requests reached the provider
                assert holder.poll() is None, f"the holder exited ({holder.returncode})"
                assert time.monotonic() < deadline, "the holder never sent its two requests"
                await asyncio.sleep(0.01)
            limiter = RateLimiter(max_concurrency=2, lease_seconds=2.0, backend=redis_server.url, name="slots")
            client = LlmClient(api_key="sk-test", base_url=mock_server.base_url, rate_limiter=limiter, max_retries=0)
            holder.send_signal(signal.SIGKILL)
            holder.wait()
            killed = time.monotonic()
            request = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "after"}]}
            results = await client.chat_batch([request] * 4, max_concurrency=4)
            assert all(not isinstance(r, Exception) for r in results), results
            # The dead worker's leases lapse within their 2 s (renewed every ~0.7 s while it lived):
            # not before (the slots were held), and not much after.
            waited = time.monotonic() - killed
            assert 1.0 <= waited < 2.0 + 3.0, waited
            assert mock_server.request_count == 4
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()


def test_redis_restarted_mid_run_sends_nothing_over_the_limit_and_the_run_completes(redis_server, mock_server):
    limits = {"max_requests_per_minute": 30, "window_seconds": 2.0, "backend": redis_server.url, "name": "restart"}
    workers = start_workers(2, {"limits": limits, "base_url": mock_server.base_url, "n": 20, "words": ""})
    deadline = time.monotonic() + 60
    while mock_server.request_count < 10:
        assert time.monotonic() < deadline, "the workers never got going"
        time.sleep(0.01)
    redis_server.kill()
    redis_server.start()
    finish(workers)
    times = [t for t, _ in arrivals(mock_server)]
    assert len(times) == 40
    # The restarted server forgot the window; the workers remembered it and waited it out.
    assert most_in_a_window(times, [1] * len(times), 2.0) <= 30
    assert redis_server.command("HGET", "liter_llm:rl:{restart}:g:s", "seeded") == b"$1", "restart not noticed"
