"""What routing costs: client CPU per request through a 3-deployment group vs a plain model, and the
extra latency of a request that fails over from a deployment answering 500.

    python benches/bench_routing.py            # full run, about a minute
    python benches/bench_routing.py --quick    # smoke run, a few seconds

Run it with a python whose ``liter_llm`` is the build to measure (e.g. ``.venv/bin/python``); a
release build (``maturin develop --release``) gives the figures that matter. Not part of CI.

**CPU per request.** Three mock providers (``python -m liter_llm.testing serve``) run in their own
processes, so only the client's CPU is counted: ``time.process_time()`` of this process (every
thread, the Rust runtime's included) over N requests, divided by N. One client serves every
case: ``model="gpt-4o-mini"`` goes straight to its ``base_url`` (plain); ``model="one-host"`` is
routed over three deployments on that same mock (what routing itself costs: the target);
``model="single"`` is a group of one deployment there; ``model="smart"`` is routed over three
deployments on three mocks, compared with plain requests spread over three clients, one per mock
(what spreading over three hosts costs, with and without the router). The cases alternate in
many short rounds (forward, then backward); reported are the medians over the rounds and the
median and mean (with its standard error) of the paired differences. Two workloads: ``chat()``
from ``--concurrency`` asyncio workers, and ``chat_batch`` of N requests (one batch per client
for the control; scheduled in Rust, so less Python noise around the difference). Target: routing
adds <= 5 us.

**Failover latency.** Deployment 1 (``order: 1``) is a mock process answering every request with
an immediate 500 (it keeps a queue of faults topped up); deployment 2 (``order: 2``) answers
normally. ``cooldown_time`` is 0, so deployment 1 is never out and every routed request
fails on it first. Sequential requests, interleaved: (a) a group whose only deployment is
deployment 2, (b) the failover group, plus a plain request to deployment 2 and a bare 500 from
deployment 1 for reference. Reported: medians, and (b) - (a), which should be the 500's round trip
plus bookkeeping: target <= 1 ms (no backoff sleep between deployments).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from server import Target, free_port, spawn_target, start_target  # noqa: E402

MODEL = "gpt-4o-mini"
GROUP = "smart"
REPLY = "Hello from the routing benchmark."
MESSAGES = [{"role": "user", "content": "hi"}]
LOG_DIR = HERE / "results" / "logs"
FAULT_REFILL = 50_000


# --------------------------------------------------------------------------------------------------
# Load targets


def start_failing(python: str) -> Target:
    """A mock provider process that answers every request with an immediate 500."""
    port = free_port()
    cmd = [python, str(Path(__file__).resolve()), "--serve-failing", "--port", str(port)]
    return spawn_target(cmd, LOG_DIR / f"server-failing-{port}.log")


def serve_failing(port: int) -> None:
    """Run in the child: a MockServer whose fault queue never runs dry (every answer a 500)."""
    import signal

    from liter_llm.testing import MockServer

    stop = False

    def on_term(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    with MockServer(port=port, record=False) as server:
        server.push_faults([{"status": 500}] * (2 * FAULT_REFILL))
        print(f"liter_llm mock server listening on {server.base_url}", flush=True)
        while not stop:
            if server.pending_faults < FAULT_REFILL:
                server.push_faults([{"status": 500}] * FAULT_REFILL)
            time.sleep(0.02)


def start_mock(python: str) -> Target:
    return start_target("mock", python=python, latency_ms=0, stream_chunks=1, reply=REPLY, log_dir=LOG_DIR)


def deployment(group: str, base_url: str, **params: Any) -> dict[str, Any]:
    return {
        "model_name": group,
        "litellm_params": {"model": f"openai/{MODEL}", "api_key": "k", "api_base": base_url, **params},
    }


# --------------------------------------------------------------------------------------------------
# CPU per request


Dest = tuple[Any, str]  # (client, model): where one request goes


async def cpu_chat(targets: list[Dest], n: int, concurrency: int) -> float:
    """Client CPU seconds for ``n`` chat() calls from ``concurrency`` workers (worker k uses
    ``targets[k % len(targets)]``)."""
    left = n

    async def worker(client: Any, model: str) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.chat(model=model, messages=MESSAGES)

    start = time.process_time()
    await asyncio.gather(*(worker(*targets[k % len(targets)]) for k in range(concurrency)))
    return time.process_time() - start


async def cpu_batch(targets: list[Dest], n: int, concurrency: int) -> float:
    """Client CPU seconds for ``n`` requests in one chat_batch per target, run together."""
    share = n // len(targets)

    async def one(client: Any, model: str) -> None:
        requests = [{"model": model, "messages": MESSAGES}] * share
        results = await client.chat_batch(
            requests, max_concurrency=max(1, concurrency // len(targets)), return_exceptions=False
        )
        assert len(results) == share

    start = time.process_time()
    await asyncio.gather(*(one(*t) for t in targets))
    return time.process_time() - start


async def measure_cpu(
    cases: dict[str, list[Dest]], n: int, repeats: int, concurrency: int
) -> dict[str, dict[str, list[float]]]:
    """Microseconds of client CPU per request, per workload and case, one value per repeat."""
    workloads = {"chat()": cpu_chat, "chat_batch": cpu_batch}
    out: dict[str, dict[str, list[float]]] = {w: {c: [] for c in cases} for w in workloads}
    for fn in workloads.values():  # warm-up: connections, caches, latency stats
        for targets in cases.values():
            await fn(targets, max(concurrency, n // 10), concurrency)
    names = list(cases)
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]
        for name, fn in workloads.items():
            for case in order:
                seconds = await fn(cases[case], n, concurrency)
                out[name][case].append(seconds / n * 1e6)
    return out


# --------------------------------------------------------------------------------------------------
# Failover latency


async def measure_failover(client: Any, bare_failing: Any, n: int) -> dict[str, list[float]]:
    """Wall milliseconds per request, sequential, the cases interleaved request by request."""
    from liter_llm import ServerError

    async def plain() -> None:
        await client.chat(model=MODEL, messages=MESSAGES)

    async def direct() -> None:
        await client.chat(model="direct", messages=MESSAGES)

    async def failover() -> None:
        r = await client.chat(model="failover", messages=MESSAGES)
        assert r.deployment == "second", r.deployment

    async def bare_500() -> None:
        try:
            await bare_failing.chat(model=MODEL, messages=MESSAGES)
        except ServerError:
            return
        raise AssertionError("the failing deployment answered")

    cases = {"plain to deployment 2": plain, "(a) group of deployment 2": direct, "(b) failover 1 -> 2": failover}
    cases["a bare 500 from deployment 1"] = bare_500
    out: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(20):  # warm-up
        for fn in cases.values():
            await fn()
    names = list(cases)
    for i in range(n):
        rotated = names[i % len(names) :] + names[: i % len(names)]
        for name in rotated:
            start = time.perf_counter()
            await cases[name]()
            out[name].append((time.perf_counter() - start) * 1e3)
    return out


# --------------------------------------------------------------------------------------------------
# Main


def med(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    if len(values) < 2:
        return "-"
    return f"{min(values):.1f}-{max(values):.1f}"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from liter_llm import LlmClient

    python = args.server_python or sys.executable
    mocks = [start_mock(python) for _ in range(3)]
    failing = start_failing(python)
    try:
        model_list = [deployment(GROUP, m.base_url) for m in mocks]
        model_list += [
            {**deployment("failover", failing.base_url, order=1), "model_info": {"id": "first"}},
            {**deployment("failover", mocks[1].base_url, order=2), "model_info": {"id": "second"}},
            {**deployment("direct", mocks[1].base_url), "model_info": {"id": "direct"}},
            deployment("single", mocks[0].base_url),
        ]
        model_list += [
            {**deployment("one-host", mocks[0].base_url), "model_info": {"id": f"one-host-{i}"}} for i in range(3)
        ]
        router_settings = {
            "routing_strategy": args.strategy,
            "allowed_fails": 1000,
            "cooldown_time": 0,
            "num_retries": 1,
        }
        client = LlmClient(
            api_key="k",
            base_url=mocks[0].base_url,
            max_retries=0,
            model_list=model_list,
            router_settings=router_settings,
        )
        bare_failing = LlmClient(api_key="k", base_url=failing.base_url, max_retries=0)
        per_host = [LlmClient(api_key="k", base_url=m.base_url, max_retries=0) for m in mocks]
        cases: dict[str, list[Dest]] = {
            "plain": [(client, MODEL)],
            "group, one host": [(client, "one-host")],
            "group of 1": [(client, "single")],
            "group": [(client, GROUP)],
            "plain x3 hosts": [(c, MODEL) for c in per_host],
        }
        cpu = await measure_cpu(cases, args.requests, args.repeats, args.concurrency)
        latency = await measure_failover(client, bare_failing, args.failover_requests)
    finally:
        for t in [*mocks, failing]:
            t.stop()
    return {"cpu_us_per_request": cpu, "failover_ms": latency}


def paired(base: list[float], values: list[float]) -> str:
    """The median of the paired differences, and their mean with its standard error."""
    diffs = [v - b for b, v in zip(base, values)]
    if len(diffs) < 2:
        return f"{med(diffs):+.1f}"
    se = statistics.stdev(diffs) / len(diffs) ** 0.5
    return f"{med(diffs):+.1f} (mean {statistics.mean(diffs):+.1f} +- {se:.1f})"


def report(result: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        f"routing benchmark: {args.requests} requests x {args.repeats} rounds, concurrency {args.concurrency}, "
        f"strategy {args.strategy}; failover: {args.failover_requests} sequential requests per case",
        "",
        "| client CPU per request (us) | plain model | 3-deployment group, one host | routing adds |"
        " group of 1 | adds |",
        "|---|---|---|---|---|---|",
    ]
    cpu = result["cpu_us_per_request"]
    for workload, cases in cpu.items():
        plain = cases["plain"]
        row = [workload, f"{med(plain):.1f}"]
        for case in ("group, one host", "group of 1"):
            row += [f"{med(cases[case]):.1f}", paired(plain, cases[case])]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "| spread over three hosts (us) | plain, one client per host | 3-deployment group, 3 hosts | adds |",
        "|---|---|---|---|",
    ]
    for workload, cases in cpu.items():
        base, group = cases["plain x3 hosts"], cases["group"]
        lines.append(f"| {workload} | {med(base):.1f} | {med(group):.1f} | {paired(base, group)} |")
    lines.append(
        "(medians over the rounds; 'adds': median of the paired differences, then their mean +- standard error; "
        "target: routing adds <= 5 us)"
    )
    lat = result["failover_ms"]
    lines += ["", "| sequential request | median wall ms | p90 ms |", "|---|---|---|"]
    for name, values in lat.items():
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        lines.append(f"| {name} | {med(values):.3f} | {p90:.3f} |")
    extra = med(lat["(b) failover 1 -> 2"]) - med(lat["(a) group of deployment 2"])
    lines.append("")
    lines.append(
        f"failover adds {extra:.3f} ms over (a) (target <= 1 ms); a bare 500 round trip is "
        f"{med(lat['a bare 500 from deployment 1']):.3f} ms"
    )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: few requests and repeats")
    ap.add_argument("--requests", type=int, default=None, help="requests per CPU measurement (default 1500)")
    ap.add_argument("--repeats", type=int, default=None, help="rounds of each CPU measurement (default 24)")
    ap.add_argument("--concurrency", type=int, default=64, help="workers / batch concurrency (default 64)")
    ap.add_argument("--failover-requests", type=int, default=None, help="sequential requests per case (default 500)")
    ap.add_argument("--strategy", default="simple-shuffle", help="routing_strategy of the groups")
    ap.add_argument("--server-python", default=None, help="python that runs the mock providers (default: this one)")
    ap.add_argument("--json", default=None, help="also write the raw figures to this file")
    ap.add_argument("--serve-failing", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_failing:
        serve_failing(args.port)
        return 0
    args.requests = args.requests or (300 if args.quick else 1500)
    args.repeats = args.repeats or (2 if args.quick else 24)
    args.failover_requests = args.failover_requests or (50 if args.quick else 500)

    result = asyncio.run(run(args))
    text = report(result, args)
    print(text)
    if args.json:
        import liter_llm

        meta = {"python": platform.python_version(), "liter_llm": getattr(liter_llm, "__version__", None)}
        meta["cpus"] = os.cpu_count()
        Path(args.json).write_text(json.dumps({"args": vars(args), "meta": meta, **result, "table": text}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
