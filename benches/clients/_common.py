"""Shared harness for the per-client drivers (stdlib only: it runs inside every peer venv).

A driver module defines an ``Adapter`` with:

* ``async setup(base_url)`` / ``async close()``
* ``async chat(messages) -> str``: one non-streaming chat, returns the message content
* ``async stream(messages, on_chunk) -> None``: one streaming chat; calls ``on_chunk(content_or_None)`` once per
  chunk received (``None`` or ``""`` when the chunk carries no content, e.g. the finish or usage chunk)

and calls ``run(Adapter())``. The harness parses the command line, runs a warm-up, then the measured workload
with ``--concurrency`` worker tasks pulling from a shared counter, and prints one JSON line on stdout.

CPU is ``resource.getrusage(RUSAGE_SELF)`` user+sys (all threads of the process, so a Rust runtime's worker
threads are included), taken right before and right after the measured workload only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from typing import Any, Callable

MODEL = "gpt-4o-mini"
MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello."},
]


def _parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--mode", choices=["chat", "stream"], required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--warmup", type=int, default=None, help="warm-up requests (default: concurrency)")
    ap.add_argument("--expect-reply", default=None, help="chat: exact reply text; stream: its length")
    ap.add_argument("--expect-chunks", type=int, default=None, help="streaming: content chunks every stream must have")
    ap.add_argument("--deadline", type=float, default=120.0, help="abort the measured run after this many seconds")
    return ap.parse_args()


def _pct(sorted_vals: list[float], q: float) -> float | None:
    if not sorted_vals:
        return None
    idx = min(len(sorted_vals) - 1, max(0, round(q * (len(sorted_vals) - 1))))
    return sorted_vals[idx]


class _Stats:
    def __init__(self) -> None:
        self.ok = 0
        self.errors = 0
        self.bad = 0  # answered, but wrong content / chunk count
        self.first_error: str | None = None
        self.latencies: list[float] = []
        self.ttfb: list[float] = []
        self.chunks = 0
        self.content_chunks = 0
        self.content_chars = 0
        self.per_stream_content_chunks: set[int] = set()

    def error(self, msg: str) -> None:
        if self.first_error is None:
            self.first_error = msg[:500]


async def _one(adapter: Any, args: argparse.Namespace, st: _Stats) -> None:
    t0 = time.perf_counter()
    try:
        if args.mode == "chat":
            content = await adapter.chat(MESSAGES)
            dt = time.perf_counter() - t0
            if not content or (args.expect_reply is not None and content != args.expect_reply):
                st.bad += 1
                st.error(f"unexpected content: {content!r}"[:300])
                return
            st.content_chars += len(content)
            st.content_chunks += 1
        else:
            counts = [0, 0, 0]  # chunks, content chunks, chars
            first: list[float] = []

            def on_chunk(content: str | None) -> None:
                if not first:
                    first.append(time.perf_counter())
                counts[0] += 1
                if content:
                    counts[1] += 1
                    counts[2] += len(content)

            await adapter.stream(MESSAGES, on_chunk)
            dt = time.perf_counter() - t0
            st.chunks += counts[0]
            st.content_chunks += counts[1]
            st.content_chars += counts[2]
            st.per_stream_content_chunks.add(counts[1])
            if first:
                st.ttfb.append(first[0] - t0)
            if counts[1] == 0 or (args.expect_chunks is not None and counts[1] != args.expect_chunks):
                st.bad += 1
                st.error(f"stream had {counts[1]} content chunks of {counts[0]} chunks")
                return
            if args.expect_reply is not None and counts[2] != len(args.expect_reply):
                st.bad += 1
                st.error(f"stream content had {counts[2]} chars, expected {len(args.expect_reply)}")
                return
        st.ok += 1
        st.latencies.append(dt)
    except Exception as exc:  # counted, never hidden: a failing client must not look fast
        st.errors += 1
        st.error(f"{type(exc).__name__}: {exc}")


async def _drive(adapter: Any, args: argparse.Namespace, n: int, st: _Stats) -> None:
    counter = iter(range(n))

    async def worker() -> None:
        for _ in counter:
            await _one(adapter, args, st)

    workers = [asyncio.ensure_future(worker()) for _ in range(min(args.concurrency, n))]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), timeout=args.deadline)
    except asyncio.TimeoutError:
        st.error(f"deadline of {args.deadline}s exceeded")
        st.errors += 1
        for w in workers:
            w.cancel()


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


async def _main(adapter: Any, args: argparse.Namespace) -> dict[str, Any]:
    await adapter.setup(args.base_url)
    try:
        warm = _Stats()
        warmup = args.concurrency if args.warmup is None else args.warmup
        if warmup:
            await _drive(adapter, args, warmup, warm)
        st = _Stats()
        cpu0, t0 = _cpu(), time.perf_counter()
        await _drive(adapter, args, args.requests, st)
        wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    finally:
        await adapter.close()
    lat = sorted(st.latencies)
    ttfb = sorted(st.ttfb)
    done = st.ok + st.bad
    return {
        "wall_s": wall,
        "requests": args.requests,
        "ok": st.ok,
        "bad": st.bad,
        "errors": st.errors,
        "warmup_ok": warm.ok if warmup else 0,
        "warmup_failed": (warm.errors + warm.bad) if warmup else 0,
        "first_error": st.first_error or warm.first_error,
        "cpu_s": cpu,
        "cpu_us_per_req": cpu / done * 1e6 if done else None,
        "cpu_us_per_chunk": cpu / st.chunks * 1e6 if st.chunks else None,
        "rps": done / wall if wall else None,
        "p50_ms": (_pct(lat, 0.50) or 0) * 1e3 if lat else None,
        "p99_ms": (_pct(lat, 0.99) or 0) * 1e3 if lat else None,
        "ttfb_p50_ms": (_pct(ttfb, 0.50) or 0) * 1e3 if ttfb else None,
        "chunks": st.chunks,
        "content_chunks": st.content_chunks,
        "content_chars": st.content_chars,
        "content_chunks_per_stream": sorted(st.per_stream_content_chunks)[:5],
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def run(adapter: Any, info: Callable[[], dict[str, Any]] | None = None) -> None:
    args = _parse()
    result = asyncio.run(_main(adapter, args))
    result["mode"] = args.mode
    result["concurrency"] = args.concurrency
    if info is not None:
        result["info"] = info()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
