"""Paced client CPU per request: ours against the floors of raw tokio and bare reqwest, in one run.

    cargo build --release --manifest-path benches/http_floor/Cargo.toml
    python benches/paced_floor.py --requests 3000 --repeats 3

The mock provider runs in its own process with 50 ms latency. For each pacing slot, three clients
send the same requests at ``--rate`` per second over ``--concurrency`` connections, released a
slot's worth at a time: ours (``chat_batch_sync`` under ``RateLimiter(max_requests_per_minute=
rate * 60, pacing_granularity_seconds=slot)``), and the three floors of ``benches/http_floor``
(hand-written HTTP/1.1 on tokio, hyper's HTTP/1.1 connections, and a bare ``reqwest::Client``),
which only send and read bytes.
Runs are interleaved and the median of ``--repeats`` is printed with ours / floor ratios.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLOOR = HERE / "http_floor" / "target" / "release" / "http-floor"

OURS = """
import resource, sys, liter_llm
port, n, rate, slot, conc = sys.argv[1:6]
n, rate, slot, conc = int(n), float(rate), float(slot), int(conc)
limiter = liter_llm.RateLimiter(
    max_requests_per_minute=int(rate * 60), max_concurrency=conc, pacing_granularity_seconds=slot
)
client = liter_llm.LlmClient(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", rate_limiter=limiter)
requests = [
    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"prompt {i}"}], "max_tokens": 32}
    for i in range(n)
]
client.chat_batch_sync(requests[:conc], max_concurrency=conc)  # open the connections (paced too)
def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime
before = cpu()
results = client.chat_batch_sync(requests, max_concurrency=conc)
assert all(isinstance(r, liter_llm.ChatCompletionResponse) for r in results)
print((cpu() - before) / n * 1e6)
"""


def ours(port: int, n: int, rate: float, slot: float, conc: int) -> float:
    out = subprocess.run(
        [sys.executable, "-c", OURS, str(port), str(n), str(rate), str(slot), str(conc)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def floor(kind: str, port: int, n: int, rate: float, slot: float, conc: int) -> float:
    out = subprocess.run(
        [str(FLOOR), str(port), str(n), str(rate), str(slot), str(conc), kind],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.split("CPU ")[1].split(" us")[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=150.0, help="requests per second (9,000 RPM)")
    parser.add_argument("--slots", default="0.05,0.2,1.0", help="pacing slots in seconds")
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--port", type=int, default=8762)
    args = parser.parse_args()
    if not FLOOR.exists():
        sys.exit(f"build the floor first: cargo build --release --manifest-path {HERE / 'http_floor' / 'Cargo.toml'}")
    server = subprocess.Popen(
        [sys.executable, "-m", "liter_llm.testing", "serve", "--port", str(args.port), "--no-record"]
        + ["--latency-ms", "50"],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        server.stdout.readline()
        print(f"{args.requests} requests at {args.rate:g}/s, concurrency {args.concurrency}, mock latency 50 ms")
        print("| slot | ours µs/req | raw tokio | hyper conn | bare reqwest | ours/raw | ours/reqwest |")
        print("|---|---|---|---|---|---|---|")
        for slot in (float(s) for s in args.slots.split(",")):
            runs: dict[str, list[float]] = {"ours": [], "raw": [], "hyper": [], "reqwest": []}
            common = (args.port, args.requests, args.rate, slot, args.concurrency)
            for _ in range(args.repeats):
                runs["ours"].append(ours(*common))
                runs["raw"].append(floor("raw", *common))
                runs["hyper"].append(floor("hyper", *common))
                runs["reqwest"].append(floor("reqwest", *common))
            med = {k: statistics.median(v) for k, v in runs.items()}
            print(
                f"| {slot:g} s | {med['ours']:.1f} | {med['raw']:.1f} | {med['hyper']:.1f} | {med['reqwest']:.1f} | "
                f"{med['ours'] / med['raw']:.2f} | {med['ours'] / med['reqwest']:.2f} |",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
