#!/usr/bin/env bash
# Makes .venv with jobsched and its test/bench extras, and puts it first on PATH. Source it from the
# repository's root (tests/run.sh and bench/demo.sh do), in a script or in your interactive shell:
#
#   source deploy/local/bootstrap.sh
#
# Safe to source: it changes no shell option (no `set -e` left behind) and, when something is missing,
# says so and returns 1 instead of exiting, so a terminal stays open. Run as a script, it exits 1.
# The control-plane binaries are built (and cached outside the repo) on first use by the code itself.

_jobsched_bootstrap() {
  local py=${PYTHON:-python3} stamp=.venv/.jobsched-installed
  if ! command -v go >/dev/null; then
    echo "go is required to build the local control plane (apt-get install golang or see go.dev)" >&2
    return 1
  fi
  if ! command -v openssl >/dev/null; then
    echo "openssl is required for the local control plane's certificates" >&2
    return 1
  fi
  if [ ! -f pyproject.toml ] || [ ! -d jobsched ]; then
    echo "source deploy/local/bootstrap.sh from the jobsched repository's root (here: $PWD)" >&2
    return 1
  fi
  if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv || { echo "could not create .venv with $py" >&2; return 1; }
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip || return 1
    .venv/bin/python -m pip install --quiet -e '.[test,bench]' || return 1
    touch "$stamp"
  fi
  case ":$PATH:" in
    *":$PWD/.venv/bin:"*) ;;
    *) export PATH="$PWD/.venv/bin:$PATH" ;;
  esac
}

if (return 0 2>/dev/null); then  # sourced: return, never exit the caller's shell
  _jobsched_bootstrap && { unset -f _jobsched_bootstrap; return 0; }
  unset -f _jobsched_bootstrap
  return 1
fi
_jobsched_bootstrap || exit 1
