#!/usr/bin/env bash
# Create the peer venvs used by benches/bench_clients.py.  Idempotent: a venv whose
# pinned packages are already installed is left alone.
#
#   bash benches/setup_peers.sh                 # all peers + "ours" from the dev venv
#   OURS_WHEEL=target/wheels/liter_llm-*.whl bash benches/setup_peers.sh
#
# Layout (under /work/main/.bench-venvs, gitignored):
#   liter121/  liter-llm==1.2.2 from PyPI (the older, different package; import name liter_llm)
#   openai/    openai SDK
#   aiohttp/   raw aiohttp floor
#   ours/      our package from $OURS_WHEEL; without it, ours is not a venv but a
#              pointer to the dev venv /work/main/.venv (where `maturin develop` installs)
# Installed versions are written to .bench-venvs/versions.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${BENCH_VENVS:-$ROOT/.bench-venvs}"
PY="${PYTHON:-python3}"

LITER_OLD_PIN="liter-llm==1.2.2"
OPENAI_PIN="openai==3.54.0"
AIOHTTP_PIN="aiohttp==3.14.5"

mkdir -p "$VENVS"

make_venv() {  # name, pip requirements...
  local name="$1"
  shift
  local dir="$VENVS/$name"
  local stamp="$dir/.bench-pins"
  local want="$*"
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "[setup] $name: up to date ($want)"
    return
  fi
  echo "[setup] $name: installing $want"
  [[ -x "$dir/bin/python" ]] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  echo "$want" >"$stamp"
}

make_venv liter121 "$LITER_OLD_PIN"
make_venv openai "$OPENAI_PIN"
make_venv aiohttp "$AIOHTTP_PIN"

# ours: a real venv from a wheel when OURS_WHEEL is given, else a marker that points at the dev venv.
OURS="$VENVS/ours"
if [[ -n "${OURS_WHEEL:-}" ]]; then
  wheel="$(realpath "$OURS_WHEEL")"
  if [[ -L "$OURS" || -f "$OURS/.dev-venv" ]]; then rm -rf "$OURS"; fi
  [[ -x "$OURS/bin/python" ]] || "$PY" -m venv "$OURS"
  echo "[setup] ours: installing $wheel"
  "$OURS/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "$wheel" >"$OURS/.bench-pins"
else
  DEV="$ROOT/.venv"
  if [[ -x "$OURS/bin/python" && ! -L "$OURS" && ! -f "$OURS/.dev-venv" ]]; then
    echo "[setup] ours: keeping wheel venv ($(cat "$OURS/.bench-pins" 2>/dev/null || echo '?')); rm -rf $OURS to use the dev venv"
  else
    rm -rf "$OURS"
    ln -s "$DEV" "$OURS"
    echo "[setup] ours: -> dev venv $DEV (maturin develop build; a debug build is slow)"
  fi
fi

# Record versions (the import name is liter_llm for both liter venvs, so query distributions).
"$PY" - "$VENVS" <<'EOF'
import json, subprocess, sys
from pathlib import Path

venvs = Path(sys.argv[1])
dists = {"liter121": ["liter-llm"], "openai": ["openai", "httpx"], "aiohttp": ["aiohttp"],
         "ours": ["liter-llm", "aiohttp"]}
code = (
    "import json, platform, sys\n"
    "from importlib import metadata\n"
    "out = {'python': platform.python_version()}\n"
    "for d in sys.argv[1:]:\n"
    "    try: out[d] = metadata.version(d)\n"
    "    except metadata.PackageNotFoundError: out[d] = None\n"
    "print(json.dumps(out))\n"
)
versions = {}
for name, ds in dists.items():
    py = venvs / name / "bin" / "python"
    if not py.exists():
        versions[name] = None
        continue
    res = subprocess.run([str(py), "-c", code, *ds], capture_output=True, text=True)
    versions[name] = json.loads(res.stdout) if res.returncode == 0 else {"error": res.stderr.strip()[-300:]}
(venvs / "versions.json").write_text(json.dumps(versions, indent=2) + "\n")
for name, v in versions.items():
    print(f"[setup] {name}: {v}")
EOF
