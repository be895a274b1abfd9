#!/usr/bin/env bash
# Times sq-tokenize + sq-pack on a SQuAD file (default: ../shared's train
# v1.1) against the anchor, HuggingFace tokenizers building the same features
# (../shared/tools/hf_reference.py features), and prints the ratio.
#   tests/pack/bench.sh [SQUAD.json] [RUNS]     (SQ_BENCH_ANCHOR=0 skips the anchor)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SQ_SHARED:-$ROOT/../shared}
IN=${1:-$SHARED/data/squad/train-v1.1.reconstructed.json}
RUNS=${2:-5}
B=$ROOT/bin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

now() { date +%s.%N; }
ms() { echo "($2 - $1) * 1000 / 1" | bc; }
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "input: $IN"
: >"$T/tok" ; : >"$T/pack"; : >"$T/both"
for i in $(seq "$RUNS"); do
    t0=$(now)
    "$B/sq-tokenize" -q --vocab "$ROOT/data/vocab.txt" -o "$T/in.sqt" "$IN"
    t1=$(now)
    "$B/sq-pack" -q --force -o "$T/f" "$T/in.sqt"
    t2=$(now)
    ms "$t0" "$t1" >>"$T/tok"; ms "$t1" "$t2" >>"$T/pack"; ms "$t0" "$t2" >>"$T/both"
done
t0=$(now); "$B/sq-pack" -q -o "$T/f" "$T/in.sqt"; t1=$(now)
reuse=$(ms "$t0" "$t1")
t0=$(now); "$B/sq-inspect" -v "$T/f" >/dev/null; t1=$(now)
inspect=$(ms "$t0" "$t1")
both=$(median <"$T/both")
printf 'sq-tokenize        median %5d ms  best %5d ms\n' "$(median <"$T/tok")" "$(sort -n "$T/tok" | head -1)"
printf 'sq-pack            median %5d ms  best %5d ms\n' "$(median <"$T/pack")" "$(sort -n "$T/pack" | head -1)"
printf 'tokenize + pack    median %5d ms  best %5d ms   (%d runs)\n' "$both" "$(sort -n "$T/both" | head -1)" "$RUNS"
printf 'sq-pack up to date        %5d ms\n' "$reuse"
printf 'sq-inspect (all features) %5d ms\n' "$inspect"
grep -o '"features": [0-9]*' "$T/f/manifest.json" | head -1
echo "shards: $(du -sb "$T/f" | cut -f1) bytes; tokens file: $(stat -c %s "$T/in.sqt") bytes"
if [ "${SQ_BENCH_ANCHOR:-1}" = 1 ]; then
    t0=$(now)
    python3 "$SHARED/tools/hf_reference.py" features "$ROOT/data/vocab.txt" "$IN" "$T/ref.jsonl"
    t1=$(now)
    anchor=$(ms "$t0" "$t1")
    printf 'anchor: HF tokenizers features (hf_reference.py)  %d ms\n' "$anchor"
    printf 'ratio: %.1fx faster\n' "$(echo "$anchor / $both" | bc -l)"
fi
