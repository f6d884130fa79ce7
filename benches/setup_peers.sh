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
#   ours-prev/ ours-base/  earlier builds of ours from $OURS_PREV_WHEEL / $OURS_BASE_WHEEL (optional;
#              client keys "prev" and "base")
#   ours/      our package from $OURS_WHEEL; without it, a snapshot copy of the package that
#              `maturin develop` installed into the dev venv /work/main/.venv (a DEBUG build unless --release)
# Installed versions are written to .bench-venvs/versions.json.
set -euo pipefail

TAG=setup
STAMP=.bench-pins
# shellcheck source=benches/venvs.sh
source "$(dirname "${BASH_SOURCE[0]}")/venvs.sh"

LITER_OLD_PIN="liter-llm==1.2.2"
OPENAI_PIN="openai==3.54.0"
AIOHTTP_PIN="aiohttp==3.14.5"

make_venv liter121 "$LITER_OLD_PIN"
make_venv openai "$OPENAI_PIN"
make_venv aiohttp "$AIOHTTP_PIN"

# ours: its own venv holding either $OURS_WHEEL or a SNAPSHOT of the package that `maturin develop` put in the
# dev venv (copied, so a rebuild by someone else during a run cannot change or crash the build under test).
# Re-run this script to refresh the snapshot.
OURS="$VENVS/ours"
[[ -L "$OURS" ]] && rm -f "$OURS"   # older layout: a symlink to the dev venv
[[ -x "$OURS/bin/python" ]] || "$PY" -m venv "$OURS"
if [[ -n "${OURS_WHEEL:-}" ]]; then
  wheel="$(realpath "$OURS_WHEEL")"
  echo "[setup] ours: installing $wheel"
  "$OURS/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "wheel $wheel" >"$OURS/.bench-pins"
else
  DEV_PY="$ROOT/.venv/bin/python"
  src="$("$DEV_PY" -c 'import os, liter_llm; print(os.path.dirname(liter_llm.__file__))' 2>/dev/null || true)"
  site="$("$OURS/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  "$OURS/bin/python" -m pip uninstall --quiet --yes liter-llm >/dev/null 2>&1 || true
  rm -rf "$site/liter_llm"
  if [[ -n "$src" ]]; then
    cp -a "$src" "$site/liter_llm"
    find "$site/liter_llm" -name __pycache__ -prune -exec rm -rf {} +
    so="$(ls "$site"/liter_llm/*.so 2>/dev/null | head -1)"
    origin="$(cat "$(dirname "$src")"/liter_llm-*.dist-info/direct_url.json 2>/dev/null | tr -d '\n' || true)"
    echo "snapshot $src $(stat -c '%s bytes, mtime %y' "$so" 2>/dev/null) ${origin:-(maturin develop)}" >"$OURS/.bench-pins"
    echo "[setup] ours: snapshot of the dev build $src ($(du -sh "$site/liter_llm" | cut -f1))"
  else
    echo "none: the dev venv $ROOT/.venv cannot import liter_llm (run maturin develop there)" >"$OURS/.bench-pins"
    echo "[setup] ours: dev venv cannot import liter_llm yet; ours will be skipped"
  fi
fi
# prev / base: earlier builds of ours, to measure changes side by side in one run
# (`--clients ours,prev,base`): $OURS_PREV_WHEEL (e.g. the commit before a change) and $OURS_BASE_WHEEL.
wheel_venv() {  # venv name, wheel path (skipped when empty)
  [[ -n "$2" ]] || return 0
  local dir="$VENVS/$1"
  [[ -x "$dir/bin/python" ]] || "$PY" -m venv "$dir"
  local wheel
  wheel="$(realpath "$2")"
  echo "[setup] $1: installing $wheel"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  echo "wheel $wheel" >"$dir/.bench-pins"
}
wheel_venv ours-prev "${OURS_PREV_WHEEL:-}"
wheel_venv ours-base "${OURS_BASE_WHEEL:-}"
# ours' optional deps that the benchmark does not need are not installed; the mock server needs none.

# Record versions (the import name is liter_llm for both liter venvs, so query distributions).
"$PY" "$ROOT/benches/venv_versions.py" "$VENVS" versions.json setup --pins .bench-pins --key source \
  liter121=liter-llm openai=openai,httpx2,httpcore2,pydantic,pydantic_core aiohttp=aiohttp ours=liter-llm
