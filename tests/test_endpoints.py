"""Models, images, speech, moderation and rerank against the mock provider, plus which
providers serve which endpoint families."""

from __future__ import annotations

import base64
import struct

import pytest
from conftest import API_KEY
from liter_llm import (
    AuthenticationError,
    BadRequestError,
    EndpointNotSupportedError,
    Image,
    ImagesResponse,
    LlmClient,
    ModelObject,
    ModelsListResponse,
    ModerationCategories,
    ModerationCategoryScores,
    ModerationResponse,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RerankResponse,
    RerankResult,
    SerializationError,
)

MODERATION_KEYS = {
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
}


# ----- models -----


async def test_list_models_gets_the_typed_list(client, mock_server):
    r = await client.list_models()
    assert isinstance(r, ModelsListResponse) and r.object == "list"
    assert all(isinstance(m, ModelObject) for m in r.data)
    by_id = {m.id: m for m in r.data}
    assert by_id["gpt-4o-mini"].object == "model" and by_id["gpt-4o-mini"].created > 0
    assert by_id["whisper-1"].owned_by == "openai-internal"
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"], sent["body"]) == ("GET", "/v1/models", b"")
    assert sent["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert r.to_dict()["data"][0] == {"id": "mock-model", "object": "model", "created": 0, "owned_by": "liter_llm"}


# ----- images -----


async def test_image_generate_sends_the_documented_body_and_types_the_urls(client, mock_server):
    r = await client.image_generate(prompt="a red fox", model="dall-e-3", size="1024x1024", quality="hd", style="vivid")
    assert isinstance(r, ImagesResponse) and r.created > 0 and r.usage is None
    (image,) = r.data
    assert isinstance(image, Image)
    assert image.url is not None and image.url.endswith(".png") and image.b64_json is None
    assert image.revised_prompt == "A detailed illustration of a red fox"
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/images/generations")
    assert sent["headers"]["content-type"] == "application/json"
    assert sent["json"] == {
        "prompt": "a red fox",
        "model": "dall-e-3",
        "size": "1024x1024",
        "quality": "hd",
        "style": "vivid",
    }


async def test_image_b64_json_decodes_to_a_png_and_usage_is_kept(client, mock_server):
    r = await client.image_generate(prompt="a cat", model="gpt-image-1", n=2, user="u-1", background="transparent")
    assert len(r.data) == 2
    png = base64.b64decode(r.data[0].b64_json or "")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and r.data[0].url is None
    assert r.usage is not None and r.usage["total_tokens"] == r.usage["input_tokens"] + r.usage["output_tokens"]
    # Unknown parameters pass through.
    assert mock_server.requests()[0]["json"]["background"] == "transparent"


async def test_image_bad_arguments_fail_before_sending(client, mock_server):
    with pytest.raises(TypeError):
        client.image_generate(model="dall-e-3")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="prompt"):
        client.image_generate(prompt="")
    with pytest.raises(TypeError, match="n must be an int"):
        client.image_generate(prompt="x", n="2")
    with pytest.raises(ValueError, match="response_format"):
        client.image_generate(prompt="x", response_format="png")  # type: ignore[arg-type]
    assert mock_server.requests() == []


async def test_image_provider_errors_are_mapped(client, mock_server):
    mock_server.push_faults([{"status": 400, "body": {"error": {"message": "Your prompt was rejected", "type": "x"}}}])
    with pytest.raises(BadRequestError, match="rejected") as info:
        await client.image_generate(prompt="x")
    assert info.value.status_code == 400


# ----- speech -----


async def test_speech_returns_the_audio_bytes(client, mock_server):
    wav = await client.speech(model="tts-1", input="Hello there", voice="alloy", response_format="wav", speed=1.25)
    assert isinstance(wav, bytes) and wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    (data_len,) = struct.unpack("<I", wav[40:44])
    assert data_len == len(wav) - 44 > 0
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/audio/speech")
    assert sent["json"] == {
        "model": "tts-1",
        "input": "Hello there",
        "voice": "alloy",
        "response_format": "wav",
        "speed": 1.25,
    }
    longer = await client.speech(model="tts-1", input="Hello there, and welcome to the show", voice="alloy")
    assert longer[:3] == b"ID3" and len(longer) > 1000


async def test_speech_checks_arguments_before_sending(client, mock_server):
    with pytest.raises(TypeError):
        client.speech(model="tts-1", input="hi")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="speed"):
        client.speech(model="tts-1", input="hi", voice="alloy", speed=9)
    with pytest.raises(ValueError, match="input"):
        client.speech(model="tts-1", input="", voice="alloy")
    assert mock_server.requests() == []


# ----- moderation -----


async def test_moderate_types_every_category(client, mock_server):
    r = await client.moderate(input=["I will kill the process", "lovely weather"], model="omni-moderation-latest")
    assert isinstance(r, ModerationResponse) and r.model == "omni-moderation-latest" and r.id
    flagged, clean = r.results
    assert flagged.flagged and not clean.flagged
    assert isinstance(flagged.categories, ModerationCategories)
    assert isinstance(flagged.category_scores, ModerationCategoryScores)
    assert flagged.categories.violence is True and flagged.categories.self_harm_intent is False
    assert flagged.category_scores.violence == pytest.approx(0.93)
    assert set(flagged.categories.to_dict()) == MODERATION_KEYS
    assert set(flagged.category_scores.to_dict()) == MODERATION_KEYS
    assert "self_harm_intent=False" in repr(flagged.categories)
    sent = mock_server.requests()[0]
    assert sent["path"] == "/v1/moderations"
    assert sent["json"] == {"input": ["I will kill the process", "lovely weather"], "model": "omni-moderation-latest"}


async def test_moderation_tolerates_missing_categories(client, mock_server):
    legacy = {
        "id": "modr-1",
        "model": "text-moderation-007",
        "results": [{"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.01}}],
    }
    mock_server.push_faults([{"status": 200, "body": legacy}])
    r = await client.moderate(input="hello")
    result = r.results[0]
    assert result.categories.hate is False and result.category_scores.hate == 0.01
    assert result.categories.illicit is None and result.category_scores.violence is None
    assert result.category_applied_input_types is None


async def test_moderate_requires_input(client, mock_server):
    with pytest.raises(TypeError):
        client.moderate()  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="input"):
        client.moderate(input=[])
    assert mock_server.requests() == []


# ----- rerank -----


async def test_rerank_sends_the_cohere_body_and_sorts_by_relevance(client, mock_server):
    docs = ["Paris, capital of France", "The sky is blue today", "Blue whales are large"]
    r = await client.rerank(
        model="rerank-v3.5", query="why is the sky blue", documents=docs, top_n=2, return_documents=True
    )
    assert isinstance(r, RerankResponse) and r.model == "rerank-v3.5"
    assert [x.index for x in r.results] == [1, 2]
    assert all(isinstance(x, RerankResult) for x in r.results)
    assert r.results[0].relevance_score >= r.results[1].relevance_score
    assert r.results[0].document == {"text": "The sky is blue today"}
    assert r.meta is not None and r.usage is not None
    sent = mock_server.requests()[0]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/rerank")
    assert sent["json"] == {
        "model": "rerank-v3.5",
        "query": "why is the sky blue",
        "documents": docs,
        "top_n": 2,
        "return_documents": True,
    }


async def test_rerank_results_are_sorted_even_when_the_provider_does_not(client, mock_server):
    body = {
        "model": "jina-reranker-v2",
        "usage": {"total_tokens": 9},
        "results": [
            {"index": 0, "relevance_score": 0.1},
            {"index": 1, "relevance_score": 0.8, "document": {"text": "b"}},
            {"index": 2, "relevance_score": 0.5},
        ],
    }
    mock_server.push_faults([{"status": 200, "body": body}])
    r = await client.rerank(model="jina-reranker-v2", query="q", documents=["a", "b", "c"])
    assert [(x.index, x.relevance_score) for x in r.results] == [(1, 0.8), (2, 0.5), (0, 0.1)]
    assert r.results[0].document == {"text": "b"} and r.results[1].document is None
    assert r.id is None


async def test_rerank_checks_arguments(client, mock_server):
    with pytest.raises(ValueError, match="documents"):
        client.rerank(model="m", query="q", documents=[])
    with pytest.raises(TypeError, match="documents must be a list"):
        client.rerank(model="m", query="q", documents="abc")
    with pytest.raises(ValueError, match="top_n"):
        client.rerank(model="m", query="q", documents=["a"], top_n=0)
    assert mock_server.requests() == []


# ----- errors and retries shared with chat -----


async def test_endpoint_calls_are_retried_like_chat(mock_server, make_client):
    client = make_client(mock_server.base_url, max_retries=2)
    mock_server.push_faults([{"status": 503, "retry_after_ms": 5}, {"status": 429, "retry_after_ms": 5}])
    r = await client.moderate(input="hello")
    assert not r.results[0].flagged
    assert [q["path"] for q in mock_server.requests()] == ["/v1/moderations"] * 3


async def test_rate_limits_surface_with_retry_after(client, mock_server):
    mock_server.push_faults([{"status": 429, "retry_after": 3}])
    with pytest.raises(RateLimitedError) as info:
        await client.list_models()
    assert info.value.retry_after == 3 and info.value.status_code == 429


async def test_a_malformed_answer_is_a_serialization_error(client, mock_server):
    mock_server.push_faults([{"malformed": True}])
    with pytest.raises(SerializationError, match="images response"):
        await client.image_generate(prompt="x")


async def test_the_key_never_appears_in_endpoint_errors(client, mock_server):
    mock_server.push_faults([{"status": 401, "body": {"error": {"message": f"bad key {API_KEY}"}}}])
    with pytest.raises(AuthenticationError) as info:
        await client.rerank(model="m", query="q", documents=["a"])
    assert API_KEY not in str(info.value) and API_KEY not in repr(info.value.body)


# ----- which provider serves what -----


@pytest.mark.parametrize(
    ("call", "family"),
    [
        (lambda c: c.image_generate(prompt="x", model="anthropic/claude-sonnet-4-5"), "image generation"),
        (lambda c: c.speech(model="gemini/gemini-2.5-flash", input="x", voice="v"), "audio"),
        (lambda c: c.moderate(input="x", model="anthropic/claude-sonnet-4-5"), "moderation"),
        (lambda c: c.rerank(model="anthropic/claude-sonnet-4-5", query="q", documents=["a"]), "reranking"),
        (lambda c: c.create_response(model="claude-sonnet-4-5", input="x"), "Responses API"),
    ],
    ids=["images", "audio", "moderation", "rerank", "responses"],
)
async def test_a_provider_without_the_family_fails_before_any_request(mock_server, call, family):
    # Anthropic and Gemini live at the mock: a request that slipped through would be recorded.
    here = mock_server.base_url
    client = LlmClient(
        api_key=API_KEY,
        max_retries=0,
        providers=[{"name": "anthropic", "base_url": here}, {"name": "gemini", "base_url": here}],
    )
    with pytest.raises(EndpointNotSupportedError, match=family):
        await call(client)
    assert mock_server.requests() == []


async def test_the_own_provider_serves_model_less_endpoints(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, model_hint="anthropic", max_retries=0)
    with pytest.raises(EndpointNotSupportedError, match='"anthropic" does not support files'):
        await client.list_files()
    with pytest.raises(EndpointNotSupportedError, match="batches"):
        await client.retrieve_batch("batch_1")
    assert mock_server.requests() == []


async def test_rerank_goes_to_any_openai_compatible_base_url_and_strips_the_prefix(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0)
    await client.rerank(model="openai/bge-reranker", query="q", documents=["a"])
    sent = mock_server.requests()[0]
    assert sent["path"] == "/v1/rerank" and sent["json"]["model"] == "bge-reranker"


async def test_anthropic_and_gemini_model_lists_take_the_openai_shape(mock_server):
    here = mock_server.base_url
    anthropic = LlmClient(api_key=API_KEY, base_url=here, model_hint="anthropic", max_retries=0)
    r = await anthropic.list_models()
    assert [(m.id, m.object, m.owned_by) for m in r.data][0] == ("claude-sonnet-4-5", "model", "anthropic")
    assert r.data[0].created == 1759104000  # 2025-09-29T00:00:00Z
    assert r.data[0].to_dict()["display_name"] == "Claude Sonnet 4.5"
    sent = mock_server.requests()[-1]
    assert (sent["path"], sent["query"]) == ("/v1/models", "limit=1000") and sent["headers"]["x-api-key"] == API_KEY
    assert sent["headers"]["anthropic-version"] and "authorization" not in sent["headers"]

    gemini = LlmClient(api_key=API_KEY, base_url=here, model_hint="gemini", max_retries=0)
    r = await gemini.list_models()
    assert [m.id for m in r.data] == ["gemini-2.5-flash", "text-embedding-004"]
    assert r.data[0].owned_by == "google" and r.data[0].to_dict()["inputTokenLimit"] == 1_048_576
    sent = mock_server.requests()[-1]
    assert sent["query"] == "pageSize=1000" and sent["headers"]["x-goog-api-key"] == API_KEY


async def test_azure_puts_model_endpoints_under_deployments(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, model_hint="azure", max_retries=0)
    # The mock has no Azure routes: its 404 comes back typed, after the request was recorded.
    with pytest.raises(NotFoundError):
        await client.image_generate(model="azure/my-dalle", prompt="x")
    with pytest.raises(NotFoundError):
        await client.list_files(limit=2)
    images, files = mock_server.requests()
    assert images["path"] == "/v1/openai/deployments/my-dalle/images/generations"
    assert images["query"] == "api-version=2024-10-21" and images["headers"]["api-key"] == API_KEY
    assert images["json"]["model"] == "my-dalle"
    assert (files["path"], files["query"]) == ("/v1/openai/files", "limit=2&api-version=2024-10-21")
    with pytest.raises(EndpointNotSupportedError, match="moderation"):
        await client.moderate(input="x")


async def test_a_body_cut_short_is_an_error_not_a_partial_result(client, mock_server):
    mock_server.push_faults([{"cut_after": 0}])
    with pytest.raises((NetworkError, SerializationError)):
        await client.speech(model="tts-1", input="hello there", voice="alloy")


async def test_extra_body_overrides_and_extra_headers_are_sent(client, mock_server):
    await client.moderate(
        input="hello",
        model="omni-moderation-latest",
        extra_body={"model": "text-moderation-stable", "seed": 3},
        extra_headers={"X-Trace": "t-1"},
    )
    sent = mock_server.requests()[0]
    assert sent["json"] == {"input": "hello", "model": "text-moderation-stable", "seed": 3}
    assert sent["headers"]["x-trace"] == "t-1"
    with pytest.raises(TypeError, match="extra_body must be a dict"):
        client.moderate(input="x", extra_body=["nope"])
