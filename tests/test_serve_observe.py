"""What `liter-llm serve` leaves behind per request: one JSON access-log line (stdout or a file)
and Prometheus metrics, by model group, deployment, key alias and status."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from conftest import user
from liter_llm import LlmClient
from liter_llm.testing import MockServer
from serve_support import call, config, log_entry, start, stop

MASTER = "sk-master-key"


@pytest.fixture
def upstream():
    with MockServer() as server:
        yield server


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of the sample `name` whose labels include `labels` (summed over the rest)."""
    total, found = 0.0, False
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}(?:\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total, found = total + float(match.group(2)), True
    assert found, f"no {name} with {labels}"
    return total


async def test_each_request_is_logged_and_counted(tmp_path, upstream):
    path = config(
        tmp_path / "config.yaml",
        upstream.base_url,
        master=MASTER,
    )
    proc, base = start("--config", path)
    try:
        status, _, made = call("POST", f"{base}/key/generate", MASTER, {"key_alias": "team-a"})
        key = made["key"]
        body = {"model": "team-model", "messages": user("logged"), "metadata": {"trace_id": "t-1"}}
        status, headers, answer = call(
            "POST", f"{base}/v1/chat/completions", key, body, headers={"x-request-id": "req-logged-1"}
        )
        assert status == 200 and headers["x-request-id"] == "req-logged-1"
        assert "metadata" not in upstream.requests()[-1]["json"], "metadata is never forwarded"

        entry = log_entry(proc, "req-logged-1")
        assert entry["status"] == 200 and entry["route"] == "/v1/chat/completions"
        assert entry["key_alias"] == "team-a" and entry["model_group"] == "team-model"
        assert entry["deployment"] and entry["metadata"] == {"trace_id": "t-1"}
        assert entry["prompt_tokens"] == answer["usage"]["prompt_tokens"]
        assert entry["completion_tokens"] == answer["usage"]["completion_tokens"]
        assert entry["cost"] > 0 and entry["latency_ms"] > 0 and entry["time"].endswith("Z")
        logged_at = datetime.fromisoformat(entry["time"][:-1] + "+00:00").timestamp()
        assert abs(logged_at - time.time()) < 120, "the line carries the time it was written"
        assert key not in json.dumps(entry) and MASTER not in "".join(proc.log_lines)

        client = LlmClient(api_key=key, base_url=f"{base}/v1", max_retries=0)
        stream = await client.chat_stream(model="team-model", messages=user("a streamed answer"))
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        unknown = {"model": "nope", "messages": user("x")}
        assert call("POST", f"{base}/v1/chat/completions", key, unknown, headers={"x-request-id": "req-404"})[0] == 404

        # The stream's line is written when it ends, with its time to first token.
        deadline = time.monotonic() + 30
        while not any('"ttft_ms":' in line and '"ttft_ms":null' not in line for line in proc.log_lines):
            assert time.monotonic() < deadline, proc.log_lines
            time.sleep(0.01)
        # A request's metrics are counted just before its line is written, once it is answered.
        assert log_entry(proc, "req-404")["status"] == 404

        status, headers, metrics = call("GET", f"{base}/metrics", MASTER)
        assert status == 200 and headers["content-type"].startswith("text/plain")
        chat = {"route": "/v1/chat/completions", "model_group": "team-model", "key_alias": "team-a"}
        assert sample(metrics, "liter_llm_proxy_requests_total", status="200", **chat) == 2
        assert sample(metrics, "liter_llm_proxy_errors_total", status="404", model_group="") == 1
        assert sample(metrics, "liter_llm_proxy_tokens_total", kind="completion", key_alias="team-a") > 0
        assert sample(metrics, "liter_llm_proxy_spend_usd_total", key_alias="team-a") > 0
        assert sample(metrics, "liter_llm_proxy_time_to_first_token_seconds_count", model_group="team-model") == 1
        assert sample(metrics, "liter_llm_proxy_request_duration_seconds_count", model_group="team-model") == 2
        assert call("GET", f"{base}/metrics", key)[0] == 403
    finally:
        stop(proc)


def test_the_access_log_can_go_to_a_file_or_nowhere(tmp_path, upstream):
    log = tmp_path / "access.jsonl"
    proc, base = start("--config", config(tmp_path / "config.yaml", upstream.base_url), "--access-log", str(log))
    try:
        body = {"model": "team-model", "messages": user("to a file")}
        status, headers, _ = call("POST", f"{base}/v1/chat/completions", None, body)
        assert status == 200
        deadline = time.monotonic() + 30
        while headers["x-request-id"] not in (log.read_text() if log.exists() else ""):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert [json.loads(line)["model_group"] for line in log.read_text().splitlines()] == ["team-model"]
    finally:
        stop(proc)
    assert proc.log_lines == []
    proc, base = start("--config", config(tmp_path / "config.yaml", upstream.base_url), "--access-log", "off")
    try:
        assert call("POST", f"{base}/v1/chat/completions", None, body)[0] == 200
        assert call("GET", f"{base}/metrics")[0] == 200
    finally:
        stop(proc)
    assert proc.log_lines == []


def test_sigterm_keeps_the_line_of_every_request_answered(tmp_path, upstream):
    log = tmp_path / "access.jsonl"
    proc, base = start("--config", config(tmp_path / "config.yaml", upstream.base_url), "--access-log", str(log))
    try:
        body = {"model": "team-model", "messages": user("answered just before the stop")}

        def ask(n: int) -> int:
            return call("POST", f"{base}/v1/chat/completions", None, body, headers={"x-request-id": f"req-{n}"})[0]

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(ask, range(40))) == [200] * 40
        proc.send_signal(signal.SIGTERM)  # right after the last answer
        assert proc.wait(timeout=30) == 0
        logged = sorted(json.loads(line)["request_id"] for line in log.read_text().splitlines())
        assert logged == sorted(f"req-{n}" for n in range(40))
    finally:
        stop(proc)


def test_a_caller_that_leaves_before_the_answer_is_logged_as_499(tmp_path):
    with MockServer(latency_ms=30_000) as slow:
        proc, base = start("--config", config(tmp_path / "config.yaml", slow.base_url))
        try:
            body = json.dumps({"model": "team-model", "messages": user("never answered")}).encode()
            request = urllib.request.Request(
                f"{base}/v1/chat/completions", data=body, headers={"x-request-id": "req-left"}, method="POST"
            )
            with pytest.raises(OSError):  # the caller gives up first
                urllib.request.urlopen(request, timeout=0.5)
            entry = log_entry(proc, "req-left")
            assert entry["status"] == 499 and entry["model_group"] == "team-model"
            metrics = call("GET", f"{base}/metrics")[2]
            assert sample(metrics, "liter_llm_proxy_requests_in_flight") == 1, "only this /metrics request"
        finally:
            stop(proc)
