"""Proxy replicas (issue 16): requests/s of 3 ``liter-llm serve`` replicas sharing one PostgreSQL key store and one
Redis, against 1 such replica and against 1 replica on its own SQLite file, in one run.

    make build && python3 benches/bench_replicas.py --repeats 3

Every setup serves the same config (one model group at one upstream, our mock provider in its own process) and is
driven through one virtual key with a budget and rpm/tpm limits (never binding), so each request is admitted and
settled on the key's counters: in process memory for SQLite, in Redis for the shared setups. The load is
``proxy-load`` (benches/proxy_floor) at 64 connections in all; with 3 replicas, three generators run at once, one per
replica, with a third of the connections each (as a load balancer would spread them). PostgreSQL and Redis are
throw-away servers started here (tests/pg_support.py, tests/redis_support.py). Prints each repeat and the medians:
total req/s, the replicas' CPU per request, Redis' CPU per request and the p50 under load. Stdlib only; the machine
has 2 cores, so 3 replicas share them with the generators, Redis and the upstream: the figure is what sharing costs
here, not what 3 hosts would serve.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import bench_proxy as bp  # noqa: E402
import pg_support  # noqa: E402
import redis_support  # noqa: E402
from bench_batch import proc_cpu  # noqa: E402

CONNS = 64
SETUPS = ("1 replica, SQLite", "1 replica, PG+Redis", "3 replicas, PG+Redis")


def write_config(path: Path, upstream: str, general: dict[str, Any]) -> None:
    bp.write_config(path, upstream)
    config = json.loads(path.read_text())
    config["general_settings"].update(general)
    path.write_text(json.dumps(config, indent=2) + "\n")


def key_for(base_url: str) -> str:
    request = urllib.request.Request(
        f"{base_url}/key/generate",
        data=json.dumps(bp.KEY_REQUEST).encode(),
        headers={"Authorization": f"Bearer {bp.MASTER_KEY}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())["key"]


def drive(load_bin: Path, replicas: list[bp.Proc], key: str, duration: float, redis_pid: int | None) -> dict[str, Any]:
    """64 connections spread over ``replicas`` for ``duration`` seconds; the run's figures."""
    results: list[dict[str, Any]] = [{} for _ in replicas]
    conns = CONNS // len(replicas)

    def one(i: int) -> None:
        opts = {"conns": conns, "duration": duration, "warmup": 2, "prompt": bp.PROMPT, "expect": bp.PROMPT}
        results[i] = bp.load(load_bin, replicas[i].port, key, {"proxy": replicas[i].proc.pid}, **opts)

    redis_before = proc_cpu(redis_pid) if redis_pid else 0.0
    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(replicas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    redis_cpu = proc_cpu(redis_pid) - redis_before if redis_pid else 0.0
    requests = sum(r["requests"] for r in results)
    return {
        "rps": sum(r["rps"] for r in results),
        "cpu_us_req": sum(r["watch"]["proxy"]["cpu_s"] for r in results) / requests * 1e6 if requests else None,
        "redis_us_req": redis_cpu / requests * 1e6 if requests and redis_pid else None,
        "p50_us": statistics.median(r["p50_us"] for r in results if r["p50_us"] is not None),
        "errors": sum(r["errors"] + r["warmup_errors"] for r in results),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--python", default=sys.executable, help="the Python with liter_llm installed (a release build)")
    args = ap.parse_args()

    _, load_bin = bp.build_floor()
    log = bp.scratch("bench-replicas-")
    upstream = bp.Proc(
        "upstream", [args.python, "-m", "liter_llm.testing", "serve", "--port", "0", "--no-record"], log, bp.clean_env()
    )
    procs: list[bp.Proc] = []
    with pg_support.PgServer() as pg, redis_support.RedisServer() as redis:
        try:
            upstream.wait_line(60)

            def replica(name: str, config: Path) -> bp.Proc:
                (log / name).mkdir()
                cmd = [args.python, "-m", "liter_llm", "serve", "--config", str(config), "--port", "0"]
                proc = bp.Proc("ours", cmd, log / name, bp.clean_env(XDG_DATA_HOME=str(log / name)))
                proc.wait_line(60)
                procs.append(proc)
                return proc

            local = log / "local.yaml"
            write_config(local, upstream.base_url, {"database_url": f"sqlite:///{log / 'keys.db'}"})
            shared = log / "shared.yaml"
            write_config(shared, upstream.base_url, {"database_url": pg.url, "redis_url": redis.url})
            alone = replica("alone", local)
            fleet = [replica(f"replica{i}", shared) for i in range(3)]
            runs = {
                SETUPS[0]: ([alone], key_for(alone.base_url), None),
                SETUPS[1]: (fleet[:1], None, redis.pid),
                SETUPS[2]: (fleet, None, redis.pid),
            }
            shared_key = key_for(fleet[0].base_url)
            measured: dict[str, list[dict[str, Any]]] = {name: [] for name in SETUPS}
            for repeat in range(args.repeats):
                order = SETUPS[repeat % 3 :] + SETUPS[: repeat % 3]
                for name in order:
                    replicas, key, redis_pid = runs[name]
                    got = drive(load_bin, replicas, key or shared_key, args.duration, redis_pid)
                    measured[name].append(got)
                    print(f"repeat {repeat + 1} {name:22} {json.dumps(got)}", flush=True)
            print()
            base = statistics.median(m["rps"] for m in measured[SETUPS[1]])
            header = ("setup", "req/s", "vs 1 shared", "CPU us/req", "redis us/req", "p50 ms")
            print("{:22} {:>8} {:>11} {:>10} {:>12} {:>7}".format(*header))
            for name in SETUPS:
                runs_of = measured[name]
                rps = statistics.median(m["rps"] for m in runs_of)
                cpu = statistics.median(m["cpu_us_req"] for m in runs_of if m["cpu_us_req"] is not None)
                redis_cpu = [m["redis_us_req"] for m in runs_of if m["redis_us_req"] is not None]
                shown_redis = f"{statistics.median(redis_cpu):12.1f}" if redis_cpu else f"{'-':>12}"
                p50 = statistics.median(m["p50_us"] for m in runs_of) / 1e3
                errors = sum(m["errors"] for m in runs_of)
                note = f"  ({errors} errors)" if errors else ""
                print(f"{name:22} {rps:8.0f} {rps / base:10.2f}x {cpu:10.1f} {shown_redis} {p50:7.2f}{note}")
        finally:
            for proc in procs:
                proc.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
