"""Routing configuration: model_list / router_settings, from_config (YAML, JSON, dict), os.environ/
values, errors that name the path, the one warning for ignored LiteLLM keys, key isolation and
what a client shows about its deployments."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, assert_no_key, surface, user
from liter_llm import LlmClient, LlmError, ServerError
from routing_support import GROUP, ROUTED_MODEL, counts, deployment, failing, router, text

ROOT = Path(__file__).resolve().parent.parent

# Two keys that the conftest markers catch (SECRET123 / c0ffee-do-not-leak) and that differ.
KEY_A = "sk-a-SECRET123-alpha-only"
KEY_B = "sk-b-c0ffee-do-not-leak-beta-only"


def yaml_config(a_base: str, b_base: str) -> str:
    """A LiteLLM proxy config.yaml: two deployments of one group, a backup group, settings."""
    return f"""\
model_list:
  - model_name: {GROUP}
    litellm_params:
      model: {ROUTED_MODEL}
      api_base: {a_base}
      api_key: os.environ/ROUTE_TEST_KEY_A
      weight: 1
    model_info:
      id: smart-a
      mode: chat            # free-form model_info is kept as given
  - model_name: {GROUP}
    litellm_params:
      model: {ROUTED_MODEL}
      api_base: os.environ/ROUTE_TEST_BASE_B
      api_key: os.environ/ROUTE_TEST_KEY_B
      weight: 1
      rpm: 6000
    model_info:
      id: smart-b
  - model_name: backup
    litellm_params:
      model: {ROUTED_MODEL}
      api_base: {b_base}
      api_key: os.environ/ROUTE_TEST_KEY_B

router_settings:
  routing_strategy: simple-shuffle
  num_retries: 2
  allowed_fails: 1
  cooldown_time: 30
  fallbacks:
    - {GROUP}: [backup]
"""


def config_dict(a_base: str, b_base: str) -> dict:
    return {
        "model_list": [
            {
                "model_name": GROUP,
                "litellm_params": {
                    "model": ROUTED_MODEL,
                    "api_base": a_base,
                    "api_key": "os.environ/ROUTE_TEST_KEY_A",
                    "weight": 1,
                },
                "model_info": {"id": "smart-a", "mode": "chat"},
            },
            {
                "model_name": GROUP,
                "litellm_params": {
                    "model": ROUTED_MODEL,
                    "api_base": "os.environ/ROUTE_TEST_BASE_B",
                    "api_key": "os.environ/ROUTE_TEST_KEY_B",
                    "weight": 1,
                    "rpm": 6000,
                },
                "model_info": {"id": "smart-b"},
            },
            {
                "model_name": "backup",
                "litellm_params": {"model": ROUTED_MODEL, "api_base": b_base, "api_key": "os.environ/ROUTE_TEST_KEY_B"},
            },
        ],
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": 2,
            "allowed_fails": 1,
            "cooldown_time": 30,
            "fallbacks": [{GROUP: ["backup"]}],
        },
    }


@pytest.fixture
def env_keys(monkeypatch, servers):
    monkeypatch.setenv("ROUTE_TEST_KEY_A", KEY_A)
    monkeypatch.setenv("ROUTE_TEST_KEY_B", KEY_B)
    monkeypatch.setenv("ROUTE_TEST_BASE_B", servers[1].base_url)


# --------------------------------------------------------------------------------------------
# from_config
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["yaml", "json", "dict", "pathlike"])
async def test_from_config_loads_a_litellm_config_and_routes_the_group(servers, env_keys, tmp_path, form):
    a, b = servers[:2]
    if form == "yaml":
        config: object = str(tmp_path / "config.yaml")
        (tmp_path / "config.yaml").write_text(yaml_config(a.base_url, b.base_url))
    elif form == "pathlike":
        config = tmp_path / "config.yaml"
        config.write_text(yaml_config(a.base_url, b.base_url))
    elif form == "json":
        config = str(tmp_path / "config.json")
        (tmp_path / "config.json").write_text(json.dumps(config_dict(a.base_url, b.base_url)))
    else:
        config = config_dict(a.base_url, b.base_url)
    client = LlmClient.from_config(config, timeout=20)

    by_id = {d["id"]: d for d in client.deployments}
    assert set(by_id) >= {"smart-a", "smart-b"}
    assert by_id["smart-a"]["group"] == GROUP and by_id["smart-b"]["group"] == GROUP
    assert by_id["smart-b"]["rpm"] == 6000
    assert len(client.deployments) == 3

    responses = [await client.chat(model=GROUP, messages=user(f"q{i}")) for i in range(40)]
    assert [text(r) for r in responses] == [f"q{i}" for i in range(40)]
    assert {r.deployment for r in responses} == {"smart-a", "smart-b"}  # 2**-39 odds of a miss
    assert a.request_count + b.request_count == 40
    # Each deployment's os.environ/ key went to its own server, and only there.
    assert {r.headers["authorization"] for r in a.requests} == {f"Bearer {KEY_A}"}
    assert {r.headers["authorization"] for r in b.requests} == {f"Bearer {KEY_B}"}
    assert {r.json["model"] for r in a.requests + b.requests} == {"gpt-4o-mini"}


async def test_from_config_settings_take_effect(servers, env_keys, tmp_path):
    # fallbacks from the file: both deployments of the group fail -> the backup group answers.
    a, b, backup_server = servers[:3]
    path = tmp_path / "config.yaml"
    path.write_text(yaml_config(a.base_url, backup_server.base_url))
    a.set_default(failing(500))
    b.set_default(failing(500))  # smart-b (its api_base is os.environ/ROUTE_TEST_BASE_B)
    client = LlmClient.from_config(str(path), timeout=20)
    (backup,) = [d["id"] for d in client.deployments if d["group"] == "backup"]
    r = await client.chat(model=GROUP, messages=user("rescued"))
    assert text(r) == "rescued"
    assert r.deployment == backup
    assert a.request_count >= 1 and b.request_count >= 1  # the group was tried before the fallback
    assert a.request_count + b.request_count == 3  # num_retries: 2
    assert backup_server.request_count == 1


async def test_from_config_passes_other_client_arguments_through(servers, env_keys):
    a, b = servers[:2]
    client = LlmClient.from_config(config_dict(a.base_url, b.base_url), timeout=7, max_retries=1)
    assert client.timeout == 7
    assert client.max_retries == 1


async def test_litellm_settings_carry_the_same_router_keys(servers):
    a, b = servers[:2]
    a.set_default(failing(500))
    config = {
        "model_list": [deployment(a, id="a"), deployment(b, group="other", id="b")],
        "litellm_settings": {"num_retries": 0, "fallbacks": [{GROUP: ["other"]}]},
    }
    client = LlmClient.from_config(config, timeout=20)
    r = await client.chat(model=GROUP, messages=user("via litellm_settings"))
    assert r.deployment == "b"
    assert counts([a, b]) == [1, 1]


async def test_general_settings_and_environment_variables_sections_are_accepted(servers):
    a = servers[0]
    config = {
        "model_list": [deployment(a, id="a")],
        "general_settings": {"master_key": "sk-proxy-master", "database_url": "postgresql://x"},
        "environment_variables": {},
    }
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        client = LlmClient.from_config(config, timeout=20)
    r = await client.chat(model=GROUP, messages=user("ok"))
    assert r.deployment == "a"


def test_the_checked_in_example_config_loads(monkeypatch):
    example = ROOT / "examples" / "config.yaml"
    if not example.exists():
        pytest.skip("examples/config.yaml is not checked in yet")
    names = set()
    for line in example.read_text().splitlines():
        if "os.environ/" in line:
            names.add(line.split("os.environ/", 1)[1].split()[0].strip("\"'"))
    for name in names:
        monkeypatch.setenv(name, f"value-of-{name}")
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")  # the example may show LiteLLM keys we ignore
        client = LlmClient.from_config(str(example))
    assert client.deployments
    for d in client.deployments:
        assert d["id"] and d["group"] and d["model"]
    assert_no_key(repr(client.deployments))
    for name in names:
        if "KEY" in name:
            assert f"value-of-{name}" not in repr(client.deployments)


def test_os_environ_that_is_not_set_fails_at_construction_naming_path_and_variable(servers, monkeypatch):
    monkeypatch.delenv("ROUTE_TEST_UNSET_VAR", raising=False)
    entry = deployment(servers[0], key="os.environ/ROUTE_TEST_UNSET_VAR")
    with pytest.raises(ValueError) as info:
        router([deployment(servers[1]), entry])
    message = str(info.value)
    assert "model_list[1].litellm_params.api_key" in message
    assert "ROUTE_TEST_UNSET_VAR" in message


# --------------------------------------------------------------------------------------------
# Validation: at construction, naming the path
# --------------------------------------------------------------------------------------------


def test_a_typo_in_litellm_params_names_the_path_and_suggests_the_key(servers):
    with pytest.raises(ValueError) as info:
        router([deployment(servers[0], rpmm=10)])
    message = str(info.value)
    assert "model_list[0].litellm_params.rpmm" in message
    assert "rpm" in message.replace("rpmm", "")  # the suggestion, not just the typo
    assert_no_key(surface(info.value))


@pytest.mark.parametrize(
    ("where", "typo", "suggestion"),
    [
        ("router_settings", "routing_stratgy", "routing_strategy"),
        ("router_settings", "cooldown_tme", "cooldown_time"),
        ("top", "model_lsit", "model_list"),
    ],
)
def test_typos_elsewhere_name_the_path(servers, where, typo, suggestion):
    config: dict = {"model_list": [deployment(servers[0])]}
    if where == "top":
        config[typo] = []
        path = typo
    else:
        config[where] = {typo: "x"}
        path = f"{where}.{typo}"
    with pytest.raises(ValueError) as info:
        LlmClient.from_config(config)
    message = str(info.value)
    assert path in message
    assert suggestion in message.replace(typo, "")


@pytest.mark.parametrize(
    ("params", "settings", "path"),
    [
        ({"rpm": -1}, {}, "model_list[1].litellm_params.rpm"),
        ({"rpm": "lots"}, {}, "model_list[1].litellm_params.rpm"),
        ({"tpm": 1.5}, {}, "model_list[1].litellm_params.tpm"),
        ({"weight": 0}, {}, "model_list[1].litellm_params.weight"),
        ({"weight": -2}, {}, "model_list[1].litellm_params.weight"),
        ({"weight": float("nan")}, {}, "model_list[1].litellm_params.weight"),
        ({"order": "first"}, {}, "model_list[1].litellm_params.order"),
        ({"timeout": -5}, {}, "model_list[1].litellm_params.timeout"),
        ({"max_retries": -1}, {}, "model_list[1].litellm_params.max_retries"),
        ({}, {"routing_strategy": "fastest-first"}, "router_settings.routing_strategy"),
        ({}, {"cooldown_time": -1}, "router_settings.cooldown_time"),
        ({}, {"allowed_fails": -1}, "router_settings.allowed_fails"),
        ({}, {"num_retries": "two"}, "router_settings.num_retries"),
        ({}, {"fallbacks": "backup"}, "router_settings.fallbacks"),
    ],
)
def test_bad_values_fail_at_construction_naming_the_path(servers, params, settings, path):
    good = deployment(servers[0], key=KEY_A)
    bad = deployment(servers[1], key=KEY_B, **params)
    with pytest.raises(ValueError) as info:
        router([good, bad], **settings)
    assert path in str(info.value)
    assert_no_key(surface(info.value))
    # Nothing was sent: the error is the constructor's, not the first request's.
    assert counts(servers[:2]) == [0, 0]


@pytest.mark.parametrize(
    ("entry", "path"),
    [
        ({"litellm_params": {"model": ROUTED_MODEL}}, "model_list[0]"),
        ({"model_name": GROUP}, "model_list[0]"),
        ({"model_name": GROUP, "litellm_params": {"api_key": "k"}}, "model_list[0].litellm_params"),
        ({"model_name": "", "litellm_params": {"model": ROUTED_MODEL}}, "model_list[0].model_name"),
    ],
)
def test_incomplete_entries_fail_at_construction(entry, path):
    with pytest.raises(ValueError) as info:
        router([entry])
    assert path in str(info.value)


def test_ignored_litellm_keys_are_named_together_in_one_warning(servers):
    model_list = [deployment(servers[0], mock_response="canned"), deployment(servers[1])]
    config = {
        "model_list": model_list,
        "litellm_settings": {"success_callback": ["langfuse"], "telemetry": False, "num_retries": 1},
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = LlmClient.from_config(config)
    user_warnings = [w for w in caught if issubclass(w.category, UserWarning)]
    assert len(user_warnings) == 1, [str(w.message) for w in caught]
    message = str(user_warnings[0].message)
    for name in ("mock_response", "success_callback", "telemetry"):
        assert name in message
    assert "num_retries" not in message  # a key we implement is not "ignored"
    assert len(client.deployments) == 2


def test_a_config_without_ignored_keys_gives_no_warning(servers):
    # filterwarnings=error turns any warning into a failure here.
    router([deployment(servers[0], weight=2, rpm=100, tpm=10_000, order=1, timeout=30, max_retries=1)])


# --------------------------------------------------------------------------------------------
# Deployments: ids, what the client shows, key isolation
# --------------------------------------------------------------------------------------------


def test_deployments_describe_each_deployment(servers):
    a, b = servers[:2]
    client = router(
        [
            deployment(a, id="first", weight=3, rpm=60, tpm=6000, order=1),
            deployment(b, group="other", model="openai/gpt-4o"),
        ]
    )
    (first,) = [d for d in client.deployments if d["group"] == GROUP]
    (second,) = [d for d in client.deployments if d["group"] == "other"]
    assert first["id"] == "first"
    assert first["group"] == GROUP
    assert first["model"] == ROUTED_MODEL
    assert (first["weight"], first["order"], first["rpm"], first["tpm"]) == (3, 1, 60, 6000)
    assert first["in_flight"] == 0
    assert first["cooling_down"] is None
    assert first["api_base"].startswith("http://127.0.0.1:")
    assert second["id"] and second["id"] != "first"
    assert second["model"] == "openai/gpt-4o"
    for d in client.deployments:
        assert {
            "id",
            "group",
            "model",
            "api_base",
            "weight",
            "order",
            "rpm",
            "tpm",
            "in_flight",
            "cooling_down",
        } <= set(d)


def test_generated_ids_are_unique_and_stable_across_clients(servers):
    model_list = [deployment(servers[0]), deployment(servers[1]), deployment(servers[2], group="other")]
    ids = [d["id"] for d in router(model_list).deployments]
    assert len(set(ids)) == 3 and all(ids)
    assert [d["id"] for d in router(model_list).deployments] == ids


async def test_response_deployment_is_the_model_info_id(servers):
    a, b = servers[:2]
    client = router([deployment(a, id="east-1"), deployment(b, id="west-2")])
    responses = [await client.chat(model=GROUP, messages=user(f"{i}")) for i in range(30)]
    served_by = {"east-1": a, "west-2": b}
    for r in responses:
        assert r.deployment in served_by
    # The ids agree with where the requests went.
    assert sum(r.deployment == "east-1" for r in responses) == a.request_count
    assert sum(r.deployment == "west-2" for r in responses) == b.request_count


async def test_response_deployment_is_the_generated_id_when_there_is_none(servers):
    client = router([deployment(servers[0])])
    r = await client.chat(model=GROUP, messages=user("x"))
    assert r.deployment == client.deployments[0]["id"]


async def test_each_key_goes_only_to_its_own_deployment(servers):
    a, b, c = servers[:3]
    c.set_default(failing(500))
    client = router(
        [
            deployment(a, id="a", key=KEY_A),
            deployment(b, id="b", key=KEY_B),
            deployment(c, id="c", group="broken", key=KEY_A),
        ],
        num_retries=0,
    )
    for i in range(30):
        await client.chat(model=GROUP, messages=user(f"{i}"))
    assert a.request_count > 0 and b.request_count > 0
    assert {r.headers["authorization"] for r in a.requests} == {f"Bearer {KEY_A}"}
    assert {r.headers["authorization"] for r in b.requests} == {f"Bearer {KEY_B}"}
    assert KEY_B not in json.dumps([r.header_items for r in a.requests])
    assert KEY_A not in json.dumps([r.header_items for r in b.requests])

    # Nothing a user prints shows either key.
    for shown in (repr(client), str(client), repr(client.deployments), str(client.deployments)):
        assert KEY_A not in shown and KEY_B not in shown
        assert_no_key(shown)
    with pytest.raises(ServerError) as info:
        await client.chat(model="broken", messages=user("x"))
    assert_no_key(surface(info.value))


def test_credentials_in_an_api_base_are_masked(servers):
    base = f"http://user:SECRET123@127.0.0.1:{servers[0].port}/v1"
    client = router([{"model_name": GROUP, "litellm_params": {"model": ROUTED_MODEL, "api_base": base}}])
    assert_no_key(repr(client.deployments))
    assert_no_key(repr(client))


async def test_deployment_extra_headers_and_default_params_go_only_to_that_deployment(servers):
    a, b = servers[:2]
    client = router(
        [
            deployment(a, id="a", extra_headers={"X-Region": "east"}, temperature=0.25),
            deployment(b, group="other", id="b"),
        ]
    )
    await client.chat(model=GROUP, messages=user("x"))
    await client.chat(model=GROUP, messages=user("y"), temperature=0.9)  # the call's own value wins
    await client.chat(model="other", messages=user("z"))
    first, second = a.requests
    assert first.headers["x-region"] == "east"
    assert first.json["temperature"] == 0.25
    assert second.json["temperature"] == 0.9
    (only,) = b.requests
    assert "x-region" not in only.headers
    assert "temperature" not in only.json


# --------------------------------------------------------------------------------------------
# A model that is not a group
# --------------------------------------------------------------------------------------------


async def test_a_model_that_is_not_a_group_behaves_as_before(servers, scenario):
    a = servers[0]
    client = LlmClient(
        api_key=API_KEY,
        base_url=scenario.base_url,
        max_retries=1,
        timeout=20,
        model_list=[deployment(a, id="a", key=KEY_A)],
    )
    scenario.script(ss.error_response(500, "once", type="server_error", headers={"retry-after-ms": "10"}))
    r = await client.chat(model=MODEL, messages=user("plain"))
    assert text(r) == "plain"
    assert r.deployment is None
    assert a.request_count == 0
    assert scenario.request_count == 2  # the client's own retry, as without a router
    for rec in scenario.requests:
        assert rec.headers["authorization"] == f"Bearer {API_KEY}"
        assert rec.json["model"] == MODEL
        assert rec.path == "/v1/chat/completions"


async def test_an_unknown_model_is_not_matched_to_a_group_by_prefix(servers, scenario):
    client = LlmClient(api_key=API_KEY, base_url=scenario.base_url, max_retries=0, model_list=[deployment(servers[0])])
    r = await client.chat(model=f"{GROUP}-mini", messages=user("plain"))
    assert r.deployment is None
    assert servers[0].request_count == 0
    assert scenario.request_count == 1


async def test_a_group_call_without_a_client_key_uses_only_deployment_keys(servers, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    a = servers[0]
    client = router([deployment(a, key=KEY_A)])
    await client.chat(model=GROUP, messages=user("x"))
    assert a.requests[0].headers["authorization"] == f"Bearer {KEY_A}"


async def test_errors_of_a_routed_call_are_llm_errors_naming_no_key(servers):
    a = servers[0]
    a.set_default(failing(500))
    client = router([deployment(a, key=KEY_A)], num_retries=0)
    with pytest.raises(LlmError) as info:
        await client.chat(model=GROUP, messages=user("x"))
    assert isinstance(info.value, ServerError)
    assert KEY_A not in surface(info.value)
    assert_no_key(surface(info.value))


def test_a_config_nested_past_any_sense_is_a_value_error_not_a_crash():
    deep: list = []
    for _ in range(10_000):
        deep = [deep]
    entry = {"model_name": "g", "litellm_params": {"model": "openai/x", "stop": deep}}
    with pytest.raises(ValueError, match="nested deeper than 64 levels"):
        LlmClient(model_list=[entry])
