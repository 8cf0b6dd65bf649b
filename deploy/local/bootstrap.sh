#!/usr/bin/env bash
# Sourced by tests/run.sh and bench/demo.sh: makes .venv with jobsched and its test/bench extras.
# The control-plane binaries are built (and cached outside the repo) on first use by the code itself.
set -euo pipefail
command -v go >/dev/null || { echo "go is required to build the local control plane (apt-get install golang or see go.dev)" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is required for the local control plane's certificates" >&2; exit 1; }
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.jobsched-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test,bench]'
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
