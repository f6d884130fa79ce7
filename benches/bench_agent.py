"""Agent loop orchestration (issue 17): what ``run_agent_loop`` adds per round beyond the model call and the tool,
and the memory of 10,000 loops at once.

    make build && .venv/bin/python benches/bench_agent.py

Against the built-in mock in its own process (latency 0; a model that calls the tool its prompt or the last tool
result names), one loop at a time: each round is one ``chat`` call carrying the growing conversation and one tool call
of an instant async tool whose result asks for the same tool again, until ``max_rounds``. The baseline sends the same
``chat`` calls, with the same conversations, without the loop; the difference in this process's CPU per round is the
loop's orchestration (tool lookup, argument parsing and checking, running the tool, the transcript, the summed usage).
Then 10,000 loops of 3 rounds run at once through ``run_agent_loops`` (no concurrency limit) and the peak RSS of this
process is read. Repeats interleave loop and baseline; medians are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time

from liter_llm import LlmClient

TARGET_US_PER_ROUND = 100.0
TARGET_RSS_MB = 1024.0


async def again() -> str:
    """Asks to be called again."""
    return "call:again"


def start_mock() -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "liter_llm.testing", "serve", "--port", "0", "--no-record"],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    return proc, line.rsplit(" ", 1)[-1].strip()


async def loop_cpu(client: LlmClient, rounds: int, loops: int) -> float:
    """CPU seconds of ``loops`` agent loops of ``rounds`` rounds, one after the other."""
    started = time.process_time()
    for _ in range(loops):
        result = await client.run_agent_loop(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "call:again"}], tools=[again], max_rounds=rounds
        )
        assert result.rounds == rounds
    return time.process_time() - started


async def direct_cpu(client: LlmClient, rounds: int, loops: int, tools: list[dict]) -> float:
    """CPU seconds of the same chat calls (same growing conversations), without the loop."""
    conversations = []
    messages = [{"role": "user", "content": "call:again"}]
    for i in range(rounds):
        conversations.append(list(messages))
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "again", "arguments": "{}"}}
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "call:again"},
        ]
    started = time.process_time()
    for _ in range(loops):
        for conversation in conversations:
            await client.chat(model="gpt-4o-mini", messages=conversation, tools=tools)
    return time.process_time() - started


async def many(client: LlmClient, count: int) -> float:
    loops = [{"messages": [{"role": "user", "content": "call:again"}]} for _ in range(count)]
    started = time.perf_counter()
    results = await client.run_agent_loops(loops, model="gpt-4o-mini", tools=[again], max_rounds=3)
    elapsed = time.perf_counter() - started
    failed = [r for r in results if isinstance(r, BaseException)]
    assert not failed, failed[:3]
    return elapsed


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--loops", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--concurrent", type=int, default=10_000)
    args = ap.parse_args()
    proc, base_url = start_mock()
    try:
        client = LlmClient(api_key="sk-bench", base_url=base_url, max_retries=0)
        from liter_llm import function_tool

        tools = [function_tool(again)]
        await loop_cpu(client, args.rounds, 5)  # warm up
        per_round = []
        for repeat in range(args.repeats):
            with_loop = await loop_cpu(client, args.rounds, args.loops)
            without = await direct_cpu(client, args.rounds, args.loops, tools)
            us = (with_loop - without) / (args.rounds * args.loops) * 1e6
            per_round.append(us)
            print(
                f"repeat {repeat + 1}: loop {with_loop / (args.rounds * args.loops) * 1e6:.1f} us/round, "
                f"chat alone {without / (args.rounds * args.loops) * 1e6:.1f} us/round, orchestration {us:.1f} us",
                flush=True,
            )
        elapsed = await many(client, args.concurrent)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        summary = {
            "orchestration_us_per_round": round(statistics.median(per_round), 1),
            "target_us_per_round": TARGET_US_PER_ROUND,
            "concurrent_loops": args.concurrent,
            "concurrent_seconds": round(elapsed, 2),
            "peak_rss_mb": round(rss_mb, 1),
            "target_rss_mb": TARGET_RSS_MB,
        }
        print(json.dumps(summary))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    asyncio.run(main())
