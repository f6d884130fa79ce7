"""Tests of ``liter_llm.testing.MockServer`` over plain ``http.client`` (no dependency on our client)."""

from __future__ import annotations

import gc
import http.client
import json
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest
from liter_llm import count_tokens
from liter_llm.testing import MockServer

MODEL = "gpt-4o-mini"


def chat_body(text: str = "Hello mock", **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes, error: BaseException | None) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error

    def json(self) -> Any:
        assert self.error is None, self.error
        return json.loads(self.body)

    def events(self) -> list[str]:
        """``data:`` payloads of an SSE body."""
        assert self.error is None, self.error
        text = self.body.decode()
        assert text.endswith("\n\n")
        out = []
        for event in text.split("\n\n")[:-1]:
            assert event.startswith("data: "), event
            out.append(event[len("data: ") :])
        return out


def request(
    base_url: str,
    body: Any = None,
    *,
    path: str = "/chat/completions",
    method: str = "POST",
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> Answer:
    """Sends one request on a fresh connection and reads the whole body (or up to a cut)."""
    host_port = base_url.split("//", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        payload = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-test"}
        all_headers.update(headers or {})
        conn.request(method, "/v1" + path if not path.startswith("/v1") else path, body=payload, headers=all_headers)
        resp = conn.getresponse()
        got = b""
        error: BaseException | None = None
        try:
            while True:
                chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
                if not chunk:
                    break
                got += chunk
        except (http.client.IncompleteRead, ConnectionError) as exc:
            error = exc
        if error is None and resp.length not in (None, 0):
            error = http.client.IncompleteRead(got, resp.length)
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, got, error)
    finally:
        conn.close()


def chunk_contents(events: list[str]) -> str:
    text = ""
    for e in events:
        if e == "[DONE]":
            continue
        for choice in json.loads(e)["choices"]:
            text += choice["delta"].get("content") or ""
    return text


@pytest.fixture
def server():
    with MockServer() as srv:
        yield srv


# --------------------------------------------------------------------------------------------
# Plain replies
# --------------------------------------------------------------------------------------------


def test_echoes_the_last_user_message(server):
    body = {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "Hello there, mock!"},
        ],
    }
    answer = request(server.base_url, body)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-request-id"].startswith("req_mock_")
    doc = answer.json()
    assert doc["id"].startswith("chatcmpl-mock-")
    assert doc["object"] == "chat.completion"
    assert doc["model"] == MODEL
    assert isinstance(doc["created"], int) and doc["created"] > 1_600_000_000
    assert isinstance(doc["system_fingerprint"], str)
    [choice] = doc["choices"]
    assert choice["index"] == 0
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello there, mock!"
    assert choice["message"]["refusal"] is None
    assert choice["logprobs"] is None
    assert choice["finish_reason"] == "stop"
    usage = doc["usage"]
    # Billed like OpenAI: tiktoken counts of the prompt (with message framing) and of the reply.
    assert usage["completion_tokens"] == count_tokens(model=MODEL, text="Hello there, mock!") == 5
    assert usage["prompt_tokens"] == count_tokens(model=MODEL, messages=body["messages"]) == 29
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0


def test_content_parts_fixed_reply_n_and_max_tokens():
    with MockServer(reply="A fixed reply from the mock") as srv:
        parts = {"model": MODEL, "messages": [{"role": "user", "content": [{"type": "text", "text": "ignored"}]}]}
        doc = request(srv.base_url, {**parts, "n": 3}).json()
        assert [c["index"] for c in doc["choices"]] == [0, 1, 2]
        assert {c["message"]["content"] for c in doc["choices"]} == {"A fixed reply from the mock"}
        doc = request(srv.base_url, {**parts, "max_tokens": 2}).json()
        assert doc["choices"][0]["message"]["content"] == "A fixed"
        assert doc["choices"][0]["finish_reason"] == "length"
        assert doc["usage"]["completion_tokens"] == 2
    with MockServer() as srv:
        parts = [
            {"type": "text", "text": "one"},
            {"type": "image_url", "image_url": {"url": "x"}},
            {"type": "text", "text": "two"},
        ]
        doc = request(srv.base_url, {"model": MODEL, "messages": [{"role": "user", "content": parts}]}).json()
        assert doc["choices"][0]["message"]["content"] == "one two"


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": "x"}]},
        {"model": MODEL},
        {"model": MODEL, "messages": []},
        {"model": 1, "messages": [{"role": "user", "content": "x"}]},
        b"{not json",
    ],
)
def test_invalid_requests_get_openai_shaped_400s(server, body):
    answer = request(server.base_url, body)
    assert answer.status == 400
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert isinstance(error["message"], str)
    assert "param" in error and "code" in error


def test_unknown_path_is_404(server):
    answer = request(server.base_url, {}, path="/no-such-endpoint")
    assert answer.status == 404
    assert answer.json()["error"]["type"] == "invalid_request_error"
    assert "x-request-id" in answer.headers


# --------------------------------------------------------------------------------------------
# Streaming
# --------------------------------------------------------------------------------------------


def test_streaming_format(server):
    answer = request(server.base_url, chat_body("Hello  big\nworld", stream=True))
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/event-stream"
    events = answer.events()
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == MODEL for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:-1]] == ["Hello", "  big", "\nworld"]
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c for c in chunks)


def test_streaming_include_usage(server):
    body = chat_body("count my tokens", stream=True, stream_options={"include_usage": True})
    events = request(server.base_url, body).events()
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    *rest, last = chunks
    assert all("usage" in c and c["usage"] is None for c in rest)
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == count_tokens(model=MODEL, text="count my tokens") == 3
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 3
    assert chunk_contents(events) == "count my tokens"


def test_stream_chunks_and_chunk_delay():
    with MockServer(reply="abcdefghij", stream_chunks=4, chunk_delay_ms=25) as srv:
        started = time.monotonic()
        events = request(srv.base_url, chat_body(stream=True)).events()
        assert time.monotonic() - started >= 0.14  # 7 events, 6 gaps of 25 ms
    pieces = [json.loads(e)["choices"][0]["delta"]["content"] for e in events[1:5]]
    assert pieces == ["abc", "def", "gh", "ij"]


def test_explicit_stream_pieces():
    pieces = ["Hel", "lo, ", "wor", "ld", "! 👋"]
    with MockServer(stream_chunks=pieces) as srv:
        events = request(srv.base_url, chat_body(stream=True)).events()
        assert [json.loads(e)["choices"][0]["delta"]["content"] for e in events[1:6]] == pieces
        assert request(srv.base_url, chat_body()).json()["choices"][0]["message"]["content"] == "".join(pieces)


def test_thousand_chunk_stream():
    with MockServer(reply="x" * 1000, stream_chunks=1000, record=False) as srv:
        started = time.monotonic()
        events = request(srv.base_url, chat_body(stream=True)).events()
        assert time.monotonic() - started < 5
    assert len(events) == 1003
    assert chunk_contents(events) == "x" * 1000


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


def test_status_fault_with_retry_after(server):
    server.push_faults([{"status": 429, "retry_after": 2, "retry_after_ms": 1500, "headers": {"x-extra": "1"}}])
    assert server.pending_faults == 1
    answer = request(server.base_url, chat_body())
    assert answer.status == 429
    assert answer.headers["retry-after"] == "2"
    assert answer.headers["retry-after-ms"] == "1500"
    assert answer.headers["x-extra"] == "1"
    error = answer.json()["error"]
    assert error["code"] == "rate_limit_exceeded"
    assert MODEL in error["message"]
    # The queue is empty again: served normally.
    assert request(server.base_url, chat_body()).status == 200


@pytest.mark.parametrize(
    ("status", "code"), [(401, "invalid_api_key"), (500, "server_error"), (503, "overloaded"), (400, None)]
)
def test_default_error_bodies(server, status, code):
    server.push_faults([{"status": status}])
    answer = request(server.base_url, chat_body(stream=True))
    assert answer.status == status
    error = answer.json()["error"]
    assert error["code"] == code
    assert error["message"] and error["type"]


def test_faults_are_fifo_with_custom_bodies(server):
    server.push_faults(
        [
            {"status": 502, "body": "<html>Bad gateway</html>"},
            {"status": 400, "body": {"error": {"message": "custom"}}},
            {"reply": "scripted"},
        ]
    )
    first = request(server.base_url, chat_body())
    assert (first.status, first.body) == (502, b"<html>Bad gateway</html>")
    assert first.headers["content-type"].startswith("text/plain")
    assert request(server.base_url, chat_body()).json() == {"error": {"message": "custom"}}
    assert request(server.base_url, chat_body()).json()["choices"][0]["message"]["content"] == "scripted"
    assert request(server.base_url, chat_body("normal")).json()["choices"][0]["message"]["content"] == "normal"


def test_delay_fault():
    with MockServer(latency_ms=20) as srv:
        srv.push_faults([{"delay_ms": 150}])
        started = time.monotonic()
        assert request(srv.base_url, chat_body()).status == 200
        assert time.monotonic() - started >= 0.17


def test_cut_stream_closes_without_done(server):
    server.push_faults([{"cut_after": 2}])
    answer = request(server.base_url, chat_body("one two three four", stream=True))
    assert answer.status == 200
    assert answer.error is not None
    text = answer.body.decode()
    assert "[DONE]" not in text
    events = [e[len("data: ") :] for e in text.split("\n\n") if e]
    assert chunk_contents(events) == "one two"


def test_cut_plain_body_is_incomplete(server):
    server.push_faults([{"cut_after": 0}])
    answer = request(server.base_url, chat_body("a reply long enough to have a visible half"))
    assert answer.status == 200
    assert answer.error is not None
    assert 0 < len(answer.body) < int(answer.headers["content-length"])


def test_malformed_faults(server):
    server.push_faults([{"malformed": True}, {"malformed": True}])
    answer = request(server.base_url, chat_body())
    assert answer.status == 200 and answer.error is None
    with pytest.raises(ValueError):
        json.loads(answer.body)
    events = request(server.base_url, chat_body("x y", stream=True)).events()
    with pytest.raises(ValueError):
        json.loads(events[1])
    assert events[-1] == "[DONE]"


def test_error_event_fault(server):
    server.push_faults([{"cut_after": 1, "error_event": {"message": "overloaded", "type": "server_error"}}])
    events = request(server.base_url, chat_body("alpha beta gamma", stream=True)).events()
    assert chunk_contents(events[:-1]) == "alpha"
    assert json.loads(events[-1]) == {"error": {"message": "overloaded", "type": "server_error"}}
    assert "[DONE]" not in events


@pytest.mark.parametrize(
    ("faults", "exc"),
    [
        ([{"nope": 1}], ValueError),
        ([{"status": 99}], ValueError),
        ([{"status": 700}], ValueError),
        ([{"cut_after": -1}], ValueError),
        ([{"delay_ms": -5}], ValueError),
        ([{"headers": {"bad name": "x"}}], ValueError),
        ([{"status": "429"}], TypeError),
        ([{"malformed": 1}], TypeError),
        ([{"retry_after": "soon"}], TypeError),
        ([{"headers": "x"}], TypeError),
        ([{"reply": 3}], TypeError),
        ([{"body": object()}], TypeError),
        ({"status": 429}, TypeError),
        (["status"], TypeError),
    ],
)
def test_bad_faults_are_rejected(server, faults, exc):
    with pytest.raises(exc):
        server.push_faults(faults)
    assert server.pending_faults == 0


# --------------------------------------------------------------------------------------------
# Request log, count, reset
# --------------------------------------------------------------------------------------------


def test_request_log(server):
    body = chat_body("log me")
    request(server.base_url, body, headers={"X-Trace-Id": "abc"})
    request(server.base_url, b"raw", path="/chat/completions?debug=1")
    server.push_faults([{"status": 500}])
    request(server.base_url, body)
    assert server.request_count == 3
    first, second, third = server.requests()
    assert first["method"] == "POST"
    assert first["path"] == "/v1/chat/completions"
    assert first["query"] is None
    assert first["headers"]["x-trace-id"] == "abc"
    assert first["headers"]["authorization"] == "Bearer sk-test"
    assert all(k == k.lower() for k in first["headers"])
    assert first["body"] == json.dumps(body).encode()
    assert first["json"] == body
    assert isinstance(first["received_at"], float)
    assert second["query"] == "debug=1"
    assert second["body"] == b"raw" and second["json"] is None
    assert third["json"] == body


def test_request_count_and_reset():
    with MockServer(record=False) as srv:
        for _ in range(3):
            request(srv.base_url, chat_body())
        request(srv.base_url, None, path="/models", method="GET")
        assert srv.request_count == 4
        assert srv.requests() == []
        srv.push_faults([{"status": 500}])
        srv.reset()
        assert srv.request_count == 0
        assert srv.pending_faults == 0
        assert request(srv.base_url, chat_body()).status == 200
        assert srv.request_count == 1


# --------------------------------------------------------------------------------------------
# Lifecycle
# --------------------------------------------------------------------------------------------


def test_context_manager_closes():
    with MockServer() as srv:
        assert srv.base_url == f"http://127.0.0.1:{srv.port}/v1"
        assert repr(srv) == f"MockServer(base_url='{srv.base_url}')"
        assert request(srv.base_url, chat_body()).status == 200
        assert not srv.closed
    assert srv.closed
    assert "closed=True" in repr(srv)
    with pytest.raises(ConnectionRefusedError):
        request(srv.base_url, chat_body())
    srv.close()  # idempotent


def test_garbage_collection_closes():
    srv = MockServer()
    port = srv.port
    del srv
    gc.collect()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_two_servers_at_once():
    with MockServer(reply="one") as a, MockServer(reply="two") as b:
        assert a.port != b.port
        assert request(a.base_url, chat_body()).json()["choices"][0]["message"]["content"] == "one"
        assert request(b.base_url, chat_body()).json()["choices"][0]["message"]["content"] == "two"
        assert (a.request_count, b.request_count) == (1, 1)


def test_construction_errors():
    with MockServer() as srv:
        with pytest.raises(OSError):
            MockServer(port=srv.port)
    for kwargs in (
        {"latency_ms": -1},
        {"chunk_delay_ms": float("nan")},
        {"stream_chunks": 0},
        {"stream_chunks": []},
        {"port": 70000},
        {"port": -1},
    ):
        with pytest.raises(ValueError):
            MockServer(**kwargs)
    with pytest.raises(TypeError):
        MockServer(stream_chunks=3.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MockServer(stream_chunks="abc")
    with pytest.raises(TypeError):
        MockServer("positional")  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Both commands run the one mock-server command line (liter_llm.testing._serve).
SERVE_COMMANDS = {
    "testing-serve": [sys.executable, "-m", "liter_llm.testing", "serve"],
    "liter-llm-mock-server": [sys.executable, "-m", "liter_llm", "mock-server"],
}


@pytest.mark.parametrize("command", list(SERVE_COMMANDS))
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_cli_serve(command, sig):
    port = free_port()
    cmd = [*SERVE_COMMANDS[command], "--port", str(port), "--reply", "from the cli", "--max-embedding-inputs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line == f"liter_llm mock server listening on http://127.0.0.1:{port}/v1"
        base_url = line.rsplit(" ", 1)[1]
        assert request(base_url, chat_body()).json()["choices"][0]["message"]["content"] == "from the cli"
        embed = {"model": "text-embedding-3-small", "input": ["a", "b"]}
        assert request(base_url, embed, path="/embeddings").status == 200
        assert request(base_url, dict(embed, input=["a", "b", "c"]), path="/embeddings").status == 400
        proc.send_signal(sig)  # either one stops it cleanly
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None and "liter_llm mock server stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


@pytest.mark.parametrize("command", list(SERVE_COMMANDS))
@pytest.mark.parametrize(
    "args", [["--latency-ms", "-3"], ["--max-embedding-inputs", "0"], ["--port", "70000"]], ids=lambda a: a[0]
)
def test_cli_rejects_bad_arguments(command, args):
    result = subprocess.run([*SERVE_COMMANDS[command], *args], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"argument {args[0]}:" in result.stderr


def test_both_commands_have_the_same_options():
    from liter_llm import cli
    from liter_llm.testing import __main__ as testing_main

    def parse(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        a = vars(cli.build_parser().parse_args(["mock-server", *argv]))
        b = vars(testing_main.build_parser().parse_args(["serve", *argv]))
        assert (a.pop("command"), b.pop("command")) == ("mock-server", "serve")
        return a, b

    a, b = parse([])
    assert a == b and a["port"] == 8000 and a["host"] == "127.0.0.1"
    argv = ["--host", "0.0.0.0", "--port", "0", "--latency-ms", "5", "--chunk-delay-ms", "1.5"]
    argv += ["--stream-chunks", "3", "--reply", "r", "--max-embedding-inputs", "7", "--no-record"]
    a, b = parse(argv)
    assert a == b
    assert a == {
        "host": "0.0.0.0",
        "port": 0,
        "latency_ms": 5.0,
        "chunk_delay_ms": 1.5,
        "stream_chunks": 3,
        "reply": "r",
        "max_embedding_inputs": 7,
        "no_record": True,
    }


def test_cli_reports_a_port_in_use():
    with MockServer() as server:
        for command in SERVE_COMMANDS.values():
            result = subprocess.run([*command, "--port", str(server.port)], capture_output=True, text=True, timeout=30)
            assert result.returncode == 1, result.stderr
            assert "error:" in result.stderr and "Traceback" not in result.stderr
