"""chat_stream(): request shape, chunk contents, SSE parsing robustness, ends, cuts and in-stream errors."""

from __future__ import annotations

import asyncio
import gc
import json
import time

import pytest
import scenario_server as ss
from conftest import MODEL, user
from liter_llm import (
    ChatCompletionChunk,
    ChatStreamIterator,
    ContentPolicyError,
    ContextWindowExceededError,
    FunctionCallDelta,
    LlmError,
    RateLimitedError,
    SerializationError,
    ServiceUnavailableError,
    StreamingError,
    ToolCallDelta,
)


def contents(chunks: list[ChatCompletionChunk]) -> list:
    return [c.choices[0].delta.content for c in chunks if c.choices]


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(x or "" for x in contents(chunks))


# --------------------------------------------------------------------------------------------
# Against the mock server
# --------------------------------------------------------------------------------------------


async def test_stream_request_is_the_chat_request_with_stream_true(client, mock_server):
    stream = await client.chat_stream(model=MODEL, messages=user("hi there"), temperature=0.1, vendor_flag=True)
    assert isinstance(stream, ChatStreamIterator)
    async for _ in stream:
        pass
    [req] = mock_server.requests()
    assert req["method"] == "POST"
    assert req["path"] == "/v1/chat/completions"
    assert req["json"] == {
        "model": MODEL,
        "messages": user("hi there"),
        "temperature": 0.1,
        "vendor_flag": True,
        "stream": True,
    }


async def test_stream_yields_role_first_then_content_then_finish_reason(client):
    stream = await client.chat_stream(model=MODEL, messages=user("the quick brown fox"))
    chunks = [c async for c in stream]

    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert text_of(chunks) == "the quick brown fox"
    assert len([x for x in contents(chunks) if x]) >= 2  # really streamed in pieces
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:] if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert all(f is None for f in finishes[:-1])
    assert len({c.id for c in chunks}) == 1
    assert all(c.usage is None for c in chunks)


async def test_stream_options_include_usage_adds_a_usage_chunk(client, mock_server):
    stream = await client.chat_stream(
        model=MODEL, messages=user("count my tokens"), stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]

    assert mock_server.requests()[0]["json"]["stream_options"] == {"include_usage": True}
    assert len([c for c in chunks if c.usage is not None]) == 1
    last = chunks[-1]
    assert last.usage is not None
    assert last.choices == []
    u = last.usage
    assert u.prompt_tokens > 0 and u.completion_tokens > 0
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens
    assert text_of(chunks) == "count my tokens"


async def test_configured_stream_chunks_arrive_in_order(make_client):
    from liter_llm.testing import MockServer

    pieces = ["Hel", "lo, ", "wor", "ld", "! 👋"]
    with MockServer(stream_chunks=pieces) as server:
        stream = await make_client(server.base_url).chat_stream(model=MODEL, messages=user("x"))
        chunks = [c async for c in stream]
    assert [x for x in contents(chunks) if x] == pieces


async def test_n_streams_every_choice(client):
    stream = await client.chat_stream(model=MODEL, messages=user("two ways"), n=2)
    chunks = [c async for c in stream]
    by_index: dict[int, str] = {}
    for c in chunks:
        for ch in c.choices:
            by_index[ch.index] = by_index.get(ch.index, "") + (ch.delta.content or "")
    assert by_index == {0: "two ways", 1: "two ways"}


async def test_max_tokens_ends_the_stream_with_finish_reason_length(client):
    stream = await client.chat_stream(model=MODEL, messages=user("one two three four five six"), max_tokens=2)
    chunks = [c async for c in stream]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"


@pytest.mark.parametrize(
    "text", ["Hello 👋🏽 👨‍👩‍👧‍👦", "你好，世界。こんにちは", "e\u0301 a\u0308 n\u0303", 'quote " backslash \\ nl \n']
)
async def test_unicode_streams_back_exactly(client, mock_server, text):
    stream = await client.chat_stream(model=MODEL, messages=user(text))
    chunks = [c async for c in stream]
    assert mock_server.requests()[0]["json"]["messages"][0]["content"] == text
    assert text_of(chunks) == text


async def test_exhausted_stream_keeps_raising_stop_async_iteration(client):
    stream = await client.chat_stream(model=MODEL, messages=user("done soon"))
    async for _ in stream:
        pass
    for _ in range(3):
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()


async def test_async_with_closes_the_stream(client):
    async with await client.chat_stream(model=MODEL, messages=user("a b c d")) as stream:
        first = await stream.__anext__()
        assert first.choices[0].delta.role == "assistant"
    with pytest.raises(StopAsyncIteration):
        await stream.__anext__()


async def test_an_error_status_is_raised_by_the_awaited_call_not_by_iteration(client, mock_server):
    mock_server.push_faults([{"status": 429, "retry_after": 3}])
    with pytest.raises(RateLimitedError) as info:
        await client.chat_stream(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 429
    assert info.value.retry_after == 3.0
    assert mock_server.request_count == 1


async def test_a_stream_cut_before_done_raises_streaming_error_after_the_chunks_it_got(client, mock_server):
    full = "one two three four five six seven"
    mock_server.push_faults([{"cut_after": 2}])
    stream = await client.chat_stream(model=MODEL, messages=user(full))
    got = []
    with pytest.raises(StreamingError) as info:
        async for c in stream:
            got.append(c)
    text = text_of(got)
    assert text.strip() == "one two"
    assert full.startswith(text)
    assert info.value.status_code in (None, 200)


async def test_an_in_stream_error_event_raises_a_mapped_error(client, mock_server):
    mock_server.push_faults(
        [
            {
                "cut_after": 1,
                "error_event": {"message": "The model is overloaded right now.", "type": "server_error", "code": None},
            }
        ]
    )
    stream = await client.chat_stream(model=MODEL, messages=user("alpha beta gamma"))
    got = []
    with pytest.raises(LlmError) as info:
        async for c in stream:
            got.append(c)
    assert "The model is overloaded right now." in str(info.value)
    assert text_of(got).strip() == "alpha"


async def test_a_malformed_chunk_raises_instead_of_being_skipped(client, mock_server):
    mock_server.push_faults([{"malformed": True}])
    stream = await client.chat_stream(model=MODEL, messages=user("x y z"))
    with pytest.raises((StreamingError, SerializationError)):
        async for _ in stream:
            pass


async def test_a_stream_stays_readable_after_the_client_is_dropped(mock_server, make_client):
    client = make_client(mock_server.base_url)
    stream = await client.chat_stream(model=MODEL, messages=user("orphaned but fine"))
    del client
    gc.collect()
    chunks = [c async for c in stream]
    assert text_of(chunks) == "orphaned but fine"


async def test_twenty_concurrent_streams_each_get_their_own_text(client):
    async def one(i: int) -> str:
        stream = await client.chat_stream(model=MODEL, messages=user(f"stream number {i} of twenty"))
        return text_of([c async for c in stream])

    results = await asyncio.gather(*(one(i) for i in range(20)))
    assert results == [f"stream number {i} of twenty" for i in range(20)]


# --------------------------------------------------------------------------------------------
# SSE written in tricky ways (independent server)
# --------------------------------------------------------------------------------------------

PIECES = ["Hé", "llo 😀", " 世界", " e\u0301", "!\n", "\r\ndone"]
EVENTS = ss.text_chunks(PIECES)
EXPECTED_CONTENTS = ["", *PIECES, None]
EXPECTED_FINISH = [None] * (len(PIECES) + 1) + ["stop"]


def _with_comments(eol: str = "\n") -> bytes:
    out = f": OPENROUTER PROCESSING{eol}{eol}".encode()
    for e in EVENTS:
        out += f": keep-alive{eol}".encode() + ss.sse_event(e, eol=eol)
    return out + f":{eol}{eol}".encode() + ss.sse_event("[DONE]", eol=eol)


def _mixed() -> bytes:
    out = b": hello\r\n\r\n"
    for i, e in enumerate(EVENTS):
        eol = "\r\n" if i % 2 else "\n"
        out += ss.sse_event(e, eol=eol, event="message", id=str(i), retry=3000, comment="tick", multiline=i % 3 == 0)
    return out + ss.sse_event("[DONE]", eol="\r\n", id="end")


SSE_VARIANTS = {
    "lf": ss.sse_body(EVENTS),
    "crlf": ss.sse_body(EVENTS, eol="\r\n"),
    "comments": _with_comments(),
    "comments-crlf": _with_comments("\r\n"),
    "event-id-retry-fields": ss.sse_body(EVENTS, event="message", id="7", retry=1000),
    "multiline-data": ss.sse_body(EVENTS, multiline=True),
    "multiline-data-crlf": ss.sse_body(EVENTS, multiline=True, eol="\r\n"),
    "no-space-after-colon": ss.sse_body(EVENTS, space=False),
    "mixed": _mixed(),
}


def _events_apart(payload: bytes) -> list[bytes]:
    """Split an SSE body after every blank line (LF or CRLF), keeping the bytes exact."""
    parts, i = [], 0
    while i < len(payload):
        found = [(j, n) for j, n in ((payload.find(b"\n\n", i), 2), (payload.find(b"\r\n\r\n", i), 4)) if j >= 0]
        if not found:
            parts.append(payload[i:])
            break
        j, n = min(found)
        parts.append(payload[i : j + n])
        i = j + n
    return parts


async def _collect(client, **kw) -> list[ChatCompletionChunk]:
    stream = await client.chat_stream(model=MODEL, messages=user("hi"), **kw)
    return [c async for c in stream]


def _check(chunks: list[ChatCompletionChunk]) -> None:
    assert contents(chunks) == EXPECTED_CONTENTS
    assert [c.choices[0].finish_reason for c in chunks] == EXPECTED_FINISH
    assert chunks[0].choices[0].delta.role == "assistant"
    assert text_of(chunks) == "".join(PIECES)


@pytest.mark.parametrize("variant", list(SSE_VARIANTS))
async def test_sse_variants_in_one_write(scenario, scenario_client, variant):
    scenario.script(ss.sse_response([SSE_VARIANTS[variant]]))
    _check(await _collect(scenario_client))


@pytest.mark.parametrize("variant", list(SSE_VARIANTS))
async def test_sse_variants_one_event_per_write(scenario, scenario_client, variant):
    scenario.script(ss.sse_response(_events_apart(SSE_VARIANTS[variant]), delay=0.01))
    _check(await _collect(scenario_client))


@pytest.mark.parametrize("variant", ["lf", "crlf", "mixed"])
async def test_sse_variants_one_byte_per_write(scenario, scenario_client, variant):
    scenario.script(ss.sse_response(ss.byte_writes(SSE_VARIANTS[variant]), delay=0.0005))
    _check(await _collect(scenario_client))


async def test_sse_without_chunked_framing(scenario, scenario_client):
    scenario.script(ss.sse_response(_events_apart(SSE_VARIANTS["crlf"]), delay=0.005, chunked=False))
    _check(await _collect(scenario_client))


SPLIT_PIECES = ["é😀\r", "世"]
SPLIT_PAYLOAD = (
    b": c\r\n\r\n"
    + ss.sse_event(ss.chunk("", role="assistant"), eol="\r\n")
    + ss.sse_event(ss.chunk(SPLIT_PIECES[0]), eol="\r\n", id="1")
    + ss.sse_event(ss.chunk(SPLIT_PIECES[1]), eol="\n", multiline=True)
    + ss.sse_event(ss.chunk(finish_reason="stop"), eol="\r\n")
    + ss.sse_event("[DONE]", eol="\r\n")
)


@pytest.mark.slow
async def test_sse_split_into_two_writes_at_every_byte_boundary(scenario, scenario_client):
    async def by_split(request, rec, ctl):
        at = rec.json["x_split"]
        return await ss.sse_response(ss.split_writes(SPLIT_PAYLOAD, at=[at]), delay=0.005)(request, rec, ctl)

    scenario.set_default(by_split)
    sem = asyncio.Semaphore(16)
    failures: list[tuple[int, object]] = []

    async def one(at: int) -> None:
        async with sem:
            try:
                chunks = await _collect(scenario_client, x_split=at)
                got = (contents(chunks), [c.choices[0].finish_reason for c in chunks])
            except Exception as exc:  # collected so the report names every failing boundary
                got = exc
            if got != (["", *SPLIT_PIECES, None], [None, None, None, "stop"]):
                failures.append((at, got))

    await asyncio.gather(*(one(at) for at in range(1, len(SPLIT_PAYLOAD))))
    assert failures == []
    assert scenario.request_count == len(SPLIT_PAYLOAD) - 1


async def test_multibyte_characters_split_across_writes(scenario, scenario_client):
    text = "😀é世\u0301"
    payload = ss.sse_body(ss.text_chunks([text]))
    start = payload.index(text.encode())
    # cut inside the 4-byte emoji, inside the 2-byte é, inside the 3-byte 世 and the combining mark
    cuts = [start + 1, start + 2, start + 3, start + 5, start + 7, start + 8, start + 10, start + 11]
    scenario.script(ss.sse_response(ss.split_writes(payload, at=cuts), delay=0.01))
    chunks = await _collect(scenario_client)
    assert text_of(chunks) == text


async def test_a_1_mb_event_split_over_many_writes(scenario, scenario_client):
    big = "δ€𝄞x" * (1024 * 1024 // 10)
    payload = ss.sse_body(ss.text_chunks(["start ", big, " end"]))
    writes = [payload[i : i + 7919] for i in range(0, len(payload), 7919)]
    scenario.script(ss.sse_response(writes))
    chunks = await _collect(scenario_client)
    assert text_of(chunks) == "start " + big + " end"


async def test_the_stream_ends_at_done_even_if_the_server_keeps_the_connection_open(scenario, scenario_client):
    scenario.script(ss.sse_response([ss.sse_body(EVENTS)], end="hang"))
    start = time.monotonic()
    chunks = await asyncio.wait_for(_collect(scenario_client), 20)
    assert time.monotonic() - start < 10  # the server holds the connection until the test ends
    _check(chunks)


async def test_bytes_after_done_are_ignored(scenario, scenario_client):
    scenario.script(ss.sse_response([ss.sse_body(EVENTS) + b"data: {not json\n\n"]))
    _check(await _collect(scenario_client))


async def test_tool_call_deltas_streamed_the_openai_way(scenario, scenario_client):
    def tc_chunk(tool_calls=None, role=None, finish_reason=None):
        delta = {"content": None}
        if role:
            delta["role"] = role
        if tool_calls is not None:
            delta["tool_calls"] = tool_calls
        return {
            "id": "chatcmpl-tools",
            "object": "chat.completion.chunk",
            "created": ss.CREATED,
            "model": "gpt-4o",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }

    events = [
        tc_chunk(
            role="assistant",
            tool_calls=[
                {"index": 0, "id": "call_A", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
            ],
        ),
        tc_chunk([{"index": 0, "function": {"arguments": '{"ci'}}]),
        tc_chunk([{"index": 0, "function": {"arguments": 'ty": "Par'}}]),
        tc_chunk([{"index": 0, "function": {"arguments": 'is"}'}}]),
        tc_chunk([{"index": 1, "id": "call_B", "type": "function", "function": {"name": "get_time", "arguments": ""}}]),
        tc_chunk([{"index": 1, "function": {"arguments": '{"tz": "CET"}'}}]),
        tc_chunk(finish_reason="tool_calls"),
    ]
    scenario.script(ss.sse_response(_events_apart(ss.sse_body(events)), delay=0.005))
    chunks = await _collect(scenario_client, tools=[{"type": "function", "function": {"name": "get_weather"}}])

    assert len(chunks) == len(events)
    first = chunks[0].choices[0].delta
    assert first.role == "assistant"
    assert first.content is None
    [tc] = first.tool_calls
    assert isinstance(tc, ToolCallDelta)
    assert (tc.index, tc.id, tc.type) == (0, "call_A", "function")
    assert isinstance(tc.function, FunctionCallDelta)
    assert (tc.function.name, tc.function.arguments) == ("get_weather", "")

    later = chunks[1].choices[0].delta.tool_calls[0]
    assert (later.index, later.id, later.type, later.function.name) == (0, None, None, None)
    assert later.function.arguments == '{"ci'

    calls: dict[int, dict[str, str]] = {}
    for c in chunks:
        for d in c.choices[0].delta.tool_calls or []:
            slot = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] = d.id or slot["id"]
            if d.function is not None:
                slot["name"] = d.function.name or slot["name"]
                slot["arguments"] += d.function.arguments or ""
    assert calls[0]["id"] == "call_A" and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    assert calls[1]["id"] == "call_B" and calls[1]["name"] == "get_time"
    assert json.loads(calls[1]["arguments"]) == {"tz": "CET"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices[0].delta.tool_calls is None


async def test_usage_chunk_from_an_independent_server(scenario, scenario_client):
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 3,
        "total_tokens": 12,
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    events = ss.text_chunks(["a", "b"]) + [ss.chunk(no_choices=True, usage=usage)]
    scenario.script(ss.sse_response([ss.sse_body(events)]))
    chunks = await _collect(scenario_client, stream_options={"include_usage": True})
    assert chunks[-1].choices == []
    u = chunks[-1].usage
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (9, 3, 12)
    assert u.completion_tokens_details.reasoning_tokens == 1
    assert u.completion_tokens_details.audio_tokens is None
    assert all(c.usage is None for c in chunks[:-1])


# --------------------------------------------------------------------------------------------
# Cuts and in-stream errors (independent server)
# --------------------------------------------------------------------------------------------

CUT_PREFIX = [ss.sse_event(e) for e in ss.text_chunks(["partial ", "answer"])[:-1]]  # no finish, no [DONE]


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("cut", id="tcp-abort-mid-chunked-body"),
        pytest.param("eof", id="clean-eof-without-done"),
        pytest.param("eof-unframed", id="clean-eof-content-length-without-done"),
    ],
)
@pytest.mark.parametrize("one_write", [False, True], ids=["separate-writes", "one-write"])
async def test_a_stream_that_ends_before_done_raises_streaming_error(scenario, scenario_client, how, one_write):
    writes = [b"".join(CUT_PREFIX)] if one_write else CUT_PREFIX
    if how == "eof-unframed":
        scenario.script(ss.sse_response(writes, delay=0.01, chunked=False))
    else:
        scenario.script(ss.sse_response(writes, delay=0.01, end=how))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    got = []
    with pytest.raises(StreamingError):
        async for c in stream:
            got.append(c)
    assert text_of(got) == "partial answer"


async def test_a_stream_cut_in_the_middle_of_an_event_raises_streaming_error(scenario, scenario_client):
    half_event = ss.sse_event(ss.chunk("never finished"))[:30]
    scenario.script(ss.sse_response([*CUT_PREFIX, half_event], delay=0.01, end="cut"))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    got = []
    with pytest.raises(StreamingError):
        async for c in stream:
            got.append(c)
    assert text_of(got) == "partial answer"


async def test_a_stream_cut_before_any_event_raises_streaming_error(scenario, scenario_client):
    scenario.script(ss.sse_response([b": just a comment\n\n"], end="cut"))
    with pytest.raises(StreamingError):
        stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
        async for _ in stream:
            pass


async def test_a_cut_stream_is_not_retried_or_replayed(scenario, make_client):
    client = make_client(scenario.base_url, max_retries=3)
    scenario.script(ss.sse_response(CUT_PREFIX, end="cut"))
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    got = []
    with pytest.raises(StreamingError):
        async for c in stream:
            got.append(c)
    assert text_of(got) == "partial answer"  # nothing replayed or duplicated
    # A later call on the same client is the first request after the cut one: no retry.
    r = await client.chat(model=MODEL, messages=user("after"))
    assert r.choices[0].message.content == "after"
    assert [rec.json["messages"][0]["content"] for rec in scenario.requests] == ["hi", "after"]


ERROR_EVENTS = [
    pytest.param(
        {"message": "The server had an error while processing your request.", "type": "server_error", "code": None},
        LlmError,
        id="server_error",
    ),
    pytest.param(
        {
            "message": "This model's maximum context length is 8192 tokens.",
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        },
        ContextWindowExceededError,
        id="context_length_exceeded",
    ),
    pytest.param(
        {"message": "Output blocked by the content filter.", "type": "invalid_request_error", "code": "content_filter"},
        ContentPolicyError,
        id="content_filter",
    ),
]


@pytest.mark.parametrize("one_write", [False, True], ids=["separate-writes", "one-write"])
@pytest.mark.parametrize(("error", "exc"), ERROR_EVENTS)
async def test_an_error_event_mid_stream_raises_the_mapped_error(scenario, scenario_client, error, exc, one_write):
    writes = [*CUT_PREFIX, ss.sse_event({"error": error})]
    if one_write:
        writes = [b"".join(writes)]
    scenario.script(ss.sse_response(writes, delay=0.01))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    got = []
    with pytest.raises(exc) as info:
        async for c in stream:
            got.append(c)
    assert text_of(got) == "partial answer"
    assert error["message"] in str(info.value)
    assert info.value.provider == "openai"
    assert info.value.model == MODEL


async def test_an_error_event_followed_by_done_still_raises(scenario, scenario_client):
    error = {"message": "Rate limit reached mid-stream.", "type": "requests", "code": "rate_limit_exceeded"}
    writes = [*CUT_PREFIX, ss.sse_event({"error": error}), ss.sse_event("[DONE]")]
    scenario.script(ss.sse_response(writes, delay=0.01))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(LlmError) as info:
        async for _ in stream:
            pass
    assert "Rate limit reached mid-stream." in str(info.value)


async def test_an_error_status_with_an_sse_content_type_is_still_an_error(scenario, scenario_client):
    body = json.dumps(ss.error_body("Engine overloaded", type="server_error")).encode()
    scenario.script(ss.raw_response(body, status=503, content_type="text/event-stream"))
    with pytest.raises(ServiceUnavailableError) as info:
        await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    assert "Engine overloaded" in str(info.value)
