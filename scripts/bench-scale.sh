#!/usr/bin/env bash
# bench-scale.sh: the scale benchmark's big runs (benches/scale/), each on a fresh control plane,
# one after the other (never two at once: the figures are only comparable on an idle machine).
#   scripts/bench-scale.sh                  # N=10000 production (1 and 20 namespaces), N=1000 development
#   SCALE_N=2000 DEV_N=500 scripts/bench-scale.sh
#   scripts/bench-scale.sh production:1 development:1   # only these runs (<limit>:<namespaces>)
# Env: SCALE_N (default 10000) for production and none runs, DEV_N (default 1000) for development runs;
# SCALE_RESYNC, SCALE_TIMEOUT, SCALE_OPERATOR_ARGS pass through to the benchmark.
# Prints each run's table, then the README rows of all runs. Exit code non-zero if any run failed.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${SCALE_N:-10000}
DEV_N=${DEV_N:-1000}
RUNS=("$@")
[ ${#RUNS[@]} -gt 0 ] || RUNS=(production:1 production:20 development:1)

cargo bench --bench scale --no-run

ROWS=()
FAILED=0
for run in "${RUNS[@]}"; do
  limit=${run%%:*}
  namespaces=${run#*:}
  [ "$namespaces" != "$run" ] || namespaces=1
  n=$N
  [ "$limit" != development ] || n=$DEV_N
  echo "=== scale: N=$n, limit $limit, $namespaces namespace(s)" >&2
  log=$(mktemp "${TMPDIR:-/tmp}/bench-scale.XXXXXX")
  if SCALE_N=$n SCALE_LIMIT=$limit SCALE_NAMESPACES=$namespaces \
      scripts/with-k8s.sh cargo bench --bench scale 2>&1 | tee "$log"; then
    :
  else
    FAILED=1
    ROWS+=("| $n | $namespaces | $limit | FAILED (log: $log) |")
    continue
  fi
  while IFS= read -r row; do ROWS+=("$row"); done < <(sed -n 's/^README row: //p' "$log")
  rm -f "$log"
done

echo
echo "README rows:"
printf '%s\n' "${ROWS[@]}"
exit "$FAILED"
