"""Issue-3 throughput benchmark: 10,000 chat requests under RPM/TPM limits and a concurrency cap, side by side.

    python3 benches/bench_batch.py                      # both limit configurations, all clients, + RSS run
    python3 benches/bench_batch.py --scale 0.1 --no-rss  # ~2-minute smoke run
    python3 benches/bench_batch.py --clients ours_async,lmdeluge --configs tpm --repeats 2

Every client runs in a subprocess with its own venv's python (setup_batch_peers.sh / setup_peers.sh) against our
mock provider (50 ms latency) in another process: benches/batch_server.py, a wrapper that records every request's
arrival time and its token usage, so rate-limit compliance is measured on the SERVER side: requests and tokens
in every sliding 60-s window. Stdlib only; README.md ("Throughput under rate limits") explains every number.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DRIVERS = HERE / "batch_clients"
VENVS = Path(os.environ.get("BENCH_VENVS", ROOT / ".bench-venvs"))
WINDOW = 60.0  # every client's limits are per minute

OURS_CHECK = (
    "import liter_llm as m; "
    "c = m.LlmClient(api_key='k', max_requests_per_minute=10, max_tokens_per_minute=10, max_concurrency=2); "
)
CLIENTS: dict[str, dict[str, Any]] = {
    "ours_async": {
        "venv": "ours",
        "driver": "drv_ours.py",
        "args": ["--mode", "async"],
        "label": "ours `chat_batch`",
        "check": OURS_CHECK + "c.chat_batch",
    },
    "ours_sync": {
        "venv": "ours",
        "driver": "drv_ours.py",
        "args": ["--mode", "sync"],
        "label": "ours `chat_batch_sync`",
        "check": OURS_CHECK + "c.chat_batch_sync",
    },
    "openai": {
        "venv": "openai",
        "driver": "drv_openai.py",
        "args": [],
        "label": "openai SDK + Semaphore + aiolimiter",
        "check": "import openai, aiolimiter",
    },
    "litellm": {
        "venv": "litellm",
        "driver": "drv_litellm.py",
        "args": [],
        "label": "litellm acompletion + Semaphore + aiolimiter",
        "check": "import litellm, aiolimiter",
    },
    "llmapiclient": {
        "venv": "llmapiclient",
        "driver": "drv_llmapiclient.py",
        "args": [],
        "label": "llm-api-client make_requests",
        "check": "import llm_api_client",
    },
    "lmdeluge": {
        "venv": "lmdeluge",
        "driver": "drv_lmdeluge.py",
        "args": [],
        "label": "lm-deluge process_prompts_async",
        "check": "import lm_deluge",
    },
}
BASE_KEY = "ours_async"
ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}


def py_of(key: str) -> Path:
    return VENVS / CLIENTS[key]["venv"] / "bin" / "python"


def available(key: str) -> str | None:
    py = py_of(key)
    if not py.exists():
        return f"{py} missing (run benches/setup_batch_peers.sh)"
    env = {**os.environ, **ENV}
    res = subprocess.run([str(py), "-c", CLIENTS[key]["check"]], capture_output=True, text=True, timeout=120, env=env)
    return None if res.returncode == 0 else (res.stderr.strip().splitlines() or ["?"])[-1][:300]


# --------------------------------------------------------------------------------------------------
# processes


def proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def all_proc_cpu() -> dict[int, tuple[str, float]]:
    """CPU seconds of every process on the machine, to name what disturbed a run."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    head, tail = f.read().rsplit(")", 1)
                parts = tail.split()
                out[int(d)] = (head.split("(", 1)[1], (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK"))
            except (OSError, IndexError, ValueError):
                pass
    return out


def top_others(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], skip: set[int]) -> list:
    """The 3 processes (other than `skip`) that used the most CPU between two snapshots (new ones count fully)."""
    used = []
    for pid, (comm, cpu) in after.items():
        if pid in skip:
            continue
        d = cpu - before.get(pid, (comm, 0.0))[1]
        if d > 0.2:
            used.append((round(d, 1), comm, pid))
    return sorted(used, reverse=True)[:3]


def machine_busy() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return (sum(v[:7]) - idle) / os.sysconf("SC_CLK_TCK")  # user..softirq, without steal


class Lines:
    """Reads a pipe's lines on a thread so the caller can wait with a timeout."""

    def __init__(self, stream: Any) -> None:
        self.q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def wait_for(self, pred: Any, timeout: float) -> str | None:
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.q.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                return None
            if pred(line):
                return line


class Server:
    def __init__(self, latency_ms: float, logdir: Path) -> None:
        py = VENVS / "ours" / "bin" / "python"
        if not py.exists() or subprocess.run([str(py), "-c", "from liter_llm.testing import MockServer"]).returncode:
            py = ROOT / ".venv" / "bin" / "python"
        self.err = open(logdir / f"batch-server-{int(time.time())}.log", "w")
        self.p = subprocess.Popen(
            [str(py), str(HERE / "batch_server.py"), "--latency-ms", str(latency_ms)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
            text=True,
        )
        self.lines = Lines(self.p.stdout)
        line = self.lines.wait_for(lambda s: "listening on" in s, 30)
        if not line:
            raise SystemExit("batch server did not start")
        self.base_url = line.rsplit(" ", 1)[1]
        self.python = str(py)

    def dump(self) -> list[list[float]]:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            path = f.name
        assert self.p.stdin is not None
        self.p.stdin.write(f"dump {path}\n")
        self.p.stdin.flush()
        if not self.lines.wait_for(lambda s: s.startswith("ok"), 120):
            raise SystemExit("batch server did not answer dump")
        with open(path) as f:
            rows = json.load(f)["rows"]
        os.unlink(path)
        return rows

    def command(self, line: str) -> None:
        assert self.p.stdin is not None
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        if not self.lines.wait_for(lambda s: s.startswith("ok"), 30):
            raise SystemExit(f"batch server did not answer {line!r}")

    def close(self) -> None:
        try:
            assert self.p.stdin is not None
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            self.p.terminate()
            self.p.wait(10)
        self.err.close()


def run_driver(
    key: str,
    base_url: str,
    n: int,
    rpm: int,
    tpm: int,
    conc: int,
    deadline: float,
    server: Server | None,
    logdir: Path,
    extra: list[str] | None = None,
    pre_go: list[str] | None = None,
) -> dict[str, Any]:
    spec = CLIENTS[key]
    cmd = [
        str(py_of(key)),
        spec["driver"],
        "--base-url",
        base_url,
        "--requests",
        str(n),
        "--rpm",
        str(rpm),
        "--tpm",
        str(tpm),
        "--concurrency",
        str(conc),
        *spec["args"],
        *(extra or []),
    ]
    errpath = logdir / f"{key}-{int(time.time())}.stderr"
    with open(errpath, "w") as err:
        p = subprocess.Popen(
            cmd,
            cwd=DRIVERS,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            env={**os.environ, **ENV},
        )
        lines = Lines(p.stdout)
        try:
            if not lines.wait_for(lambda s: s == "READY", 300):
                return {"error": f"no READY from driver (see {errpath})"}
            if server is not None:
                server.dump()  # drop the warm-up's requests
                for c in pre_go or []:
                    server.command(c)
            busy0, srv0 = machine_busy(), (proc_cpu(server.p.pid) if server else 0.0)
            procs0 = all_proc_cpu()
            assert p.stdin is not None
            p.stdin.write("GO\n")
            p.stdin.flush()
            line = lines.wait_for(lambda s: s.startswith("{"), deadline)
            busy1, srv1 = machine_busy(), (proc_cpu(server.p.pid) if server else 0.0)
            skip = {p.pid, os.getpid()} | ({server.p.pid} if server else set())
            others = top_others(procs0, all_proc_cpu(), skip)
            if not line:
                return {"error": f"no result within {deadline:.0f} s (see {errpath})"}
            res = json.loads(line)
            res["server_cpu_s"] = srv1 - srv0
            res["other_cpu_s"] = max(0.0, busy1 - busy0 - res["cpu_s"] - res["server_cpu_s"])
            res["stderr"] = str(errpath)
            res["other_top"] = others  # (cpu s, command, pid): short-lived processes that ended are not seen
            return res
        finally:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# --------------------------------------------------------------------------------------------------
# server-side analysis


def sliding(ts: list[float], ws: list[float], limit: float, window: float = WINDOW) -> dict[str, Any]:
    """Max weight in any window [t_i, t_i + window) anchored at a request, and how many anchors exceed limit."""
    best = 0.0
    over = 0
    worst_at = None
    j = 0
    acc = 0.0
    n = len(ts)
    for i in range(n):
        while j < n and ts[j] < ts[i] + window:
            acc += ws[j]
            j += 1
        if acc > best:
            best, worst_at = acc, ts[i]
        if limit and acc > limit:
            over += 1
        acc -= ws[i]
    return {
        "max": best,
        "over_windows": over,
        "anchors": n,
        "worst_at_s": worst_at,
        "excess_pct": (best / limit - 1) * 100 if limit and best > limit else 0.0,
    }


def analyse(rows: list[list[float]], rpm: int, tpm: int) -> dict[str, Any]:
    if not rows:
        return {}
    t0 = rows[0][0]
    ts = [r[0] - t0 for r in rows]
    toks = [r[1] + r[2] for r in rows]
    dur = ts[-1]
    out: dict[str, Any] = {
        "server_requests": len(rows),
        "server_tokens": sum(toks),
        "server_span_s": dur,
        "req": sliding(ts, [1.0] * len(ts), rpm),
        "tok": sliding(ts, toks, tpm),
    }
    # burstiness: the busiest 1-s window vs a 1-s share of the limit (limit / 60)
    out["req_peak1s"] = sliding(ts, [1.0] * len(ts), 0, 1.0)["max"] / (rpm / 60) if rpm else None
    out["tok_peak1s"] = sliding(ts, toks, 0, 1.0)["max"] / (tpm / 60) if tpm else None
    lo, hi = 0.1 * dur, 0.9 * dur
    span = hi - lo
    if span > 0:
        n_mid = sum(1 for t in ts if lo <= t < hi)
        tok_mid = sum(w for t, w in zip(ts, toks) if lo <= t < hi)
        out["util_req"] = n_mid / span / (rpm / 60) if rpm else None
        out["util_tok"] = tok_mid / span / (tpm / 60) if tpm else None
    # the fastest a client may finish without any 60-s window over the limit, pacing evenly from t=0
    ideal = max(len(rows) / (rpm / 60) if rpm else 0.0, sum(toks) / (tpm / 60) if tpm else 0.0)
    out["ideal_s"] = ideal
    return out


def analyse_429(rows: list[list[Any]], k: int, retry_after: float) -> dict[str, Any]:
    """The first k chat requests the server saw got a 429 (Retry-After: retry_after s); when were they resent?"""
    first: dict[str, float] = {}
    for r in rows[:k]:
        first.setdefault(r[3], r[0])
    delays = []
    seen = set()
    for r in rows[k:]:
        if r[3] in first and r[3] not in seen:
            seen.add(r[3])
            delays.append(r[0] - first[r[3]])
    delays.sort()
    return {
        "attempts": len(rows),
        "faulted": len(first),
        "retried": len(delays),
        "retry_min_s": delays[0] if delays else None,
        "retry_med_s": med(delays),
        "early": sum(1 for d in delays if d < retry_after),
        "retry_after_s": retry_after,
    }


# --------------------------------------------------------------------------------------------------
# reporting


def fmt(v: Any, nd: int = 1) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1000:
            return f"{v:,.0f}"
        return f"{v:.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def med(vals: list[Any]) -> Any:
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0].get("error") if runs else "no runs"}
    s: dict[str, Any] = {
        k: med([r[k] for r in ok])
        for k in (
            "wall_s",
            "cpu_s",
            "cpu_us_per_req",
            "maxrss_mb",
            "rss_peak_sampled_mb",
            "server_cpu_s",
            "other_cpu_s",
        )
    }
    for k in ("ok", "bad", "failed", "dropped"):
        s[k] = max(r[k] for r in ok)
    s["first_error"] = next((r["first_error"] for r in ok if r.get("first_error")), None)
    a = [r["server"] for r in ok if r.get("server")]
    if a:
        s["ideal_s"] = med([x["ideal_s"] for x in a])
        s["util_req"] = med([x.get("util_req") for x in a])
        s["util_tok"] = med([x.get("util_tok") for x in a])
        s["req_peak1s"] = max(x["req_peak1s"] or 0 for x in a)
        s["tok_peak1s"] = max(x["tok_peak1s"] or 0 for x in a)
        for m in ("req", "tok"):
            s[f"{m}_max"] = max(x[m]["max"] for x in a)
            s[f"{m}_over"] = max(x[m]["over_windows"] for x in a)
            s[f"{m}_anchors"] = a[0][m]["anchors"]
            s[f"{m}_excess_pct"] = max(x[m]["excess_pct"] for x in a)
        s["server_requests"] = max(x["server_requests"] for x in a)
    s["repeats"] = len(ok)
    s["info"] = ok[0].get("info")
    return s


def tables(cfg: dict[str, Any], summ: dict[str, dict[str, Any]]) -> str:
    rpm, tpm = cfg["rpm"], cfg["tpm"]
    base = summ.get(BASE_KEY, {}).get("cpu_us_per_req")
    out = [
        f"### {cfg['title']}: {cfg['requests']:,} requests, RPM {rpm:,}, TPM {tpm:,}, "
        f"concurrency {cfg['concurrency']}, "
        f"mock latency 50 ms",
        "",
    ]
    out.append(
        "| client | wall s | ideal s | wall/ideal | CPU s | CPU µs/req | vs ours | peak RSS MB | ok | failed "
        "| dropped (None) | server CPU s | other CPU s |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for key, s in summ.items():
        label = CLIENTS[key]["label"]
        if "error" in s:
            out.append(f"| {label} | failed: {s['error']} |" + " |" * 11)
            continue
        ratio = f"{s['cpu_us_per_req'] / base:.2f}x" if base else "-"
        wi = s["wall_s"] / s["ideal_s"] if s.get("ideal_s") else None
        out.append(
            f"| {label} | {fmt(s['wall_s'])} | {fmt(s.get('ideal_s'))} | {fmt(wi, 2)} | {fmt(s['cpu_s'], 2)} | "
            f"{fmt(s['cpu_us_per_req'])} | {ratio} | {fmt(s['maxrss_mb'])} | {fmt(s['ok'])} | "
            f"{fmt(s['failed'] + s['bad'])} | {fmt(s['dropped'])} | {fmt(s['server_cpu_s'], 2)} | "
            f"{fmt(s['other_cpu_s'], 2)} |"
        )
    out += [
        "",
        f"Rate-limit compliance, measured at the server (sliding {WINDOW:.0f}-s windows anchored at every request):",
        "",
    ]
    out.append(
        "| client | max req / 60 s | vs RPM | req windows over | max tokens / 60 s | vs TPM | token windows over "
        "| worst excess | utilisation (binding limit) | busiest 1 s vs limit/60 |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    bind = cfg["binding"]
    for key, s in summ.items():
        if "error" in s or "req_max" not in s:
            continue
        util = s["util_req"] if bind == "rpm" else s["util_tok"]
        excess = max(s["req_excess_pct"], s["tok_excess_pct"])
        out.append(
            f"| {CLIENTS[key]['label']} | {fmt(int(s['req_max']))} | {s['req_max'] / rpm:.2f} | "
            f"{fmt(s['req_over'])} / {fmt(s['req_anchors'])} | {fmt(int(s['tok_max']))} | {s['tok_max'] / tpm:.2f} | "
            f"{fmt(s['tok_over'])} / {fmt(s['tok_anchors'])} | {f'+{excess:.1f}%' if excess else '0'} | "
            f"{'-' if util is None else f'{util * 100:.1f}%'} | "
            f"{s['req_peak1s' if bind == 'rpm' else 'tok_peak1s']:.1f}x |"
        )
    errs = [(k, s["first_error"]) for k, s in summ.items() if s.get("first_error")]
    if errs:
        out += [""] + [f"- {CLIENTS[k]['label']}: first error: `{e}`" for k, e in errs]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", default=",".join(CLIENTS))
    ap.add_argument("--configs", default="rpm,tpm", help="comma list of rpm,tpm")
    ap.add_argument("--requests", type=int, default=10_000)
    ap.add_argument("--scale", type=float, default=1.0, help="multiplies request counts (not the limits)")
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--rpm", type=int, default=9_000, help="RPM of the rpm-bound configuration")
    ap.add_argument("--rpm-tpm", type=int, default=10_000_000, help="TPM of the rpm-bound configuration (not binding)")
    ap.add_argument("--tpm", type=int, default=360_000, help="TPM of the tpm-bound configuration")
    ap.add_argument("--tpm-rpm", type=int, default=100_000, help="RPM of the tpm-bound configuration (not binding)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--deadline", type=float, default=300.0, help="seconds allowed for one measured run")
    ap.add_argument("--rss-requests", type=int, default=100_000, help="RSS run: requests (x --scale), 0 = skip")
    ap.add_argument("--rss-clients", default="ours_async,ours_sync")
    ap.add_argument("--no-rss", action="store_true")
    ap.add_argument("--r429-requests", type=int, default=1000, help="429 scenario: requests (x --scale), 0 = skip")
    ap.add_argument("--r429-faults", type=int, default=50, help="429 scenario: the first N requests get a 429")
    ap.add_argument("--r429-retry-after", type=float, default=2.0, help="429 scenario: Retry-After seconds")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    resdir = HERE / "results"
    logdir = resdir / "logs"
    logdir.mkdir(parents=True, exist_ok=True)
    n = max(1, int(args.requests * args.scale))
    configs = {
        "rpm": {"title": "(a) RPM-bound", "rpm": args.rpm, "tpm": args.rpm_tpm, "binding": "rpm"},
        "tpm": {"title": "(b) TPM-bound", "rpm": args.tpm_rpm, "tpm": args.tpm, "binding": "tpm"},
    }
    wanted = [c for c in args.configs.split(",") if c]
    keys, skipped = [], {}
    for k in args.clients.split(","):
        if k not in CLIENTS:
            raise SystemExit(f"unknown client {k}")
        why = available(k)
        if why:
            skipped[k] = why
            print(f"[skip] {k}: {why}", file=sys.stderr)
        else:
            keys.append(k)
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "args": vars(args),
        "skipped": skipped,
        "configs": {},
        "rss": None,
    }
    versions = VENVS / "versions.json"
    report["versions_json"] = json.loads(versions.read_text()) if versions.exists() else None
    bversions = VENVS / "batch-versions.json"
    report["batch_versions_json"] = json.loads(bversions.read_text()) if bversions.exists() else None
    report["ours_source"] = (
        (VENVS / "ours" / ".bench-pins").read_text().strip() if (VENVS / "ours" / ".bench-pins").exists() else None
    )
    md: list[str] = []
    server = Server(args.latency_ms, logdir)
    print(f"[server] {server.base_url} (python {server.python})", file=sys.stderr)
    try:
        for cname in wanted:
            cfg = {**configs[cname], "requests": n, "concurrency": args.concurrency}
            runs: dict[str, list[dict[str, Any]]] = {k: [] for k in keys}
            for rep in range(args.repeats):
                for k in keys:
                    t = time.time()
                    r = run_driver(
                        k, server.base_url, n, cfg["rpm"], cfg["tpm"], args.concurrency, args.deadline, server, logdir
                    )
                    rows = server.dump()
                    if "error" not in r:
                        r["server"] = analyse(rows, cfg["rpm"], cfg["tpm"])
                    runs[k].append(r)
                    brief = r.get("error") or (
                        f"wall {r['wall_s']:.1f}s cpu {r['cpu_us_per_req']:.0f}us/req ok {r['ok']} "
                        f"fail {r['failed'] + r['bad']} drop {r['dropped']} "
                        f"maxreq60 {r['server'].get('req', {}).get('max')} "
                        f"maxtok60 {r['server'].get('tok', {}).get('max')} "
                        f"other {r['other_cpu_s']:.1f}s {r['other_top']}"
                    )
                    print(f"[{cname} rep {rep + 1}] {k}: {brief} ({time.time() - t:.0f}s)", file=sys.stderr)
            summ = {k: summarise(v) for k, v in runs.items()}
            report["configs"][cname] = {"config": cfg, "runs": runs, "summary": summ}
            md.append(tables(cfg, summ))
            print("\n" + md[-1] + "\n", flush=True)
        n429 = int(args.r429_requests * args.scale)
        if n429:
            k, ra = min(args.r429_faults, n429), args.r429_retry_after
            lines = [
                f"### (d) 429 handling: {n429:,} requests, concurrency 64, the first {k} answered 429 with "
                + (f"Retry-After: {ra:g} s" if ra > 0 else "no Retry-After header")
                + " (RPM 100,000 / TPM 10,000,000, not binding)",
                "",
                "| client | wall s | server attempts | 429'd requests resent | resent before Retry-After | "
                "first resend after s | median resend after s | ok | failed | dropped (None) |",
                "|---|---|---|---|---|---|---|---|---|---|",
            ]
            res429 = {}
            for key in keys:
                r = run_driver(
                    key,
                    server.base_url,
                    n429,
                    100_000,
                    10_000_000,
                    64,
                    args.deadline,
                    server,
                    logdir,
                    pre_go=[f"faults {k} {ra}"],
                )
                rows = server.dump()
                if "error" in r:
                    lines.append(f"| {CLIENTS[key]['label']} | failed: {r['error']} |" + " |" * 8)
                    continue
                a = analyse_429(rows, k, ra)
                r["r429"] = a
                res429[key] = r
                print(f"[429] {key}: {a} ok {r['ok']} fail {r['failed']} drop {r['dropped']}", file=sys.stderr)
                lines.append(
                    f"| {CLIENTS[key]['label']} | {r['wall_s']:.1f} | {a['attempts']:,} | "
                    f"{a['retried']} / {a['faulted']} | "
                    f"{a['early']} | {fmt(a['retry_min_s'], 2)} | {fmt(a['retry_med_s'], 2)} | {r['ok']:,} | "
                    f"{r['failed'] + r['bad']:,} | {r['dropped']:,} |"
                )
            report["r429"] = res429
            md.append("\n".join(lines))
            print("\n" + md[-1] + "\n", flush=True)
    finally:
        server.close()

    rss_n = int(args.rss_requests * args.scale)
    if rss_n and not args.no_rss:
        py = VENVS / "ours" / "bin" / "python"
        err = open(logdir / f"rss-server-{int(time.time())}.log", "w")
        srv = subprocess.Popen(
            [
                str(py),
                "-m",
                "liter_llm.testing",
                "serve",
                "--port",
                "0",
                "--latency-ms",
                str(args.latency_ms),
                "--no-record",
            ],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
        line = Lines(srv.stdout).wait_for(lambda s: "listening on" in s, 30)
        rss_rows = []
        try:
            base = line.rsplit(" ", 1)[1] if line else None
            for k in args.rss_clients.split(","):
                if k not in keys or base is None:
                    continue
                r = run_driver(
                    k, base, rss_n, 0, 0, 64, max(args.deadline, rss_n / 500), None, logdir, extra=["--chunks", "10"]
                )
                rss_rows.append((k, r))
                print(f"[rss] {k}: {r.get('error') or r['rss_after_chunk_mb']}", file=sys.stderr)
        finally:
            srv.terminate()
            srv.wait(10)
            err.close()
        report["rss"] = {k: r for k, r in rss_rows}
        lines = [
            f"### (c) RSS over {rss_n:,} requests, no limits, concurrency 64 "
            f"(10 batches of {rss_n // 10:,}, one client)",
            "",
            "| client | RSS before MB | after batch 1 | after batch 5 | after batch 10 | growth 1→10 MB | peak RSS MB "
            "| CPU µs/req | wall s | ok | failed |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for k, r in rss_rows:
            if "error" in r:
                lines.append(f"| {CLIENTS[k]['label']} | failed: {r['error']} |" + " |" * 9)
                continue
            c = r["rss_after_chunk_mb"]
            lines.append(
                f"| {CLIENTS[k]['label']} | {r['rss_before_mb']} | {c[0]} | {c[min(4, len(c) - 1)]} | {c[-1]} | "
                f"{c[-1] - c[0]:+.1f} | {r['maxrss_mb']} | {r['cpu_us_per_req']:.1f} | {r['wall_s']:.1f} | "
                f"{r['ok']:,} | {r['failed'] + r['bad'] + r['dropped']:,} |"
            )
        if rss_rows:
            md.append("\n".join(lines))
            print("\n" + md[-1] + "\n", flush=True)
        else:
            print(f"[rss] skipped: none of {args.rss_clients} is available", file=sys.stderr)

    vers = []
    for cname in report["configs"].values():
        for k, s in cname["summary"].items():
            if s.get("info") and k not in [v[0] for v in vers]:
                vers.append((k, s["info"]))
    if vers:
        md.append(
            "Versions: "
            + "; ".join(f"{CLIENTS[k]['label']}: " + ", ".join(f"{a} {b}" for a, b in i.items()) for k, i in vers)
        )
        print(md[-1])
    if skipped:
        md.append("Skipped: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
        print(md[-1])
    report["markdown"] = "\n\n".join(md)
    out = Path(args.out) if args.out else resdir / f"batch-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"\n[saved] {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
