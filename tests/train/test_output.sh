#!/usr/bin/env bash
# What sq-train says: one start line (model, data, steps, device, precision)
# and one closing line (where the model is, time, samples/s, final loss, dev
# F1 when evaluated) around the progress; the memory accounting and the
# backward time per layer only with -v or --profile; predict one summary
# line; -q nothing at all.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 30 3
tiny_config "$T/cfg.json"
tr=("$SQ_BIN/sq-train" --device cpu --data "$T/feat" --config "$T/cfg.json" --max-steps 6 --batch-size 4
    --threads 2 --log-every 100)

"${tr[@]}" -o "$T/run" 2>"$T/err" || fail "sq-train: $(cat "$T/err")"
cat "$T/err"
# Progress lines start with "step"; what sq-train itself says starts with its name.
[ "$(grep -c '^sq-train:' "$T/err")" = 2 ] || fail "wanted a start and a closing line: $(cat "$T/err")"
grep -q "^sq-train: training BERT (2 layers, hidden 32, .*, from scratch, seed 42) on $T/feat (30 features): steps 1-6 of 6 (0.75 epochs of batch 4), cpu fp32, into $T/run\$" "$T/err" ||
    fail "start line: $(head -n1 "$T/err")"
grep -Eq "^sq-train: model written to $T/run/model.safetensors: 6 steps in [0-9.]+ s, [0-9.]+ samples/s, final loss [0-9.]+\$" "$T/err" ||
    fail "closing line: $(tail -n1 "$T/err")"
loss=$(sed -n 's/.*final loss \([0-9.]*\)$/\1/p' "$T/err")
want=$(tail -n1 "$T/run/metrics.jsonl" | grep -o '"loss":[0-9.e-]*' | cut -d: -f2)
awk -v a="$loss" -v b="$want" 'BEGIN { d = a - b; exit !(d < 1e-4 && d > -1e-4) }' || fail "final loss $loss, metrics say $want"
! grep -Eq 'memory:|backward ms per layer' "$T/err" || fail "accounting without -v: $(cat "$T/err")"

"${tr[@]}" -v -o "$T/verbose" 2>"$T/err" || fail "sq-train -v: $(cat "$T/err")"
grep -q '^sq-train: memory: rank 0/1 single holds params=' "$T/err" || fail "-v: no memory line: $(cat "$T/err")"
grep -q '^sq-train: backward ms per layer (QA head, layers 1..0, embeddings; mean of 6):' "$T/err" ||
    fail "-v: no per-layer times: $(cat "$T/err")"
"${tr[@]}" --profile=1 -o "$T/profile" 2>"$T/err" || fail "sq-train --profile: $(cat "$T/err")"
grep -q 'memory: rank 0/1' "$T/err" && grep -q 'backward ms per layer' "$T/err" || fail "--profile: $(cat "$T/err")"

"${tr[@]}" -q -o "$T/quiet" 2>"$T/err" || fail "sq-train -q: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "-q printed: $(cat "$T/err")"

# With a dev set, the closing line carries its F1 (the last evaluation's).
"${tr[@]}" --eval-data "$T/feat" --eval-dataset "$T/feat.json" -o "$T/eval" 2>"$T/err" || fail "$(cat "$T/err")"
f1=$(grep '"f1"' "$T/eval/metrics.jsonl" | tail -n1 | grep -o '"f1":[0-9.e-]*' | cut -d: -f2)
grep -Eq "^sq-train: model written to .*, final loss [0-9.]+, dev F1 $(printf %.2f "$f1")\$" "$T/err" ||
    fail "closing line with F1 $f1: $(tail -n1 "$T/err")"

"$SQ_BIN/sq-train" predict --init "$T/run/model.safetensors" --data "$T/feat" -o "$T/logits.safetensors" \
    >"$T/out" 2>"$T/err" || fail "predict: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "predict wrote on stdout: $(cat "$T/out")"
[ "$(wc -l <"$T/err")" = 1 ] && grep -Eq "^sq-train: wrote $T/logits.safetensors: logits of 30 features in [0-9.]+ s \([0-9.]+ features/s, cpu fp32\)\$" "$T/err" ||
    fail "predict summary: $(cat "$T/err")"
"$SQ_BIN/sq-train" predict -q --init "$T/run/model.safetensors" --data "$T/feat" -o "$T/logits2.safetensors" 2>"$T/err"
[ ! -s "$T/err" ] || fail "predict -q printed: $(cat "$T/err")"
cmp -s "$T/logits.safetensors" "$T/logits2.safetensors" || fail "predict -q wrote other logits"
echo ok
