"""The shared cache backends from Python: SQLite and Redis shared by two processes, a Redis
killed mid-run and a corrupt SQLite file (calls succeed, one warning, a counter), and the
LiteLLM config's `cache` / `cache_params`."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import API_KEY, user
from liter_llm import Cache, LlmClient

MODEL = "gpt-4o-mini"

CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from liter_llm import LlmClient

    async def main(base_url, cache, prompts):
        client = LlmClient(api_key="sk-child", base_url=base_url, cache=cache, max_retries=0)
        hits = []
        for prompt in prompts:
            r = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
            hits.append(r.cache_hit)
        print(json.dumps(hits))

    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
    """
)


def run_child(base_url: str, cache: str, prompts: list[str]) -> list[bool]:
    """Runs a second Python process with its own client on `cache`; its hits per prompt."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, base_url, cache, *prompts], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


async def shared_by_two_processes(mock_server, url: str) -> None:
    prompts = [f"prompt {i}" for i in range(20)]
    first = run_child(mock_server.base_url, url, prompts[:10])
    assert first == [False] * 10
    # Two writers at once: this process and another write the same store concurrently.
    child = asyncio.create_task(asyncio.to_thread(run_child, mock_server.base_url, url, prompts[10:]))
    here = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=url)
    mine = [await here.chat(model=MODEL, messages=user(p)) for p in prompts[:10]]
    assert all(r.cache_hit for r in mine), "this process reads what the other wrote"
    await child
    again = run_child(mock_server.base_url, url, prompts)
    assert again == [True] * 20
    assert mock_server.request_count == 20


async def test_sqlite_is_shared_by_two_processes(mock_server, tmp_path):
    await shared_by_two_processes(mock_server, f"sqlite://{tmp_path}/shared.db")


async def test_redis_is_shared_by_two_processes(mock_server, redis_server):
    await shared_by_two_processes(mock_server, redis_server.url)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append((record.levelno, record.getMessage()))

    def warnings(self) -> list[str]:
        return [m for level, m in self.messages if level == logging.WARNING]


@pytest.fixture
def records():
    logger = logging.getLogger("liter_llm")
    handler = Records()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


async def test_a_redis_killed_mid_run_never_fails_a_call(mock_server, redis_server, records):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=redis_server.url, max_retries=0)
    await client.chat(model=MODEL, messages=user("before"))
    assert (await client.chat(model=MODEL, messages=user("before"))).cache_hit
    redis_server.kill()
    answers = [await client.chat(model=MODEL, messages=user(f"during {i}")) for i in range(5)]
    assert [a.choices[0].message.content for a in answers] == [f"during {i}" for i in range(5)]
    assert not any(a.cache_hit for a in answers)
    stats = client.cache.stats()
    assert stats["errors"] >= 5
    warned = records.warnings()
    assert len(warned) == 1, warned
    assert "uncached" in warned[0] and redis_server.url.split("//")[1].split("/")[0] in warned[0]
    redis_server.start()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    # Back up: the cache is used again once the outage window ends.
    while True:
        await client.chat(model=MODEL, messages=user("after"))
        if (await client.chat(model=MODEL, messages=user("after"))).cache_hit:
            break
        assert loop.time() < deadline, "the cache never came back"
        await asyncio.sleep(0.1)
    assert any("back" in m for _, m in records.messages)


async def test_a_full_redis_never_fails_a_call(mock_server, redis_server, records):
    assert redis_server.command("CONFIG", "SET", "maxmemory-policy", "noeviction") == b"+OK"
    assert redis_server.command("CONFIG", "SET", "maxmemory", "1") == b"+OK"
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=redis_server.url)
    for _ in range(3):
        answer = await client.chat(model=MODEL, messages=user("full"))
        assert answer.choices[0].message.content == "full" and not answer.cache_hit
    stats = client.cache.stats()
    assert stats["writes"] == 0 and stats["errors"] >= 3
    assert len(records.warnings()) == 1 and "OOM" in records.warnings()[0]


async def test_a_redis_down_at_start_never_fails_construction_or_calls(mock_server, records):
    from redis_support import free_port

    client = LlmClient(
        api_key=API_KEY, base_url=mock_server.base_url, cache=f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    )
    for _ in range(3):
        assert not (await client.chat(model=MODEL, messages=user("x"))).cache_hit
    assert mock_server.request_count == 3
    assert len(records.warnings()) == 1
    assert all("hunter2" not in m for _, m in records.messages)
    assert "hunter2" not in repr(client.cache)


async def test_a_corrupt_sqlite_file_never_fails_a_call(mock_server, tmp_path, records):
    path = tmp_path / "cache.db"
    garbage = b"this is not a database" * 200
    path.write_bytes(garbage)
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=f"sqlite://{path}")
    for _ in range(3):
        answer = await client.chat(model=MODEL, messages=user("still works"))
        assert answer.choices[0].message.content == "still works" and not answer.cache_hit
    assert client.cache.stats()["errors"] >= 3
    assert len(records.warnings()) == 1
    assert path.read_bytes() == garbage, "the file is never overwritten"


async def test_an_unwritable_sqlite_path_never_fails_a_call(mock_server, tmp_path, records):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=f"sqlite://{blocker}/cache.db")
    assert not (await client.chat(model=MODEL, messages=user("y"))).cache_hit
    assert len(records.warnings()) == 1


async def test_sqlite_ttl_and_streams(mock_server, tmp_path):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=Cache(f"sqlite://{tmp_path}/c.db", ttl=60))
    stream = await client.chat_stream(model=MODEL, messages=user("a b c"))
    original = [c.to_dict() async for c in stream]

    async def replayed():
        s = await client.chat_stream(model=MODEL, messages=user("a b c"))
        return s.cache_hit, [c.to_dict() async for c in s]

    # The stream's entry is written in the background: wait for the write, not a fixed time.
    deadline = asyncio.get_running_loop().time() + 10
    while client.cache.stats()["writes"] < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.01)
    hit, chunks = await replayed()
    assert hit and chunks == original
    assert mock_server.request_count == 1


async def test_redis_entries_expire_by_ttl(mock_server, redis_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, cache=redis_server.url)
    await client.chat(model=MODEL, messages=user("short"), cache={"ttl": 0.2})
    assert (await client.chat(model=MODEL, messages=user("short"), cache={"no-store": True})).cache_hit
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while (await client.chat(model=MODEL, messages=user("short"), cache={"no-store": True})).cache_hit:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    await client.cache.clear()


def config(tmp_path: Path, base_url: str, params: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            model_list:
              - model_name: fast
                litellm_params:
                  model: openai/gpt-4o-mini
                  api_base: {base_url}
                  api_key: {API_KEY}
            litellm_settings:
              cache: true
            """
        )
        + textwrap.indent(textwrap.dedent(params), "  ")
    )
    return path


async def test_config_disk_cache_is_sqlite_in_disk_cache_dir(mock_server, tmp_path):
    folder = tmp_path / "disk"
    path = config(
        tmp_path, mock_server.base_url, f"cache_params:\n  type: disk\n  disk_cache_dir: {folder}\n  ttl: 600\n"
    )
    client = LlmClient.from_config(path)
    assert client.cache.kind == "sqlite" and client.cache.ttl == 600
    await client.chat(model="fast", messages=user("cfg"))
    again = await client.chat(model="fast", messages=user("cfg"))
    assert again.cache_hit and mock_server.request_count == 1
    assert (folder / "liter_llm_cache.db").exists()


async def test_config_redis_cache_from_host_port_password(mock_server, tmp_path):
    from redis_support import RedisServer

    with RedisServer(password="p@ss/word") as server:
        params = (
            "cache_params:\n  type: redis\n  host: 127.0.0.1\n"
            f"  port: {server.port}\n  password: os.environ/CACHE_PW\n  namespace: team\n"
        )
        path = config(tmp_path, mock_server.base_url, params)
        text = path.read_text() + "environment_variables:\n  CACHE_PW: 'p@ss/word'\n"
        path.write_text(text)
        client = LlmClient.from_config(path)
        assert client.cache.kind == "redis" and client.cache.namespace == "team"
        assert "p@ss" not in repr(client.cache)
        await client.chat(model="fast", messages=user("r"))
        assert (await client.chat(model="fast", messages=user("r"))).cache_hit
        assert client.cache.stats()["errors"] == 0


def test_config_local_cache_and_overrides(mock_server, tmp_path):
    path = config(tmp_path, mock_server.base_url, "cache_params:\n  type: local\n  default_in_memory_ttl: 5\n")
    assert LlmClient.from_config(path).cache.kind == "memory"
    assert LlmClient.from_config(path).cache.ttl == 5
    assert LlmClient.from_config(path, cache=False).cache is None
    assert LlmClient.from_config(path, cache="memory").cache.ttl is None
    off = config(tmp_path, mock_server.base_url, "").read_text().replace("cache: true", "cache: false")
    path.write_text(off)
    assert LlmClient.from_config(path).cache is None


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ("cache_params:\n  type: s3\n", "cache_params.type"),
        ("cache_params:\n  typ: redis\n", "did you mean `type`"),
        ("cache_params:\n  type: redis\n  port: 99999\n", "cache_params.port"),
        ("cache_params:\n  ttl: -3\n", "cache_params.ttl"),
    ],
)
def test_config_cache_errors_name_the_path(mock_server, tmp_path, params, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        LlmClient.from_config(config(tmp_path, mock_server.base_url, params))


def test_config_cache_keys_we_ignore_are_named(mock_server, tmp_path):
    path = config(tmp_path, mock_server.base_url, "cache_params:\n  supported_call_types: [acompletion]\n")
    with pytest.warns(UserWarning, match="supported_call_types"):
        LlmClient.from_config(path)
