#!/usr/bin/env bash
# Submits a run's tree of aggregations to Slurm: one array job per level (examples/slurm-aggregate.sbatch),
# every node of a level at once, each level after the one below succeeded. Run it on the login node, in the
# directory the chunk jobs ran in, once the chunk proofs are there or behind their job:
#
#   examples/slurm-aggregate.sh GROUP [AFTER_JOBID]
#
# GROUP is the proofs per node (a power of two, as `dzk aggregate --group`); AFTER_JOBID (the chunk array job)
# holds level 0 until it succeeded. DZK_SBATCH_ARGS adds sbatch options to every level (resources:
# "--cpus-per-task=4 --mem=16G"); DZK_RUN, DZK_PARAMS and DZK_PROOFS name other directories. Prints each
# level's job and, last, the root's job id alone, for a verification job to depend on. After a failed node,
# run it again: the nodes whose files are there keep them and end at once.
#
#   root=$(examples/slurm-aggregate.sh 2 "$jid" | tail -n 1)
#   sbatch --dependency=afterok:$root --wrap "dzk verify-all --aggregate proofs/aggregate.dzk --run run --params params"
set -euo pipefail
G=${1:?usage: slurm-aggregate.sh GROUP [AFTER_JOBID]}
AFTER=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
read -r -a EXTRA <<< "${DZK_SBATCH_ARGS:-}"
DEP=()
if [ -n "$AFTER" ]; then
  DEP=(--dependency="afterok:$AFTER")
fi
# `dzk aggregate-node --tree` prints "level L: N node(s)" per level, from the plan alone.
mapfile -t SIZES < <(dzk aggregate-node "${DZK_PROOFS:-proofs}" --run "${DZK_RUN:-run}" --params "${DZK_PARAMS:-params}" \
  --group "$G" --tree | awk '{print $3}')
JID=""
for L in "${!SIZES[@]}"; do
  N=${SIZES[$L]}
  JID=$(sbatch --parsable "${DEP[@]}" "${EXTRA[@]}" --array="0-$((N - 1))" --output="dzk-aggregate-$L-%a.log" \
    --export="ALL,DZK_LEVEL=$L,DZK_GROUP=$G" "$HERE/slurm-aggregate.sbatch")
  echo "level $L: $N node(s), job $JID" >&2
  DEP=(--dependency="afterok:$JID")
done
echo "$JID"
