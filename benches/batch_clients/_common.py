"""Shared harness for the issue-3 batch drivers (stdlib only: it runs inside every peer venv).

A driver module defines

* ``warmup(base_url, n)``: a few requests WITHOUT rate limits (imports, lazy initialisation, connection setup);
  may be sync or async;
* ``run(base_url, requests, rpm, tpm, concurrency)``: the measured batch under the limits, sync or async,
  returning one entry per request, in order: the reply text (str), ``None`` (the client dropped it) or an
  exception object / error string wrapped in ``Failed``;

and calls ``main(sys.modules[__name__])``.

Protocol with the orchestrator (bench_batch.py): the driver warms up, prints ``READY`` on stdout, waits for a
line ``GO`` on stdin (the orchestrator discards the server's log of the warm-up meanwhile), runs the batch and
prints one JSON line with the measurements. ``rpm``/``tpm`` of 0 mean "no limit".

CPU is ``getrusage(RUSAGE_SELF)`` user+sys (every thread of the process) around ``run`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import resource
import sys
import threading
import time
from typing import Any

MODEL = "gpt-4o-mini"
MAX_TOKENS = 32


class Failed:
    """A request that ended with an error (the error kept as text)."""

    def __init__(self, err: Any) -> None:
        self.err = err if isinstance(err, str) else f"{type(err).__name__}: {err}"


def prompt_of(i: int) -> str:
    # Unique per request, ~70 chars: prompt 18+4 = 22 tokens, echoed reply 18 tokens (< MAX_TOKENS, not cut).
    return f"Request {i:06d}: reply with one short sentence about item number {i:06d}."


def make_requests(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"model": MODEL, "messages": [{"role": "user", "content": prompt_of(i)}], "max_tokens": MAX_TOKENS}
        for i in range(start, start + n)
    ]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _call(fn: Any, *a: Any) -> Any:
    if inspect.iscoroutinefunction(fn):
        return asyncio.run(fn(*a))
    return fn(*a)


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_mb())
            self.stop.wait(0.2)


def main(mod: Any) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--requests", type=int, required=True)
    ap.add_argument("--rpm", type=int, default=0)
    ap.add_argument("--tpm", type=int, default=0)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--warmup", type=int, default=16)
    ap.add_argument("--mode", default="", help="driver-specific variant (ours: async|sync)")
    ap.add_argument("--chunks", type=int, default=1, help="RSS run: split the requests into this many batches")
    ap.add_argument("--no-handshake", action="store_true", help="run without waiting for GO on stdin")
    args = ap.parse_args()
    if hasattr(mod, "configure"):
        mod.configure(args)

    if args.warmup:
        _call(mod.warmup, args.base_url, make_requests(args.warmup, start=900_000_000))
    rss_before = rss_mb()
    if not args.no_handshake:
        print("READY", flush=True)
        line = sys.stdin.readline()
        if line.strip() != "GO":
            sys.exit(f"expected GO, got {line!r}")

    n = args.requests
    per = -(-n // args.chunks)
    rss_after_chunk: list[float] = []
    counts = {"ok": 0, "bad": 0, "failed": 0, "dropped": 0}
    first_error = None
    sampler = _RssSampler()
    sampler.start()
    t_start = time.time()
    c0 = _cpu()
    w0 = time.perf_counter()
    done = 0
    while done < n:
        k = min(per, n - done)
        reqs = make_requests(k, start=done)
        results = _call(mod.run, args.base_url, reqs, args.rpm, args.tpm, args.concurrency)
        if len(results) != k:
            sys.exit(f"driver returned {len(results)} results for {k} requests")
        for j, r in enumerate(results):
            if isinstance(r, str):
                if r == prompt_of(done + j):
                    counts["ok"] += 1
                else:
                    counts["bad"] += 1
                    first_error = first_error or f"unexpected content {r[:80]!r}"
            elif r is None:
                counts["dropped"] += 1
                first_error = first_error or "None result (dropped by the client)"
            else:
                counts["failed"] += 1
                first_error = first_error or (r.err if isinstance(r, Failed) else repr(r))[:300]
        del results, reqs
        done += k
        if args.chunks > 1:
            rss_after_chunk.append(round(rss_mb(), 1))
    wall = time.perf_counter() - w0
    cpu = _cpu() - c0
    t_end = time.time()
    sampler.stop.set()
    out = {
        "requests": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_us_per_req": cpu / n * 1e6,
        "t_start": t_start,
        "t_end": t_end,
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_mb(), 1),
        "rss_peak_sampled_mb": round(max(sampler.peak, rss_mb()), 1),
        "maxrss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1),  # KiB -> MB
        "rss_after_chunk_mb": rss_after_chunk,
        "first_error": first_error,
        **counts,
    }
    if hasattr(mod, "extra_info"):
        out["info"] = mod.extra_info()
    print(json.dumps(out), flush=True)
