"""`liter-llm serve`: the proxy server as a real process, used through our own OpenAI-compatible
client and raw HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import urllib.error
import urllib.request

import pytest
from conftest import user
from liter_llm import AuthenticationError, LlmClient
from serve_support import config as serve_config
from serve_support import start, stop

KEY = "sk-proxy-test"


@pytest.fixture
def proxy():
    """A `liter-llm serve --mock` process on a free port; its base URL."""
    proc, base = start("--mock", "--mock-latency-ms", "0", "--master-key", KEY)
    yield base, proc
    stop(proc)


async def test_chat_streams_and_embeddings_through_the_proxy(proxy):
    base, _ = proxy
    client = LlmClient(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
    answer = await client.chat(model="gpt-4o-mini", messages=user("through the proxy"))
    assert answer.choices[0].message.content == "through the proxy"
    assert answer.usage.total_tokens > 0
    stream = await client.chat_stream(model="gpt-4o-mini", messages=user("one two three"))
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "one two three"
    vectors = await client.embed(model="text-embedding-3-small", input=["a", "b", "c"])
    assert len(vectors.data) == 3


async def test_a_wrong_key_is_refused_with_openai_errors(proxy):
    base, _ = proxy
    client = LlmClient(api_key="sk-wrong", base_url=f"{base}/v1", max_retries=0)
    with pytest.raises(AuthenticationError) as caught:
        await client.chat(model="gpt-4o-mini", messages=user("x"))
    assert KEY not in str(caught.value)
    request = urllib.request.Request(f"{base}/v1/chat/completions", data=b"{}", method="POST")
    request.add_header("Authorization", f"Bearer {KEY}")
    with pytest.raises(urllib.error.HTTPError) as bad:
        urllib.request.urlopen(request, timeout=10)
    with bad.value as refused:
        assert refused.code == 400
        assert refused.headers["x-request-id"]
        assert "model" in json.loads(refused.read())["error"]["message"]
    with urllib.request.urlopen(f"{base}/health/liveliness", timeout=10) as health:
        assert health.status == 200


def test_sigterm_stops_it_cleanly(proxy):
    _, proc = proxy
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    stop(proc)
    assert any("stopped" in line for line in proc.stderr_lines), proc.stderr_lines


async def test_a_config_routes_groups_and_sets_the_master_key(tmp_path):
    from liter_llm.testing import MockServer

    with MockServer() as upstream:
        config = tmp_path / "config.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: team-model\n"
            "    litellm_params:\n"
            "      model: openai/gpt-4o-mini\n"
            f"      api_base: {upstream.base_url}\n"
            "      api_key: sk-upstream-key\n"
            "general_settings:\n"
            "  master_key: os.environ/PROXY_KEY\n"
            "environment_variables:\n"
            "  PROXY_KEY: sk-from-config\n"
        )
        proc, base = start("--config", str(config))
        try:
            client = LlmClient(api_key="sk-from-config", base_url=f"{base}/v1", max_retries=0)
            answer = await client.chat(model="team-model", messages=user("routed"))
            assert answer.choices[0].message.content == "routed"
            assert upstream.requests()[0]["headers"]["authorization"] == "Bearer sk-upstream-key"
            with pytest.raises(AuthenticationError):
                await LlmClient(api_key="sk-other", base_url=f"{base}/v1", max_retries=0).chat(
                    model="team-model", messages=user("x")
                )
            with urllib.request.urlopen(
                urllib.request.Request(f"{base}/v1/models", headers={"Authorization": "Bearer sk-from-config"}),
                timeout=10,
            ) as listed:
                assert [m["id"] for m in json.loads(listed.read())["data"]] == ["team-model"]
        finally:
            stop(proc)


async def test_sigterm_lets_a_stream_in_flight_finish(tmp_path, scenario):
    import scenario_server as ss

    pieces = [f"piece{i} " for i in range(10)]
    scenario.script(ss.steady_stream(pieces, interval=0.1))
    config = serve_config(tmp_path / "config.yaml", scenario.base_url, groups=("slow",))
    proc, base = start("--config", config, "--master-key", KEY)
    try:
        client = LlmClient(api_key=KEY, base_url=f"{base}/v1", max_retries=0)
        stream = await client.chat_stream(model="slow", messages=user("go"))
        received = []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
                if len(received) == 1:
                    proc.send_signal(signal.SIGTERM)
        assert received == pieces, "the stream in flight finished after SIGTERM"
        assert await asyncio.to_thread(proc.wait, 20) == 0
    finally:
        stop(proc)


def test_health_checks_each_deployment_now_and_unknown_settings_are_named(tmp_path):
    from liter_llm.testing import MockServer
    from serve_support import call

    with MockServer() as upstream:
        config = tmp_path / "config.yaml"
        config.write_text(
            "model_list:\n"
            "  - model_name: up\n"
            "    litellm_params:\n"
            "      model: openai/gpt-4o-mini\n"
            f"      api_base: {upstream.base_url}\n"
            "      api_key: sk-upstream\n"
            "  - model_name: down\n"
            "    litellm_params:\n"
            "      model: openai/gpt-4o-mini\n"
            "      api_base: http://127.0.0.1:9/v1\n"
            "      api_key: sk-upstream\n"
            "general_settings:\n"
            f"  master_key: {KEY}\n"
            f"  database_url: sqlite:///{tmp_path}/keys.db\n"
            "  alerting: [slack]\n"
            "  store_model_in_db: true\n"
        )
        proc, base = start("--config", str(config))
        try:
            before = upstream.request_count
            status, _, health = call("GET", f"{base}/health", KEY)
            assert status == 200
            assert health["healthy_count"] == 1 and health["unhealthy_count"] == 1
            assert [h["model_group"] for h in health["healthy_endpoints"]] == ["up"]
            assert health["unhealthy_endpoints"][0]["model_group"] == "down"
            assert health["unhealthy_endpoints"][0]["error"]
            assert upstream.request_count == before + 1, "checked with one real request"
            assert call("GET", f"{base}/health")[0] == 401
        finally:
            stop(proc)
        warning = [line for line in proc.stderr_lines if "ignores these LiteLLM settings" in line]
        assert len(warning) == 1, proc.stderr_lines
        assert "general_settings.alerting" in warning[0] and "general_settings.store_model_in_db" in warning[0]
        assert "master_key" not in warning[0] and "database_url" not in warning[0]


async def test_a_stream_longer_than_the_grace_period_is_cut_off(tmp_path, scenario):
    import scenario_server as ss

    scenario.script(ss.steady_stream([f"piece{i} " for i in range(300)], interval=0.2))
    config = serve_config(tmp_path / "config.yaml", scenario.base_url, groups=("slow",))
    proc, base = start("--config", config, "--grace-period", "0.5")
    try:
        client = LlmClient(api_key="anything", base_url=f"{base}/v1", max_retries=0)
        stream = await client.chat_stream(model="slow", messages=user("go"))
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                proc.send_signal(signal.SIGTERM)
                break
        assert await asyncio.to_thread(proc.wait, 20) == 0, "exits after the grace period, not after the stream"
    finally:
        stop(proc)
