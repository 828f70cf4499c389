#!/usr/bin/env bash
# The whole dzk job on one machine, as three machines would run it: partition the shipped digits CNN into 3
# chunks, make a dev SRS (INSECURE, for demos), make the keys, prove each chunk from the boundary file the
# previous one emitted, compute the Merkle root, and audit the run. Prints the verdict; exits like verify-all.
#
#   bash examples/local-run.sh [MODEL] [INPUT] [CHUNKS]
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${1:-testdata/models/digits_cnn.msgpack}
INPUT=${2:-testdata/inputs/digits_0.msgpack}
CHUNKS=${3:-3}
WORK=${DZK_WORK:-$(mktemp -d)}
mkdir -p "$WORK"

echo "== building dzk (release; the first build takes several minutes, later ones seconds)"
cargo build --release -p dzk-cli
DZK=target/release/dzk

echo "== partition $MODEL into $CHUNKS chunks (run dir $WORK/run)"
$DZK partition "$MODEL" --chunks "$CHUNKS" -o "$WORK/run" --json --force > "$WORK/partition.json"
# One SRS for every chunk, as large as the largest chunk needs (smaller chunks use a prefix of it).
K=$(grep -o '"k":[0-9]*' "$WORK/partition.json" | cut -d: -f2 | sort -n | tail -1)
echo "== dev setup, k = $K"
$DZK setup --k "$K" -o "$WORK/params"
$DZK keygen "$WORK/run" --params "$WORK/params"

# "Machine" i proves chunk i. Each emits the next chunk's input (activations + salt) before it proves, so the
# next machine could start at once; here they simply run in turn.
IN=$INPUT
for ((i = 0; i < CHUNKS; i++)); do
  OUT="$WORK/boundary-$((i + 1)).dzk"
  [ "$i" -eq $((CHUNKS - 1)) ] && OUT="$WORK/outputs.msgpack"
  echo "== machine $i: prove chunk $i"
  $DZK prove-chunk "$WORK/run" --chunk "$i" --input "$IN" --params "$WORK/params" \
    -o "$WORK/proofs" --emit-output "$OUT"
  IN=$OUT
done

echo "== merkle (the root the model owner publishes)"
ROOT=$($DZK merkle "$WORK/proofs" | awk '/^root /{print $2}')
echo "root $ROOT"
echo "== the auditor's kit (plan, verifying keys, the verifier's part of the SRS, the published root)"
$DZK export-verifier "$WORK/run" --params "$WORK/params" --root "$ROOT" -o "$WORK/kit"
echo "== verify-all with the kit alone, pinned to the published root it carries"
$DZK verify-all "$WORK/proofs" --kit "$WORK/kit" --require-root
