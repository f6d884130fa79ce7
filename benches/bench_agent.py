"""Agent loop orchestration (issue 17): what ``run_agent_loop`` adds per round beyond the model call and the tool,
and the memory of 10,000 loops at once.

    make build && .venv/bin/python benches/bench_agent.py

Against the built-in mock in its own process (latency 0; a model that calls the tool its prompt or the last tool
result names), one loop at a time: each round is one ``chat`` call carrying the growing conversation and one tool call
of an instant async tool whose result asks for the same tool again, until ``max_rounds``. The baseline sends the same
``chat`` calls, with the same conversations, without the loop, one baseline sequence after each loop (the machine's
drift hits both alike); the difference in this process's CPU per round is the loop's orchestration (reading the
response, tool lookup, argument parsing and checking, running the tool, the transcript, the summed usage). Then 10,000
loops of 3 rounds run at once through ``run_agent_loops`` (no concurrency limit) and the peak RSS of this process is
read. Medians of the repeats are printed.
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


def conversations_of(rounds: int) -> list[list[dict]]:
    """The conversation each round of a loop sends (what the loop builds), for the baseline."""
    conversations = []
    messages = [{"role": "user", "content": "call:again"}]
    for i in range(rounds):
        conversations.append(list(messages))
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "again", "arguments": "{}"}}
        messages += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "call:again"},
        ]
    return conversations


async def paired_cpu(client: LlmClient, rounds: int, loops: int, tools: list[dict]) -> tuple[float, float]:
    """CPU seconds of ``loops`` agent loops of ``rounds`` rounds, and of the same chat calls without the
    loop, alternating one loop and one baseline sequence so that the machine's drift hits both alike."""
    conversations = conversations_of(rounds)
    with_loop = without = 0.0
    for _ in range(loops):
        started = time.process_time()
        result = await client.run_agent_loop(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "call:again"}], tools=tools, max_rounds=rounds
        )
        with_loop += time.process_time() - started
        assert result.rounds == rounds
        started = time.process_time()
        for conversation in conversations:
            await client.chat(model="gpt-4o-mini", messages=conversation, tools=[t.definition for t in tools])
        without += time.process_time() - started
    return with_loop, without


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
        from liter_llm import Tool

        tools = [Tool.from_function(again)]
        await paired_cpu(client, args.rounds, 5, tools)  # warm up
        per_round = []
        for repeat in range(args.repeats):
            with_loop, without = await paired_cpu(client, args.rounds, args.loops, tools)
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
