"""UsageTracker, the pricing table and completion_cost, through the bindings."""

from __future__ import annotations

import threading

import pytest
from liter_llm import NotFoundError
from liter_llm._liter_llm import UsageTracker, completion_cost, model_info, register_model


def test_empty_tracker() -> None:
    t = UsageTracker()
    assert (t.calls, t.failures, t.retries, t.total_tokens, t.total_cost) == (0, 0, 0, 0, 0.0)
    assert t.mean_latency is None
    assert t.mean_ttft is None
    assert t.latency_at_percentile(50) is None
    assert t.response_time_at_percentile(95) is None
    assert t.per_model == {}
    assert t.details["calls"] == 0
    assert "calls: 0" in str(t)
    assert repr(t).startswith("UsageTracker(calls=0,")


def test_records_tokens_cost_latency_and_ttft() -> None:
    t = UsageTracker()
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 5},
    }
    t._record_success("gpt-4o-mini", usage, latency=0.2, retries=1, cost=0.25)
    t._record_success("gpt-4o-mini", usage, latency=0.4, ttft=0.05, cost=0.5)
    t._record_success("local-model", None, latency=0.3)
    t._record_failure("gpt-4o", latency=2.0, retries=3)

    assert (t.calls, t.failures, t.retries) == (4, 1, 4)
    assert (t.prompt_tokens, t.completion_tokens, t.cached_tokens, t.reasoning_tokens) == (200, 40, 80, 10)
    assert t.total_tokens == 240
    assert t.total_cost == pytest.approx(0.75)
    assert t.mean_latency == pytest.approx(0.3)
    assert t.mean_ttft == pytest.approx(0.05)
    assert t.latency_at_percentile(0) == pytest.approx(0.2)
    assert t.latency_at_percentile(100) == pytest.approx(0.4)
    assert t.ttft_at_percentile(50) == pytest.approx(0.05)

    # llm-api-client's names.
    assert t.total_prompt_tokens == 200
    assert t.total_completion_tokens == 40
    assert t.num_api_calls == 4
    assert t.mean_response_time == pytest.approx(0.3)
    assert t.response_time_at_percentile(100) == pytest.approx(0.4)

    per = t.per_model
    assert sorted(per) == ["gpt-4o", "gpt-4o-mini", "local-model"]
    assert per["gpt-4o-mini"]["calls"] == 2
    assert per["gpt-4o"]["failures"] == 1
    assert per["local-model"]["total_cost"] == 0.0
    details = t.details
    assert details["unpriced_calls"] == 1
    assert details["streams"] == 1
    assert details["per_model"] == per

    text = str(t)
    assert "calls: 4 (1 failed, 4 retries)" in text
    assert "time to first token" in text
    assert "gpt-4o-mini: 2 calls" in text

    t.reset()
    assert t.calls == 0
    assert t.per_model == {}
    assert t.latency_at_percentile(50) is None


def test_accepts_usage_objects_and_rejects_bad_arguments() -> None:
    t = UsageTracker()
    with pytest.raises(ValueError, match="between 0 and 100"):
        t.latency_at_percentile(101)
    with pytest.raises(ValueError, match="between 0 and 100"):
        t.ttft_at_percentile(-1)
    with pytest.raises(ValueError):
        t.latency_at_percentile(float("nan"))
    with pytest.raises(ValueError, match="latency"):
        t._record_success("m", None, latency=-1.0)
    with pytest.raises(TypeError, match="usage must be"):
        t._record_success("m", [1, 2])


def test_percentiles_have_bounded_error() -> None:
    t = UsageTracker()
    for ms in range(1, 1001):
        t._record_success("m", None, latency=ms / 1000)
    for p in (10, 50, 90, 99):
        assert t.latency_at_percentile(p) == pytest.approx(p / 100, rel=0.033)


def test_concurrent_recording_from_threads() -> None:
    t = UsageTracker()
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}

    def work(i: int) -> None:
        for _ in range(2000):
            t._record_success(f"m{i % 2}", usage, latency=0.001, cost=0.000001)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.calls == 8000
    assert t.total_tokens == 40000
    assert t.total_cost == pytest.approx(0.008)
    assert sum(m["calls"] for m in t.per_model.values()) == 8000


def test_tracker_is_read_only() -> None:
    t = UsageTracker()
    with pytest.raises(AttributeError):
        t.calls = 5  # type: ignore[misc]


def test_model_info_resolves_prefixes_and_dated_names() -> None:
    info = model_info("gpt-4o-mini-2024-07-18")
    assert info is not None
    assert info["name"] == "gpt-4o-mini"
    assert info["provider"] == "openai"
    assert info["input_cost_per_million"] == 0.15
    assert info["cached_input_cost_per_million"] == 0.075
    assert info["context_window"] == 128000
    assert model_info("anthropic/claude-sonnet-4-5-20250929")["name"] == "claude-sonnet-4-5"  # type: ignore[index]
    assert model_info("gemini/gemini-2.5-flash")["provider"] == "gemini"  # type: ignore[index]
    assert model_info("groq/llama-3.3-70b-versatile")["provider"] == "groq"  # type: ignore[index]
    assert model_info("deepseek-chat")["max_output_tokens"] == 8192  # type: ignore[index]
    assert model_info("grok-4-0709")["context_window"] == 256000  # type: ignore[index]
    assert model_info("mistral-small-latest")["name"] == "mistral-small"  # type: ignore[index]
    assert model_info("definitely-not-a-model") is None


def test_completion_cost_per_provider() -> None:
    openai = {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1200,
        "prompt_tokens_details": {"cached_tokens": 400},
    }
    assert completion_cost(model="gpt-4o-mini", usage=openai) == pytest.approx(
        (600 * 0.15 + 400 * 0.075 + 200 * 0.6) / 1e6
    )
    anthropic = {"input_tokens": 100, "output_tokens": 50, "cache_read_input_tokens": 2000}
    assert completion_cost(model="claude-haiku-4-5", usage=anthropic) == pytest.approx(
        (100 * 1.0 + 2000 * 0.1 + 50 * 5.0) / 1e6
    )
    assert completion_cost(model="unknown-model-x", usage=openai) is None
    with pytest.raises(TypeError):
        completion_cost(model="gpt-4o", usage=5)


def test_register_model_adds_and_overrides() -> None:
    register_model(
        "my-test-model",
        input_cost_per_million=1.0,
        output_cost_per_million=2.0,
        cached_input_cost_per_million=0.5,
        context_window=32000,
        max_output_tokens=4000,
        provider="OpenAI",
    )
    info = model_info("my-test-model-v2")
    assert info is not None
    assert info["name"] == "my-test-model"
    assert info["provider"] == "openai"
    assert info["context_window"] == 32000
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    assert completion_cost(model="my-test-model", usage=usage) == pytest.approx(3.0)
    register_model("my-test-model", input_cost_per_million=0, output_cost_per_million=0)
    assert completion_cost(model="my-test-model", usage=usage) == 0.0
    assert model_info("my-test-model")["context_window"] is None  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"input_cost_per_million": -1, "output_cost_per_million": 1}, ValueError),
        ({"input_cost_per_million": float("inf"), "output_cost_per_million": 1}, ValueError),
        ({"input_cost_per_million": "1", "output_cost_per_million": 1}, TypeError),
        ({"input_cost_per_million": 1, "output_cost_per_million": None}, TypeError),
        ({"input_cost_per_million": 1, "output_cost_per_million": 1, "context_window": 0}, ValueError),
        ({"input_cost_per_million": 1, "output_cost_per_million": 1, "context_window": 1.5}, TypeError),
        ({"input_cost_per_million": True, "output_cost_per_million": 1}, TypeError),
    ],
)
def test_register_model_validates(kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        register_model("bad-model", **kwargs)
    with pytest.raises(ValueError):
        register_model(" ", input_cost_per_million=1, output_cost_per_million=1)


async def test_usage_objects_from_a_real_response(client) -> None:
    response = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    usage = response.usage
    assert usage is not None
    expected = (usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.6) / 1e6
    assert completion_cost(model=response.model or "gpt-4o-mini", usage=usage) == pytest.approx(expected)
    t = UsageTracker()
    t._record_success("gpt-4o-mini", usage, latency=0.01, cost=expected)
    assert t.prompt_tokens == usage.prompt_tokens
    assert t.total_cost == pytest.approx(expected, abs=1e-9)


async def test_embeddings_and_endpoint_calls_are_recorded_too(mock_server, make_client) -> None:
    client = make_client(mock_server.base_url)
    r = await client.embed(model="text-embedding-3-small", input=["one", "two"])
    await client.list_files()
    mock_server.push_faults([{"status": 404}])
    with pytest.raises(NotFoundError):
        await client.retrieve_file("file-missing")
    usage = client.usage
    assert (usage.calls, usage.failures) == (3, 1)
    per = usage.per_model
    assert per["text-embedding-3-small"]["calls"] == 1
    assert per["text-embedding-3-small"]["prompt_tokens"] == r.usage.prompt_tokens > 0
    assert (per["files"]["calls"], per["files"]["failures"]) == (2, 1)
