"""Tool definitions built from typed Python functions.

```python
from liter_llm import function_tool

def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    \"\"\"Current weather in a city.

    Args:
        city: City name, e.g. "Paris".
        unit: Temperature unit.
    \"\"\"

response = await client.chat(model="gpt-4o", messages=[...], tools=[function_tool(get_weather)])
```
"""

from __future__ import annotations

import enum
import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints

from liter_llm._schema import Schema, check_name, schema_for
from liter_llm._schema import strict as strict_form

__all__ = ["function_tool"]

_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Returns?|Yields?|Raises|Examples?|Notes?|Attributes):\s*$")
_ARG = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (text before the first section) and the ``Args:`` entries of a
    Google-style docstring."""
    description: list[str] = []
    args: dict[str, list[str]] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = 0
    for line in doc.splitlines():
        stripped = line.strip()
        header = _SECTION.match(stripped)
        indent = len(line) - len(line.lstrip())
        if header and indent == 0:
            section = header.group(1)
            current = None
            continue
        if section is None:
            description.append(stripped)
        elif section in ("Args", "Arguments", "Parameters", "Params") and stripped:
            match = _ARG.match(stripped)
            if match and (current is None or indent <= arg_indent):
                current = match.group(1).lstrip("*")
                arg_indent = indent
                args[current] = [match.group(2)] if match.group(2) else []
            elif current is not None:
                args[current].append(stripped)
    paragraphs = "\n".join(description).strip().split("\n\n")
    text = "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())
    return text, {name: " ".join(words) for name, words in args.items() if words}


def _json_default(value: Any) -> tuple[bool, Any]:
    if isinstance(value, enum.Enum):
        value = value.value
    if value is None or isinstance(value, (str, int, float, bool)):
        return True, value
    return False, None


def _nullable(schema: Schema) -> Schema:
    variants = schema.get("anyOf", [schema])
    if any(v.get("type") == "null" for v in variants):
        return schema
    return {"anyOf": [*variants, {"type": "null"}]} if "anyOf" in schema else {"anyOf": [schema, {"type": "null"}]}


def function_tool(
    fn: Callable[..., Any],
    *,
    name: str | None = None,
    description: str | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """A Chat Completions tool definition for a typed function.

    The name is the function's, the description its docstring text before the first section,
    and the parameters a JSON schema of its annotated arguments (see `liter_llm._schema` for
    the types understood), each described by its Google-style ``Args:`` entry. Arguments with a
    default are optional; with ``strict=True`` every argument is required (as OpenAI's
    strict mode demands) and those with a default also accept ``null``, meaning "use the
    default".

    Args:
        fn: the function (or any callable with an inspectable signature).
        name: tool name; defaults to ``fn.__name__``.
        description: tool description; defaults to the docstring text.
        strict: emit a strict schema and set ``"strict": true``.

    Raises:
        TypeError: for ``*args``/``**kwargs``, a missing annotation or one with no JSON schema.
        ValueError: for a name that is not 1 to 64 letters, digits, '_' or '-'.
    """
    tool_name = check_name(name or str(getattr(fn, "__name__", "")), "tool name")
    doc_text, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
    hints = get_type_hints(fn, include_extras=True)
    defs: Schema = {}
    properties: Schema = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{tool_name}: function_tool does not support *{param.name} or **{param.name}")
        if param.name not in hints:
            raise TypeError(f"{tool_name}: parameter {param.name!r} has no type annotation")
        try:
            schema = schema_for(hints[param.name], defs)
        except TypeError as e:
            raise TypeError(f"{tool_name}: parameter {param.name!r}: {e}") from None
        has_default = param.default is not param.empty
        if has_default and strict:
            schema = _nullable(schema)
        elif has_default:
            ok, value = _json_default(param.default)
            if ok:
                schema["default"] = value
        if param.name in arg_docs:
            schema["description"] = arg_docs[param.name]
        if strict or not has_default:
            required.append(param.name)
        properties[param.name] = schema
    parameters: Schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    if defs:
        parameters["$defs"] = defs
    function: Schema = {
        "name": tool_name,
        "description": doc_text if description is None else description,
        "parameters": strict_form(parameters) if strict else parameters,
    }
    if strict:
        function["strict"] = True
    return {"type": "function", "function": function}
