"""How a group's deployments are picked: weights, order, least-busy, latency- and usage-based
routing, per-deployment rpm, sessions; and every entry point (streams, embeddings, batches, the
CLI) routing through a group."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import scenario_server as ss
from conftest import eventually, user
from liter_llm import RateLimitedError
from routing_support import EMBEDDING_BODY, GROUP, chat_many, counts, deployment, failing, router, stream_text, text

# --------------------------------------------------------------------------------------------
# simple-shuffle
# --------------------------------------------------------------------------------------------

# With n calls and a true share p, the observed share has standard deviation sqrt(p(1-p)/n):
# for n=2000 that is at most 1.12 points, so a 5-point band is more than 4.4 sigma wide
# (a false failure about once in 100,000 runs) and still tells 1:3 from 1:1 or 1:2.
SPLIT_CALLS = 2000
SPLIT_BAND = 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    ("params_a", "params_b", "share_b"),
    [
        pytest.param({"weight": 1}, {"weight": 3}, 0.75, id="weights-1-3"),
        # Without weights, rpm sets the split (limits high enough never to be reached here).
        pytest.param({"rpm": 1_000_000}, {"rpm": 3_000_000}, 0.75, id="by-rpm"),
        pytest.param({}, {}, 0.5, id="uniform"),
    ],
)
async def test_simple_shuffle_splits_traffic_by_weight(servers, params_a, params_b, share_b):
    a, b = servers[:2]
    client = router([deployment(a, id="a", **params_a), deployment(b, id="b", **params_b)])
    responses = await chat_many(client, SPLIT_CALLS, concurrency=8)
    assert all(text(r) == f"ask {i}" for i, r in enumerate(responses))
    assert a.request_count + b.request_count == SPLIT_CALLS
    observed = b.request_count / SPLIT_CALLS
    assert abs(observed - share_b) <= SPLIT_BAND, f"b got {observed:.3f}, expected {share_b} +- {SPLIT_BAND}"
    assert sum(r.deployment == "b" for r in responses) == b.request_count


@pytest.mark.slow
async def test_lm_deluge_shape_a_group_of_different_models_with_weights(servers):
    a, b = servers[:2]
    client = router(
        [
            deployment(a, id="mini", model="openai/gpt-4o-mini", weight=0.75),
            deployment(b, id="big", model="openai/gpt-4o", weight=0.25),
        ]
    )
    responses = await chat_many(client, SPLIT_CALLS, concurrency=8)
    assert {rec.json["model"] for rec in a.requests} == {"gpt-4o-mini"}
    assert {rec.json["model"] for rec in b.requests} == {"gpt-4o"}
    assert abs(b.request_count / SPLIT_CALLS - 0.25) <= SPLIT_BAND
    for r in responses:
        assert r.model == ("gpt-4o" if r.deployment == "big" else "gpt-4o-mini")


# --------------------------------------------------------------------------------------------
# order
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["order", "simple-shuffle", "least-busy"])
async def test_lower_order_is_tried_first_and_order_two_only_on_failure(servers, strategy):
    first, second, third = servers[:3]
    client = router(
        [
            deployment(third, id="third", order=3),
            deployment(first, id="first", order=1),
            deployment(second, id="second", order=2),
        ],
        routing_strategy=strategy,
        num_retries=2,
    )
    responses = await chat_many(client, 20)
    assert {r.deployment for r in responses} == {"first"}
    assert counts([first, second, third]) == [20, 0, 0]

    first.set_default(failing(500))
    r = await client.chat(model=GROUP, messages=user("falls through"))
    assert text(r) == "falls through"
    assert r.deployment == "second"
    assert counts([first, second, third]) == [21, 1, 0]


async def test_equal_orders_share_the_traffic(servers):
    a, b, c = servers[:3]
    client = router(
        [deployment(a, id="a", order=1), deployment(b, id="b", order=1), deployment(c, id="c", order=2)],
        routing_strategy="order",
    )
    await chat_many(client, 60, concurrency=4)
    assert c.request_count == 0
    assert a.request_count > 0 and b.request_count > 0  # 2**-59 odds of a miss


# --------------------------------------------------------------------------------------------
# least-busy
# --------------------------------------------------------------------------------------------


async def test_least_busy_sends_new_calls_to_the_deployment_with_fewer_in_flight(servers):
    stuck, free = servers[:2]
    stuck.set_default(ss.hang())
    client = router([deployment(stuck, id="stuck"), deployment(free, id="free")], routing_strategy="least-busy")

    # Start calls one at a time until one of them is held by the hanging deployment (calls that
    # land on the free one finish at once). Ties go either way, so this takes a few calls at most.
    held: asyncio.Task | None = None
    for i in range(60):
        task = asyncio.create_task(client.chat(model=GROUP, messages=user(f"probe {i}")))
        await eventually(lambda t=task: t.done() or stuck.request_count > 0, what="the probe to finish or hang")
        if stuck.request_count > 0:
            held = task
            break
        assert text(task.result()) == f"probe {i}"
    assert held is not None, "no call reached the hanging deployment in 60 tries"
    try:
        by_id = {d["id"]: d for d in client.deployments}
        assert by_id["stuck"]["in_flight"] == 1
        free_before = free.request_count
        responses = await chat_many(client, 20)
        assert {r.deployment for r in responses} == {"free"}
        assert stuck.request_count == 1
        assert free.request_count == free_before + 20
    finally:
        held.cancel()
        await asyncio.gather(held, return_exceptions=True)
    await eventually(lambda: all(d["in_flight"] == 0 for d in client.deployments), what="in_flight back to 0")


# --------------------------------------------------------------------------------------------
# latency-based and usage-based
# --------------------------------------------------------------------------------------------


async def test_latency_based_routing_prefers_the_fast_deployment_after_warm_up(servers):
    slow, fast = servers[:2]
    slow.set_default(ss.slow_headers(0.2))
    client = router(
        [deployment(slow, id="slow"), deployment(fast, id="fast")], routing_strategy="latency-based-routing"
    )
    await chat_many(client, 20)
    assert slow.request_count >= 1, "the warm-up never measured the slow deployment"
    slow_before, fast_before = slow.request_count, fast.request_count
    responses = await chat_many(client, 50)
    to_fast = sum(r.deployment == "fast" for r in responses)
    assert to_fast == fast.request_count - fast_before
    assert to_fast >= 40, f"only {to_fast} of 50 calls went to the fast deployment"
    assert slow.request_count - slow_before == 50 - to_fast


async def test_usage_based_routing_balances_use_of_equal_limits(servers):
    a, b = servers[:2]
    client = router(
        [deployment(a, id="a", rpm=600_000), deployment(b, id="b", rpm=600_000)],
        routing_strategy="usage-based-routing",
    )
    await chat_many(client, 60)
    # Always the lower share: the counts stay within one of each other (two across a minute's turn).
    assert abs(a.request_count - b.request_count) <= 2, counts([a, b])


async def test_usage_based_routing_fills_deployments_in_proportion_to_their_limits(servers):
    a, b = servers[:2]
    client = router(
        [deployment(a, id="a", rpm=900_000), deployment(b, id="b", rpm=300_000)],
        routing_strategy="usage-based-routing",
    )
    await chat_many(client, 80)
    assert abs(a.request_count - 60) <= 3, counts([a, b])


# --------------------------------------------------------------------------------------------
# Per-deployment limits
# --------------------------------------------------------------------------------------------


async def test_a_deployment_at_its_rpm_is_passed_over(servers):
    limited, open_ = servers[:2]
    client = router(
        [deployment(limited, id="limited", rpm=2, weight=1), deployment(open_, id="open", weight=1)],
        client={"max_delay_seconds": 0},
    )
    responses = await chat_many(client, 10)
    assert [text(r) for r in responses] == [f"ask {i}" for i in range(10)]
    assert limited.request_count <= 2
    assert limited.request_count + open_.request_count == 10


# --------------------------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------------------------


async def test_a_session_stays_on_one_deployment_and_moves_only_when_it_fails(servers):
    a, b, c = servers[:3]
    named = {"a": a, "b": b, "c": c}
    client = router(
        [deployment(s, id=name, weight=1) for name, s in named.items()],
        allowed_fails=0,
        cooldown_time=60,
        num_retries=2,
    )
    first = [await client.chat(model=GROUP, messages=user(f"turn {i}"), session="conv-1") for i in range(20)]
    (home,) = {r.deployment for r in first}
    assert named[home].request_count == 20
    assert sum(counts(servers[:3])) == 20
    for rec in named[home].requests:
        assert "session" not in rec.json  # not sent to the provider

    named[home].set_default(failing(500))
    later = [await client.chat(model=GROUP, messages=user(f"later {i}"), session="conv-1") for i in range(20)]
    assert [text(r) for r in later] == [f"later {i}" for i in range(20)]
    (new_home,) = {r.deployment for r in later}
    assert new_home != home
    assert named[home].request_count == 21  # one failed attempt, then never again
    assert named[new_home].request_count == 20


async def test_different_sessions_spread_over_the_deployments(servers):
    named = dict(zip("abc", servers[:3]))
    client = router([deployment(s, id=name, weight=1) for name, s in named.items()])
    homes = set()
    for conv in range(30):
        responses = [await client.chat(model=GROUP, messages=user("x"), session=f"conv-{conv}") for _ in range(3)]
        (home,) = {r.deployment for r in responses}
        homes.add(home)
    assert len(homes) >= 2  # 3 * 3**-30 odds of a miss


# --------------------------------------------------------------------------------------------
# Entry points: streams, embeddings, batches, usage
# --------------------------------------------------------------------------------------------


async def test_streams_are_routed_and_say_which_deployment_answered(servers):
    a, b = servers[:2]
    client = router([deployment(a, id="a"), deployment(b, id="b")])
    seen = set()
    for i in range(20):
        stream = await client.chat_stream(model=GROUP, messages=user(f"stream number {i}"))
        chunks = [c async for c in stream]
        assert stream_text(chunks) == f"stream number {i}"
        seen.add(stream.deployment)
    assert seen == {"a", "b"}
    assert a.request_count + b.request_count == 20
    for rec in a.requests + b.requests:
        assert rec.json["stream"] is True


async def test_embeddings_are_routed_through_a_group(servers):
    a, b = servers[:2]
    for s in (a, b):
        s.set_default(ss.json_response(EMBEDDING_BODY))
    client = router([deployment(a, id="a", group="embed"), deployment(b, id="b", group="embed")])
    responses = [await client.embed(model="embed", input=f"text {i}", encoding_format="float") for i in range(30)]
    assert {r.deployment for r in responses} == {"a", "b"}
    assert a.request_count + b.request_count == 30
    for rec in a.requests + b.requests:
        assert rec.path == "/v1/embeddings"
    assert responses[0].data[0].embedding == pytest.approx([0.6, 0.8])
    assert sum(r.deployment == "a" for r in responses) == a.request_count


async def test_chat_batch_over_a_group_spreads_over_its_deployments(servers):
    a, b, c = servers[:3]
    client = router([deployment(s, id=name) for name, s in zip("abc", (a, b, c))])
    requests = [{"model": GROUP, "messages": user(f"item {i}")} for i in range(60)]
    results = await client.chat_batch(requests, max_concurrency=8)
    assert [text(r) for r in results] == [f"item {i}" for i in range(60)]
    assert all(n > 0 for n in counts([a, b, c])), counts([a, b, c])
    assert sum(counts([a, b, c])) == 60
    assert {r.deployment for r in results} == {"a", "b", "c"}


async def test_chat_batch_items_fail_over_within_the_group(servers):
    a, b = servers[:2]
    a.set_default(failing(500))
    client = router([deployment(a, id="a"), deployment(b, id="b")], num_retries=1, allowed_fails=1000)
    results = await client.chat_batch([{"model": GROUP, "messages": user(f"{i}")} for i in range(20)])
    assert all(r.deployment == "b" for r in results)
    assert b.request_count == 20


async def test_usage_is_broken_down_by_deployment(servers):
    a, b = servers[:2]
    client = router([deployment(a, id="a"), deployment(b, id="b")])
    responses = await chat_many(client, 40)
    per_deployment = client.usage.per_deployment
    per_deployment = per_deployment() if callable(per_deployment) else per_deployment
    assert set(per_deployment) == {"a", "b"}
    for name, server in (("a", a), ("b", b)):
        stats = per_deployment[name]
        mine = [r for r in responses if r.deployment == name]
        assert stats["calls"] == server.request_count == len(mine)
        assert stats["total_tokens"] == sum(r.usage.total_tokens for r in mine)
    assert "per_deployment" in client.usage.details
    assert client.usage.calls == 40


async def test_usage_counts_a_failed_attempt_against_its_deployment(servers):
    a, b = servers[:2]
    a.set_default(failing(500))
    client = router(
        [deployment(a, id="a", order=1), deployment(b, id="b", order=2)], routing_strategy="order", num_retries=1
    )
    await client.chat(model=GROUP, messages=user("x"))
    per_deployment = client.usage.per_deployment
    per_deployment = per_deployment() if callable(per_deployment) else per_deployment
    assert per_deployment["a"]["failures"] >= 1
    assert per_deployment["b"]["calls"] == 1 and per_deployment["b"]["failures"] == 0


# --------------------------------------------------------------------------------------------
# The CLI
# --------------------------------------------------------------------------------------------


def _cli_has_config() -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", "liter_llm", "batch", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    return "--config" in proc.stdout


def test_cli_batch_routes_through_a_config_file(servers, tmp_path: Path):
    if not _cli_has_config():
        pytest.skip("liter-llm batch has no --config option in this build")
    a, b = servers[:2]
    config = {"model_list": [deployment(a, id="a", key="k-a"), deployment(b, id="b", key="k-b")]}
    (tmp_path / "config.json").write_text(json.dumps(config))
    rows = [
        {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": GROUP, "messages": user(f"q {i}")},
        }
        for i in range(30)
    ]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "liter_llm",
            "batch",
            "in.jsonl",
            "-o",
            "out.jsonl",
            "--config",
            "config.json",
            "--no-progress",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["custom_id"] for r in out) == sorted(f"req-{i}" for i in range(30))
    assert all(r["error"] is None for r in out)
    assert a.request_count > 0 and b.request_count > 0
    assert a.request_count + b.request_count == 30
    assert {rec.headers["authorization"] for rec in a.requests} == {"Bearer k-a"}
    assert {rec.headers["authorization"] for rec in b.requests} == {"Bearer k-b"}
    assert "k-a" not in proc.stderr and "k-b" not in proc.stderr


# --------------------------------------------------------------------------------------------
# Every endpoint accepts a group (against two built-in mock providers, which serve them all)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _two_mocks():
    from liter_llm.testing import MockServer

    with MockServer() as one, MockServer() as two:
        yield one, two


@pytest.fixture
def mocks(_two_mocks):
    for m in _two_mocks:
        m.reset()
    yield _two_mocks


def mock_deployment(mock, *, id: str, model: str) -> dict:
    return {
        "model_name": "any",
        "litellm_params": {"model": model, "api_key": "sk-mock", "api_base": mock.base_url},
        "model_info": {"id": id},
    }


ENDPOINTS = {
    "moderate": ("openai/omni-moderation-latest", "/v1/moderations", lambda c: c.moderate(model="any", input="hi")),
    "image_generate": (
        "openai/dall-e-2",
        "/v1/images/generations",
        lambda c: c.image_generate(model="any", prompt="a cat"),
    ),
    "rerank": (
        "openai/rerank-v3",
        "/v1/rerank",
        lambda c: c.rerank(model="any", query="cats", documents=["cats purr", "dogs bark"]),
    ),
    "create_response": ("openai/gpt-4o-mini", "/v1/responses", lambda c: c.create_response(model="any", input="hi")),
    "embed_batch": (
        "openai/text-embedding-3-small",
        "/v1/embeddings",
        lambda c: c.embed_batch(["a", "b"], model="any", batch_size=1),
    ),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_every_endpoint_routes_through_a_group(mocks, endpoint):
    model, path, call = ENDPOINTS[endpoint]
    one, two = mocks
    client = router([mock_deployment(one, id="one", model=model), mock_deployment(two, id="two", model=model)])
    for _ in range(12):
        await call(client)
    sent = one.requests() + two.requests()
    assert one.request_count > 0 and two.request_count > 0  # 2**-11 odds of a miss
    assert {r["path"] for r in sent} == {path}
    assert {r["json"]["model"] for r in sent} == {model.split("/", 1)[1]}
    assert {r["headers"]["authorization"] for r in sent} == {"Bearer sk-mock"}


def test_chat_batch_sync_routes_through_a_group(mocks):
    one, two = mocks
    client = router(
        [
            mock_deployment(one, id="one", model="openai/gpt-4o-mini"),
            mock_deployment(two, id="two", model="openai/gpt-4o"),
        ]
    )
    results = client.chat_batch_sync([{"model": "any", "messages": user(f"{i}")} for i in range(30)])
    assert [text(r) for r in results] == [f"{i}" for i in range(30)]
    assert {r.deployment for r in results} == {"one", "two"}
    assert {r["json"]["model"] for r in two.requests()} == {"gpt-4o"}


async def test_chat_as_completed_routes_through_a_group(mocks):
    one, two = mocks
    client = router(
        [
            mock_deployment(one, id="one", model="openai/gpt-4o-mini"),
            mock_deployment(two, id="two", model="openai/gpt-4o"),
        ]
    )
    seen = {}
    async for i, r in client.chat_as_completed([{"model": "any", "messages": user(f"{i}")} for i in range(30)]):
        seen[i] = r
    assert sorted(seen) == list(range(30))
    assert {r.deployment for r in seen.values()} == {"one", "two"}
    assert one.request_count + two.request_count == 30


# --------------------------------------------------------------------------------------------
# A group with no room
# --------------------------------------------------------------------------------------------


async def test_a_group_at_its_limits_fails_fast_when_it_may_not_wait(servers):
    only = servers[0]
    client = router([deployment(only, id="only", rpm=1)], client={"max_delay_seconds": 0})
    await client.chat(model=GROUP, messages=user("first"))
    with pytest.raises(RateLimitedError) as info:
        await client.chat(model=GROUP, messages=user("second"))
    # A minute's window plus the limiter's jitter margin (a fraction of a second).
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 61
    assert only.request_count == 1
