"""The API key never leaks: not in reprs, errors, logs, URLs or to other origins; headers cannot be injected."""

from __future__ import annotations

import logging

import pytest
import scenario_server as ss
from conftest import API_KEY, MODEL, assert_no_key, surface, user
from liter_llm import (
    AuthenticationError,
    InvalidHeaderError,
    LlmClient,
    LlmError,
    LlmTimeoutError,
    NetworkError,
    SerializationError,
    StreamingError,
)


def test_client_repr_and_str_never_show_the_key():
    client = LlmClient(api_key=API_KEY, base_url="http://127.0.0.1:9/v1", extra_headers={"X-A": "b"})
    for c in (client, client.with_options(max_retries=1), client.with_options(api_key=API_KEY + "-2")):
        assert_no_key(repr(c))
        assert_no_key(str(c))
        assert_no_key(f"{c!r} {c}")


async def test_stream_and_response_reprs_never_show_the_key(client):
    r = await client.chat(model=MODEL, messages=user("hi"))
    assert_no_key(repr(r) + r.to_json())
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    assert_no_key(repr(stream))
    async for c in stream:
        assert_no_key(repr(c))


async def test_the_key_goes_only_into_the_authorization_header(client, mock_server):
    await client.chat(model=MODEL, messages=user("hi"))
    [req] = mock_server.requests()
    assert req["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert_no_key(req["path"] + "?" + str(req["query"]))
    assert_no_key(req["body"].decode())
    for name, value in req["headers"].items():
        if name != "authorization":
            assert_no_key(value)


HTTP_ERRORS = [
    pytest.param(ss.error_response(400, "Bad request."), id="400"),
    pytest.param(
        ss.error_response(401, "Incorrect API key provided: sk-test-***leak.", code="invalid_api_key"), id="401"
    ),
    pytest.param(ss.error_response(403, "Forbidden."), id="403"),
    pytest.param(ss.error_response(404, "No such model."), id="404"),
    pytest.param(ss.error_response(429, "Slow down.", headers={"Retry-After": "5"}), id="429"),
    pytest.param(ss.error_response(500, "Oops.", type="server_error"), id="500"),
    pytest.param(ss.raw_response("<html>503</html>", status=503, content_type="text/html"), id="503-html"),
    pytest.param(ss.error_response(400, "Too long.", code="context_length_exceeded"), id="context"),
    pytest.param(ss.error_response(400, "Blocked.", code="content_filter"), id="content-policy"),
    pytest.param(ss.raw_response(b"not json", content_type="application/json"), id="serialization"),
    pytest.param(ss.reset_connection(), id="reset"),
    pytest.param(ss.slow_headers(10), id="timeout"),
]


@pytest.mark.parametrize("handler", HTTP_ERRORS)
async def test_no_error_shows_the_key(scenario, make_client, handler):
    client = make_client(scenario.base_url, timeout=0.5)
    scenario.script(handler)
    with pytest.raises(LlmError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert_no_key(surface(info.value))


KEY_ECHOES = [
    pytest.param(
        ss.error_response(401, f"Incorrect API key provided: {API_KEY}. Check your key.", code="invalid_api_key"),
        AuthenticationError,
        id="401-message",
    ),
    pytest.param(
        ss.json_response({"error": {"message": "Denied.", "key": API_KEY, "hint": f"Bearer {API_KEY}"}}, status=403),
        AuthenticationError,
        id="403-body-field",
    ),
    pytest.param(
        ss.raw_response(f"upstream rejected Authorization: Bearer {API_KEY}", status=502, content_type="text/plain"),
        LlmError,
        id="502-text",
    ),
    pytest.param(
        ss.raw_response(f"<html>echo {API_KEY}", status=200, content_type="application/json"),
        SerializationError,
        id="200-not-json",
    ),
]


@pytest.mark.parametrize(("handler", "cls"), KEY_ECHOES)
async def test_a_key_echoed_back_by_the_server_is_redacted_from_the_error(scenario, scenario_client, handler, cls):
    scenario.script(handler)
    with pytest.raises(cls) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert_no_key(surface(info.value))


async def test_a_key_echoed_in_an_in_stream_error_is_redacted(scenario, scenario_client):
    writes = [
        ss.sse_event(ss.chunk("", role="assistant")),
        ss.sse_event({"error": {"message": f"Key {API_KEY} was revoked mid-stream.", "type": "invalid_request_error"}}),
    ]
    scenario.script(ss.sse_response(writes))
    stream = await scenario_client.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(LlmError) as info:
        async for _ in stream:
            pass
    assert "revoked mid-stream" in str(info.value)
    assert_no_key(surface(info.value))


async def test_network_and_stream_errors_do_not_show_the_key(scenario, make_client):
    refused = make_client(ss.refused_base_url())
    with pytest.raises(NetworkError) as info:
        await refused.chat(model=MODEL, messages=user("hi"))
    assert_no_key(surface(info.value))

    client = make_client(scenario.base_url)
    scenario.script(ss.sse_response([ss.sse_event(ss.chunk("", role="assistant"))], end="cut"))
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(StreamingError) as sinfo:
        async for _ in stream:
            pass
    assert_no_key(surface(sinfo.value))

    scenario.script(ss.sse_response([ss.sse_event(ss.chunk("", role="assistant"))], end="hang"))
    slow = make_client(scenario.base_url, timeout=0.3)
    stream = await slow.chat_stream(model=MODEL, messages=user("hi"))
    with pytest.raises(LlmTimeoutError) as tinfo:
        async for _ in stream:
            pass
    assert_no_key(surface(tinfo.value))


async def test_argument_errors_do_not_show_the_key(client):
    with pytest.raises(TypeError) as info:
        await client.chat(model=MODEL, messages=user("hi"), temperature="hot")
    assert_no_key(surface(info.value))
    with pytest.raises(InvalidHeaderError) as hinfo:
        await client.chat(model=MODEL, messages=user("hi"), extra_headers={"X-Bad": "a\nb"})
    assert_no_key(surface(hinfo.value))


@pytest.mark.parametrize(
    "bad_key", [API_KEY + "\r\nX-Injected: yes", API_KEY + "\nX-Injected: yes", API_KEY + "\x00", API_KEY + "\x7f"]
)
async def test_a_key_that_would_inject_headers_is_rejected_without_being_shown(mock_server, bad_key):
    with pytest.raises(InvalidHeaderError) as info:
        client = LlmClient(api_key=bad_key, base_url=mock_server.base_url, max_retries=0, timeout=5)
        await client.chat(model=MODEL, messages=user("hi"))
    assert_no_key(surface(info.value))
    assert mock_server.request_count == 0


async def test_extra_header_values_cannot_inject_headers(mock_server, client):
    with pytest.raises(InvalidHeaderError):
        await client.chat(model=MODEL, messages=user("hi"), extra_headers={"X-Note": "ok\r\nX-Injected: yes"})
    assert mock_server.request_count == 0


async def test_a_redirect_to_another_origin_never_carries_the_key(scenario, scenario_client):
    with ss.ScenarioServer() as other:
        scenario.script(ss.redirect(other.base_url + "/chat/completions", status=307))
        try:
            await scenario_client.chat(model=MODEL, messages=user("hi"))
        except LlmError:
            pass  # refusing to follow is fine too
        for req in other.requests:
            assert "authorization" not in req.headers
            for value in req.headers.values():
                assert_no_key(value)


async def test_logs_never_contain_the_key(scenario, make_client, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_client(scenario.base_url, max_retries=2)
    fail = ss.error_response(503, f"busy, key {API_KEY}", type="server_error", headers={"retry-after-ms": "10"})
    scenario.script(fail, fail, fail)
    with pytest.raises(LlmError):
        await client.chat(model=MODEL, messages=user("hi"))
    stream = await client.chat_stream(model=MODEL, messages=user("hi"))
    async for _ in stream:
        pass
    for record in caplog.records:
        assert_no_key(record.getMessage())
        assert_no_key(repr(record.args))
