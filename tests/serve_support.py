"""Running `liter-llm serve` as a real process in tests, and talking raw HTTP to it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

# Registers the providers given as JSON in argv[1], then runs the CLI on the rest of argv.
_WITH_PROVIDERS = (
    "import json, sys\n"
    "from liter_llm import LlmClient\n"
    "from liter_llm.cli import main\n"
    "for provider in json.loads(sys.argv[1]):\n"
    "    LlmClient.register_provider(provider)\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


def start(
    *args: str,
    data_home: str | None = None,
    env: dict[str, str] | None = None,
    providers: list[dict[str, Any]] | None = None,
):
    """Starts `liter-llm serve ARGS --port 0`; the process and its base URL once it listens.

    The key store's default place is a temporary directory (or ``data_home``), never the user's.
    ``env`` adds to the server's environment; ``providers`` are registered in the server process
    first (``LlmClient.register_provider``), e.g. to move a built-in provider's host to a mock.
    """
    server_env = dict(os.environ)
    server_env.pop("LITELLM_MASTER_KEY", None)
    own_home = None if data_home else tempfile.mkdtemp(prefix="liter-llm-serve-")
    server_env["XDG_DATA_HOME"] = data_home or own_home
    server_env.update(env or {})
    launch = ["-m", "liter_llm"] if providers is None else ["-c", _WITH_PROVIDERS, json.dumps(providers)]
    proc = subprocess.Popen(
        [sys.executable, *launch, "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env,
    )
    line = proc.stdout.readline()
    assert line.startswith("listening on http://"), (line, proc.stderr.read() if proc.poll() is not None else "")
    # The access log follows on stdout, warnings on stderr: both are read as they come (a full
    # pipe would stall the server) into ``proc.log_lines`` and ``proc.stderr_lines``.
    proc.own_home = own_home
    proc.log_lines = []
    proc.stderr_lines = []
    proc.drains = [
        threading.Thread(target=_drain, args=(stream, lines), daemon=True)
        for stream, lines in ((proc.stdout, proc.log_lines), (proc.stderr, proc.stderr_lines))
    ]
    for drain in proc.drains:
        drain.start()
    return proc, line.split("listening on ", 1)[1].strip()


def _drain(stream, lines: list[str]) -> None:
    with stream:
        for line in stream:
            lines.append(line)


def log_entry(proc, request_id: str, timeout: float = 30.0) -> dict:
    """The access-log line of ``request_id``, once the server has written it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(proc.log_lines):
            entry = json.loads(line)
            if entry["request_id"] == request_id:
                return entry
        time.sleep(0.01)
    raise AssertionError(f"no access-log line for {request_id}: {proc.log_lines[-5:]}")


def stop(proc) -> None:
    """Kills the server if it still runs, waits until its output is read (``proc.stderr_lines``
    is then whole) and removes the key store's directory when ``start`` made it. Stopping a
    stopped server does nothing."""
    if getattr(proc, "stopped", False):
        return
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=10)
    for drain in proc.drains:
        drain.join(timeout=10)
    proc.stopped = True
    if proc.own_home:
        shutil.rmtree(proc.own_home, ignore_errors=True)


def call(
    method: str, url: str, key: str | None = None, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request with an optional bearer key and JSON body: status, headers, parsed body
    (the text itself when it is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), _parsed(response.read())
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, dict(refused.headers), _parsed(refused.read())


def _parsed(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except ValueError:
        return body.decode()


def config(
    path, upstream_url: str, *, general: str = "", groups: tuple[str, ...] = ("team-model",), master: str = ""
) -> str:
    """Writes a LiteLLM config routing each group to ``openai/gpt-4o-mini`` at ``upstream_url``;
    with ``master``, that master key and a key store beside the config."""
    if master:
        general = f"master_key: {master}\ndatabase_url: sqlite:///{path.parent}/keys.db\n{general}"
    lines = ["model_list:"]
    for group in groups:
        lines += [
            f"  - model_name: {group}",
            "    litellm_params:",
            "      model: openai/gpt-4o-mini",
            f"      api_base: {upstream_url}",
            "      api_key: sk-upstream-key",
        ]
    if general:
        lines += ["general_settings:", *[f"  {line}" for line in general.strip().splitlines()]]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


_open_clients: list = []


@pytest.fixture(autouse=True)
def close_sdk_clients():
    """Closes the SDK clients a test made with :func:`sdk` (their pooled sockets), whatever the
    outcome. Import it into a test module to use it there."""
    yield
    while _open_clients:
        _open_clients.pop().close()


def sdk(**kwargs: Any) -> Any:
    """An ``openai.OpenAI`` client, closed after the test (with :func:`close_sdk_clients`)."""
    import openai

    client = openai.OpenAI(**kwargs)
    _open_clients.append(client)
    return client
