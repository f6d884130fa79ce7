"""Records what the benchmark venvs hold, for the setup_*peers.sh scripts: each venv's Python version and the
versions of the distributions named for it (and ``liter_llm.__version__`` where liter-llm is named), as JSON in
VENVS/OUT, printed one line per venv.

    python3 venv_versions.py VENVS OUT TAG [--pins FILE --key KEY] VENV=dist,dist ...

``--pins`` adds the text of VENVS/VENV/FILE (what the venv was made from) under KEY. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

QUERY = (
    "import json, platform, sys\n"
    "from importlib import metadata\n"
    "out = {'python': platform.python_version()}\n"
    "for d in sys.argv[1:]:\n"
    "    try: out[d] = metadata.version(d)\n"
    "    except metadata.PackageNotFoundError: out[d] = None\n"
    "if 'liter-llm' in sys.argv[1:]:\n"
    "    try:\n"
    "        import liter_llm; out['liter_llm.__version__'] = liter_llm.__version__\n"
    "    except Exception: out['liter_llm.__version__'] = None\n"
    "print(json.dumps(out))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("venvs", type=Path)
    parser.add_argument("out")
    parser.add_argument("tag")
    parser.add_argument("--pins")
    parser.add_argument("--key", default="source")
    parser.add_argument("wanted", nargs="+", metavar="VENV=dist,dist")
    args = parser.parse_args()
    versions: dict[str, object] = {}
    for spec in args.wanted:
        name, _, dists = spec.partition("=")
        py = args.venvs / name / "bin" / "python"
        if not py.exists():
            versions[name] = None
            continue
        res = subprocess.run([str(py), "-c", QUERY, *dists.split(",")], capture_output=True, text=True)
        found = json.loads(res.stdout) if res.returncode == 0 else {"error": res.stderr.strip()[-300:]}
        pins = args.venvs / name / args.pins if args.pins else None
        if pins is not None and pins.exists():
            found[args.key] = pins.read_text().strip()
        versions[name] = found
    (args.venvs / args.out).write_text(json.dumps(versions, indent=2) + "\n")
    for name, found in versions.items():
        print(f"[{args.tag}] {name}: {found}")


if __name__ == "__main__":
    main()
