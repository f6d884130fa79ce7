"""The response cache seen from Python: keys, directives, in-flight de-duplication, stream
replay, per-item embeddings, accounting and callbacks, against the mock provider counting
requests."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from conftest import API_KEY, user
from liter_llm import Cache, LlmClient
from liter_llm.testing import MockServer

MODEL = "gpt-4o-mini"
EMBED = "text-embedding-3-small"


@pytest.fixture
def cached(mock_server, make_client):
    return make_client(mock_server.base_url, cache="memory")


async def twice(client: LlmClient, first: dict[str, Any], second: dict[str, Any]) -> tuple[Any, Any]:
    a = await client.chat(model=MODEL, **first)
    b = await client.chat(model=MODEL, **second)
    return a, b


async def test_the_same_request_twice_makes_one_upstream_call(cached, mock_server):
    first = await cached.chat(model=MODEL, messages=user("hello cache"), temperature=0)
    second = await cached.chat(model=MODEL, messages=user("hello cache"), temperature=0)
    assert mock_server.request_count == 1
    assert (first.cache_hit, second.cache_hit) == (False, True)
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.usage.total_tokens == first.usage.total_tokens > 0
    assert second.cost == 0.0
    assert second.request_id is None
    assert cached.cache.stats()["hits"] == 1


IMAGE_A = "data:image/png;base64," + base64.b64encode(b"\x89PNG first image").decode()
IMAGE_B = "data:image/png;base64," + base64.b64encode(b"\x89PNG other image").decode()


def picture(url: str) -> list[dict[str, Any]]:
    return [
        {
            "role": "user",
            "content": [{"type": "text", "text": "what is this"}, {"type": "image_url", "image_url": {"url": url}}],
        }
    ]


TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
OTHER_TOOL = {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {}}}}

# One case per family of fields that change the answer: (base kwargs, changed kwargs).
CHANGES = {
    "messages": ({"messages": user("a")}, {"messages": user("b")}),
    "role": (
        {"messages": [{"role": "user", "content": "x"}]},
        {"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "x"}]},
    ),
    "temperature": ({"temperature": 0.2}, {"temperature": 0.7}),
    "top_p": ({"top_p": 0.5}, {"top_p": 0.9}),
    "seed": ({"seed": 1}, {"seed": 2}),
    "n": ({"n": 1}, {"n": 2}),
    "max_tokens": ({"max_tokens": 10}, {"max_tokens": 11}),
    "stop": ({"stop": ["x"]}, {"stop": ["y"]}),
    "logprobs": ({}, {"logprobs": True}),
    "penalties": ({"presence_penalty": 0.0}, {"presence_penalty": 0.5}),
    "tools": ({"tools": [TOOL]}, {"tools": [OTHER_TOOL]}),
    "tool_choice": ({"tools": [TOOL], "tool_choice": "auto"}, {"tools": [TOOL], "tool_choice": "required"}),
    "response_format": ({}, {"response_format": {"type": "json_object"}}),
    "schema": (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}},
        {"response_format": {"type": "json_schema", "json_schema": {"name": "b", "schema": {"type": "object"}}}},
    ),
    "reasoning": ({"reasoning_effort": "low"}, {"reasoning_effort": "high"}),
    "image bytes": ({"messages": picture(IMAGE_A)}, {"messages": picture(IMAGE_B)}),
    "beta header": ({"extra_headers": {"anthropic-beta": "a"}}, {"extra_headers": {"anthropic-beta": "b"}}),
}


@pytest.mark.parametrize("family", sorted(CHANGES))
async def test_changing_a_key_field_makes_a_new_call(cached, mock_server, family):
    base, changed = CHANGES[family]
    base = {"messages": user("same"), **base}
    changed = {"messages": user("same"), **changed}
    a, b = await twice(cached, base, changed)
    assert mock_server.request_count == 2, family
    assert not b.cache_hit
    again = await cached.chat(model=MODEL, **changed)
    assert again.cache_hit and mock_server.request_count == 2


# Fields that never change the answer: the second call is a hit.
SAME = {
    "user": ({"user": "alice"}, {"user": "bob"}),
    "metadata": ({"metadata": {"run": 1}}, {"metadata": {"run": 2}}),
    "timeouts": ({"total_timeout": 30}, {"total_timeout": 60}),
    "tracing header": ({"extra_headers": {"x-trace-id": "1"}}, {"extra_headers": {"x-trace-id": "2"}}),
    "key order": (
        {"response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {"type": "object"}}}},
        {"response_format": {"json_schema": {"schema": {"type": "object"}, "name": "a"}, "type": "json_schema"}},
    ),
    "integral floats": ({"temperature": 1}, {"temperature": 1.0}),
}


@pytest.mark.parametrize("family", sorted(SAME))
async def test_fields_that_do_not_change_the_answer_are_not_in_the_key(cached, mock_server, family):
    base, other = SAME[family]
    a, b = await twice(cached, {"messages": user("same"), **base}, {"messages": user("same"), **other})
    assert mock_server.request_count == 1, family
    assert b.cache_hit


async def test_model_and_provider_are_in_the_key(mock_server, make_client):
    cache = Cache("memory")
    with MockServer() as other_server:
        here = make_client(mock_server.base_url, cache=cache)
        there = make_client(other_server.base_url, cache=cache)
        await here.chat(model=MODEL, messages=user("q"))
        assert not (await here.chat(model="gpt-4o", messages=user("q"))).cache_hit
        assert not (await there.chat(model=MODEL, messages=user("q"))).cache_hit
        assert (await there.chat(model=MODEL, messages=user("q"))).cache_hit
        assert (mock_server.request_count, other_server.request_count) == (2, 1)


async def test_no_cache_no_store_namespace_and_bypass(cached, mock_server):
    await cached.chat(model=MODEL, messages=user("d"), cache={"no-store": True})
    assert not (await cached.chat(model=MODEL, messages=user("d"))).cache_hit
    assert mock_server.request_count == 2
    fresh = await cached.chat(model=MODEL, messages=user("d"), cache={"no-cache": True})
    assert not fresh.cache_hit and mock_server.request_count == 3
    assert not (await cached.chat(model=MODEL, messages=user("d"), cache=False)).cache_hit
    assert mock_server.request_count == 4
    for _ in range(2):
        await cached.chat(model=MODEL, messages=user("d"), cache={"namespace": "eval-7"})
    assert mock_server.request_count == 5
    hit = await cached.chat(model=MODEL, messages=user("d"), cache={"namespace": "eval-7", "no_store": True})
    assert hit.cache_hit


async def test_ttl_and_s_maxage_expire_entries(cached, mock_server):
    await cached.chat(model=MODEL, messages=user("t"), cache={"ttl": 0.3})
    assert (await cached.chat(model=MODEL, messages=user("t"))).cache_hit

    async def expired() -> bool:
        r = await cached.chat(model=MODEL, messages=user("t"), cache={"no-store": True})
        return not r.cache_hit

    deadline = asyncio.get_running_loop().time() + 10
    while not await expired():
        assert asyncio.get_running_loop().time() < deadline, "the entry never expired"
        await asyncio.sleep(0.05)
    await cached.chat(model=MODEL, messages=user("s"))
    assert (await cached.chat(model=MODEL, messages=user("s"), cache={"s-maxage": 60})).cache_hit
    loop = asyncio.get_running_loop()
    start = loop.time()
    while loop.time() - start < 0.05:
        await asyncio.sleep(0.01)
    assert not (await cached.chat(model=MODEL, messages=user("s"), cache={"s-maxage": 0.01})).cache_hit


async def test_a_cache_level_ttl_applies_to_every_entry(mock_server, make_client):
    client = make_client(mock_server.base_url, cache=Cache("memory", ttl=0.2))
    await client.chat(model=MODEL, messages=user("x"))
    deadline = asyncio.get_running_loop().time() + 10
    while (await client.chat(model=MODEL, messages=user("x"), cache={"no-store": True})).cache_hit:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert client.cache.ttl == 0.2


async def test_a_hundred_identical_concurrent_calls_make_one_upstream_call(make_client):
    with MockServer(latency_ms=200) as server:
        client = make_client(server.base_url, cache="memory")
        answers = await asyncio.gather(*(client.chat(model=MODEL, messages=user("same")) for _ in range(100)))
        assert server.request_count == 1
        assert {a.choices[0].message.content for a in answers} == {"same"}
        assert sum(a.cache_hit for a in answers) == 99
        stats = client.cache.stats()
        assert stats["joined"] + stats["hits"] == 99


async def test_waiting_calls_get_the_leaders_error_which_is_not_stored(make_client):
    with MockServer(latency_ms=200) as server:
        server.push_faults([{"status": 400}])
        client = make_client(server.base_url, cache="memory")
        results = await asyncio.gather(
            *(client.chat(model=MODEL, messages=user("x")) for _ in range(10)), return_exceptions=True
        )
        assert server.request_count == 1
        assert all(type(r).__name__ == "BadRequestError" for r in results)
        assert not (await client.chat(model=MODEL, messages=user("x"))).cache_hit
        assert server.request_count == 2


async def test_a_cancelled_leader_lets_the_others_go_on(make_client):
    with MockServer(latency_ms=300) as server:
        client = make_client(server.base_url, cache="memory")
        leader = asyncio.ensure_future(client.chat(model=MODEL, messages=user("x")))
        deadline = asyncio.get_running_loop().time() + 10
        while server.request_count < 1:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        follower = asyncio.ensure_future(client.chat(model=MODEL, messages=user("x")))
        await asyncio.sleep(0)
        leader.cancel()
        answer = await follower
        assert answer.choices[0].message.content == "x"
        assert server.request_count == 2


async def collect(stream) -> list[Any]:
    return [chunk async for chunk in stream]


async def test_a_stream_replays_chunk_for_chunk(make_client):
    with MockServer(stream_chunks=5) as server:
        client = make_client(server.base_url, cache="memory")
        words = user("one two three four five six")
        live = await client.chat_stream(model=MODEL, messages=words, stream_options={"include_usage": True})
        original = await collect(live)
        assert not live.cache_hit
        replay = await client.chat_stream(model=MODEL, messages=words, stream_options={"include_usage": True})
        again = await collect(replay)
        assert replay.cache_hit
        assert [c.to_dict() for c in again] == [c.to_dict() for c in original]
        assert len(again) >= 5
        whole = await client.chat(model=MODEL, messages=words)
        assert whole.cache_hit
        assert whole.choices[0].message.content == "one two three four five six"
        assert server.request_count == 1


async def test_a_plain_answer_serves_a_stream(cached, mock_server):
    plain = await cached.chat(model=MODEL, messages=user("plain first"))
    stream = await cached.chat_stream(model=MODEL, messages=user("plain first"))
    chunks = await collect(stream)
    assert stream.cache_hit
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    assert chunks[-1].usage.total_tokens == plain.usage.total_tokens
    assert mock_server.request_count == 1


async def test_a_cut_stream_is_not_stored(cached, mock_server):
    mock_server.push_faults([{"cut_after": 1}])
    stream = await cached.chat_stream(model=MODEL, messages=user("a b c d"))
    with pytest.raises(Exception, match="stream"):
        await collect(stream)
    second = await cached.chat_stream(model=MODEL, messages=user("a b c d"))
    await collect(second)
    assert not second.cache_hit
    assert mock_server.request_count == 2


async def test_a_stream_dropped_early_is_not_stored(make_client):
    with MockServer(chunk_delay_ms=50) as server:
        cached = make_client(server.base_url, cache="memory")
        stream = await cached.chat_stream(model=MODEL, messages=user("a b c d"))
        await stream.__anext__()
        await stream.aclose()
        again = await cached.chat_stream(model=MODEL, messages=user("a b c d"))
        await collect(again)
        assert not again.cache_hit and server.request_count == 2
        assert (await cached.chat(model=MODEL, messages=user("a b c d"))).cache_hit


async def test_embeddings_send_only_the_new_inputs(cached, mock_server):
    first = await cached.embed(model=EMBED, input=[f"text {i}" for i in range(100)])
    inputs = [f"text {i}" for i in range(97)] + ["new a", "new b", "new c"]
    mixed = await cached.embed(model=EMBED, input=inputs)
    sent = mock_server.requests()
    assert len(sent) == 2
    assert sent[1]["json"]["input"] == ["new a", "new b", "new c"]
    assert [d.index for d in mixed.data] == list(range(100))
    assert mixed.data[5].embedding == first.data[5].embedding
    assert not mixed.cache_hit
    single = await cached.embed(model=EMBED, input="new b")
    assert single.cache_hit and single.data[0].embedding == mixed.data[98].embedding
    assert mock_server.request_count == 2
    other_dims = await cached.embed(model=EMBED, input="new b", dimensions=8)
    assert not other_dims.cache_hit and mock_server.request_count == 3


async def test_embed_batch_uses_the_cache_per_item(cached, mock_server):
    await cached.embed_batch([f"x{i}" for i in range(10)], model=EMBED, batch_size=4)
    assert mock_server.request_count == 3
    again = await cached.embed_batch([f"x{i}" for i in range(10)], model=EMBED, batch_size=4)
    assert again.cache_hit and mock_server.request_count == 3
    fresh = await cached.embed_batch(["x1"], model=EMBED, cache={"no-cache": True})
    assert not fresh.cache_hit and mock_server.request_count == 4


async def test_usage_counts_hits_apart_and_charges_them_nothing(cached):
    first = await cached.chat(model=MODEL, messages=user("count me"))
    for _ in range(3):
        await cached.chat(model=MODEL, messages=user("count me"))
    usage = cached.usage
    assert usage.calls == 1
    assert usage.cache_hits == 3
    assert usage.total_tokens == first.usage.total_tokens
    assert usage.cache_saved_tokens == 3 * first.usage.total_tokens
    assert usage.cache_saved_cost == pytest.approx(3 * first.cost)
    assert usage.per_model[MODEL]["cache_hits"] == 3


async def test_callbacks_see_the_hit(mock_server, make_client):
    events = []
    client = make_client(mock_server.base_url, cache="memory", callbacks=[events.append])
    await client.chat(model=MODEL, messages=user("cb"))
    await client.chat(model=MODEL, messages=user("cb"))
    await collect(await client.chat_stream(model=MODEL, messages=user("cb")))
    await client.embed(model=EMBED, input="cb")
    await client.embed(model=EMBED, input="cb")
    assert [(e.endpoint, e.cache_hit) for e in events] == [
        ("chat", False),
        ("chat", True),
        ("chat", True),
        ("embeddings", False),
        ("embeddings", True),
    ]
    assert events[1].total_tokens == events[0].total_tokens and events[1].cost == 0.0


async def test_with_options_keeps_or_drops_the_cache(cached, mock_server):
    await cached.chat(model=MODEL, messages=user("w"))
    same = cached.with_options(timeout=5)
    assert (await same.chat(model=MODEL, messages=user("w"))).cache_hit
    none = cached.with_options(cache=False)
    assert none.cache is None
    assert not (await none.chat(model=MODEL, messages=user("w"))).cache_hit
    own = cached.with_options(cache="memory")
    assert not (await own.chat(model=MODEL, messages=user("w"))).cache_hit


async def test_one_cache_object_serves_several_clients(mock_server):
    shared = Cache("memory", namespace="team")
    a = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=shared)
    b = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=shared)
    await a.chat(model=MODEL, messages=user("share"))
    assert (await b.chat(model=MODEL, messages=user("share"))).cache_hit
    assert b.cache.namespace == "team"
    await shared.clear()
    assert not (await b.chat(model=MODEL, messages=user("share"))).cache_hit


async def test_memory_respects_max_bytes(mock_server, make_client):
    client = make_client(mock_server.base_url, cache=Cache("memory", max_bytes=64 * 1024))
    for i in range(200):
        await client.chat(model=MODEL, messages=user(f"entry {i} " + "x" * 500))
    hits = 0
    for i in range(200):
        r = await client.chat(model=MODEL, messages=user(f"entry {i} " + "x" * 500), cache={"no-store": True})
        hits += r.cache_hit
    assert 0 < hits < 200, "older entries were evicted to stay within max_bytes"
    assert (await client.chat(model=MODEL, messages=user("entry 199 " + "x" * 500))).cache_hit


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"no-cache": "yes"}, TypeError),
        ({"ttl": "10"}, TypeError),
        ({"ttl": -1}, ValueError),
        ({"s-maxage": float("nan")}, ValueError),
        ({"namespace": 7}, TypeError),
        ({"bogus": 1}, ValueError),
        ("yes", TypeError),
    ],
)
async def test_bad_call_directives_fail_before_sending(cached, mock_server, value, error):
    with pytest.raises(error):
        await cached.chat(model=MODEL, messages=user("x"), cache=value)
    with pytest.raises(error):
        await cached.embed(model=EMBED, input="x", cache=value)
    assert mock_server.request_count == 0


@pytest.mark.parametrize(
    ("url", "error"),
    [("memcached://x", ValueError), ("sqlite://", ValueError), (7, TypeError), ("", ValueError)],
)
def test_bad_cache_urls_fail_at_construction(url, error):
    with pytest.raises(error):
        LlmClient(api_key=API_KEY, cache=url)


def test_bad_cache_options_fail_at_construction():
    with pytest.raises(ValueError):
        Cache("memory", ttl=-1)
    with pytest.raises(ValueError):
        Cache("memory", max_bytes=0)
    with pytest.raises(TypeError):
        Cache("memory", max_bytes="big")


def test_reprs_never_show_a_password():
    cache = Cache("redis://user:s3cret-pass@127.0.0.1:1/0")
    assert "s3cret" not in repr(cache) and "s3cret" not in cache.url
    client = LlmClient(api_key=API_KEY, cache=cache)
    assert client.cache is not None and client.cache.kind == "redis"


async def test_batch_runs_use_the_cache(cached, mock_server):
    requests = [{"model": MODEL, "messages": user(f"q{i % 5}")} for i in range(20)]
    first = await cached.chat_batch(requests)
    assert mock_server.request_count == 5, "duplicates within a batch join one call"
    assert sum(not r.cache_hit for r in first) == 5
    again = await cached.chat_batch(requests)
    assert all(r.cache_hit for r in again) and mock_server.request_count == 5
    done = [r async for _, r in cached.chat_as_completed(requests[:3])]
    assert all(r.cache_hit for r in done) and mock_server.request_count == 5
