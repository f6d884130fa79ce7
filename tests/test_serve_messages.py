"""`liter-llm serve`'s Anthropic Messages API (`/v1/messages`), used through the official
`anthropic` SDK (sync, async, streaming, tool use) and raw HTTP, against the built-in mock
provider and the independent scenario server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import anthropic
import openai
import pytest
import scenario_server as ss
from test_serve import start, stop

KEY = "sk-proxy-test"
WEATHER = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def base():
    """A `liter-llm serve --mock` process on a free port (shared by this module); its base URL."""
    proc, url = start("--mock", "--mock-latency-ms", "0", "--master-key", KEY)
    yield url
    stop(proc)


@pytest.fixture
def routed(tmp_path, scenario):
    """A `liter-llm serve --config` process whose model `tools-model` goes to the scenario server."""
    config = tmp_path / "config.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: tools-model\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: {scenario.base_url}\n"
        "      api_key: sk-upstream\n"
    )
    proc, url = start("--config", str(config), "--master-key", KEY)
    yield url
    stop(proc)


def post(url: str, body: dict[str, Any], key: str = KEY) -> tuple[int, dict[str, Any]]:
    """Posts JSON with `x-api-key`; the status and the JSON answer (error statuses too)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("x-api-key", key)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, json.loads(refused.read())


def sdk(base_url: str, key: str = KEY) -> anthropic.Anthropic:
    """The Anthropic SDK aimed at the proxy, without retries (close it: `with sdk(...) as client`)."""
    return anthropic.Anthropic(api_key=key, base_url=base_url, max_retries=0)


def async_sdk(base_url: str) -> anthropic.AsyncAnthropic:
    """The async Anthropic SDK aimed at the proxy (`async with async_sdk(...) as client`)."""
    return anthropic.AsyncAnthropic(api_key=KEY, base_url=base_url, max_retries=0)


def test_sync_create_answers_a_message(base):
    with sdk(base) as client:
        message = client.messages.create(
            model="gpt-4o-mini",
            max_tokens=128,
            system="You echo.",
            messages=[{"role": "user", "content": "hello from the anthropic sdk"}],
        )
    assert message.role == "assistant"
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == "hello from the anthropic sdk"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_async_stream_yields_text_and_a_final_message(base):
    async with async_sdk(base) as client:
        async with client.messages.stream(
            model="gpt-4o-mini", max_tokens=128, messages=[{"role": "user", "content": "one two three four"}]
        ) as stream:
            pieces = [text async for text in stream.text_stream]
            final = await stream.get_final_message()
        again = await client.messages.create(
            model="gpt-4o-mini", max_tokens=16, messages=[{"role": "user", "content": "async"}]
        )
    assert len(pieces) > 1, "the answer arrives in pieces"
    assert "".join(pieces) == "one two three four"
    assert final.content[0].text == "one two three four"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    assert again.content[0].text == "async"


def test_create_with_stream_true_gives_the_raw_events(base):
    with sdk(base) as client:
        with client.messages.create(
            model="gpt-4o-mini", max_tokens=64, stream=True, messages=[{"role": "user", "content": "raw events"}]
        ) as stream:
            events = list(stream)
    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_start") == kinds.count("content_block_stop") == 1
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == "raw events"


def test_errors_map_to_the_sdk_exceptions(base):
    with sdk(base, key="sk-wrong") as wrong, pytest.raises(anthropic.AuthenticationError) as denied:
        wrong.messages.create(model="gpt-4o-mini", max_tokens=16, messages=[{"role": "user", "content": "x"}])
    assert KEY not in str(denied.value)
    with sdk(base) as client, pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(
            model="gpt-4o-mini",
            max_tokens=16,
            messages=[{"role": "user", "content": [{"type": "text", "text": "x"}]}],
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
        )
    assert bad.value.status_code == 400
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    assert "web_search" in bad.value.body["error"]["message"]


def test_raw_http_error_shapes_and_count_tokens(base):
    status, error = post(f"{base}/v1/messages", {"model": "gpt-4o-mini", "messages": []})
    assert status == 400
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    status, _ = post(f"{base}/v1/messages", {"model": "m", "max_tokens": 5, "messages": [], "bogus": 1}, key="no")
    assert status == 401
    status, counted = post(
        f"{base}/v1/messages/count_tokens",
        {"model": "gpt-4o", "system": "Be brief.", "messages": [{"role": "user", "content": "Hello there"}]},
    )
    assert status == 200 and 5 < counted["input_tokens"] < 50
    with sdk(base) as client:
        counted_by_sdk = client.messages.count_tokens(
            model="gpt-4o", system="Be brief.", messages=[{"role": "user", "content": "Hello there"}]
        )
    assert counted_by_sdk.input_tokens == counted["input_tokens"]


async def test_openai_and_anthropic_sdks_share_one_proxy_and_key(base):
    async with openai.AsyncOpenAI(api_key=KEY, base_url=f"{base}/v1", max_retries=0) as oai:
        chat = await oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "bearer"}])
    assert chat.choices[0].message.content == "bearer"
    async with async_sdk(base) as client:
        message = await client.messages.create(
            model="gpt-4o-mini", max_tokens=16, messages=[{"role": "user", "content": "x-api-key"}]
        )
    assert message.content[0].text == "x-api-key"


def test_a_tool_use_round_trip(routed, scenario):
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}
    scenario.script(
        ss.json_response(ss.completion(None, tool_calls=[call], finish_reason="tool_calls")),
        ss.json_response(ss.completion("It is 4C in Oslo.")),
    )
    asked = [{"role": "user", "content": "Weather in Oslo?"}]
    with sdk(routed) as client:
        first = client.messages.create(
            model="tools-model", max_tokens=256, tools=[WEATHER], tool_choice={"type": "auto"}, messages=asked
        )
        answered = [
            *asked,
            {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[0].id, "content": "4C"}]},
        ]
        second = client.messages.create(model="tools-model", max_tokens=256, tools=[WEATHER], messages=answered)
    assert first.stop_reason == "tool_use"
    [use] = first.content
    assert (use.type, use.id, use.name, use.input) == ("tool_use", "call_1", "get_weather", {"city": "Oslo"})
    assert second.content[0].text == "It is 4C in Oslo."

    sent = [r.json for r in scenario.requests]
    assert sent[0]["tools"][0]["function"]["name"] == "get_weather"
    assert sent[0]["tool_choice"] == "auto"
    assert sent[1]["messages"][1]["tool_calls"][0]["function"] == call["function"]
    assert sent[1]["messages"][2] == {"role": "tool", "tool_call_id": "call_1", "content": "4C"}


async def test_a_streamed_tool_call_arrives_as_input_json(routed, scenario):
    def tool_delta(**fields: Any) -> dict[str, Any]:
        return ss.chunk(tool_calls=[{"index": 0, **fields}])

    events = [
        ss.chunk("", role="assistant"),
        ss.chunk("Checking. "),
        tool_delta(id="call_7", type="function", function={"name": "get_weather", "arguments": ""}),
        tool_delta(function={"arguments": '{"city":'}),
        tool_delta(function={"arguments": '"Lima"}'}),
        ss.chunk(finish_reason="tool_calls"),
        ss.chunk(no_choices=True, usage={"prompt_tokens": 30, "completion_tokens": 9, "total_tokens": 39}),
    ]
    scenario.script(ss.raw_response(ss.sse_body(events), content_type="text/event-stream"))
    async with async_sdk(routed) as client:
        async with client.messages.stream(
            model="tools-model", max_tokens=256, tools=[WEATHER], messages=[{"role": "user", "content": "Lima?"}]
        ) as stream:
            final = await stream.get_final_message()
    assert [block.type for block in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Checking. "
    assert final.content[1].input == {"city": "Lima"}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (30, 9)
    assert scenario.requests[0].json["stream_options"] == {"include_usage": True}
