"""Error mapping: HTTP status and body -> exception class, and the attributes every error carries."""

from __future__ import annotations

import json
import time
from email.utils import formatdate

import liter_llm
import pytest
import scenario_server as ss
from conftest import MODEL, user
from liter_llm import (
    AuthenticationError,
    BadRequestError,
    ContentPolicyError,
    ContextWindowExceededError,
    EndpointNotSupportedError,
    InvalidHeaderError,
    LlmError,
    LlmTimeoutError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    SerializationError,
    ServerError,
    ServiceUnavailableError,
    StreamingError,
)

ALL_ERRORS = [
    AuthenticationError,
    RateLimitedError,
    BadRequestError,
    ContextWindowExceededError,
    ContentPolicyError,
    NotFoundError,
    ServerError,
    ServiceUnavailableError,
    LlmTimeoutError,
    NetworkError,
    StreamingError,
    EndpointNotSupportedError,
    InvalidHeaderError,
    SerializationError,
]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_is_an_llm_error_and_an_exception(cls):
    assert issubclass(cls, LlmError)
    assert issubclass(LlmError, Exception)
    assert getattr(liter_llm, cls.__name__) is cls


STATUS_CLASSES = [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, AuthenticationError),
    (404, NotFoundError),
    (409, BadRequestError),
    (418, BadRequestError),
    (422, BadRequestError),
    (429, RateLimitedError),
    (500, ServerError),
    (501, ServerError),
    (502, ServiceUnavailableError),
    (503, ServiceUnavailableError),
    (504, ServiceUnavailableError),
    (505, ServerError),
    (529, ServiceUnavailableError),
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_maps_to_class_with_attributes(scenario, scenario_client, status, cls):
    message = f"Provider says no ({status})."
    payload = ss.error_body(message, type="some_error_type", code=f"code_{status}")
    scenario.script(ss.json_response(payload, status=status, headers={"x-request-id": f"req_{status}"}))

    with pytest.raises(cls) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))

    e = info.value
    assert type(e) is cls
    assert e.status_code == status
    assert e.body in (payload, payload["error"])
    assert e.request_id == f"req_{status}"
    assert e.provider == "openai"
    assert e.model == MODEL
    assert e.retry_after is None
    assert message in str(e)
    assert "\n" not in str(e)
    assert scenario.request_count == 1


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_maps_to_class_on_the_mock_server_defaults(mock_server, client, status, cls):
    mock_server.push_faults([{"status": status}])
    with pytest.raises(cls) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == status
    assert mock_server.request_count == 1


async def test_request_id_header_is_read_too(scenario, scenario_client):
    scenario.script(ss.error_response(400, "bad", headers={"request-id": "req_anthropic_style"}))
    with pytest.raises(BadRequestError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.request_id == "req_anthropic_style"


async def test_request_id_is_none_without_the_header(scenario, scenario_client):
    scenario.script(ss.error_response(400, "bad"))
    with pytest.raises(BadRequestError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.request_id is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "0.25"}, 0.25),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
    ],
)
async def test_rate_limit_exposes_retry_after_in_seconds(scenario, scenario_client, headers, expected):
    scenario.script(ss.error_response(429, "Rate limit reached for requests", type="requests", headers=headers))
    with pytest.raises(RateLimitedError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.retry_after == pytest.approx(expected)
    assert "Rate limit reached for requests" in str(info.value)


async def test_retry_after_as_an_http_date_is_converted_to_seconds(scenario, scenario_client):
    when = formatdate(time.time() + 30, usegmt=True)
    scenario.script(ss.error_response(429, "slow down", headers={"Retry-After": when}))
    with pytest.raises(RateLimitedError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert 25 <= info.value.retry_after <= 31


async def test_retry_after_from_the_mock_server(mock_server, client):
    mock_server.push_faults([{"status": 429, "retry_after": 2}])
    with pytest.raises(RateLimitedError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.retry_after == 2.0


CONTEXT_WINDOW = [
    pytest.param(
        ss.error_body("Too many tokens.", code="context_length_exceeded"),
        id="code",
    ),
    pytest.param(
        ss.error_body(
            "This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. "
            "Please reduce the length of the messages.",
            code=None,
        ),
        id="openai-message",
    ),
    pytest.param(
        ss.error_body("The context length of 8192 tokens was exceeded.", code=None),
        id="plain-message",
    ),
]


CONTENT_POLICY = [
    pytest.param(ss.error_body("Rejected.", code="content_policy_violation"), id="code-violation"),
    pytest.param(ss.error_body("Filtered.", code="content_filter"), id="code-filter"),
    pytest.param(
        ss.error_body("Your request was rejected as a result of our content policy.", code=None),
        id="message",
    ),
]


@pytest.mark.parametrize(
    ("payload", "error_class"),
    [pytest.param(p.values[0], ContextWindowExceededError, id=p.id) for p in CONTEXT_WINDOW]
    + [pytest.param(p.values[0], ContentPolicyError, id=p.id) for p in CONTENT_POLICY],
)
async def test_bad_request_refined_from_the_body(scenario, scenario_client, payload, error_class):
    scenario.script(ss.json_response(payload, status=400))
    with pytest.raises(error_class) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 400
    assert payload["error"]["message"] in str(info.value)


async def test_a_plain_400_is_not_mistaken_for_a_special_case(scenario, scenario_client):
    scenario.script(ss.error_response(400, "Invalid value for 'temperature'.", code="invalid_value"))
    with pytest.raises(BadRequestError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert not isinstance(info.value, (ContextWindowExceededError, ContentPolicyError))


async def test_a_non_json_error_body_is_kept_as_text(scenario, scenario_client):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    scenario.script(ss.raw_response(html, status=502, content_type="text/html"))
    with pytest.raises(ServiceUnavailableError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 502
    assert info.value.body == html


async def test_an_empty_error_body(scenario, scenario_client):
    scenario.script(ss.raw_response(b"", status=500, content_type=None))
    with pytest.raises(ServerError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code == 500
    assert str(info.value)


async def test_an_error_body_without_the_error_envelope(scenario, scenario_client):
    payload = {"message": "Model overloaded", "detail": "try later"}
    scenario.script(ss.json_response(payload, status=400))
    with pytest.raises(BadRequestError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.body == payload


async def test_a_mock_401_maps_to_authentication_error(mock_server, client):
    mock_server.push_faults([{"status": 401}])
    with pytest.raises(AuthenticationError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert "Incorrect API key" in str(info.value)


# --------------------------------------------------------------------------------------------
# 200 responses that are not what they should be
# --------------------------------------------------------------------------------------------

BAD_SUCCESS_BODIES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"this is not json", id="text"),
    pytest.param(b'{"id": "chatcmpl-1", "choices": [', id="truncated-json"),
    pytest.param(b"[1, 2, 3]", id="top-level-array"),
    pytest.param(b'{"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": "no"}', id="shape"),
    pytest.param(b"<html>Login required</html>", id="captive-portal-html"),
]


@pytest.mark.parametrize("body", BAD_SUCCESS_BODIES)
async def test_a_200_with_an_unusable_body_raises_serialization_error(scenario, scenario_client, body):
    scenario.script(ss.raw_response(body, status=200, content_type="application/json"))
    with pytest.raises(SerializationError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.provider == "openai"
    assert str(info.value)


async def test_a_malformed_mock_reply_raises_serialization_error(mock_server, client):
    mock_server.push_faults([{"malformed": True}])
    with pytest.raises(SerializationError):
        await client.chat(model=MODEL, messages=user("hi"))


async def test_a_body_cut_short_is_an_error_not_a_partial_answer(mock_server, client):
    mock_server.push_faults([{"cut_after": 1}])
    with pytest.raises((NetworkError, SerializationError)):
        await client.chat(model=MODEL, messages=user("hi"))


# --------------------------------------------------------------------------------------------
# Transport-level errors
# --------------------------------------------------------------------------------------------


async def test_connection_refused_is_a_network_error(make_client):
    client = make_client(ss.refused_base_url())
    with pytest.raises(NetworkError) as info:
        await client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code is None
    assert info.value.provider == "openai"
    assert info.value.model == MODEL
    assert str(info.value)


async def test_connection_reset_is_a_network_error(scenario, scenario_client):
    scenario.script(ss.reset_connection())
    with pytest.raises(NetworkError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert info.value.status_code is None


async def test_connection_closed_without_a_response_is_a_network_error(scenario, scenario_client):
    scenario.script(ss.close_connection(), ss.close_connection())
    with pytest.raises(NetworkError):
        await scenario_client.chat(model=MODEL, messages=user("hi"))


async def test_errors_are_catchable_as_llm_error_and_carry_the_request_model(scenario, scenario_client):
    scenario.script(ss.error_response(404, "The model `nope` does not exist", code="model_not_found"))
    try:
        await scenario_client.chat(model="nope", messages=user("hi"))
    except LlmError as e:
        assert isinstance(e, NotFoundError)
        assert e.model == "nope"
        assert "does not exist" in str(e)
    else:
        pytest.fail("no error raised")


async def test_error_body_is_plain_data(scenario, scenario_client):
    payload = ss.error_body("Nested détails ✓", code="x")
    scenario.script(ss.json_response(payload, status=400))
    with pytest.raises(BadRequestError) as info:
        await scenario_client.chat(model=MODEL, messages=user("hi"))
    assert json.loads(json.dumps(info.value.body)) == info.value.body
