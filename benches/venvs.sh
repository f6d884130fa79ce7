# Shared by the setup_*peers.sh scripts (sourced, not run): where the benchmark venvs live
# (.bench-venvs/ of the repo, or $BENCH_VENVS; gitignored) and make_venv, which installs pins into
# one of them unless they are there already. Set TAG (the log prefix) and STAMP (the pins file kept
# in each venv) before sourcing.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${BENCH_VENVS:-$ROOT/.bench-venvs}"
PY="${PYTHON:-python3}"
mkdir -p "$VENVS"

make_venv() {  # name, pip requirements...
  local name="$1"
  shift
  local dir="$VENVS/$name"
  local stamp="$dir/$STAMP"
  local want="$*"
  if [[ -x "$dir/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "[$TAG] $name: up to date ($want)"
    return
  fi
  echo "[$TAG] $name: installing $want"
  [[ -x "$dir/bin/python" ]] || "$PY" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
  echo "$want" >"$stamp"
}
