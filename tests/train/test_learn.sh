#!/usr/bin/env bash
# Proof that sq-train learns: a synthetic SQuAD task (make_synthetic.sh: one
# "the <role> is <name> ." fact among filler sentences, "who is the <role> ?")
# through the real pipeline -- sq-tokenize, sq-pack, sq-train of a 2-layer,
# hidden-64 BERT from scratch, sq-train predict, sq-eval -- reaches dev F1 >= 90
# within two minutes of CPU.  The in-training dev evaluation (--eval-data)
# must agree with sq-eval.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features train 800 1
synthetic_features dev 100 2
tiny_config "$T/cfg.json" 64 2 4 0.1
# Two minutes of CPU: user + system time of sq-train (all its threads).
TIMEFORMAT='%U %S'
{ time "$SQ_BIN/sq-train" --data "$T/train" --config "$T/cfg.json" --epochs 2 --batch-size 32 --lr 1e-3 \
      --eval-data "$T/dev" --eval-dataset "$T/dev.json" --log-every 10 -q -o "$T/run" 2>"$T/train.err"; } 2>"$T/time" ||
    fail "sq-train: $(cat "$T/train.err")"
secs=$(awk '{ printf "%d", $1 + $2 + 0.5 }' "$T/time")
echo "trained in $secs s of CPU"
# The bound holds for the optimised build; sanitizers slow it several times.
if [[ ${SQ_BUILD:-build} != *san* ]]; then
    [ "$secs" -le 120 ] || fail "training took $secs s of CPU (> 2 minutes)"
fi
"$SQ_BIN/sq-train" predict --init "$T/run/model.safetensors" --data "$T/dev" -o "$T/logits.safetensors"
"$SQ_BIN/sq-eval" --dataset "$T/dev.json" --features "$T/dev" --logits "$T/logits.safetensors" >"$T/scores.json"
cat "$T/scores.json"
f1=$(grep -o '"f1": *[0-9.]*' "$T/scores.json" | grep -o '[0-9.]*$')
awk -v f="$f1" 'BEGIN { exit !(f >= 90) }' || fail "dev F1 $f1 < 90"
last=$(grep '"f1"' "$T/run/metrics.jsonl" | tail -n1)
echo "in training: $last"
inf1=$(echo "$last" | grep -o '"f1": *[0-9.]*' | grep -o '[0-9.]*$')
awk -v a="$f1" -v b="$inf1" 'BEGIN { d = a - b; exit !(d < 1e-9 && d > -1e-9) }' ||
    fail "sq-eval F1 $f1 differs from the in-training F1 $inf1"
first=$(grep '"loss"' "$T/run/metrics.jsonl" | head -n1 | grep -o '"loss": *[0-9.]*' | grep -o '[0-9.]*$')
final=$(grep '"loss"' "$T/run/metrics.jsonl" | tail -n1 | grep -o '"loss": *[0-9.]*' | grep -o '[0-9.]*$')
echo "loss $first -> $final"
awk -v a="$first" -v b="$final" 'BEGIN { exit !(b < a / 2) }' || fail "loss did not halve: $first -> $final"
echo ok
