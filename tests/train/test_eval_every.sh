#!/usr/bin/env bash
# Evaluation during training: logged at fractional epochs (step 5 of an
# 8-step epoch is epoch 0.625, not 1); --eval-every N evaluates every N steps
# and at the end; --save-best keeps the model of the best dev F1 in
# RUNDIR/best/ (sq-eval scores that model as eval.json says); --early-stop K
# stops after K evaluations without a better F1, and the stopped run is
# complete for --resume.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features train 30 3
synthetic_features dev 12 4
tiny_config "$T/cfg.json"
tr=("$SQ_BIN/sq-train" --device cpu --data "$T/train" --config "$T/cfg.json" --batch-size 4 --threads 2
    --lr 1e-3 --eval-data "$T/dev" --eval-dataset "$T/dev.json" -q)
# eval_lines RUNDIR: "step epoch" of each evaluation
eval_lines() { jq -r 'select(has("f1")) | "\(.step) \(.epoch)"' "$1/metrics.jsonl" | tr '\n' ' '; }

# 30 features in batches of 4: 8 steps an epoch.  Without --eval-every, the
# end of a run shorter than an epoch is evaluated, at its fractional epoch.
"${tr[@]}" --max-steps 5 -o "$T/short"
[ "$(eval_lines "$T/short")" = "5 0.625 " ] || fail "evaluations: $(eval_lines "$T/short")"
"${tr[@]}" --max-steps 10 -o "$T/epochs"
[ "$(eval_lines "$T/epochs")" = "8 1 10 1.25 " ] || fail "per epoch: $(eval_lines "$T/epochs")"
"${tr[@]}" --max-steps 7 --eval-every 3 -o "$T/every"
[ "$(eval_lines "$T/every")" = "3 0.375 6 0.75 7 0.875 " ] || fail "--eval-every 3: $(eval_lines "$T/every")"

# --save-best: best/ is the model of the best F1 (the first to reach it).
"${tr[@]}" --max-steps 12 --eval-every 2 --save-best -o "$T/best"
for f in model.safetensors config.json eval.json; do [ -f "$T/best/best/$f" ] || fail "best/$f missing"; done
read -r bstep bf1 <<<"$(jq -sr '[.[] | select(has("f1"))] | (map(.f1) | max) as $m | map(select(.f1 == $m))[0] | "\(.step) \(.f1)"' "$T/best/metrics.jsonl")"
[ "$(jq -r .step "$T/best/best/eval.json")" = "$bstep" ] || fail "best/eval.json: $(cat "$T/best/best/eval.json"), best F1 $bf1 at step $bstep"
"$SQ_BIN/sq-train" predict -q --init "$T/best/best/model.safetensors" --data "$T/dev" -o "$T/best.logits"
got=$("$SQ_BIN/sq-eval" --dataset "$T/dev.json" --features "$T/dev" --logits "$T/best.logits" | jq .f1)
awk -v a="$got" -v b="$(jq .f1 "$T/best/best/eval.json")" 'BEGIN { d = a - b; exit !(d < 1e-9 && d > -1e-9) }' ||
    fail "sq-eval scores best/ at F1 $got, eval.json says $(jq .f1 "$T/best/best/eval.json")"
[ "$(ls -A "$T/best" | grep -c '^best')" = 1 ] || fail "leftovers beside best/: $(ls -A "$T/best")"

# --early-stop 2 with a learning rate of 0: the F1 never improves on the
# first evaluation's, so the run stops at the third (step 6 of 20).
"$SQ_BIN/sq-train" --device cpu --data "$T/train" --config "$T/cfg.json" --batch-size 4 --threads 2 --lr 0 \
    --eval-data "$T/dev" --eval-dataset "$T/dev.json" --max-steps 20 --eval-every 2 --early-stop 2 --log-every 1 \
    -o "$T/early" 2>"$T/early.err" || fail "early stop: $(cat "$T/early.err")"
grep -q "^sq-train: stopped early at step 6 of 20 (no better dev F1 in 2 evaluations); model written to $T/early/model.safetensors" \
    "$T/early.err" || fail "closing line: $(tail -n1 "$T/early.err")"
[ "$(jq -s '[.[] | select(has("loss"))] | last | .step' "$T/early/metrics.jsonl")" = 6 ] || fail "trained past step 6"
[ "$(jq .complete "$T/early/checkpoints/step-00000006/state.json")" = true ] || fail "no final checkpoint at step 6"
"$SQ_BIN/sq-train" -o "$T/early" --resume 2>"$T/early2.err" || fail "resume: $(cat "$T/early2.err")"
grep -q "run is complete (stopped early at step 6 of 20" "$T/early2.err" || fail "resume of a stopped run: $(cat "$T/early2.err")"

expect_fail 2 'need --eval-data' "$SQ_BIN/sq-train" --data "$T/train" --config "$T/cfg.json" --early-stop 2 -o "$T/r"
echo ok
