"""Callbacks and OpenTelemetry spans for finished calls.

The native ``LlmClient`` builds one ``Observers(callbacks, tracer)`` when it is given
``callbacks=`` or ``tracer=``, and calls ``Observers.emit(event)`` once per logical call, after
the call ended (for a stream: when it ended or failed), on the caller's event loop thread.

* ``callbacks``: a list or tuple. An item with ``on_success`` and/or ``on_failure`` gets the
  events of that outcome (a missing method means "not interested"); any other callable gets every
  event. A callback may be ``async``: its coroutine runs as a task on the running event loop.
* ``tracer``: ``True`` for ``opentelemetry.trace.get_tracer("liter_llm", __version__)``, or an
  OpenTelemetry ``Tracer``. Each call becomes one ``CLIENT`` span following the GenAI semantic
  conventions, with one child span per attempt (retries, other deployments, fallbacks).

Observers never break a call: a callback or a span that raises is logged on the ``liter_llm``
logger and dropped. Spans carry no message content and no keys.

Nothing here imports ``asyncio`` or ``opentelemetry`` until it is needed.
"""

from __future__ import annotations

import logging

TYPE_CHECKING = False  # the typing module is not imported at run time
if TYPE_CHECKING:
    from asyncio import Future
    from collections.abc import Callable
    from typing import Any

    Handler = Callable[[Any], Any]

__all__ = ["Observers"]

logger = logging.getLogger("liter_llm")
if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
    # A library logs but never prints (the native log forwarder adds the same handler).
    logger.addHandler(logging.NullHandler())

_OPERATIONS = {"chat": "chat", "chat_stream": "chat", "embeddings": "embeddings"}
"""``gen_ai.operation.name`` for an endpoint; any other endpoint is named as it is."""


class Observers:
    """The callbacks and tracer of one client.

    Args:
        callbacks: ``None``, or a list or tuple of objects with ``on_success(event)`` and/or
            ``on_failure(event)``, or of plain callables that get every event.
        tracer: ``None`` or ``False`` (no spans), ``True`` (the global OpenTelemetry tracer
            provider), or an OpenTelemetry ``Tracer``.

    Raises:
        TypeError: a callback or the tracer has the wrong shape.
        ValueError: ``tracer=True`` and ``opentelemetry-api`` is not installed.
    """

    __slots__ = ("_callbacks", "_on_failure", "_on_success", "_otel", "_pending", "_tracer")

    def __init__(self, callbacks: Any = None, tracer: Any = None) -> None:
        self._callbacks: tuple[Any, ...] = _check_callbacks(callbacks)
        on_success: list[Handler] = []
        on_failure: list[Handler] = []
        for index, item in enumerate(self._callbacks):
            success = _method(item, "on_success", index)
            failure = _method(item, "on_failure", index)
            if success is None and failure is None:
                success = failure = item
            if success is not None:
                on_success.append(success)
            if failure is not None:
                on_failure.append(failure)
        self._on_success: tuple[Handler, ...] = tuple(on_success)
        self._on_failure: tuple[Handler, ...] = tuple(on_failure)
        self._tracer, self._otel = _check_tracer(tracer)
        self._pending: dict[Future[Any], Handler] = {}

    @property
    def callbacks(self) -> tuple[Any, ...]:
        """The callbacks, as given."""
        return self._callbacks

    @property
    def tracer(self) -> Any:
        """The tracer spans go to, or ``None``."""
        return self._tracer

    def __repr__(self) -> str:
        return f"Observers(callbacks={list(self._callbacks)!r}, tracer={self._tracer!r})"

    def emit(self, event: Any) -> None:
        """Records the spans of a finished call, then hands ``event`` to the callbacks.

        Call it on the thread of the caller's event loop (if any): coroutines returned by
        callbacks become tasks on the running loop. Never raises.
        """
        if self._tracer is not None:
            try:
                self._record_spans(event)
            except Exception:
                logger.exception("recording the spans of a call failed")
        handlers = self._on_success if event.success else self._on_failure
        for handler in handlers:
            try:
                result = handler(event)
            except Exception:
                logger.exception("callback %r raised", handler)
                continue
            if result is not None and hasattr(result, "__await__"):
                self._schedule(handler, result)

    async def drain(self) -> None:
        """Waits for the ``async`` callbacks started on the running loop to finish."""
        import asyncio

        loop = asyncio.get_running_loop()
        while True:
            # A snapshot: clients are shared across threads, each with its own loop.
            mine = [task for task in tuple(self._pending) if task.get_loop() is loop]
            if not mine:
                return
            await asyncio.wait(mine)

    # ===== callbacks =====

    def _schedule(self, handler: Handler, awaitable: Any) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            logger.warning("callback %r returned an awaitable but no event loop is running; skipped", handler)
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
            return
        try:
            task = asyncio.ensure_future(awaitable, loop=loop)
        except Exception:
            logger.exception("callback %r returned an awaitable that could not be scheduled", handler)
            return
        self._pending[task] = handler
        task.add_done_callback(self._settled)

    def _settled(self, task: Future[Any]) -> None:
        handler = self._pending.pop(task, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            logger.error("callback %r raised", handler, exc_info=error)

    # ===== spans =====

    def _record_spans(self, event: Any) -> None:
        trace, kind, status, status_code = self._otel
        operation = _OPERATIONS.get(event.endpoint, event.endpoint)
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": event.model,
        }
        _put(attributes, "gen_ai.provider.name", event.provider)
        _put(attributes, "gen_ai.system", event.provider)
        _put(attributes, "gen_ai.response.model", event.response_model)
        _put(attributes, "gen_ai.response.id", _response_id(getattr(event, "response", None)))
        _put(attributes, "gen_ai.usage.input_tokens", event.prompt_tokens)
        _put(attributes, "gen_ai.usage.output_tokens", event.completion_tokens)
        if event.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = tuple(str(r) for r in event.finish_reasons)
        _put(attributes, "liter_llm.deployment", event.deployment)
        _put(attributes, "liter_llm.group", event.group)
        _put(attributes, "liter_llm.cost", event.cost)
        _put(attributes, "liter_llm.request_id", event.request_id)
        end = _ns(event.end_time)
        span = self._tracer.start_span(
            f"{operation} {event.model}", kind=kind.CLIENT, attributes=attributes, start_time=_ns(event.start_time)
        )
        try:
            parent = trace.set_span_in_context(span)
            for number, attempt in enumerate(event.attempts, 1):
                self._record_attempt(parent, number, attempt)
            if event.error is not None:
                _fail(span, event.error, status, status_code, end)
        finally:
            span.end(end_time=end)

    def _record_attempt(self, parent: Any, number: int, attempt: Any) -> None:
        _, kind, status, status_code = self._otel
        attributes: dict[str, Any] = {"liter_llm.attempt": number, "gen_ai.request.model": attempt.model}
        _put(attributes, "liter_llm.deployment", attempt.deployment)
        _put(attributes, "gen_ai.provider.name", attempt.provider)
        end = _ns(attempt.end_time)
        span = self._tracer.start_span(
            f"attempt {number} {attempt.model}",
            context=parent,
            kind=kind.INTERNAL,
            attributes=attributes,
            start_time=_ns(attempt.start_time),
        )
        try:
            if attempt.error is not None:
                _fail(span, attempt.error, status, status_code, end)
        finally:
            span.end(end_time=end)


def _check_callbacks(callbacks: Any) -> tuple[Any, ...]:
    if callbacks is None:
        return ()
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list or tuple, not {type(callbacks).__name__}")
    for index, item in enumerate(callbacks):
        if isinstance(item, type) and (hasattr(item, "on_success") or hasattr(item, "on_failure")):
            raise TypeError(f"callbacks[{index}] is the class {item.__name__}; pass an instance")
        if not (callable(item) or hasattr(item, "on_success") or hasattr(item, "on_failure")):
            raise TypeError(
                f"callbacks[{index}] must be a callable or have on_success/on_failure, not {type(item).__name__}"
            )
    return tuple(callbacks)


def _method(item: Any, name: str, index: int) -> Handler | None:
    method = getattr(item, name, None)
    if method is not None and not callable(method):
        raise TypeError(f"callbacks[{index}].{name} must be callable, not {type(method).__name__}")
    return method


def _check_tracer(tracer: Any) -> tuple[Any, tuple[Any, ...]]:
    """The tracer (``None`` for none) and the OpenTelemetry names spans need."""
    if tracer is None or tracer is False:
        return None, ()
    if tracer is not True and not callable(getattr(tracer, "start_span", None)):
        raise TypeError(
            f"tracer must be True or an OpenTelemetry Tracer (with start_span), not {type(tracer).__name__}"
        )
    try:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind, Status, StatusCode
    except ImportError:
        raise ValueError("tracer= needs OpenTelemetry: pip install opentelemetry-api") from None
    if tracer is True:
        from liter_llm._liter_llm import __version__

        tracer = trace.get_tracer("liter_llm", __version__)
    return tracer, (trace, SpanKind, Status, StatusCode)


def _fail(span: Any, error: Any, status: Any, status_code: Any, when: int | None) -> None:
    span.set_attribute("error.type", type(error).__name__)
    span.set_status(status(status_code.ERROR, str(error)))
    if isinstance(error, BaseException):
        span.record_exception(error, timestamp=when)


def _put(attributes: dict[str, Any], key: str, value: Any) -> None:
    """Sets an attribute unless the value is unknown (OpenTelemetry rejects ``None``)."""
    if value is not None:
        attributes[key] = value


def _ns(seconds: float | None) -> int | None:
    """Unix seconds as the integer nanoseconds OpenTelemetry takes."""
    return None if seconds is None else int(seconds * 1_000_000_000)


def _response_id(response: Any) -> str | None:
    value = getattr(response, "id", None) if response is not None else None
    return value if isinstance(value, str) and value else None
