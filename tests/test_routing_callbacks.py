"""Callbacks (on_success / on_failure, once per logical call, on the caller's loop) and
OpenTelemetry spans (one per call, one child per attempt), for routed and plain calls."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, assert_no_key, eventually, user
from liter_llm import LlmClient, ServerError, StreamingError
from routing_support import EMBEDDING_BODY, GROUP, deployment, failing, router, stream_text, text


class Recorder:
    """A callback object recording its events and where it was called from."""

    def __init__(self) -> None:
        self.success: list[Any] = []
        self.failure: list[Any] = []
        self.threads: list[int] = []
        self.loops: list[asyncio.AbstractEventLoop | None] = []

    def _where(self) -> None:
        self.threads.append(threading.get_ident())
        try:
            self.loops.append(asyncio.get_running_loop())
        except RuntimeError:
            self.loops.append(None)

    def on_success(self, event: Any) -> None:
        self._where()
        self.success.append(event)

    def on_failure(self, event: Any) -> None:
        self._where()
        self.failure.append(event)

    @property
    def events(self) -> list[Any]:
        return self.success + self.failure


def failover_client(servers, callbacks, **kwargs):
    """Deployment "a" (order 1) and "b" (order 2); tests make "a" fail."""
    a, b = servers[:2]
    return router(
        [deployment(a, id="a", order=1), deployment(b, id="b", order=2)],
        routing_strategy="order",
        num_retries=1,
        allowed_fails=100,
        client={"callbacks": callbacks, **kwargs},
    )


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


async def test_on_success_gets_one_event_describing_the_call_and_its_attempts(servers):
    a, b = servers[:2]
    a.set_default(failing(500))
    b.set_default(
        ss.json_response(ss.completion("hi there", model="gpt-4o-mini"), headers={"x-request-id": "req-from-b"})
    )
    rec = Recorder()
    client = failover_client(servers, [rec])
    metadata = {"user": "u-1", "tags": ["a", "b"], "n": 3}
    r = await client.chat(model=GROUP, messages=user("hello"), metadata=metadata)
    await eventually(lambda: len(rec.events) >= 1, what="the callback")
    assert rec.failure == []
    (event,) = rec.success
    assert event.success is True
    assert event.error is None
    assert event.endpoint == "chat"
    assert event.stream is False
    assert event.group == GROUP
    assert event.model == GROUP
    assert event.deployment == "b" == r.deployment
    assert event.provider == "openai"
    assert event.response_model == "gpt-4o-mini"
    assert event.request_id == "req-from-b"
    assert (event.prompt_tokens, event.completion_tokens, event.total_tokens) == (5, 2, 7)
    assert event.cost == pytest.approx(r.cost)
    assert event.finish_reasons == ["stop"]
    assert event.ttft is None
    assert event.start_time <= event.end_time
    assert event.latency == pytest.approx(event.end_time - event.start_time, abs=0.01)
    assert event.latency > 0
    assert event.metadata == metadata
    assert event.response is not None and event.response.choices[0].message.content == text(r)

    failed, succeeded = event.attempts
    assert (failed.deployment, succeeded.deployment) == ("a", "b")
    assert isinstance(failed.error, ServerError) and failed.error.status_code == 500
    assert succeeded.error is None
    assert failed.provider == succeeded.provider == "openai"
    assert event.start_time <= failed.start_time <= failed.end_time <= succeeded.start_time <= succeeded.end_time
    assert succeeded.end_time <= event.end_time


async def test_on_failure_gets_one_event_with_the_error_and_every_attempt(servers):
    a, b = servers[:2]
    a.set_default(failing(500))
    b.set_default(failing(501))
    rec = Recorder()
    client = failover_client(servers, [rec])
    with pytest.raises(ServerError) as info:
        await client.chat(model=GROUP, messages=user("x"), metadata={"k": "v"})
    await eventually(lambda: len(rec.events) >= 1, what="the callback")
    assert rec.success == []
    (event,) = rec.failure
    assert event.success is False
    assert event.response is None
    assert isinstance(event.error, ServerError)
    assert event.error.status_code == info.value.status_code == 501
    assert [x.deployment for x in event.attempts] == ["a", "b"]
    assert [x.error.status_code for x in event.attempts] == [500, 501]
    assert event.deployment == "b"
    assert event.metadata == {"k": "v"}
    assert_no_key(repr(event.error) + str(event.error))


async def test_callbacks_run_on_the_callers_loop_and_thread(servers):
    rec = Recorder()
    client = failover_client(servers, [rec])
    for _ in range(3):
        await client.chat(model=GROUP, messages=user("x"))
    await eventually(lambda: len(rec.success) >= 3, what="three callbacks")
    loop = asyncio.get_running_loop()
    assert rec.loops == [loop] * 3
    assert rec.threads == [threading.get_ident()] * 3


async def test_a_stream_calls_back_once_when_it_ends_with_time_to_first_token(servers):
    rec = Recorder()
    client = failover_client(servers, [rec])
    stream = await client.chat_stream(
        model=GROUP, messages=user("one two three four"), stream_options={"include_usage": True}, metadata={"s": 1}
    )
    assert rec.events == []  # not when the stream starts
    chunks = [c async for c in stream]
    assert stream_text(chunks) == "one two three four"
    await eventually(lambda: len(rec.events) >= 1, what="the stream's callback")
    (event,) = rec.success
    assert event.stream is True
    assert event.endpoint == "chat"
    assert event.deployment == "a"
    assert event.ttft is not None and 0 < event.ttft <= event.latency
    assert event.completion_tokens == 4
    assert event.response is None
    assert event.metadata == {"s": 1}
    assert len(event.attempts) == 1
    # Still one event after the stream is closed.
    await stream.aclose()
    await client.chat(model=GROUP, messages=user("next"))
    await eventually(lambda: len(rec.events) >= 2, what="the next callback")
    assert len(rec.success) == 2 and rec.success[0] is event


async def test_a_stream_that_fails_over_records_both_attempts(servers):
    a = servers[0]
    a.set_default(failing(500))
    rec = Recorder()
    client = failover_client(servers, [rec])
    stream = await client.chat_stream(model=GROUP, messages=user("x y"))
    assert stream_text([c async for c in stream]) == "x y"
    await eventually(lambda: len(rec.events) >= 1, what="the stream's callback")
    (event,) = rec.success
    assert [x.deployment for x in event.attempts] == ["a", "b"]
    assert isinstance(event.attempts[0].error, ServerError)


async def test_a_stream_cut_midway_calls_on_failure_once(servers):
    a = servers[0]
    a.script(ss.sse_response([ss.sse_event(ss.chunk("", role="assistant")), ss.sse_event(ss.chunk("par"))], end="cut"))
    rec = Recorder()
    client = failover_client(servers, [rec])
    stream = await client.chat_stream(model=GROUP, messages=user("x"))
    with pytest.raises(StreamingError):
        async for _ in stream:
            pass
    await eventually(lambda: len(rec.events) >= 1, what="the stream's callback")
    (event,) = rec.failure
    assert isinstance(event.error, StreamingError)
    assert event.stream is True
    assert event.deployment == "a"
    assert rec.success == []


async def test_a_stream_that_fails_after_its_first_chunk_still_reports_time_to_first_token(servers):
    a = servers[0]
    a.script(ss.sse_response([ss.sse_event(ss.chunk("", role="assistant")), ss.sse_event(ss.chunk("par"))], end="cut"))
    rec = Recorder()
    client = failover_client(servers, [rec])
    stream = await client.chat_stream(model=GROUP, messages=user("x"))
    with pytest.raises(StreamingError):
        async for _ in stream:
            pass
    await eventually(lambda: len(rec.events) >= 1, what="the stream's callback")
    (event,) = rec.failure
    assert event.ttft is not None and 0 < event.ttft <= event.latency


async def test_async_callbacks_are_awaited_on_the_callers_loop(servers):
    done = asyncio.Event()
    seen: list[Any] = []
    loop = asyncio.get_running_loop()

    class AsyncRecorder:
        async def on_success(self, event: Any) -> None:
            assert asyncio.get_running_loop() is loop
            await asyncio.sleep(0)  # really awaited, not just created
            seen.append(event)
            done.set()

    client = failover_client(servers, [AsyncRecorder()])
    await client.chat(model=GROUP, messages=user("x"))
    await asyncio.wait_for(done.wait(), 15)
    assert len(seen) == 1 and seen[0].deployment == "a"


async def test_a_plain_callable_gets_every_event(servers):
    a, b = servers[:2]
    events: list[Any] = []
    client = failover_client(servers, [events.append])
    await client.chat(model=GROUP, messages=user("x"))
    a.set_default(failing(500))
    b.set_default(failing(500))
    with pytest.raises(ServerError):
        await client.chat(model=GROUP, messages=user("x"))
    await eventually(lambda: len(events) >= 2, what="two events")
    assert [e.success for e in events] == [True, False]
    assert events[1].error is not None


async def test_an_object_without_on_failure_is_skipped_for_failures(servers):
    a, b = servers[:2]

    class OnlySuccess:
        def __init__(self) -> None:
            self.events: list[Any] = []

        def on_success(self, event: Any) -> None:
            self.events.append(event)

    only = OnlySuccess()
    rec = Recorder()
    client = failover_client(servers, [only, rec])
    a.set_default(failing(500))
    b.set_default(failing(500))
    with pytest.raises(ServerError):
        await client.chat(model=GROUP, messages=user("x"))
    await eventually(lambda: len(rec.failure) >= 1, what="the failure callback")
    assert only.events == []


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_raising_callback_is_logged_and_does_not_break_the_call(servers, caplog, kind):
    class Boom:
        def on_success(self, event: Any) -> None:
            raise RuntimeError("callback exploded")

    class AsyncBoom:
        async def on_success(self, event: Any) -> None:
            raise RuntimeError("callback exploded")

    rec = Recorder()
    client = failover_client(servers, [Boom() if kind == "sync" else AsyncBoom(), rec])
    with caplog.at_level(logging.DEBUG):
        r = await client.chat(model=GROUP, messages=user("still fine"))
        assert text(r) == "still fine"
        await eventually(lambda: len(rec.success) >= 1, what="the next callback")
        await eventually(
            lambda: any("callback exploded" in (rec_.getMessage() + str(rec_.exc_info)) for rec_ in caplog.records),
            what="the log record",
        )
        r = await client.chat(model=GROUP, messages=user("again"))
        assert text(r) == "again"
    logged = [x for x in caplog.records if "callback exploded" in (x.getMessage() + str(x.exc_info))]
    assert logged and all(x.name.split(".")[0] == "liter_llm" for x in logged)
    assert not [x for x in caplog.records if x.name == "asyncio"]  # no "exception was never retrieved"


async def test_every_item_of_a_batch_calls_back_once(servers):
    rec = Recorder()
    client = failover_client(servers, [rec])
    results = await client.chat_batch(
        [{"model": GROUP, "messages": user(f"{i}"), "metadata": {"i": i}} for i in range(12)], max_concurrency=4
    )
    assert len(results) == 12
    await eventually(lambda: len(rec.events) >= 12, what="twelve callbacks")
    assert sorted(e.metadata["i"] for e in rec.success) == list(range(12))


async def test_embeddings_call_back_with_their_endpoint(servers):
    a, b = servers[:2]
    a.set_default(ss.json_response(EMBEDDING_BODY))
    rec = Recorder()
    client = router([deployment(a, id="e", group="embed")], client={"callbacks": [rec]})
    await client.embed(model="embed", input="vector me", encoding_format="float")
    await eventually(lambda: len(rec.events) >= 1, what="the callback")
    (event,) = rec.success
    assert event.endpoint == "embeddings"
    assert event.group == "embed" and event.deployment == "e"
    assert event.prompt_tokens == 2


async def test_a_plain_model_calls_back_too(scenario, servers):
    rec = Recorder()
    client = LlmClient(
        api_key=API_KEY,
        base_url=scenario.base_url,
        max_retries=0,
        timeout=20,
        callbacks=[rec],
        model_list=[deployment(servers[0])],
    )
    await client.chat(model=MODEL, messages=user("plain"))
    await eventually(lambda: len(rec.events) >= 1, what="the callback")
    (event,) = rec.success
    assert event.group is None
    assert event.deployment is None
    assert event.model == MODEL
    assert len(event.attempts) == 1


async def test_callbacks_without_a_router(scenario):
    rec = Recorder()
    client = LlmClient(api_key=API_KEY, base_url=scenario.base_url, max_retries=0, timeout=20, callbacks=[rec])
    await client.chat(model=MODEL, messages=user("plain"), metadata={"m": "1"})
    await eventually(lambda: len(rec.events) >= 1, what="the callback")
    assert rec.success[0].metadata == {"m": "1"}
    assert rec.success[0].group is None


# --------------------------------------------------------------------------------------------
# OpenTelemetry
# --------------------------------------------------------------------------------------------


@pytest.fixture
def otel():
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("liter_llm-tests"), exporter
    provider.shutdown()


def split_spans(spans):
    """(the call's span, its attempt spans in start order)."""
    ids = {s.context.span_id for s in spans}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    assert len(roots) == 1, [s.name for s in spans]
    root = roots[0]
    children = sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id),
        key=lambda s: s.start_time,
    )
    return root, children


async def test_a_routed_call_is_a_genai_span_with_one_child_per_attempt(servers, otel):
    from opentelemetry.trace import StatusCode

    tracer, exporter = otel
    a = servers[0]
    a.set_default(failing(500))
    client = failover_client(servers, None, tracer=tracer)
    r = await client.chat(model=GROUP, messages=user("traced"))
    await eventually(lambda: len(exporter.get_finished_spans()) >= 3, what="three spans")
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    root, (first, second) = split_spans(spans)

    attrs = dict(root.attributes or {})
    assert attrs["gen_ai.request.model"] == GROUP
    assert attrs["gen_ai.usage.input_tokens"] == r.usage.prompt_tokens
    assert attrs["gen_ai.usage.output_tokens"] == r.usage.completion_tokens
    assert attrs.get("gen_ai.operation.name") == "chat"
    assert "openai" in (attrs.get("gen_ai.provider.name"), attrs.get("gen_ai.system"))
    assert tuple(attrs.get("gen_ai.response.finish_reasons", ())) == ("stop",)
    assert root.status.status_code != StatusCode.ERROR

    assert first.status.status_code == StatusCode.ERROR
    assert second.status.status_code != StatusCode.ERROR
    assert first.end_time <= second.start_time
    assert root.start_time <= first.start_time and second.end_time <= root.end_time
    for span in (root, first, second):
        assert_no_key(repr(dict(span.attributes or {})))


async def test_a_failed_call_is_an_error_span(servers, otel):
    from opentelemetry.trace import StatusCode

    tracer, exporter = otel
    for s in servers[:2]:
        s.set_default(failing(500))
    client = failover_client(servers, None, tracer=tracer)
    with pytest.raises(ServerError):
        await client.chat(model=GROUP, messages=user("x"))
    await eventually(lambda: len(exporter.get_finished_spans()) >= 3, what="three spans")
    root, children = split_spans(exporter.get_finished_spans())
    assert root.status.status_code == StatusCode.ERROR
    assert len(children) == 2 and all(c.status.status_code == StatusCode.ERROR for c in children)
    assert "error.type" in dict(root.attributes or {})


async def test_the_call_span_is_a_child_of_the_callers_current_span(servers, otel):
    tracer, exporter = otel
    client = failover_client(servers, None, tracer=tracer)
    with tracer.start_as_current_span("outer") as outer:
        await client.chat(model=GROUP, messages=user("x"))
    await eventually(lambda: len(exporter.get_finished_spans()) >= 3, what="three spans")
    spans = exporter.get_finished_spans()
    (call,) = [s for s in spans if s.parent is not None and s.parent.span_id == outer.get_span_context().span_id]
    assert call.context.trace_id == outer.get_span_context().trace_id
    assert [s for s in spans if s.parent is not None and s.parent.span_id == call.context.span_id]


async def test_a_stream_span_ends_when_the_stream_ends(servers, otel):
    tracer, exporter = otel
    client = failover_client(servers, None, tracer=tracer)
    stream = await client.chat_stream(model=GROUP, messages=user("a b c"), stream_options={"include_usage": True})
    assert not [s for s in exporter.get_finished_spans() if s.parent is None]  # not when it starts
    async for _ in stream:
        pass
    await eventually(lambda: any(s.parent is None for s in exporter.get_finished_spans()), what="the call span")
    root, children = split_spans(exporter.get_finished_spans())
    assert dict(root.attributes or {})["gen_ai.usage.output_tokens"] == 3
    assert len(children) == 1


def test_tracer_true_uses_the_global_tracer_provider():
    pytest.importorskip("opentelemetry.sdk")
    script = textwrap.dedent(
        """
        import asyncio
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from liter_llm import LlmClient
        from liter_llm.testing import MockServer

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)

        async def main():
            with MockServer() as server:
                entry = {"model_name": "g", "litellm_params": {"model": "openai/gpt-4o-mini",
                         "api_key": "k", "api_base": server.base_url}}
                client = LlmClient(model_list=[entry], tracer=True, timeout=20)
                await client.chat(model="g", messages=[{"role": "user", "content": "hi"}])
                for _ in range(1000):
                    if exporter.get_finished_spans():
                        break
                    await asyncio.sleep(0.01)

        asyncio.run(main())
        print(len([s for s in exporter.get_finished_spans() if s.parent is None]))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "1"


def test_without_opentelemetry_a_tracer_switch_is_an_error_or_ignored():
    # tracer=True with opentelemetry-api missing must not crash an import or a plain call.
    script = textwrap.dedent(
        """
        import sys, asyncio
        sys.modules["opentelemetry"] = None  # as if not installed
        from liter_llm import LlmClient
        from liter_llm.testing import MockServer

        async def main():
            with MockServer() as server:
                try:
                    client = LlmClient(api_key="k", base_url=server.base_url, tracer=True)
                except (ImportError, ValueError) as exc:
                    print("refused", type(exc).__name__)
                    return
                r = await client.chat(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
                print("ok", r.choices[0].message.content)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] in ("refused", "ok")
