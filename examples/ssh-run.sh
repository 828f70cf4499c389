#!/usr/bin/env bash
# Prove a model on N machines over ssh/scp, one chunk per machine, all chunks at once.
#
#   examples/ssh-run.sh MODEL INPUT HOST [HOST ...]
#
# This machine partitions (one chunk per host), makes a dev SRS (INSECURE; set DZK_PARAMS to a directory made
# by `dzk setup --import` for real runs), the keys and every cut's boundary file, copies each host only what
# its chunk needs, runs `dzk prove-chunk` there, copies the proof back, and audits the run.
# Each host needs `dzk` on its PATH (or DZK_REMOTE_BIN). DZK_SSH and DZK_SCP replace ssh and scp (the tests
# use local stand-ins); DZK_REMOTE_BASE is where hosts keep their files (default /tmp/dzk-ssh-run).
# DZK_MAX_K=K partitions with `--max-k K` instead (every chunk within 2^K rows, a layer too large for that split
# across chunks): the plan then has as many chunks as it needs, dealt to the hosts in turn, and a chunk after a
# split layer reads several boundary files, all of which its host gets. DZK_MAX_MEMORY=SIZE (alone or with
# DZK_MAX_K) partitions with `--max-memory SIZE`: every chunk within SIZE to key and prove by dzk's estimate.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 MODEL INPUT HOST [HOST ...]" >&2; exit 2; }
MODEL=$1; INPUT=$2; shift 2; HOSTS=("$@"); N=${#HOSTS[@]}
SSH=${DZK_SSH:-ssh}; SCP=${DZK_SCP:-scp}
DZK=${DZK:-dzk}; REMOTE_DZK=${DZK_REMOTE_BIN:-dzk}; BASE=${DZK_REMOTE_BASE:-/tmp/dzk-ssh-run}
WORK=${DZK_WORK:-$(mktemp -d)}
mkdir -p "$WORK"

BOUND=()
[ -n "${DZK_MAX_K:-}" ] && BOUND+=(--max-k "$DZK_MAX_K")
[ -n "${DZK_MAX_MEMORY:-}" ] && BOUND+=(--max-memory "$DZK_MAX_MEMORY")
[ ${#BOUND[@]} -gt 0 ] || BOUND=(--chunks "$N")
$DZK partition "$MODEL" "${BOUND[@]}" -o "$WORK/run" --json --force > "$WORK/partition.json"
# The boundaries each chunk reads, one line per chunk ("0", or "0,1,2" after a split layer).
mapfile -t READS < <(grep -o '"reads":\[[0-9,]*\]' "$WORK/partition.json" | sed 's/.*\[\(.*\)\]/\1/')
C=${#READS[@]}
if [ -n "${DZK_PARAMS:-}" ]; then
  PARAMS=$DZK_PARAMS
else
  K=$(grep -o '"k":[0-9]*' "$WORK/partition.json" | cut -d: -f2 | sort -n | tail -1)
  PARAMS=$WORK/params
  $DZK setup --k "$K" -o "$PARAMS"
fi
$DZK keygen "$WORK/run" --params "$PARAMS"
$DZK boundaries "$WORK/run" --input "$INPUT" -o "$WORK/boundaries"
mkdir -p "$WORK/proofs"

prove_on() {  # chunk host
  local i=$1 host=$2 dir="$BASE/chunk-$1" files=() b
  # The boundaries the chunk reads, and its own output's (made ahead, so every chunk proves at once).
  for b in ${READS[$i]//,/ }; do
    files+=("$WORK/boundaries/boundary-$b.dzk")
  done
  # (None for a chunk that states the model's outputs: the last, or a part of a split last layer.)
  if [ -f "$WORK/boundaries/boundary-$((i + 1)).dzk" ]; then
    files+=("$WORK/boundaries/boundary-$((i + 1)).dzk")
  fi
  $SSH "$host" "mkdir -p $dir/run $dir/params $dir/boundaries"
  $SCP "$WORK/run/plan.dzk" "$WORK/run/chunk-$i.model.msgpack" "$WORK/run/chunk-$i.pk" "$host:$dir/run/"
  $SCP "$PARAMS"/* "$host:$dir/params/"
  $SCP "${files[@]}" "$host:$dir/boundaries/"
  $SSH "$host" "$REMOTE_DZK prove-chunk $dir/run --chunk $i --boundaries $dir/boundaries --params $dir/params -o $dir/proofs"
  $SCP "$host:$dir/proofs/chunk-$i.proof" "$WORK/proofs/"
}

pids=()
for ((i = 0; i < C; i++)); do
  prove_on "$i" "${HOSTS[$((i % N))]}" > "$WORK/chunk-$i.log" 2>&1 &
  pids+=($!)
done
fail=0
for ((i = 0; i < C; i++)); do
  if ! wait "${pids[$i]}"; then
    echo "chunk $i on ${HOSTS[$((i % N))]} failed:" >&2; cat "$WORK/chunk-$i.log" >&2; fail=1
  fi
done
[ $fail -eq 0 ] || exit 2
$DZK merkle "$WORK/proofs"
$DZK verify-all "$WORK/proofs" --run "$WORK/run" --params "$PARAMS"
