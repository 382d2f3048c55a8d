#!/usr/bin/env bash
# Queues the shards array and the merge that waits for it:
#   deploy/slurm/submit.sh [SHARDS]      (default 8)
# Settings go through the environment (PIPELINE, RUN_DIR, TEACHER_MODEL,
# MERGED_DIR, EXPORT); sbatch passes it on to both jobs.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
shards="${1:-8}"
if ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
	echo "usage: $0 [SHARDS]" >&2
	exit 2
fi
mkdir -p logs
array_id="$(sbatch --parsable --array="0-$((shards - 1))" "$here/shards.sbatch")"
array_id="${array_id%%;*}" # --parsable prints JOBID or JOBID;CLUSTER
merge_id="$(sbatch --parsable --dependency="afterok:${array_id}" "$here/merge.sbatch")"
echo "shards: job array ${array_id} (${shards} tasks); merge: job ${merge_id}, after all of them succeed"
