"""Timeouts: what `timeout` bounds (connect, headers, gaps between reads) and what it must not cut."""

from __future__ import annotations

import time

import pytest
import scenario_server as ss
from conftest import MODEL, user
from liter_llm import LlmTimeoutError


async def test_slow_response_headers_raise_llm_timeout_error(scenario, make_client):
    client = make_client(scenario.base_url, timeout=0.5, max_retries=0)
    scenario.script(ss.slow_headers(60))
    start = time.monotonic()
    with pytest.raises(LlmTimeoutError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 10  # the server answers after 60 s
    e = info.value
    assert e.status_code is None
    assert e.provider == "openai"
    assert e.model == MODEL
    assert str(e)


async def test_the_mock_servers_latency_is_bounded_by_the_timeout(make_client):
    from liter_llm.testing import MockServer

    with MockServer(latency_ms=60_000) as server:
        client = make_client(server.base_url, timeout=0.3, max_retries=0)
        start = time.monotonic()
        with pytest.raises(LlmTimeoutError):
            await client.chat(model=MODEL, messages=user("hi"))
        assert time.monotonic() - start < 10  # the server answers after 60 s


async def test_a_mock_delay_fault_times_out(mock_server, make_client):
    client = make_client(mock_server.base_url, timeout=0.3, max_retries=0)
    mock_server.push_faults([{"delay_ms": 3000}])
    with pytest.raises(LlmTimeoutError):
        await client.chat(model=MODEL, messages=user("hi"))


async def test_a_server_that_never_accepts_times_out(make_client):
    with ss.BlackHole() as hole:
        client = make_client(hole.base_url, timeout=0.5, max_retries=0)
        start = time.monotonic()
        with pytest.raises(LlmTimeoutError):
            await client.chat(model=MODEL, messages=user("hi"))
        assert time.monotonic() - start < 10  # the server never answers (or not for 60 s)


async def test_a_body_that_stalls_after_the_headers_times_out(scenario, make_client):
    client = make_client(scenario.base_url, timeout=0.5, max_retries=0)
    scenario.script(ss.stall_body(b'{"id": "chatcmpl-1", "choi', total_length=500))
    start = time.monotonic()
    with pytest.raises(LlmTimeoutError):
        await client.chat(model=MODEL, messages=user("hi"))
    assert time.monotonic() - start < 10  # the server never answers (or not for 60 s)


async def test_slow_headers_on_a_stream_request_time_out_on_the_awaited_call(scenario, make_client):
    client = make_client(scenario.base_url, timeout=0.5, max_retries=0)
    scenario.script(ss.slow_headers(60))
    start = time.monotonic()
    with pytest.raises(LlmTimeoutError):
        await client.chat_stream(model=MODEL, messages=user("hi"))
    assert time.monotonic() - start < 10  # the server never answers (or not for 60 s)


async def test_a_stream_that_goes_silent_times_out_after_the_chunks_it_got(scenario, make_client):
    client = make_client(scenario.base_url, timeout=0.5, max_retries=0)
    events = ss.text_chunks(["first", " second"])[:-1]
    scenario.script(ss.sse_response([ss.sse_event(e) for e in events], delay=0.05, end="hang"))
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    got = []
    start = time.monotonic()
    with pytest.raises(LlmTimeoutError):
        async for c in stream:
            got.append(c)
    assert time.monotonic() - start < 10  # the server never answers (or not for 60 s)
    assert "".join(c.choices[0].delta.content or "" for c in got) == "first second"


async def test_a_slow_but_steady_stream_longer_than_the_timeout_is_not_cut(scenario, make_client):
    # Gaps of 0.2 s against a 0.8 s timeout: room for a busy machine's scheduling delays.
    timeout = 0.8
    client = make_client(scenario.base_url, timeout=timeout, max_retries=0)
    pieces = [f"w{i} " for i in range(20)]
    scenario.script(ss.steady_stream(pieces, interval=0.2))
    start = time.monotonic()
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    elapsed = time.monotonic() - start
    assert text == "".join(pieces)
    assert elapsed >= 4 * timeout  # the whole stream really outlasted the timeout


async def test_keep_alive_comments_keep_a_quiet_stream_alive(scenario, make_client):
    timeout = 0.8
    client = make_client(scenario.base_url, timeout=timeout, max_retries=0)
    writes = [ss.sse_event(ss.chunk("", role="assistant"))]
    writes += [b": keep-alive\n\n"] * 14
    writes += [ss.sse_event(ss.chunk("late")), ss.sse_event(ss.chunk(finish_reason="stop")), ss.sse_event("[DONE]")]
    scenario.script(ss.sse_response(writes, delay=0.2))
    start = time.monotonic()
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == "late"
    assert time.monotonic() - start >= 4 * timeout


async def test_timeouts_are_retried_like_connection_failures(scenario, make_client):
    client = make_client(scenario.base_url, timeout=0.3, max_retries=1)
    scenario.script(ss.slow_headers(60), ss.slow_headers(60))
    with pytest.raises(LlmTimeoutError):
        await client.chat(model=MODEL, messages=user("hi"))
    assert scenario.request_count == 2


async def test_a_timeout_then_a_fast_answer_succeeds_on_retry(scenario, make_client):
    client = make_client(scenario.base_url, timeout=0.3, max_retries=1)
    scenario.script(ss.slow_headers(60))
    r = await client.chat(model=MODEL, messages=user("second try"))
    assert r.choices[0].message.content == "second try"
    assert scenario.request_count == 2


async def test_with_options_timeout_applies_only_to_the_new_client(scenario, make_client):
    patient = make_client(scenario.base_url, timeout=10, max_retries=0)
    hasty = patient.with_options(timeout=0.3)
    scenario.script(ss.slow_headers(1.0), ss.slow_headers(1.0))
    with pytest.raises(LlmTimeoutError):
        await hasty.chat(model=MODEL, messages=user("hi"))
    r = await patient.chat(model=MODEL, messages=user("worth the wait"))
    assert r.choices[0].message.content == "worth the wait"


async def test_a_slow_server_within_the_timeout_is_fine(scenario, make_client):
    client = make_client(scenario.base_url, timeout=2, max_retries=0)
    scenario.script(ss.slow_headers(0.5))
    r = await client.chat(model=MODEL, messages=user("patience"))
    assert r.choices[0].message.content == "patience"
