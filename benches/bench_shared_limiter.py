"""Added latency and CPU per grant of the Redis-shared rate limiter against the in-process one
(issue 16: <= 300 µs median added latency, one round trip per grant).

    python3 benches/bench_shared_limiter.py [--requests 1000] [--repeats 3]

One process, one connection at a time: `client.chat` against the built-in mock provider (its own
thread, no latency), `--requests` sequential calls per mode and repeat, modes interleaved in each
repeat: `none` (no limiter), `local` (in-process RateLimiter) and `redis` (the same limits with
`backend=` a redis-server started here on 127.0.0.1, persistence off). Limits are far above what is
sent (rpm, tpm and max_concurrency all set, so a grant covers requests, tokens and a concurrency
lease, and every call settles its tokens and gives the lease back). Reports per mode the median and
p99 call latency, the latency added over `none`, and CPU per call of this process and of
redis-server (`/proc`). Run from a built venv (`make build` or `maturin develop --release`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from liter_llm import LlmClient, RateLimiter  # noqa: E402
from liter_llm.testing import MockServer  # noqa: E402
from redis_support import RedisServer  # noqa: E402

LIMITS = {
    "max_requests_per_minute": 1_000_000_000,
    "max_tokens_per_minute": 1_000_000_000_000,
    "max_concurrency": 10_000,
}
MESSAGES = [{"role": "user", "content": "hello shared limits"}]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(client: LlmClient, n: int, redis_pid: int) -> dict[str, float]:
    """`n` sequential chats: latency percentiles (µs) and CPU per call (µs) of us and of Redis."""
    for _ in range(50):
        await client.chat(model="gpt-4o-mini", messages=MESSAGES)
    times = []
    cpu0, redis0 = time.process_time(), cpu_seconds(redis_pid)
    for _ in range(n):
        t0 = time.perf_counter()
        await client.chat(model="gpt-4o-mini", messages=MESSAGES)
        times.append((time.perf_counter() - t0) * 1e6)
    cpu1, redis1 = time.process_time(), cpu_seconds(redis_pid)
    times.sort()
    return {
        "p50": statistics.median(times),
        "p99": times[int(len(times) * 0.99) - 1],
        "cpu": (cpu1 - cpu0) / n * 1e6,
        "redis_cpu": (redis1 - redis0) / n * 1e6,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with RedisServer() as redis, MockServer() as mock:
        redis_pid = redis.pid
        assert redis_pid is not None
        clients = {
            "none": LlmClient(api_key="sk-bench", base_url=mock.base_url, max_retries=0),
            "local": LlmClient(
                api_key="sk-bench", base_url=mock.base_url, max_retries=0, rate_limiter=RateLimiter(**LIMITS)
            ),
            "redis": LlmClient(
                api_key="sk-bench",
                base_url=mock.base_url,
                max_retries=0,
                rate_limiter=RateLimiter(**LIMITS, backend=redis.url, name="bench"),
            ),
        }
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
        order = list(clients)
        for repeat in range(args.repeats):
            for name in order[repeat % 3 :] + order[: repeat % 3]:
                runs[name].append(await run(clients[name], args.requests, redis_pid))
            print(
                f"repeat {repeat + 1}: " + "  ".join(f"{name} p50 {runs[name][-1]['p50']:.0f} µs" for name in clients),
                flush=True,
            )
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    print()
    print("| mode | p50 µs | p99 µs | added p50 µs | CPU µs/call (this process) | CPU µs/call (redis-server) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, m in med.items():
        added = m["p50"] - med["none"]["p50"]
        print(
            f"| {name} | {m['p50']:.0f} | {m['p99']:.0f} | {added:+.0f} | {m['cpu']:.1f} | "
            f"{m['redis_cpu'] if name == 'redis' else 0:.1f} |"
        )


if __name__ == "__main__":
    asyncio.run(main())
