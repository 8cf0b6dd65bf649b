#!/usr/bin/env bash
# The main job: a midnight CronJob storm on a local control plane, jobsched against the native
# pipeline (with its clients' QPS raised) and the raw API ceiling, all in one run.
#
#   bash bench/demo.sh                                   # 1,000 crons: jobsched, native-tuned, raw
#   CRONS=200 SYSTEMS=native-tuned,raw bash bench/demo.sh
#   EXTRA_ARGS="--repeats 3 --virtual-capacity-pods 800" bash bench/demo.sh
#
# It builds the control plane on first use (minutes, cached after), starts it, runs the storm at the
# next minute boundary, stops everything it started, and writes JSON, Markdown and a PNG plot.
set -euo pipefail
cd "$(dirname "$0")/.."
source deploy/local/bootstrap.sh

CRONS=${CRONS:-1000}
SYSTEMS=${SYSTEMS:-jobsched,native-tuned,raw}
VIRTUAL_NODES=${VIRTUAL_NODES:-100}
REGULAR_NODES=${REGULAR_NODES:-20}
OUT=${OUT:-bench/results/latest.json}

echo "== midnight storm: $CRONS crons, systems $SYSTEMS, $VIRTUAL_NODES virtual + $REGULAR_NODES regular nodes"
# shellcheck disable=SC2086  # EXTRA_ARGS is a list of flags on purpose
python -m bench --crons "$CRONS" --virtual-nodes "$VIRTUAL_NODES" --regular-nodes "$REGULAR_NODES" \
  --systems "$SYSTEMS" --out "$OUT" ${EXTRA_ARGS:-}
echo "== results: $OUT (JSON), ${OUT%.json}.md (table), ${OUT%.json}.png (plot)"
