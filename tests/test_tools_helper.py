"""function_tool(): tool definitions from typed functions, and sending them."""

from __future__ import annotations

import datetime
import enum
import subprocess
import sys
from typing import Annotated, Any, Literal, Union

import pydantic
import pytest
from conftest import MODEL, user
from liter_llm import function_tool
from typing_extensions import TypedDict


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


class Point(TypedDict):
    lat: float
    lon: float


class Filters(pydantic.BaseModel):
    kinds: list[str]
    limit: int = 10


def get_weather(city: str, unit: Unit = Unit.CELSIUS, days: int = 1, detailed: bool = False) -> str:
    """Current weather in a city.

    Looks the city up first.

    Args:
        city: City name,
            e.g. "Paris".
        unit (Unit): Temperature unit.
        days: How many days to forecast.

    Returns:
        A summary.
    """
    return city


def search(
    query: str,
    where: Point,
    filters: Filters,
    tags: list[str],
    scores: dict[str, float],
    mode: Literal["fast", "exact"],
    limit: int | None = None,
    ident: Union[int, str] = 0,  # noqa: UP007 (typing.Union is mapped too)
    since: datetime.date | None = None,
    note: Annotated[str, "A free note."] = "",
    pair: tuple[int, str] = (1, "a"),
    anything: Any = None,
) -> list[str]:
    return []


def test_name_description_and_parameters_come_from_the_function():
    assert function_tool(get_weather) == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city.\n\nLooks the city up first.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": 'City name, e.g. "Paris".'},
                    "unit": {
                        "type": "string",
                        "enum": ["c", "f"],
                        "default": "c",
                        "description": "Temperature unit.",
                    },
                    "days": {"type": "integer", "default": 1, "description": "How many days to forecast."},
                    "detailed": {"type": "boolean", "default": False},
                },
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }


def test_every_supported_annotation_maps_to_json_schema():
    params = function_tool(search)["function"]["parameters"]
    props = params["properties"]
    assert params["required"] == ["query", "where", "filters", "tags", "scores", "mode"]
    assert props["where"] == {"$ref": "#/$defs/Point"}
    assert params["$defs"]["Point"] == {
        "type": "object",
        "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
        "required": ["lat", "lon"],
        "additionalProperties": False,
    }
    assert props["filters"]["properties"]["kinds"] == {"items": {"type": "string"}, "title": "Kinds", "type": "array"}
    assert props["filters"]["required"] == ["kinds"]
    assert props["tags"] == {"type": "array", "items": {"type": "string"}}
    assert props["scores"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert props["mode"] == {"type": "string", "enum": ["fast", "exact"]}
    assert props["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None}
    assert props["ident"] == {"anyOf": [{"type": "integer"}, {"type": "string"}], "default": 0}
    assert props["since"]["anyOf"] == [{"type": "string", "format": "date"}, {"type": "null"}]
    assert props["note"] == {"type": "string", "description": "A free note.", "default": ""}
    assert props["pair"] == {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
    }
    assert props["anything"] == {"default": None}


def test_strict_requires_everything_and_makes_defaults_nullable():
    tool = function_tool(get_weather, strict=True, name="weather", description="Weather.")
    fn = tool["function"]
    assert (fn["name"], fn["description"], fn["strict"]) == ("weather", "Weather.", True)
    params = fn["parameters"]
    assert params["required"] == ["city", "unit", "days", "detailed"]
    assert params["additionalProperties"] is False
    assert params["properties"]["days"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}],
        "description": "How many days to forecast.",
    }
    assert all("default" not in p for p in params["properties"].values())
    nested = function_tool(search, strict=True)["function"]["parameters"]["properties"]["filters"]
    assert nested["required"] == ["kinds", "limit"] and nested["additionalProperties"] is False


def no_annotation(x):  # type: ignore[no-untyped-def]
    return x


def star_args(*items: int) -> None:
    pass


def bad_dict(m: dict[int, str]) -> None:
    pass


class Opaque:
    pass


def custom(obj: Opaque) -> None:
    pass


@pytest.mark.parametrize(
    ("fn", "kwargs", "error", "match"),
    [
        pytest.param(no_annotation, {}, TypeError, "'x' has no type annotation", id="no-annotation"),
        pytest.param(star_args, {}, TypeError, r"does not support \*items", id="varargs"),
        pytest.param(bad_dict, {}, TypeError, "dict keys must be str", id="int-keys"),
        pytest.param(custom, {}, TypeError, "no JSON schema for the type", id="unknown-type"),
        pytest.param(lambda: None, {}, ValueError, "tool name '<lambda>'", id="lambda"),
        pytest.param(get_weather, {"name": "x" * 65}, ValueError, "tool name", id="long-name"),
    ],
)
def test_unsupported_functions_are_rejected(fn, kwargs, error, match):
    with pytest.raises(error, match=match):
        function_tool(fn, **kwargs)


async def test_the_definition_goes_on_the_wire_unchanged(client, mock_server):
    tool = function_tool(get_weather)
    await client.chat(model=MODEL, messages=user("weather?"), tools=[tool], tool_choice="auto")
    [req] = mock_server.requests()
    assert req["json"]["tools"] == [tool]
    assert req["json"]["tool_choice"] == "auto"


def test_helpers_load_on_first_use_only():
    code = (
        "import sys, liter_llm\n"
        "helpers = ('liter_llm.tools', 'liter_llm.content', 'liter_llm._schema')\n"
        "print([m in sys.modules for m in helpers])\n"
        "liter_llm.function_tool\n"
        "print([m in sys.modules for m in helpers])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split("\n")[:2] == ["[False, False, False]", "[True, False, True]"]
