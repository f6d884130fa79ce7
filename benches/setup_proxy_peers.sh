#!/usr/bin/env bash
# Venvs for the proxy benchmark (benches/bench_proxy.py). Idempotent: a venv whose pins are already installed is
# left alone.
#
#   OURS_WHEEL=/path/liter_llm-....whl bash benches/setup_proxy_peers.sh   # a RELEASE wheel (maturin build --release)
#
# Layout (under .bench-venvs/ of the repo, or $BENCH_VENVS; gitignored):
#   proxy-ours/     our package from $OURS_WHEEL (`liter-llm serve`, and the mock used as the upstream)
#   litellm-proxy/  litellm[proxy] (uvicorn, FastAPI; no prisma: its engines are downloaded at run time, which
#                   cannot work offline, so LiteLLM runs without a database: master key, in-memory limits)
# Versions go to .bench-venvs/proxy-versions.json.
set -euo pipefail

TAG=setup-proxy
STAMP=.bench-proxy-pins
# shellcheck source=benches/venvs.sh
source "$(dirname "${BASH_SOURCE[0]}")/venvs.sh"

LITELLM_PIN="litellm[proxy]==1.108.7"

make_venv litellm-proxy "$LITELLM_PIN"

OURS="$VENVS/proxy-ours"
if [[ -n "${OURS_WHEEL:-}" ]]; then
  wheel="$(realpath "$OURS_WHEEL")"
  [[ -x "$OURS/bin/python" ]] || "$PY" -m venv "$OURS"
  echo "[setup-proxy] proxy-ours: installing $wheel"
  "$OURS/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall "$wheel"
  echo "wheel $wheel $(sha256sum "$wheel" | cut -c1-16)" >"$OURS/.bench-proxy-pins"
elif [[ ! -x "$OURS/bin/python" ]]; then
  echo "[setup-proxy] proxy-ours missing: set OURS_WHEEL to a release wheel (maturin build --release)" >&2
  exit 1
else
  echo "[setup-proxy] proxy-ours: kept ($(cat "$OURS/.bench-proxy-pins" 2>/dev/null || echo '?'))"
fi

"$PY" "$ROOT/benches/venv_versions.py" "$VENVS" proxy-versions.json setup-proxy --pins .bench-proxy-pins --key origin \
  litellm-proxy=litellm,uvicorn,fastapi,prisma proxy-ours=liter-llm
