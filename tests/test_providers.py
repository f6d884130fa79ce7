"""Native providers and routing through real HTTP: the mock speaks the OpenAI, Anthropic Messages
and Gemini wire formats on one port, so each test checks both what went out (path, headers,
translated body) and what came back (the same typed response, chunks and errors as OpenAI).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
import scenario_server as ss
from conftest import API_KEY, client_for, user
from liter_llm import (
    AuthenticationError,
    ChatCompletionResponse,
    ContentPolicyError,
    EndpointNotSupportedError,
    LlmClient,
    RateLimitedError,
    RateLimiter,
    ServerError,
    ServiceUnavailableError,
)
from liter_llm.testing import MockServer


def last(server: Any) -> dict[str, Any]:
    return server.requests()[-1]


async def test_anthropic_models_speak_the_messages_api(mock_server):
    client = client_for(mock_server)
    messages = [{"role": "system", "content": "Be brief."}, *user("Hello from the router")]
    response = await client.chat(model="anthropic/claude-sonnet-4-5", messages=messages)
    assert isinstance(response, ChatCompletionResponse)
    assert response.choices[0].message.content == "Hello from the router"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage is not None and response.usage.completion_tokens > 0
    sent = last(mock_server)
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == API_KEY
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent["headers"]
    body = sent["json"]
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == "Be brief."
    assert body["max_tokens"] == 4096
    assert [m["role"] for m in body["messages"]] == ["user"]


async def test_anthropic_streams_become_openai_chunks(mock_server):
    client = client_for(mock_server)
    stream = await client.chat_stream(model="anthropic/claude-haiku-4-5", messages=user("one two three"))
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert last(mock_server)["json"]["stream"] is True


async def test_anthropic_overloaded_is_service_unavailable(mock_server):
    client = client_for(mock_server)
    mock_server.push_faults([{"status": 529}])
    with pytest.raises(ServiceUnavailableError) as info:
        await client.chat(model="anthropic/claude-sonnet-4-5", messages=user("hi"))
    assert info.value.status_code == 529
    assert API_KEY not in str(info.value)


async def test_gemini_models_speak_generate_content(mock_server):
    client = client_for(mock_server)
    messages = [{"role": "system", "content": "Be brief."}, *user("Hello Gemini")]
    response = await client.chat(model="gemini/gemini-2.5-flash", messages=messages, max_tokens=50)
    assert response.choices[0].message.content == "Hello Gemini"
    sent = last(mock_server)
    assert sent["path"] == "/v1/models/gemini-2.5-flash:generateContent"
    assert sent["headers"]["x-goog-api-key"] == API_KEY
    assert "authorization" not in sent["headers"]
    assert sent["json"]["systemInstruction"]["parts"][0]["text"] == "Be brief."
    assert sent["json"]["generationConfig"]["maxOutputTokens"] == 50

    stream = await client.chat_stream(model="gemini/gemini-2.5-flash", messages=user("streamed words here"))
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed words here"
    assert last(mock_server)["query"] == "alt=sse"


async def test_gemini_embeddings_use_the_native_endpoint(mock_server):
    client = client_for(mock_server)
    response = await client.embed(model="gemini/text-embedding-004", input=["a", "b"])
    assert [d.index for d in response.data] == [0, 1]
    assert len(response.data[0].embedding) > 0
    assert last(mock_server)["path"] == "/v1/models/text-embedding-004:batchEmbedContents"


async def test_a_provider_without_the_endpoint_fails_before_any_request(mock_server):
    client = client_for(mock_server)
    before = len(mock_server.requests())
    with pytest.raises(EndpointNotSupportedError, match="anthropic"):
        await client.embed(model="anthropic/claude-sonnet-4-5", input="x")
    assert len(mock_server.requests()) == before


async def test_the_client_key_never_reaches_another_providers_host(mock_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-from-env")
    with MockServer() as other:
        client = client_for(mock_server, providers=[{"name": "anthropic", "base_url": other.base_url}])
        await client.chat(model="anthropic/claude-sonnet-4-5", messages=user("isolated"))
        await client.chat(model="gpt-4o-mini", messages=user("own"))
        [sent] = other.requests()
        assert sent["headers"]["x-api-key"] == "sk-ant-from-env"
        assert API_KEY not in repr(sent["headers"]) and API_KEY.encode() not in sent["body"]
    own = last(mock_server)
    assert own["headers"]["authorization"] == f"Bearer {API_KEY}"


async def test_a_missing_key_names_its_variable_before_any_request(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = LlmClient(api_key="sk-openai-only", max_retries=0)
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY"):
        await client.chat(model="anthropic/claude-sonnet-4-5", messages=user("hi"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="OPENAI_API_KEY"):
        await LlmClient().chat(model="gpt-4o-mini", messages=user("hi"))


async def test_groq_prefix_is_stripped_and_renames_applied(mock_server):
    client = client_for(mock_server)
    await client.chat(model="groq/llama-3.3-70b-versatile", messages=user("hi"), logprobs=True)
    sent = last(mock_server)
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"]["model"] == "llama-3.3-70b-versatile"
    assert "logprobs" not in sent["json"]
    await client.chat(model="mistral/mistral-small", messages=user("hi"), max_completion_tokens=7)
    assert last(mock_server)["json"]["max_tokens"] == 7
    # Given both names, the provider gets only the one it knows, with the caller's value for it.
    await client.chat(model="mistral/mistral-small", messages=user("hi"), max_completion_tokens=7, max_tokens=9)
    sent = last(mock_server)["json"]
    assert sent["max_tokens"] == 9
    assert "max_completion_tokens" not in sent


async def test_azure_uses_deployment_urls_and_the_api_key_header(mock_server):
    client = client_for(mock_server, api_version="2025-01-01-preview")
    answer = await client.chat(model="azure/my-deployment", messages=user("hi"))
    assert answer.choices[0].message.content == "hi"
    sent = last(mock_server)
    assert sent["path"] == "/v1/openai/deployments/my-deployment/chat/completions"
    assert sent["query"] == "api-version=2025-01-01-preview"
    assert sent["headers"]["api-key"] == API_KEY
    assert "authorization" not in sent["headers"]
    # A deployment name cannot rewrite the query.
    await client.chat(model="azure/dep?api-version=old", messages=user("hi"))
    sent = last(mock_server)
    assert sent["path"] == "/v1/openai/deployments/dep%3Fapi-version=old/chat/completions"
    assert sent["query"] == "api-version=2025-01-01-preview"


async def test_custom_providers_route_by_prefix_and_conflicts_are_errors(mock_server, monkeypatch):
    monkeypatch.setenv("ACME_KEY", "acme-secret")
    acme = {
        "name": "acme",
        "base_url": mock_server.base_url,
        "auth_header": "X-Acme-Key",
        "model_prefixes": ["acme-"],
        "api_key_env": "ACME_KEY",
    }
    client = LlmClient(api_key=API_KEY, max_retries=0, providers=[acme])
    await client.chat(model="acme-7b", messages=user("hi"))
    sent = last(mock_server)
    assert sent["json"]["model"] == "acme-7b"
    assert sent["headers"]["x-acme-key"] == "acme-secret"
    assert "authorization" not in sent["headers"], "the client's own key stays with its own provider"
    await client.chat(model="acme/big-model", messages=user("hi"))
    assert last(mock_server)["json"]["model"] == "big-model"
    with pytest.raises(ValueError, match="already routed"):
        LlmClient(
            api_key="k",
            providers=[
                {"name": "one", "base_url": "http://127.0.0.1:1/v1", "model_prefixes": ["dup-"]},
                {"name": "two", "base_url": "http://127.0.0.1:1/v1", "model_prefixes": ["dup-"]},
            ],
        )
    with pytest.raises(ValueError, match="unknown provider key"):
        LlmClient(api_key="k", providers=[{"name": "x", "url": "http://127.0.0.1:1"}])
    with pytest.raises(TypeError):
        LlmClient(api_key="k", providers={"name": "x"})  # type: ignore[arg-type]


def test_register_provider_applies_to_later_clients():
    LlmClient.register_provider({"name": "registered-test", "base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(ValueError):
        LlmClient.register_provider({"name": "clash", "base_url": "http://x", "model_prefixes": ["registered-test"]})
    assert LlmClient(api_key="k").base_url == "https://api.openai.com/v1"


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"])
async def test_native_streams_settle_their_token_reservation_with_the_reported_usage(mock_server, model):
    # A minute-long window and a 5 s max_delay_seconds: a request that has to wait for the window
    # raises RateLimitedError at once, so "fits now" needs no clock reading.
    limiter = RateLimiter(max_tokens_per_minute=1000, max_delay_seconds=5)
    client = client_for(mock_server, rate_limiter=limiter)
    async with await client.chat_stream(model=model, messages=user("tiny"), max_tokens=500) as stream:
        chunks = [chunk async for chunk in stream]
    reported = [c.usage for c in chunks if c.usage is not None][-1]
    assert 0 < reported.total_tokens < 50
    assert client.usage.total_completion_tokens == reported.completion_tokens
    # The ~500-token reservation was refunded down to the reported usage, so 590 more fit at once.
    await client.chat(model="gpt-4o-mini", messages=user("z"), max_tokens=590)


async def test_gemini_embed_batches_are_cut_at_its_limit_of_100(mock_server):
    client = client_for(mock_server)
    texts = [f"text {i}" for i in range(250)]
    response = await client.embed_batch(texts, model="gemini/text-embedding-004", max_concurrency=1)
    assert [d.index for d in response.data] == list(range(250))
    sizes = [len(r["json"]["requests"]) for r in mock_server.requests()]
    assert sizes == [100, 100, 50]


async def test_a_bare_model_hint_sends_the_explicit_key_only_to_that_providers_host(mock_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-env")
    with MockServer() as anthropic_host:
        client = LlmClient(
            api_key=API_KEY,
            model_hint="claude-sonnet-4-5",
            max_retries=0,
            providers=[
                {"name": "anthropic", "base_url": anthropic_host.base_url},
                {"name": "openai", "base_url": mock_server.base_url},
            ],
        )
        await client.chat(model="claude-sonnet-4-5", messages=user("to anthropic"))
        await client.chat(model="openai/gpt-4o-mini", messages=user("to openai"))
        sent = last(anthropic_host)
        assert sent["path"] == "/v1/messages"
        assert sent["headers"]["x-api-key"] == API_KEY
    assert last(mock_server)["headers"]["authorization"] == "Bearer sk-openai-env"


async def test_with_options_never_carries_the_key_to_a_new_provider(mock_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env")
    client = LlmClient(
        api_key=API_KEY, max_retries=0, providers=[{"name": "anthropic", "base_url": mock_server.base_url}]
    )
    moved = client.with_options(model_hint="anthropic/claude-sonnet-4-5")
    await moved.chat(model="claude-sonnet-4-5", messages=user("hi"))
    assert last(mock_server)["headers"]["x-api-key"] == "sk-ant-env"
    # Same provider, new host: the key goes along, as the caller asked.
    same = client.with_options(base_url=mock_server.base_url)
    await same.chat(model="gpt-4o-mini", messages=user("hi"))
    assert last(mock_server)["headers"]["authorization"] == f"Bearer {API_KEY}"


async def test_a_custom_provider_missing_its_named_key_variable_fails_before_sending(mock_server, monkeypatch):
    monkeypatch.delenv("ACME_MISSING_KEY", raising=False)
    acme = {"name": "acme", "base_url": mock_server.base_url, "api_key_env": "ACME_MISSING_KEY"}
    client = LlmClient(api_key=API_KEY, max_retries=0, providers=[acme])
    with pytest.raises(AuthenticationError, match="ACME_MISSING_KEY"):
        await client.chat(model="acme/model", messages=user("hi"))
    assert mock_server.request_count == 0


def sse(events: list[tuple[str | None, str]]) -> bytes:
    return b"".join(
        (f"event: {name}\n" if name else "").encode() + f"data: {data}\n\n".encode() for name, data in events
    )


GEMINI_STREAM = sse(
    [
        (None, '{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}]}'),
        (
            None,
            '{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP","index":0}],'
            '"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2,"totalTokenCount":5}}',
        ),
    ]
)
ANTHROPIC_STREAM = sse(
    [
        (
            "message_start",
            '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],'
            '"model":"claude-haiku-4-5","stop_reason":null,"usage":{"input_tokens":3,"output_tokens":1}}}',
        ),
        ("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
        (
            "content_block_delta",
            '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
        ),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}'),
        ("message_stop", '{"type":"message_stop"}'),
    ]
)


@pytest.mark.parametrize(
    ("provider", "model", "body"),
    [("gemini", "gemini-2.5-flash", GEMINI_STREAM), ("anthropic", "claude-haiku-4-5", ANTHROPIC_STREAM)],
)
async def test_native_streams_end_at_their_last_event_even_if_the_connection_stays_open(
    scenario, provider, model, body
):
    scenario.script(ss.sse_response([body], end="hang"))
    client = LlmClient(
        api_key=API_KEY, max_retries=0, timeout=20, providers=[{"name": provider, "base_url": scenario.base_url}]
    )
    started = time.monotonic()

    async def read() -> list[Any]:
        async with await client.chat_stream(model=f"{provider}/{model}", messages=user("hi")) as stream:
            return [chunk async for chunk in stream]

    chunks = await asyncio.wait_for(read(), 20)
    assert time.monotonic() - started < 10  # the server holds the connection until the test ends
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello"
    assert [c.usage.total_tokens for c in chunks if c.usage] == [5]
    assert client.usage.num_api_calls == 1


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-flash"])
async def test_native_tool_calls_come_back_as_openai_tool_calls(mock_server, model):
    client = client_for(mock_server)
    ask = user('call:get_weather {"city": "Paris"}')
    response = await client.chat(model=model, messages=ask, tools=[WEATHER_TOOL], tool_choice="required")
    [call] = response.choices[0].message.tool_calls
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"Paris"}')
    assert response.choices[0].finish_reason == "tool_calls"
    sent = last(mock_server)["json"]
    if model.startswith("anthropic"):
        assert sent["tools"] == [
            {
                "name": "get_weather",
                "description": "Current weather for a city.",
                "input_schema": WEATHER_TOOL["function"]["parameters"],
            }
        ]
        assert sent["tool_choice"] == {"type": "any"}
    else:
        assert sent["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
        assert sent["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"

    stream = await client.chat_stream(model=model, messages=ask, tools=[WEATHER_TOOL])
    pieces = [d for c in [c async for c in stream] if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert pieces[0].function.name == "get_weather"
    assert "".join(p.function.arguments or "" for p in pieces) == '{"city":"Paris"}'


@pytest.mark.parametrize("model", ["anthropic/claude-haiku-4-5", "gemini/gemini-2.5-flash"])
async def test_an_error_event_mid_stream_raises_the_mapped_error(mock_server, model):
    client = client_for(mock_server)
    mock_server.push_faults([{"cut_after": 1, "error_event": {"type": "overloaded_error", "message": "busy"}}])
    stream = await client.chat_stream(model=model, messages=user("one two three four"))
    with pytest.raises(ServiceUnavailableError, match="busy"):
        async for _ in stream:
            pass


async def test_gemini_blocked_prompts_and_quota_errors_are_typed(mock_server):
    client = client_for(mock_server)
    with pytest.raises(ContentPolicyError):
        await client.chat(model="gemini/gemini-2.5-flash", messages=user("blocked: something"))
    mock_server.push_faults([{"status": 429, "retry_after": 7}])
    with pytest.raises(RateLimitedError) as info:
        await client.chat(model="gemini/gemini-2.5-flash", messages=user("hi"))
    assert info.value.status_code == 429
    assert info.value.retry_after == 7
    assert API_KEY not in str(info.value)


async def test_a_base_url_without_api_key_never_receives_other_providers_env_keys(mock_server, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-stays-home")
    client = LlmClient(base_url=mock_server.base_url, max_retries=0)
    # The stand-in host asks for a key it was never given.
    with pytest.raises(AuthenticationError, match="x-api-key"):
        await client.chat(model="anthropic/claude-sonnet-4-5", messages=user("via proxy"))
    sent = last(mock_server)
    assert sent["path"] == "/v1/messages"
    assert "x-api-key" not in sent["headers"]


async def test_a_query_key_provider_gets_the_key_as_a_parameter_and_errors_never_show_it(mock_server, monkeypatch):
    monkeypatch.setenv("QK_KEY", "qk-secret-123")
    qk = {"name": "qk", "base_url": mock_server.base_url, "auth_query": "key", "api_key_env": "QK_KEY"}
    client = LlmClient(api_key=API_KEY, max_retries=0, providers=[qk])
    await client.chat(model="qk/model", messages=user("hi"))
    sent = last(mock_server)
    assert sent["query"] == "key=qk-secret-123"
    assert "authorization" not in sent["headers"]
    mock_server.push_faults([{"status": 500}])
    with pytest.raises(ServerError) as info:
        await client.chat(model="qk/model", messages=user("hi"))
    assert "qk-secret-123" not in str(info.value) and "qk-secret-123" not in repr(info.value.body)
    with pytest.raises(ValueError, match="not both"):
        LlmClient(api_key="k", providers=[{**qk, "auth_header": "X-Key"}])
