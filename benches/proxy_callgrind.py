"""Instructions (and, with --cache-sim, simulated cache misses) per request on a proxy's I/O thread (issue 15).

    python3 benches/proxy_callgrind.py VENV ours  /tmp/cg-ours  --conns 64 --cache-sim
    python3 benches/proxy_callgrind.py VENV floor /tmp/cg-floor --conns 64 --cache-sim

VENV holds a release wheel of ours (its mock is the upstream; with ``ours``, its ``liter-llm serve`` is measured, with
a virtual key as in ``bench_proxy.py``). The proxy runs under ``valgrind --tool=callgrind --separate-threads=yes``
with instrumentation off until the load is warm, on for the measured window only. Prints the per-request totals of
the thread that ran the most instructions (the I/O thread; the spend flusher and access-log threads are left out,
since their share per request depends on how many requests valgrind lets through per second). Counts do not depend
on the machine's state, unlike CPU time. Needs valgrind and stdlib Python.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy as bp  # noqa: E402

EVENTS = ("Ir", "I1mr", "D1mr", "D1mw", "DLmr", "DLmw", "Bcm", "Bim")


def totals(path: Path) -> dict[str, int]:
    """The PROGRAM TOTALS line of one callgrind output file, by event name."""
    out = subprocess.run(["callgrind_annotate", str(path)], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if "PROGRAM TOTALS" in line:
            names = lines[i - 2].split()
            values = [int(v.replace(",", "")) for v in re.findall(r"([\d,]+) \(", line)]
            return dict(zip(names, values))
    return {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("venv", type=Path)
    ap.add_argument("which", choices=("ours", "floor"))
    ap.add_argument("out", type=Path, help="directory for callgrind's files")
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--cache-sim", action="store_true", help="also simulate caches and branch prediction")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    python = args.venv / "bin" / "python"
    floor_bin, load_bin = bp.build_floor()
    log = bp.scratch("proxy-callgrind-")
    upstream = bp.Proc(
        "upstream", [str(python), "-m", "liter_llm.testing", "serve", "--port", "0", "--no-record"], log, bp.clean_env()
    )
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={args.out}/cg.%p",
        "--instr-atstart=no",
        "--separate-threads=yes",
    ] + (["--cache-sim=yes", "--branch-sim=yes"] if args.cache_sim else [])
    proxy = None
    try:
        upstream.wait_line(60)
        config = log / "proxy.yaml"
        bp.write_config(config, upstream.base_url)
        proxy = bp.start_proxy(
            args.which, floor_bin, python, config, upstream.base_url, log, wrap=valgrind, ready_s=300
        )
        key = bp.virtual_key(proxy)[0]
        one = {"prompt": bp.PROMPT, "expect": bp.PROMPT}
        bp.load(load_bin, proxy.port, key, {}, conns=args.conns, duration=3, warmup=5, **one)
        control = ["callgrind_control", "-i"]
        subprocess.run([*control, "on", str(proxy.proc.pid)], check=True, capture_output=True)
        run = bp.load(load_bin, proxy.port, key, {}, conns=args.conns, duration=args.seconds, warmup=1, **one)
        subprocess.run([*control, "off", str(proxy.proc.pid)], check=True, capture_output=True)
    finally:
        if proxy is not None:
            proxy.stop()
        upstream.stop()
    if run["errors"]:
        sys.exit(f"errors: {run['first_error']}")
    # The warm-up request of each connection ran inside the instrumented window too.
    requests = run["requests"] + args.conns
    files = sorted(args.out.glob(f"cg.{proxy.proc.pid}-*"), key=lambda p: p.stat().st_size)
    if not files:
        sys.exit(f"no callgrind output in {args.out}")
    io = totals(files[-1])
    print(f"{args.which}: {requests} requests; per request on its I/O thread ({files[-1].name}):")
    print("  " + "  ".join(f"{name} {io[name] / requests:,.0f}" for name in EVENTS if name in io))


if __name__ == "__main__":
    main()
