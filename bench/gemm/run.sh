#!/usr/bin/env bash
# Times tensor.Sgemm against OpenBLAS's cblas_sgemm side by side, on one
# thread and on two. Extra arguments go to the benchmark program, e.g.
#   bench/gemm/run.sh -reps 9 -only 512
set -euo pipefail
cd "$(dirname "$0")"
. ../debs.sh
need_debs libopenblas0-pthread libopenblas-dev

bin="$(mktemp -d)/gemmbench"
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
for t in 1 2; do
	OPENBLAS_NUM_THREADS=$t "$bin" -threads "$t" "$@"
	echo
done
