"""``liter_llm._observe.Observers``: callbacks and OpenTelemetry spans, driven by fake events.

The events are ``SimpleNamespace``s with the attributes of the native ``CallEvent`` and
``Attempt``, so these tests need no server and no router.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import liter_llm
import pytest
from conftest import eventually
from liter_llm._observe import Observers

T0 = 1_700_000_000.25


def attempt(**overrides: Any) -> SimpleNamespace:
    fields: dict[str, Any] = {
        "deployment": "gpt/0",
        "provider": "openai",
        "model": "openai/gpt-4o-mini",
        "start_time": T0,
        "end_time": T0 + 1.5,
        "error": None,
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def event(**overrides: Any) -> SimpleNamespace:
    """A successful chat call on the group "gpt", answered by its one deployment."""
    fields: dict[str, Any] = {
        "endpoint": "chat",
        "stream": False,
        "group": "gpt",
        "deployment": "gpt/0",
        "provider": "openai",
        "model": "gpt",
        "response_model": "gpt-4o-mini-2024-07-18",
        "request_id": "req_123",
        "start_time": T0,
        "end_time": T0 + 1.5,
        "latency": 1.5,
        "ttft": None,
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "total_tokens": 17,
        "cost": 0.00042,
        "finish_reasons": ["stop"],
        "attempts": [attempt()],
        "error": None,
        "metadata": {"user": "u1"},
        "response": SimpleNamespace(id="chatcmpl-1"),
        "success": True,
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def failed(error: BaseException, **overrides: Any) -> SimpleNamespace:
    """A chat call that failed on both deployments of the group "gpt"."""
    fields: dict[str, Any] = {
        "deployment": "gpt/1",
        "response_model": None,
        "request_id": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "total_tokens": None,
        "cost": None,
        "finish_reasons": [],
        "attempts": [
            attempt(end_time=T0 + 0.5, error=liter_llm.ServerError("upstream 500")),
            attempt(deployment="gpt/1", start_time=T0 + 0.5, error=error),
        ],
        "error": error,
        "response": None,
        "success": False,
    }
    fields.update(overrides)
    return event(**fields)


class Recorder:
    def __init__(self) -> None:
        self.successes: list[Any] = []
        self.failures: list[Any] = []

    def on_success(self, e: Any) -> None:
        self.successes.append(e)

    def on_failure(self, e: Any) -> None:
        self.failures.append(e)


def callback_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "liter_llm"]


# ===== callbacks =====


def test_success_and_failure_go_to_their_methods() -> None:
    recorder = Recorder()
    observers = Observers([recorder], None)
    ok, bad = event(), failed(liter_llm.RateLimitedError("slow down"))
    observers.emit(ok)
    observers.emit(bad)
    assert recorder.successes == [ok]
    assert recorder.failures == [bad]


def test_a_missing_method_is_skipped() -> None:
    seen: list[Any] = []

    class OnlyFailures:
        def on_failure(self, e: Any) -> None:
            seen.append(e)

    observers = Observers((OnlyFailures(),), None)
    observers.emit(event())
    bad = failed(liter_llm.ServerError("down"))
    observers.emit(bad)
    assert seen == [bad]


def test_a_plain_callable_gets_every_event() -> None:
    seen: list[Any] = []
    observers = Observers([seen.append], None)
    ok, bad = event(), failed(liter_llm.ServerError("down"))
    observers.emit(ok)
    observers.emit(bad)
    assert seen == [ok, bad]


def test_callbacks_run_in_order() -> None:
    order: list[str] = []
    observers = Observers([lambda e: order.append("first"), lambda e: order.append("second")], None)
    observers.emit(event())
    assert order == ["first", "second"]


def test_a_raising_callback_is_logged_and_the_next_still_runs(caplog: pytest.LogCaptureFixture) -> None:
    def broken(e: Any) -> None:
        raise RuntimeError("callback bug")

    seen: list[Any] = []
    observers = Observers([broken, seen.append], None)
    observers.emit(event())
    assert len(seen) == 1
    (record,) = callback_records(caplog)
    assert record.levelno == logging.ERROR
    assert "broken" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)


async def test_an_async_callback_runs_on_the_loop() -> None:
    recorder = Recorder()

    class Async:
        async def on_success(self, e: Any) -> None:
            await asyncio.sleep(0)
            recorder.on_success(e)

    observers = Observers([Async()], None)
    ok = event()
    observers.emit(ok)
    assert recorder.successes == []  # scheduled, not awaited by emit
    await observers.drain()
    assert recorder.successes == [ok]
    assert not observers._pending  # the strong reference is dropped once done


async def test_an_async_plain_callable_runs_on_the_loop() -> None:
    seen: list[Any] = []

    async def callback(e: Any) -> None:
        seen.append(e)

    observers = Observers([callback], None)
    bad = failed(liter_llm.ServerError("down"))
    observers.emit(bad)
    await eventually(lambda: seen == [bad], what="the async callback")


async def test_a_raising_async_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(e: Any) -> None:
        raise RuntimeError("async callback bug")

    observers = Observers([broken], None)
    observers.emit(event())
    await observers.drain()
    await eventually(lambda: callback_records(caplog), what="the log record")
    (record,) = callback_records(caplog)
    assert record.levelno == logging.ERROR
    assert "broken" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert not observers._pending


def test_an_async_callback_without_a_running_loop_is_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[Any] = []

    async def callback(e: Any) -> None:
        ran.append(e)

    observers = Observers([callback], None)
    observers.emit(event())  # the coroutine is closed: no "never awaited" warning (an error here)
    assert ran == []
    (record,) = callback_records(caplog)
    assert record.levelno == logging.WARNING
    assert "no event loop is running" in record.getMessage()


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        ({"on_success": print}, "callbacks must be a list or tuple, not dict"),
        (print, "callbacks must be a list or tuple, not builtin_function_or_method"),
        ([print, 3], "callbacks[1] must be a callable or have on_success/on_failure, not int"),
        (["log"], "callbacks[0] must be a callable or have on_success/on_failure, not str"),
        ([SimpleNamespace(on_success="yes")], "callbacks[0].on_success must be callable, not str"),
        ([Recorder], "callbacks[0] is the class Recorder; pass an instance"),
    ],
)
def test_invalid_callbacks_are_a_type_error(callbacks: Any, message: str) -> None:
    with pytest.raises(TypeError) as info:
        Observers(callbacks, None)
    assert str(info.value) == message


def test_no_callbacks_and_no_tracer() -> None:
    observers = Observers(None, None)
    observers.emit(event())
    assert observers.callbacks == ()
    assert observers.tracer is None
    assert Observers([], False).tracer is None


def test_observing_imports_neither_asyncio_nor_opentelemetry() -> None:
    code = (
        "import sys, types, liter_llm\n"
        "from liter_llm._observe import Observers\n"
        "seen = []\n"
        "Observers([seen.append], None).emit(types.SimpleNamespace(success=True))\n"
        "assert seen, seen\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('asyncio', 'opentelemetry')))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"


# ===== tracer argument =====


def test_tracer_true_without_opentelemetry_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(ValueError, match="pip install opentelemetry-api"):
        Observers(None, True)


def test_tracer_true_uses_the_global_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    trace = pytest.importorskip("opentelemetry.trace")
    asked: list[tuple[Any, ...]] = []
    fake = SimpleNamespace(start_span=lambda *a, **k: None)

    def get_tracer(*args: Any) -> Any:
        asked.append(args)
        return fake

    monkeypatch.setattr(trace, "get_tracer", get_tracer)
    assert Observers(None, True).tracer is fake
    assert asked == [("liter_llm", liter_llm.__version__)]


@pytest.mark.parametrize("tracer", [1, "otel", object()])
def test_a_tracer_without_start_span_is_a_type_error(tracer: Any) -> None:
    with pytest.raises(TypeError, match=r"tracer must be True or an OpenTelemetry Tracer"):
        Observers(None, tracer)


# ===== spans =====


@pytest.fixture
def spans() -> Any:
    """An SDK tracer writing to memory: yields (tracer, exporter)."""
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


def ns(seconds: float) -> int:
    return int(seconds * 1_000_000_000)


def by_name(exporter: Any) -> dict[str, Any]:
    return {span.name: span for span in exporter.get_finished_spans()}


def test_a_successful_call_is_one_client_span_with_genai_attributes(spans: Any) -> None:
    from opentelemetry.trace import SpanKind, StatusCode

    tracer, exporter = spans
    Observers(None, tracer).emit(event())
    found = by_name(exporter)
    assert set(found) == {"chat gpt", "attempt 1 openai/gpt-4o-mini"}
    span = found["chat gpt"]
    assert span.kind is SpanKind.CLIENT
    assert span.parent is None
    assert (span.start_time, span.end_time) == (ns(T0), ns(T0 + 1.5))
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-1",
        "gen_ai.usage.input_tokens": 12,
        "gen_ai.usage.output_tokens": 5,
        "gen_ai.response.finish_reasons": ("stop",),
        "liter_llm.deployment": "gpt/0",
        "liter_llm.group": "gpt",
        "liter_llm.cost": 0.00042,
        "liter_llm.request_id": "req_123",
    }


def test_each_attempt_is_a_child_span(spans: Any) -> None:
    from opentelemetry.trace import StatusCode

    tracer, exporter = spans
    first = attempt(end_time=T0 + 0.5, error=liter_llm.ServerError("upstream 500"))
    second = attempt(deployment="gpt/1", provider="azure", model="azure/gpt-4o-mini", start_time=T0 + 0.5)
    Observers(None, tracer).emit(event(deployment="gpt/1", provider="azure", attempts=[first, second]))
    found = by_name(exporter)
    parent = found["chat gpt"]
    one, two = found["attempt 1 openai/gpt-4o-mini"], found["attempt 2 azure/gpt-4o-mini"]
    for child in (one, two):
        assert child.parent is not None
        assert child.parent.span_id == parent.context.span_id
        assert child.context.trace_id == parent.context.trace_id
    assert (one.start_time, one.end_time) == (ns(T0), ns(T0 + 0.5))
    assert (two.start_time, two.end_time) == (ns(T0 + 0.5), ns(T0 + 1.5))
    assert dict(one.attributes) == {
        "liter_llm.attempt": 1,
        "liter_llm.deployment": "gpt/0",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "openai/gpt-4o-mini",
        "error.type": "ServerError",
    }
    assert one.status.status_code is StatusCode.ERROR
    assert one.status.description == "upstream 500"
    assert two.attributes["liter_llm.deployment"] == "gpt/1"
    assert "error.type" not in two.attributes
    assert two.status.status_code is StatusCode.UNSET
    assert parent.status.status_code is StatusCode.UNSET  # the call succeeded in the end


def test_a_failed_call_has_an_error_status(spans: Any) -> None:
    from opentelemetry.trace import StatusCode

    tracer, exporter = spans
    error = liter_llm.RateLimitedError("slow down")
    Observers(None, tracer).emit(failed(error))
    found = by_name(exporter)
    span = found["chat gpt"]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "slow down"
    assert span.attributes["error.type"] == "RateLimitedError"
    for missing in ("gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.response.finish_reasons"):
        assert missing not in span.attributes
    (exception,) = [e for e in span.events if e.name == "exception"]
    assert exception.attributes["exception.message"] == "slow down"
    assert len(exporter.get_finished_spans()) == 3  # the call and its two attempts
    assert all(s.status.status_code is StatusCode.ERROR for s in exporter.get_finished_spans())


@pytest.mark.parametrize(
    ("endpoint", "name"),
    [("chat_stream", "chat gpt"), ("embeddings", "embeddings gpt"), ("images", "images gpt")],
)
def test_the_operation_name_follows_the_endpoint(spans: Any, endpoint: str, name: str) -> None:
    tracer, exporter = spans
    Observers(None, tracer).emit(event(endpoint=endpoint, attempts=[]))
    (span,) = exporter.get_finished_spans()
    assert span.name == name
    assert span.attributes["gen_ai.operation.name"] == name.split()[0]


def test_spans_carry_no_content_or_metadata(spans: Any) -> None:
    tracer, exporter = spans
    secret = "sk-test-SECRET123-c0ffee-do-not-leak"
    Observers(None, tracer).emit(event(metadata={"api_key": secret}, response=SimpleNamespace(id=None, text=secret)))
    for span in exporter.get_finished_spans():
        assert secret not in repr(dict(span.attributes))
        assert "gen_ai.response.id" not in span.attributes


def test_a_broken_tracer_is_logged_and_callbacks_still_run(caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("opentelemetry.trace")

    class Broken:
        def start_span(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("exporter down")

    seen: list[Any] = []
    Observers([seen.append], Broken()).emit(event())
    assert len(seen) == 1
    (record,) = callback_records(caplog)
    assert "spans" in record.getMessage()


def test_callbacks_and_spans_together(spans: Any) -> None:
    tracer, exporter = spans
    recorder = Recorder()
    Observers([recorder], tracer).emit(event())
    assert len(recorder.successes) == 1
    assert "chat gpt" in by_name(exporter)


def test_the_call_span_is_a_child_of_the_span_current_where_emit_runs(spans: Any) -> None:
    from opentelemetry import trace

    tracer, exporter = spans
    with tracer.start_as_current_span("request handler") as outer:
        Observers(None, tracer).emit(event(attempts=[]))
    span = by_name(exporter)["chat gpt"]
    assert span.parent is not None
    assert span.parent.span_id == outer.get_span_context().span_id
    assert trace.get_current_span() is trace.INVALID_SPAN


# ===== how the native client calls emit =====


async def test_emit_scheduled_onto_the_loop_from_another_thread(spans: Any) -> None:
    """The native client finishes a call on a worker thread and hands the event to the caller's loop
    with ``loop.call_soon_threadsafe(emit, event, context=<the caller's context>)``."""
    import contextvars
    import threading

    tracer, exporter = spans
    seen: list[Any] = []

    async def callback(e: Any) -> None:
        seen.append(e)

    observers = Observers([callback], tracer)
    loop = asyncio.get_running_loop()
    with tracer.start_as_current_span("caller") as caller:
        context = contextvars.copy_context()  # what the native call captures when it starts
    ok = event()
    worker = threading.Thread(target=lambda: loop.call_soon_threadsafe(observers.emit, ok, context=context))
    worker.start()
    worker.join()
    await eventually(lambda: seen == [ok], what="the async callback")
    span = by_name(exporter)["chat gpt"]
    assert span.parent is not None and span.parent.span_id == caller.get_span_context().span_id
