"""Installed size of a distribution, run with the venv's own python (stdlib only).

    <venv>/bin/python benches/pkginfo.py DIST IMPORT_NAME

Prints one JSON line: version, package-only bytes (files listed in the dist's RECORD, or the package folder for
an editable / develop install whose RECORD points elsewhere) and bytes with its installed dependency closure.
``__pycache__`` is left out everywhere: it depends on what was imported before, not on what was installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dist_files(dist: metadata.Distribution) -> set[Path]:
    out = set()
    for f in dist.files or []:
        if "__pycache__" in f.parts:
            continue
        p = Path(dist.locate_file(f)).resolve()
        if p.is_file():
            out.add(p)
    return out


def _tree(path: Path) -> set[Path]:
    out = set()
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        out.update(Path(root, f).resolve() for f in files)
    return out


def _package_files(dist: metadata.Distribution, import_name: str) -> set[Path]:
    files = _dist_files(dist)
    spec = importlib.util.find_spec(import_name)
    if spec is not None and spec.submodule_search_locations:
        pkg_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
        tree = _tree(pkg_dir)
        if not tree <= files:  # editable / maturin develop: RECORD lists a .pth, not the package
            files |= tree
    return files


def _requires(dist: metadata.Distribution) -> list[str]:
    names = []
    for req in dist.requires or []:
        if "extra ==" in req or "extra==" in req:
            continue
        m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
        if m:
            names.append(m.group(1))
    return names


def main() -> None:
    dist_name, import_name = sys.argv[1], sys.argv[2]
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:  # a bare copy of the package (benches' "ours" snapshot): no metadata
        spec = importlib.util.find_spec(import_name)
        pkg_dir = Path(next(iter(spec.submodule_search_locations))).resolve()
        size = sum(p.stat().st_size for p in _tree(pkg_dir))
        version = getattr(importlib.import_module(import_name), "__version__", None)
        print(
            json.dumps({"dist": None, "version": version, "package_bytes": size, "with_deps_bytes": size, "deps": {}})
        )
        return
    own = _package_files(dist, import_name)
    seen = {_norm(dist_name)}
    todo = _requires(dist)
    deps = {}
    all_files = set(own)
    while todo:
        name = todo.pop()
        key = _norm(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            d = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # marker excluded it (or not installed); only installed files count
        files = _dist_files(d)
        deps[d.metadata["Name"]] = d.version
        all_files |= files
        todo.extend(_requires(d))
    print(
        json.dumps(
            {
                "dist": dist_name,
                "version": dist.version,
                "package_bytes": sum(p.stat().st_size for p in own),
                "with_deps_bytes": sum(p.stat().st_size for p in all_files),
                "deps": deps,
            }
        )
    )


if __name__ == "__main__":
    main()
