"""Embeddings: embed() and embed_batch() against the mock provider's /v1/embeddings."""

from __future__ import annotations

import base64
import logging
import math
import struct

import pytest
from liter_llm import (
    BadRequestError,
    EmbeddingObject,
    EmbeddingResponse,
    RateLimitedError,
    SerializationError,
    ServerError,
    Usage,
)
from liter_llm.testing import MockServer

EMBED_MODEL = "text-embedding-3-small"


@pytest.fixture(scope="module")
def _small_limit_module():
    with MockServer(max_embedding_inputs=5) as server:
        yield server


@pytest.fixture
def small_limit(_small_limit_module):
    """A mock provider accepting at most 5 inputs per embeddings request."""
    _small_limit_module.reset()
    yield _small_limit_module
    _small_limit_module.reset()


def inputs_of(request: dict) -> list:
    value = request["json"]["input"]
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------------------------
# embed
# --------------------------------------------------------------------------------------------


async def test_embed_one_text(client, mock_server):
    r = await client.embed(model=EMBED_MODEL, input="hello world")
    assert isinstance(r, EmbeddingResponse)
    assert r.object == "list" and r.model == EMBED_MODEL
    assert len(r.data) == 1
    item = r.data[0]
    assert isinstance(item, EmbeddingObject)
    assert item.index == 0 and item.object == "embedding"
    assert len(item.embedding) == 1536 and all(isinstance(v, float) for v in item.embedding)
    assert math.isclose(math.sqrt(sum(v * v for v in item.embedding)), 1.0, rel_tol=1e-4)
    assert isinstance(r.usage, Usage) and r.usage.prompt_tokens == r.usage.total_tokens > 0
    sent = mock_server.requests()[0]
    assert sent["path"] == "/v1/embeddings" and sent["method"] == "POST"
    assert sent["headers"]["authorization"].startswith("Bearer ")


async def test_base64_is_requested_by_default_and_decoded(client, mock_server):
    r64 = await client.embed(model=EMBED_MODEL, input=["a", "b"], dimensions=8)
    rfloat = await client.embed(model=EMBED_MODEL, input=["a", "b"], dimensions=8, encoding_format="float")
    first, second = mock_server.requests()
    assert first["json"] == {"model": EMBED_MODEL, "dimensions": 8, "encoding_format": "base64", "input": ["a", "b"]}
    assert second["json"]["encoding_format"] == "float"
    for a, b in zip(r64.data, rfloat.data):
        assert a.index == b.index
        assert len(a.embedding) == 8
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)


async def test_explicit_base64_is_decoded_like_the_openai_sdk(client, mock_server):
    r = await client.embed(model=EMBED_MODEL, input="x", dimensions=4, encoding_format="base64")
    # Fetch the same vector raw and decode it the way the openai SDK does.
    import json
    import urllib.request

    req = urllib.request.Request(
        mock_server.base_url + "/embeddings",
        data=json.dumps({"model": EMBED_MODEL, "input": "x", "dimensions": 4, "encoding_format": "base64"}).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as resp:
        raw = json.loads(resp.read())["data"][0]["embedding"]
    expected = list(struct.unpack("<4f", base64.b64decode(raw)))
    assert r.data[0].embedding == expected


async def test_vectors_are_deterministic_per_input(client):
    a = await client.embed(model=EMBED_MODEL, input=["same", "other", "same"], dimensions=16)
    b = await client.embed(model=EMBED_MODEL, input="same", dimensions=16)
    assert a.data[0].embedding == a.data[2].embedding == b.data[0].embedding
    assert a.data[1].embedding != a.data[0].embedding


async def test_token_id_inputs(client, mock_server):
    one = await client.embed(model=EMBED_MODEL, input=[1, 2, 3], dimensions=4)
    many = await client.embed(model=EMBED_MODEL, input=[[1, 2, 3], [4, 5]], dimensions=4)
    assert len(one.data) == 1 and len(many.data) == 2
    assert one.data[0].embedding == many.data[0].embedding
    assert many.usage.prompt_tokens == 5


async def test_parameters_pass_through(client, mock_server):
    await client.embed(
        model=EMBED_MODEL,
        input="x",
        user="u-1",
        dimensions=None,
        custom_flag=True,
        extra_body={"dimensions": 3},
        extra_headers={"x-trace": "t1"},
    )
    sent = mock_server.requests()[0]
    assert sent["json"] == {
        "model": EMBED_MODEL,
        "user": "u-1",
        "custom_flag": True,
        "dimensions": 3,
        "encoding_format": "base64",
        "input": "x",
    }
    assert sent["headers"]["x-trace"] == "t1"


async def test_response_helpers(client):
    r = await client.embed(model=EMBED_MODEL, input="x", dimensions=2)
    d = r.to_dict()
    assert d["object"] == "list" and d["model"] == EMBED_MODEL
    assert d["data"][0]["embedding"] == r.data[0].embedding
    assert d["usage"]["prompt_tokens"] == 1
    assert r == r and r.data[0] == r.data[0]
    assert "EmbeddingResponse(object='list'" in repr(r)
    assert '"embedding"' in r.to_json()


async def test_bad_arguments_fail_before_sending(client, mock_server):
    with pytest.raises(TypeError):
        client.embed(input="x")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="model must be a str"):
        client.embed(model=3, input="x")
    with pytest.raises(ValueError, match="input must not be an empty list"):
        client.embed(model=EMBED_MODEL, input=[])
    with pytest.raises(ValueError, match="input must not be an empty string"):
        client.embed(model=EMBED_MODEL, input="")
    with pytest.raises(TypeError, match=r"input\[1\] must be a str or a list of int token ids"):
        client.embed(model=EMBED_MODEL, input=["a", 3.5])
    with pytest.raises(ValueError, match="encoding_format must be 'float' or 'base64'"):
        client.embed(model=EMBED_MODEL, input="x", encoding_format="hex")
    with pytest.raises(TypeError, match="dimensions must be an int"):
        client.embed(model=EMBED_MODEL, input="x", dimensions="8")
    with pytest.raises(ValueError, match="dimensions must be >= 1"):
        client.embed(model=EMBED_MODEL, input="x", dimensions=0)
    assert mock_server.request_count == 0


async def test_provider_errors_map_to_the_hierarchy(client, small_limit, mock_server):
    limited = client.with_options(base_url=small_limit.base_url)
    with pytest.raises(BadRequestError, match="at most 5 inputs"):
        await limited.embed(model=EMBED_MODEL, input=[f"t{i}" for i in range(6)])
    mock_server.push_faults([{"status": 429, "retry_after": 2}])
    with pytest.raises(RateLimitedError) as info:
        await client.embed(model=EMBED_MODEL, input="x")
    assert info.value.retry_after == 2.0
    mock_server.push_faults([{"malformed": True}])
    with pytest.raises(SerializationError):
        await client.embed(model=EMBED_MODEL, input="x")
    mock_server.push_faults([{"status": 200, "body": {"data": [{"embedding": "not base64!"}]}}])
    with pytest.raises(SerializationError):
        await client.embed(model=EMBED_MODEL, input="x")


# --------------------------------------------------------------------------------------------
# embed_batch
# --------------------------------------------------------------------------------------------


async def test_embed_batch_chunks_and_keeps_input_order(client, small_limit):
    limited = client.with_options(base_url=small_limit.base_url)
    texts = [f"text number {i}" for i in range(23)]
    r = await limited.embed_batch(texts, model=EMBED_MODEL, batch_size=5, dimensions=6, max_concurrency=3)
    assert isinstance(r, EmbeddingResponse)
    assert [d.index for d in r.data] == list(range(23))
    sent = small_limit.requests()
    assert len(sent) == 5
    assert sorted(len(inputs_of(s)) for s in sent) == [3, 5, 5, 5, 5]
    assert sorted(t for s in sent for t in inputs_of(s)) == sorted(texts)
    single = await limited.embed(model=EMBED_MODEL, input=texts[17], dimensions=6)
    assert r.data[17].embedding == single.data[0].embedding
    assert r.usage.prompt_tokens == sum(-(-len(t) // 4) for t in texts)
    assert r.usage.total_tokens == r.usage.prompt_tokens
    assert r.model == EMBED_MODEL and r.object == "list"


async def test_embed_batch_default_batch_size_is_2048(client, mock_server):
    r = await client.embed_batch([f"t{i}" for i in range(2049)], model=EMBED_MODEL, dimensions=1)
    assert len(r.data) == 2049 and r.data[2048].index == 2048
    assert sorted(len(inputs_of(s)) for s in mock_server.requests()) == [1, 2048]


async def test_embed_batch_token_inputs_and_params(client, mock_server):
    r = await client.embed_batch(
        [[1, 2], [3], "text"], model=EMBED_MODEL, batch_size=2, dimensions=3, user="u", encoding_format="float"
    )
    assert len(r.data) == 3
    for s in mock_server.requests():
        assert s["json"]["user"] == "u" and s["json"]["encoding_format"] == "float" and s["json"]["dimensions"] == 3


async def test_embed_batch_beyond_the_provider_limit_fails(client, small_limit):
    limited = client.with_options(base_url=small_limit.base_url)
    with pytest.raises(BadRequestError):
        await limited.embed_batch([f"t{i}" for i in range(12)], model=EMBED_MODEL, batch_size=6)


async def test_embed_batch_failure_raises_and_retries_apply(client, make_client, mock_server):
    mock_server.push_faults([{"status": 500}])
    with pytest.raises(ServerError):
        await client.embed_batch(["a", "b", "c"], model=EMBED_MODEL, batch_size=1, max_concurrency=1)
    mock_server.reset()
    retrying = make_client(mock_server.base_url, max_retries=1)
    mock_server.push_faults([{"status": 503, "retry_after_ms": 5}])
    r = await retrying.embed_batch(["a", "b", "c"], model=EMBED_MODEL, batch_size=1, max_concurrency=1, dimensions=2)
    assert len(r.data) == 3 and mock_server.request_count == 4


async def test_embed_batch_detects_a_wrong_count(client, mock_server):
    body = {"object": "list", "model": "m", "data": [{"index": 0, "embedding": [0.5]}], "usage": {}}
    mock_server.push_faults([{"status": 200, "body": body}])
    with pytest.raises(SerializationError, match="returned 1 embeddings for 2 inputs"):
        await client.embed_batch(["a", "b"], model=EMBED_MODEL)


async def test_embed_batch_validates_up_front(client, mock_server):
    with pytest.raises(TypeError, match="inputs must be a list"):
        client.embed_batch("one text", model=EMBED_MODEL)
    with pytest.raises(TypeError, match=r"inputs\[2\] must be a str or a list of int token ids"):
        client.embed_batch(["a", "b", {"x": 1}], model=EMBED_MODEL)
    with pytest.raises(ValueError, match=r"inputs\[1\] must not be an empty string"):
        client.embed_batch(["a", ""], model=EMBED_MODEL)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        client.embed_batch(["a"], model=EMBED_MODEL, batch_size=0)
    assert mock_server.request_count == 0
    empty = await client.embed_batch([], model=EMBED_MODEL)
    assert empty.data == [] and empty.model == EMBED_MODEL and mock_server.request_count == 0


async def test_embed_batch_progress_logs(client, caplog):
    caplog.set_level(logging.INFO, logger="liter_llm")
    await client.embed_batch([f"t{i}" for i in range(10)], model=EMBED_MODEL, batch_size=3, progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "liter_llm"]
    assert any(line.startswith("embed_batch finished: 4/4 done") for line in lines), lines
