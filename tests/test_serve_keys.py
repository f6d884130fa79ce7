"""Virtual keys on `liter-llm serve`: the `/key/*` admin routes in LiteLLM's shapes, per-key
models, budgets under concurrency, rpm and parallel limits, spend, and a restart that keeps it all.
Upstream is the mock provider, counting what reaches it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time

import pytest
from conftest import user
from liter_llm import LlmClient
from liter_llm.testing import MockServer
from serve_support import call, config, start, stop

MASTER = "sk-master-key"


@pytest.fixture
def upstream():
    with MockServer() as server:
        yield server


@pytest.fixture
def proxy(tmp_path, upstream):
    """A proxy with a master key and a key store in tmp_path; its base URL."""
    path = config(
        tmp_path / "config.yaml",
        upstream.base_url,
        groups=("team-model", "other-model"),
        master=MASTER,
    )
    proc, base = start("--config", path)
    yield base
    stop(proc)


def chat_body(text: str = "hello", model: str = "team-model") -> dict:
    return {"model": model, "messages": user(text)}


def generate(base: str, **fields) -> str:
    status, _, made = call("POST", f"{base}/key/generate", MASTER, fields)
    assert status == 200, made
    return made["key"]


def info(base: str, key: str) -> dict:
    status, _, shown = call("GET", f"{base}/key/info?key={key}", MASTER)
    assert status == 200, shown
    assert shown["key"] == key
    return shown["info"]


def test_key_lifecycle_in_litellm_shapes(proxy, upstream):
    base = proxy
    status, _, made = call(
        "POST",
        f"{base}/key/generate",
        MASTER,
        {"models": ["team-model"], "key_alias": "team-a", "metadata": {"team": "a"}, "duration": "30d"},
    )
    assert status == 200
    key = made["key"]
    assert key.startswith("sk-") and made["key_alias"] == "team-a" and made["models"] == ["team-model"]
    assert made["token"] != key and key[-4:] in made["key_name"] and key not in made["key_name"]
    assert made["expires"].endswith("Z")

    status, _, answer = call("POST", f"{base}/v1/chat/completions", key, chat_body("hi there"))
    assert status == 200 and answer["choices"][0]["message"]["content"] == "hi there"
    assert upstream.requests()[-1]["headers"]["authorization"] == "Bearer sk-upstream-key"

    shown = info(base, key)
    assert shown["spend"] > 0 and shown["model_spend"] == {"team-model": shown["spend"]}
    assert shown["metadata"] == {"team": "a"} and shown["key_alias"] == "team-a"
    # The key reads its own info without ?key=, and not another key's.
    status, _, own = call("GET", f"{base}/key/info", key)
    assert status == 200 and own["info"]["token"] == made["token"]
    other = generate(base)
    assert call("GET", f"{base}/key/info?key={other}", key)[0] == 403

    # Only the models it was given: 403 for another group; /v1/models lists just its own.
    status, _, refused = call("POST", f"{base}/v1/chat/completions", key, chat_body(model="other-model"))
    assert status == 403 and refused["error"]["type"] == "permission_error"
    assert [m["id"] for m in call("GET", f"{base}/v1/models", key)[2]["data"]] == ["team-model"]
    assert {m["id"] for m in call("GET", f"{base}/v1/models", MASTER)[2]["data"]} == {"team-model", "other-model"}

    # Admin routes want the master key.
    assert call("POST", f"{base}/key/generate", key, {})[0] == 403
    assert call("GET", f"{base}/key/list", key)[0] == 403

    status, _, updated = call("POST", f"{base}/key/update", MASTER, {"key": key, "models": ["other-model"]})
    assert status == 200 and updated["models"] == ["other-model"] and updated["key"] == key
    assert call("POST", f"{base}/v1/chat/completions", key, chat_body(model="other-model"))[0] == 200
    assert call("POST", f"{base}/v1/chat/completions", key, chat_body())[0] == 403

    status, _, listed = call("GET", f"{base}/key/list", MASTER)
    assert status == 200 and made["token"] in listed["keys"] and listed["total_count"] == 2
    status, _, by_alias = call("GET", f"{base}/key/list?key_alias=team-a&return_full_object=true", MASTER)
    assert [k["token"] for k in by_alias["keys"]] == [made["token"]]

    status, _, deleted = call("POST", f"{base}/key/delete", MASTER, {"keys": [key]})
    assert status == 200 and deleted == {"deleted_keys": [key]}
    status, _, gone = call("POST", f"{base}/v1/chat/completions", key, chat_body())
    assert status == 401 and gone["error"]["type"] == "authentication_error"
    assert call("GET", f"{base}/key/info?key={key}", MASTER)[0] == 404


def test_bad_key_requests_are_400s_naming_the_field(proxy):
    for body, says in [
        ({"max_budget": -1}, "max_budget"),
        ({"rpm_limit": "ten"}, "rpm_limit"),
        ({"duration": "forever"}, "duration"),
        ({"team_id": "t"}, "team_id"),
        ({"key": "not-sk"}, "sk-"),
    ]:
        status, _, refused = call("POST", f"{proxy}/key/generate", MASTER, body)
        assert status == 400, body
        assert says in refused["error"]["message"]
    assert call("POST", f"{proxy}/key/update", MASTER, {"key": "sk-nope", "models": []})[0] == 404


async def test_a_budget_holds_under_100_parallel_requests(proxy, upstream):
    base = proxy
    probe = generate(base)
    assert call("POST", f"{base}/v1/chat/completions", probe, chat_body("same prompt"))[0] == 200
    cost = info(base, probe)["spend"]
    assert cost > 0
    # Room for 9.5 requests: the 10th is admitted (spend 9 x cost), then none.
    key = generate(base, max_budget=cost * 9.5)
    before = upstream.request_count

    results = await asyncio.gather(
        *[
            asyncio.to_thread(call, "POST", f"{base}/v1/chat/completions", key, chat_body("same prompt"))
            for _ in range(100)
        ],
    )
    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] != 200]
    assert 1 <= len(ok) <= 10, len(ok)
    assert all(r[0] == 400 and r[2]["error"]["type"] == "budget_exceeded" for r in refused)
    # Requests refused while others held reservations may go once those settle: never past 10.
    while call("POST", f"{base}/v1/chat/completions", key, chat_body("same prompt"))[0] == 200:
        ok.append(None)
        assert len(ok) <= 10
    assert len(ok) == 10
    assert upstream.request_count - before == 10, "refused requests never reach the provider"
    assert info(base, key)["spend"] == pytest.approx(10 * cost)


def test_rpm_limit_answers_429_with_retry_after(proxy, upstream):
    key = generate(proxy, rpm_limit=3)
    before = upstream.request_count
    statuses = [call("POST", f"{proxy}/v1/chat/completions", key, chat_body())[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, headers, refused = call("POST", f"{proxy}/v1/chat/completions", key, chat_body())
    assert status == 429 and refused["error"]["type"] == "rate_limit_error"
    assert 1 <= int(headers["retry-after"]) <= 61  # the window, rounded up to its buckets
    assert upstream.request_count - before == 3
    # The master key and other keys are not held back by this key's limit.
    assert call("POST", f"{proxy}/v1/chat/completions", MASTER, chat_body())[0] == 200


async def test_max_parallel_requests_refuses_while_one_is_in_flight(tmp_path):
    with MockServer(latency_ms=30_000) as slow:
        path = config(
            tmp_path / "config.yaml",
            slow.base_url,
            master=MASTER,
        )
        proc, base = start("--config", path)
        try:
            key = generate(base, max_parallel_requests=1)
            first = asyncio.create_task(
                asyncio.to_thread(call, "POST", f"{base}/v1/chat/completions", key, chat_body())
            )
            deadline = time.monotonic() + 30
            while slow.request_count == 0:
                assert time.monotonic() < deadline, "the first request never reached the upstream"
                await asyncio.sleep(0.01)
            status, headers, _ = call("POST", f"{base}/v1/chat/completions", key, chat_body())
            assert status == 429 and headers["retry-after"] == "1"
            assert slow.request_count == 1
        finally:
            stop(proc)
        first.cancel()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_streams_are_charged_and_a_restart_keeps_keys_and_spend(tmp_path, upstream, stop_signal):
    path = config(
        tmp_path / "config.yaml",
        upstream.base_url,
        master=MASTER,
    )
    proc, base = start("--config", path)
    try:
        key = generate(base, max_budget=100.0, key_alias="kept")
        client = LlmClient(api_key=key, base_url=f"{base}/v1", max_retries=0)
        stream = await client.chat_stream(model="team-model", messages=user("one two three"))
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "one two three"
        shown = info(base, key)
        spent = shown["spend"]
        assert spent > 0, "a finished stream is charged before its [DONE]"
        if stop_signal == signal.SIGKILL:
            # Spend reaches the file within 10 ms of the answer; kill -9 loses only what has not.
            deadline = time.monotonic() + 30
            while spend_on_disk(tmp_path / "keys.db", shown["token"]) != spent:
                assert time.monotonic() < deadline, "the spend never reached the key store"
                await asyncio.sleep(0.005)
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=20) == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)
    finally:
        stop(proc)
    proc, base = start("--config", path)
    try:
        kept = info(base, key)
        assert kept["spend"] == spent and kept["key_alias"] == "kept" and kept["max_budget"] == 100.0
        assert call("POST", f"{base}/v1/chat/completions", key, chat_body())[0] == 200
        assert info(base, key)["spend"] > spent
    finally:
        stop(proc)


def test_keys_and_spend_live_in_postgresql_across_a_restart(tmp_path, upstream, postgres_server):
    general = f"master_key: {MASTER}\ndatabase_url: {postgres_server.url}"
    path = config(tmp_path / "config.yaml", upstream.base_url, general=general)
    proc, base = start("--config", path)
    try:
        key = generate(base, max_budget=100.0, key_alias="in-postgres")
        assert call("POST", f"{base}/v1/chat/completions", key, chat_body())[0] == 200
        spent = info(base, key)["spend"]
        assert spent > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        stop(proc)
    assert not (tmp_path / "keys.db").exists(), "nothing written to a SQLite file"
    proc, base = start("--config", path)
    try:
        kept = info(base, key)
        assert kept["spend"] == spent and kept["key_alias"] == "in-postgres"
        assert call("POST", f"{base}/v1/chat/completions", key, chat_body())[0] == 200
        assert info(base, key)["spend"] > spent
    finally:
        stop(proc)


def spend_on_disk(path, token: str) -> float | None:
    """A key's spend as committed to the key store (read-only, as another process would)."""
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        row = db.execute("SELECT spend FROM keys WHERE token = ?", (token,)).fetchone()
    return None if row is None else row[0]


def test_without_a_master_key_there_are_no_virtual_keys(tmp_path, upstream):
    proc, base = start("--config", config(tmp_path / "config.yaml", upstream.base_url))
    try:
        status, _, refused = call("POST", f"{base}/key/generate", None, {})
        assert status == 400 and "master_key" in refused["error"]["message"]
    finally:
        stop(proc)


def test_anthropic_clients_are_held_to_the_same_key(proxy):
    anthropic = pytest.importorskip("anthropic")
    key = generate(proxy, models=["team-model"])
    with anthropic.Anthropic(api_key=key, base_url=proxy, max_retries=0) as client:
        answer = client.messages.create(
            model="team-model", max_tokens=64, messages=[{"role": "user", "content": "via messages"}]
        )
        assert answer.content[0].text == "via messages"
        assert info(proxy, key)["model_spend"]["team-model"] > 0
        with pytest.raises(anthropic.PermissionDeniedError):
            client.messages.create(model="other-model", max_tokens=8, messages=[{"role": "user", "content": "x"}])
