"""The client's always-on usage tracker, per-response cost, and request sanitising, end to end."""

from __future__ import annotations

import logging

import pytest
from conftest import API_KEY, user
from liter_llm import LlmClient, ServerError, UsageTracker


@pytest.fixture
def fresh(mock_server):
    return LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0)


async def test_chat_is_recorded_with_tokens_cost_and_latency(fresh):
    response = await fresh.chat(model="gpt-4o-mini", messages=user("count me in please"))
    usage = fresh.usage
    assert isinstance(usage, UsageTracker)
    assert usage.calls == usage.num_api_calls == 1
    assert usage.failures == 0
    assert usage.prompt_tokens == response.usage.prompt_tokens
    assert usage.completion_tokens == response.usage.completion_tokens
    expected = (response.usage.prompt_tokens * 0.15 + response.usage.completion_tokens * 0.60) / 1e6
    assert response.cost == pytest.approx(expected)
    assert usage.total_cost == pytest.approx(expected)
    assert usage.mean_latency > 0
    assert usage.latency_at_percentile(50) > 0


async def test_unknown_model_has_no_cost_but_counts_tokens(fresh):
    response = await fresh.chat(model="my-local-model", messages=user("hello"))
    assert response.cost is None
    assert fresh.usage.total_tokens == response.usage.total_tokens
    assert "my-local-model" in fresh.usage.per_model


async def test_failures_and_retries_are_counted(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=1)
    mock_server.push_faults([{"status": 500}, {"status": 500}])
    with pytest.raises(ServerError):
        await client.chat(model="gpt-4o-mini", messages=user("x"))
    assert client.usage.failures == 1
    assert client.usage.retries == 1


async def test_stream_is_recorded_when_it_ends_with_time_to_first_token(fresh):
    stream = await fresh.chat_stream(
        model="gpt-4o-mini", messages=user("stream me"), stream_options={"include_usage": True}
    )
    last = None
    async for chunk in stream:
        last = chunk
    assert last is not None and last.usage is not None
    assert fresh.usage.calls == 1
    assert fresh.usage.total_tokens == last.usage.total_tokens
    assert fresh.usage.mean_ttft is not None and fresh.usage.mean_ttft > 0
    assert fresh.usage.total_cost > 0


async def test_copies_share_the_tracker_and_reset_clears_it(fresh):
    copy = fresh.with_options(timeout=5)
    await copy.chat(model="gpt-4o-mini", messages=user("a"))
    await fresh.chat(model="gpt-4o-mini", messages=user("b"))
    assert fresh.usage.calls == 2
    fresh.usage.reset()
    assert copy.usage.calls == 0


async def test_sanitize_drops_and_renames_for_reasoning_models(mock_server, caplog):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, sanitize=True)
    assert client.sanitize is True
    with caplog.at_level(logging.INFO, logger="liter_llm"):
        await client.chat(model="o3-mini", messages=user("think"), temperature=0.2, max_tokens=50)
    sent = mock_server.requests()[-1]["json"]
    assert "temperature" not in sent
    assert "max_tokens" not in sent and sent["max_completion_tokens"] == 50
    assert any("sanitised request for o3-mini" in r.getMessage() for r in caplog.records)


async def test_sanitize_is_off_by_default_and_can_be_asked_per_call(fresh, mock_server):
    await fresh.chat(model="o3-mini", messages=user("raw"), temperature=0.2)
    assert mock_server.requests()[-1]["json"]["temperature"] == 0.2
    await fresh.chat(model="o3-mini", messages=user("clean"), temperature=0.2, sanitize=True)
    assert "temperature" not in mock_server.requests()[-1]["json"]
    with pytest.raises(TypeError):
        await fresh.chat(model="o3-mini", messages=user("x"), sanitize="yes")
