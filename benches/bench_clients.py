"""Side-by-side client CPU benchmark: ours vs liter-llm 1.2.2 vs the openai SDK vs a raw aiohttp floor.

    python3 benches/bench_clients.py                       # everything available, 3 repeats, aiohttp-fixed target
    python3 benches/bench_clients.py --target mock,aiohttp-fixed --clients liter122,openai,aiohttp

Every client runs in a subprocess with its own venv's python (see setup_peers.sh) against a load target that runs
in yet another process. Clients are interleaved inside each repeat (A B C D, A B C D, ...) and medians over the
repeats are reported. Stdlib only; see README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from server import start_target  # noqa: E402

VENVS = Path(os.environ.get("BENCH_VENVS", ROOT / ".bench-venvs"))
REPLY = "Hello from the benchmark server."
STREAM_CHUNKS = 1000
# Streamed reply: long enough that the mock's "split into exactly N chunks" gives N non-empty content deltas.
STREAM_REPLY = " ".join(f"w{i}" for i in range(STREAM_CHUNKS))

# key -> venv folder, driver, distribution, import statement used for the import-time measurement, label
CLIENTS: dict[str, dict[str, str]] = {
    "ours": {
        "venv": "ours",
        "driver": "liter_llm_client.py",
        "dist": "liter-llm",
        "module": "liter_llm",
        "stmt": "import liter_llm; liter_llm.LlmClient",
        "label": "ours (liter_llm)",
    },
    "liter122": {
        "venv": "liter121",
        "driver": "liter_llm_client.py",
        "dist": "liter-llm",
        "module": "liter_llm",
        "stmt": "import liter_llm; liter_llm.LlmClient",
        "label": "liter-llm 1.2.2",
    },
    "openai": {
        "venv": "openai",
        "driver": "openai_sdk.py",
        "dist": "openai",
        "module": "openai",
        "stmt": "import openai; openai.AsyncOpenAI",
        "label": "openai SDK",
    },
    "aiohttp": {
        "venv": "aiohttp",
        "driver": "raw_aiohttp.py",
        "dist": "aiohttp",
        "module": "aiohttp",
        "stmt": "import aiohttp; aiohttp.ClientSession",
        "label": "raw aiohttp",
    },
}
# Earlier builds of ours (setup_peers.sh: OURS_PREV_WHEEL, OURS_BASE_WHEEL), to compare changes in one run.
for _key, _label in (("prev", "ours (previous build)"), ("base", "ours (older build)")):
    CLIENTS[_key] = {**CLIENTS["ours"], "venv": f"ours-{_key}", "label": _label}
BASELINES = ("liter122", "aiohttp")

WORKLOADS: dict[str, dict[str, Any]] = {
    "chat": {"mode": "chat", "requests": 3000, "concurrency": 64, "latency_ms": 0, "title": "(a) non-streaming chat"},
    "stream": {"mode": "stream", "requests": 100, "concurrency": 8, "latency_ms": 0, "title": "(b) streaming"},
    "latency": {
        "mode": "chat",
        "requests": 2000,
        "concurrency": 200,
        "latency_ms": 100,
        "title": "(c) high concurrency vs server latency",
    },
}


def py_of(key: str) -> Path:
    return VENVS / CLIENTS[key]["venv"] / "bin" / "python"


def sh(cmd: list[str], timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def client_available(key: str) -> str | None:
    """None if usable, else the reason it is not."""
    py = py_of(key)
    if not py.exists():
        return f"{py} missing (run benches/setup_peers.sh)"
    res = sh([str(py), "-c", CLIENTS[key]["stmt"]])
    return None if res.returncode == 0 else res.stderr.strip().splitlines()[-1][:300]


def mock_available() -> str | None:
    py = py_of("ours")
    if not py.exists():
        return f"{py} missing"
    res = sh([str(py), "-m", "liter_llm.testing", "serve", "--help"])
    return None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["?"])[-1][:300]


def ours_build_info() -> dict[str, Any]:
    """Where our extension module lives and whether it looks like a debug build."""
    code = (
        "import json, liter_llm, liter_llm._liter_llm as m\n"
        "print(json.dumps({'version': getattr(liter_llm, '__version__', None), 'so': m.__file__}))\n"
    )
    res = sh([str(py_of("ours")), "-c", code])
    if res.returncode != 0:
        return {"error": res.stderr.strip()[-300:]}
    info = json.loads(res.stdout)
    so = Path(info["so"])
    info["so_bytes"] = so.stat().st_size
    try:
        sections = sh(["readelf", "-S", "-W", str(so)]).stdout
        info["has_debug_info"] = ".debug_info" in sections
    except (OSError, subprocess.SubprocessError):
        info["has_debug_info"] = None
    info["likely_debug_build"] = bool(info.get("has_debug_info"))
    return info


# --------------------------------------------------------------------------------------------------
# Static measurements: import time and installed size.


def import_time(key: str, runs: int) -> dict[str, Any]:
    return measure_import(str(py_of(key)), CLIENTS[key]["stmt"], CLIENTS[key]["module"], runs)


def measure_import(py: str, stmt: str, module: str, runs: int) -> dict[str, Any]:
    """Net import time of ``stmt`` with the interpreter ``py`` (see README, "import ms")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    sh([py, "-c", stmt], env=env)  # warm-up: writes .pyc files, warms the page cache
    base, full, cumulative = [], [], []
    for _ in range(runs):  # interleaved so drift hits both alike
        t0 = time.perf_counter()
        sh([py, "-c", "pass"], env=env)
        base.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sh([py, "-c", stmt], env=env)
        full.append(time.perf_counter() - t0)
        res = sh([py, "-X", "importtime", "-c", stmt], env=env)
        for line in res.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() == module:
                cumulative.append(int(parts[1]) / 1000.0)
    return {
        "net_ms": (statistics.median(full) - statistics.median(base)) * 1e3,
        "interp_ms": statistics.median(base) * 1e3,
        "importtime_cumulative_ms": statistics.median(cumulative) if cumulative else None,
        "runs": runs,
    }


def installed_size(key: str) -> dict[str, Any]:
    return measure_size(str(py_of(key)), CLIENTS[key]["dist"], CLIENTS[key]["module"])


def measure_size(py: str, dist: str, module: str) -> dict[str, Any]:
    """Installed size of ``dist`` in the venv of ``py`` (benches/pkginfo.py)."""
    res = sh([py, str(HERE / "pkginfo.py"), dist, module])
    if res.returncode != 0:
        return {"error": res.stderr.strip()[-300:]}
    return json.loads(res.stdout)


# --------------------------------------------------------------------------------------------------
# Dynamic runs.


def run_driver(key: str, base_url: str, wl: dict[str, Any], deadline: float) -> dict[str, Any]:
    cmd = [
        str(py_of(key)),
        str(HERE / "clients" / CLIENTS[key]["driver"]),
        "--base-url",
        base_url,
        "--mode",
        wl["mode"],
        "--requests",
        str(wl["requests"]),
        "--concurrency",
        str(wl["concurrency"]),
        "--deadline",
        str(deadline),
    ]
    if wl["mode"] == "chat":
        cmd += ["--expect-reply", REPLY]
    else:
        cmd += ["--expect-chunks", str(STREAM_CHUNKS), "--expect-reply", STREAM_REPLY]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    try:
        res = sh(cmd, timeout=deadline + 90, env=env, cwd=str(HERE / "clients"))
    except subprocess.TimeoutExpired:
        return {"failed": True, "reason": f"driver timed out after {deadline + 90}s"}
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    if res.returncode != 0 or not lines:
        return {"failed": True, "reason": f"exit {res.returncode}: {res.stderr.strip()[-800:]}"}
    out = json.loads(lines[-1])
    out["failed"] = out["errors"] > 0 or out["bad"] > 0 or out["ok"] != out["requests"]
    return out


def busy_cpu_seconds() -> float | None:
    """Machine-wide busy CPU time so far (all cores, from /proc/stat)."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def median_of(runs: list[dict[str, Any]], field: str) -> float | None:
    vals = [r[field] for r in runs if not r.get("failed") and r.get(field) is not None]
    return statistics.median(vals) if vals else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    fields = [
        "wall_s",
        "cpu_s",
        "cpu_us_per_req",
        "cpu_us_per_chunk",
        "rps",
        "p50_ms",
        "p99_ms",
        "ttfb_p50_ms",
        "maxrss_mb",
        "server_cpu_s",
        "other_cpu_s",
        "wall_vs_ideal",
    ]
    out: dict[str, Any] = {f: median_of(runs, f) for f in fields}
    out["repeats_ok"] = sum(1 for r in runs if not r.get("failed"))
    out["repeats"] = len(runs)
    good = [r for r in runs if not r.get("failed")]
    out["chunks_per_stream"] = (good[0]["chunks"] / good[0]["requests"]) if good and good[0]["chunks"] else None
    out["problems"] = sorted({r.get("first_error") or r.get("reason") or "" for r in runs if r.get("failed")})
    return out


# --------------------------------------------------------------------------------------------------
# Reporting.


def fmt(v: Any, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    return str(v)


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def workload_table(name: str, wl: dict[str, Any], summ: dict[str, dict[str, Any]], clients: list[str]) -> str:
    stream = wl["mode"] == "stream"
    lat = wl["latency_ms"] > 0
    cost = "cpu_us_per_chunk" if stream else "cpu_us_per_req"
    head = ["client", "wall s", "req/s", "CPU s", "CPU us/req"]
    if stream:
        head += ["CPU us/chunk", "chunks/stream", "TTFB p50 ms"]
    if lat:
        head += ["wall/ideal"]
    head += ["p50 ms", "p99 ms", "peak RSS MB", "server CPU s", "other CPU s"]
    head += [f"{'us/chunk' if stream else 'us/req'} vs {CLIENTS[b]['label']}" for b in BASELINES]
    head += ["ok repeats"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in clients:
        s = summ.get(c)
        if s is None:
            continue
        row = [CLIENTS[c]["label"], fmt(s["wall_s"], 3), fmt(s["rps"]), fmt(s["cpu_s"], 3), fmt(s["cpu_us_per_req"])]
        if stream:
            row += [fmt(s["cpu_us_per_chunk"], 2), fmt(s["chunks_per_stream"], 0), fmt(s["ttfb_p50_ms"], 2)]
        if lat:
            row += [fmt(s["wall_vs_ideal"], 2)]
        row += [fmt(s["p50_ms"], 2), fmt(s["p99_ms"], 2), fmt(s["maxrss_mb"]), fmt(s["server_cpu_s"], 2)]
        row += [fmt(s["other_cpu_s"], 2)]
        row += [ratio(s[cost], summ[b][cost]) if b in summ else "-" for b in BASELINES]
        row += [f"{s['repeats_ok']}/{s['repeats']}"]
        rows.append("| " + " | ".join(row) + " |")
    ideal = ""
    if lat:
        ideal = f", ideal wall = {wl['requests']}/{wl['concurrency']} x {wl['latency_ms'] / 1000:g} s"
        ideal += f" = {wl['requests'] / wl['concurrency'] * wl['latency_ms'] / 1000:g} s"
    title = f"### {wl['title']}: {wl['requests']} requests, concurrency {wl['concurrency']}"
    title += f", server latency {wl['latency_ms']} ms{ideal}"
    if stream:
        title += f", {STREAM_CHUNKS} content chunks per stream"
    notes = []
    for c in clients:
        if summ.get(c, {}).get("problems"):
            notes.append(f"- {CLIENTS[c]['label']}: " + "; ".join(summ[c]["problems"])[:600])
    return "\n".join([title, "", *rows, *([""] + notes if notes else [])])


def static_table(static: dict[str, dict[str, Any]], clients: list[str]) -> str:
    head = ["client", "version", "import ms (net of interpreter)", "-X importtime cumulative ms", "package MB"]
    head += ["with deps MB", "deps"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in clients:
        st = static.get(c)
        if not st:
            continue
        imp, size = st["import"], st["size"]
        mb = 1024 * 1024
        rows.append(
            "| "
            + " | ".join(
                [
                    CLIENTS[c]["label"],
                    str(size.get("version", "?")),
                    fmt(imp.get("net_ms")),
                    fmt(imp.get("importtime_cumulative_ms")),
                    fmt(size["package_bytes"] / mb) if "package_bytes" in size else "-",
                    fmt(size["with_deps_bytes"] / mb) if "with_deps_bytes" in size else "-",
                    str(len(size.get("deps", {}))),
                ]
            )
            + " |"
        )
    return "\n".join(["### Import time and installed size", "", *rows])


# --------------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default="ours,liter122,openai,aiohttp", help="comma list of " + ",".join(CLIENTS))
    ap.add_argument("--workloads", default="chat,stream,latency", help="comma list of " + ",".join(WORKLOADS))
    ap.add_argument("--target", default="aiohttp-fixed", help="comma list of: mock, aiohttp-fixed")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="multiply request counts (smoke runs: 0.1)")
    ap.add_argument("--deadline", type=float, default=120.0, help="per-run time limit inside each driver (s)")
    ap.add_argument("--import-runs", type=int, default=9, help="runs for the import-time median (>= 7)")
    ap.add_argument("--no-static", action="store_true", help="skip import time and installed size")
    ap.add_argument("--out", default=None, help="result JSON (default benches/results/clients-<time>.json)")
    args = ap.parse_args()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = Path(args.out) if args.out else HERE / "results" / f"clients-{stamp}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    log_dir = HERE / "results" / "logs"

    skipped: dict[str, str] = {}
    clients = []
    for c in [x.strip() for x in args.clients.split(",") if x.strip()]:
        if c not in CLIENTS:
            ap.error(f"unknown client {c!r}")
        why = client_available(c)
        if why:
            skipped[c] = why
            print(f"[bench] skipping {c}: {why}", file=sys.stderr)
        else:
            clients.append(c)
    targets = []
    for t in [x.strip() for x in args.target.split(",") if x.strip()]:
        if t not in ("mock", "aiohttp-fixed"):
            ap.error(f"unknown target {t!r}")
        why = mock_available() if t == "mock" else (None if py_of("aiohttp").exists() else "aiohttp venv missing")
        if why:
            skipped[f"target:{t}"] = why
            print(f"[bench] skipping target {t}: {why}", file=sys.stderr)
        else:
            targets.append(t)
    workloads = {}
    for w in [x.strip() for x in args.workloads.split(",") if x.strip()]:
        if w not in WORKLOADS:
            ap.error(f"unknown workload {w!r}")
        wl = dict(WORKLOADS[w])
        wl["requests"] = max(1, round(wl["requests"] * args.scale))
        workloads[w] = wl
    if not clients or not targets:
        print("[bench] nothing to run", file=sys.stderr)
        return 2

    versions_file = VENVS / "versions.json"
    report: dict[str, Any] = {
        "started": stamp,
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg(),
        },
        "args": vars(args),
        "versions": json.loads(versions_file.read_text()) if versions_file.exists() else None,
        "skipped": skipped,
        "ours_build": ours_build_info() if "ours" in clients else None,
        "static": {},
        "targets": {},
    }
    md: list[str] = []

    if not args.no_static:
        for c in clients:
            print(f"[bench] import time / size: {c}", file=sys.stderr)
            report["static"][c] = {"import": import_time(c, args.import_runs), "size": installed_size(c)}
        md.append(static_table(report["static"], clients))

    for t in targets:
        server_py = str(py_of("ours") if t == "mock" else py_of("aiohttp"))
        tres: dict[str, Any] = {}
        report["targets"][t] = tres
        md.append(f"## Target: {t}")
        for w, wl in workloads.items():
            with start_target(
                t,
                python=server_py,
                latency_ms=wl["latency_ms"],
                stream_chunks=STREAM_CHUNKS,
                reply=STREAM_REPLY if wl["mode"] == "stream" else REPLY,
                log_dir=log_dir,
            ) as target:
                runs: dict[str, list[dict[str, Any]]] = {c: [] for c in clients}
                for r in range(args.repeats):
                    for c in clients:
                        s0, b0, k0 = target.cpu_seconds(), busy_cpu_seconds(), children_cpu_seconds()
                        res = run_driver(c, target.base_url, wl, args.deadline)
                        s1, b1, k1 = target.cpu_seconds(), busy_cpu_seconds(), children_cpu_seconds()
                        res["server_cpu_s"] = (s1 - s0) if s0 is not None and s1 is not None else None
                        # CPU used by anything else on the machine while this driver ran (noise indicator)
                        if res["server_cpu_s"] is not None and b0 is not None and b1 is not None:
                            res["other_cpu_s"] = max(0.0, (b1 - b0) - (k1 - k0) - res["server_cpu_s"])
                        if wl["latency_ms"] and res.get("wall_s"):
                            ideal = wl["requests"] / wl["concurrency"] * wl["latency_ms"] / 1000
                            res["wall_vs_ideal"] = res["wall_s"] / ideal
                        res["repeat"] = r
                        runs[c].append(res)
                        print(
                            f"[bench] {t} {w} repeat {r + 1}/{args.repeats} {c}: "
                            + (
                                f"FAILED {res.get('reason') or res.get('first_error')}"
                                if res.get("failed")
                                else f"wall {res['wall_s']:.3f}s cpu {res['cpu_s']:.3f}s "
                                f"{res['cpu_us_per_req']:.0f}us/req"
                            ),
                            file=sys.stderr,
                        )
                        if target.proc.poll() is not None:
                            raise RuntimeError(f"load target exited: see {target.log_path}")
                summ = {c: summarize(runs[c]) for c in clients}
                tres[w] = {"workload": wl, "server": target.desc, "runs": runs, "summary": summ}
                md.append(workload_table(w, wl, summ, clients))
                out_path.write_text(json.dumps(report, indent=2) + "\n")

    text = "\n\n".join(md) + "\n"
    if skipped:
        text += "\nSkipped: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()) + "\n"
    if report.get("ours_build", {}) and report["ours_build"].get("likely_debug_build"):
        text += "\nNote: ours is a DEBUG build (extension has .debug_info); its numbers are not representative.\n"
    report["markdown"] = text
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    print(text)
    print(f"[bench] results: {out_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
