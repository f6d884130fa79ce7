"""The type stub's shared ``_Model`` base (stub only) matches the runtime classes.

stubtest checks every method a runtime class defines against the stub, inherited ones included,
but it cannot notice a runtime class *missing* a method the stub lets it inherit: this test does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import liter_llm._liter_llm as native

STUB = Path(native.__file__).with_name("_liter_llm.pyi")


def stub_classes() -> dict[str, ast.ClassDef]:
    tree = ast.parse(STUB.read_text())
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def test_every_model_class_has_the_shared_methods_at_runtime():
    classes = stub_classes()
    shared = [f.name for f in classes["_Model"].body if isinstance(f, ast.FunctionDef)]
    assert sorted(shared) == ["__eq__", "__ne__", "to_dict", "to_json"]
    models = [name for name, node in classes.items() if any(ast.unparse(b) == "_Model" for b in node.bases)]
    assert len(models) >= 40
    for name in models:
        runtime = getattr(native, name)
        for method in shared:
            assert method in vars(runtime), f"{name}.{method} is in the stub but not at runtime"
    assert not hasattr(native, "_Model"), "_Model is a stub-only base"
