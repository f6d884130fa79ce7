"""An aiohttp scenario server, independent of ``liter_llm.testing.MockServer``.

The server runs on its own event loop in a background thread, so it serves sync tests (that call
``asyncio.run`` several times or use threads) and async tests (whatever loop pytest-asyncio gives
them) alike, and it never shares a loop with the client under test.

Each incoming request is recorded as it arrives (before any scripted delay), then answered by the
next scripted handler (``server.script(h1, h2, ...)``, one per request, in arrival order) or, when
the script is empty, by the default handler (``echo()`` unless ``set_default`` replaced it).

Handlers are built by the factory functions below (``json_response``, ``error_response``,
``sse_response``, ``slow_headers``, ``reset_connection`` ...). They are plain coroutines
``handler(request, rec, ctl)``: ``rec`` is the ``RecordedRequest``, ``ctl`` the server's
``Control`` (release-aware sleeping and disconnect bookkeeping). Every wait inside a handler ends
early when the test finishes (``reset``), so a hanging scenario never outlives its test.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from aiohttp import web

Handler = Callable[[web.Request, "RecordedRequest", "Control"], Awaitable[Optional[web.StreamResponse]]]

DEFAULT_MODEL = "scenario-model"
CREATED = 1_700_000_000


# --------------------------------------------------------------------------------------------
# Recording
# --------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    index: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    header_items: list[tuple[str, str]]
    body: bytes
    arrived: float
    peer: tuple[str, int] | None = None
    finished: threading.Event = field(default_factory=threading.Event)
    disconnected: threading.Event = field(default_factory=threading.Event)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.header_items if k.lower() == name]


class Control:
    """What a handler may use besides the request: release-aware waiting and bookkeeping."""

    def __init__(self, server: ScenarioServer, release: asyncio.Event) -> None:
        self.server = server
        self.release = release

    async def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``; return False if the test ended (server reset) first."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return not self.release.is_set()
        try:
            await asyncio.wait_for(self.release.wait(), timeout=seconds)
        except asyncio.TimeoutError:
            return True
        return False

    @property
    def released(self) -> bool:
        return self.release.is_set()


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class ScenarioServer:
    """Scripted HTTP server on 127.0.0.1 running in a background thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._script: deque[Handler] = deque()
        self._default: Handler = echo()
        self._disconnects = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._release: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ScenarioServer:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # pragma: no cover - surfaced to the caller below
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="scenario-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("scenario server did not start")
        if errors:
            raise errors[0]
        return self

    async def _setup(self) -> None:
        self._release = asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        self._release_waiters()

        async def shutdown() -> None:
            assert self._runner is not None
            await self._runner.cleanup()
            for task in list(self._tasks):
                task.cancel()

        fut = asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        try:
            fut.result(timeout=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop = None
            self._thread = None

    def __enter__(self) -> ScenarioServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- addresses -----------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    # ---- scripting -----------------------------------------------------------------------------

    def script(self, *handlers: Handler) -> None:
        """Queue handlers; each answers one upcoming request, in arrival order."""
        with self._cond:
            self._script.extend(handlers)

    def set_default(self, handler: Handler) -> None:
        with self._cond:
            self._default = handler

    def reset(self) -> None:
        """Forget requests and script, restore the echo default, end every pending wait."""
        self._release_waiters()
        with self._cond:
            self._requests.clear()
            self._script.clear()
            self._default = echo()
            self._disconnects = 0

    def _release_waiters(self) -> None:
        loop = self._loop
        if loop is None:
            return

        def swap() -> None:
            assert self._release is not None
            self._release.set()
            self._release = asyncio.Event()

        done = threading.Event()
        loop.call_soon_threadsafe(lambda: (swap(), done.set()))
        done.wait(5)

    # ---- inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def request_count(self) -> int:
        with self._cond:
            return len(self._requests)

    @property
    def disconnects(self) -> int:
        with self._cond:
            return self._disconnects

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self._requests) >= n, timeout)

    def wait_for_disconnects(self, n: int, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._disconnects >= n, timeout)

    async def async_wait_for_requests(self, n: int, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self.wait_for_requests, n, timeout)

    async def async_wait_for_disconnects(self, n: int, timeout: float = 10.0) -> bool:
        return await asyncio.to_thread(self.wait_for_disconnects, n, timeout)

    # ---- request handling -------------------------------------------------------------------------

    def _mark_disconnected(self, rec: RecordedRequest) -> None:
        with self._cond:
            if not rec.disconnected.is_set():
                rec.disconnected.set()
                self._disconnects += 1
                self._cond.notify_all()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            body = await request.read()
            with self._cond:
                rec = RecordedRequest(
                    index=len(self._requests),
                    method=request.method,
                    path=request.path,
                    query=request.query_string,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    header_items=[(k, v) for k, v in request.headers.items()],
                    body=body,
                    arrived=time.monotonic(),
                    peer=request.transport.get_extra_info("peername") if request.transport else None,
                )
                self._requests.append(rec)
                handler = self._script.popleft() if self._script else self._default
                self._cond.notify_all()
            assert self._release is not None
            ctl = Control(self, self._release)
            try:
                resp = await handler(request, rec, ctl)
            except (asyncio.CancelledError, ConnectionError):
                self._mark_disconnected(rec)
                raise
            finally:
                rec.finished.set()
            if resp is None:
                # The handler took the connection down itself; give aiohttp nothing to send.
                raise _Dropped()
            return resp
        finally:
            if task is not None:
                self._tasks.discard(task)


class _Dropped(web.HTTPException):
    """Raised after a handler closed or reset the transport itself.

    aiohttp turns exceptions from a handler into a response on a connection that is already gone;
    an ``HTTPException`` is the quietest way to do that (no traceback is logged).
    """

    status_code = 500


# --------------------------------------------------------------------------------------------
# Payload builders (OpenAI wire format)
# --------------------------------------------------------------------------------------------


def completion(
    content: str | None = "Hello!",
    *,
    model: str = DEFAULT_MODEL,
    id: str = "chatcmpl-scenario",
    finish_reason: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage if usage is not None else {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    body.update(extra)
    return body


def chunk(
    content: str | None = None,
    *,
    role: str | None = None,
    finish_reason: str | None = None,
    tool_calls: list[dict[str, Any]] | None = None,
    index: int = 0,
    id: str = "chatcmpl-scenario",
    model: str = DEFAULT_MODEL,
    usage: dict[str, Any] | None = None,
    no_choices: bool = False,
    **extra: Any,
) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if role is not None:
        delta["role"] = role
    if content is not None:
        delta["content"] = content
    if tool_calls is not None:
        delta["tool_calls"] = tool_calls
    body: dict[str, Any] = {
        "id": id,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "choices": [] if no_choices else [{"index": index, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        body["usage"] = usage
    body.update(extra)
    return body


def text_chunks(pieces: Sequence[str], *, finish_reason: str = "stop", **kw: Any) -> list[dict[str, Any]]:
    """role chunk, one chunk per piece, final chunk with finish_reason (the OpenAI shape)."""
    out = [chunk("", role="assistant", **kw)]
    out.extend(chunk(p, **kw) for p in pieces)
    out.append(chunk(finish_reason=finish_reason, **kw))
    return out


def sse_event(
    data: dict[str, Any] | str,
    *,
    eol: str = "\n",
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
    comment: str | None = None,
    multiline: bool = False,
    space: bool = True,
) -> bytes:
    """Encode one SSE event. ``multiline`` splits the JSON over several ``data:`` lines."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    sep = ": " if space else ":"
    lines: list[str] = []
    if comment is not None:
        lines.append(f":{comment}")
    if event is not None:
        lines.append(f"event{sep}{event}")
    if id is not None:
        lines.append(f"id{sep}{id}")
    if retry is not None:
        lines.append(f"retry{sep}{retry}")
    if multiline and not isinstance(data, str):
        # Pretty-printing puts newlines only between JSON tokens; joined with "\n" it parses again.
        parts = json.dumps(data, ensure_ascii=False, indent=1).split("\n")
        lines.extend(f"data{sep}{p}" for p in parts)
    else:
        lines.append(f"data{sep}{text}")
    return (eol.join(lines) + eol + eol).encode("utf-8")


def sse_body(events: Iterable[dict[str, Any]], *, done: bool = True, eol: str = "\n", **kw: Any) -> bytes:
    out = b"".join(sse_event(e, eol=eol, **kw) for e in events)
    if done:
        out += sse_event("[DONE]", eol=eol)
    return out


def error_body(message: str, *, type: str | None = "invalid_request_error", code: Any = None, param: Any = None):
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


# --------------------------------------------------------------------------------------------
# Handler factories
# --------------------------------------------------------------------------------------------


def _last_user_text(payload: Any) -> str:
    if not isinstance(payload, dict):
        return ""
    for msg in reversed(payload.get("messages") or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def echo(*, model: str | None = None) -> Handler:
    """Answer like OpenAI, echoing the last user message (JSON, or SSE when ``stream`` is true)."""

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse:
        payload = rec.json
        text = _last_user_text(payload)
        name = model or (payload.get("model") if isinstance(payload, dict) else None) or DEFAULT_MODEL
        words = text.split(" ")
        usage = {"prompt_tokens": len(words) + 3, "completion_tokens": len(words), "total_tokens": 2 * len(words) + 3}
        if isinstance(payload, dict) and payload.get("stream"):
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
            events = text_chunks(pieces, model=name)
            opts = payload.get("stream_options") or {}
            if opts.get("include_usage"):
                events.append(chunk(no_choices=True, usage=usage, model=name))
            return await _write_stream(request, [sse_body(events)], delay=0.0)
        return web.json_response(completion(text, model=name, usage=usage))

    return handler


def json_response(
    body: Any, *, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0.0
) -> Handler:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    return raw_response(data, status=status, headers=headers, content_type="application/json", delay=delay)


def raw_response(
    body: bytes | str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    content_type: str | None = "text/plain",
    delay: float = 0.0,
) -> Handler:
    data = body.encode("utf-8") if isinstance(body, str) else body

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse | None:
        if delay and not await ctl.sleep(delay):
            return _drop(request)
        hdrs = dict(headers or {})
        if content_type is not None:
            hdrs.setdefault("Content-Type", content_type)
        return web.Response(status=status, body=data, headers=hdrs)

    return handler


def error_response(
    status: int,
    message: str = "Something went wrong",
    *,
    type: str | None = "invalid_request_error",
    code: Any = None,
    headers: dict[str, str] | None = None,
) -> Handler:
    return json_response(error_body(message, type=type, code=code), status=status, headers=headers)


def sse_response(
    writes: Sequence[bytes],
    *,
    delay: float = 0.0,
    status: int = 200,
    headers: dict[str, str] | None = None,
    end: str = "eof",
    chunked: bool = True,
) -> Handler:
    """Stream ``writes`` as separate socket writes, ``delay`` seconds apart.

    ``end``: "eof" finishes the HTTP body normally; "cut" aborts the TCP connection right after the
    last write (no terminating chunk); "hang" keeps the connection open, silent, until the test ends.
    ``chunked=False`` sends a Content-Length instead of chunked framing.
    """

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse | None:
        return await _write_stream(
            request, writes, delay=delay, status=status, headers=headers, end=end, chunked=chunked, ctl=ctl
        )

    return handler


async def _write_stream(
    request: web.Request,
    writes: Sequence[bytes],
    *,
    delay: float,
    status: int = 200,
    headers: dict[str, str] | None = None,
    end: str = "eof",
    chunked: bool = True,
    ctl: Control | None = None,
) -> web.StreamResponse | None:
    hdrs = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    hdrs.update(headers or {})
    resp = web.StreamResponse(status=status, headers=hdrs)
    if chunked:
        resp.enable_chunked_encoding()
    else:
        resp.content_length = sum(len(w) for w in writes)
    await resp.prepare(request)
    for i, data in enumerate(writes):
        if i and delay:
            if ctl is not None:
                if not await ctl.sleep(delay):
                    return _drop(request)
            else:
                await asyncio.sleep(delay)
        await resp.write(data)
    if end == "cut":
        await asyncio.sleep(0.05)  # let the last write reach the client before the abort
        return _drop(request)
    if end == "hang":
        assert ctl is not None
        await ctl.sleep(3600)
        return _drop(request)
    await resp.write_eof()
    return resp


def split_writes(payload: bytes, *, at: Iterable[int]) -> list[bytes]:
    cuts = sorted(set(i for i in at if 0 < i < len(payload)))
    out, prev = [], 0
    for c in cuts:
        out.append(payload[prev:c])
        prev = c
    out.append(payload[prev:])
    return out


def byte_writes(payload: bytes) -> list[bytes]:
    return [payload[i : i + 1] for i in range(len(payload))]


def steady_stream(pieces: Sequence[str], *, interval: float, **kw: Any) -> Handler:
    """One SSE chunk per piece, ``interval`` seconds apart, then the final chunk and [DONE]."""
    events = text_chunks(pieces, **kw)
    writes = [sse_event(e) for e in events] + [sse_event("[DONE]")]
    return sse_response(writes, delay=interval)


def slow_headers(delay: float, then: Handler | None = None) -> Handler:
    """Wait ``delay`` seconds before sending anything, then answer with ``then`` (default echo)."""
    nxt = then or echo()

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse | None:
        if not await ctl.sleep(delay):
            return _drop(request)
        return await nxt(request, rec, ctl)

    return handler


def hang() -> Handler:
    """Never answer (until the test ends)."""
    return slow_headers(3600)


def stall_body(prefix: bytes, *, total_length: int, stall: float = 3600) -> Handler:
    """Send headers with Content-Length ``total_length`` and ``prefix``, then go silent."""

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse | None:
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = total_length
        await resp.prepare(request)
        await resp.write(prefix)
        await ctl.sleep(stall)
        return _drop(request)

    return handler


def reset_connection() -> Handler:
    """Answer with a TCP RST (SO_LINGER 0, then close) and no HTTP response at all."""

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> None:
        return _drop(request, rst=True)

    return handler


def close_connection() -> Handler:
    """Close the connection cleanly (FIN) without sending a response."""

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> None:
        return _drop(request, rst=False)

    return handler


def redirect(location: str, *, status: int = 307) -> Handler:
    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse:
        return web.Response(status=status, headers={"Location": location})

    return handler


def sequence_default(*handlers: Handler) -> Handler:
    """Route by the ``x_case`` integer in the JSON body: ``handlers[x_case]`` answers."""

    async def handler(request: web.Request, rec: RecordedRequest, ctl: Control) -> web.StreamResponse | None:
        payload = rec.json
        case = payload.get("x_case") if isinstance(payload, dict) else None
        if not isinstance(case, int) or not 0 <= case < len(handlers):
            return web.json_response(error_body(f"bad x_case {case!r}"), status=599)
        return await handlers[case](request, rec, ctl)

    return handler


def _drop(request: web.Request, *, rst: bool = False) -> None:
    transport = request.transport
    if transport is not None:
        if rst:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
        transport.abort()
    return None


# --------------------------------------------------------------------------------------------
# Raw sockets
# --------------------------------------------------------------------------------------------


class BlackHole:
    """A listening socket that never accepts: connects may complete in the kernel, nothing answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> BlackHole:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def refused_base_url() -> str:
    """A base_url on 127.0.0.1 where nothing listens (connection refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/v1"
