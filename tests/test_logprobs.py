"""Typed logprobs, n choices, reasoning and usage details, plain and streamed."""

from __future__ import annotations

import pytest
import scenario_server as ss
from conftest import MODEL, user
from liter_llm import BadRequestError, ChoiceLogprobs, CompletionTokensDetails, TokenLogprob, TopLogprob

TEXT = "Paris is the capital of France, of course."


def check_tokens(logprobs: ChoiceLogprobs, text: str, top: int) -> None:
    assert isinstance(logprobs, ChoiceLogprobs)
    assert logprobs.refusal is None
    tokens = logprobs.content
    assert tokens and "".join(t.token for t in tokens) == text
    for t in tokens:
        assert isinstance(t, TokenLogprob)
        assert -1.0 < t.logprob < 0.0
        assert bytes(t.bytes).decode() == t.token
        assert len(t.top_logprobs) == top
        assert all(isinstance(alt, TopLogprob) for alt in t.top_logprobs)
        if top:
            assert (t.top_logprobs[0].token, t.top_logprobs[0].logprob) == (t.token, t.logprob)
            assert [a.logprob for a in t.top_logprobs] == sorted((a.logprob for a in t.top_logprobs), reverse=True)


async def test_logprobs_with_top_alternatives_for_every_choice(client, mock_server):
    r = await client.chat(model=MODEL, messages=user(TEXT), logprobs=True, top_logprobs=3, n=2)

    body = mock_server.requests()[0]["json"]
    assert (body["logprobs"], body["top_logprobs"], body["n"]) == (True, 3, 2)
    assert [c.index for c in r.choices] == [0, 1]
    for choice in r.choices:
        assert choice.message.content == TEXT
        check_tokens(choice.logprobs, TEXT, 3)
    assert r.choices[0].logprobs == r.choices[1].logprobs
    assert r.choices[0].logprobs.to_dict()["content"][0]["token"] == "Paris"


async def test_logprobs_without_top_and_without_logprobs(client):
    r = await client.chat(model=MODEL, messages=user(TEXT), logprobs=True)
    check_tokens(r.choices[0].logprobs, TEXT, 0)
    r = await client.chat(model=MODEL, messages=user(TEXT))
    assert r.choices[0].logprobs is None


async def test_n_choices_bill_n_completions(client):
    one = await client.chat(model=MODEL, messages=user(TEXT))
    three = await client.chat(model=MODEL, messages=user(TEXT), n=3)
    assert [c.index for c in three.choices] == [0, 1, 2]
    assert {c.message.content for c in three.choices} == {TEXT}
    assert three.usage.completion_tokens == 3 * one.usage.completion_tokens


async def test_streamed_logprobs_follow_each_delta(client):
    stream = await client.chat_stream(model=MODEL, messages=user(TEXT), logprobs=True, top_logprobs=2, n=2)
    texts = {0: "", 1: ""}
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                texts[choice.index] += choice.delta.content
                check_tokens(choice.logprobs, choice.delta.content, 2)
            else:
                assert choice.logprobs is None
    assert texts == {0: TEXT, 1: TEXT}


async def test_top_logprobs_needs_logprobs(client, mock_server):
    with pytest.raises(BadRequestError, match="top_logprobs"):
        await client.chat(model=MODEL, messages=user(TEXT), top_logprobs=2)
    with pytest.raises(TypeError, match="top_logprobs must be an int"):
        await client.chat(model=MODEL, messages=user(TEXT), logprobs=True, top_logprobs="2")
    assert mock_server.request_count == 1


async def test_refusal_logprobs_are_typed(scenario, scenario_client):
    payload = ss.completion(None)
    payload["choices"][0]["message"]["refusal"] = "No."
    payload["choices"][0]["logprobs"] = {
        "content": None,
        "refusal": [{"token": "No", "logprob": -0.1, "bytes": [78, 111], "top_logprobs": []}],
    }
    scenario.script(ss.json_response(payload))
    r = await scenario_client.chat(model=MODEL, messages=user("x"), logprobs=True)
    logprobs = r.choices[0].logprobs
    assert logprobs.content is None
    [token] = logprobs.refusal
    assert (token.token, token.logprob, token.bytes) == ("No", -0.1, [78, 111])


# ----- reasoning -----


async def test_reasoning_model_returns_reasoning_content_and_reasoning_tokens(client):
    plain = await client.chat(model=MODEL, messages=user(TEXT))
    r = await client.chat(model="deepseek-reasoner", messages=user(TEXT))
    message = r.choices[0].message
    assert message.content == TEXT
    assert message.reasoning_content
    details = r.usage.completion_tokens_details
    assert isinstance(details, CompletionTokensDetails)
    assert details.reasoning_tokens > 0
    assert r.usage.completion_tokens == plain.usage.completion_tokens + details.reasoning_tokens
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    assert plain.choices[0].message.reasoning_content is None
    assert plain.usage.completion_tokens_details.reasoning_tokens == 0


async def test_streamed_reasoning_comes_before_the_content(client):
    stream = await client.chat_stream(model="deepseek-reasoner", messages=user(TEXT))
    kinds = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.reasoning_content:
                kinds.append("reasoning")
            elif choice.delta.content:
                kinds.append("content")
    assert kinds[0] == "reasoning" and kinds.count("reasoning") == 1
    assert set(kinds[1:]) == {"content"}


async def test_reasoning_under_its_other_name_is_reasoning_content(scenario, scenario_client):
    payload = ss.completion("42")
    payload["choices"][0]["message"]["reasoning"] = "Six times seven."
    reasoning = ss.chunk()
    reasoning["choices"][0]["delta"]["reasoning"] = "Six "
    events = [ss.chunk(role="assistant"), reasoning, ss.chunk("42", finish_reason="stop")]
    scenario.script(ss.json_response(payload), ss.sse_response([ss.sse_body(events)]))

    r = await scenario_client.chat(model=MODEL, messages=user("x"))
    assert r.choices[0].message.reasoning_content == "Six times seven."
    assert r.choices[0].message.to_dict()["reasoning"] == "Six times seven."
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("x"))
    pieces = [c.choices[0].delta.reasoning_content async for c in stream if c.choices]
    assert pieces == [None, "Six ", None]
