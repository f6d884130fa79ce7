"""Rate limiting through real HTTP, counted on the server side.

Every test uses a short window (1-2 s) so a "per minute" limit plays out in seconds. Windows are
checked with the mock server's own arrival times (``received_at``), and tokens with the mock's
own billing (tiktoken counts, as OpenAI bills: the prompt with its message framing, and the
echoed reply, cut at ``max_tokens``), cross-checked against the usage the responses report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from conftest import MODEL, user
from liter_llm import LlmClient, RateLimitedError, RateLimiter, count_tokens
from liter_llm.testing import MockServer

# The limiter keeps every window of its own grant times within the limit; the server sees each
# request a little after its grant, and that delay varies (scheduling on a loaded machine, and the
# mock shares the client's I/O thread). A window of arrivals is therefore only guaranteed to hold
# no more than the limit when it is shorter than the window by the delay's spread. On a quiet
# machine the spread is well under a millisecond; under CPU contention it has reached ~30 ms,
# which over the tests' 1-second windows is 3%, while over a real 60-second window it is 0.05%.
DELIVERY_JITTER = 0.05
# A single grant whose wake-up runs late arrives late while the next one is on time (the pacer
# keeps its schedule instead of drifting), so one gap between arrivals can fall short of the
# interval by that lateness: checks of single gaps allow 30 ms (10 ms has been seen in CI).
GAP_SLACK = 0.03


def max_window(events: list[tuple[float, int]], window: float) -> int:
    """The most any window ``[t, t + window - DELIVERY_JITTER)`` of arrivals holds, over windows
    starting at each event."""
    window -= DELIVERY_JITTER
    events = sorted(events)
    best = total = j = 0
    for i, (start, _) in enumerate(events):
        while j < len(events) and events[j][0] < start + window:
            total += events[j][1]
            j += 1
        best = max(best, total)
        total -= events[i][1]
    return best


def arrivals(server: Any, model: str | None = None) -> list[tuple[float, int]]:
    return [(r["received_at"], 1) for r in server.requests() if model is None or r["json"]["model"] == model]


def mock_tokens(body: dict[str, Any]) -> int:
    """Total tokens the mock charges for a chat request body (prompt plus the echoed completion)."""
    messages = body["messages"]
    prompt = count_tokens(model=body["model"], messages=messages)
    completion = count_tokens(model=body["model"], text=messages[-1]["content"])
    if body.get("max_tokens") is not None:
        completion = min(completion, body["max_tokens"])
    return prompt + max(completion, 1)


def token_arrivals(server: Any) -> list[tuple[float, int]]:
    return [(r["received_at"], mock_tokens(r["json"])) for r in server.requests()]


def rate(events: list[tuple[float, int]]) -> float:
    """Units per second between the first and the last arrival (the last one's units excluded)."""
    events = sorted(events)
    return sum(n for _, n in events[:-1]) / (events[-1][0] - events[0][0])


WORDS = "the quick brown fox jumps over a lazy dog while seven wizards quietly hex jovial boxers".split()


def text(i: int) -> str:
    """A prompt of 6 to 19 words that differs from request to request."""
    return " ".join(WORDS[(i * 7 + j) % len(WORDS)] for j in range(6 + i % 14))


# ----- requests per window -----


async def test_requests_never_exceed_any_window_and_use_at_least_95_percent(mock_server, make_client):
    limiter = RateLimiter(max_requests_per_minute=50, window_seconds=1)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    await asyncio.gather(*(client.chat(model=MODEL, messages=user(text(i)), max_tokens=5) for i in range(160)))
    events = arrivals(mock_server)
    assert len(events) == 160
    assert max_window(events, 1.0) <= 50
    assert rate(events) >= 0.95 * 50


async def test_per_client_limits_pace_evenly_from_the_start(mock_server, make_client):
    # A plain LlmClient argument: limits per minute, so 600 rpm is one request every 0.1 s.
    client = make_client(mock_server.base_url, max_requests_per_minute=600)
    await asyncio.gather(*(client.chat(model=MODEL, messages=user("hi")) for _ in range(8)))
    times = sorted(t for t, _ in arrivals(mock_server))
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert min(gaps) >= 0.1 - GAP_SLACK, gaps
    assert times[-1] - times[0] < 0.85


async def test_a_burst_goes_at_once_then_counts_against_the_same_window(mock_server, make_client):
    limiter = RateLimiter(max_requests_per_minute=20, window_seconds=1, burst=10)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    await asyncio.gather(*(client.chat(model=MODEL, messages=user("b")) for _ in range(50)))
    times = sorted(t for t, _ in arrivals(mock_server))
    assert times[9] - times[0] < 0.1, "the first ten go together"
    assert max_window([(t, 1) for t in times], 1.0) <= 20
    assert sum(t < times[0] + 1.0 for t in times) <= 20


def gaps_over(times: list[float], threshold: float) -> int:
    times = sorted(times)
    return sum(b - a > threshold for a, b in zip(times, times[1:]))


@pytest.mark.parametrize("granularity", [0.1, 0])
async def test_requests_due_within_a_pacing_slot_go_together(mock_server, make_client, granularity):
    # 40 a second is one every 25 ms: with 100 ms slots the server sees groups of four, 100 ms
    # apart; with no granularity every request arrives on its own, 25 ms after the last one.
    limiter = RateLimiter(max_requests_per_minute=40, window_seconds=1, pacing_granularity_seconds=granularity)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    await asyncio.gather(*(client.chat(model=MODEL, messages=user("g")) for _ in range(24)))
    events = arrivals(mock_server)
    times = [t for t, _ in events]
    assert max_window(events, 1.0) <= 40
    assert rate(events) >= 0.95 * 40 * (22 / 23 if granularity else 1)
    if granularity:
        assert gaps_over(times, 0.012) <= 7, sorted(times)
    else:
        assert gaps_over(times, 0.012) >= 20, sorted(times)


# ----- tokens per window -----


async def test_tokens_never_exceed_any_window_and_use_at_least_95_percent(mock_server, make_client):
    # 1000 tokens a second is ~20 requests a second: a starved process still keeps up with that,
    # so the 95% share measures the limiter, not the machine.
    limiter = RateLimiter(max_tokens_per_minute=1000, window_seconds=1)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    # max_tokens equal to the echoed reply: the estimate is exact.
    responses = await asyncio.gather(
        *(
            client.chat(model=MODEL, messages=user(text(i)), max_tokens=count_tokens(model=MODEL, text=text(i)))
            for i in range(75)
        )
    )
    events = token_arrivals(mock_server)
    assert sum(n for _, n in events) == sum(r.usage.total_tokens for r in responses)
    assert max_window(events, 1.0) <= 1000
    assert rate(events) >= 0.95 * 1000


async def test_refunds_of_over_estimates_keep_tokens_near_the_limit():
    # Requests in flight count with their estimate until answered, so the usable share is about
    # 1 - (over-estimate x latency / window): 10 ms of latency in a 2 s window.
    with MockServer(latency_ms=10) as server:
        # 750 tokens a second (~18 requests a second, which a starved process still keeps up with).
        limiter = RateLimiter(max_tokens_per_minute=1500, window_seconds=2)
        client = LlmClient(api_key="k", base_url=server.base_url, max_retries=0, rate_limiter=limiter)
        # Each request reserves ~3x what it uses (max_tokens 60, replies of 8-23 tokens).
        responses = await asyncio.gather(
            *(client.chat(model=MODEL, messages=user(text(i)), max_tokens=60) for i in range(75))
        )
        events = token_arrivals(server)
    assert sum(n for _, n in events) == sum(r.usage.total_tokens for r in responses)
    assert max_window(events, 2.0) <= 1500
    assert rate(events) >= 0.95 * 750


async def test_a_request_larger_than_the_tokens_limit_fails_at_once(mock_server, make_client):
    client = make_client(mock_server.base_url, max_tokens_per_minute=100)
    started = time.monotonic()
    with pytest.raises(RateLimitedError, match="never") as info:
        await client.chat(model=MODEL, messages=user("y" * 1000))
    assert time.monotonic() - started < 10  # not after a wait (the limiter would wait up to 300 s)
    assert info.value.status_code is None
    assert info.value.model == MODEL
    assert mock_server.request_count == 0


async def test_stream_usage_is_reconciled_when_the_stream_ends(mock_server, make_client):
    # A real minute-long window and a 5 s max_delay_seconds: a request that fits goes at once, one
    # that has to wait for the window raises RateLimitedError at once. No clock reading needed.
    def fresh_client() -> Any:
        limiter = RateLimiter(max_tokens_per_minute=1000, max_delay_seconds=5)
        return make_client(mock_server.base_url, rate_limiter=limiter)

    client = fresh_client()

    async def stream(include_usage: bool) -> None:
        options = {"include_usage": True} if include_usage else None
        async with await client.chat_stream(
            model=MODEL, messages=user("tiny"), max_tokens=500, stream_options=options
        ) as s:
            async for _ in s:
                pass

    # Reserves ~506, uses ~7: the refund lets a 600-token request go at once.
    await stream(include_usage=True)
    await client.chat(model=MODEL, messages=user("z"), max_tokens=590)
    # Without a usage chunk the estimate stands: the next big request would have to wait for the
    # window (about a minute), beyond max_delay_seconds.
    client = fresh_client()
    await stream(include_usage=False)
    with pytest.raises(RateLimitedError, match="max_delay_seconds"):
        await client.chat(model=MODEL, messages=user("z"), max_tokens=590)


# ----- sharing and keys -----


async def test_one_limiter_shared_by_two_clients_limits_them_together(mock_server, make_client):
    limiter = RateLimiter(max_requests_per_minute=30, window_seconds=1)
    a = make_client(mock_server.base_url, rate_limiter=limiter)
    b = make_client(mock_server.base_url, rate_limiter=limiter, timeout=10)
    calls = [c.chat(model=MODEL, messages=user("s")) for c in (a, b) for _ in range(40)]
    await asyncio.gather(*calls)
    events = arrivals(mock_server)
    assert len(events) == 80
    assert max_window(events, 1.0) <= 30
    assert rate(events) >= 0.95 * 30
    assert a.rate_limiter == limiter and b.rate_limiter == limiter


async def test_with_options_keeps_the_same_limiter(mock_server, make_client):
    client = make_client(mock_server.base_url, max_requests_per_minute=120)
    other = client.with_options(timeout=5)
    assert other.rate_limiter == client.rate_limiter
    await asyncio.gather(*(c.chat(model=MODEL, messages=user("w")) for c in (client, other, client)))
    times = sorted(t for t, _ in arrivals(mock_server))
    # 120 a minute: 0.5 s apart, whichever copy sent them.
    assert all(b - a >= 0.5 - GAP_SLACK for a, b in zip(times, times[1:])), times


async def test_per_model_limits_are_independent(mock_server, make_client):
    limiter = RateLimiter(rate_limits={"slow": {"rpm": 10}, "fast": {"rpm": 40}}, window_seconds=1)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    calls = [client.chat(model="slow", messages=user("s")) for _ in range(15)]
    calls += [client.chat(model="fast", messages=user("f")) for _ in range(60)]
    calls += [client.chat(model="free", messages=user("u")) for _ in range(5)]
    await asyncio.gather(*calls)
    slow, fast, free = (arrivals(mock_server, m) for m in ("slow", "fast", "free"))
    assert max_window(slow, 1.0) <= 10
    assert max_window(fast, 1.0) <= 40
    assert rate(fast) >= 0.95 * 40, "the slow model does not hold the fast one back"
    # Event order, not a clock window: the unlimited model's requests all arrive before the slow
    # model's 6th, which its pacing holds back for half a second.
    sixth_slow = sorted(t for t, _ in slow)[5]
    assert all(t < sixth_slow for t, _ in free), "a model without limits is not limited"


# ----- failures -----


async def test_a_429_pauses_every_caller_for_its_retry_after(mock_server, make_client):
    limiter = RateLimiter(max_requests_per_minute=50, window_seconds=1)
    client = make_client(mock_server.base_url, rate_limiter=limiter, max_retries=1)
    mock_server.push_faults([{"status": 429, "retry_after": 0.5}])
    results = await asyncio.gather(*(client.chat(model=MODEL, messages=user(f"c{i}")) for i in range(6)))
    assert len(results) == 6
    times = sorted(t for t, _ in arrivals(mock_server))
    assert len(times) == 7
    # The first request got the 429 at once; the others were due 20 ms apart but all waited.
    assert all(t - times[0] >= 0.5 for t in times[1:]), [round(t - times[0], 3) for t in times]
    assert max_window([(t, 1) for t in times], 1.0) <= 50


async def test_a_wait_beyond_max_delay_raises_and_takes_no_capacity(mock_server, make_client):
    # One request every 0.4 s; waits beyond 1.4 s raise: 4 go (at 0, 0.4, 0.8 and 1.2 s), 6 fail.
    limiter = RateLimiter(max_requests_per_minute=10, window_seconds=4, max_delay_seconds=1.4)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    started = time.monotonic()

    async def call() -> tuple[Any, float]:
        try:
            result: Any = await client.chat(model=MODEL, messages=user("d"))
        except RateLimitedError as exc:
            result = exc
        return result, time.monotonic() - started

    results = await asyncio.gather(*(call() for _ in range(10)))
    failed = [r for r, _ in results if isinstance(r, BaseException)]
    assert 5 <= len(failed) <= 7
    assert all(isinstance(e, RateLimitedError) and e.status_code is None for e in failed)
    assert all(e.retry_after is None or e.retry_after > 0 for e in failed)
    assert "max_delay_seconds" in str(failed[0])
    # A failure is decided when its turn in the queue comes, at the latest with the last grant
    # (1.2 s): nobody waits out max_delay_seconds on top (the original 0.6 s bound, scaled by 4).
    assert max(took for _, took in results) < 2.4, [(type(r).__name__, round(t, 3)) for r, t in results]
    assert mock_server.request_count == 10 - len(failed)
    # The failed callers reserved nothing: the next request gets the very next slot (0.4 s on,
    # where a reservation left behind would push it to 0.8 s or later).
    last = max(t for t, _ in arrivals(mock_server))
    await client.chat(model=MODEL, messages=user("after"))
    nxt = max(t for t, _ in arrivals(mock_server))
    assert 0.4 - GAP_SLACK <= nxt - last < 0.7


async def test_a_cancelled_waiter_frees_only_its_place(mock_server, make_client):
    # One request a second: "third" takes the cancelled waiter's slot 1 s after "first"; a place
    # the cancel failed to free would push it to 2 s.
    client = make_client(mock_server.base_url, max_requests_per_minute=60)
    await client.chat(model=MODEL, messages=user("first"))
    waiting = asyncio.ensure_future(client.chat(model=MODEL, messages=user("cancelled")))
    # Nothing signals "queued in the limiter": give the waiter a moment to take its place. This
    # only matters for what the test can catch; a slow machine can make it pass, never fail.
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await client.chat(model=MODEL, messages=user("third"))
    sent = [(r["json"]["messages"][0]["content"], r["received_at"]) for r in mock_server.requests()]
    assert [s for s, _ in sent] == ["first", "third"]
    assert 1.0 - GAP_SLACK <= sent[1][1] - sent[0][1] < 1.7


# ----- concurrency -----


async def test_max_concurrency_caps_requests_in_flight():
    with MockServer(latency_ms=150) as server:
        client = LlmClient(api_key="k", base_url=server.base_url, max_retries=0, max_concurrency=2)
        await asyncio.gather(*(client.chat(model=MODEL, messages=user("c")) for _ in range(6)))
        times = sorted(t for t, _ in arrivals(server))
    # A third request only starts when one of the first two has finished.
    assert all(b - a >= 0.15 - GAP_SLACK for a, b in zip(times, times[2:])), times


async def test_an_open_stream_holds_its_concurrency_slot_until_closed():
    with MockServer(chunk_delay_ms=100) as server:
        client = LlmClient(api_key="k", base_url=server.base_url, max_retries=0, max_concurrency=1)
        stream = await client.chat_stream(model=MODEL, messages=user("one two three four five six"))
        first = await stream.__anext__()
        assert first is not None
        second = asyncio.ensure_future(client.chat(model=MODEL, messages=user("second")))
        # The stream has 5 more chunks 100 ms apart; read them all but the end, and "second" must
        # still be waiting: it is not sent while the stream is open.
        for _ in range(5):
            await stream.__anext__()
        assert not second.done()
        assert server.request_count == 1
        await stream.aclose()
        r = await asyncio.wait_for(second, 2)
        assert r.choices[0].message.content == "second"
        # A stream read to its end frees the slot by itself.
        async with await client.chat_stream(model=MODEL, messages=user("a b")) as s:
            async for _ in s:
                pass
        await asyncio.wait_for(client.chat(model=MODEL, messages=user("third")), 2)


# ----- logging, construction -----


async def test_a_long_wait_is_logged_at_info(mock_server, make_client, caplog):
    limiter = RateLimiter(max_requests_per_minute=2, window_seconds=2.4)
    client = make_client(mock_server.base_url, rate_limiter=limiter)
    with caplog.at_level(logging.INFO, logger="liter_llm"):
        await asyncio.gather(*(client.chat(model=MODEL, messages=user("l")) for _ in range(2)))
    assert any("rate limiter: waited" in r.getMessage() and MODEL in r.getMessage() for r in caplog.records)


def test_limits_are_validated_before_anything_runs():
    bad_values: list[dict[str, Any]] = [
        {"max_requests_per_minute": 0},
        {"max_tokens_per_minute": -5},
        {"max_concurrency": 0},
        {"max_requests_per_minute": 5, "max_delay_seconds": -1},
        {"max_requests_per_minute": 5, "max_delay_seconds": float("nan")},
        {"rate_limits": {"m": {}}},
        {"rate_limits": {"m": {"rpx": 5}}},
        {"rate_limits": {"m": {"rpm": 0}}},
    ]
    for kwargs in bad_values:
        with pytest.raises(ValueError):
            LlmClient(api_key="k", **kwargs)
        with pytest.raises(ValueError):
            RateLimiter(**kwargs)
    bad_types: list[dict[str, Any]] = [
        {"max_requests_per_minute": True},
        {"max_requests_per_minute": 1.5},
        {"max_tokens_per_minute": "100"},
        {"max_requests_per_minute": 5, "max_delay_seconds": "1"},
        {"rate_limits": [("m", {"rpm": 1})]},
        {"rate_limits": {"m": 5}},
        {"rate_limits": {"m": {"rpm": 1.0}}},
    ]
    for kwargs in bad_types:
        with pytest.raises(TypeError):
            LlmClient(api_key="k", **kwargs)
    with pytest.raises(ValueError):
        RateLimiter(max_requests_per_minute=5, window_seconds=0)
    with pytest.raises(ValueError):
        RateLimiter(max_requests_per_minute=5, burst=-1)
    with pytest.raises(ValueError):
        RateLimiter(max_requests_per_minute=5, burst={"request": 1})
    with pytest.raises(TypeError):
        RateLimiter(max_requests_per_minute=5, burst=1.5)
    with pytest.raises(ValueError):
        RateLimiter(max_requests_per_minute=5, pacing_granularity_seconds=-0.1)
    with pytest.raises(ValueError, match="at most window_seconds"):
        RateLimiter(max_requests_per_minute=5, window_seconds=1, pacing_granularity_seconds=2)
    with pytest.raises(TypeError):
        RateLimiter(max_requests_per_minute=5, pacing_granularity_seconds="0.1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one limit"):
        RateLimiter()
    with pytest.raises(TypeError):
        LlmClient(api_key="k", rate_limiter="shared")  # type: ignore[arg-type]


def test_a_shared_limiter_conflicts_with_per_client_limits():
    shared = RateLimiter(max_requests_per_minute=10)
    for kwargs in (
        {"max_requests_per_minute": 5},
        {"max_concurrency": 2},
        {"rate_limits": {"m": {"rpm": 1}}},
        {"max_delay_seconds": 10},
    ):
        with pytest.raises(ValueError, match="not both"):
            LlmClient(api_key="k", rate_limiter=shared, **kwargs)
    assert LlmClient(api_key="k", rate_limiter=shared, max_delay_seconds=300).rate_limiter == shared


def test_limiter_attributes_and_repr():
    limiter = RateLimiter(
        max_requests_per_minute=100,
        max_tokens_per_minute=50_000,
        max_concurrency=8,
        max_delay_seconds=30,
        rate_limits={"gpt-4o": {"rpm": 10, "tpm": 1000, "max_concurrency": 2}},
        burst={"requests": 5, "tokens": 500},
        window_seconds=2,
    )
    assert limiter.max_requests_per_minute == 100
    assert limiter.max_tokens_per_minute == 50_000
    assert limiter.max_concurrency == 8
    assert limiter.max_delay_seconds == 30.0
    assert limiter.window_seconds == 2.0
    assert limiter.rate_limits == {"gpt-4o": {"rpm": 10, "tpm": 1000, "max_concurrency": 2}}
    assert limiter.burst == {"requests": 5, "tokens": 500}
    assert limiter.pacing_granularity_seconds == pytest.approx(2 / 1200)
    assert RateLimiter(max_concurrency=1).pacing_granularity_seconds == 0.05
    assert RateLimiter(max_concurrency=1, pacing_granularity_seconds=0).pacing_granularity_seconds == 0
    assert "pacing_granularity_seconds=0.2" in repr(RateLimiter(max_concurrency=1, pacing_granularity_seconds=0.2))
    assert RateLimiter(max_concurrency=1).burst is False
    assert RateLimiter(max_concurrency=1, burst=True).burst is True
    text = repr(limiter)
    assert text.startswith("RateLimiter(max_requests_per_minute=100, max_tokens_per_minute=50000")
    assert "'gpt-4o': {'rpm': 10, 'tpm': 1000, 'max_concurrency': 2}" in text
    client = LlmClient(api_key="sk-secret-key", rate_limiter=limiter)
    assert "rate_limiter=RateLimiter(" in repr(client)
    assert "sk-secret" not in repr(client)
    assert LlmClient(api_key="k").rate_limiter is None
    assert "rate_limiter" not in repr(LlmClient(api_key="k"))
    assert limiter == limiter and limiter != RateLimiter(max_concurrency=1)
    assert len({limiter, client.rate_limiter}) == 1
