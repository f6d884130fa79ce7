"""Agent loops: call the model, run the tools it asks for, give it their results, and repeat
until it answers without tool calls (``LlmClient.run_agent_loop``).

A tool is a Python callable (sync ones run in a worker thread, async ones are awaited) with the
Chat Completions definition the model sees: a plain function gets one from ``function_tool``; a
``Tool`` pairs any definition with its callable. The tool calls of one round run concurrently.
A tool that raises, times out, is unknown or gets arguments its schema rejects answers the model
with a tool message saying so (``tool_errors="raise"`` raises instead), so the model can correct
itself. The loop itself is plain asyncio around the client's ``chat`` (``chat_stream`` with
``on_delta``, which sees the answers' text as it arrives): the requests, retries, limits and
accounting are the client's.

``tools_from_mcp`` lists an MCP server's tools as ``Tool`` objects that call the server (through
the official Rust MCP SDK), over stdio (``command=[...]``) or streamable HTTP (``url=...``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from liter_llm._schema import Schema

__all__ = ["AgentResult", "AgentRound", "McpToolError", "McpTools", "Tool", "ToolOutcome", "tools_from_mcp"]

_ERRORS = ("message", "raise")


@dataclass(frozen=True)
class Tool:
    """A tool the loop can run: the definition the model sees and the callable behind it.

    ``definition`` is a Chat Completions tool (``{"type": "function", "function": {...}}``);
    ``fn`` is called with the arguments the model gives, as keywords. ``timeout`` (seconds)
    bounds one call, overriding the loop's ``tool_timeout`` (a sync tool past it keeps running in
    its worker thread; its result is dropped).
    """

    definition: Mapping[str, Any]
    fn: Callable[..., Any]
    timeout: float | None = None

    @property
    def name(self) -> str:
        """The name the model calls it by."""
        return str(self.definition["function"]["name"])

    @classmethod
    def from_function(
        cls,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        strict: bool = False,
        timeout: float | None = None,
    ) -> Tool:
        """A tool of a typed function, its definition made by ``function_tool``."""
        from liter_llm.tools import function_tool

        return cls(function_tool(fn, name=name, description=description, strict=strict), fn, timeout)


@dataclass(frozen=True)
class ToolOutcome:
    """One tool call of a round: what the model asked for and what it was answered."""

    id: str
    name: str
    arguments: Any
    #: The text the model was given (the result, or the error message).
    content: str
    #: The exception the call ended with, if it failed.
    error: BaseException | None = None


@dataclass(frozen=True)
class AgentRound:
    """One round: the model's response and the tool calls it asked for, run."""

    index: int
    response: Any
    tool_calls: tuple[ToolOutcome, ...]


@dataclass
class AgentResult:
    """What a loop ended with.

    ``response`` is the last response; ``messages`` the whole conversation (the given messages,
    every assistant turn and tool result, and the final answer), ready to continue; ``rounds``
    the model calls made; ``usage`` the tokens summed over them (``prompt_tokens``,
    ``completion_tokens``, ``total_tokens``) and ``cost`` their USD (``None`` when no price was
    known). ``stop_reason`` is ``"answer"`` (no more tool calls), ``"max_rounds"`` or
    ``"callback"`` (``on_round`` returned ``False``).
    """

    response: Any
    messages: list[dict[str, Any]]
    rounds: int
    usage: dict[str, int] = field(default_factory=dict)
    cost: float | None = None
    stop_reason: str = "answer"
    history: list[AgentRound] = field(default_factory=list)

    @property
    def content(self) -> str | None:
        """The text of the final answer."""
        choices = self.response.choices
        return choices[0].message.content if choices else None


def _as_tool(item: Any) -> Tool:
    if isinstance(item, Tool):
        return item
    if callable(item):
        return Tool.from_function(item)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], Mapping) and callable(item[1]):
        return Tool(item[0], item[1])
    raise TypeError(
        "tools must be Tool objects, functions, or (function_tool definition, callable) pairs; "
        f"got {type(item).__name__}"
    )


def _tools_by_name(tools: Iterable[Any]) -> dict[str, Tool]:
    by_name: dict[str, Tool] = {}
    for item in tools:
        tool = _as_tool(item)
        definition = tool.definition
        if not isinstance(definition.get("function"), Mapping) or not isinstance(
            definition["function"].get("name"), str
        ):
            raise ValueError("a tool definition needs function.name (see function_tool)")
        if tool.name in by_name:
            raise ValueError(f"two tools are named {tool.name!r}")
        by_name[tool.name] = tool
    return by_name


def _check(value: Any, schema: Schema, defs: Schema, path: str) -> str | None:
    """Why ``value`` does not match ``schema`` (the subset ``function_tool`` writes), or None."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        schema = defs.get(ref[len("#/$defs/") :], {})
    if "anyOf" in schema:
        if all(_check(value, option, defs, path) for option in schema["anyOf"]):
            return f"{path}: matches none of the allowed forms"
        return None
    if "enum" in schema and value not in schema["enum"]:
        return f"{path}: must be one of {schema['enum']!r}"
    kinds = schema.get("type")
    if kinds is not None:
        allowed = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is_kind(value, kind) for kind in allowed):
            return f"{path}: expected {' or '.join(allowed)}, got {type(value).__name__}"
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                return f"{path}: missing required argument {name!r}"
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                why = _check(item, properties[name], defs, f"{path}.{name}")
            elif extra is False:
                why = f"{path}: unexpected argument {name!r}"
            elif isinstance(extra, dict):
                why = _check(item, extra, defs, f"{path}.{name}")
            else:
                why = None
            if why:
                return why
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            why = _check(item, schema["items"], defs, f"{path}[{i}]")
            if why:
                return why
    return None


_KINDS: dict[str, Any] = {
    "string": str,
    "boolean": bool,
    "object": dict,
    "array": list,
    "null": type(None),
}


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    types = _KINDS.get(kind)
    return types is None or isinstance(value, types)


def _text(result: Any) -> str:
    if isinstance(result, str):
        return result
    try:
        return json.dumps(result, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(result)


class _Refused(Exception):
    """A call that never reached its tool: unknown, or arguments that do not validate."""


async def _run_call(call: Any, tools: dict[str, Tool], timeout: float | None) -> ToolOutcome:
    name = call.function.name
    raw = call.function.arguments or "{}"
    arguments: Any = raw
    try:
        tool = tools.get(name)
        if tool is None:
            raise _Refused(f"unknown tool {name!r}; the tools are: {', '.join(tools) or 'none'}")
        try:
            arguments = json.loads(raw)
        except ValueError as e:
            raise _Refused(f"the arguments of {name} are not valid JSON: {e}") from None
        if not isinstance(arguments, dict):
            raise _Refused(f"the arguments of {name} must be a JSON object")
        parameters = tool.definition["function"].get("parameters") or {}
        why = _check(arguments, parameters, parameters.get("$defs", {}), "arguments")
        if why:
            raise _Refused(f"invalid arguments for {name}: {why}")
        limit = tool.timeout if tool.timeout is not None else timeout
        if inspect.iscoroutinefunction(tool.fn):
            running: Awaitable[Any] = tool.fn(**arguments)
        else:
            running = asyncio.to_thread(tool.fn, **arguments)
        result = await (asyncio.wait_for(running, limit) if limit is not None else running)
        if inspect.isawaitable(result):
            result = await result
        return ToolOutcome(call.id, name, arguments, _text(result))
    except _Refused as refused:
        return ToolOutcome(call.id, name, arguments, f"Error: {refused}", refused)
    except asyncio.TimeoutError as timed_out:
        return ToolOutcome(call.id, name, arguments, f"Error: {name} did not finish in time", timed_out)
    except Exception as failed:  # noqa: BLE001 - a tool's failure is told to the model
        return ToolOutcome(call.id, name, arguments, f"Error: {name} raised {type(failed).__name__}: {failed}", failed)


def _add_usage(total: dict[str, int], usage: Any) -> None:
    if usage is None:
        return
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        total[name] = total.get(name, 0) + (getattr(usage, name, 0) or 0)


async def run_agent_loop(
    client: Any,
    *,
    messages: Sequence[Mapping[str, Any]],
    tools: Iterable[Any],
    model: str | None = None,
    max_rounds: int = 10,
    tool_timeout: float | None = None,
    tool_errors: str = "message",
    on_round: Callable[[AgentRound], Any] | None = None,
    on_delta: Callable[[str], Any] | None = None,
    **chat_kwargs: Any,
) -> AgentResult:
    """The loop behind ``LlmClient.run_agent_loop`` (see there)."""
    if not isinstance(max_rounds, int) or isinstance(max_rounds, bool) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an int >= 1, got {max_rounds!r}")
    if tool_errors not in _ERRORS:
        raise ValueError(f"tool_errors must be 'message' or 'raise', got {tool_errors!r}")
    if tool_timeout is not None and not tool_timeout > 0:
        raise ValueError(f"tool_timeout must be a positive number of seconds, got {tool_timeout!r}")
    if "stream" in chat_kwargs:
        raise ValueError("run_agent_loop streams with on_delta=, not stream=")
    if on_delta is not None and not callable(on_delta):
        raise TypeError(f"on_delta must be callable, not {type(on_delta).__name__}")
    by_name = _tools_by_name(tools)
    conversation = [dict(m) for m in messages]
    if not conversation:
        raise ValueError("messages must not be empty")
    if model is not None:
        chat_kwargs["model"] = model
    definitions = [dict(tool.definition) for tool in by_name.values()]
    if definitions:
        chat_kwargs["tools"] = definitions
    usage: dict[str, int] = {}
    cost: float | None = None
    history: list[AgentRound] = []
    response = None
    for index in range(max_rounds):
        if on_delta is None:
            response = await client.chat(messages=conversation, **chat_kwargs)
        else:
            response = await _streamed(client, conversation, chat_kwargs, on_delta)
        _add_usage(usage, response.usage)
        spent = response.cost
        if spent is not None:
            cost = (cost or 0.0) + spent
        choices = response.choices
        message = choices[0].message if choices else None
        calls = message.tool_calls if message is not None else None
        if message is not None:
            # Only what a provider takes back (no refusal, annotations or reasoning fields).
            turn: dict[str, Any] = {"role": "assistant", "content": message.content}
            if calls:
                turn["tool_calls"] = [call.to_dict() for call in calls]
            conversation.append(turn)
        outcomes: tuple[ToolOutcome, ...] = ()
        if calls and len(calls) == 1:
            outcomes = (await _run_call(calls[0], by_name, tool_timeout),)
        elif calls:
            outcomes = tuple(await asyncio.gather(*(_run_call(call, by_name, tool_timeout) for call in calls)))
        for outcome in outcomes:
            if outcome.error is not None and tool_errors == "raise":
                if isinstance(outcome.error, _Refused):
                    raise ValueError(str(outcome.error)) from None
                raise outcome.error
            conversation.append({"role": "tool", "tool_call_id": outcome.id, "content": outcome.content})
        this_round = AgentRound(index, response, outcomes)
        history.append(this_round)
        if not calls:
            return AgentResult(response, conversation, index + 1, usage, cost, "answer", history)
        if on_round is not None:
            verdict = on_round(this_round)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            if verdict is False:
                return AgentResult(response, conversation, index + 1, usage, cost, "callback", history)
    return AgentResult(response, conversation, max_rounds, usage, cost, "max_rounds", history)


async def _streamed(
    client: Any, conversation: list[dict[str, Any]], chat_kwargs: dict[str, Any], on_delta: Callable[[str], Any]
) -> Any:
    """One round as a stream: each piece of the answer's text goes to ``on_delta`` as it arrives;
    the chunks make up the round's response (with usage, for the sums)."""
    from liter_llm._liter_llm import ChatCompletionResponse

    kwargs = dict(chat_kwargs)
    kwargs.setdefault("stream_options", {"include_usage": True})
    chunks = []
    async with await client.chat_stream(messages=conversation, **kwargs) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            text = chunk.choices[0].delta.content if chunk.choices else None
            if text:
                shown = on_delta(text)
                if inspect.isawaitable(shown):
                    await shown
    return ChatCompletionResponse.from_chunks(chunks)


def run_agent_loop_sync(client: Any, **kwargs: Any) -> AgentResult:
    """``run_agent_loop`` for code without an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_agent_loop(client, **kwargs))
    raise RuntimeError("run_agent_loop_sync cannot run inside an event loop; await run_agent_loop instead")


async def run_agent_loops(
    client: Any,
    loops: Iterable[Mapping[str, Any]],
    *,
    max_concurrency: int | None = None,
    return_exceptions: bool = True,
    **shared: Any,
) -> list[AgentResult | BaseException]:
    """The loops behind ``LlmClient.run_agent_loops`` (see there)."""
    if max_concurrency is not None and (not isinstance(max_concurrency, int) or max_concurrency < 1):
        raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
    specs = [dict(shared, **loop) for loop in loops]
    gate = asyncio.Semaphore(max_concurrency or len(specs) or 1)

    async def one(spec: dict[str, Any]) -> AgentResult:
        async with gate:
            return await run_agent_loop(client, **spec)

    return list(await asyncio.gather(*(one(spec) for spec in specs), return_exceptions=return_exceptions))


class McpToolError(Exception):
    """A tool of an MCP server answered with an error (its text is the message)."""


class McpTools(list):  # type: ignore[type-arg]
    """The tools of one MCP server, ready for ``run_agent_loop``, and the session they call.

    ``await tools.close()`` ends the session (and stops a stdio server's process); so does
    leaving ``async with await tools_from_mcp(...) as tools:``, or dropping every tool.
    """

    def __init__(self, tools: list[Tool], session: Any) -> None:
        super().__init__(tools)
        self.session = session

    async def close(self) -> None:
        """Ends the session."""
        await self.session.close()

    async def __aenter__(self) -> McpTools:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def _mcp_caller(session: Any, name: str) -> Callable[..., Awaitable[str]]:
    async def call(**arguments: Any) -> str:
        text, is_error = await session.call(name, arguments)
        if is_error:
            raise McpToolError(text)
        return str(text)

    call.__name__ = name
    return call


async def tools_from_mcp(
    command: Sequence[str] | None = None,
    *,
    url: str | None = None,
    env: Mapping[str, str] | None = None,
    token: str | None = None,
    timeout: float = 60.0,
) -> McpTools:
    """The tools of an MCP server, as ``Tool`` objects for ``run_agent_loop``.

    ``command`` (``[program, *args]``, ``env`` added to its environment) starts the server and
    speaks to it over stdio; ``url`` reaches a streamable-HTTP server (``token`` sent as a
    bearer token; redirects to other origins are refused). ``timeout`` (seconds) bounds the
    handshake and every call. A tool answering with an error raises ``McpToolError`` (the loop
    tells the model). Raises ``ValueError``/``TypeError`` for bad arguments, ``NetworkError`` or
    ``LlmTimeoutError`` when the server cannot be reached or started.
    """
    from liter_llm._liter_llm import McpSession

    if (command is None) == (url is None):
        raise ValueError("give command=[program, *args] (stdio) or url=... (streamable HTTP), not both")
    if command is not None:
        if isinstance(command, (str, bytes)):
            raise TypeError("command must be a list: [program, *args]")
        session = await McpSession.stdio(list(command), env=dict(env) if env else None, timeout=timeout)
    else:
        if env is not None:
            raise ValueError("env applies to a server started with command=")
        session = await McpSession.http(str(url), token=token, timeout=timeout)
    definitions = await session.tools()
    return McpTools([Tool(d, _mcp_caller(session, d["function"]["name"])) for d in definitions], session)
