"""count_tokens through the bindings: exact OpenAI counts, estimates, messages, and the GIL."""

from __future__ import annotations

import asyncio
import threading

import pytest
from liter_llm._liter_llm import count_tokens

# The OpenAI cookbook's example conversation: 129 prompt tokens for gpt-4 / gpt-3.5-turbo-0613
# (cl100k_base), 124 for gpt-4o / gpt-4o-mini (o200k_base).
COOKBOOK = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon "
        "into plain English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize(
    ("model", "text", "expected"),
    [
        ("gpt-4o", "hello world", 2),
        ("gpt-4", "hello world", 2),
        ("gpt-4o-mini", "tiktoken is great!", 6),
        ("gpt-3.5-turbo", "tiktoken is great!", 6),
        ("openai/gpt-4.1-2025-04-14", "", 0),
        ("o3-mini", "antidisestablishmentarianism", 6),
    ],
)
def test_exact_text_counts(model: str, text: str, expected: int) -> None:
    assert count_tokens(model=model, text=text) == expected


def test_encodings_differ_where_they_should() -> None:
    text = "日本語のテキストを数える"
    assert count_tokens(model="gpt-4o", text=text) != count_tokens(model="gpt-4", text=text)


def test_cookbook_message_overhead() -> None:
    assert count_tokens(model="gpt-4", messages=COOKBOOK) == 129
    assert count_tokens(model="gpt-3.5-turbo-0613", messages=COOKBOOK) == 129
    assert count_tokens(model="gpt-4o", messages=COOKBOOK) == 124
    assert count_tokens(model="gpt-4o-mini", messages=COOKBOOK) == 124


def test_estimates_for_other_providers_err_high() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 50
    exact = count_tokens(model="gpt-4o", text=text)
    for model in ("claude-sonnet-4-5", "gemini-2.5-flash", "mistral-large-latest", "deepseek-chat", "my-model"):
        assert count_tokens(model=model, text=text) > exact, model
    assert count_tokens(model="claude-sonnet-4-5", text=text) == -(-exact * 125 // 100)


def test_multimodal_messages_do_not_tokenize_image_data() -> None:
    image = "data:image/png;base64," + "A" * 200_000
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hello world"},
                {"type": "image_url", "image_url": {"url": image, "detail": "low"}},
            ],
        }
    ]
    # 3 per message + "user" + "hello world" + 85 for a low-detail image + 3 reply priming.
    assert count_tokens(model="gpt-4o", messages=messages) == 3 + 1 + 2 + 85 + 3


def test_tool_calls_count() -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
    }
    plain = count_tokens(model="gpt-4o", messages=[{"role": "assistant", "content": None}])
    assert count_tokens(model="gpt-4o", messages=[call]) > plain
    assert count_tokens(model="gpt-4o", messages=[]) == 3


def test_argument_errors() -> None:
    with pytest.raises(TypeError, match="exactly one"):
        count_tokens(model="gpt-4o")
    with pytest.raises(TypeError, match="exactly one"):
        count_tokens(model="gpt-4o", text="a", messages=[])
    with pytest.raises(TypeError, match="text must be a str"):
        count_tokens(model="gpt-4o", text=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="messages must be a list"):
        count_tokens(model="gpt-4o", messages={"role": "user"})  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        count_tokens("gpt-4o", text="positional")  # type: ignore[misc]


async def test_counting_releases_the_gil() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 40_000  # 1.8 MB
    count_tokens(model="gpt-4o", text="warm up")
    done = threading.Event()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)

    def count() -> int:
        try:
            return count_tokens(model="gpt-4o", text=text)
        finally:
            done.set()

    n = await asyncio.to_thread(count)
    await task
    assert n == 400_001  # the trailing space is a token of its own
    assert ticks > 5
