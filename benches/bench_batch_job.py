"""Provider batch jobs (issue 17): the client's CPU to submit a 50,000-request OpenAI batch job and to collect its
results, ours (``submit_batch_job`` / ``job.results()``) against the openai SDK's five manual steps.

    make build && .venv/bin/python benches/bench_batch_job.py [--openai-python PATH] [--n 50000] [--repeats 3]

Both run against the built-in mock in its own process (its batches complete a few polls after creation), one
driver process per run, alternating, starting from the same list of request dicts:

* submit: ours checks and encodes every request, writes the JSONL, uploads it and creates the batch; the openai
  driver ``json.dumps`` each Batch API line, uploads the file (``files.create``) and creates the batch.
* collect: ours downloads the output file and turns every line into a typed, priced ``ChatCompletionResponse`` in
  input order (usage recorded); the openai driver downloads it (``files.content``), ``json.loads`` each line and
  validates its body into a ``ChatCompletion``, placed by custom_id.

Each driver reports its own process CPU (user + system, all threads) per phase; polling is excluded. Medians of the
repeats and the ratios are printed. The openai SDK comes from ``--openai-python`` (a venv with ``openai``; default:
the first of .bench-venvs/openai and .bench-venvs/litellm-proxy that exists).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = "gpt-4o-mini"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def requests_of(n: int) -> list[dict]:
    return [
        {"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 16} for i in range(n)
    ]


async def run_ours(base_url: str, n: int) -> dict:
    from liter_llm import ChatCompletionResponse, LlmClient

    client = LlmClient(api_key="sk-bench", base_url=base_url, max_retries=0)
    requests = requests_of(n)
    t0 = cpu()
    job = await client.submit_batch_job(requests)
    t1 = cpu()
    await job.wait(poll_interval=0.001)
    t2 = cpu()
    results = await job.results()
    t3 = cpu()
    ok = sum(isinstance(r, ChatCompletionResponse) for r in results)
    return {"submit": t1 - t0, "collect": t3 - t2, "ok": ok}


async def run_openai(base_url: str, n: int) -> dict:
    from openai import AsyncOpenAI
    from openai.types.chat import ChatCompletion

    client = AsyncOpenAI(api_key="sk-bench", base_url=base_url, max_retries=0)
    requests = requests_of(n)
    t0 = cpu()
    lines = "".join(
        json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n"
        for i, body in enumerate(requests)
    )
    uploaded = await client.files.create(file=("batch.jsonl", lines.encode()), purpose="batch")
    batch = await client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    t1 = cpu()
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        batch = await client.batches.retrieve(batch.id)
        await asyncio.sleep(0.001)
    t2 = cpu()
    content = await client.files.content(batch.output_file_id)
    results: list = [None] * n
    for line in content.text.splitlines():
        doc = json.loads(line)
        results[int(doc["custom_id"][1:])] = ChatCompletion.model_validate(doc["response"]["body"])
    t3 = cpu()
    ok = sum(isinstance(r, ChatCompletion) for r in results)
    return {"submit": t1 - t0, "collect": t3 - t2, "ok": ok}


def drive(python: str, driver: str, base_url: str, n: int) -> dict:
    out = subprocess.run(
        [python, __file__, "--driver", driver, "--base-url", base_url, "--n", str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def default_openai_python() -> str | None:
    for name in ("openai", "litellm-proxy"):
        python = ROOT / ".bench-venvs" / name / "bin" / "python"
        if python.exists():
            return str(python)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--driver", choices=["ours", "openai"])
    parser.add_argument("--base-url")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--openai-python", default=default_openai_python())
    args = parser.parse_args()
    if args.driver:
        run = run_ours if args.driver == "ours" else run_openai
        print(json.dumps(asyncio.run(run(args.base_url, args.n))))
        return
    # Here only: the openai driver's venv has no liter_llm for bench_agent to import.
    sys.path.insert(0, str(ROOT / "benches"))
    from bench_agent import start_mock

    drivers = {"ours": sys.executable}
    if args.openai_python:
        drivers["openai"] = args.openai_python
    proc, base_url = start_mock()
    runs: dict[str, list[dict]] = {name: [] for name in drivers}
    try:
        for _ in range(args.repeats):
            for name, python in drivers.items():
                started = time.monotonic()
                result = drive(python, name, base_url, args.n)
                assert result["ok"] == args.n, result
                result["wall"] = time.monotonic() - started
                runs[name].append(result)
    finally:
        proc.terminate()
        proc.wait()
    print(f"{args.n:,} requests, one OpenAI batch; client CPU, median of {args.repeats} (µs per request)")
    medians = {
        name: {k: statistics.median(r[k] for r in rs) * 1e6 / args.n for k in ("submit", "collect")}
        for name, rs in runs.items()
    }
    for name, m in medians.items():
        line = f"  {name:7} submit {m['submit']:7.2f}   collect {m['collect']:7.2f}"
        if name != "ours":
            ours = medians["ours"]
            line += (
                f"   (ours: {ours['submit'] / m['submit']:.2f}x submit, {ours['collect'] / m['collect']:.2f}x collect)"
            )
        print(line)
    print(f"  python {sys.version.split()[0]}, pid {os.getpid()}")


if __name__ == "__main__":
    main()
