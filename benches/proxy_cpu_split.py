"""Where the proxy's CPU goes (issue 15): user and system CPU and context switches per request of ``liter-llm serve``
and of the floor (benches/proxy_floor), each under the same 64-connection load, alternating, in one run.

    make build && .venv/bin/python benches/proxy_cpu_split.py --repeats 3

Both sit in front of one upstream (our mock in its own process); ours is driven through a virtual key, as in
``bench_proxy.py``. Per request (warm-up included in the count): user and system CPU of the proxy process (from
/proc/PID/stat) and voluntary and involuntary context switches of its threads. Stdlib only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy as bp  # noqa: E402

CONNS = 64
WARMUP = 2


def cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / 100, int(fields[12]) / 100


def switches(pid: int) -> tuple[int, int]:
    """Voluntary and involuntary context switches of a process's threads so far."""
    voluntary = involuntary = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        for line in (task / "status").read_text().splitlines():
            if line.startswith("voluntary_ctxt_switches"):
                voluntary += int(line.split()[1])
            elif line.startswith("nonvoluntary_ctxt_switches"):
                involuntary += int(line.split()[1])
    return voluntary, involuntary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0)
    args = ap.parse_args()
    floor_bin, load_bin = bp.build_floor()
    log = bp.scratch("proxy-split-")
    python = Path(sys.executable)
    upstream = bp.Proc(
        "upstream", [str(python), "-m", "liter_llm.testing", "serve", "--port", "0", "--no-record"], log, bp.clean_env()
    )
    procs = []
    try:
        upstream.wait_line(60)
        config = log / "proxy.yaml"
        bp.write_config(config, upstream.base_url)
        for name in ("floor", "ours"):
            (log / name).mkdir()
            procs.append(bp.start_proxy(name, floor_bin, python, config, upstream.base_url, log / name))
        keys = [bp.MASTER_KEY, bp.virtual_key(procs[1])[0]]
        for repeat in range(args.repeats):
            for proc, key in zip(procs, keys):
                pid = proc.proc.pid
                (u0, s0), (v0, i0) = cpu(pid), switches(pid)
                run = bp.load(
                    load_bin,
                    proc.port,
                    key,
                    {"proxy": pid},
                    conns=CONNS,
                    duration=args.duration,
                    warmup=WARMUP,
                    prompt=bp.PROMPT,
                    expect=bp.PROMPT,
                )
                (u1, s1), (v1, i1) = cpu(pid), switches(pid)
                n = run["requests"] + CONNS * WARMUP
                print(
                    f"repeat {repeat + 1} {proc.name:5} req/s {run['rps']:7.0f}  user {1e6 * (u1 - u0) / n:5.1f} us/req"
                    f"  sys {1e6 * (s1 - s0) / n:5.1f} us/req  switches/req {(v1 - v0) / n:.2f} vol"
                    f" {(i1 - i0) / n:.2f} invol",
                    flush=True,
                )
    finally:
        for proc in procs:
            proc.stop()
        upstream.stop()


if __name__ == "__main__":
    main()
