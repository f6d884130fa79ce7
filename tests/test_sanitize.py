"""sanitize_request through the bindings."""

from __future__ import annotations

import copy

import pytest
from liter_llm._liter_llm import count_tokens, register_model, sanitize_request


def test_reasoning_models_drop_sampling_params_and_rename_max_tokens() -> None:
    request = {
        "model": "o3-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "logprobs": True,
        "max_tokens": 100,
        "seed": 7,
    }
    original = copy.deepcopy(request)
    out = sanitize_request(request)
    assert request == original  # the input is not modified
    assert out == {
        "model": "o3-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 100,
        "seed": 7,
    }


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini-2025-08-07", "o1", "o4-mini", "openai/o3"])
def test_all_reasoning_families(model: str) -> None:
    out = sanitize_request({"model": model, "messages": [], "temperature": 0.5, "max_tokens": 5})
    assert "temperature" not in out
    assert out["max_completion_tokens"] == 5


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "gpt-5-chat-latest", "claude-3-5-haiku", "some-local"])
def test_other_models_are_untouched(model: str) -> None:
    request = {"model": model, "messages": [{"role": "user", "content": "x"}], "temperature": 0.5, "max_tokens": 5}
    assert sanitize_request(request) == request


def test_provider_specific_rules() -> None:
    mistral = sanitize_request({"model": "mistral-small-latest", "seed": 1, "max_completion_tokens": 9, "user": "u"})
    assert mistral == {"model": "mistral-small-latest", "random_seed": 1, "max_tokens": 9}
    groq = sanitize_request(
        {"model": "groq/llama-3.1-8b-instant", "n": 3, "messages": [{"role": "user", "name": "a", "content": "x"}]}
    )
    assert groq == {"model": "groq/llama-3.1-8b-instant", "messages": [{"role": "user", "content": "x"}]}
    claude = sanitize_request({"model": "claude-sonnet-4-5", "temperature": 0.3, "top_p": 0.8})
    assert claude == {"model": "claude-sonnet-4-5", "temperature": 0.3}
    o1mini = sanitize_request({"model": "o1-mini", "messages": [{"role": "system", "content": "be brief"}]})
    assert o1mini["messages"][0]["role"] == "user"


def test_truncates_oldest_turns_to_fit_and_keeps_system_and_tool_pairs() -> None:
    model = "gpt-4o-trunc-py-test"

    def words(n: int) -> str:
        return "hello " * n

    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    result = {"role": "tool", "tool_call_id": "c1", "content": words(50)}
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": words(300)},
        call,
        result,
        {"role": "user", "content": words(50)},
    ]
    full = count_tokens(model=model, messages=messages)
    first = count_tokens(model=model, messages=[messages[1]]) - 3  # without the reply priming
    # Room for everything but the first user message, with 100 tokens reserved for the reply.
    register_model(model, input_cost_per_million=1, output_cost_per_million=1, context_window=full - first + 100)
    out = sanitize_request({"model": model, "messages": messages, "max_tokens": 100})
    assert [m["role"] for m in out["messages"]] == ["system", "assistant", "tool", "user"]
    assert count_tokens(model=model, messages=out["messages"]) <= full - first

    # One token less: the tool call and its result go together.
    register_model(model, input_cost_per_million=1, output_cost_per_million=1, context_window=full - first + 99)
    out = sanitize_request({"model": model, "messages": messages, "max_tokens": 100})
    assert [m["role"] for m in out["messages"]] == ["system", "user"]


def test_multimodal_content_is_counted_sensibly() -> None:
    model = "gpt-4o-trunc-py-image"
    register_model(model, input_cost_per_million=1, output_cost_per_million=1, context_window=2000)
    image = {
        "role": "user",
        "content": [
            {"type": "text", "text": "what is in this image?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 500_000}},
        ],
    }
    # Two images at ~765 tokens each fit in 2,000; a third does not.
    two = sanitize_request({"model": model, "messages": [image, {"role": "assistant", "content": "a cat"}, image]})
    assert len(two["messages"]) == 3
    three = sanitize_request({"model": model, "messages": [image, image, image]})
    assert len(three["messages"]) == 2


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="must be a dict"):
        sanitize_request([])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="model"):
        sanitize_request({"messages": []})
