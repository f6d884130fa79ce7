"""Hostile answers and careless arguments: no key leaks, no limiter poisoning, no panics.

* The key is masked before any cut, in every place a server can echo it: text and JSON error
  bodies (values and object keys), request-id headers, stream error events, log lines and the
  CLI's batch records.
* Usage no call could spend is unknown: it never becomes a rate-limit debt or a wrapped counter.
* Out-of-range arguments are typed errors raised before anything is sent, never a panic.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, assert_no_key, surface, user
from liter_llm import BadRequestError, LlmClient, LlmError, RateLimiter, StreamingError

KEY_PARTS = [API_KEY[:n] for n in range(10, len(API_KEY) + 1)]


def assert_no_key_part(text: str) -> None:
    """No prefix of the key of 10 characters or more (nor its inner markers) appears."""
    assert_no_key(text)
    for part in KEY_PARTS:
        assert part not in text, f"key prefix {part[:12]}... shown"


# ----- key leaks -----


@pytest.mark.parametrize("offset", list(range(480, 505, 3)) + [0, 499, 500, 501])
@pytest.mark.parametrize("status", [400, 500])
async def test_a_key_straddling_the_message_cut_is_masked_first(scenario, make_client, offset, status):
    text = "x" * offset + API_KEY + "y" * 600
    scenario.script(ss.raw_response(text, status=status, content_type="text/plain"))
    with pytest.raises(LlmError) as info:
        await make_client(scenario.base_url).chat(model=MODEL, messages=user("hi"))
    assert_no_key_part(surface(info.value))
    assert "[redacted]" in str(info.value.body)


@pytest.mark.parametrize("cut", [5, 10, 15, len(API_KEY) - 1])
async def test_an_error_body_cut_at_its_cap_in_the_middle_of_the_key_loses_the_prefix(scenario, make_client, cut):
    cap = 2048
    text = "e" * (cap - cut) + API_KEY + "tail"
    scenario.script(ss.raw_response(text, status=400, content_type="text/plain"))
    with pytest.raises(BadRequestError) as info:
        await make_client(scenario.base_url, max_error_body_bytes=cap).chat(model=MODEL, messages=user("hi"))
    assert_no_key_part(surface(info.value))
    assert str(info.value.body).endswith("[redacted]")


@pytest.mark.parametrize("end", ["cut", "hang"])
@pytest.mark.parametrize("cut", [10, 20, len(API_KEY) - 1])
async def test_an_error_body_cut_by_the_transport_in_the_middle_of_the_key_loses_the_prefix(
    scenario, make_client, end, cut
):
    body = ("bad key " + API_KEY[:cut]).encode()
    scenario.script(ss.sse_response([body], status=400, end=end, headers={"Content-Type": "text/plain"}))
    client = make_client(scenario.base_url, total_timeout=1)
    with pytest.raises(BadRequestError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert_no_key_part(surface(info.value))
    assert str(info.value.body).startswith("bad key ")


@pytest.mark.parametrize("header", ["x-request-id", "request-id"])
@pytest.mark.parametrize("status", [200, 401, 429, 503])
async def test_a_key_echoed_in_a_request_id_header_is_masked(scenario, make_client, caplog, header, status):
    caplog.set_level(logging.DEBUG, logger="liter_llm")
    headers = {header: f"req-{API_KEY}-42"}
    if status == 200:
        scenario.script(ss.json_response(ss.completion("ok"), headers=headers))
    else:
        fail = ss.error_response(status, "nope", headers={**headers, "retry-after-ms": "1"})
        scenario.script(fail, fail)
    client = make_client(scenario.base_url, max_retries=1)
    if status == 200:
        r = await client.chat(model=MODEL, messages=user("hi"))
        assert r.request_id == "req-[redacted]-42"
        assert_no_key_part(repr(r) + r.to_json())
    else:
        with pytest.raises(LlmError) as info:
            await client.chat(model=MODEL, messages=user("hi"))
        assert info.value.request_id == "req-[redacted]-42"
        assert_no_key_part(surface(info.value))
    for record in caplog.records:
        assert_no_key_part(record.getMessage())


async def test_a_very_long_request_id_is_cut_after_masking(scenario, make_client):
    scenario.script(ss.json_response(ss.completion("ok"), headers={"x-request-id": "r" * 250 + API_KEY * 3}))
    r = await make_client(scenario.base_url).chat(model=MODEL, messages=user("hi"))
    assert r.request_id is not None and len(r.request_id) <= 256
    assert_no_key_part(r.request_id)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "bad", API_KEY: 1}},
        {"error": {"message": "bad", "details": [{f"key={API_KEY}": {API_KEY: API_KEY}}]}},
        {API_KEY: {"error": "x"}},
        {"detail": {"loc": ["header", API_KEY], f"{API_KEY}x": None}},
    ],
    ids=["error-key", "nested-key", "top-key", "fastapi-detail"],
)
async def test_a_key_used_as_a_json_object_key_is_masked(scenario, make_client, body):
    scenario.script(ss.json_response(body, status=401))
    with pytest.raises(LlmError) as info:
        await make_client(scenario.base_url).chat(model=MODEL, messages=user("hi"))
    assert_no_key_part(surface(info.value))


async def test_a_key_in_a_stream_error_event_key_or_value_is_masked(scenario, make_client):
    event = {"error": {"message": f"bad key {API_KEY}", API_KEY: {"k": API_KEY}, "type": "server_error"}}
    scenario.script(ss.sse_response([ss.sse_event(c) for c in ss.text_chunks(["a"])] + [ss.sse_event(event)]))
    stream = await make_client(scenario.base_url).chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(LlmError) as info:
        async for _ in stream:
            pass
    assert_no_key_part(surface(info.value))


def test_cli_records_and_stderr_never_show_an_echoed_key(scenario, tmp_path):
    requests = tmp_path / "in.jsonl"
    requests.write_text(
        "".join(
            json.dumps({"custom_id": f"r{i}", "body": {"model": MODEL, "messages": user("hi")}}) + "\n"
            for i in range(3)
        )
    )
    echo = {"x-request-id": f"id-{API_KEY}"}
    scenario.script(
        ss.raw_response("z" * 495 + API_KEY, status=400, headers=echo),
        ss.json_response({"error": {"message": "no", API_KEY: 1}}, status=401, headers=echo),
        ss.json_response(ss.completion("fine"), headers=echo),
    )
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "OPENAI_API_KEY": API_KEY}
    proc = subprocess.run(
        [sys.executable, "-m", "liter_llm", "batch", str(requests), "-o", str(out), "--base-url", scenario.base_url,
         "--max-retries", "0", "--concurrency", "1"],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert out.exists(), proc.stderr
    records = out.read_text()
    assert records.count("\n") == 3
    assert_no_key_part(records)
    assert_no_key_part(proc.stdout + proc.stderr)


# ----- absurd usage -----

ABSURD_USAGE = [
    {"prompt_tokens": 1e30, "completion_tokens": 1, "total_tokens": 1e30},
    {"prompt_tokens": 2**63 - 1, "completion_tokens": 2**63 - 1, "total_tokens": 2**63 - 1},
    {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7, "cache_read_input_tokens": 2**64 - 1},
    {"prompt_tokens": 5, "completion_tokens": 9e18, "total_tokens": 9e18},
    {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7,
     "completion_tokens_details": {"reasoning_tokens": 1e300}},
]  # fmt: skip


@pytest.mark.parametrize("usage", ABSURD_USAGE, ids=[str(i) for i in range(len(ABSURD_USAGE))])
@pytest.mark.parametrize("shared", [False, True], ids=["own-limiter", "shared-limiter"])
async def test_absurd_usage_never_poisons_the_limiter_or_the_counters(scenario, make_client, usage, shared):
    limits: dict[str, Any] = {"max_tokens_per_minute": 100_000, "max_delay_seconds": 1}
    if shared:
        limiter = RateLimiter(**limits)
        poisoned, other = (
            make_client(scenario.base_url, rate_limiter=limiter),
            make_client(scenario.base_url, rate_limiter=limiter),
        )
    else:
        poisoned = other = make_client(scenario.base_url, **limits)
    scenario.script(ss.json_response(ss.completion("first", usage=usage)))
    first = await poisoned.chat(model=MODEL, messages=user("hi"), max_tokens=10)
    assert first.choices[0].message.content == "first"
    for i in range(5):
        r = await other.chat(model=MODEL, messages=user("hi"), max_tokens=10)
        assert r.choices[0].message.content, f"call {i} after the absurd usage failed"
    assert poisoned.usage.calls + (other.usage.calls if shared else 0) == 6
    assert 0 <= poisoned.usage.total_tokens < 10_000 and 0 <= poisoned.usage.prompt_tokens < 10_000
    assert 0 < other.usage.total_tokens < 10_000, "the calls with sane usage are counted"


async def test_absurd_usage_in_a_stream_never_poisons_the_limiter(scenario, make_client):
    events = ss.text_chunks(["a"]) + [ss.chunk(no_choices=True, usage=ABSURD_USAGE[0])]
    scenario.script(ss.sse_response([ss.sse_event(e) for e in events] + [ss.sse_event("[DONE]")]))
    client = make_client(scenario.base_url, max_tokens_per_minute=100_000, max_delay_seconds=1)
    stream = await client.chat_stream(model=MODEL, messages=user("hi"), max_tokens=10)
    async for _ in stream:
        pass
    for _ in range(3):
        await client.chat(model=MODEL, messages=user("hi"), max_tokens=10)
    assert client.usage.calls == 4 and 0 < client.usage.total_tokens < 10_000


@pytest.mark.parametrize(
    "header", [("retry-after", "1e300"), ("retry-after-ms", "1e300"), ("retry-after", "999999999")]
)
async def test_a_huge_retry_hint_is_reported_as_at_most_a_day(scenario, make_client, header):
    scenario.script(ss.error_response(429, "slow down", headers=dict([header])))
    with pytest.raises(LlmError) as info:
        await make_client(scenario.base_url).chat(model=MODEL, messages=user("hi"))
    assert info.value.retry_after == 86400.0


# ----- numbers from the wire that size memory or a wait (native protocols) -----


def native_client(scenario: Any, provider: str) -> LlmClient:
    return LlmClient(
        api_key=API_KEY, max_retries=0, timeout=20, providers=[{"name": provider, "base_url": scenario.base_url}]
    )


def gemini_event(index: Any) -> bytes:
    candidate = {"content": {"parts": [{"text": "hi"}], "role": "model"}, "index": index}
    return ss.sse_event({"candidates": [candidate]})


@pytest.mark.parametrize("index", [4294967295, 2**63 - 1, 128, 10**6])
async def test_a_huge_gemini_candidate_index_is_a_typed_error_not_an_abort(scenario, index):
    scenario.script(ss.sse_response([gemini_event(0), gemini_event(index)]))
    client = native_client(scenario, "gemini")
    stream = await client.chat_stream(model="gemini/gemini-2.5-flash", messages=user("hi"))
    with pytest.raises(LlmError, match="out of range"):
        async for _ in stream:
            pass
    body = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "index": index}]}
    scenario.script(ss.json_response(body))
    with pytest.raises(LlmError, match="out of range"):
        await client.chat(model="gemini/gemini-2.5-flash", messages=user("hi"))


@pytest.mark.parametrize("delay", ["1e20s", "1e308s", "-5s", "nans", "infs", "99999999999999999999s"])
async def test_a_hostile_gemini_retry_delay_is_bounded(scenario, delay):
    info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
    body = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED", "details": [info]}}
    scenario.script(ss.json_response(body, status=429))
    with pytest.raises(LlmError) as caught:
        await native_client(scenario, "gemini").chat(model="gemini/gemini-2.5-flash", messages=user("hi"))
    assert caught.value.status_code == 429
    assert caught.value.retry_after is None or 0 <= caught.value.retry_after <= 120


@pytest.mark.parametrize("index", [4294967295, 2**63 - 1, -1, 1e30, "7"])
async def test_hostile_anthropic_block_indexes_never_crash(scenario, index):
    start = {"type": "message_start", "message": {"id": "m", "role": "assistant", "content": [],
             "model": "claude-haiku-4-5", "usage": {"input_tokens": 3, "output_tokens": 1}}}  # fmt: skip
    tool = {"type": "tool_use", "id": "t", "name": "f", "input": {}}
    events = [
        ss.sse_event(start, event="message_start"),
        ss.sse_event({"type": "content_block_start", "index": index, "content_block": tool},
                     event="content_block_start"),
        ss.sse_event({"type": "content_block_delta", "index": index,
                      "delta": {"type": "input_json_delta", "partial_json": "{}"}}, event="content_block_delta"),
        ss.sse_event({"type": "message_stop"}, event="message_stop"),
    ]  # fmt: skip
    scenario.script(ss.sse_response(events))
    client = native_client(scenario, "anthropic")
    stream = await client.chat_stream(model="anthropic/claude-haiku-4-5", messages=user("hi"))
    if not (isinstance(index, int) and index >= 0):
        with pytest.raises(StreamingError, match="no index"):
            async for _ in stream:
                pass
        return
    calls = [
        tc for chunk in [c async for c in stream] if chunk.choices for tc in chunk.choices[0].delta.tool_calls or []
    ]
    assert [tc.index for tc in calls] == [0, 0], "a huge block index is a key, never a size"
    assert "".join(tc.function.arguments or "" for tc in calls) == "{}"


# ----- arguments that used to panic -----

BAD_SECONDS = [1e20, float("inf"), float("-inf"), float("nan"), -1.0, 0.0, 10**400]


@pytest.mark.parametrize("value", BAD_SECONDS, ids=repr)
async def test_out_of_range_durations_are_value_errors(scenario, make_client, value):
    with pytest.raises((ValueError, OverflowError)) as info:
        LlmClient(api_key=API_KEY, timeout=value)
    assert type(info.value).__name__ != "PanicException"
    with pytest.raises(ValueError, match="total_timeout"):
        LlmClient(api_key=API_KEY, total_timeout=value)
    client = make_client(scenario.base_url)
    with pytest.raises((ValueError, OverflowError)):
        client.with_options(timeout=value)
    with pytest.raises(ValueError, match="total_timeout"):
        client.with_options(total_timeout=value)
    with pytest.raises(ValueError, match="total_timeout"):
        await client.chat(model=MODEL, messages=user("hi"), total_timeout=value)
    with pytest.raises(ValueError, match="total_timeout"):
        await client.chat_stream(model=MODEL, messages=user("hi"), total_timeout=value)
    assert scenario.request_count == 0


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("max_response_bytes", 0, ValueError),
        ("max_response_bytes", -1, ValueError),
        ("max_response_bytes", 2**64, ValueError),
        ("max_download_bytes", 1.5, TypeError),
        ("max_stream_event_bytes", True, TypeError),
        ("max_error_body_bytes", "64k", TypeError),
        ("total_timeout", "5", TypeError),
        ("total_timeout", True, TypeError),
    ],
)
def test_limit_arguments_are_checked(name, value, error):
    with pytest.raises(error, match=name):
        LlmClient(api_key=API_KEY, **{name: value})
    with pytest.raises(error, match=name):
        LlmClient(api_key=API_KEY).with_options(**{name: value})


# ----- smaller leaks and surprises -----


@pytest.mark.parametrize(
    "base_url",
    ["http://user:hunter2-pass@127.0.0.1:9/v1", "http://hunter2-pass@127.0.0.1:9/v1", "https://a:hunter2-pass@h/x?q=1"],
)
def test_credentials_in_base_url_are_never_shown(base_url):
    client = LlmClient(api_key=API_KEY, base_url=base_url)
    for text in (repr(client), str(client), client.base_url, repr(client.with_options(max_retries=1))):
        assert "hunter2" not in text
        assert "***@" in text


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://elsewhere.example:8443/v2/chat/completions?key=hunter2", "https://elsewhere.example:8443/v2/chat"),
        ("https://u:hunter2@elsewhere.example/v2", "https://elsewhere.example/v2"),
        ("/v2/chat/completions?token=hunter2", "/v2/chat/completions"),
        ("", "redirect;"),
        ("//user:hunter2@elsewhere.example/v2?q=1", "elsewhere.example/v2"),
        ("http://elsewhere.example/" + "a" * 255 + API_KEY, "elsewhere.example/aaa"),
        ("/" + "b" * 290 + API_KEY, "/bbb"),
    ],
)
async def test_a_redirect_names_where_it_pointed(scenario, make_client, location, shown):
    scenario.script(ss.redirect(location, status=302))
    with pytest.raises(BadRequestError) as info:
        await make_client(scenario.base_url).chat(model=MODEL, messages=user("hi"))
    message = str(info.value)
    assert shown in message and "hunter2" not in message
    assert_no_key_part(surface(info.value))
    assert "base_url" in message and info.value.status_code == 302
    assert scenario.request_count == 1
