"""Concurrency: many requests at once, cancellation, several event loops and threads, interpreter exit."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, user
from liter_llm import LlmClient


def text_of(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


async def call(client, text: str = "hi", **kw):
    """Await a chat call inside a coroutine of our own (what most user code does)."""
    return await client.chat(model=MODEL, messages=user(text), **kw)


# --------------------------------------------------------------------------------------------
# Many requests
# --------------------------------------------------------------------------------------------


async def test_500_concurrent_requests_each_get_their_own_answer(client, mock_server):
    tags = [f"request {i} {uuid.uuid4().hex}" for i in range(500)]
    results = await asyncio.gather(*(client.chat(model=MODEL, messages=user(t)) for t in tags))
    assert [r.choices[0].message.content for r in results] == tags
    assert len({r.id for r in results}) == 500
    assert mock_server.request_count == 500
    sent = sorted(req["json"]["messages"][0]["content"] for req in mock_server.requests())
    assert sent == sorted(tags)


async def test_concurrent_requests_against_an_independent_server(scenario, scenario_client):
    tags = [f"ticket-{i}-{uuid.uuid4().hex[:8]}" for i in range(100)]
    results = await asyncio.gather(*(scenario_client.chat(model=MODEL, messages=user(t)) for t in tags))
    assert [r.choices[0].message.content for r in results] == tags


async def test_mixed_streams_and_requests_with_some_failures(mock_server, client):
    mock_server.push_faults([{}, {"status": 400}, {}, {"status": 404}])

    async def call(i: int):
        if i % 2:
            stream = await client.chat_stream(model=MODEL, messages=user(f"s{i}"))
            return text_of([c async for c in stream])
        return (await client.chat(model=MODEL, messages=user(f"c{i}"))).choices[0].message.content

    results = await asyncio.gather(*(call(i) for i in range(40)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert sorted(type(e).__name__ for e in errors) == ["BadRequestError", "NotFoundError"]
    for i, r in enumerate(results):
        if not isinstance(r, BaseException):
            assert r == (f"s{i}" if i % 2 else f"c{i}")


# --------------------------------------------------------------------------------------------
# Cancellation
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["chat", "chat_stream"])
async def test_cancelling_a_request_returns_at_once_and_drops_the_connection(scenario, scenario_client, method):
    scenario.script(ss.hang())

    async def pending():
        return await getattr(scenario_client, method)(model=MODEL, messages=user("hi"))

    task = asyncio.create_task(pending())
    assert await scenario.async_wait_for_requests(1, 10)

    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 5  # the server would hang until the test ends
    assert await scenario.async_wait_for_disconnects(1, 5), "the server never saw the connection close"


async def test_wait_for_timeout_cancels_the_request(scenario, scenario_client):
    scenario.script(ss.hang())
    start = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(scenario_client.chat(model=MODEL, messages=user("hi")), 0.5)
    assert time.monotonic() - start < 10  # far below the client's own 20 s timeout
    assert await scenario.async_wait_for_disconnects(1, 5)


async def test_50_cancelled_requests_finish_promptly_and_the_client_keeps_working(scenario, scenario_client):
    scenario.script(*[ss.hang() for _ in range(50)])
    tasks = [asyncio.create_task(call(scenario_client, f"r{i}")) for i in range(50)]
    assert await scenario.async_wait_for_requests(50, 15)

    start = time.monotonic()
    for t in tasks:
        t.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert time.monotonic() - start < 10  # far below the client's own 20 s timeout
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert await scenario.async_wait_for_disconnects(50, 10), f"only {scenario.disconnects} of 50 closed"

    r = await scenario_client.chat(model=MODEL, messages=user("still alive"))
    assert r.choices[0].message.content == "still alive"
    rs = await asyncio.gather(*(scenario_client.chat(model=MODEL, messages=user(f"after {i}")) for i in range(20)))
    assert [x.choices[0].message.content for x in rs] == [f"after {i}" for i in range(20)]


async def test_cancelling_during_retry_backoff_stops_further_attempts(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=3)
    scenario.set_default(ss.error_response(503, "busy", type="server_error", headers={"Retry-After": "30"}))
    task = asyncio.create_task(call(client))
    assert await scenario.async_wait_for_requests(1, 10)
    # The 503 has been answered: the client is reading it or already in its 30 s backoff.
    assert await asyncio.to_thread(scenario.requests[0].finished.wait, 10)

    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 5  # far below the 30 s backoff
    # A later call on the same client is the first request after the cancelled one: no retry.
    scenario.set_default(ss.echo())
    r = await client.chat(model=MODEL, messages=user("after"))
    assert r.choices[0].message.content == "after"
    assert [rec.json["messages"][0]["content"] for rec in scenario.requests][1:] == ["after"]


async def test_cancelling_a_task_that_is_reading_a_stream(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.1))
    got: list = []

    async def consume() -> None:
        stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
        async for c in stream:
            got.append(c)

    task = asyncio.create_task(consume())
    while len(got) < 3:
        await asyncio.sleep(0.02)
    start = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - start < 5  # the stream would go on for 20 s
    assert await scenario.async_wait_for_disconnects(1, 5)


async def test_stream_cancel_ends_iteration_and_closes_the_connection(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.05))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    await stream.__anext__()
    stream.cancel()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert await scenario.async_wait_for_disconnects(1, 3)
    stream.cancel()  # idempotent


async def test_stream_aclose_ends_iteration_and_closes_the_connection(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.05))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    await stream.__anext__()
    await stream.aclose()
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()
    assert await scenario.async_wait_for_disconnects(1, 3)
    await stream.aclose()  # idempotent


async def test_leaving_async_with_early_closes_the_connection(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.05))
    async with await scenario_client.chat_stream(model=MODEL, messages=user("hi")) as stream:
        async for _ in stream:
            break
    assert await scenario.async_wait_for_disconnects(1, 3)


async def test_breaking_out_and_dropping_the_stream_closes_the_connection(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.05))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    n = 0
    async for _ in stream:
        n += 1
        if n == 2:
            break
    del stream
    gc.collect()
    assert await scenario.async_wait_for_disconnects(1, 3)


async def test_an_unread_dropped_stream_closes_the_connection(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.05))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    del stream
    gc.collect()
    assert await scenario.async_wait_for_disconnects(1, 3)


async def test_an_exception_inside_async_with_closes_the_stream(scenario, scenario_client):
    scenario.script(ss.steady_stream(["tick "] * 200, interval=0.05))

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with await scenario_client.chat_stream(model=MODEL, messages=user("hi")) as stream:
            await stream.__anext__()
            raise Boom()
    assert await scenario.async_wait_for_disconnects(1, 3)


# --------------------------------------------------------------------------------------------
# Event loops and threads
# --------------------------------------------------------------------------------------------


def test_one_client_across_two_asyncio_run_calls(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0, timeout=20)

    async def once(text: str) -> str:
        r = await client.chat(model=MODEL, messages=user(text))
        return r.choices[0].message.content

    async def streamed(text: str) -> str:
        stream = await client.chat_stream(model=MODEL, messages=user(text))
        return text_of([c async for c in stream])

    assert asyncio.run(once("first loop")) == "first loop"
    assert asyncio.run(once("second loop")) == "second loop"
    assert asyncio.run(streamed("third loop streamed")) == "third loop streamed"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to count open files")
def test_many_asyncio_run_calls_do_not_leak_loops_or_sockets(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url)

    async def one(i: int) -> str:
        response = await client.chat(model=MODEL, messages=user(f"run {i}"))
        return response.choices[0].message.content

    def open_files() -> int:
        gc.collect()
        return len(os.listdir("/proc/self/fd"))

    assert asyncio.run(one(0)) == "run 0"
    before = open_files()
    for i in range(1, 150):
        assert asyncio.run(one(i)) == f"run {i}"
    assert open_files() <= before + 4


def test_a_client_created_inside_a_finished_loop_works_in_the_next(mock_server):
    async def make() -> LlmClient:
        c = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0, timeout=20)
        await c.chat(model=MODEL, messages=user("warm up"))
        return c

    client = asyncio.run(make())
    r = asyncio.run(call(client, "new loop"))
    assert r.choices[0].message.content == "new loop"


def test_chat_calls_work_directly_with_asyncio_run(mock_server):
    """`chat()` is declared `async def`: its result must be usable wherever a coroutine is."""
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0, timeout=20)
    r = asyncio.run(client.chat(model=MODEL, messages=user("direct")))
    assert r.choices[0].message.content == "direct"


async def test_chat_calls_work_directly_with_create_task(client):
    task = asyncio.create_task(client.chat(model=MODEL, messages=user("as a task")))
    r = await task
    assert r.choices[0].message.content == "as a task"
    stask = asyncio.create_task(client.chat_stream(model=MODEL, messages=user("stream task")))
    stream = await stask
    assert text_of([c async for c in stream]) == "stream task"


async def test_a_chat_call_can_be_created_before_it_is_awaited_in_another_task(client):
    pending = client.chat(model=MODEL, messages=user("made early"))

    async def later():
        return await pending

    r = await asyncio.create_task(later())
    assert r.choices[0].message.content == "made early"


def test_one_client_from_several_threads_each_with_its_own_loop(mock_server):
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0, timeout=20)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    async def work(t: int) -> list[str]:
        async def one(i: int) -> str:
            if i % 3 == 0:
                stream = await client.chat_stream(model=MODEL, messages=user(f"thread {t} call {i}"))
                return text_of([c async for c in stream])
            r = await client.chat(model=MODEL, messages=user(f"thread {t} call {i}"))
            return r.choices[0].message.content

        return list(await asyncio.gather(*(one(i) for i in range(15))))

    def run(t: int) -> None:
        try:
            results[t] = asyncio.run(work(t))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not any(th.is_alive() for th in threads)
    assert errors == []
    assert results == {t: [f"thread {t} call {i}" for i in range(15)] for t in range(4)}


async def test_a_request_from_another_thread_completes_while_this_loop_is_blocked(mock_server):
    """Answers go to the loop that awaited them, not to the loop that first used the client."""
    client = LlmClient(api_key=API_KEY, base_url=mock_server.base_url, max_retries=0, timeout=20)
    out: list[str] = []

    def other() -> None:
        r = asyncio.run(call(client, "from the other thread"))
        out.append(r.choices[0].message.content)

    th = threading.Thread(target=other)
    th.start()
    th.join(10)  # blocks this loop on purpose
    assert out == ["from the other thread"]
    r = await client.chat(model=MODEL, messages=user("and this loop"))
    assert r.choices[0].message.content == "and this loop"


# --------------------------------------------------------------------------------------------
# Interpreter exit
# --------------------------------------------------------------------------------------------

EXIT_PRELUDE = """
import asyncio, sys, threading
import liter_llm
URL = {url!r}
KEY = {key!r}
c = liter_llm.LlmClient(api_key=KEY, base_url=URL, max_retries=0, timeout=60)
spare = liter_llm.LlmClient(api_key=KEY, base_url=URL)
spare2 = spare.with_options(timeout=5)
MSG = [{{"role": "user", "content": "hi"}}]
async def call():
    return await c.chat(model="m", messages=MSG)
def sent():  # blocks until the parent saw the request arrive at the server
    sys.stdin.readline()
"""

EXIT_SCRIPTS = {
    "idle-clients-after-a-request": """
        r = asyncio.run(call())
        assert r.choices[0].message.content == "hi"
    """,
    "pending-request-on-an-unclosed-loop": """
        loop = asyncio.new_event_loop()
        task = loop.create_task(call())
        loop.run_until_complete(loop.run_in_executor(None, sent))
    """,
    "daemon-thread-blocked-in-a-request": """
        threading.Thread(target=lambda: asyncio.run(call()), daemon=True).start()
        sent()
    """,
    "open-stream-half-read": """
        async def main():
            s = await c.chat_stream(model="m", messages=MSG)
            await s.__anext__()
            return s
        loop = asyncio.new_event_loop()
        stream = loop.run_until_complete(main())
    """,
    "sys-exit-from-a-request-callback": """
        async def main():
            t = asyncio.ensure_future(call())
            await asyncio.get_running_loop().run_in_executor(None, sent)
            sys.exit(0)
        asyncio.run(main())
    """,
}


@pytest.mark.parametrize("case", list(EXIT_SCRIPTS))
def test_the_interpreter_exits_cleanly_with_live_clients(scenario, case):
    async def slow_stream(request, rec, ctl):
        handler = ss.steady_stream(["tick "] * 1000, interval=0.1)
        return await handler(request, rec, ctl)

    if case == "open-stream-half-read":
        scenario.set_default(slow_stream)
    elif case != "idle-clients-after-a-request":
        scenario.set_default(ss.hang())

    code = EXIT_PRELUDE.format(url=scenario.base_url, key=API_KEY) + textwrap.dedent(EXIT_SCRIPTS[case])
    code += '\nprint("main done", flush=True)\n' if case != "sys-exit-from-a-request-callback" else ""
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    # The scripts that exit with a request in flight wait (sent()) until the server has it.
    if "sent()" in EXIT_SCRIPTS[case] or "sent)" in EXIT_SCRIPTS[case]:
        assert scenario.wait_for_requests(1, timeout=20), "the child's request never arrived"
    stdout, stderr = proc.communicate("\n", timeout=30)
    elapsed = time.monotonic() - start

    assert proc.returncode == 0, stderr
    if case != "sys-exit-from-a-request-callback":
        assert "main done" in stdout
    assert "panicked" not in stderr
    assert "Fatal Python error" not in stderr
    assert elapsed < 20
    if case != "idle-clients-after-a-request":
        assert scenario.request_count >= 1
