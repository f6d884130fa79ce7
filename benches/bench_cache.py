"""What the response cache costs and saves: the time of a cache hit as seen from Python per
backend, and the client CPU a miss adds to a normal call.

    python benches/bench_cache.py            # full run, about a minute
    python benches/bench_cache.py --quick    # smoke run, a few seconds

Run it with a python whose ``liter_llm`` is a release build (``maturin develop --release``).
Needs ``redis-server`` (``make install``). Not part of CI.

**Hit time.** One request is sent once (a miss that fills the cache), then the same request is
awaited ``N`` times in sequence; each hit is timed with ``perf_counter_ns`` around ``await
client.chat(...)``: the whole call as an asyncio caller sees it (argument checks, key, lookup,
the answer as a typed object, the event-loop wake-up). Backends: ``memory``; ``sqlite`` (a file
in a temporary directory); ``redis`` (a ``redis-server`` this script starts on a free
127.0.0.1 port, persistence off). Beside them, in the same run: the floor of a shared
backend's hit, an awaited no-op task in the Rust runtime (``await Cache("memory").clear()``:
spawned from the event loop, run on a tokio worker, handed back), ``asyncio.sleep(0)`` and a
plain call to the mock (no cache). A memory hit is answered inside ``chat()`` without a task.
Targets (median): memory <= 15 us, SQLite <= 100 us, Redis <= 300 us.

**Miss cost.** Client CPU (``time.process_time()``, every thread) per ``chat()`` call from
``--concurrency`` workers against a mock provider in its own process, every prompt new: a client
without a cache vs one with a memory cache (lookup, in-flight entry, store of every answer).
Cases alternate in short rounds; reported are medians and the median of paired differences.
Target: a miss adds <= 5 us.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from redis_support import RedisServer  # noqa: E402

from server import start_target  # noqa: E402

MODEL = "gpt-4o-mini"
REPLY = "Hello from the cache benchmark."
MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
LOG_DIR = HERE / "results" / "logs"


def med(values: list[float]) -> float:
    return statistics.median(values)


async def hit_times(client: Any, n: int) -> list[float]:
    """Microseconds per cache hit, ``n`` sequential hits of one cached request."""
    await client.chat(model=MODEL, messages=MESSAGES)  # the first call of a round may fill the cache
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        r = await client.chat(model=MODEL, messages=MESSAGES)
        out.append((clock() - start) / 1e3)
        assert r.cache_hit
    return out


async def plain_times(client: Any, n: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        await client.chat(model=MODEL, messages=MESSAGES)
        out.append((clock() - start) / 1e3)
    return out


async def floor_times(cache: Any, n: int) -> list[float]:
    """Microseconds per awaited no-op through the Rust runtime: ``clear()`` of an empty memory
    cache (a task spawned, run, and its result handed back to the event loop)."""
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        await cache.clear()
        out.append((clock() - start) / 1e3)
    return out


async def sleep0_times(n: int) -> list[float]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        start = clock()
        await asyncio.sleep(0)
        out.append((clock() - start) / 1e3)
    return out


async def miss_cpu(client: Any, prompts: Any, n: int, concurrency: int) -> float:
    """Client CPU microseconds per call for ``n`` calls with fresh prompts."""
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.chat(model=MODEL, messages=[{"role": "user", "content": next(prompts)}])

    start = time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return (time.process_time() - start) / n * 1e6


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from liter_llm import Cache, LlmClient

    result: dict[str, Any] = {"hits": {}, "miss": {}}
    with (
        start_target(
            "mock", python=sys.executable, latency_ms=0, stream_chunks=1, reply=REPLY, log_dir=LOG_DIR
        ) as target,
        RedisServer() as redis,
        tempfile.TemporaryDirectory() as tmp,
    ):

        def client(cache: Any) -> Any:
            return LlmClient(api_key="sk-bench", base_url=target.base_url, max_retries=0, cache=cache)

        backends = {
            "memory": client("memory"),
            "sqlite": client(Cache(f"sqlite://{tmp}/bench.db")),
            "redis": client(redis.url),
        }
        plain = client(None)
        await plain_times(plain, 200)  # warm-up: connections
        for c in backends.values():
            await hit_times(c, 200)
        floor = "floor: an awaited no-op task in the Rust runtime"
        rounds = {name: [] for name in backends} | {
            "no cache (HTTP to the mock)": [],
            floor: [],
            "asyncio.sleep(0)": [],
        }
        empty = Cache("memory")
        for r in range(args.repeats):
            order = list(backends) if r % 2 == 0 else list(backends)[::-1]
            for name in order:
                rounds[name].append(med(await hit_times(backends[name], args.n)))
            rounds["no cache (HTTP to the mock)"].append(med(await plain_times(plain, args.n)))
            rounds[floor].append(med(await floor_times(empty, args.n)))
            rounds["asyncio.sleep(0)"].append(med(await sleep0_times(args.n)))
        result["hits"] = rounds
        result["errors"] = {name: c.cache.stats()["errors"] for name, c in backends.items()}

        counter = itertools.count()
        prompts = (f"fresh prompt {i}" for i in counter)
        uncached, cached = client(None), client("memory")
        await miss_cpu(uncached, prompts, args.miss_n // 5, args.concurrency)
        await miss_cpu(cached, prompts, args.miss_n // 5, args.concurrency)
        miss: dict[str, list[float]] = {"no cache": [], "memory cache, every call a miss": []}
        for r in range(args.repeats):
            pair = [("no cache", uncached), ("memory cache, every call a miss", cached)]
            for name, c in pair if r % 2 == 0 else pair[::-1]:
                miss[name].append(await miss_cpu(c, prompts, args.miss_n, args.concurrency))
        result["miss"] = miss
        assert cached.cache.stats()["hits"] == 0
    return result


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"# Response cache ({platform.python_version()}, {args.repeats} rounds of {args.n} hits; "
        f"misses: {args.miss_n} calls x {args.repeats}, concurrency {args.concurrency})",
        "",
        "| Hit, seen from Python | median of round medians (us) | spread (min-max) |",
        "|---|---:|---:|",
    ]
    for name, values in result["hits"].items():
        lines.append(f"| {name} | {med(values):.1f} | {min(values):.1f}-{max(values):.1f} |")
    lines += ["", f"Backend errors during the run: {result['errors']}", ""]
    lines += ["| Miss: client CPU per call | median (us) |", "|---|---:|"]
    miss = result["miss"]
    for name, values in miss.items():
        lines.append(f"| {name} | {med(values):.1f} |")
    names = list(miss)
    diffs = [b - a for a, b in zip(miss[names[0]], miss[names[1]])]
    lines.append(f"| difference (median of paired rounds) | {med(diffs):+.1f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--n", type=int, default=2000, help="hits per round")
    parser.add_argument("--repeats", type=int, default=9, help="rounds")
    parser.add_argument("--miss-n", type=int, default=4000, help="calls per miss round")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", default=None, metavar="FILE", help="also write the raw figures")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats, args.miss_n = 200, 3, 400
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(run(args))
    print(report(result, args))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
