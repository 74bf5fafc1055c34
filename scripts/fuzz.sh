#!/usr/bin/env bash
# Runs every Go fuzz target of the project for the given time (default 60s) and prints executions per target.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-60s}"
status=0
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u || true)
  for t in $targets; do
    log=$(mktemp)
    if go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -fuzzminimizetime 100x "$pkg" >"$log" 2>&1; then
      execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | awk '{print $2}')
      echo "fuzz ${pkg#pollab/}.${t}: ok, ${execs:-?} execs in ${fuzztime}"
    else
      echo "fuzz ${pkg#pollab/}.${t}: FAILED"; cat "$log"; status=1
    fi
    rm -f "$log"
  done
done
exit $status
