"""Agent loops (`LlmClient.run_agent_loop`) against the mock provider, whose models call the tools
a prompt names (`call:NAME {json}` lines) and answer tool results by echoing them, over the
OpenAI, Anthropic and Gemini wire formats."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from conftest import client_for, user
from liter_llm import Tool, function_tool


def get_weather(city: str, unit: str = "C") -> str:
    """The weather in a city.

    Args:
        city: the city.
        unit: C or F.
    """
    return f"sunny, 21 {unit} in {city}"


async def test_a_tool_call_round_then_the_answer_with_the_transcript_and_summed_usage(mock):
    client = client_for(mock)
    result = await client.run_agent_loop(
        model="gpt-4o-mini",
        messages=user('call:get_weather {"city": "Paris"}'),
        tools=[get_weather],
    )
    assert result.stop_reason == "answer" and result.rounds == 2
    assert result.content == "sunny, 21 C in Paris"
    roles = [m["role"] for m in result.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    call = result.messages[1]["tool_calls"][0]
    assert call["function"]["name"] == "get_weather"
    assert result.messages[2] == {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C in Paris"}
    # What went out: the tool definitions every round, the tool result in the second.
    sent = [r["json"] for r in mock.requests()]
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["get_weather"]
    assert sent[1]["messages"][-1]["role"] == "tool"
    first, second = (h.response.usage for h in result.history)
    assert result.usage["total_tokens"] == first.total_tokens + second.total_tokens > 0
    assert result.cost == pytest.approx(sum(h.response.cost for h in result.history))
    # The transcript continues the conversation as it is.
    more = await client.chat(model="gpt-4o-mini", messages=[*result.messages, *user("thanks")])
    assert more.choices[0].message.content == "thanks"


async def test_parallel_tool_calls_run_concurrently_sync_and_async(mock):
    both_started = asyncio.Event()
    started: list[str] = []
    loop = asyncio.get_running_loop()

    async def first(n: int) -> int:
        """First."""
        started.append("first")
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 10)
        return n + 1

    def second(n: int) -> int:
        """Second (sync: runs in a worker thread)."""
        assert threading.current_thread() is not threading.main_thread()
        loop.call_soon_threadsafe(started.append, "second")
        loop.call_soon_threadsafe(lambda: both_started.set() if len(started) == 2 else None)
        asyncio.run_coroutine_threadsafe(asyncio.wait_for(both_started.wait(), 10), loop).result()
        return n * 10

    result = await client_for(mock).run_agent_loop(
        model="gpt-4o-mini",
        messages=user('call:first {"n": 1}\ncall:second {"n": 2}'),
        tools=[first, second],
    )
    assert sorted(started) == ["first", "second"]
    assert [o.content for o in result.history[0].tool_calls] == ["2", "20"]
    assert result.content == "2\n20"


async def test_failing_unknown_and_invalid_calls_are_told_to_the_model(mock):
    def broken(city: str) -> str:
        """Always fails."""
        raise RuntimeError(f"no data for {city}")

    client = client_for(mock)
    failed = await client.run_agent_loop(
        model="gpt-4o-mini", messages=user('call:broken {"city": "Oslo"}'), tools=[broken]
    )
    assert failed.content == "Error: broken raised RuntimeError: no data for Oslo"
    assert isinstance(failed.history[0].tool_calls[0].error, RuntimeError)
    with pytest.raises(RuntimeError, match="no data for Oslo"):
        await client.run_agent_loop(
            model="gpt-4o-mini", messages=user('call:broken {"city": "Oslo"}'), tools=[broken], tool_errors="raise"
        )

    invalid = await client.run_agent_loop(
        model="gpt-4o-mini", messages=user('call:get_weather {"city": 5, "mood": "x"}'), tools=[get_weather]
    )
    assert invalid.content.startswith("Error: invalid arguments for get_weather: arguments.city: expected string")

    # A model asking for a tool the loop does not have (scripted: the mock only calls given tools).
    unknown = {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "ghost", "arguments": "{}"}}
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10},
    }
    mock.push_faults([{"body": unknown}])
    result = await client.run_agent_loop(model="gpt-4o-mini", messages=user("hello"), tools=[get_weather])
    assert result.messages[2]["content"] == "Error: unknown tool 'ghost'; the tools are: get_weather"
    assert result.content == result.messages[2]["content"]
    mock.push_faults([{"body": unknown}])
    with pytest.raises(ValueError, match="unknown tool 'ghost'"):
        await client.run_agent_loop(
            model="gpt-4o-mini", messages=user("hello"), tools=[get_weather], tool_errors="raise"
        )


async def test_max_rounds_timeouts_and_a_callback_that_stops_the_loop(mock):
    def again() -> str:
        """Asks to be called again (its result is a call line)."""
        return "call:again"

    async def slow() -> str:
        """Never finishes in time."""
        await asyncio.sleep(30)
        return "late"

    client = client_for(mock)
    capped = await client.run_agent_loop(model="gpt-4o-mini", messages=user("call:again"), tools=[again], max_rounds=3)
    assert (capped.stop_reason, capped.rounds, mock.request_count) == ("max_rounds", 3, 3)

    seen = []
    stopped = await client.run_agent_loop(
        model="gpt-4o-mini",
        messages=user("call:again"),
        tools=[again],
        on_round=lambda r: seen.append(r.index) or len(seen) < 2,
    )
    assert (stopped.stop_reason, stopped.rounds, seen) == ("callback", 2, [0, 1])

    timed = await client.run_agent_loop(
        model="gpt-4o-mini", messages=user("call:slow"), tools=[Tool.from_function(slow, timeout=0.05)]
    )
    assert timed.content == "Error: slow did not finish in time"


async def test_bad_arguments_are_typed_errors_before_any_request(mock):
    client = client_for(mock)
    for kwargs, error in [
        ({"max_rounds": 0}, ValueError),
        ({"tool_errors": "ignore"}, ValueError),
        ({"tool_timeout": -1}, ValueError),
        ({"tools": ["not a tool"]}, TypeError),
        ({"tools": [get_weather, get_weather]}, ValueError),
        ({"messages": []}, ValueError),
        ({"stream": True}, ValueError),
    ]:
        call = {"model": "gpt-4o-mini", "messages": user("hi"), "tools": [get_weather], **kwargs}
        with pytest.raises(error):
            await client.run_agent_loop(**call)
    assert mock.request_count == 0


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"])
async def test_anthropic_and_gemini_models_run_the_same_loop(mock, model):
    result = await client_for(mock).run_agent_loop(
        model=model, messages=user('call:get_weather {"city": "Rome"}'), tools=[get_weather], max_tokens=200
    )
    assert result.rounds == 2 and result.stop_reason == "answer"
    assert "sunny, 21 C in Rome" in result.content
    assert result.messages[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert json.loads(result.messages[1]["tool_calls"][0]["function"]["arguments"]) == {"city": "Rome"}


def test_the_sync_twin_and_definition_pairs(mock):
    definition = function_tool(get_weather)
    result = client_for(mock).run_agent_loop_sync(
        model="gpt-4o-mini",
        messages=user('call:get_weather {"city": "Lima", "unit": "F"}'),
        tools=[(definition, get_weather)],
    )
    assert result.content == "sunny, 21 F in Lima"


async def test_many_loops_under_one_concurrency_limit(mock):
    client = client_for(mock)
    loops = [{"messages": user(f'call:get_weather {{"city": "c{i}"}}')} for i in range(20)]
    results = await client.run_agent_loops(loops, max_concurrency=4, model="gpt-4o-mini", tools=[get_weather])
    assert [r.content for r in results] == [f"sunny, 21 C in c{i}" for i in range(20)]
    assert mock.request_count == 40


@pytest.mark.parametrize("model", ["gpt-4o-mini", "anthropic/claude-sonnet-4-5"])
async def test_on_delta_streams_every_round_and_the_result_is_the_same(mock, model):
    client = client_for(mock)
    pieces: list[str] = []
    call = {"model": model, "messages": user('call:get_weather {"city": "Oslo"}'), "tools": [get_weather]}
    streamed = await client.run_agent_loop(**call, max_tokens=200, on_delta=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == streamed.content == "sunny, 21 C in Oslo"
    assert all(r["json"]["stream"] is True for r in mock.requests())
    plain = await client.run_agent_loop(**call, max_tokens=200)
    assert (streamed.rounds, streamed.messages[1:2][0]["tool_calls"][0]["function"]) == (
        plain.rounds,
        plain.messages[1]["tool_calls"][0]["function"],
    )
    assert streamed.usage["total_tokens"] == plain.usage["total_tokens"] > 0
    assert streamed.cost == pytest.approx(plain.cost)
