"""Load targets for the client benchmark.

Two kinds of target, both always run in their own process so their CPU is not charged to the client:

* ``mock``: our Rust mock server, ``<python> -m liter_llm.testing serve --port N --latency-ms X
  --stream-chunks N --reply TEXT --no-record`` (run with the "ours" venv python).
* ``aiohttp-fixed``: this file run as a script (``python benches/server.py --port N ...``), a small aiohttp
  server that answers ``POST /v1/chat/completions`` from bodies pre-built in memory: one JSON body for
  non-streaming requests, one SSE body for ``"stream": true``: a role chunk, ``--stream-chunks`` content
  deltas (the reply split into that many slices), a finish chunk, a usage chunk when asked for, and
  ``[DONE]``, the same shape as the mock's. ``--latency-ms`` sleeps before
  answering each request.

Both print ``liter_llm mock server listening on http://127.0.0.1:N/v1`` when ready; ``start_target``
launches either one, waits for that line and returns the base URL. Only 127.0.0.1 is ever used.

This module is imported by bench_clients.py (stdlib only at import time); aiohttp is imported only when
it is run as the fixed server.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_RE = re.compile(r"listening on (http://127\.0\.0\.1:\d+/v1)")
MODEL = "gpt-4o-mini"
CREATED = 1700000000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    """A running load-target process; use as a context manager."""

    def __init__(self, proc: subprocess.Popen, base_url: str, log_path: Path, desc: str) -> None:
        self.proc = proc
        self.base_url = base_url
        self.log_path = log_path
        self.desc = desc

    def cpu_seconds(self) -> float | None:
        """User+sys CPU of the server process so far (Linux /proc), for the record only."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_target(
    kind: str,
    *,
    python: str,
    latency_ms: int,
    stream_chunks: int,
    reply: str,
    log_dir: Path,
    ready_timeout: float = 60.0,
) -> Target:
    """Start a load target of ``kind`` (``mock`` or ``aiohttp-fixed``) with ``python`` and wait until ready."""
    port = free_port()
    common = ["--port", str(port), "--latency-ms", str(latency_ms), "--stream-chunks", str(stream_chunks)]
    if kind == "mock":
        cmd = [python, "-m", "liter_llm.testing", "serve", *common, "--reply", reply, "--no-record"]
    elif kind == "aiohttp-fixed":
        cmd = [python, str(Path(__file__).resolve()), *common, "--reply", reply]
    else:
        raise ValueError(f"unknown target kind {kind!r}")
    return spawn_target(cmd, log_dir / f"server-{kind}-{port}.log", ready_timeout)


def spawn_target(cmd: list[str], log_path: Path, ready_timeout: float = 60.0) -> Target:
    """Run ``cmd`` (a server printing READY_RE's line) with its output in ``log_path``; wait until ready."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        m = READY_RE.search(log_path.read_text(errors="replace"))
        if m:
            return Target(proc, m.group(1), log_path, " ".join(cmd))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    tail = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"target did not become ready: {' '.join(cmd)}\n{tail}")


# --------------------------------------------------------------------------------------------------
# The aiohttp fixed-response server (run as a script).


def split_reply(reply: str, n: int) -> list[str]:
    """Split ``reply`` into exactly ``n`` consecutive slices, the first ``len % n`` one char longer (as the mock)."""
    size, extra = divmod(len(reply), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(reply[pos : pos + step])
        pos += step
    return out


def _chunk(choices: list[dict], usage: dict | None = None) -> bytes:
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


def _usage(prompt: int, completion: int) -> dict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def build_bodies(reply: str, stream_chunks: int) -> tuple[bytes, bytes, bytes]:
    """Return (json_body, sse_body_without_usage, usage_event), shaped like the Rust mock's (and OpenAI's)."""
    full = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(5, len(reply.split())),
        "service_tier": "default",
        "system_fingerprint": "fp_bench",
    }
    role = {"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None}
    events = [_chunk([{**role, "finish_reason": None}])]
    for piece in split_reply(reply, stream_chunks):
        events.append(_chunk([{"index": 0, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}]))
    events.append(_chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]))
    usage_event = _chunk([], _usage(5, stream_chunks))
    return json.dumps(full, separators=(",", ":")).encode(), b"".join(events), usage_event


def serve_fixed(port: int, latency_ms: int, stream_chunks: int, reply: str) -> None:
    import asyncio

    from aiohttp import web

    json_body, sse_body, usage_event = build_bodies(reply, stream_chunks)
    done = b"data: [DONE]\n\n"
    sse_with_usage = sse_body + usage_event + done
    sse_without_usage = sse_body + done
    latency = latency_ms / 1000.0

    async def chat(request: web.Request) -> web.StreamResponse:
        try:
            req = json.loads(await request.read())
        except ValueError:
            return web.json_response({"error": {"message": "bad json", "type": "invalid_request_error"}}, status=400)
        if latency:
            await asyncio.sleep(latency)
        if not req.get("stream"):
            return web.Response(body=json_body, content_type="application/json")
        include_usage = bool((req.get("stream_options") or {}).get("include_usage"))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        await resp.write(sse_with_usage if include_usage else sse_without_usage)
        await resp.write_eof()
        return resp

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/v1/models", models)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        print(f"liter_llm mock server listening on http://127.0.0.1:{port}/v1", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()

    asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description="aiohttp fixed-response OpenAI-style server for benchmarks")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--stream-chunks", type=int, default=1000)
    ap.add_argument("--reply", default="Hello from the benchmark server.")
    args = ap.parse_args()
    serve_fixed(args.port, args.latency_ms, args.stream_chunks, args.reply)


if __name__ == "__main__":
    sys.exit(main())
