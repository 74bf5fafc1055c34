#!/usr/bin/env bash
# Interleaved pollab-vs-PyTorch benchmark (scripts/bench.py): pollab and PyTorch runs
# alternate, PAIRS pairs per workload, median of the per-pair ratios and their spread.
#   PAIRS=5        pairs per workload
#   TAGS=openblas  build the Go side with OpenBLAS (needs libopenblas-dev), or TAGS=purego
#   ONLY=regex     workloads to run
#   PYTHON=...     interpreter with PyTorch (default: the first of python3, /usr/bin/python3 that has it)
set -euo pipefail
cd "$(dirname "$0")/.."
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
	if "$cand" -c 'import torch' 2>/dev/null; then py=$cand; break; fi
done
if [[ -z "$py" ]]; then
	echo "bench.sh: PyTorch not importable: install Debian's python3-torch (apt-get install -y python3-torch)" >&2
	exit 2
fi
exec "$py" scripts/bench.py --pairs "${PAIRS:-5}" ${TAGS:+--tags "$TAGS"} ${ONLY:+--only "$ONLY"} "$@"
