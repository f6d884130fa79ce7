"""Structured output: response_format on the wire, and message.parsed on the answer."""

from __future__ import annotations

import json
import subprocess
import sys
from enum import Enum
from typing import Literal

import pydantic
import pytest
import scenario_server as ss
from conftest import MODEL, user
from liter_llm import to_response_format
from typing_extensions import NotRequired, TypedDict


class Color(Enum):
    RED = "red"
    GREEN = "green"


class Address(pydantic.BaseModel):
    city: str
    zip_code: str | None = None


class Person(pydantic.BaseModel):
    """Someone mentioned in the text."""

    name: str
    age: int = 30
    height: float
    member: bool
    color: Color
    tier: Literal["free", "pro"]
    tags: list[str]
    address: Address


class Weather(TypedDict):
    city: str
    temperature: float
    unit: Literal["C", "F"]
    note: NotRequired[str]


SCHEMA_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "answer",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0.5},
                "sources": {"type": "array", "items": {"type": "integer"}},
            },
            "required": ["answer", "confidence", "sources"],
            "additionalProperties": False,
        },
    },
}


def sent_format(mock_server):
    [req] = mock_server.requests()
    return req["json"]["response_format"]


def assert_strict(schema, where="schema"):
    """Every object lists all its properties as required and forbids others; no defaults."""
    assert "default" not in schema, where
    if schema.get("type") == "object":
        assert schema["additionalProperties"] is False, where
        assert schema["required"] == list(schema["properties"]), where
    for key in ("properties", "$defs"):
        for name, sub in schema.get(key, {}).items():
            assert_strict(sub, f"{where}.{key}.{name}")
    for sub in schema.get("anyOf", []):
        assert_strict(sub, f"{where}.anyOf")
    if isinstance(schema.get("items"), dict):
        assert_strict(schema["items"], f"{where}.items")


# ----- json_schema dict -----


async def test_schema_dict_is_sent_as_given_and_parsed_into_a_dict(client, mock_server):
    r = await client.chat(model=MODEL, messages=user("q"), response_format=SCHEMA_FORMAT)

    assert sent_format(mock_server) == SCHEMA_FORMAT
    message = r.choices[0].message
    assert json.loads(message.content) == {"answer": "mock", "confidence": 0.5, "sources": [0]}
    assert message.parsed == {"answer": "mock", "confidence": 0.5, "sources": [0]}
    # Parsed once: every read gives the same object.
    assert r.choices[0].message.parsed is r.choices[0].message.parsed


async def test_every_choice_is_parsed_with_n(client):
    r = await client.chat(model=MODEL, messages=user("q"), response_format=SCHEMA_FORMAT, n=3)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert all(c.message.parsed["answer"] == "mock" for c in r.choices)


async def test_json_object_and_no_format_leave_parsed_none(client, mock_server):
    r = await client.chat(model=MODEL, messages=user("ping"), response_format={"type": "json_object"})
    assert sent_format(mock_server) == {"type": "json_object"}
    assert json.loads(r.choices[0].message.content) == {"message": "ping"}
    assert r.choices[0].message.parsed is None

    r = await client.chat(model=MODEL, messages=user("ping"))
    assert r.choices[0].message.parsed is None


async def test_invalid_json_content_raises_on_reading_parsed(client, mock_server):
    mock_server.push_faults([{"reply": "not json {"}])
    r = await client.chat(model=MODEL, messages=user("q"), response_format=SCHEMA_FORMAT)
    message = r.choices[0].message
    assert message.content == "not json {"
    with pytest.raises(ValueError, match=r"choices\[0\]\.message\.content is not valid JSON"):
        _ = message.parsed
    assert r.to_dict()["choices"][0]["message"]["content"] == "not json {"


async def test_refusal_and_missing_content_leave_parsed_none(scenario, scenario_client):
    refusal = ss.completion(None)
    refusal["choices"][0]["message"]["refusal"] = "I can't help with that."
    tool = ss.completion(
        None, tool_calls=[{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    )
    scenario.script(ss.json_response(refusal), ss.json_response(tool))
    for _ in range(2):
        r = await scenario_client.chat(model=MODEL, messages=user("q"), response_format=SCHEMA_FORMAT)
        assert r.choices[0].message.content is None
        assert r.choices[0].message.parsed is None


# ----- pydantic model class -----


async def test_pydantic_class_is_sent_as_a_strict_schema_and_parsed_into_an_instance(client, mock_server):
    r = await client.chat(model=MODEL, messages=user("q"), response_format=Person)

    fmt = sent_format(mock_server)
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["name"] == "Person"
    assert fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert_strict(schema)
    assert schema["required"] == ["name", "age", "height", "member", "color", "tier", "tags", "address"]
    assert schema["description"] == "Someone mentioned in the text."
    assert set(schema["$defs"]) == {"Address", "Color"}
    assert schema["$defs"]["Address"]["required"] == ["city", "zip_code"]
    assert schema["$defs"]["Color"]["enum"] == ["red", "green"]

    person = r.choices[0].message.parsed
    assert isinstance(person, Person)
    assert person == Person(
        name="mock",
        age=0,
        height=0.0,
        member=True,
        color=Color.RED,
        tier="free",
        tags=["mock"],
        address=Address(city="mock", zip_code="mock"),
    )
    assert r.choices[0].message.parsed is person


async def test_pydantic_validation_failure_raises_validation_error_on_access(client, mock_server):
    mock_server.push_faults([{"reply": '{"name": "x"}'}])
    r = await client.chat(model=MODEL, messages=user("q"), response_format=Person)
    with pytest.raises(pydantic.ValidationError):
        _ = r.choices[0].message.parsed
    assert r.choices[0].message.content == '{"name": "x"}'


async def test_stream_sends_the_strict_schema_of_a_class(client, mock_server):
    stream = await client.chat_stream(model=MODEL, messages=user("q"), response_format=Person)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert sent_format(mock_server)["json_schema"]["name"] == "Person"
    assert Person.model_validate_json(text).tier == "free"


# ----- TypedDict -----


async def test_typeddict_is_sent_as_a_strict_schema_and_parsed_into_a_dict(client, mock_server):
    r = await client.chat(model=MODEL, messages=user("q"), response_format=Weather)

    fmt = sent_format(mock_server)
    assert fmt == {
        "type": "json_schema",
        "json_schema": {
            "name": "Weather",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "temperature": {"type": "number"},
                    "unit": {"type": "string", "enum": ["C", "F"]},
                    "note": {"type": "string"},
                },
                "required": ["city", "temperature", "unit", "note"],
                "additionalProperties": False,
            },
        },
    }
    assert r.choices[0].message.parsed == {"city": "mock", "temperature": 0.0, "unit": "C", "note": "mock"}


def test_to_response_format_names_and_rejects():
    assert to_response_format(Weather, name="w-1")["json_schema"]["name"] == "w-1"
    with pytest.raises(ValueError, match="schema name"):
        to_response_format(Weather, name="has space")
    with pytest.raises(TypeError, match="pydantic model class or a TypedDict"):
        to_response_format(Color)


# ----- bad input, rejected before sending -----


class NotASchema:
    pass


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        pytest.param(NotASchema, TypeError, "pydantic model class or a TypedDict", id="plain-class"),
        pytest.param("json_object", TypeError, "response_format must be a dict", id="str"),
        pytest.param({"json_schema": {}}, ValueError, "needs a 'type'", id="no-type"),
        pytest.param({"type": 1}, TypeError, r"response_format\['type'\] must be a str", id="type-int"),
        pytest.param({"type": "json_schema"}, ValueError, "needs a 'json_schema' dict", id="no-json-schema"),
        pytest.param(
            {"type": "json_schema", "json_schema": {"schema": {}}}, ValueError, "needs a 'name'", id="no-name"
        ),
    ],
)
async def test_bad_response_format_raises_before_any_request(client, mock_server, value, error, match):
    with pytest.raises(error, match=match):
        await client.chat(model=MODEL, messages=user("q"), response_format=value)
    assert mock_server.request_count == 0


def test_pydantic_is_not_imported_unless_a_model_class_is_passed():
    code = """
import asyncio, sys
from liter_llm import LlmClient, function_tool, image_part
from liter_llm.testing import MockServer
from typing_extensions import TypedDict

class T(TypedDict):
    a: int

async def main():
    with MockServer() as s:
        c = LlmClient(api_key="k", base_url=s.base_url)
        r = await c.chat(model="m", messages=[{"role": "user", "content": "x"}], response_format=T)
        assert r.choices[0].message.parsed == {"a": 0}

asyncio.run(main())
print("pydantic" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


# ----- batches -----


async def test_batch_results_are_parsed_per_request(client):
    requests = [
        {"model": MODEL, "messages": user("a"), "response_format": Person},
        {"model": MODEL, "messages": user("plain")},
        {"model": MODEL, "messages": user("c"), "response_format": SCHEMA_FORMAT},
    ]
    person, plain, answer = await client.chat_batch(requests)
    assert isinstance(person.choices[0].message.parsed, Person)
    assert plain.choices[0].message.parsed is None
    assert answer.choices[0].message.parsed["answer"] == "mock"

    seen = {}
    async with client.chat_as_completed(requests) as results:
        async for index, result in results:
            seen[index] = result.choices[0].message.parsed
    assert isinstance(seen[0], Person) and seen[1] is None and seen[2]["answer"] == "mock"

    [sync_result] = client.chat_batch_sync([requests[0]])
    assert isinstance(sync_result.choices[0].message.parsed, Person)


async def test_gemini_gets_a_response_schema_and_the_answer_is_parsed(mock_server, make_client):
    client = make_client(mock_server.base_url)
    r = await client.chat(model="gemini/gemini-2.5-flash", messages=user("q"), response_format=Person)
    config = mock_server.requests()[0]["json"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["properties"]["address"]["properties"]["city"]["type"] == "string"  # $ref inlined
    assert isinstance(r.choices[0].message.parsed, Person)
    assert r.choices[0].message.parsed.address.city == "mock"
