"""Failing deployments: cooldowns (allowed_fails, Retry-After, immediate statuses), retries on other
deployments, fallback chains, context-window and content-policy fallbacks, a group that is all
cooling down, and streams that fail over only before their first chunk."""

from __future__ import annotations

import pytest
import scenario_server as ss
from conftest import assert_no_key, eventually, surface, user
from liter_llm import (
    ContentPolicyError,
    ContextWindowExceededError,
    LlmError,
    RateLimitedError,
    ServerError,
    StreamingError,
)
from routing_support import GROUP, chat_many, counts, deployment, failing, hit_order, rate_limited, router, text

LONG_COOLDOWN = 60  # one cooldown period covers a whole test


def by_id(client) -> dict[str, dict]:
    return {d["id"]: d for d in client.deployments}


# --------------------------------------------------------------------------------------------
# Cooldown
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("allowed_fails", [0, 1, 3])
async def test_failing_deployments_are_cooled_and_every_call_succeeds(servers, allowed_fails):
    broken, flaky, healthy = servers[:3]
    broken.set_default(failing(500))
    # Half of flaky's answers are 429s with Retry-After: ok, 429, ok, 429, ...
    flaky.script(*[ss.echo() if i % 2 == 0 else rate_limited("1") for i in range(200)])
    client = router(
        [deployment(broken, id="broken"), deployment(flaky, id="flaky"), deployment(healthy, id="healthy")],
        allowed_fails=allowed_fails,
        cooldown_time=LONG_COOLDOWN,
        num_retries=2,
    )
    responses = await chat_many(client, 100)
    assert [text(r) for r in responses] == [f"ask {i}" for i in range(100)]  # 100% success
    # The (allowed_fails + 1)-th failure cools a deployment; one 429 cools it at once.
    assert broken.request_count <= allowed_fails + 1
    assert flaky.request_count <= 2
    assert broken.request_count + flaky.request_count + healthy.request_count >= 100
    cooling = by_id(client)
    assert cooling["broken"]["cooling_down"] is not None or broken.request_count <= allowed_fails
    assert cooling["flaky"]["cooling_down"] is not None or flaky.request_count <= 1
    assert cooling["healthy"]["cooling_down"] is None
    for d in ("broken", "flaky"):
        if cooling[d]["cooling_down"] is not None:
            assert LONG_COOLDOWN - 15 < cooling[d]["cooling_down"] <= LONG_COOLDOWN


async def test_the_failure_that_exceeds_allowed_fails_starts_the_cooldown(servers):
    broken, healthy = servers[:2]
    broken.set_default(failing(500))
    client = router(
        [deployment(broken, id="broken", order=1), deployment(healthy, id="healthy", order=2)],
        routing_strategy="order",
        allowed_fails=2,
        cooldown_time=LONG_COOLDOWN,
        num_retries=1,
    )
    for expected_hits in (1, 2):
        await client.chat(model=GROUP, messages=user("x"))
        assert broken.request_count == expected_hits
        assert by_id(client)["broken"]["cooling_down"] is None
    await client.chat(model=GROUP, messages=user("x"))
    assert broken.request_count == 3
    assert by_id(client)["broken"]["cooling_down"] > LONG_COOLDOWN - 15
    await chat_many(client, 10)
    assert broken.request_count == 3
    assert healthy.request_count == 13


@pytest.mark.parametrize("status", [401, 404, 408, 429])
async def test_these_statuses_cool_a_deployment_at_once(servers, status):
    bad, healthy = servers[:2]
    bad.set_default(failing(status))
    client = router(
        [deployment(bad, id="bad", order=1), deployment(healthy, id="healthy", order=2)],
        routing_strategy="order",
        allowed_fails=5,
        cooldown_time=LONG_COOLDOWN,
        num_retries=1,
    )
    try:
        r = await client.chat(model=GROUP, messages=user("first"))
    except LlmError:
        assert status in (401, 404)  # not retryable: the call may fail, but the cooldown still starts
    else:
        assert r.deployment == "healthy"
    assert by_id(client)["bad"]["cooling_down"] is not None
    responses = await chat_many(client, 10)
    assert {r.deployment for r in responses} == {"healthy"}
    assert bad.request_count == 1


async def test_retryable_failures_move_to_another_deployment_at_once(servers):
    a, b = servers[:2]
    a.set_default(failing(429, **{"Retry-After": "1"}))
    client = router(
        [deployment(a, id="a", order=1), deployment(b, id="b", order=2)], routing_strategy="order", num_retries=1
    )
    r = await client.chat(model=GROUP, messages=user("moved"))
    assert r.deployment == "b"
    assert text(r) == "moved"
    assert hit_order({"a": a, "b": b}) == ["a", "b"]
    assert a.requests[0].body == b.requests[0].body  # the same request, on the other deployment


async def test_num_retries_bounds_the_deployments_tried(servers):
    named = dict(zip("abcd", servers))
    for s in named.values():
        s.set_default(failing(500))
    client = router(
        [deployment(s, id=name) for name, s in named.items()],
        num_retries=2,
        allowed_fails=100,
    )
    with pytest.raises(ServerError):
        await client.chat(model=GROUP, messages=user("x"))
    assert sum(counts(servers)) == 3


async def test_retry_after_longer_than_cooldown_time_keeps_the_deployment_out(servers):
    told, short, healthy = servers[:3]
    told.set_default(rate_limited("30"))
    short.script(rate_limited())  # no Retry-After: cools for cooldown_time only, then answers
    client = router(
        [
            deployment(told, id="told", order=1),
            deployment(short, id="short", order=1),
            deployment(healthy, id="healthy", order=2),
        ],
        routing_strategy="order",
        cooldown_time=1,
        num_retries=2,
    )
    r = await client.chat(model=GROUP, messages=user("x"))
    assert r.deployment == "healthy"
    assert counts([told, short]) == [1, 1]
    left = by_id(client)["told"]["cooling_down"]
    assert left is not None and 28 <= left <= 30
    assert by_id(client)["short"]["cooling_down"] <= 1

    # Once cooldown_time has passed, "short" is back; "told" is still out for its Retry-After.
    await eventually(lambda: by_id(client)["short"]["cooling_down"] is None, what="the 1 s cooldown to end")
    assert by_id(client)["told"]["cooling_down"] > 25
    responses = await chat_many(client, 10)
    assert {r.deployment for r in responses} == {"short"}
    assert told.request_count == 1


async def test_a_group_all_cooling_down_fails_fast_with_the_earliest_retry_after(servers):
    a, b = servers[:2]
    a.set_default(rate_limited("30"))
    b.set_default(rate_limited("20"))
    client = router(
        [deployment(a, id="a"), deployment(b, id="b")],
        num_retries=1,
        client={"max_delay_seconds": 0},
    )
    with pytest.raises(RateLimitedError):
        await client.chat(model=GROUP, messages=user("x"))
    assert counts([a, b]) == [1, 1]

    with pytest.raises(RateLimitedError) as info:
        await client.chat(model=GROUP, messages=user("x"))
    assert info.value.retry_after is not None
    assert 17 <= info.value.retry_after <= 20  # b's, the earliest to return
    assert counts([a, b]) == [1, 1]  # nothing was sent
    assert_no_key(surface(info.value))


async def test_a_group_all_cooling_down_waits_for_the_first_to_return_within_max_delay(servers):
    only = servers[0]
    only.script(failing(500))  # then healthy
    client = router(
        [deployment(only, id="only")],
        allowed_fails=0,
        cooldown_time=1,
        num_retries=0,
        client={"max_delay_seconds": 30},
    )
    with pytest.raises(ServerError):
        await client.chat(model=GROUP, messages=user("x"))
    assert by_id(client)["only"]["cooling_down"] is not None
    r = await client.chat(model=GROUP, messages=user("after the cooldown"))
    assert text(r) == "after the cooldown"
    assert only.request_count == 2


# --------------------------------------------------------------------------------------------
# Fallbacks
# --------------------------------------------------------------------------------------------


async def test_fallbacks_are_tried_in_order_after_the_group(servers):
    a1, a2, b, c = servers
    for s in (a1, a2, b):
        s.set_default(failing(500))
    client = router(
        [
            deployment(a1, id="a1"),
            deployment(a2, id="a2"),
            deployment(b, group="B", id="b"),
            deployment(c, group="C", id="c"),
        ],
        fallbacks=[{GROUP: ["B", "C"]}],
        num_retries=1,
        allowed_fails=100,
    )
    r = await client.chat(model=GROUP, messages=user("last resort"))
    assert text(r) == "last resort"
    assert r.deployment == "c"
    order = hit_order({"a1": a1, "a2": a2, "b": b, "c": c})
    assert sorted(order[:2]) == ["a1", "a2"]
    # B has one deployment: its retry (num_retries=1) is on that same deployment, then C.
    assert order[2:] == ["b", "b", "c"]
    # The fallback deployments got the caller's request, under their own model.
    assert c.requests[0].json["messages"] == user("last resort")


async def test_fallbacks_are_not_used_when_the_group_recovers(servers):
    a1, a2, b = servers[:3]
    a1.set_default(failing(500))
    client = router(
        [
            deployment(a1, id="a1", order=1),
            deployment(a2, id="a2", order=2),
            deployment(b, group="B", id="b"),
        ],
        fallbacks=[{GROUP: ["B"]}],
        routing_strategy="order",
        num_retries=1,
    )
    r = await client.chat(model=GROUP, messages=user("x"))
    assert r.deployment == "a2"
    assert b.request_count == 0


async def test_default_fallbacks_serve_groups_without_their_own(servers):
    a, b, c = servers[:3]
    a.set_default(failing(500))
    client = router(
        [deployment(a, id="a"), deployment(b, group="own", id="b"), deployment(c, group="anywhere", id="c")],
        default_fallbacks=["anywhere"],
        num_retries=0,
    )
    r = await client.chat(model=GROUP, messages=user("x"))
    assert r.deployment == "c"
    assert b.request_count == 0


async def test_when_every_fallback_fails_the_last_error_is_raised(servers):
    a, b = servers[:2]
    a.set_default(failing(500))
    b.set_default(failing(503))
    client = router(
        [deployment(a, id="a"), deployment(b, group="B", id="b")], fallbacks=[{GROUP: ["B"]}], num_retries=0
    )
    with pytest.raises(LlmError) as info:
        await client.chat(model=GROUP, messages=user("x"))
    assert info.value.status_code == 503
    assert counts([a, b]) == [1, 1]


CONTEXT_WINDOW = ss.error_response(
    400,
    "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.",
    type="invalid_request_error",
    code="context_length_exceeded",
)


def content_policy(code: str) -> ss.Handler:
    return ss.error_response(400, "The request was rejected.", type="invalid_request_error", code=code)


def fallback_client(servers, **settings):
    main, regular, special = servers[:3]
    return router(
        [
            deployment(main, id="main"),
            deployment(regular, group="regular", id="regular"),
            deployment(special, group="special", id="special"),
        ],
        fallbacks=[{GROUP: ["regular"]}],
        num_retries=2,
        **settings,
    )


async def test_a_context_window_error_goes_to_the_context_window_fallbacks(servers):
    main, regular, special = servers[:3]
    main.set_default(CONTEXT_WINDOW)
    client = fallback_client(servers, context_window_fallbacks=[{GROUP: ["special"]}])
    r = await client.chat(model=GROUP, messages=user("a very long prompt"))
    assert r.deployment == "special"
    assert text(r) == "a very long prompt"
    assert counts([main, regular, special]) == [1, 0, 1]


@pytest.mark.parametrize("code", ["content_policy_violation", "content_filter"])
async def test_a_content_policy_refusal_goes_to_the_content_policy_fallbacks(servers, code):
    main, regular, special = servers[:3]
    main.set_default(content_policy(code))
    client = fallback_client(servers, content_policy_fallbacks=[{GROUP: ["special"]}])
    r = await client.chat(model=GROUP, messages=user("edgy"))
    assert r.deployment == "special"
    assert counts([main, regular, special]) == [1, 0, 1]


async def test_a_context_window_error_is_not_sent_to_the_content_policy_fallbacks(servers):
    main, regular, special = servers[:3]
    main.set_default(CONTEXT_WINDOW)
    client = fallback_client(servers, content_policy_fallbacks=[{GROUP: ["special"]}])
    try:
        await client.chat(model=GROUP, messages=user("long"))
    except ContextWindowExceededError:
        pass  # raising it, or trying the regular fallbacks, are both fine
    assert special.request_count == 0


async def test_a_content_policy_error_is_not_retried_on_the_same_group(servers):
    a1, a2 = servers[:2]
    for s in (a1, a2):
        s.set_default(content_policy("content_policy_violation"))
    client = router([deployment(a1, id="a1"), deployment(a2, id="a2")], num_retries=3)
    with pytest.raises(ContentPolicyError):
        await client.chat(model=GROUP, messages=user("x"))
    assert sum(counts([a1, a2])) == 1


# --------------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------------


def stream_client(first, second):
    return router(
        [deployment(first, id="first", order=1), deployment(second, id="second", order=2)],
        routing_strategy="order",
        num_retries=1,
    )


async def test_a_stream_fails_over_before_its_first_chunk(servers):
    first, second = servers[:2]
    first.set_default(failing(500))
    client = stream_client(first, second)
    stream = await client.chat_stream(model=GROUP, messages=user("streamed after failover"))
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed after failover"
    assert stream.deployment == "second"
    assert counts([first, second]) == [1, 1]


async def test_a_stream_cut_after_its_first_chunk_is_not_failed_over(servers):
    first, second = servers[:2]
    head = [ss.sse_event(ss.chunk("", role="assistant")), ss.sse_event(ss.chunk("Hel"))]
    first.script(ss.sse_response(head, end="cut"))
    client = stream_client(first, second)
    stream = await client.chat_stream(model=GROUP, messages=user("x"))
    got = []
    with pytest.raises(StreamingError):
        async for c in stream:
            got.append(c)
    assert "".join(c.choices[0].delta.content or "" for c in got if c.choices) == "Hel"
    assert stream.deployment == "first"
    assert second.request_count == 0
    assert first.request_count == 1


async def test_a_stream_with_a_429_before_its_first_chunk_moves_on(servers):
    first, second = servers[:2]
    first.set_default(rate_limited("5"))
    client = stream_client(first, second)
    stream = await client.chat_stream(model=GROUP, messages=user("moved"))
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "moved"
    assert stream.deployment == "second"
    assert by_id(client)["first"]["cooling_down"] is not None
