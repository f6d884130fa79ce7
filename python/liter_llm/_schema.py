"""JSON schemas from Python types: strict structured-output formats and tool parameters.

Types map as follows: ``str`` -> string, ``int`` -> integer, ``float`` -> number, ``bool`` ->
boolean, ``None`` -> null, ``list[T]``/``set[T]``/``tuple[T, ...]`` -> array, ``dict[str, T]``
-> object with ``additionalProperties``, ``Optional``/``Union``/``X | Y`` -> ``anyOf``,
``Literal`` and ``Enum`` -> ``enum``, ``datetime``/``date``/``time``/``UUID`` -> string with a
``format``, ``Annotated[T, "text"]`` -> T with that description, ``Any`` -> any value. A
TypedDict becomes an object in ``$defs``; a pydantic model class contributes its own
``model_json_schema()``. pydantic itself is never imported here.
"""

from __future__ import annotations

import datetime
import enum
import re
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, get_args, get_origin, get_type_hints

Schema = dict[str, Any]

_KEY_QUALIFIERS = ("Required", "NotRequired", "ReadOnly")
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_SIMPLE: dict[Any, Schema] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    datetime.datetime: {"type": "string", "format": "date-time"},
    datetime.date: {"type": "string", "format": "date"},
    datetime.time: {"type": "string", "format": "time"},
    uuid.UUID: {"type": "string", "format": "uuid"},
}
_ARRAYS = (list, set, frozenset, Sequence, typing.List, typing.Set, typing.FrozenSet)  # noqa: UP006
_UNIONS: tuple[Any, ...] = (typing.Union, types.UnionType) if hasattr(types, "UnionType") else (typing.Union,)


def is_pydantic_model(tp: Any) -> bool:
    """Whether ``tp`` is a pydantic (v2) model class, judged without importing pydantic."""
    return isinstance(tp, type) and hasattr(tp, "model_json_schema") and hasattr(tp, "model_validate_json")


def is_typeddict(tp: Any) -> bool:
    """Whether ``tp`` is a TypedDict class (from ``typing`` or ``typing_extensions``)."""
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def check_name(name: str, what: str) -> str:
    """``name`` when providers accept it as a schema or function name (``[a-zA-Z0-9_-]{1,64}``)."""
    if not _NAME.match(name):
        raise ValueError(f"{what} {name!r} must be 1 to 64 letters, digits, '_' or '-'")
    return name


def _enum_schema(values: Sequence[Any]) -> Schema:
    kinds = {type(v) for v in values}
    schema: Schema = {"enum": list(values)}
    for py_type, json_type in ((str, "string"), (bool, "boolean"), (int, "integer"), (float, "number")):
        if kinds == {py_type}:
            schema = {"type": json_type, **schema}
            break
    return schema


def _pydantic_schema(model: Any, defs: Schema) -> Schema:
    schema = dict(model.model_json_schema(ref_template="#/$defs/{model}"))
    defs.update(schema.pop("$defs", {}))
    return schema


def _typeddict_ref(td: Any, defs: Schema) -> Schema:
    name = td.__name__
    if name not in defs:
        defs[name] = {}  # placeholder, so a recursive TypedDict refers to itself
        defs[name] = typeddict_schema(td, defs)
    return {"$ref": f"#/$defs/{name}"}


def typeddict_schema(td: Any, defs: Schema) -> Schema:
    """The object schema of a TypedDict (keys not required by the TypedDict are optional)."""
    hints = get_type_hints(td, include_extras=True)
    required_keys = getattr(td, "__required_keys__", frozenset(hints))
    schema: Schema = {
        "type": "object",
        "properties": {key: schema_for(tp, defs) for key, tp in hints.items()},
        "required": [key for key in hints if key in required_keys],
        "additionalProperties": False,
    }
    if td.__doc__ and not td.__doc__.startswith(f"{td.__name__}("):
        schema["description"] = td.__doc__.strip()
    return schema


def schema_for(tp: Any, defs: Schema) -> Schema:
    """The JSON schema of the annotation ``tp``; named sub-schemas are added to ``defs``.

    Raises:
        TypeError: for an annotation with no JSON schema equivalent.
    """
    if tp in _SIMPLE:
        return dict(_SIMPLE[tp])
    if tp is Any or tp is object:
        return {}
    origin = get_origin(tp)
    args = get_args(tp)
    if getattr(origin, "_name", None) in _KEY_QUALIFIERS:
        return schema_for(args[0], defs)
    if origin is typing.Annotated:
        schema = schema_for(args[0], defs)
        notes = [a for a in args[1:] if isinstance(a, str)]
        if notes:
            schema["description"] = " ".join(notes)
        return schema
    if origin is typing.Literal:
        return _enum_schema([a.value if isinstance(a, enum.Enum) else a for a in args])
    if origin in _UNIONS:
        return {"anyOf": [schema_for(a, defs) for a in args]}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return _enum_schema([m.value for m in tp])
    if is_typeddict(tp):
        return _typeddict_ref(tp, defs)
    if is_pydantic_model(tp):
        return _pydantic_schema(tp, defs)
    if tp in _ARRAYS or origin in _ARRAYS:
        return {"type": "array", "items": schema_for(args[0], defs)} if args else {"type": "array"}
    if tp is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"type": "array", "items": schema_for(args[0], defs)} if args else {"type": "array"}
        items = [schema_for(a, defs) for a in args]
        return {"type": "array", "prefixItems": items, "minItems": len(items), "maxItems": len(items)}
    if tp in (dict, Mapping, typing.Dict) or origin in (dict, Mapping):  # noqa: UP006
        if len(args) == 2:
            if args[0] is not str:
                raise TypeError(f"dict keys must be str to map to a JSON object, not {args[0]!r}")
            return {"type": "object", "additionalProperties": schema_for(args[1], defs)}
        return {"type": "object"}
    raise TypeError(f"no JSON schema for the type {tp!r}")


def _resolve(ref: str, defs: Schema) -> Schema | None:
    prefix = "#/$defs/"
    return defs.get(ref[len(prefix) :]) if ref.startswith(prefix) else None


def strict(schema: Schema, defs: Schema | None = None) -> Schema:
    """A copy of ``schema`` in OpenAI's strict form: every object lists all its properties as
    required and forbids others, ``oneOf`` becomes ``anyOf``, a one-item ``allOf`` and a
    ``$ref`` with sibling keys are inlined, and ``default`` values are dropped. A free-form
    mapping (``dict[str, T]``, an ``additionalProperties`` schema) is kept as is, though OpenAI's
    strict mode rejects it."""
    defs = schema.get("$defs", {}) if defs is None else defs
    out: Schema = {}
    if "$ref" in schema and len(schema) > 1:
        target = _resolve(schema["$ref"], defs)
        if target is not None:
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            return strict({**target, **rest}, defs)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return strict({**schema["allOf"][0], **rest}, defs)
    for key, value in schema.items():
        if key == "default":
            continue
        if key in ("properties", "$defs", "definitions"):
            out[key] = {k: strict(v, defs) for k, v in value.items()}
        elif key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            out["anyOf" if key == "oneOf" else key] = [strict(v, defs) for v in value]
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = strict(value, defs)
        else:
            out[key] = value
    if out.get("type") == "object" or "properties" in out:
        out["required"] = list(out.get("properties", {}))
        if not isinstance(out.get("additionalProperties"), dict):
            out["additionalProperties"] = False
    return out


def class_schema(cls: Any) -> Schema:
    """The strict JSON schema of a pydantic model class or a TypedDict.

    Raises:
        TypeError: for any other class.
    """
    defs: Schema = {}
    if is_pydantic_model(cls):
        schema = _pydantic_schema(cls, defs)
    elif is_typeddict(cls):
        schema = typeddict_schema(cls, defs)
    else:
        raise TypeError(
            f"response_format must be a dict, a pydantic model class or a TypedDict, not the class {cls.__name__}"
        )
    if defs:
        schema["$defs"] = defs
    return strict(schema)


def to_response_format(cls: Any, *, name: str | None = None) -> Schema:
    """The ``response_format`` dict for a pydantic model class or a TypedDict: a strict
    ``json_schema`` format named after the class.

    Args:
        cls: the pydantic model class or TypedDict the answer must match.
        name: schema name sent to the provider; defaults to the class name.

    Raises:
        TypeError: when ``cls`` is neither a pydantic model class nor a TypedDict.
        ValueError: when the name is not 1 to 64 letters, digits, '_' or '-'.
    """
    schema = class_schema(cls)
    return {
        "type": "json_schema",
        "json_schema": {
            "name": check_name(name or cls.__name__, "schema name"),
            "schema": schema,
            "strict": True,
        },
    }
