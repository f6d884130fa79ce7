"""A careless or hostile caller can never crash the extension (a PyO3 panic escapes ``except
Exception``) nor smuggle fields into a request body.

Every test asserts the exact exception type: a ``pyo3_runtime.PanicException`` is a
``BaseException`` and would fail them.
"""

from __future__ import annotations

import json
import math
from enum import IntEnum
from typing import Any, Callable

import pytest
from conftest import MODEL, user
from liter_llm import LlmClient, RateLimiter, UsageTracker
from liter_llm.testing import MockServer

MAX_SECONDS = 31_536_000  # 365 days: the largest duration any argument accepts
BAD_SECONDS = [1e20, math.inf, -math.inf, math.nan, -1, -0.5, 10**400, MAX_SECONDS + 1]


def raises_exactly(exc_type: type[BaseException], fn: Callable[[], Any]) -> BaseException:
    """Runs fn and returns what it raised, which must be exactly exc_type (not a panic)."""
    with pytest.raises(BaseException) as info:
        fn()
    assert type(info.value) is exc_type, f"{type(info.value).__module__}.{type(info.value).__name__}: {info.value}"
    return info.value


def sent_body(mock_server: MockServer) -> tuple[bytes, dict[str, Any]]:
    [req] = mock_server.requests()
    return req["body"], json.loads(req["body"])


# --------------------------------------------------------------------------------------------
# durations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
@pytest.mark.parametrize("name", ["max_delay_seconds", "window_seconds", "pacing_granularity_seconds"])
def test_rate_limiter_durations_are_checked(name, value):
    err = raises_exactly(ValueError, lambda: RateLimiter(max_requests_per_minute=60, **{name: value}))
    assert name in str(err)


@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
def test_client_max_delay_is_checked(value):
    err = raises_exactly(
        ValueError, lambda: LlmClient(api_key="k", max_requests_per_minute=60, max_delay_seconds=value)
    )
    assert "max_delay_seconds" in str(err)


def test_duration_bounds_are_inclusive_and_documented():
    limiter = RateLimiter(max_requests_per_minute=60, max_delay_seconds=MAX_SECONDS)
    assert limiter.max_delay_seconds == MAX_SECONDS
    assert RateLimiter(max_requests_per_minute=60, max_delay_seconds=0).max_delay_seconds == 0
    assert RateLimiter(max_requests_per_minute=60, window_seconds=86_400).window_seconds == 86_400
    err = raises_exactly(ValueError, lambda: RateLimiter(max_requests_per_minute=60, window_seconds=0))
    assert "greater than 0" in str(err)
    err = raises_exactly(ValueError, lambda: RateLimiter(max_requests_per_minute=60, max_delay_seconds=1e20))
    assert f"at most {MAX_SECONDS}" in str(err)
    raises_exactly(TypeError, lambda: RateLimiter(max_requests_per_minute=60, max_delay_seconds="5"))
    raises_exactly(TypeError, lambda: RateLimiter(max_requests_per_minute=60, max_delay_seconds=True))


@pytest.mark.parametrize("value", [1e20, math.inf, math.nan, -1, MAX_SECONDS * 1000 + 1], ids=repr)
@pytest.mark.parametrize("name", ["latency_ms", "chunk_delay_ms"])
def test_mock_server_delays_are_checked(name, value):
    err = raises_exactly(ValueError, lambda: MockServer(**{name: value}))
    assert name in str(err)


@pytest.mark.parametrize("value", [1e20, math.inf, math.nan, -1, 10**400], ids=repr)
def test_mock_fault_delay_is_checked(mock_server, value):
    err = raises_exactly(ValueError, lambda: mock_server.push_faults([{"delay_ms": value}]))
    assert "delay_ms" in str(err)
    assert mock_server.pending_faults == 0


@pytest.mark.parametrize("value", [1e20, math.inf, math.nan, -1], ids=repr)
def test_usage_tracker_latencies_are_checked(value):
    tracker = UsageTracker()
    err = raises_exactly(ValueError, lambda: tracker._record_success(MODEL, None, latency=value))
    assert "latency" in str(err)
    err = raises_exactly(ValueError, lambda: tracker._record_success(MODEL, None, latency=0.1, ttft=value))
    assert "ttft" in str(err)
    raises_exactly(ValueError, lambda: tracker._record_failure(MODEL, latency=value))


# --------------------------------------------------------------------------------------------
# containers mutated while they are serialised
# --------------------------------------------------------------------------------------------


class Grows:
    """A value whose to_dict() adds a key to (or an item to) the container holding it."""

    def __init__(self, target: Any = None) -> None:
        self.target = target
        self.calls = 0

    def to_dict(self) -> dict[str, Any]:
        self.calls += 1
        if isinstance(self.target, dict):
            self.target[f"added{self.calls}"] = 1
        elif isinstance(self.target, list):
            self.target.append(Grows(self.target))
        return {"x": 1}


async def test_extra_body_growing_during_serialisation_is_a_runtime_error(client, mock_server):
    extra: dict[str, Any] = {"a": 1}
    extra["b"] = Grows(extra)
    extra["c"] = 2
    err = raises_exactly(RuntimeError, lambda: client.chat(model=MODEL, messages=user("hi"), extra_body=extra))
    assert "changed size" in str(err)
    assert mock_server.request_count == 0


async def test_a_message_growing_during_serialisation_is_a_runtime_error(client, mock_server):
    message: dict[str, Any] = {"role": "user", "content": "hi"}
    message["meta"] = Grows(message)
    message["name"] = "n"
    raises_exactly(RuntimeError, lambda: client.chat(model=MODEL, messages=[message]))
    assert mock_server.request_count == 0


async def test_a_messages_list_growing_forever_is_a_runtime_error_not_a_hang(client, mock_server):
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    messages.append(Grows(messages))
    messages.append({"role": "user", "content": "again"})
    err = raises_exactly(RuntimeError, lambda: client.chat(model=MODEL, messages=messages))
    assert "list changed size" in str(err)
    assert mock_server.request_count == 0


async def test_a_shrinking_list_is_a_runtime_error(client, mock_server):
    class Shrinks:
        def to_dict(self) -> dict[str, Any]:
            messages.clear()
            return {"role": "user", "content": "x"}

    messages: list[Any] = [{"role": "user", "content": "hi"}, Shrinks(), {"role": "user", "content": "b"}]
    raises_exactly(RuntimeError, lambda: client.chat(model=MODEL, messages=messages))
    assert mock_server.request_count == 0


async def test_a_same_size_swap_sends_the_snapshot(client, mock_server):
    class Swaps:
        def to_dict(self) -> dict[str, Any]:
            del extra["later"]
            extra["sneaky"] = 1
            return {"x": 1}

    extra: dict[str, Any] = {"first": Swaps(), "later": 2}
    response = await client.chat(model=MODEL, messages=user("hi"), extra_body=extra)
    assert response.choices[0].message.content == "hi"
    _, body = sent_body(mock_server)
    assert body["first"] == {"x": 1} and body["later"] == 2 and "sneaky" not in body


async def test_a_batch_request_dict_growing_during_serialisation(client, mock_server):
    request: dict[str, Any] = {"model": MODEL, "messages": user("hi")}
    request["metadata_obj"] = Grows(request)
    request["user"] = "u"
    err = raises_exactly(RuntimeError, lambda: client.chat_batch([{"model": MODEL, "messages": user("a")}, request]))
    assert str(err).startswith("requests[1]: ") and "changed size" in str(err)
    assert mock_server.request_count == 0


async def test_endpoint_extra_body_mutated_during_serialisation(client, mock_server):
    extra: dict[str, Any] = {"a": 1}
    extra["b"] = Grows(extra)
    extra["c"] = 2
    raises_exactly(RuntimeError, lambda: client.embed(model="text-embedding-3-small", input="hi", extra_body=extra))
    assert mock_server.request_count == 0


def test_fault_dict_mutated_by_its_body_is_a_runtime_error(mock_server):
    fault: dict[str, Any] = {"status": 500}
    fault["body"] = Grows(fault)
    fault["headers"] = {"x-a": "b"}
    raises_exactly(RuntimeError, lambda: mock_server.push_faults([fault]))
    assert mock_server.pending_faults == 0


def test_rate_limits_mutated_by_an_int_subclass_do_not_panic():
    limits: dict[str, Any] = {}

    class Sneaky(int):
        def __rshift__(self, other: Any) -> Any:  # called while the value is converted
            limits["tpm"] = 1000
            return int(self) >> other

    limits["rpm"] = Sneaky(5)
    limits["max_concurrency"] = 3
    err = raises_exactly(RuntimeError, lambda: RateLimiter(rate_limits={"m": limits}))
    assert "changed size" in str(err)

    class Swaps(int):
        def __rshift__(self, other: Any) -> Any:
            swapped.pop("max_concurrency", None)
            swapped["tpm"] = 1000
            return int(self) >> other

    swapped: dict[str, Any] = {"rpm": Swaps(5), "max_concurrency": 3}
    # A same-size change: the snapshot (rpm and max_concurrency) is what counts.
    assert "max_concurrency" in repr(RateLimiter(rate_limits={"m": swapped}))

    burst: dict[str, Any] = {}

    class SneakyBurst(int):
        def __rshift__(self, other: Any) -> Any:
            burst["more"] = 1
            return int(self) >> other

    burst["requests"] = SneakyBurst(2)
    burst["tokens"] = 10
    raises_exactly(RuntimeError, lambda: RateLimiter(max_requests_per_minute=60, burst=burst))


# --------------------------------------------------------------------------------------------
# JSON injection through number and str subclasses
# --------------------------------------------------------------------------------------------

INJECTION = '1, "model": "attacker-model", "x": 1'


class EvilInt(int):
    def __str__(self) -> str:
        return INJECTION

    __repr__ = __str__
    __format__ = lambda self, spec: INJECTION  # noqa: E731


class EvilFloat(float):
    def __str__(self) -> str:
        return INJECTION

    __repr__ = __str__


class EvilStr(str):
    def __str__(self) -> str:
        return INJECTION

    __repr__ = __str__


def assert_clean(raw: bytes, body: dict[str, Any]) -> None:
    assert b"attacker" not in raw
    assert body["model"] == MODEL
    assert "x" not in body


@pytest.mark.parametrize(
    "value", [7, -7, 2**63 - 1, -(2**63), 2**63 + 5, 2**64 - 1, 2**64, 10**20, -(10**20), 10**200], ids=str
)
async def test_int_subclasses_are_written_by_value(client, mock_server, value):
    await client.chat(
        model=MODEL,
        messages=[{"role": "user", "content": "hi", "n_extra": EvilInt(value)}],
        seed=EvilInt(value),
        max_tokens=EvilInt(5),
        extra_body={"big": EvilInt(value), "nested": [EvilInt(value), {"deep": EvilInt(value)}]},
    )
    raw, body = sent_body(mock_server)
    assert_clean(raw, body)
    assert body["seed"] == value and body["max_tokens"] == 5
    assert body["big"] == value and body["nested"] == [value, {"deep": value}]
    assert body["messages"][0]["n_extra"] == value


async def test_an_int_too_long_for_repr_is_a_value_error(client, mock_server):
    raises_exactly(ValueError, lambda: client.chat(model=MODEL, messages=user("hi"), seed=EvilInt(10**5000)))
    assert mock_server.request_count == 0


async def test_int_enums_are_written_as_their_value(client, mock_server):
    class Big(IntEnum):
        HUGE = 10**30

        def __str__(self) -> str:
            return "Big.HUGE"

    await client.chat(model=MODEL, messages=user("hi"), seed=Big.HUGE)
    _, body = sent_body(mock_server)
    assert body["seed"] == 10**30


async def test_float_subclasses_are_written_by_value(client, mock_server):
    await client.chat(
        model=MODEL,
        messages=user("hi"),
        temperature=EvilFloat(0.25),
        top_p=EvilFloat(1e-300),
        extra_body={"f": EvilFloat(-1.5e300)},
    )
    raw, body = sent_body(mock_server)
    assert_clean(raw, body)
    assert body["temperature"] == 0.25 and body["top_p"] == 1e-300 and body["f"] == -1.5e300
    raises_exactly(ValueError, lambda: client.chat(model=MODEL, messages=user("hi"), temperature=EvilFloat("nan")))


async def test_str_subclasses_are_written_from_their_characters(client, mock_server):
    await client.chat(
        model=EvilStr(MODEL),
        messages=[{"role": EvilStr("user"), "content": EvilStr('say "hi"\n')}],
        user=EvilStr("someone"),
        extra_body={EvilStr("key"): EvilStr("value")},
    )
    raw, body = sent_body(mock_server)
    assert_clean(raw, body)
    assert body["messages"] == [{"role": "user", "content": 'say "hi"\n'}]
    assert body["user"] == "someone" and body["key"] == "value"
