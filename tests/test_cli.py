"""The ``liter-llm`` command line, run as a real subprocess (``python -m liter_llm``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, user

CLI = [sys.executable, "-m", "liter_llm"]


def run(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("OPENAI_API_KEY", None)
    full_env.update(env or {})
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout, check=False
    )


def interrupt_when(
    args: list[str], cwd: Path, env: dict[str, str], ready: Callable[[], bool], sig: int, wait: float = 30
) -> tuple[subprocess.Popen, str]:
    """Runs the CLI with ``args``, sends it ``sig`` once ``ready()`` holds (or after ``wait`` s) and
    waits for it to end; the process and its stderr."""
    proc = subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not ready():
            time.sleep(0.02)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc, err


def batch_line(i: int) -> dict:
    return {
        "custom_id": f"req-{i}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": MODEL, "messages": user(f"question {i}")},
    }


def write_jsonl(path: Path, rows: list) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def read_output(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_batch_end_to_end_with_mock(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(25)])
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "20", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = read_output(tmp_path / "out.jsonl")
    assert sorted(r["custom_id"] for r in records) == sorted(f"req-{i}" for i in range(25))
    for r in records:
        assert set(r) == {"id", "custom_id", "response", "error"}
        assert r["id"].startswith("batch_req_") and r["error"] is None
        assert r["response"]["status_code"] == 200
        assert r["response"]["request_id"].startswith("req_mock_")
        body = r["response"]["body"]
        assert body["object"] == "chat.completion"
        i = r["custom_id"].split("-")[1]
        assert body["choices"][0]["message"]["content"] == f"question {i}"
        assert body["usage"]["total_tokens"] > 0
    assert len({r["id"] for r in records}) == 25
    summary = proc.stderr.strip().splitlines()[-1]
    assert "25 of 25 requests done" in summary and "25 ok, 0 failed" in summary
    assert "tokens" in summary and "latency p50" in summary and "p99" in summary


def test_bare_bodies_get_line_numbers_and_model_fills_in(tmp_path):
    rows = [{"messages": user("one")}, {"model": "ignored", "messages": user("two")}]
    (tmp_path / "in.jsonl").write_text(json.dumps(rows[0]) + "\n\n" + json.dumps(rows[1]) + "\n")
    proc = run(
        "batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "0", "--model", "m-x", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    records = {r["custom_id"]: r for r in read_output(tmp_path / "out.jsonl")}
    assert sorted(records) == ["1", "3"]
    assert records["1"]["response"]["body"]["model"] == "m-x"
    assert records["3"]["response"]["body"]["choices"][0]["message"]["content"] == "two"


def test_resume_skips_done_ids_and_drops_a_partial_last_line(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(10)])
    done = [
        {"id": "batch_req_old", "custom_id": f"req-{i}", "response": {"status_code": 200, "body": {}}, "error": None}
        for i in range(4)
    ]
    out = tmp_path / "out.jsonl"
    out.write_text("".join(json.dumps(r) + "\n" for r in done) + '{"id": "batch_req_cut", "custom_id": "req-4", "resp')
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "partial last line" in proc.stderr
    records = read_output(out)
    ids = [r["custom_id"] for r in records]
    assert sorted(ids) == sorted(f"req-{i}" for i in range(10))
    assert [r["id"] for r in records[:4]] == ["batch_req_old"] * 4
    assert "6 of 6 requests done" in proc.stderr and "4 skipped" in proc.stderr
    again = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    assert len(read_output(out)) == 10


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_an_interrupted_run_resumes_without_loss_or_duplicates(tmp_path, sig):
    write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(120)])
    out = tmp_path / "out.jsonl"
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)
    # 12 waves of 500 ms: the run is still going when the test sees its first 20 results.
    args = ["batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "500", "--concurrency", "10"]
    proc, err = interrupt_when(args, tmp_path, env, lambda: out.exists() and out.read_text().count("\n") >= 20, sig)
    first = out.read_text().count("\n")
    assert 20 <= first < 120
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "interrupted" in err.splitlines()[-1]
    again = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "0", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    ids = [r["custom_id"] for r in read_output(out)]
    assert len(ids) == len(set(ids)) == 120


def test_failures_are_recorded_and_retryable(tmp_path):
    rows = [batch_line(0), {"custom_id": "bad", "body": {"model": MODEL}}, batch_line(2)]
    rows.append({"custom_id": "emb", "url": "/v1/embeddings", "body": {"model": "e", "input": "x"}})
    write_jsonl(tmp_path / "in.jsonl", rows)
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "0", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    records = {r["custom_id"]: r for r in read_output(tmp_path / "out.jsonl")}
    assert records["bad"]["response"] is None
    assert records["bad"]["error"] == {"code": "invalid_request", "message": "messages is required"}
    assert records["emb"]["error"]["code"] == "unsupported_url"
    assert records["req-0"]["error"] is None and records["req-2"]["error"] is None
    assert "2 ok, 2 failed" in proc.stderr
    again = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--retry-failed", cwd=tmp_path)
    assert again.returncode == 1
    assert len(read_output(tmp_path / "out.jsonl")) == 6


def test_provider_errors_keep_status_and_body(tmp_path, mock_server):
    write_jsonl(tmp_path / "in.jsonl", [batch_line(0)])
    mock_server.push_faults([{"status": 404}])
    proc = run(
        "batch",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--base-url",
        mock_server.base_url,
        "--max-retries",
        "0",
        "--no-progress",
        cwd=tmp_path,
        env={"OPENAI_API_KEY": API_KEY},
    )
    assert proc.returncode == 1
    (record,) = read_output(tmp_path / "out.jsonl")
    assert record["response"]["status_code"] == 404
    assert record["response"]["request_id"].startswith("req_mock_")
    assert record["response"]["body"]["error"]["code"] == "model_not_found"
    assert record["error"]["code"] == "model_not_found"
    assert mock_server.requests()[0]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in proc.stdout + proc.stderr


def test_rate_limit_flags_are_accepted(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(5)])
    proc = run(
        "batch",
        "in.jsonl",
        "-o",
        "out.jsonl",
        "--mock",
        "--mock-latency-ms",
        "0",
        "--rpm",
        "60000",
        "--tpm",
        "10000000",
        "--concurrency",
        "2",
        "--max-retries",
        "1",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read_output(tmp_path / "out.jsonl")) == 5


def test_bad_input_and_missing_key_are_usage_errors(tmp_path):
    (tmp_path / "in.jsonl").write_text(json.dumps(batch_line(0)) + "\n{not json\n")
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    assert proc.returncode == 2 and "in.jsonl:2: not valid JSON" in proc.stderr
    write_jsonl(tmp_path / "dup.jsonl", [batch_line(0), batch_line(0)])
    proc = run("batch", "dup.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    assert proc.returncode == 2 and "duplicate custom_id 'req-0'" in proc.stderr
    proc = run("batch", "missing.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    assert proc.returncode == 2 and "cannot read missing.jsonl" in proc.stderr
    write_jsonl(tmp_path / "ok.jsonl", [batch_line(0)])
    proc = run("batch", "ok.jsonl", "-o", "out.jsonl", cwd=tmp_path)
    assert proc.returncode == 2 and "OPENAI_API_KEY" in proc.stderr
    proc = run("batch", "ok.jsonl", "-o", "out.jsonl", "--api-key-env", "MY_KEY", cwd=tmp_path)
    assert proc.returncode == 2 and "MY_KEY" in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()
    proc = run("batch", "ok.jsonl", cwd=tmp_path)
    assert proc.returncode == 2 and "-o/--output" in proc.stderr


def test_chat_with_mock(tmp_path):
    proc = run("chat", "hello from the cli", "--mock", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello from the cli\n"
    proc = run("chat", "streamed words here", "--mock", "--stream", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "streamed words here\n"


def test_chat_against_a_server_never_prints_the_key(tmp_path, mock_server):
    mock_server.push_faults([{"status": 401}])
    proc = run(
        "chat", "hi", "--base-url", mock_server.base_url, "--max-retries", "0", cwd=tmp_path,
        env={"OPENAI_API_KEY": API_KEY},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "AuthenticationError" in proc.stderr
    assert API_KEY not in proc.stdout + proc.stderr
    proc = run(
        "chat", "-", "--base-url", mock_server.base_url, "--system", "be brief", "--max-tokens", "2",
        cwd=tmp_path, env={"OPENAI_API_KEY": API_KEY},
    )  # fmt: skip
    assert proc.returncode == 0
    sent = mock_server.requests()[-1]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "be brief"} and sent["max_tokens"] == 2


def test_mock_server_command(tmp_path):
    proc = subprocess.Popen(
        [*CLI, "mock-server", "--port", "0", "--reply", "served"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("liter_llm mock server listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1]
        from liter_llm import LlmClient

        client = LlmClient(api_key="k", base_url=base_url)
        rows = client.chat_batch_sync([{"model": MODEL, "messages": user("x")}])
        assert rows[0].choices[0].message.content == "served"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped" in err


def test_help_lists_the_commands(tmp_path):
    proc = run("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in ("batch", "chat", "mock-server"):
        assert command in proc.stdout


# --------------------------------------------------------------------------------------------
# hostile or careless input
# --------------------------------------------------------------------------------------------


def _same_file_cases(tmp_path: Path) -> list[tuple[str, str]]:
    """(input, output) pairs naming the same file in every way a shell user can."""
    (tmp_path / "link.jsonl").symlink_to("in.jsonl")
    os.link(tmp_path / "in.jsonl", tmp_path / "hard.jsonl")
    return [
        ("in.jsonl", "in.jsonl"),
        ("in.jsonl", "./in.jsonl"),
        ("in.jsonl", str(tmp_path / "in.jsonl")),
        (str(tmp_path / "in.jsonl"), "../" + tmp_path.name + "/in.jsonl"),
        ("in.jsonl", "link.jsonl"),
        ("link.jsonl", "in.jsonl"),
        ("in.jsonl", "hard.jsonl"),
    ]


def test_batch_refuses_an_output_that_is_the_input(tmp_path):
    # The input has a last line without a newline: the resume step would cut it off as "partial".
    data = (json.dumps(batch_line(0)) + "\n" + json.dumps(batch_line(1))).encode()
    (tmp_path / "in.jsonl").write_bytes(data)
    for src, dst in _same_file_cases(tmp_path):
        proc = run("batch", src, "-o", dst, "--mock", "--mock-latency-ms", "0", cwd=tmp_path)
        assert proc.returncode == 2, (src, dst, proc.stderr)
        assert "is the input file" in proc.stderr and "Traceback" not in proc.stderr
        assert (tmp_path / "in.jsonl").read_bytes() == data, (src, dst)
    # A different output still works, and the input is untouched.
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(r["custom_id"] for r in read_output(tmp_path / "out.jsonl")) == ["req-0", "req-1"]
    assert (tmp_path / "in.jsonl").read_bytes() == data


@pytest.mark.parametrize(
    ("data", "where"),
    [
        pytest.param(b"\xff\xfe{}\n", "in.jsonl:1: not valid UTF-8 (byte 0xff at offset 0 ", id="first-byte"),
        pytest.param(
            json.dumps(batch_line(0)).encode() + b"\n" + b'{"custom_id": "x\xc3(", "body": {}}\n',
            "in.jsonl:2: not valid UTF-8 (byte 0xc3 at offset ",
            id="second-line",
        ),
        pytest.param(
            json.dumps(batch_line(0)).encode() + b"\r\n\r\n" + b"{\xe9}\r\n",
            "in.jsonl:3: not valid UTF-8 (byte 0xe9 at offset ",
            id="crlf-latin1",
        ),
    ],
)
def test_batch_names_the_line_of_undecodable_input(tmp_path, data, where):
    (tmp_path / "in.jsonl").write_bytes(data)
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert where in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.jsonl").exists()


def test_batch_undecodable_byte_offset_points_at_the_byte(tmp_path):
    first = json.dumps(batch_line(0)).encode() + b"\r\n"
    data = first + b'{"custom_id": "\x80"}\n'
    (tmp_path / "in.jsonl").write_bytes(data)
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    offset = data.index(b"\x80")
    assert proc.returncode == 2
    assert f"in.jsonl:2: not valid UTF-8 (byte 0x80 at offset {offset} of the file)" in proc.stderr


def test_batch_accepts_a_utf8_bom_and_crlf_lines(tmp_path):
    # Windows editors write both; the BOM is not part of the first request.
    lines = [json.dumps(batch_line(i), ensure_ascii=False) for i in range(3)]
    lines[1] = lines[1].replace("question 1", "question 1 \u00e9t\u00e9")
    (tmp_path / "in.jsonl").write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n")
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--mock-latency-ms", "0", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    records = {r["custom_id"]: r for r in read_output(tmp_path / "out.jsonl")}
    assert sorted(records) == ["req-0", "req-1", "req-2"]
    reply = records["req-1"]["response"]["body"]["choices"][0]["message"]["content"]
    assert reply == "question 1 \u00e9t\u00e9"


def test_batch_a_bom_in_the_middle_is_invalid_json_naming_its_line(tmp_path):
    data = json.dumps(batch_line(0)).encode() + b"\n\xef\xbb\xbf" + json.dumps(batch_line(1)).encode() + b"\n"
    (tmp_path / "in.jsonl").write_bytes(data)
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", cwd=tmp_path)
    assert proc.returncode == 2 and "in.jsonl:2: not valid JSON" in proc.stderr


@pytest.mark.parametrize("value", ["1e20", "nan", "inf", "-inf", "-1", "0", "31536001", "soon"])
def test_chat_rejects_an_unusable_timeout(tmp_path, value):
    proc = run("chat", "hi", "--mock", f"--timeout={value}", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "argument --timeout:" in proc.stderr
    assert "Traceback" not in proc.stderr and "Panic" not in proc.stderr
    assert proc.stdout == ""


def test_chat_accepts_the_largest_timeout(tmp_path):
    proc = run("chat", "hi", "--mock", "--timeout", "31536000", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hi\n"


@pytest.mark.parametrize("value", ["1e20", "nan", "inf", "-1"])
def test_mock_latency_options_reject_unusable_values(tmp_path, value):
    proc = run("chat", "hi", "--mock", f"--mock-latency-ms={value}", cwd=tmp_path)
    assert proc.returncode == 2 and "argument --mock-latency-ms:" in proc.stderr
    proc = run("mock-server", "--port", "0", f"--latency-ms={value}", cwd=tmp_path)
    assert proc.returncode == 2 and "argument --latency-ms:" in proc.stderr
    proc = run("mock-server", "--port", "0", f"--chunk-delay-ms={value}", cwd=tmp_path)
    assert proc.returncode == 2 and "argument --chunk-delay-ms:" in proc.stderr


def test_total_timeout_bounds_a_trickling_answer(tmp_path, scenario):
    body = json.dumps(ss.completion("never")).encode()
    trickle = [body[i : i + 1] for i in range(len(body))]
    scenario.script(ss.sse_response(trickle, delay=0.2, headers={"Content-Type": "application/json"}))
    proc = run(
        "chat", "hi", "--base-url", scenario.base_url, "--max-retries", "0", "--total-timeout", "1",
        cwd=tmp_path, env={"OPENAI_API_KEY": API_KEY},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "LlmTimeoutError" in proc.stderr and "total_timeout=1" in proc.stderr


def test_batch_cache_makes_a_rerun_pay_only_for_new_requests(tmp_path):
    from liter_llm.testing import MockServer

    cache = f"sqlite://{tmp_path}/cache.db"
    env = {"OPENAI_API_KEY": API_KEY}
    with MockServer() as server:
        write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(10)])
        args = ("batch", "in.jsonl", "--base-url", server.base_url, "--cache", cache, "--no-progress")
        first = run(*args, "-o", "one.jsonl", cwd=tmp_path, env=env)
        assert first.returncode == 0, first.stderr
        assert server.request_count == 10
        write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(12)])
        second = run(*args, "-o", "two.jsonl", cwd=tmp_path, env=env)
        assert second.returncode == 0, second.stderr
        assert server.request_count == 12, "only the 2 new requests went upstream"
        assert "10 from cache" in second.stderr.strip().splitlines()[-1]
        one = {r["custom_id"]: r["response"]["body"] for r in read_output(tmp_path / "one.jsonl")}
        two = {r["custom_id"]: r["response"]["body"] for r in read_output(tmp_path / "two.jsonl")}
        assert all(two[k]["choices"] == one[k]["choices"] for k in one)


def test_batches_in_two_processes_share_one_concurrency_limit_through_redis(tmp_path, redis_server):
    from liter_llm.testing import MockServer

    with MockServer(latency_ms=100) as provider:
        for name in ("a", "b"):
            write_jsonl(tmp_path / f"{name}.jsonl", [batch_line(i) for i in range(5)])
        procs = [
            subprocess.Popen(
                [*CLI, "batch", f"{name}.jsonl", "-o", f"{name}-out.jsonl", "--base-url", provider.base_url]
                + ["--concurrency", "1", "--rate-limit-backend", redis_server.url, "--rate-limit-name", "cli"],
                cwd=tmp_path,
                env={**os.environ, "OPENAI_API_KEY": API_KEY},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for name in ("a", "b")
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
        arrivals = sorted(r["received_at"] for r in provider.requests())
    assert len(arrivals) == 10
    # One request in flight between both processes: each arrives after the last one's 100 ms.
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= 0.09, gaps
    for name in ("a", "b"):
        assert all(r["error"] is None for r in read_output(tmp_path / f"{name}-out.jsonl"))


def test_a_rate_limit_backend_without_limits_is_a_usage_error(tmp_path):
    write_jsonl(tmp_path / "in.jsonl", [batch_line(0)])
    proc = run(
        "batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--rate-limit-backend", "redis://127.0.0.1:1", cwd=tmp_path
    )
    assert proc.returncode != 0
    assert "--rate-limit-backend shares limits" in proc.stderr


# ----- --provider-batch -----


def test_provider_batch_runs_through_the_mock_batch_api(tmp_path):
    rows = [batch_line(i) for i in range(4)]
    rows[2]["body"]["messages"] = user("fail: on purpose")
    write_jsonl(tmp_path / "in.jsonl", rows)
    proc = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--provider-batch", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "submitted provider batch job bjob_" in proc.stderr
    records = {r["custom_id"]: r for r in read_output(tmp_path / "out.jsonl")}
    assert sorted(records) == [f"req-{i}" for i in range(4)]
    assert records["req-0"]["response"]["body"]["choices"][0]["message"]["content"] == "question 0"
    assert records["req-2"]["error"] is not None and records["req-2"]["response"]["status_code"] == 400
    assert "3 ok, 1 failed" in proc.stderr
    # The job's files are gone once its results are written; a re-run has nothing to do.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]
    again = run("batch", "in.jsonl", "-o", "out.jsonl", "--mock", "--provider-batch", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stderr


def test_an_interrupted_provider_batch_run_goes_on_with_the_same_job(tmp_path):
    from liter_llm.testing import MockServer

    write_jsonl(tmp_path / "in.jsonl", [batch_line(i) for i in range(6)])
    manifest = tmp_path / "out.jsonl.batch-job.json"
    args = ["batch", "in.jsonl", "-o", "out.jsonl", "--provider-batch", "--poll-interval", "0.05"]
    with MockServer(batch_delay_ms=4000) as provider:
        env = {**os.environ, "OPENAI_API_KEY": API_KEY}
        created = lambda: manifest.exists() and '"batch_id": "batch_' in manifest.read_text()  # noqa: E731
        proc, err = interrupt_when([*args, "--base-url", provider.base_url], tmp_path, env, created, signal.SIGINT)
        assert proc.returncode == 130, err
        assert not (tmp_path / "out.jsonl").read_text()
        again = run(*args, "--base-url", provider.base_url, cwd=tmp_path, env={"OPENAI_API_KEY": API_KEY})
        assert again.returncode == 0, again.stderr
        assert "going on with provider batch job" in again.stderr
        creations = [r for r in provider.requests() if r["method"] == "POST" and r["path"] == "/v1/batches"]
        uploads = [r for r in provider.requests() if r["method"] == "POST" and r["path"] == "/v1/files"]
        assert len(creations) == len(uploads) == 1
    ids = [r["custom_id"] for r in read_output(tmp_path / "out.jsonl")]
    assert sorted(ids) == sorted(f"req-{i}" for i in range(6)) and len(ids) == 6
    assert not manifest.exists()
