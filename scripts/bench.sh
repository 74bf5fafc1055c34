#!/usr/bin/env bash
# Runs pollab's autodiff benchmarks and, when PyTorch is importable, the same workloads in
# PyTorch (scripts/bench_torch.py, one thread; PYTHON=... picks the interpreter), then prints steps/s side by side and the
# ratio pollab/PyTorch per workload.
#   BENCHTIME=20x   iterations per Go benchmark (and steps per torch workload)
#   TAGS=openblas   build the Go side with OpenBLAS (needs libopenblas-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
benchtime=${BENCHTIME:-20x}
steps=${benchtime%x}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

goflags=()
if [[ -n "${TAGS:-}" ]]; then
	goflags+=(-tags "$TAGS")
	[[ "$TAGS" == *openblas* ]] && export CGO_LDFLAGS="${CGO_LDFLAGS:-} -lopenblas" OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
fi
echo "# go test -bench (benchtime $benchtime${TAGS:+, tags $TAGS})" >&2
go test "${goflags[@]}" -run '^$' -bench 'TrainStep|GradMatch' -benchtime "$benchtime" ./autodiff/ | tee "$tmp/go.txt" >&2
# "BenchmarkTrainStep/mlp/f32-2  20  1004 ns/op  99.58 steps/s" -> "TrainStep/mlp/f32 99.58"
awk '/^Benchmark/ { for (i = 1; i <= NF; i++) if ($(i+1) == "steps/s") { n = $1; sub(/^Benchmark/, "", n); sub(/-[0-9]+$/, "", n); print n, $i } }' \
	"$tmp/go.txt" >"$tmp/pollab.txt"

# Debian's python3-torch lives in the system interpreter, which a pyenv/venv python3 on
# PATH may shadow: use $PYTHON, else the first of python3, /usr/bin/python3 that has torch.
py=""
for cand in ${PYTHON:-} python3 /usr/bin/python3; do
	if "$cand" -c 'import torch' 2>/dev/null; then py=$cand; break; fi
done
if [[ -n "$py" ]]; then
	echo "# PyTorch $("$py" -c 'import torch; print(torch.__version__)') ($py), 1 thread" >&2
	"$py" scripts/bench_torch.py "$steps" >"$tmp/torch.txt"
else
	echo "# PyTorch not importable: install Debian's python3-torch (apt-get install -y python3-torch) for the comparison" >&2
	: >"$tmp/torch.txt"
fi

printf '%-26s %14s %14s %10s\n' workload pollab_steps/s torch_steps/s ratio
awk 'FILENAME == ARGV[1] { t[$1] = $2; next }
	{ r = ($1 in t && t[$1] > 0) ? sprintf("%.3f", $2 / t[$1]) : "-"
	  printf "%-26s %14s %14s %10s\n", $1, $2, ($1 in t ? t[$1] : "-"), r }' "$tmp/torch.txt" "$tmp/pollab.txt"
