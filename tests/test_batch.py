"""Batch runner: chat_batch, chat_as_completed, chat_batch_sync and progress, over real HTTP."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import scenario_server as ss
from conftest import MODEL, eventually, user
from liter_llm import (
    BadRequestError,
    ChatBatchIterator,
    ChatCompletionResponse,
    LlmError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)
from liter_llm.testing import MockServer


def requests_for(n: int, prefix: str = "item") -> list[dict]:
    return [{"model": MODEL, "messages": user(f"{prefix} {i}")} for i in range(n)]


def text(response: ChatCompletionResponse) -> str | None:
    return response.choices[0].message.content


def contents(requests: list) -> list[str]:
    """The user message of each recorded request (``item i`` / ``marker``), in arrival order."""
    return [(r["json"] if isinstance(r, dict) else r.json)["messages"][0]["content"] for r in requests]


async def hang_unless_marker(request, rec, ctl):
    """Scenario handler: the ``marker`` request is answered, every other one hangs."""
    handler = ss.echo() if contents([rec]) == ["marker"] else ss.hang()
    return await handler(request, rec, ctl)


async def marker_round_trip(client) -> None:
    """One more call on the batch's client, answered after anything the batch still had in the pipe.

    Stands in for "wait a while and check nothing more arrives": whatever a stopped batch would
    still send goes out through the same runtime before or alongside this call.
    """
    r = await client.chat(model=MODEL, messages=user("marker"))
    assert text(r) == "marker"


@pytest.fixture(scope="module")
def slow_server():
    """A mock provider answering after 100 ms, for cancellation tests."""
    with MockServer(latency_ms=100) as server:
        yield server


@pytest.fixture
def slow(slow_server):
    slow_server.reset()
    yield slow_server
    slow_server.reset()


# --------------------------------------------------------------------------------------------
# chat_batch
# --------------------------------------------------------------------------------------------


async def test_results_come_back_in_input_order(client, mock_server):
    results = await client.chat_batch(requests_for(300), max_concurrency=16)
    assert [text(r) for r in results] == [f"item {i}" for i in range(300)]
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    assert mock_server.request_count == 300


async def test_failed_items_are_their_exception_in_place(client, mock_server):
    # With one worker, requests reach the server in input order, so faults hit known items.
    mock_server.push_faults([{}, {"status": 400}, {}, {"status": 404}, {"status": 500}])
    results = await client.chat_batch(requests_for(8), max_concurrency=1)
    assert isinstance(results[1], BadRequestError)
    assert isinstance(results[3], NotFoundError)
    assert isinstance(results[4], ServerError)
    assert results[4].status_code == 500 and results[4].request_id.startswith("req_mock_")
    for i in (0, 2, 5, 6, 7):
        assert text(results[i]) == f"item {i}"


async def test_mixed_failures_under_concurrency_keep_their_slots(client, mock_server):
    mock_server.push_faults([{"status": 400}] * 5 + [{}] * 20 + [{"status": 503}] * 5)
    results = await client.chat_batch(requests_for(100), max_concurrency=8)
    errors = [r for r in results if isinstance(r, LlmError)]
    assert len(errors) == 10
    for i, r in enumerate(results):
        if not isinstance(r, LlmError):
            assert text(r) == f"item {i}"


async def test_return_exceptions_false_raises_the_first_error_and_cancels_the_rest(client, mock_server):
    mock_server.push_faults([{}, {}, {"status": 429}])
    with pytest.raises(RateLimitedError):
        await client.chat_batch(requests_for(50), max_concurrency=1, return_exceptions=False)
    await marker_round_trip(client)
    sent = contents(mock_server.requests())
    # The failing third request, at most one more that was already on its way, then our marker.
    assert sent[:3] == ["item 0", "item 1", "item 2"] and sent[-1] == "marker" and len(sent) <= 5, sent


async def test_return_exceptions_false_returns_all_results_when_nothing_fails(client):
    results = await client.chat_batch(requests_for(5), return_exceptions=False)
    assert [text(r) for r in results] == [f"item {i}" for i in range(5)]


async def test_each_item_is_retried_as_configured(make_client, mock_server):
    retrying = make_client(mock_server.base_url, max_retries=2)
    mock_server.push_faults([{"status": 500, "retry_after_ms": 10}, {"status": 429, "retry_after_ms": 10}])
    results = await retrying.chat_batch(requests_for(6), max_concurrency=1)
    assert [text(r) for r in results] == [f"item {i}" for i in range(6)]
    assert mock_server.request_count == 8


async def test_a_bad_item_fails_before_anything_is_sent(client, mock_server):
    bad = requests_for(3)
    bad[2] = {"model": MODEL}
    with pytest.raises(ValueError, match=r"^requests\[2\]: messages is required"):
        await client.chat_batch(bad)
    bad[2] = {"model": MODEL, "messages": user("x"), "temperature": "hot"}
    with pytest.raises(TypeError, match=r"^requests\[2\]: temperature must be a number"):
        client.chat_batch(bad)
    with pytest.raises(TypeError, match=r"requests\[1\] must be a dict, not str"):
        client.chat_batch([bad[0], "hello"])
    with pytest.raises(TypeError, match="requests must be a list"):
        client.chat_batch("hello")
    with pytest.raises(ValueError, match="max_concurrency must be >= 1"):
        client.chat_batch(requests_for(1), max_concurrency=0)
    with pytest.raises(TypeError, match="progress must be a bool or a str"):
        client.chat_batch(requests_for(1), progress=3)
    with pytest.raises(ValueError, match=r"requests\[0\]: .*chat_stream"):
        client.chat_batch([{"model": MODEL, "messages": user("x"), "stream": True}])
    assert mock_server.request_count == 0


async def test_empty_batch_and_tuples_and_generators(client):
    assert await client.chat_batch([]) == []
    results = await client.chat_batch(tuple(requests_for(2)))
    assert [text(r) for r in results] == ["item 0", "item 1"]
    results = await client.chat_batch(r for r in requests_for(2, "gen"))
    assert [text(r) for r in results] == ["gen 0", "gen 1"]


async def test_per_item_parameters_and_headers_are_sent(client, mock_server):
    reqs = [
        {"model": MODEL, "messages": user("a"), "max_tokens": 1, "extra_headers": {"x-tag": "first"}},
        {"model": "other-model", "messages": user("b"), "extra_body": {"seed": 7}},
    ]
    results = await client.chat_batch(reqs, max_concurrency=1)
    assert results[1].model == "other-model"
    sent = mock_server.requests()
    assert sent[0]["headers"]["x-tag"] == "first" and sent[0]["json"]["max_tokens"] == 1
    assert sent[1]["json"]["seed"] == 7 and "x-tag" not in sent[1]["headers"]


async def test_cancelling_the_batch_aborts_requests_in_flight(scenario, scenario_client):
    scenario.set_default(ss.hang())
    task = asyncio.create_task(scenario_client.chat_batch(requests_for(100), max_concurrency=4))
    assert await scenario.async_wait_for_requests(4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The four requests in flight are dropped, and no worker starts another one.
    assert await scenario.async_wait_for_disconnects(4), f"only {scenario.disconnects} of 4 closed"
    scenario.set_default(ss.echo())
    await marker_round_trip(scenario_client)
    assert contents(scenario.requests)[4:] == ["marker"]
    assert scenario.disconnects == 4


async def test_batches_run_concurrently_with_other_calls(client):
    batch, single = await asyncio.gather(
        client.chat_batch(requests_for(50)), client.chat(model=MODEL, messages=user("alone"))
    )
    assert len(batch) == 50 and text(single) == "alone"


async def test_concurrency_bound_is_respected(client, slow):
    other = client.with_options(base_url=slow.base_url)
    started = time.monotonic()
    await other.chat_batch(requests_for(12), max_concurrency=4)
    elapsed = time.monotonic() - started
    assert elapsed >= 0.29  # 3 waves of 100 ms
    times = sorted(r["received_at"] for r in slow.requests())
    assert times[4] - times[0] >= 0.08  # the 5th request waited for a free worker


# --------------------------------------------------------------------------------------------
# chat_as_completed
# --------------------------------------------------------------------------------------------


async def test_as_completed_yields_every_index_once(client, mock_server):
    mock_server.push_faults([{}, {"status": 400}])
    seen: dict[int, object] = {}
    iterator = client.chat_as_completed(requests_for(40), max_concurrency=5)
    assert isinstance(iterator, ChatBatchIterator)
    async for index, result in iterator:
        assert index not in seen
        seen[index] = result
    assert sorted(seen) == list(range(40))
    errors = [i for i, r in seen.items() if isinstance(r, BadRequestError)]
    assert len(errors) == 1
    for i, r in seen.items():
        if i not in errors:
            assert text(r) == f"item {i}"
    stats = iterator.stats()
    assert stats["total"] == 40 and stats["done"] == 40 and stats["errors"] == 1
    assert stats["tokens"] > 0 and stats["latency_p50"] > 0 and stats["latency_p99"] >= stats["latency_p50"]
    with pytest.raises(StopAsyncIteration):
        await iterator.__anext__()


async def test_as_completed_yields_in_completion_order(client, mock_server):
    mock_server.push_faults([{"delay_ms": 300}, {}, {}])
    order = [i async for i, _ in client.chat_as_completed(requests_for(3), max_concurrency=3)]
    # The first request to arrive (whichever it is) consumed the delay fault and finished last.
    delayed = mock_server.requests()[0]["json"]["messages"][0]["content"]
    assert sorted(order) == [0, 1, 2] and delayed == f"item {order[-1]}"


async def test_breaking_out_cancels_the_rest(scenario, scenario_client):
    # The first two requests are answered, every later one hangs.
    scenario.script(ss.echo(), ss.echo())
    scenario.set_default(hang_unless_marker)
    got = []
    async for index, _result in scenario_client.chat_as_completed(requests_for(200), max_concurrency=4):
        got.append(index)
        if len(got) == 2:
            break
    gc.collect()
    assert await scenario.async_wait_for_disconnects(2)
    await marker_round_trip(scenario_client)
    # Every hanging request is dropped: 2 to 4 of them (the workers may have sent a replacement for
    # the 2 answered ones), and nothing after them.
    await eventually(lambda: scenario.disconnects == scenario.request_count - 3, what="every hanging request dropped")
    assert 2 <= scenario.disconnects <= 4, contents(scenario.requests)


async def test_as_completed_context_manager_and_aclose(client, slow):
    other = client.with_options(base_url=slow.base_url)
    async with other.chat_as_completed(requests_for(100), max_concurrency=2) as iterator:
        index, result = await iterator.__anext__()
        assert text(result) == f"item {index}"
    with pytest.raises(StopAsyncIteration):
        await iterator.__anext__()
    iterator2 = other.chat_as_completed(requests_for(100), max_concurrency=2)
    await iterator2.aclose()
    await marker_round_trip(other)
    sent = contents(slow.requests())
    assert sent[-1] == "marker" and len(sent) - 1 <= 6, sent


async def test_as_completed_validates_up_front(client, mock_server):
    with pytest.raises(ValueError, match=r"requests\[1\]"):
        client.chat_as_completed([requests_for(1)[0], {"messages": user("x")}])
    assert mock_server.request_count == 0


async def test_a_cancelled_anext_does_not_lose_the_batch(client, slow):
    other = client.with_options(base_url=slow.base_url)
    iterator = other.chat_as_completed(requests_for(4), max_concurrency=4)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(iterator.__anext__(), 0.01)
    got = sorted([i async for i, _ in iterator])
    assert len(got) >= 3 and set(got) <= {0, 1, 2, 3}


async def test_two_iterators_on_one_client(client):
    async def drain(prefix: str) -> list[str]:
        out = []
        async for i, r in client.chat_as_completed(requests_for(20, prefix)):
            assert text(r) == f"{prefix} {i}"
            out.append(text(r))
        return out

    a, b = await asyncio.gather(drain("a"), drain("b"))
    assert len(a) == len(b) == 20


# --------------------------------------------------------------------------------------------
# chat_batch_sync
# --------------------------------------------------------------------------------------------


def test_sync_batch_from_plain_code(client, mock_server):
    mock_server.push_faults([{}, {"status": 400}])
    results = client.chat_batch_sync(requests_for(30), max_concurrency=1)
    assert isinstance(results[1], BadRequestError)
    assert [text(r) for i, r in enumerate(results) if i != 1] == [f"item {i}" for i in range(30) if i != 1]
    with pytest.raises(BadRequestError):
        mock_server.push_faults([{"status": 400}])
        client.chat_batch_sync(requests_for(3), max_concurrency=1, return_exceptions=False)


def test_sync_batch_from_threads(client):
    out: dict[int, list] = {}

    def work(n: int) -> None:
        out[n] = client.chat_batch_sync(requests_for(20, f"t{n}"))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(out) == [0, 1, 2, 3]
    for n, results in out.items():
        assert [text(r) for r in results] == [f"t{n} {i}" for i in range(20)]


def test_sync_batch_releases_the_gil(client, slow):
    other = client.with_options(base_url=slow.base_url)
    ticks = []
    stop = threading.Event()

    def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.005)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        other.chat_batch_sync(requests_for(8), max_concurrency=2)
    finally:
        stop.set()
        t.join()
    assert len(ticks) > 30


async def test_sync_batch_validates_before_sending(client, mock_server):
    with pytest.raises(ValueError, match=r"requests\[0\]: model is required"):
        client.chat_batch_sync([{"messages": user("x")}])
    assert mock_server.request_count == 0


def test_ctrl_c_cancels_a_sync_batch_cleanly(tmp_path):
    script = tmp_path / "long_batch.py"
    script.write_text(
        textwrap.dedent(
            """
            import signal, sys, threading, time
            from liter_llm import LlmClient
            from liter_llm.testing import MockServer

            # Started from a background job, this process would inherit SIGINT ignored.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            server = MockServer(latency_ms=60_000)
            client = LlmClient(api_key="k", base_url=server.base_url, max_retries=0)
            reqs = [{"model": "m", "messages": [{"role": "user", "content": str(i)}]} for i in range(50)]

            def report_in_flight():
                while server.request_count < 10:
                    time.sleep(0.01)
                print("in flight", flush=True)

            threading.Thread(target=report_in_flight, daemon=True).start()
            started = time.monotonic()
            try:
                client.chat_batch_sync(reqs, max_concurrency=10)
            except KeyboardInterrupt:
                print(f"interrupted after {time.monotonic() - started:.2f}s", flush=True)
                raise
            print("finished?!", flush=True)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "in flight"  # all 10 workers wait on a 60 s answer
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=40)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    assert "interrupted after" in out and "finished" not in out
    assert took < 30  # far below the 60 s the requests in flight would take: nothing waited for them
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert proc.returncode in (-signal.SIGINT, 130)


# --------------------------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------------------------


async def test_progress_off_a_terminal_logs_lines(client, caplog):
    caplog.set_level(logging.INFO, logger="liter_llm")
    await client.chat_batch(requests_for(5), progress=True)
    lines = [r.getMessage() for r in caplog.records if r.name == "liter_llm"]
    assert any(line.startswith("chat_batch finished: 5/5 done (100%)") for line in lines), lines


async def test_progress_logs_periodically_with_a_label(client, slow, caplog, monkeypatch):
    monkeypatch.setenv("LITER_LLM_PROGRESS_LOG_SECS", "0.1")
    caplog.set_level(logging.INFO, logger="liter_llm")
    other = client.with_options(base_url=slow.base_url)
    mock_fault = [{"status": 400}]
    slow.push_faults(mock_fault)
    results = await other.chat_batch(requests_for(5), max_concurrency=1, progress="my job")
    assert isinstance(results[0], BadRequestError)
    lines = [r.getMessage() for r in caplog.records if r.name == "liter_llm"]
    periodic = [line for line in lines if line.startswith("my job progress: ")]
    assert len(periodic) >= 2, lines
    final = [line for line in lines if line.startswith("my job finished: 5/5 done")]
    assert len(final) == 1 and "1 err" in final[0] and "req/s" in final[0]


async def test_progress_of_a_cancelled_batch_says_stopped(client, slow, caplog):
    caplog.set_level(logging.INFO, logger="liter_llm")
    other = client.with_options(base_url=slow.base_url)
    async for _ in other.chat_as_completed(requests_for(50), max_concurrency=2, progress=True):
        break
    gc.collect()

    def stopped() -> bool:
        lines = [r.getMessage() for r in caplog.records if r.name == "liter_llm"]
        return any(line.startswith("chat_as_completed stopped: ") for line in lines)

    await eventually(stopped, what="the 'chat_as_completed stopped' log line")


def test_progress_draws_a_bar_on_a_terminal(tmp_path):
    pty = pytest.importorskip("pty")
    script = tmp_path / "bar.py"
    script.write_text(
        textwrap.dedent(
            """
            from liter_llm import LlmClient
            from liter_llm.testing import MockServer

            with MockServer(latency_ms=30) as server:
                client = LlmClient(api_key="k", base_url=server.base_url)
                reqs = [{"model": "m", "messages": [{"role": "user", "content": str(i)}]} for i in range(40)]
                client.chat_batch_sync(reqs, max_concurrency=4, progress=True)
            """
        )
    )
    output = bytearray()

    def read(fd: int) -> bytes:
        data = os.read(fd, 4096)
        output.extend(data)
        return data

    pty.spawn([sys.executable, str(script)], read)
    text_out = output.decode(errors="replace")
    assert "chat_batch [" in text_out
    assert "40/40 100%" in text_out and "req/s" in text_out
    assert "\x1b[2K" in text_out


async def test_default_workers_follow_the_clients_concurrency_cap(make_client, slow):
    capped = make_client(slow.base_url, max_concurrency=2)
    started = time.monotonic()
    await capped.chat_batch(requests_for(6))
    assert time.monotonic() - started >= 0.29  # 3 waves of 100 ms
