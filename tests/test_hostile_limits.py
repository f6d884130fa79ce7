"""A hostile server cannot make the client bloat or hang: size caps and the total deadline.

Each class of attack is tried in several variants against the scenario server: compression
bombs in every encoding we ask for (in answers, error bodies and streams), oversized plain bodies
(announced or chunked), oversized SSE lines and events, and bodies or streams that trickle
forever.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from typing import Any

import brotli
import pytest
import zstandard
from conftest import MODEL, user
from liter_llm import LlmTimeoutError, ResponseTooLargeError, ServerError
from scenario_server import (
    completion,
    json_response,
    raw_response,
    sse_event,
    sse_response,
    text_chunks,
)

MiB = 1 << 20
ENCODINGS = ["gzip", "br", "zstd"]


def compress(encoding: str, pieces: list[bytes]) -> bytes:
    """``pieces`` joined and compressed with ``encoding``, without holding the plain text."""
    if encoding == "gzip":
        z = zlib.compressobj(9, zlib.DEFLATED, 31)
        return b"".join(z.compress(p) for p in pieces) + z.flush()
    if encoding == "br":
        b = brotli.Compressor(quality=5)
        return b"".join(b.process(p) for p in pieces) + b.finish()
    z = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(z.compress(p) for p in pieces) + z.flush()


_bombs: dict[tuple[str, str], bytes] = {}


def bomb(encoding: str, kind: str = "json", size: int = 256 * MiB) -> bytes:
    """A small body that inflates to ``size`` bytes: a JSON string, or one SSE data line."""
    key = (encoding, kind)
    if key not in _bombs:
        head = b'{"id": "' if kind == "json" else b"data: "
        _bombs[key] = compress(encoding, [head] + [b"A" * MiB] * (size // MiB))
    return _bombs[key]


PEAK_SCRIPT = """
import asyncio, resource, sys, liter_llm
async def main():
    c = liter_llm.LlmClient(api_key="k", base_url=sys.argv[1], max_retries=0, max_response_bytes=4 << 20,
                            max_stream_event_bytes=1 << 20, max_error_body_bytes=4096)
    msgs = [{"role": "user", "content": "hi"}]
    try:
        if sys.argv[2] == "stream":
            async for _ in await c.chat_stream(model="m", messages=msgs):
                pass
        else:
            await c.chat(model="m", messages=msgs)
        print("ok")
    except liter_llm.LlmError as e:
        print(type(e).__name__)
asyncio.run(main())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def peak_rss(base_url: str, mode: str) -> tuple[str, float]:
    """One call in a fresh interpreter: its outcome and the process's peak RSS in MiB."""
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, base_url, mode], capture_output=True, text=True, timeout=120, check=True
    )
    outcome, peak = proc.stdout.split()
    return outcome, float(peak)


@pytest.fixture(scope="module")
def baseline_rss(_scenario_session) -> float:
    """Peak RSS of the same interpreter making one ordinary call."""
    _scenario_session.reset()
    _scenario_session.script(json_response(completion("fine")))
    outcome, peak = peak_rss(_scenario_session.base_url, "chat")
    assert outcome == "ok"
    return peak


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_a_compressed_bomb_stops_at_the_response_cap(scenario, make_client, baseline_rss, encoding):
    body = bomb(encoding)
    assert len(body) < 2 * MiB
    answer = raw_response(body, content_type="application/json", headers={"Content-Encoding": encoding})
    scenario.script(answer, answer)
    client = make_client(scenario.base_url, max_response_bytes=4 * MiB)
    with pytest.raises(ResponseTooLargeError, match="max_response_bytes=4194304") as info:
        await client.chat(model=MODEL, messages=user("hi"))
    outcome, peak = peak_rss(scenario.base_url, "chat")
    assert outcome == "ResponseTooLargeError"
    assert peak - baseline_rss < 64, "the 256 MiB bomb was inflated past the cap"
    assert "LlmClient(max_response_bytes=" in str(info.value)
    assert info.value.provider == "openai" and info.value.model == MODEL


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_a_compressed_error_body_is_kept_to_its_cap(scenario, make_client, baseline_rss, encoding):
    answer = raw_response(bomb(encoding), status=500, content_type="text/plain", headers={"Content-Encoding": encoding})
    scenario.script(answer, answer)
    client = make_client(scenario.base_url, max_error_body_bytes=4096)
    with pytest.raises(ServerError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    outcome, peak = peak_rss(scenario.base_url, "chat")
    assert outcome == "ServerError" and peak - baseline_rss < 64
    assert isinstance(info.value.body, str) and len(info.value.body) == 4096
    assert len(str(info.value)) < 1000
    assert info.value.status_code == 500


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_a_compressed_bomb_inside_a_stream_stops_at_the_event_cap(scenario, make_client, baseline_rss, encoding):
    body = bomb(encoding, "sse")
    answer = sse_response(
        [body[i : i + 4096] for i in range(0, len(body), 4096)], headers={"Content-Encoding": encoding}
    )
    scenario.script(answer, answer)
    client = make_client(scenario.base_url, max_stream_event_bytes=MiB)
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(ResponseTooLargeError, match="max_stream_event_bytes=1048576"):
        async for _ in stream:
            pass
    outcome, peak = peak_rss(scenario.base_url, "stream")
    assert outcome == "ResponseTooLargeError" and peak - baseline_rss < 64


def padded_completion(size: int) -> bytes:
    """A valid chat completion of exactly ``size`` bytes."""
    base = completion("x")
    base["system_fingerprint"] = ""
    raw = json.dumps(base).encode()
    base["system_fingerprint"] = "p" * (size - len(raw))
    raw = json.dumps(base).encode()
    assert len(raw) == size
    return raw


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_plain_bodies_past_the_cap_fail_and_bodies_at_it_succeed(scenario, make_client, framing):
    cap = 256 * 1024
    client = make_client(scenario.base_url, max_response_bytes=cap)
    for size, fits in [(cap, True), (cap + 1, False), (50 * cap, False)]:
        body = padded_completion(size)
        if framing == "chunked":
            pieces = [body[i : i + 8192] for i in range(0, len(body), 8192)]
            scenario.script(sse_response(pieces, headers={"Content-Type": "application/json"}))
        else:
            scenario.script(raw_response(body, content_type="application/json"))
        if fits:
            r = await client.chat(model=MODEL, messages=user("hi"))
            assert r.choices[0].message.content == "x"
        else:
            with pytest.raises(ResponseTooLargeError, match="max_response_bytes"):
                await client.chat(model=MODEL, messages=user("hi"))


async def test_a_huge_plain_error_body_is_cut_to_its_cap(scenario, make_client):
    scenario.script(raw_response(b"E" * (8 * MiB), status=502, content_type="text/html"))
    client = make_client(scenario.base_url, max_error_body_bytes=1000)
    with pytest.raises(Exception) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 502
    assert info.value.body == "E" * 1000
    assert len(str(info.value)) < 700


async def test_downloads_have_their_own_cap(scenario, make_client):
    payload = bytes(range(256)) * 8192  # 2 MiB
    client = make_client(scenario.base_url, max_response_bytes=MiB, max_download_bytes=4 * MiB)
    scenario.script(raw_response(payload, content_type="application/octet-stream"))
    assert await client.file_content("file-abc") == payload
    small = client.with_options(max_download_bytes=MiB)
    scenario.script(raw_response(payload, content_type="application/octet-stream"))
    with pytest.raises(ResponseTooLargeError, match="max_download_bytes=1048576"):
        await small.file_content("file-abc")


def _stream_variants(limit: int) -> dict[str, list[bytes]]:
    line = b"data: " + b"z" * (4 * limit)
    return {
        "unterminated line": [line[i : i + 1000] for i in range(0, len(line), 1000)],
        "terminated line": [line + b"\n\n"],
        "comment line": [b": " + b"c" * (4 * limit) + b"\n"],
        "many data lines": [b"data: " + b"d" * 100 + b"\n"] * (limit // 50),
        "field without colon": [b"x" * (4 * limit)],
    }


@pytest.mark.parametrize("variant", list(_stream_variants(1)))
async def test_stream_lines_and_events_are_capped(scenario, make_client, variant):
    limit = 64 * 1024
    writes = [sse_event(e) for e in text_chunks(["ok"])] + _stream_variants(limit)[variant]
    scenario.script(sse_response(writes))
    client = make_client(scenario.base_url, max_stream_event_bytes=limit)
    got: list[Any] = []
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(ResponseTooLargeError, match="a stream event is larger than max_stream_event_bytes=65536"):
        async for chunk in stream:
            got.append(chunk)
    text = "".join(c.choices[0].delta.content or "" for c in got if c.choices)
    assert text == "ok", "chunks before the oversized event are delivered"


async def test_default_limits_are_documented_values(make_client, scenario):
    client = make_client(scenario.base_url)
    assert client.limits == {
        "max_response_bytes": 128 * MiB,
        "max_download_bytes": 2048 * MiB,
        "max_stream_event_bytes": 16 * MiB,
        "max_error_body_bytes": 64 * 1024,
    }
    assert client.total_timeout is None
    tuned = client.with_options(total_timeout=5, max_response_bytes=10)
    assert tuned.total_timeout == 5.0 and tuned.limits["max_response_bytes"] == 10
    assert tuned.limits["max_download_bytes"] == 2048 * MiB
    assert tuned.with_options(timeout=3).total_timeout == 5.0


# ----- the total deadline -----


def trickle(payload: bytes, *, every: float = 0.2, content_type: str = "application/json") -> Any:
    return sse_response(
        [payload[i : i + 1] for i in range(len(payload))], delay=every, headers={"Content-Type": content_type}
    )


async def test_a_trickled_body_ends_at_total_timeout(scenario, make_client):
    scenario.script(trickle(json.dumps(completion("never")).encode()))
    client = make_client(scenario.base_url, timeout=2, total_timeout=1)
    with pytest.raises(LlmTimeoutError, match="total_timeout=1"):
        await client.chat(model=MODEL, messages=user("hi"))
    assert await scenario.async_wait_for_disconnects(1)


async def test_a_per_call_total_timeout_overrides_the_client(scenario, make_client):
    scenario.script(trickle(json.dumps(completion("never")).encode()))
    client = make_client(scenario.base_url, timeout=2, total_timeout=600)
    with pytest.raises(LlmTimeoutError, match=r"total_timeout=0\.5"):
        await client.chat(model=MODEL, messages=user("hi"), total_timeout=0.5)
    assert scenario.requests[0].json.get("total_timeout") is None, "total_timeout is not sent"


@pytest.mark.parametrize(
    "keepalive",
    [b": ping\n", b"\n", b": \n\n", b"\r\n", b"event: ping\n\n"],
    ids=["comment", "blank", "comment-block", "crlf", "named-empty-event"],
)
async def test_a_stream_of_keepalives_ends_at_total_timeout(scenario, make_client, keepalive):
    scenario.script(sse_response([keepalive] * 10_000, delay=0.05, end="hang"))
    client = make_client(scenario.base_url, timeout=2)
    stream = await client.chat_stream(model=MODEL, messages=user("hi"), total_timeout=1)
    with pytest.raises(LlmTimeoutError, match="total_timeout=1"):
        async for _ in stream:
            pass


async def test_a_stream_that_keeps_sending_chunks_ends_at_total_timeout(scenario, make_client):
    events = [sse_event(c) for c in text_chunks(["tick"] * 10_000)]
    scenario.script(sse_response(events, delay=0.05))
    client = make_client(scenario.base_url, timeout=2, total_timeout=1)
    got = 0
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(LlmTimeoutError, match="total_timeout=1"):
        async for _ in stream:
            got += 1
    assert got > 0, "chunks that arrived in time were delivered"


async def test_no_retry_starts_past_the_deadline(scenario, make_client):
    from scenario_server import error_response

    scenario.set_default(error_response(429, "slow down", headers={"Retry-After": "30"}))
    client = make_client(scenario.base_url, max_retries=3, total_timeout=2)
    with pytest.raises(Exception) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 429 and info.value.retry_after == 30.0
    assert scenario.request_count == 1, "a retry that could not start before the deadline was not waited for"
