"""Response types: attribute access, to_dict/to_json fidelity (unknown fields kept), equality, repr, immutability."""

from __future__ import annotations

import copy
import json

import pytest
import scenario_server as ss
from conftest import MODEL, user
from liter_llm import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChoiceLogprobs,
    CompletionTokensDetails,
    FunctionCall,
    PromptTokensDetails,
    StreamChoice,
    StreamDelta,
    TokenLogprob,
    ToolCall,
    Usage,
)

# Every known field present and non-null, plus unknown fields at every level.
FULL = {
    "id": "chatcmpl-FULL",
    "object": "chat.completion",
    "created": 1_731_000_000,
    "model": "gpt-4o-2024-08-06",
    "system_fingerprint": "fp_abc123",
    "service_tier": "default",
    "x_extra": 1,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Calling a tool. 🌦",
                "refusal": "I would rather not.",
                "reasoning_content": "The user wants weather, so call get_weather.",
                "tool_calls": [
                    {
                        "id": "call_abc",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo", "unit": "c"}'},
                        "x_tool_extra": [1, 2],
                    },
                    {
                        "id": "call_def",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": "{}"},
                    },
                ],
                "annotations": [{"type": "url_citation", "url_citation": {"url": "https://example.com"}}],
                "x_message_extra": {"nested": True},
            },
            "logprobs": {
                "content": [
                    {"token": "Call", "logprob": -0.25, "bytes": [67, 97, 108, 108], "top_logprobs": []},
                ],
                "refusal": [],
            },
            "finish_reason": "tool_calls",
            "x_choice_extra": "c",
        }
    ],
    "usage": {
        "prompt_tokens": 21,
        "completion_tokens": 13,
        "total_tokens": 34,
        "prompt_tokens_details": {"cached_tokens": 8, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 5,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 1,
        },
        "x_usage_extra": 0.5,
    },
}

MINIMAL = {
    "id": "chatcmpl-MIN",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
}


async def fetch(scenario, client, payload) -> ChatCompletionResponse:
    scenario.script(ss.json_response(payload))
    return await client.chat(model=MODEL, messages=user("hi"))


async def test_every_field_is_reachable_by_attribute(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, FULL)

    assert isinstance(r, ChatCompletionResponse)
    assert r.id == "chatcmpl-FULL"
    assert r.object == "chat.completion"
    assert r.created == 1_731_000_000
    assert r.model == "gpt-4o-2024-08-06"
    assert r.system_fingerprint == "fp_abc123"

    [choice] = r.choices
    assert isinstance(choice, Choice)
    assert choice.index == 0
    assert choice.finish_reason == "tool_calls"
    assert isinstance(choice.logprobs, ChoiceLogprobs)
    assert choice.logprobs.to_dict() == FULL["choices"][0]["logprobs"]
    [token] = choice.logprobs.content
    assert isinstance(token, TokenLogprob)
    assert (token.token, token.logprob, token.bytes, token.top_logprobs) == ("Call", -0.25, [67, 97, 108, 108], [])
    assert choice.logprobs.refusal == []

    msg = choice.message
    assert isinstance(msg, AssistantMessage)
    assert msg.role == "assistant"
    assert msg.content == "Calling a tool. 🌦"
    assert msg.refusal == "I would rather not."
    assert msg.reasoning_content == "The user wants weather, so call get_weather."

    assert isinstance(msg.tool_calls, list)
    first, second = msg.tool_calls
    assert isinstance(first, ToolCall)
    assert (first.id, first.type) == ("call_abc", "function")
    assert isinstance(first.function, FunctionCall)
    assert first.function.name == "get_weather"
    assert json.loads(first.function.arguments) == {"city": "Oslo", "unit": "c"}
    assert (second.id, second.function.name, second.function.arguments) == ("call_def", "get_time", "{}")

    usage = r.usage
    assert isinstance(usage, Usage)
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (21, 13, 34)
    assert all(isinstance(v, int) for v in (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens))
    prompt, completion = usage.prompt_tokens_details, usage.completion_tokens_details
    assert isinstance(prompt, PromptTokensDetails)
    assert (prompt.cached_tokens, prompt.audio_tokens) == (8, 0)
    assert isinstance(completion, CompletionTokensDetails)
    assert completion.reasoning_tokens == 5
    assert completion.audio_tokens == 0
    assert (completion.accepted_prediction_tokens, completion.rejected_prediction_tokens) == (0, 1)


async def test_to_dict_reproduces_the_server_json_including_unknown_fields(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, FULL)
    d = r.to_dict()
    assert d["x_extra"] == 1
    assert d["choices"][0]["x_choice_extra"] == "c"
    assert d["choices"][0]["message"]["x_message_extra"] == {"nested": True}
    assert d["choices"][0]["message"]["tool_calls"][0]["x_tool_extra"] == [1, 2]
    assert d["usage"]["x_usage_extra"] == 0.5
    assert d == FULL


async def test_nested_objects_have_to_dict_too(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, FULL)
    choice = r.choices[0]
    assert choice.to_dict() == FULL["choices"][0]
    assert choice.message.to_dict() == FULL["choices"][0]["message"]
    assert choice.message.tool_calls[0].to_dict() == FULL["choices"][0]["message"]["tool_calls"][0]
    assert choice.message.tool_calls[0].function.to_dict() == FULL["choices"][0]["message"]["tool_calls"][0]["function"]
    assert r.usage.to_dict() == FULL["usage"]


async def test_to_json_is_the_json_of_to_dict(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, FULL)
    text = r.to_json()
    assert isinstance(text, str)
    assert json.loads(text) == r.to_dict()
    for obj in (r.choices[0], r.choices[0].message, r.choices[0].message.tool_calls[0], r.usage):
        assert json.loads(obj.to_json()) == obj.to_dict()


async def test_optional_fields_are_none_when_the_server_omits_them(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, MINIMAL)
    assert r.usage is None
    assert r.system_fingerprint is None
    msg = r.choices[0].message
    assert msg.content == "hi"
    assert msg.tool_calls is None
    assert msg.refusal is None
    assert msg.reasoning_content is None
    assert r.choices[0].logprobs is None


async def test_usage_details_are_none_when_absent(scenario, scenario_client):
    payload = ss.completion("x", usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})
    r = await fetch(scenario, scenario_client, payload)
    assert r.usage.prompt_tokens_details is None
    assert r.usage.completion_tokens_details is None


async def test_tool_call_only_message_has_no_content(scenario, scenario_client):
    payload = ss.completion(
        None,
        finish_reason="tool_calls",
        tool_calls=[{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    )
    r = await fetch(scenario, scenario_client, payload)
    msg = r.choices[0].message
    assert msg.content is None
    assert [tc.function.name for tc in msg.tool_calls] == ["f"]


async def test_equal_payloads_make_equal_objects_and_different_ones_do_not(scenario, scenario_client):
    a = await fetch(scenario, scenario_client, FULL)
    b = await fetch(scenario, scenario_client, copy.deepcopy(FULL))
    changed = copy.deepcopy(FULL)
    changed["choices"][0]["message"]["content"] = "different"
    c = await fetch(scenario, scenario_client, changed)

    assert a == b
    assert a.choices[0] == b.choices[0]
    assert a.usage == b.usage
    assert a != c
    assert a.choices[0].message != c.choices[0].message
    assert a != "chatcmpl-FULL"  # a foreign type compares unequal instead of raising
    assert a != None  # noqa: E711


async def test_repr_is_readable(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, FULL)
    text = repr(r)
    assert text.startswith("ChatCompletionResponse(")
    assert "chatcmpl-FULL" in text
    assert "ChatCompletionResponse" not in repr(r.usage)
    assert "Usage" in repr(r.usage) and "34" in repr(r.usage)
    assert "get_weather" in repr(r.choices[0].message.tool_calls[0])


@pytest.mark.parametrize(
    ("path", "attr"),
    [
        ((), "id"),
        ((), "choices"),
        ((), "usage"),
        ((), "brand_new"),
        (("choices", 0), "finish_reason"),
        (("choices", 0, "message"), "content"),
        (("choices", 0, "message"), "tool_calls"),
        (("choices", 0, "message", "tool_calls", 0), "id"),
        (("choices", 0, "message", "tool_calls", 0, "function"), "arguments"),
        (("usage",), "total_tokens"),
    ],
)
async def test_response_objects_are_frozen(scenario, scenario_client, path, attr):
    r = await fetch(scenario, scenario_client, FULL)
    obj = r
    for step in path:
        obj = obj[step] if isinstance(step, int) else getattr(obj, step)
    with pytest.raises(AttributeError):
        setattr(obj, attr, "changed")
    assert r.to_dict() == FULL


async def test_mutating_what_to_dict_or_choices_returned_does_not_change_the_response(scenario, scenario_client):
    r = await fetch(scenario, scenario_client, FULL)
    d = r.to_dict()
    d["id"] = "mutated"
    d["choices"][0]["message"]["content"] = "mutated"
    d["usage"]["prompt_tokens_details"]["cached_tokens"] = 999
    try:
        r.choices.append("junk")
    except AttributeError:
        pass  # an immutable sequence is fine too
    r.choices[0].logprobs.content.clear()
    with pytest.raises(AttributeError):
        r.usage.prompt_tokens_details.cached_tokens = 999  # type: ignore[misc]

    assert r.id == "chatcmpl-FULL"
    assert len(r.choices) == 1
    assert r.choices[0].message.content == "Calling a tool. 🌦"
    assert r.usage.prompt_tokens_details.cached_tokens == 8
    assert len(r.choices[0].logprobs.content) == 1
    assert r.to_dict() == FULL


async def test_stream_chunk_types(mock_server, client):
    stream = await client.chat_stream(model=MODEL, messages=user("typed chunks"))
    chunks = [c async for c in stream]
    assert chunks
    for c in chunks:
        assert isinstance(c, ChatCompletionChunk)
        assert json.loads(c.to_json()) == c.to_dict()
        assert c == c
        assert repr(c).startswith("ChatCompletionChunk(")
        for choice in c.choices:
            assert isinstance(choice, StreamChoice)
            assert isinstance(choice.delta, StreamDelta)
    with pytest.raises(AttributeError):
        chunks[0].id = "x"
    with pytest.raises(AttributeError):
        chunks[0].choices[0].delta.content = "x"


async def test_stream_chunk_keeps_unknown_fields(scenario, scenario_client):
    events = ss.text_chunks(["a"], x_chunk_extra={"k": 1})
    scenario.script(ss.sse_response([ss.sse_body(events)]))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    chunks = [c async for c in stream]
    assert [c.to_dict()["x_chunk_extra"] for c in chunks] == [{"k": 1}] * len(events)
    assert [c.choices[0].delta.content for c in chunks] == ["", "a", None]
