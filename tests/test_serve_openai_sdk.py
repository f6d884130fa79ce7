"""The proxy guide's examples, run as written with the official `openai` SDK (sync, async and
streaming) against `liter-llm serve`, with the mock provider behind it."""

from __future__ import annotations

import json

import pytest
from liter_llm.testing import MockServer
from serve_support import call, close_sdk_clients, sdk, start, stop  # noqa: F401 (an autouse fixture)

openai = pytest.importorskip("openai")


MASTER = "sk-1234"


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    """A proxy with the guide's model names, all served by one mock provider."""
    tmp = tmp_path_factory.mktemp("sdk")
    with MockServer() as upstream:
        groups = {
            "gpt-3.5-turbo": "openai/gpt-3.5-turbo",
            "llama3": "openai/gpt-4o-mini",
            "text-embedding-ada-002": "openai/text-embedding-ada-002",
            "text-moderation-stable": "openai/omni-moderation-latest",
        }
        lines = ["model_list:"]
        for group, model in groups.items():
            lines += [
                f"  - model_name: {group}",
                "    litellm_params:",
                f"      model: {model}",
                f"      api_base: {upstream.base_url}",
                "      api_key: sk-upstream-key",
            ]
        lines += ["general_settings:", f"  master_key: {MASTER}", f"  database_url: sqlite:///{tmp}/keys.db"]
        config = tmp / "config.yaml"
        config.write_text("\n".join(lines) + "\n")
        proc, base = start("--config", str(config))
        yield base, upstream
        stop(proc)


def test_chat_with_metadata_as_in_the_guide(proxy):
    base, upstream = proxy
    client = sdk(api_key=MASTER, base_url=base)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={
            "metadata": {
                "generation_name": "ishaan-generation-openai-client",
                "generation_id": "openai-client-gen-id22",
                "trace_id": "openai-client-trace-id22",
                "trace_user_id": "openai-client-user-id2",
            }
        },
    )
    response = raw.parse()
    assert response.object == "chat.completion"
    assert response.choices[0].message.content == "this is a test request, write a short poem"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    assert raw.http_response.json()["_response_ms"] > 0
    assert raw.headers["x-request-id"]
    assert "metadata" not in upstream.requests()[-1]["json"]


def test_embeddings_and_moderations_as_in_the_guide(proxy):
    base, _ = proxy
    client = sdk(api_key=MASTER, base_url=base)
    response = client.embeddings.create(input=["hello from litellm"], model="text-embedding-ada-002")
    assert response.object == "list" and len(response.data) == 1
    assert response.data[0].index == 0 and len(response.data[0].embedding) > 0
    assert response.usage.prompt_tokens > 0
    moderation = client.moderations.create(input="hello from litellm", model="text-moderation-stable")
    assert len(moderation.results) == 1 and moderation.results[0].flagged is False
    assert "violence" in moderation.results[0].categories.model_dump(by_alias=True)


def test_one_request_to_two_models_as_in_the_guide(proxy):
    base, _ = proxy
    client = sdk(api_key=MASTER, base_url=base)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-3.5-turbo,llama3",
        messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
    )
    answers = raw.http_response.json()
    assert isinstance(answers, list) and len(answers) == 2
    assert [a["model"] for a in answers] == ["gpt-3.5-turbo", "gpt-4o-mini"]
    assert all(a["choices"][0]["message"]["content"] for a in answers)


def test_streaming_sync_and_async(proxy):
    base, _ = proxy
    client = sdk(api_key=MASTER, base_url=base)
    stream = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "user", "content": "one two three four"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three four"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


async def test_async_client_and_streams(proxy):
    base, _ = proxy
    client = openai.AsyncOpenAI(api_key=MASTER, base_url=f"{base}/v1")
    answer = await client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "async hello"}])
    assert answer.choices[0].message.content == "async hello"
    stream = await client.chat.completions.create(
        model="llama3", messages=[{"role": "user", "content": "async stream"}], stream=True
    )
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "async stream"
    models = await client.models.list()
    assert {m.id for m in models.data} == {
        "gpt-3.5-turbo",
        "llama3",
        "text-embedding-ada-002",
        "text-moderation-stable",
    }
    await client.close()


def test_errors_map_to_the_sdks_exceptions(proxy):
    base, _ = proxy
    message = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.AuthenticationError):
        sdk(api_key="sk-wrong", base_url=base, max_retries=0).chat.completions.create(
            model="gpt-3.5-turbo", messages=message
        )
    admin = sdk(api_key=MASTER, base_url=base, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        admin.chat.completions.create(model="no-such-group", messages=message)
    with pytest.raises(openai.BadRequestError):
        admin.chat.completions.create(model="gpt-3.5-turbo", messages="not a list")

    status, _, made = call("POST", f"{base}/key/generate", MASTER, {"models": ["llama3"], "rpm_limit": 1})
    assert status == 200
    limited = sdk(api_key=made["key"], base_url=base, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        limited.chat.completions.create(model="gpt-3.5-turbo", messages=message)
    limited.chat.completions.create(model="llama3", messages=message)
    with pytest.raises(openai.RateLimitError) as caught:
        limited.chat.completions.create(model="llama3", messages=message)
    assert int(caught.value.response.headers["retry-after"]) >= 1

    status, _, made = call("POST", f"{base}/key/generate", MASTER, {"max_budget": 0})
    broke = sdk(api_key=made["key"], base_url=base, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        broke.chat.completions.create(model="llama3", messages=message)
    assert caught.value.body["type"] == "budget_exceeded"


def test_audio_through_the_proxy(proxy, tmp_path):
    base, upstream = proxy
    client = sdk(api_key=MASTER, base_url=base, max_retries=0)
    speech = client.audio.speech.create(model="gpt-3.5-turbo", voice="alloy", input="say this")
    assert speech.response.headers["content-type"] == "audio/mpeg" and len(speech.content) > 0
    audio = tmp_path / "hello.wav"
    audio.write_bytes(b"RIFF" + bytes(64))
    with audio.open("rb") as f:
        text = client.audio.transcriptions.create(model="gpt-3.5-turbo", file=f)
    assert isinstance(text.text, str) and text.text
    sent = upstream.requests()[-1]
    assert sent["path"].endswith("/audio/transcriptions")
    assert {p["name"] for p in sent["form"]} >= {"model", "file"}
    with audio.open("rb") as f:
        plain = client.audio.transcriptions.with_raw_response.create(
            model="gpt-3.5-turbo", file=f, response_format="text"
        )
    assert plain.headers["content-type"].startswith("text/plain")


def test_files_and_batches_through_the_proxy(proxy, tmp_path):
    base, _ = proxy
    # Files and batches live at the provider of the group named by ?model=.
    client = sdk(api_key=MASTER, base_url=base, max_retries=0, default_query={"model": "llama3"})
    lines = tmp_path / "batch.jsonl"
    lines.write_text(
        json.dumps(
            {
                "custom_id": "r1",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
            }
        )
        + "\n"
    )
    with lines.open("rb") as f:
        uploaded = client.files.create(file=f, purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes == lines.stat().st_size
    assert client.files.retrieve(uploaded.id).id == uploaded.id
    assert uploaded.id in [f.id for f in client.files.list()]
    assert client.files.content(uploaded.id).content == lines.read_bytes()
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.retrieve(batch.id).input_file_id == uploaded.id
    assert batch.id in [b.id for b in client.batches.list()]
    assert client.batches.cancel(batch.id).status in {"cancelling", "cancelled"}
    assert client.files.delete(uploaded.id).deleted is True
    with pytest.raises(openai.NotFoundError):
        sdk(api_key=MASTER, base_url=base, max_retries=0).files.list(extra_query={"model": "nope"})


def test_fallbacks_from_the_config_through_the_proxy(tmp_path):
    with MockServer() as primary, MockServer(reply="from the backup") as backup:
        config = tmp_path / "config.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: primary\n"
            "    litellm_params: {model: openai/gpt-4o-mini, api_base: " + primary.base_url + ", api_key: sk-a}\n"
            "  - model_name: backup\n"
            "    litellm_params: {model: openai/gpt-4o-mini, api_base: " + backup.base_url + ", api_key: sk-b}\n"
            "router_settings:\n"
            "  num_retries: 0\n"
            "  fallbacks: [{primary: [backup]}]\n"
        )
        proc, base = start("--config", str(config), "--access-log", "off")
        try:
            primary.push_faults([{"status": 500}])
            client = sdk(api_key="anything", base_url=base, max_retries=0)
            answer = client.chat.completions.create(model="primary", messages=[{"role": "user", "content": "x"}])
            assert answer.choices[0].message.content == "from the backup"
            assert primary.request_count == 1 and backup.request_count == 1
        finally:
            stop(proc)


def test_responses_are_answered_whole_and_a_stream_is_refused(proxy):
    base, _ = proxy
    client = sdk(api_key=MASTER, base_url=base, max_retries=0)
    answer = client.responses.create(model="llama3", input="respond please")
    assert answer.status == "completed" and answer.output_text
    with pytest.raises(openai.BadRequestError) as refused:
        client.responses.create(model="llama3", input="x", stream=True)
    assert "stream" in str(refused.value)
