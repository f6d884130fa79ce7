#!/usr/bin/env bash
# Venvs for the issue-3 throughput benchmark (benches/bench_batch.py). Idempotent: a venv whose pins are
# already installed is left alone.
#
#   bash benches/setup_peers.sh          # first: ours (snapshot or OURS_WHEEL=...) and the openai venv
#   bash benches/setup_batch_peers.sh    # then: litellm, llm-api-client, lm-deluge, and aiolimiter in openai/
#
# Layout (under /work/main/.bench-venvs, gitignored):
#   litellm/       litellm + aiolimiter (the pacer the openai/litellm drivers use)
#   llmapiclient/  llm-api-client (pulls litellm and pyrate-limiter)
#   lmdeluge/      lm-deluge
#   openai/        (from setup_peers.sh) + aiolimiter
# Versions go to .bench-venvs/batch-versions.json.
set -euo pipefail

TAG=setup-batch
STAMP=.bench-batch-pins
# shellcheck source=benches/venvs.sh
source "$(dirname "${BASH_SOURCE[0]}")/venvs.sh"

LITELLM_PIN="litellm==1.106.2"
AIOLIMITER_PIN="aiolimiter==1.3.0"
LLM_API_CLIENT_PIN="llm-api-client==0.1.8"
LM_DELUGE_PIN="lm-deluge==0.0.168"

make_venv litellm "$LITELLM_PIN" "$AIOLIMITER_PIN"
make_venv llmapiclient "$LLM_API_CLIENT_PIN"
make_venv lmdeluge "$LM_DELUGE_PIN"
if [[ -x "$VENVS/openai/bin/python" ]]; then
  make_venv openai "$AIOLIMITER_PIN"   # adds the pacer to the venv made by setup_peers.sh
else
  echo "[setup-batch] openai venv missing: run benches/setup_peers.sh first"
fi

"$PY" "$ROOT/benches/venv_versions.py" "$VENVS" batch-versions.json setup-batch \
  litellm=litellm,aiolimiter,openai,httpx,aiohttp llmapiclient=llm-api-client,litellm,pyrate-limiter,openai \
  lmdeluge=lm-deluge,aiohttp openai=openai,aiolimiter ours=liter-llm
