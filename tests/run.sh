#!/usr/bin/env bash
# The whole test suite: lint, types, layering contracts, unit tests, and integration tests on the
# project's own local control plane (built from Go modules on first run, then cached).
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/bootstrap.sh

echo "== ruff"; ruff check . && ruff format --check .
echo "== mypy (strict on jobsched/)"; mypy
echo "== import-linter"; lint-imports
echo "== hadolint"; hadolint Dockerfile
echo "== control-plane binaries"; python -c 'from jobsched.devcluster import build; build.ensure_built()'
# tests/image builds the Dockerfile with buildah on a debootstrapped base (Debian's packages, ~10 s to
# install). As root with apt, install them; otherwise those tests skip and say what is missing.
if { ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; } && [ "$(id -u)" = 0 ] \
  && command -v apt-get >/dev/null && [ -z "${JOBSCHED_NO_IMAGE_TOOLS:-}" ]; then
  echo "== installing buildah and debootstrap for tests/image"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah debootstrap >/dev/null
fi
echo "== pytest"
set +e
python -m pytest -p no:cacheprovider -ra "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then
  echo "pytest collected no tests: failing (exit 5 must not pass)" >&2
  exit 1
fi
exit "$code"
