"""A/B of builds of ``liter-llm serve`` beside the floor, in one run (issue 15's CPU and latency figures).

    python3 benches/proxy_ab.py before=/path/venv-a after=/path/venv-b --repeats 5

Each NAME=VENV is a venv with a release wheel of ours installed. One upstream (the first venv's mock), the floor and
every build start once; each repeat measures them in rotating order: 64 connections for CPU per request and req/s,
then one connection for added p50 (minus the direct p50 measured just before it); with ``--stream``, also CPU per
streamed chunk (4 concurrent streams of 1,000 content chunks, as in ``bench_proxy.py``). Ours runs with a
virtual key, as in ``bench_proxy.py``. Prints one line per repeat and the medians with their ratios to the floor.
Stdlib only; the machine's state moves every figure, so compare builds only within one run.

``--together`` adds, in each repeat, a run where the floor and every build are loaded at the same time (32
connections each, one load generator per proxy): the machine's state, which moves the figures of runs taken one
after another by +-30% here, is then the same for all of them within a repeat. Their CPU per request is higher than
alone (the proxies share two cores), and the ratios still move from repeat to repeat, less than alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_proxy as bp  # noqa: E402


def load_together(
    load_bin: Path, procs: dict[str, bp.Proc], keys: dict[str, str], duration: float, one: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Every proxy under 32 connections of its own load generator, all at the same time (no warm-up, so
    the measured windows start together; the proxies are warm from the runs before)."""
    runs: dict[str, dict[str, Any]] = {}

    def run(name: str) -> None:
        proc = procs[name]
        watch = {"proxy": proc.proc.pid}
        runs[name] = bp.load(load_bin, proc.port, keys[name], watch, conns=32, duration=duration, warmup=0, **one)

    threads = [threading.Thread(target=run, args=(name,)) for name in procs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if missing := sorted(set(procs) - set(runs)):
        sys.exit(f"the load generator failed against: {', '.join(missing)}")
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="NAME=VENV, one per build of ours")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration-load", type=float, default=4.0)
    ap.add_argument("--duration-1", type=float, default=2.0)
    ap.add_argument("--together", action="store_true", help="also load all proxies at once (see above)")
    ap.add_argument("--stream", action="store_true", help="also CPU per streamed chunk (see above)")
    ap.add_argument("--duration-stream", type=float, default=3.0)
    args = ap.parse_args()
    venvs = {}
    for spec in args.builds:
        name, sep, venv = spec.partition("=")
        if not sep or name == "floor" or not (Path(venv) / "bin" / "python").exists():
            sys.exit(f"not NAME=VENV with a python in VENV/bin (and NAME not 'floor'): {spec}")
        venvs[name] = Path(venv)

    floor_bin, load_bin = bp.build_floor()
    log = bp.scratch("proxy-ab-")
    first = next(iter(venvs.values())) / "bin" / "python"
    upstream = bp.Proc(
        "upstream",
        [str(first), "-m", "liter_llm.testing", "serve", "--port", "0"]
        + ["--stream-chunks", str(bp.STREAM_CHUNKS), "--no-record"],
        log,
        bp.clean_env(),
    )
    procs: dict[str, bp.Proc] = {}
    keys: dict[str, str] = {}
    try:
        upstream.wait_line(60)
        config = log / "proxy.yaml"
        bp.write_config(config, upstream.base_url)
        procs["floor"] = bp.start_proxy("floor", floor_bin, first, config, upstream.base_url, log)
        keys["floor"] = bp.MASTER_KEY
        for name, venv in venvs.items():
            (log / name).mkdir()
            python = venv / "bin" / "python"
            procs[name] = bp.start_proxy("ours", floor_bin, python, config, upstream.base_url, log / name)
            keys[name], auth = bp.virtual_key(procs[name])
            if auth != "virtual key":
                sys.exit(f"{name}: {auth}")
        one = {"prompt": bp.PROMPT, "expect": bp.PROMPT}
        for name, proc in procs.items():
            bp.load(load_bin, proc.port, keys[name], {}, conns=1, duration=0.5, warmup=5, **one)
        kinds = ["cpu", "rps", "added"] + (["together"] if args.together else []) + (["chunk"] if args.stream else [])
        stream = bp.workloads(argparse.Namespace(**vars(args), conns=64, stream_conns=4))["stream"]
        figures: dict[str, dict[str, list[float]]] = {n: {k: [] for k in kinds} for n in procs}
        for r in range(args.repeats):
            names = list(procs)
            names = names[r % len(names) :] + names[: r % len(names)]
            for name in names:
                proc, watch = procs[name], {"proxy": procs[name].proc.pid}
                load = bp.load(
                    load_bin, proc.port, keys[name], watch, conns=64, duration=args.duration_load, warmup=2, **one
                )
                # The direct p50 right before each proxy's: the machine's state drifts within a repeat.
                direct = bp.load(
                    load_bin, upstream.port, "sk-upstream", {}, conns=1, duration=args.duration_1, warmup=20, **one
                )
                lat = bp.load(load_bin, proc.port, keys[name], {}, conns=1, duration=args.duration_1, warmup=20, **one)
                if load["errors"] or lat["errors"]:
                    sys.exit(f"{name}: errors: {load['first_error'] or lat['first_error']}")
                figures[name]["cpu"].append(load["watch"]["proxy"]["cpu_s"] / load["requests"] * 1e6)
                figures[name]["rps"].append(load["rps"])
                figures[name]["added"].append(lat["p50_us"] - direct["p50_us"])
                if args.stream:
                    st = bp.load(load_bin, proc.port, keys[name], watch, **stream)
                    if st["errors"]:
                        sys.exit(f"{name}: stream errors: {st['first_error']}")
                    figures[name]["chunk"].append(st["watch"]["proxy"]["cpu_s"] / st["events"] * 1e6)
            if args.together:
                for name, load in load_together(load_bin, procs, keys, args.duration_load, one).items():
                    if load["errors"]:
                        sys.exit(f"{name}: errors: {load['first_error']}")
                    figures[name]["together"].append(load["watch"]["proxy"]["cpu_s"] / load["requests"] * 1e6)
            line = "  ".join(f"{n} {figures[n]['cpu'][-1]:.1f} µs +{figures[n]['added'][-1]:.0f} µs" for n in procs)
            if args.stream:
                line += "  per chunk: " + " ".join(f"{n} {figures[n]['chunk'][-1]:.2f} µs" for n in procs)
            if args.together:
                line += "  together: " + " ".join(f"{n} {figures[n]['together'][-1]:.1f} µs" for n in procs)
            print(f"repeat {r + 1}: {line}", flush=True)
    finally:
        for proc in procs.values():
            proc.stop()
        upstream.stop()

    med = {n: {k: statistics.median(v) for k, v in f.items()} for n, f in figures.items()}
    # Each repeat's ratios to the floor in that repeat, then their median: a machine state that
    # moves between repeats moves both sides of a ratio.
    paired = {
        n: {k: statistics.median(a / b for a, b in zip(v, figures["floor"][k])) for k, v in f.items()}
        for n, f in figures.items()
    }
    floor = med["floor"]
    print("\nRatios to the floor: of the medians, then (in brackets) the median of each repeat's ratio.")
    head = "| build | CPU µs/req (64 conn) | vs floor | req/s (64 conn) | vs floor | added p50 µs | vs floor |"
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if args.stream:
        head += " CPU µs/chunk | vs floor |"
        rule += "---:|---:|"
    if args.together:
        head += " CPU µs/req, together | vs floor |"
        rule += "---:|---:|"
    print("\n" + head + "\n" + rule)
    for name, m in med.items():
        p = paired[name]
        row = (
            f"| {name} | {m['cpu']:.1f} | {m['cpu'] / floor['cpu']:.2f}x ({p['cpu']:.2f}x) | {m['rps']:,.0f} | "
            f"{m['rps'] / floor['rps']:.2f}x ({p['rps']:.2f}x) | {m['added']:.0f} | "
            f"{m['added'] / floor['added']:.2f}x ({p['added']:.2f}x) |"
        )
        if args.stream:
            row += f" {m['chunk']:.2f} | {m['chunk'] / floor['chunk']:.2f}x ({p['chunk']:.2f}x) |"
        if args.together:
            row += f" {m['together']:.1f} | {m['together'] / floor['together']:.2f}x ({p['together']:.2f}x) |"
        print(row)


if __name__ == "__main__":
    main()
