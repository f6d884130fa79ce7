"""Native providers and routing through real HTTP: the mock speaks the OpenAI, Anthropic Messages
and Gemini wire formats on one port, so each test checks both what went out (path, headers,
translated body) and what came back (the same typed response, chunks and errors as OpenAI).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import API_KEY, user
from liter_llm import (
    AuthenticationError,
    ChatCompletionResponse,
    EndpointNotSupportedError,
    LlmClient,
    NotFoundError,
    RateLimiter,
    ServiceUnavailableError,
)
from liter_llm.testing import MockServer


def last(server: Any) -> dict[str, Any]:
    return server.requests()[-1]


def client_for(server: Any, **kwargs: Any) -> LlmClient:
    return LlmClient(api_key=API_KEY, base_url=server.base_url, max_retries=0, **kwargs)


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


async def test_azure_uses_deployment_urls_and_the_api_key_header(mock_server):
    client = client_for(mock_server, api_version="2025-01-01-preview")
    # The mock has no Azure deployments: its 404 comes back typed, after the request was recorded.
    with pytest.raises(NotFoundError):
        await client.chat(model="azure/my-deployment", messages=user("hi"))
    sent = last(mock_server)
    assert sent["path"] == "/v1/openai/deployments/my-deployment/chat/completions"
    assert sent["query"] == "api-version=2025-01-01-preview"
    assert sent["headers"]["api-key"] == API_KEY
    assert "authorization" not in sent["headers"]


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
    limiter = RateLimiter(max_tokens_per_minute=1000, window_seconds=1)
    client = client_for(mock_server, rate_limiter=limiter)
    async with await client.chat_stream(model=model, messages=user("tiny"), max_tokens=500) as stream:
        chunks = [chunk async for chunk in stream]
    reported = [c.usage for c in chunks if c.usage is not None][-1]
    assert 0 < reported.total_tokens < 50
    assert client.usage.total_completion_tokens == reported.completion_tokens
    # The ~500-token reservation was refunded down to the reported usage, so 590 more fit at once.
    started = time.monotonic()
    await client.chat(model="gpt-4o-mini", messages=user("z"), max_tokens=590)
    assert time.monotonic() - started < 0.3


async def test_gemini_embed_batches_are_cut_at_its_limit_of_100(mock_server):
    client = client_for(mock_server)
    texts = [f"text {i}" for i in range(250)]
    response = await client.embed_batch(texts, model="gemini/text-embedding-004", max_concurrency=1)
    assert [d.index for d in response.data] == list(range(250))
    sizes = [len(r["json"]["requests"]) for r in mock_server.requests()]
    assert sizes == [100, 100, 50]
