"""`user_config` and client-side credentials on `liter-llm serve`, through the official openai SDK:
the two "Pass User LLM API Keys" examples of LiteLLM's proxy guide run as written (their hosts
being mock providers), both are refused unless general_settings allows them, and the server's own
keys (its environment, its config) never reach a host the caller chose."""

from __future__ import annotations

import os
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from liter_llm.testing import MockServer
from serve_support import call, close_sdk_clients, config, sdk, start, stop  # noqa: F401 (an autouse fixture)

MASTER = "sk-1234"
# The server's own secrets: its environment and its config's deployment key.
SERVER_ENV = {
    "OPENAI_API_KEY": "sk-server-env-openai",
    "AZURE_API_KEY": "sk-server-env-azure",
    "AZURE_API_VERSION": "2020-01-01-server",
}
SERVER_SECRETS = [*SERVER_ENV.values(), "sk-upstream-key"]
ALLOW = "allow_user_config: true\nallow_client_side_credentials: true"


@dataclass
class Hosts:
    """The mock providers: the server's own deployment, where the server sends `openai/` models
    by default, and two hosts of the caller's."""

    server: MockServer
    openai: MockServer
    azure: MockServer
    caller: MockServer

    def all(self) -> list[MockServer]:
        return [self.server, self.openai, self.azure, self.caller]


@pytest.fixture
def hosts():
    with ExitStack() as stack:
        replies = ["from the server's deployment", "from openai", "from azure", "from the caller's host"]
        yield Hosts(*[stack.enter_context(MockServer(reply=reply)) for reply in replies])


@pytest.fixture
def serve(tmp_path, hosts):
    """Starts a proxy whose group `gpt-3.5-turbo` is at the server's mock, with the server's
    secrets in its environment, `AZURE_API_BASE` at the server's mock, and OpenAI's host moved to
    the openai mock; `general` is added to its general_settings. Returns its base URL."""
    procs = []

    def run(general: str = "") -> str:
        path = config(
            tmp_path / f"config{len(procs)}.yaml",
            hosts.server.base_url,
            groups=("gpt-3.5-turbo",),
            general=f"master_key: {MASTER}\ndatabase_url: sqlite:///{tmp_path}/keys.db\n{general}",
        )
        env = {**SERVER_ENV, "AZURE_API_BASE": hosts.server.base_url}
        proc, base = start("--config", path, env=env, providers=[{"name": "openai", "base_url": hosts.openai.base_url}])
        procs.append(proc)
        return base

    yield run
    for proc in procs:
        stop(proc)


def guide_user_config() -> dict[str, Any]:
    """Step 1 of "Pass User LLM API Keys, Fallbacks", as written."""
    user_config = {
        "model_list": [
            {
                "model_name": "user-azure-instance",
                "litellm_params": {
                    "model": "azure/chatgpt-v-2",
                    "api_key": os.getenv("AZURE_API_KEY"),
                    "api_version": os.getenv("AZURE_API_VERSION"),
                    "api_base": os.getenv("AZURE_API_BASE"),
                    "timeout": 10,
                },
                "tpm": 240000,
                "rpm": 1800,
            },
            {
                "model_name": "user-openai-instance",
                "litellm_params": {
                    "model": "gpt-3.5-turbo",
                    "api_key": os.getenv("OPENAI_API_KEY"),
                    "timeout": 10,
                },
                "tpm": 240000,
                "rpm": 1800,
            },
        ],
        "num_retries": 2,
        "allowed_fails": 3,
        "fallbacks": [{"user-azure-instance": ["user-openai-instance"]}],
    }
    return user_config


@pytest.fixture
def caller_env(monkeypatch, hosts):
    """The caller's own environment, which the guide's user_config reads."""
    monkeypatch.setenv("AZURE_API_KEY", "sk-caller-azure")
    monkeypatch.setenv("AZURE_API_VERSION", "2024-02-01")
    monkeypatch.setenv("AZURE_API_BASE", hosts.azure.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-caller-openai")


def assert_no_server_secret(hosts: Hosts, *, except_server: bool = False) -> None:
    """No request to any mock (but the server's own deployment, when excepted) carried one of
    the server's secrets, in a header, the query or the body."""
    for host in hosts.all():
        if except_server and host is hosts.server:
            continue
        for request in host.requests():
            seen = repr(request)
            assert not any(secret in seen for secret in SERVER_SECRETS), request


def test_the_guides_user_config_runs_as_written_and_falls_back(serve, hosts, caller_env):
    base = serve(ALLOW)
    user_config = guide_user_config()

    # Step 2, as written.
    client = sdk(api_key="sk-1234", base_url=base)

    # send request to `user-azure-instance`
    response = client.chat.completions.create(
        model="user-azure-instance",
        messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={"user_config": user_config},
    )  # 👈 User config

    print(response)
    assert response.choices[0].message.content == "from azure"
    sent = hosts.azure.requests()[-1]
    assert sent["path"] == "/v1/openai/deployments/chatgpt-v-2/chat/completions"
    assert sent["query"] == "api-version=2024-02-01"
    assert sent["headers"]["api-key"] == "sk-caller-azure"
    assert "user_config" not in sent["json"]

    # The azure deployment fails its first attempt and both retries: the fallback answers, with
    # the caller's OpenAI key, at the host the server sends OpenAI's models to.
    hosts.azure.push_faults([{"status": 500}] * 3)
    response = client.chat.completions.create(
        model="user-azure-instance",
        messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={"user_config": user_config},
    )
    assert response.choices[0].message.content == "from openai"
    assert hosts.azure.request_count == 4
    fallback = hosts.openai.requests()[-1]
    assert fallback["headers"]["authorization"] == "Bearer sk-caller-openai"
    assert fallback["json"]["model"] == "gpt-3.5-turbo"

    # A stream goes the same way.
    stream = client.chat.completions.create(
        model="user-azure-instance",
        messages=[{"role": "user", "content": "a poem"}],
        extra_body={"user_config": user_config},
        stream=True,
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == "from azure"
    assert hosts.server.request_count == 0, "the server's own deployments are not used"
    assert_no_server_secret(hosts)


def test_the_guides_client_side_credentials_run_as_written(serve, hosts):
    base = serve(ALLOW)

    client = sdk(api_key="sk-1234", base_url=base)

    # request sent to model set on litellm proxy, `litellm --model`
    response = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={"api_key": "my-bad-key"},
    )  # 👈 User Key

    print(response)
    # Only a key: the deployment's own host and model, with the caller's key instead of the server's.
    assert response.choices[0].message.content == "from the server's deployment"
    sent = hosts.server.requests()[-1]
    assert sent["headers"]["authorization"] == "Bearer my-bad-key"
    assert sent["json"]["model"] == "gpt-4o-mini" and "api_key" not in sent["json"]

    # "More examples", with the caller's own host for "my-azure-base".
    response = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "user", "content": "this is a test request, write a short poem"}],
        extra_body={
            "api_key": "my-azure-key",
            "api_base": hosts.caller.base_url,
            "api_version": "my-azure-version",
        },
    )  # 👈 User Key

    print(response)
    assert response.choices[0].message.content == "from the caller's host"
    sent = hosts.caller.requests()[-1]
    assert sent["headers"]["authorization"] == "Bearer my-azure-key"
    assert not {"api_key", "api_base", "api_version"} & set(sent["json"])

    # Streams too; and a host without a key gets no key at all.
    stream = client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"api_base": hosts.caller.base_url},
        stream=True,
    )
    assert "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices) == (
        "from the caller's host"
    )
    assert "authorization" not in hosts.caller.requests()[-1]["headers"]
    assert hosts.server.request_count == 1
    assert_no_server_secret(hosts, except_server=True)

    # A malformed host is refused before anything is sent.
    with pytest.raises(openai.BadRequestError, match="api_base must be an http:// or https:// URL"):
        client.chat.completions.create(
            model="gpt-3.5-turbo", messages=[{"role": "user", "content": "x"}], extra_body={"api_base": "my-azure-base"}
        )


def test_both_are_refused_by_default_naming_the_setting(serve, hosts, caller_env):
    base = serve()
    client = sdk(api_key=MASTER, base_url=base, max_retries=0)
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(openai.BadRequestError, match="general_settings.allow_user_config"):
        client.chat.completions.create(
            model="user-azure-instance", messages=messages, extra_body={"user_config": guide_user_config()}
        )
    for extra in [{"api_key": "my-bad-key"}, {"api_base": hosts.caller.base_url}, {"base_url": "http://x"}]:
        with pytest.raises(openai.BadRequestError, match="general_settings.allow_client_side_credentials"):
            client.chat.completions.create(model="gpt-3.5-turbo", messages=messages, extra_body=extra)
    # Embeddings refuse them as well: nothing is forwarded upstream in silence.
    with pytest.raises(openai.BadRequestError, match="allow_client_side_credentials"):
        client.embeddings.create(model="gpt-3.5-turbo", input="x", extra_body={"api_key": "k"})
    assert sum(host.request_count for host in hosts.all()) == 0
    # Without them, the server's own deployment answers as usual.
    answer = client.chat.completions.create(model="gpt-3.5-turbo", messages=messages)
    assert answer.choices[0].message.content == "from the server's deployment"


def test_the_servers_keys_never_reach_a_callers_deployment(serve, hosts):
    base = serve(ALLOW)
    client = sdk(api_key=MASTER, base_url=base, max_retries=0)
    user_config = {
        "model_list": [
            {
                "model_name": "at-my-host",
                "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": hosts.caller.base_url},
            },
            {"model_name": "openai-default-host", "litellm_params": {"model": "gpt-4o-mini"}},
            {
                "model_name": "azure-at-my-host",
                "litellm_params": {"model": "azure/d", "api_base": hosts.caller.base_url},
            },
            {"model_name": "azure-no-host", "litellm_params": {"model": "azure/d", "api_key": "sk-caller"}},
        ],
    }
    for model, host, reply in [
        ("at-my-host", hosts.caller, "from the caller's host"),
        ("openai-default-host", hosts.openai, "from openai"),
        ("azure-at-my-host", hosts.caller, "from the caller's host"),
    ]:
        answer = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], extra_body={"user_config": user_config}
        )
        assert answer.choices[0].message.content == reply
        headers = host.requests()[-1]["headers"]
        assert "authorization" not in headers and "api-key" not in headers, (model, headers)
    # The server's AZURE_API_BASE is not read for a caller's Azure deployment without a host.
    with pytest.raises(openai.BadRequestError, match="base_url"):
        client.chat.completions.create(
            model="azure-no-host", messages=[{"role": "user", "content": "hi"}], extra_body={"user_config": user_config}
        )
    assert hosts.server.request_count == 0
    assert_no_server_secret(hosts)


def test_a_bad_user_config_is_a_400_with_the_path_of_the_field(serve, hosts):
    base = serve(ALLOW)
    client = sdk(api_key=MASTER, base_url=base, max_retries=0)
    good = {
        "model_list": [
            {"model_name": "mine", "litellm_params": {"model": "openai/m", "api_base": hosts.caller.base_url}}
        ]
    }

    def refused(user_config: Any, model: str = "mine") -> str:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "x"}], extra_body={"user_config": user_config}
            )
        return caught.value.body["message"]

    assert refused({**good, "num_retries": -1}) == "user_config.num_retries: must not be negative, got -1"
    assert refused({**good, "fallbacks": [{"nope": ["mine"]}]}).startswith("user_config.fallbacks[0].nope:")
    assert refused({**good, "num_retrys": 1}).endswith("did you mean `num_retries`?")
    secret = {
        "model_list": [
            {"model_name": "mine", "litellm_params": {"model": "openai/m", "api_key": "os.environ/OPENAI_API_KEY"}}
        ]
    }
    assert refused(secret).startswith(
        "user_config.model_list[0].litellm_params.api_key: `os.environ/` is not read here"
    )
    assert "no deployment in user_config.model_list" in refused(good, model="gpt-3.5-turbo")
    assert (
        refused({"model_list": [good["model_list"][0]] * 33})
        == "user_config.model_list: at most 32 deployments, got 33"
    )
    assert refused("mine") == 'user_config: expected a mapping, got "mine"'
    assert sum(host.request_count for host in hosts.all()) == 0


def test_virtual_keys_still_admit_and_are_charged(serve, hosts):
    base = serve(ALLOW)
    status, _, made = call("POST", f"{base}/key/generate", MASTER, {"models": ["gpt-3.5-turbo"]})
    assert status == 200
    client = sdk(api_key=made["key"], base_url=base, max_retries=0)
    user_config = {
        "model_list": [
            {"model_name": "mine", "litellm_params": {"model": "openai/gpt-4o-mini", "api_base": hosts.caller.base_url}}
        ]
    }
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="mine", messages=[{"role": "user", "content": "x"}], extra_body={"user_config": user_config}
        )
    assert hosts.caller.request_count == 0
    client.chat.completions.create(
        model="gpt-3.5-turbo", messages=[{"role": "user", "content": "x"}], extra_body={"api_key": "my-key"}
    )
    status, _, shown = call("GET", f"{base}/key/info?key={made['key']}", MASTER)
    assert status == 200 and shown["info"]["spend"] > 0
