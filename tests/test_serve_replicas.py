"""Three `liter-llm serve` replicas on one PostgreSQL key store and one Redis, as behind a load
balancer: a key made on one works on all, one budget holds across all of them under concurrency,
per-key limits count every replica's requests, the database's spend is the sum of what
succeeded, and a replica restarted mid-run loses nothing. Upstream is the mock provider, counting
what reaches it; PostgreSQL and Redis are real servers the fixtures start."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from liter_llm.testing import MockServer
from serve_support import call, config, start, stop
from test_serve_keys import MASTER, chat_body, generate, info

REPLICAS = 3


@pytest.fixture
def upstream():
    # Slow enough that requests are in flight when a replica is stopped.
    with MockServer(latency_ms=50) as server:
        yield server


@pytest.fixture
def shared_config(tmp_path, upstream, postgres_server, redis_server) -> str:
    general = f"master_key: {MASTER}\ndatabase_url: {postgres_server.url}\nredis_url: {redis_server.url}"
    return config(tmp_path / "config.yaml", upstream.base_url, general=general)


@pytest.fixture
def replicas(shared_config):
    """Three running replicas: [process, base URL] each (a test may replace one)."""
    running = [list(start("--config", shared_config)) for _ in range(REPLICAS)]
    yield running
    for proc, _ in running:
        stop(proc)


def chat(base: str, key: str):
    """One chat request (its cost estimate close to its cost: a small max_tokens); a replica
    that is not listening answers status None."""
    body = {**chat_body("same prompt"), "max_tokens": 8}
    try:
        return call("POST", f"{base}/v1/chat/completions", key, body)
    except OSError as gone:
        return None, {}, str(gone)


def stop_gracefully(proc) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0
    stop(proc)


def test_one_budget_holds_across_replicas_and_a_restart_loses_no_spend(
    replicas, shared_config, upstream, postgres_server
):
    bases = [base for _, base in replicas]
    probe = generate(bases[0])
    assert chat(bases[1], probe)[0] == 200
    # Spent on replica 1, seen on replica 2.
    cost = info(bases[2], probe)["spend"]
    assert cost > 0
    # Room for 9.5 requests: the 10th is admitted (spend 9 x cost), then none, on any replica.
    key = generate(bases[1], max_budget=cost * 9.5)
    token = info(bases[0], key)["token"]
    before = upstream.request_count

    outcomes: list[int | None] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        status = chat(bases[i % REPLICAS], key)[0]
        with lock:
            outcomes.append(status)

    with ThreadPoolExecutor(max_workers=24) as pool:
        futures = [pool.submit(one, i) for i in range(150)]
        # Mid-run, once requests reach the provider: replica 2 stops (its requests in flight
        # finish and their spend is written) and starts again on a new port.
        deadline = time.monotonic() + 60
        while upstream.request_count == before and not all(f.done() for f in futures):
            assert time.monotonic() < deadline, "no request reached the provider"
            time.sleep(0.005)
        stop_gracefully(replicas[2][0])
        replicas[2][:] = start("--config", shared_config)
        bases[2] = replicas[2][1]
        for future in futures:
            future.result()

    ok = outcomes.count(200)
    assert 1 <= ok <= 10, outcomes
    assert set(outcomes) <= {200, 400, None}, outcomes
    # Requests refused while others held reservations may go once those settle: never past 10.
    for attempt in range(30):
        status = chat(bases[attempt % REPLICAS], key)[0]
        if status != 200:
            assert status == 400
            break
        ok += 1
        assert ok <= 10
    assert ok == 10
    assert upstream.request_count - before == 10, "refused requests never reach the provider"
    for base in bases:
        shown = info(base, key)
        assert shown["spend"] == pytest.approx(10 * cost) and shown["in_flight"] == 0
    status, _, listed = call("GET", f"{bases[2]}/key/list?return_full_object=true", MASTER)
    assert status == 200
    assert [k["spend"] for k in listed["keys"] if k["token"] == token] == [pytest.approx(10 * cost)]

    for proc, _ in replicas:
        stop_gracefully(proc)
    in_database = float(postgres_server.query(f"SELECT spend FROM liter_llm_keys WHERE token = '{token}'"))
    assert in_database == pytest.approx(10 * cost), "every replica's spend reached the database once"


def test_per_key_limits_and_changes_count_every_replica(replicas):
    bases = [base for _, base in replicas]
    key = generate(bases[0], rpm_limit=4)
    statuses = [chat(bases[i % REPLICAS], key)[0] for i in range(4)]
    assert statuses == [200, 200, 200, 200]
    status, headers, refused = chat(bases[1], key)
    assert status == 429 and refused["error"]["type"] == "rate_limit_error"
    assert 1 <= int(headers["retry-after"]) <= 60
    # A key blocked on one replica is refused by the others.
    assert call("POST", f"{bases[2]}/key/update", MASTER, {"key": key, "blocked": True})[0] == 200
    deadline = time.monotonic() + 30
    while chat(bases[0], key)[0] != 401:
        assert time.monotonic() < deadline, "replica 0 never saw the key blocked"
        time.sleep(0.01)
    # A key deleted on one replica is gone from all.
    assert call("POST", f"{bases[0]}/key/delete", MASTER, {"keys": [key]})[0] == 200
    deadline = time.monotonic() + 30
    while call("GET", f"{bases[1]}/key/info?key={key}", MASTER)[0] != 404:
        assert time.monotonic() < deadline, "replica 1 never saw the key deleted"
        time.sleep(0.01)


def test_a_redis_outage_is_answered_503_and_logged_when_it_begins_and_ends(shared_config, redis_server):
    proc, base = start("--config", shared_config)

    def settled(key: str) -> None:
        """Waits until the key's requests are settled: a settlement Redis misses logs too."""
        deadline = time.monotonic() + 30
        while info(base, key)["in_flight"]:
            assert time.monotonic() < deadline, "a request's hold was never settled"
            time.sleep(0.01)

    try:
        key = generate(base, max_budget=100.0)
        assert chat(base, key)[0] == 200
        for outage in range(2):
            settled(key)
            redis_server.kill()
            for _ in range(20 if outage == 0 else 5):
                status, headers, _ = chat(base, key)
                retry_after = {k.lower(): v for k, v in headers.items()}.get("retry-after")
                assert (status, retry_after) == (503, "1")
            if outage == 0:
                redis_server.start()
                deadline = time.monotonic() + 30
                while chat(base, key)[0] != 200:
                    assert time.monotonic() < deadline, "keys never worked again after Redis came back"
    finally:
        stop(proc)

    # One warning when each outage begins and one when the first ends, not one per request.
    lines = [line for line in proc.stderr_lines if "key counters:" in line]
    began = [line for line in lines if "answered 503 until it is back" in line]
    back = [line for line in lines if "answers again" in line]
    assert (len(began), len(back), len(lines)) == (2, 1, 3), proc.stderr_lines
    assert all(f"127.0.0.1:{redis_server.port}" in line for line in lines), lines


def test_a_key_store_outage_is_answered_503_and_logged_when_it_begins_and_ends(shared_config, postgres_server):
    proc, base = start("--config", shared_config)
    try:
        # Keys this replica has not loaded are looked up in the database.
        postgres_server.stop()
        for i in range(10):
            assert chat(base, f"sk-never-made-{i}")[0] == 503
        postgres_server.start()
        deadline = time.monotonic() + 30
        while chat(base, "sk-never-made")[0] != 401:
            assert time.monotonic() < deadline, "unknown keys were never refused again after the database came back"
    finally:
        stop(proc)

    began = [line for line in proc.stderr_lines if "answered 503 until it is back" in line]
    back = [line for line in proc.stderr_lines if "key store" in line and "answers again" in line]
    assert (len(began), len(back)) == (1, 1), proc.stderr_lines
    assert f"127.0.0.1:{postgres_server.port}" in began[0] + back[0], (began, back)
