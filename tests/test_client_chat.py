"""chat(): what goes on the wire, argument checking, and what comes back."""

from __future__ import annotations

import json

import liter_llm
import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, user
from liter_llm import ChatCompletionResponse, InvalidHeaderError, LlmError, SerializationError

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}


# --------------------------------------------------------------------------------------------
# Request wire format
# --------------------------------------------------------------------------------------------


async def test_request_is_a_post_to_chat_completions_with_auth_user_agent_and_json(client, mock_server):
    response = await client.chat(model=MODEL, messages=user("hi"))
    assert response.request_id is not None and response.request_id.startswith("req_mock_")

    [req] = mock_server.requests()
    assert req["method"] == "POST"
    assert req["path"] == "/v1/chat/completions"
    headers = req["headers"]
    assert headers["authorization"] == f"Bearer {API_KEY}"
    assert headers["user-agent"] == f"liter-llm/{liter_llm.__version__}"
    assert headers["content-type"].split(";")[0].strip() == "application/json"
    assert json.loads(req["body"]) == {"model": MODEL, "messages": user("hi")}


async def test_body_is_exactly_known_params_plus_passthrough_plus_extra_body_without_nones(client, mock_server):
    await client.chat(
        model=MODEL,
        messages=user("hi"),
        temperature=0.5,
        max_tokens=64,
        top_p=None,
        seed=None,
        stop=None,
        vendor_option={"a": None, "b": [1, 2.5, "x", True], "c": {"d": "é"}},
        extra_body={"provider": {"order": ["fast", "cheap"]}, "top_k": 5},
    )

    [req] = mock_server.requests()
    assert req["json"] == {
        "model": MODEL,
        "messages": user("hi"),
        "temperature": 0.5,
        "max_tokens": 64,
        "vendor_option": {"a": None, "b": [1, 2.5, "x", True], "c": {"d": "é"}},
        "provider": {"order": ["fast", "cheap"]},
        "top_k": 5,
    }


async def test_every_known_param_is_sent_verbatim(client, mock_server):
    params = {
        "temperature": 0.2,
        "top_p": 0.9,
        "n": 1,
        "stop": ["\n\n", "END"],
        "max_tokens": 50,
        "max_completion_tokens": 60,
        "seed": 42,
        "tools": [WEATHER_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
        },
        "logprobs": True,
        "top_logprobs": 3,
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "logit_bias": {"50256": -100, "15339": 5},
        "user": "user-1234",
        "reasoning_effort": "low",
        "metadata": {"team": "search", "run": "7"},
    }
    await client.chat(model=MODEL, messages=user("hi"), **params)

    [req] = mock_server.requests()
    assert req["json"] == {"model": MODEL, "messages": user("hi"), **params}


@pytest.mark.parametrize("stop", ["END", ["a", "b"]])
async def test_stop_accepts_a_string_or_a_list(client, mock_server, stop):
    await client.chat(model=MODEL, messages=user("hi"), stop=stop)
    assert mock_server.requests()[0]["json"]["stop"] == stop


@pytest.mark.parametrize("tool_choice", ["auto", "none", "required"])
async def test_tool_choice_accepts_the_string_forms(client, mock_server, tool_choice):
    await client.chat(model=MODEL, messages=user("hi"), tools=[WEATHER_TOOL], tool_choice=tool_choice)
    assert mock_server.requests()[0]["json"]["tool_choice"] == tool_choice


async def test_large_integers_in_passthrough_params_are_not_rounded(client, mock_server):
    big = 2**53 + 1  # not representable as a float
    await client.chat(model=MODEL, messages=user("hi"), seed=big, vendor_id=big)
    body = json.loads(mock_server.requests()[0]["body"])
    assert body["seed"] == big
    assert body["vendor_id"] == big


async def test_message_shapes_pass_through_unchanged(client, mock_server):
    messages = [
        {"role": "system", "content": "Be brief.", "name": "policy"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": -3}'},
        {"role": "user", "content": "thanks", "cache_control": {"type": "ephemeral"}},
    ]
    await client.chat(model=MODEL, messages=messages)
    assert mock_server.requests()[0]["json"]["messages"] == messages


async def test_extra_headers_from_client_and_call_are_sent_call_wins(mock_server, make_client):
    client = make_client(mock_server.base_url, extra_headers={"X-Team": "search", "X-Both": "client"})
    await client.chat(model=MODEL, messages=user("hi"), extra_headers={"X-Call": "42", "X-Both": "call"})
    await client.chat(model=MODEL, messages=user("again"))

    first, second = mock_server.requests()
    assert first["headers"]["x-team"] == "search"
    assert first["headers"]["x-call"] == "42"
    assert first["headers"]["x-both"] == "call"
    assert first["headers"]["authorization"] == f"Bearer {API_KEY}"
    # per-call headers do not stick to the client
    assert second["headers"]["x-both"] == "client"
    assert "x-call" not in second["headers"]


async def test_base_url_with_a_path_prefix_is_kept(scenario, make_client):
    client = make_client(scenario.origin + "/proxy/openai/v1")
    await client.chat(model=MODEL, messages=user("hi"))
    assert scenario.requests[0].path == "/proxy/openai/v1/chat/completions"


async def test_base_url_with_a_trailing_slash_does_not_double_the_slash(scenario, make_client):
    client = make_client(scenario.base_url + "/")
    await client.chat(model=MODEL, messages=user("hi"))
    assert scenario.requests[0].path == "/v1/chat/completions"


# --------------------------------------------------------------------------------------------
# Arguments are checked before anything is sent
# --------------------------------------------------------------------------------------------

BAD_ARGS = [
    pytest.param({"messages": user("hi")}, ValueError, id="model-missing"),
    pytest.param({"model": None, "messages": user("hi")}, ValueError, id="model-none"),
    pytest.param({"model": 123, "messages": user("hi")}, TypeError, id="model-int"),
    pytest.param({"model": MODEL, "messages": "hi"}, TypeError, id="messages-str"),
    pytest.param({"model": MODEL, "messages": {"role": "user", "content": "hi"}}, TypeError, id="messages-dict"),
    pytest.param({"model": MODEL, "messages": user("hi"), "temperature": "hot"}, TypeError, id="temperature-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "top_p": "x"}, TypeError, id="top_p-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "max_tokens": "10"}, TypeError, id="max_tokens-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "max_tokens": 1.5}, TypeError, id="max_tokens-float"),
    pytest.param({"model": MODEL, "messages": user("hi"), "n": "2"}, TypeError, id="n-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "seed": "x"}, TypeError, id="seed-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "stop": 5}, TypeError, id="stop-int"),
    pytest.param({"model": MODEL, "messages": user("hi"), "tools": "get_weather"}, TypeError, id="tools-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "logprobs": "yes"}, TypeError, id="logprobs-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "logit_bias": [1, 2]}, TypeError, id="logit_bias-list"),
    pytest.param({"model": MODEL, "messages": user("hi"), "metadata": "x"}, TypeError, id="metadata-str"),
    pytest.param({"model": MODEL, "messages": user("hi"), "extra_body": [1]}, TypeError, id="extra_body-list"),
    pytest.param({"model": MODEL, "messages": user("hi"), "extra_headers": "x"}, TypeError, id="extra_headers-str"),
]


@pytest.mark.parametrize(("kwargs", "exc"), BAD_ARGS)
async def test_bad_arguments_raise_before_any_request(client, mock_server, kwargs, exc):
    with pytest.raises(exc):
        await client.chat(**kwargs)
    assert mock_server.request_count == 0


@pytest.mark.parametrize(("kwargs", "exc"), BAD_ARGS)
async def test_bad_arguments_raise_before_any_stream_request(client, mock_server, kwargs, exc):
    with pytest.raises(exc):
        await client.chat_stream(**kwargs)
    assert mock_server.request_count == 0


async def test_missing_messages_is_rejected_before_any_request(client, mock_server):
    with pytest.raises((ValueError, TypeError)):
        await client.chat(model=MODEL)
    assert mock_server.request_count == 0


async def test_positional_arguments_are_rejected(client, mock_server):
    with pytest.raises(TypeError):
        await client.chat(MODEL, user("hi"))
    assert mock_server.request_count == 0


async def test_a_value_that_is_not_json_is_rejected_before_any_request(client, mock_server):
    with pytest.raises((TypeError, ValueError, SerializationError)):
        await client.chat(model=MODEL, messages=user("hi"), vendor_option=object())
    with pytest.raises((TypeError, ValueError, SerializationError)):
        await client.chat(model=MODEL, messages=[{"role": "user", "content": object()}])
    assert mock_server.request_count == 0


async def test_a_lone_surrogate_is_rejected_before_any_request(client, mock_server):
    with pytest.raises((TypeError, ValueError, LlmError)):
        await client.chat(model=MODEL, messages=user("broken \ud800 text"))
    assert mock_server.request_count == 0


async def test_an_invalid_per_call_header_is_rejected_before_any_request(client, mock_server):
    with pytest.raises(InvalidHeaderError):
        await client.chat(model=MODEL, messages=user("hi"), extra_headers={"Bad Header": "x"})
    with pytest.raises(InvalidHeaderError):
        await client.chat(model=MODEL, messages=user("hi"), extra_headers={"X-Ok": "line\r\nX-Injected: 1"})
    assert mock_server.request_count == 0


async def test_the_client_still_works_after_rejected_arguments(client, mock_server):
    with pytest.raises(TypeError):
        await client.chat(model=MODEL, messages=user("hi"), temperature="hot")
    r = await client.chat(model=MODEL, messages=user("still fine"))
    assert r.choices[0].message.content == "still fine"


# --------------------------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------------------------


async def test_reply_echoes_the_last_user_message_with_consistent_usage(client):
    messages = [
        {"role": "system", "content": "You echo."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "the quick brown fox"},
    ]
    r = await client.chat(model=MODEL, messages=messages)

    assert isinstance(r, ChatCompletionResponse)
    assert isinstance(r.id, str) and r.id
    assert r.object == "chat.completion"
    assert isinstance(r.created, int)
    assert isinstance(r.model, str) and r.model
    [choice] = r.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "the quick brown fox"
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"
    usage = r.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_each_response_has_its_own_id(client):
    a = await client.chat(model=MODEL, messages=user("one"))
    b = await client.chat(model=MODEL, messages=user("two"))
    assert a.id != b.id


async def test_n_returns_that_many_choices_in_order(client):
    r = await client.chat(model=MODEL, messages=user("many"), n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.message.content == "many" for c in r.choices)


async def test_max_tokens_truncates_with_finish_reason_length(client):
    r = await client.chat(model=MODEL, messages=user("one two three four five six seven eight"), max_tokens=2)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens <= 2
    assert r.choices[0].message.content != "one two three four five six seven eight"


async def test_configured_reply_is_returned(make_client):
    from liter_llm.testing import MockServer

    with MockServer(reply="Fixed answer.") as server:
        r = await make_client(server.base_url).chat(model=MODEL, messages=user("anything"))
    assert r.choices[0].message.content == "Fixed answer."


async def test_response_fields_come_from_the_server_exactly(scenario, scenario_client):
    scenario.script(
        ss.json_response(
            ss.completion("Bonjour", model="gpt-4o-mini-2024-07-18", id="chatcmpl-XYZ", system_fingerprint="fp_44709")
        )
    )
    r = await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert r.id == "chatcmpl-XYZ"
    assert r.model == "gpt-4o-mini-2024-07-18"
    assert r.created == ss.CREATED
    assert r.system_fingerprint == "fp_44709"
    assert r.choices[0].message.content == "Bonjour"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens, r.usage.total_tokens) == (5, 2, 7)


async def test_a_gzip_compressed_response_is_decoded(scenario, scenario_client):
    import gzip

    body = json.dumps(ss.completion("squeezed")).encode()
    scenario.script(
        ss.raw_response(gzip.compress(body), content_type="application/json", headers={"Content-Encoding": "gzip"})
    )
    r = await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert r.choices[0].message.content == "squeezed"


# --------------------------------------------------------------------------------------------
# Unicode and size
# --------------------------------------------------------------------------------------------

UNICODE_TEXTS = [
    pytest.param("Hello 👋🏽 family: 👨‍👩‍👧‍👦 flags: 🇳🇴🇯🇵", id="emoji-zwj-flags"),
    pytest.param("你好，世界。日本語のテキスト。한국어", id="cjk"),
    pytest.param("e\u0301 a\u0308 n\u0303 \u1e9b\u0323", id="combining"),
    pytest.param("مرحبا بالعالم שלום", id="rtl"),
    pytest.param('quotes " and \\ backslash \t tab \n newline \u0000 nul \u2028 ls', id="escapes"),
]


@pytest.mark.parametrize("text", UNICODE_TEXTS)
async def test_unicode_survives_the_round_trip_exactly(client, mock_server, text):
    r = await client.chat(model=MODEL, messages=user(text))
    assert mock_server.requests()[0]["json"]["messages"][0]["content"] == text
    assert r.choices[0].message.content == text


@pytest.mark.parametrize("text", UNICODE_TEXTS)
async def test_unicode_from_an_independent_server_is_decoded_exactly(scenario, scenario_client, text):
    scenario.script(ss.json_response(ss.completion(text)))
    r = await scenario_client.chat(model=MODEL, messages=user(text))
    assert scenario.requests[0].json["messages"][0]["content"] == text
    assert r.choices[0].message.content == text


async def test_a_5_mb_response_body_arrives_intact(scenario, scenario_client):
    unit = "liter-llm 🚀 ∑ 你好 "  # mixes 1-, 3- and 4-byte UTF-8
    text = unit * (5 * 1024 * 1024 // len(unit.encode()))
    scenario.script(ss.json_response(ss.completion(text)))
    r = await scenario_client.chat(model=MODEL, messages=user("big please"))
    assert len(r.choices[0].message.content) == len(text)
    assert r.choices[0].message.content == text


async def test_a_5_mb_request_body_is_sent_intact(scenario, scenario_client):
    text = "0123456789abcdé" * (5 * 1024 * 1024 // 16)
    r = await scenario_client.chat(model=MODEL, messages=user(text))
    assert scenario.requests[0].json["messages"][0]["content"] == text
    assert r.choices[0].message.content == text


async def test_sequential_requests_reuse_the_connection(scenario, scenario_client):
    for i in range(10):
        await scenario_client.chat(model=MODEL, messages=user(f"n{i}"))
    peers = {r.peer for r in scenario.requests}
    assert len(scenario.requests) == 10
    assert len(peers) <= 2, peers
