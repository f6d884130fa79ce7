"""Proxy benchmark (issue 15): ``liter-llm serve`` vs the LiteLLM proxy vs a bare forwarder floor, in one run.

    bash benches/setup_proxy_peers.sh                       # OURS_WHEEL=... (a release wheel) and the LiteLLM venv
    python3 benches/bench_proxy.py                          # 3 interleaved repeats, ~4 minutes
    python3 benches/bench_proxy.py --quick                  # 1 repeat of 1-s runs, ~1 minute

All three proxies sit in front of the same upstream (our mock provider, its own process, latency 0, streams of
1,000 content chunks) with the same config (one model group, a master key, deployment rpm/tpm limits, a virtual key
from ``POST /key/generate`` when the proxy has it). One load generator (``proxy-load`` of benches/proxy_floor, a
hand-written HTTP/1.1 client on one thread) drives them in turn; it reads each proxy's CPU and RSS from /proc.
Proxies are interleaved inside each repeat (their order rotates) and the direct-to-upstream latency is measured in
every repeat as the baseline of "added latency". Stdlib only; README.md, "Proxy server", says what each figure means.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_clients import measure_import, measure_size  # noqa: E402

from server import free_port  # noqa: E402

VENVS = Path(os.environ.get("BENCH_VENVS", ROOT / ".bench-venvs"))
FLOOR_CRATE = HERE / "proxy_floor"
MASTER_KEY = "sk-bench-master-key"
GROUP = "bench-gpt"
PROMPT = "Hello from the proxy benchmark."
STREAM_CHUNKS = 1000
# Streamed prompt: the mock echoes it split into exactly 1,000 non-empty content deltas.
STREAM_PROMPT = " ".join(f"w{i}" for i in range(STREAM_CHUNKS))
LIMITS = {"rpm": 100_000_000, "tpm": 10_000_000_000}  # high enough never to bind
KEY_REQUEST = {"models": [GROUP], "rpm_limit": LIMITS["rpm"], "tpm_limit": LIMITS["tpm"], "max_budget": 1_000_000.0}
MASTER_ONLY = "MASTER KEY ONLY"
READY = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")
PROXIES = ("floor", "ours", "litellm")
LABELS = {
    "direct": "direct to the upstream",
    "floor": "floor (axum + reqwest forwarder)",
    "ours": "ours (liter-llm serve)",
    "litellm": "LiteLLM proxy",
}

# Targets of issue 15 (ours against the floor measured in the same run, and absolute).
TARGETS = {
    "added_p50": 1.5,  # x floor
    "rps": 0.6,  # x floor
    "rps_vs_litellm": 100.0,  # x LiteLLM
    "cpu_per_request": 1.5,  # x floor
    "cpu_per_chunk_us": 3.0,
    "rss_load_mb": 50.0,
    "package_mb": 15.0,
    "import_ms": 25.0,
}


OURS_VENV = VENVS / "proxy-ours"


def litellm_bin() -> Path:
    return VENVS / "litellm-proxy" / "bin" / "litellm"


def sh(cmd: list[str], timeout: float = 600, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def scratch(prefix: str) -> Path:
    """A fresh temporary directory for a run's logs, configs and key stores, removed when the run
    exits (access logs under load reach hundreds of MB; a failure quotes the log's tail)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "LITELLM_MASTER_KEY"}
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------------
# Processes


class Proc:
    """A server process (upstream or proxy) with its log; stop() ends it and its children."""

    def __init__(self, name: str, cmd: list[str], log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.cmd = cmd
        self.log_path = log_dir / f"{name}.log"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        self.base_url = ""

    def wait_line(self, timeout: float) -> str:
        """Waits for the READY line in the log; the base URL it names."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = READY.search(self.log_path.read_text(errors="replace"))
            if m:
                self.base_url = m.group(1)
                return self.base_url
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.fail("did not print its listening line")
        return ""

    def wait_http(self, base_url: str, path: str, timeout: float) -> None:
        """Waits until GET base_url+path answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(base_url + path, timeout=2) as resp:
                    if resp.status == 200:
                        self.base_url = base_url
                        return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.fail(f"did not answer GET {path}")

    def fail(self, why: str) -> None:
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} {why}: {' '.join(self.cmd)}\n{tail}")

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    def rss_kb(self) -> int:
        """VmRSS of the process and its children."""
        total = 0
        for pid in [self.proc.pid, *children(self.proc.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def children(root: int) -> list[int]:
    """Every live descendant of ``root``."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        kids = parents.get(todo.pop(), [])
        out.extend(kids)
        todo.extend(kids)
    return out


def build_floor() -> tuple[Path, Path]:
    """Builds benches/proxy_floor (release); the paths of the floor and the load generator."""
    res = sh(["cargo", "build", "--release", "--manifest-path", str(FLOOR_CRATE / "Cargo.toml")], timeout=1800)
    if res.returncode != 0:
        sys.exit(f"building {FLOOR_CRATE} failed:\n{res.stderr[-3000:]}")
    target = Path(os.environ.get("CARGO_TARGET_DIR", FLOOR_CRATE / "target"))
    return target / "release" / "proxy-floor", target / "release" / "proxy-load"


def write_config(path: Path, upstream: str) -> None:
    """The one config every proxy serves (a LiteLLM config.yaml; JSON is valid YAML)."""
    config = {
        "model_list": [
            {
                "model_name": GROUP,
                "litellm_params": {
                    "model": "openai/gpt-4o-mini",
                    "api_base": f"{upstream}/v1",
                    "api_key": "sk-upstream",
                    **LIMITS,
                },
            }
        ],
        "general_settings": {"master_key": MASTER_KEY},
        "litellm_settings": {"telemetry": False, "drop_params": True},
    }
    path.write_text(json.dumps(config, indent=2) + "\n")


def start_proxy(
    name: str,
    floor_bin: Path,
    ours_py: Path,
    config: Path,
    upstream: str,
    log_dir: Path,
    wrap: Sequence[str] = (),
    ready_s: float = 60,
) -> Proc:
    """One proxy, ready; the floor and ours may run under ``wrap`` (a profiler's command line)."""
    if name == "floor":
        cmd = [str(floor_bin), "--port", "0", "--upstream", f"{upstream}/v1", "--key", MASTER_KEY]
        proc = Proc(name, [*wrap, *cmd], log_dir)
        proc.wait_line(ready_s)
    elif name == "ours":
        cmd = [str(ours_py), "-m", "liter_llm", "serve", "--config", str(config), "--port", "0"]
        # Its virtual keys go to a fresh key store beside the logs, never the user's.
        proc = Proc(name, [*wrap, *cmd], log_dir, clean_env(XDG_DATA_HOME=str(log_dir)))
        proc.wait_line(ready_s)
    else:
        port = free_port()
        cmd = [str(litellm_bin()), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--num_workers", "1"]
        env = clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False")
        proc = Proc(name, cmd, log_dir, env)
        proc.wait_http(f"http://127.0.0.1:{port}", "/health/liveliness", 180)
    return proc


def virtual_key(proc: Proc) -> tuple[str, str]:
    """A key from ``POST /key/generate`` (LiteLLM's shape), or the master key; and a note saying which."""
    if proc.name == "floor":
        return MASTER_KEY, "bearer check"
    request = urllib.request.Request(
        f"{proc.base_url}/key/generate",
        data=json.dumps(KEY_REQUEST).encode(),
        headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            key = json.loads(resp.read()).get("key")
            if isinstance(key, str) and key:
                return key, "virtual key"
            why = "no key in the answer"
    except urllib.error.HTTPError as e:
        with e:
            why = f"/key/generate answered {e.code}: {e.read()[:200].decode(errors='replace')}"
    except (OSError, ValueError) as e:
        why = f"/key/generate failed: {e}"
    return MASTER_KEY, f"{MASTER_ONLY} ({why})"


# --------------------------------------------------------------------------------------------------
# Runs


def load(load_bin: Path, port: int, key: str, watch: dict[str, int], **opts: Any) -> dict[str, Any]:
    """One proxy-load run; its JSON line."""
    cmd = [str(load_bin), "--port", str(port), "--key", key, "--model", GROUP]
    for flag, value in opts.items():
        if value is True:
            cmd.append(f"--{flag.replace('_', '-')}")
        else:
            cmd += [f"--{flag.replace('_', '-')}", str(value)]
    for name, pid in watch.items():
        cmd += ["--watch", f"{name}={pid}"]
    res = sh(cmd, timeout=float(opts.get("duration", 5)) + 120)
    if res.returncode != 0:
        raise RuntimeError(f"proxy-load failed: {' '.join(cmd)}\n{res.stderr[-2000:]}")
    return json.loads(res.stdout)


def workloads(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The three runs; ``warmup`` is per connection (LiteLLM's streams take seconds each)."""
    return {
        "latency": {"conns": 1, "duration": args.duration_1, "warmup": 20, "prompt": PROMPT, "expect": PROMPT},
        "load": {"conns": args.conns, "duration": args.duration_load, "warmup": 2, "prompt": PROMPT, "expect": PROMPT},
        "stream": {
            "conns": args.stream_conns,
            "duration": args.duration_stream,
            "warmup": 1,
            "prompt": STREAM_PROMPT,
            "stream": True,
            "expect_chunks": STREAM_CHUNKS,
        },
    }


def run_proxy(
    name: str, proc: Proc, key: str, upstream: Proc, load_bin: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Every workload through one proxy."""
    watch = {"proxy": proc.proc.pid, "upstream": upstream.proc.pid}
    return {wl_name: load(load_bin, proc.port, key, watch, **wl) for wl_name, wl in workloads(args).items()}


def run_direct(upstream: Proc, load_bin: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The 1-connection latency straight to the upstream: the baseline of added latency."""
    wl = workloads(args)["latency"]
    return {"latency": load(load_bin, upstream.port, "sk-upstream", {"upstream": upstream.proc.pid}, **wl)}


# --------------------------------------------------------------------------------------------------
# Figures


def figures(run: dict[str, Any], direct: dict[str, Any]) -> dict[str, float | None]:
    """The headline figures of one proxy in one repeat."""
    lat, ld, st = run["latency"], run["load"], run["stream"]

    def per(ms: dict[str, Any], denom_key: str) -> float | None:
        d = ms[denom_key]
        return ms["watch"]["proxy"]["cpu_s"] / d * 1e6 if d else None

    d_lat = direct["latency"]
    return {
        "p50_1_us": lat["p50_us"],
        "p99_1_us": lat["p99_us"],
        "added_p50_us": lat["p50_us"] - d_lat["p50_us"] if lat["p50_us"] is not None else None,
        "added_p99_us": lat["p99_us"] - d_lat["p99_us"] if lat["p99_us"] is not None else None,
        "rps_1": lat["rps"],
        "cpu_us_req_1": per(lat, "requests"),
        "rps_load": ld["rps"],
        "p50_load_us": ld["p50_us"],
        "p99_load_us": ld["p99_us"],
        "cpu_us_req": per(ld, "requests"),
        "upstream_cpu_us_req": ld["watch"]["upstream"]["cpu_s"] / ld["requests"] * 1e6 if ld["requests"] else None,
        "streams": st["requests"],
        "chunks_per_stream": st["events"] / st["requests"] if st["requests"] else None,
        "cpu_us_chunk": per(st, "events"),
        "stream_p50_ms": st["p50_us"] / 1e3 if st["p50_us"] is not None else None,
        "rss_load_mb": max(ld["watch"]["proxy"]["rss_kb"], st["watch"]["proxy"]["rss_kb"]) / 1024,
        "hwm_mb": st["watch"]["proxy"]["hwm_kb"] / 1024,
        "errors": sum(run[w]["errors"] + run[w]["warmup_errors"] for w in ("latency", "load", "stream")),
        "other_cpu_s": sum(other_cpu(run[w]) for w in ("latency", "load", "stream")),
    }


def other_cpu(ms: dict[str, Any]) -> float:
    """Machine busy time in a run not used by the proxy, the upstream or the load generator."""
    return ms["machine_busy_s"] - ms["load_cpu_s"] - sum(w["cpu_s"] for w in ms["watch"].values())


def median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def render(result: dict[str, Any]) -> str:
    med = result["medians"]
    names = [n for n in PROXIES if n in med]
    lines = [
        f"Proxy benchmark, {result['started']}, {result['repeats']} repeat(s), medians; upstream: our mock "
        f"(latency 0, {STREAM_CHUNKS} content chunks per stream); load: proxy-load, {result['args']['conns']} "
        f"connections for the load run, {result['args']['stream_conns']} for streams.",
        "",
        f"Direct to the upstream, 1 connection: p50 {fmt(result['direct_p50_us'])} µs, "
        f"p99 {fmt(result['direct_p99_us'])} µs.",
        "",
        "| proxy | auth | added p50 µs (1 conn) | added p99 µs (1 conn) | req/s (64 conn) | p99 ms (64 conn) "
        "| CPU µs/req (64 conn) | CPU µs/req (1 conn) | CPU µs/chunk | RSS idle MB | RSS load MB | peak RSS MB "
        "| errors | other CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in names:
        m = med[n]
        p99_ms = m["p99_load_us"] / 1e3 if m["p99_load_us"] is not None else None
        lines.append(
            f"| {LABELS[n]} | {result['auth'][n]} | {fmt(m['added_p50_us'])} | {fmt(m['added_p99_us'])} "
            f"| {fmt(m['rps_load'], 0)} | {fmt(p99_ms, 2)} | {fmt(m['cpu_us_req'])} | {fmt(m['cpu_us_req_1'])} "
            f"| {fmt(m['cpu_us_chunk'], 2)} | {fmt(result['rss_idle_mb'].get(n))} | {fmt(m['rss_load_mb'])} "
            f"| {fmt(m['hwm_mb'])} | {m['errors']} | {fmt(m['other_cpu_s'], 2)} |"
        )
    if "ours" in med:
        o = med["ours"]
        lines += ["", "| ours vs | added p50 | added p99 | req/s | p99 (64 conn) | CPU/req | CPU/chunk | RSS load |"]
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for peer in ("floor", "litellm"):
            if peer in med:
                p = med[peer]
                lines.append(
                    f"| {peer} | {ratio(o['added_p50_us'], p['added_p50_us'])} "
                    f"| {ratio(o['added_p99_us'], p['added_p99_us'])} | {ratio(o['rps_load'], p['rps_load'])} "
                    f"| {ratio(o['p99_load_us'], p['p99_load_us'])} | {ratio(o['cpu_us_req'], p['cpu_us_req'])} "
                    f"| {ratio(o['cpu_us_chunk'], p['cpu_us_chunk'])} | {ratio(o['rss_load_mb'], p['rss_load_mb'])} |"
                )
        lines += ["", "| target (issue 15) | ours | goal | met |", "|---|---:|---:|---|"]
        for label, value, goal, ok in targets(result):
            lines.append(f"| {label} | {value} | {goal} | {'yes' if ok else ('no' if ok is False else '-')} |")
    static = result.get("static", {})
    if static:
        lines += [
            "",
            f"Installed package (ours): {fmt(static.get('package_mb'), 2)} MB; `import liter_llm`: "
            f"{fmt(static.get('import_ms'))} ms net of the interpreter.",
        ]
    notes = result.get("notes", [])
    if notes:
        lines += ["", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


def targets(result: dict[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    med = result["medians"]
    o, f, lt = med.get("ours", {}), med.get("floor", {}), med.get("litellm", {})
    static = result.get("static", {})

    def rel(a: float | None, b: float | None) -> float | None:
        return a / b if a is not None and b else None

    rows = []

    def row(label: str, value: float | None, goal: float, higher: bool, unit: str = "x") -> None:
        ok = None if value is None else (value >= goal if higher else value <= goal)
        shown = "-" if value is None else f"{value:.2f}{unit}"
        rows.append((label, shown, f"{'>=' if higher else '<='} {goal}{unit}", ok))

    row("added p50 vs floor", rel(o.get("added_p50_us"), f.get("added_p50_us")), TARGETS["added_p50"], False)
    row("req/s vs floor", rel(o.get("rps_load"), f.get("rps_load")), TARGETS["rps"], True)
    row("req/s vs LiteLLM", rel(o.get("rps_load"), lt.get("rps_load")), TARGETS["rps_vs_litellm"], True)
    row("CPU/req vs floor", rel(o.get("cpu_us_req"), f.get("cpu_us_req")), TARGETS["cpu_per_request"], False)
    row("CPU per streamed chunk", o.get("cpu_us_chunk"), TARGETS["cpu_per_chunk_us"], False, " µs")
    row("RSS under load", o.get("rss_load_mb"), TARGETS["rss_load_mb"], False, " MB")
    row("installed package", static.get("package_mb"), TARGETS["package_mb"], False, " MB")
    row("import liter_llm (net)", static.get("import_ms"), TARGETS["import_ms"], False, " ms")
    return rows


def interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def save(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")


# --------------------------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxies", default=",".join(PROXIES), help="comma list of floor,ours,litellm")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--conns", type=int, default=64, help="connections of the load run (default 64)")
    ap.add_argument("--stream-conns", type=int, default=4, help="concurrent streams (default 4)")
    ap.add_argument("--duration-1", type=float, default=3.0, help="seconds of the 1-connection run")
    ap.add_argument("--duration-load", type=float, default=5.0, help="seconds of the load run")
    ap.add_argument("--duration-stream", type=float, default=3.0, help="seconds of the stream run")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 repeat of 1-s runs, fewer import runs")
    ap.add_argument("--import-runs", type=int, default=9)
    ap.add_argument("--no-static", action="store_true", help="skip package size and import time")
    ap.add_argument("--out", type=Path, default=None, help="result JSON (default benches/results/proxy-<time>.json)")
    ap.add_argument("--ours-venv", type=Path, default=None, help=f"venv of ours (default {OURS_VENV})")
    args = ap.parse_args()
    ours_venv = (args.ours_venv or OURS_VENV).resolve()
    ours_py = ours_venv / "bin" / "python"
    if args.quick:
        args.repeats, args.duration_1, args.duration_load, args.duration_stream = 1, 1.0, 1.0, 1.0
        args.import_runs = 3
    wanted = [p.strip() for p in args.proxies.split(",") if p.strip()]
    unknown = set(wanted) - set(PROXIES)
    if unknown:
        sys.exit(f"unknown proxies: {sorted(unknown)}")
    if not ours_py.exists():
        sys.exit(f"{ours_py} missing: run OURS_WHEEL=... bash benches/setup_proxy_peers.sh")
    notes: list[str] = []
    if "litellm" in wanted and not litellm_bin().exists():
        notes.append(f"LiteLLM skipped: {litellm_bin()} missing (run benches/setup_proxy_peers.sh)")
        wanted.remove("litellm")

    # A SIGTERM (a `timeout`, a CI stop) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, interrupt)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_path = args.out or HERE / "results" / f"proxy-{stamp}.json"
    log_dir = HERE / "results" / "logs" / f"proxy-{stamp}"
    print("[bench] building benches/proxy_floor (release) ...", flush=True)
    floor_bin, load_bin = build_floor()

    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "args": vars(args) | {"out": str(out_path), "ours_venv": str(ours_venv)},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "repeats": args.repeats,
        "runs": [],
        "auth": {},
        "rss_idle_mb": {},
        "notes": notes,
    }
    pins = ours_venv / ".bench-proxy-pins"
    result["ours_origin"] = pins.read_text().strip() if pins.exists() else "unknown (not from setup_proxy_peers.sh)"
    versions = VENVS / "proxy-versions.json"
    if versions.exists():
        result["versions"] = json.loads(versions.read_text())

    procs: dict[str, Proc] = {}
    keys: dict[str, str] = {}
    upstream_cmd = [str(ours_py), "-m", "liter_llm.testing", "serve", "--port", "0"]
    upstream_cmd += ["--stream-chunks", str(STREAM_CHUNKS), "--no-record"]
    upstream = Proc("upstream", upstream_cmd, log_dir, clean_env())
    try:
        upstream.wait_line(60)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "proxy.yaml"
            write_config(config, upstream.base_url)
            for name in wanted:
                print(f"[bench] starting {name} ...", flush=True)
                procs[name] = start_proxy(name, floor_bin, ours_py, config, upstream.base_url, log_dir)
                keys[name], result["auth"][name] = virtual_key(procs[name])
                if result["auth"][name].startswith(MASTER_ONLY):
                    banner = f"NOTE: {name} runs with the master key only, no virtual key: {result['auth'][name]}"
                    print("!" * 100 + f"\n{banner}\n" + "!" * 100, flush=True)
                    notes.append(banner)
                    result["auth"][name] = MASTER_ONLY
                # Idle RSS: after start-up and a few requests (lazy set-up done), before the measured runs.
                settle = 3.0 if name == "litellm" else 0.5  # LiteLLM's first requests are slow (lazy imports)
                load(load_bin, procs[name].port, keys[name], {}, conns=1, duration=settle, warmup=5, prompt=PROMPT)
                result["rss_idle_mb"][name] = procs[name].rss_kb() / 1024
            for r in range(args.repeats):
                order = wanted[r % len(wanted) :] + wanted[: r % len(wanted)]
                rep: dict[str, Any] = {"direct": run_direct(upstream, load_bin, args)}
                for name in order:
                    print(f"[bench] repeat {r + 1}/{args.repeats}: {name}", flush=True)
                    rep[name] = run_proxy(name, procs[name], keys[name], upstream, load_bin, args)
                result["runs"].append(rep)
                save(out_path, result)  # what is measured so far survives an interrupted run
    finally:
        for proc in procs.values():
            proc.stop()
        upstream.stop()

    result["direct_p50_us"] = median([rep["direct"]["latency"]["p50_us"] for rep in result["runs"]])
    result["direct_p99_us"] = median([rep["direct"]["latency"]["p99_us"] for rep in result["runs"]])
    result["medians"] = {}
    for name in wanted:
        per_repeat = [figures(rep[name], rep["direct"]) for rep in result["runs"]]
        result["medians"][name] = {k: median([f[k] for f in per_repeat]) for k in per_repeat[0]}
        result["medians"][name]["errors"] = sum(f["errors"] for f in per_repeat)
        errors = [rep[name][w]["first_error"] for rep in result["runs"] for w in ("latency", "load", "stream")]
        if any(errors):
            notes.append(f"{name}: first error: {next(e for e in errors if e)}")

    if not args.no_static:
        print("[bench] package size and import time ...", flush=True)
        size = measure_size(str(ours_py), "liter-llm", "liter_llm")
        imp = measure_import(str(ours_py), "import liter_llm", "liter_llm", args.import_runs)
        result["static"] = {
            "size": size,
            "import": imp,
            "package_mb": size["package_bytes"] / 1e6 if "package_bytes" in size else None,
            "import_ms": imp["net_ms"],
        }

    result["markdown"] = render(result)
    save(out_path, result)
    print()
    print(result["markdown"])
    print(f"\n[bench] wrote {out_path} (logs in {log_dir})")


if __name__ == "__main__":
    main()
