#!/usr/bin/env bash
# Times a training step (forward, backward, clip_grad_norm, AdamW) of the
# engine and of PyTorch on the same LLaMA-style model, side by side, and
# prints the ratio. Installs Debian's python3-torch and libopenblas0-pthread
# with apt if they are missing.
#
#   bench/torch/run.sh                 # configs A and B, 1 and 2 threads, 4 rounds
#   ROUNDS=6 CONFIGS=A THREADS="1" bench/torch/run.sh
#
# Each round runs the Go program and train_step.py once each, alternating
# which goes first, so a burst of load from other processes hits both alike.
# PyTorch runs with the settings that make it fastest here (see README.md):
# glibc malloc thresholds raised, OMP_WAIT_POLICY=PASSIVE, foreach AdamW.
# Stock PyTorch (no such settings) is also timed once per config and thread
# count for reference (STOCK=0 skips it). First both load the same initial
# weights and print the loss and gradient norm of one step (CHECK=0 skips).
set -euo pipefail
cd "$(dirname "$0")"

ROUNDS=${ROUNDS:-4}
CONFIGS=${CONFIGS:-"A B"}
THREADS=${THREADS:-"1 2"}
STOCK=${STOCK:-1}
PY=/usr/bin/python3 # Debian's python, where python3-torch installs

. ../debs.sh
if "$PY" -c 'import torch' 2>/dev/null; then
	need_debs libopenblas0-pthread
else
	need_debs python3-torch libopenblas0-pthread
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bin="$tmp/gotrain"
go build -o "$bin" .
log="$tmp/results"

steps() { # config -> "steps warmup"
	case "$1" in
	A) echo "20 3" ;;
	*) echo "4 2" ;;
	esac
}

run_go() { # config threads round
	read -r s w <<<"$(steps "$1")"
	"$bin" -config "$1" -threads "$2" -steps "$s" -warmup "$w" | sed "s/\$/ round=$3/" | tee -a "$log"
}

run_torch() { # config threads round
	read -r s w <<<"$(steps "$1")"
	env OMP_NUM_THREADS="$2" OPENBLAS_NUM_THREADS="$2" OMP_WAIT_POLICY=PASSIVE \
		GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824 \
		"$PY" train_step.py --config "$1" --threads "$2" --steps "$s" --warmup "$w" --foreach on | sed "s/\$/ round=$3/" | tee -a "$log"
}

run_stock() { # config threads
	read -r s w <<<"$(steps "$1")"
	env OMP_NUM_THREADS="$2" OPENBLAS_NUM_THREADS="$2" \
		"$PY" train_step.py --config "$1" --threads "$2" --steps "$s" --warmup "$w" |
		sed 's/impl=torch/impl=stock/' | tee -a "$log"
}

echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) CPUs, $(go version | cut -d' ' -f3), torch $("$PY" -c 'import torch; print(torch.__version__)')"
# Same model: both start from the engine's initial weights (saved by the Go
# program, loaded by train_step.py) and must agree on the loss and gradient
# norm of one step on a fixed sequence (CHECK=0 skips this).
if [ "${CHECK:-1}" = 1 ]; then
	for c in $CONFIGS; do
		"$bin" -config "$c" -threads 1 -check "$tmp/check$c"
		"$PY" train_step.py --config "$c" --threads 1 --check "$tmp/check$c"
	done
fi
echo "# start $(date -u +%H:%M:%S) UTC, uptime: $(uptime)"
for c in $CONFIGS; do
	for t in $THREADS; do
		for r in $(seq 1 "$ROUNDS"); do
			if [ $((r % 2)) -eq 1 ]; then
				run_go "$c" "$t" "$r"
				run_torch "$c" "$t" "$r"
			else
				run_torch "$c" "$t" "$r"
				run_go "$c" "$t" "$r"
			fi
		done
		if [ "$STOCK" = 1 ]; then
			run_stock "$c" "$t"
		fi
	done
done
echo "# end $(date -u +%H:%M:%S) UTC, uptime: $(uptime)"
echo
"$PY" - "$log" <<'PYEOF'
import statistics, sys

rows = []
for line in open(sys.argv[1]):
    if line.startswith("RESULT"):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))

def med(xs):
    return statistics.median(xs) if xs else float("nan")

print("| config | threads | params (ours / PyTorch) | ours tokens/s | PyTorch tokens/s | ratio | "
      "ours tokens/cpu-s | PyTorch tokens/cpu-s | cpu ratio | stock PyTorch tokens/s | ratio to stock |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
keys = []
for r in rows:
    k = (r["config"], r["threads"])
    if k not in keys:
        keys.append(k)
for c, t in keys:
    sel = [r for r in rows if r["config"] == c and r["threads"] == t]
    go = [r for r in sel if r["impl"] == "go"]
    th = [r for r in sel if r["impl"] == "torch"]
    st = [r for r in sel if r["impl"] == "stock"]
    # Per-round ratios: the Go and PyTorch runs of a round ran back to back.
    by_round = lambda xs: {r["round"]: r for r in xs}
    g, p = by_round(go), by_round(th)
    rounds = sorted(set(g) & set(p))
    ratio = med([float(g[k]["tokens_per_s"]) / float(p[k]["tokens_per_s"]) for k in rounds])
    cratio = med([float(g[k]["tokens_per_cpu_s"]) / float(p[k]["tokens_per_cpu_s"]) for k in rounds])
    gs, ps = med([float(r["tokens_per_s"]) for r in go]), med([float(r["tokens_per_s"]) for r in th])
    gc, pc = med([float(r["tokens_per_cpu_s"]) for r in go]), med([float(r["tokens_per_cpu_s"]) for r in th])
    ss = med([float(r["tokens_per_s"]) for r in st])
    params = "%s / %s" % (go[0]["params"] if go else "?", th[0]["params"] if th else "?")
    print(f"| {c} | {t} | {params} | {gs:,.0f} | {ps:,.0f} | {ratio:.2f}× | {gc:,.0f} | {pc:,.0f} | {cratio:.2f}× | "
          f"{ss:,.0f} | {gs / ss:.2f}× |")
print()
print("ratio: median over rounds of (ours / PyTorch) tokens/s; cpu ratio likewise for tokens per CPU-second.")
print("Target (issue 3): ours at least 1.5× PyTorch.")
PYEOF
