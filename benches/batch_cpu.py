"""Client CPU per request of chat_batch / chat_batch_sync against the mock provider in another process.

Usage (with a release build installed in the running interpreter):
    python benches/batch_cpu.py --requests 10000                 # no limits
    python benches/batch_cpu.py --requests 1000 --rpm 12000      # paced: also prints utilisation
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import time

import liter_llm


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rpm", type=int, default=None)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--port", type=int, default=8733)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-m", "liter_llm.testing", "serve", "--port", str(args.port), "--no-record"]
        + ["--latency-ms", str(args.latency_ms)],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        limits = {"max_requests_per_minute": args.rpm, "max_concurrency": 256} if args.rpm else {}
        client = liter_llm.LlmClient(api_key="k", base_url=f"http://127.0.0.1:{args.port}/v1", **limits)
        requests = [
            {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"prompt {i}"}], "max_tokens": 32}
            for i in range(args.requests)
        ]
        client.chat_batch_sync(requests[:200])  # warm up connections
        for mode in ("sync", "async"):
            before, started = cpu_seconds(), time.perf_counter()
            if mode == "sync":
                results = client.chat_batch_sync(requests)
            else:
                results = asyncio.run(client.chat_batch(requests))
            wall, cpu = time.perf_counter() - started, cpu_seconds() - before
            ok = sum(isinstance(r, liter_llm.ChatCompletionResponse) for r in results)
            line = f"chat_batch{'_sync' if mode == 'sync' else ''}: {ok}/{len(requests)} ok, wall {wall:.2f}s, "
            line += f"client CPU {cpu / len(requests) * 1e6:.1f} us/request"
            if args.rpm:
                ideal = (len(requests) - 1) * 60 / args.rpm
                line += f", wall/ideal {wall / ideal:.3f}"
            print(line)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
