#!/usr/bin/env bash
# --resume takes every setting from RUNDIR/run.json: options given again must
# agree (the data by its manifest's sha256) or it stops naming each
# difference, changing nothing; threads and logging may change.  A finished
# run is not trained again ("run is complete"); a larger --max-steps adds
# steps from the end's checkpoint, with each step reported once.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
source "$SQ_ROOT/tests/train/steps_once.sh"
synthetic_features feat 30 3
synthetic_features other 30 4
tiny_config "$T/cfg.json"
run=(--data "$T/feat" --config "$T/cfg.json" --max-steps 12 --batch-size 4 --lr 1e-3 --seed 7 --threads 2
     --log-every 1 --checkpoint-every 5)
"$SQ_BIN/sq-train" "${run[@]}" -q -o "$T/run"
snapshot() { sha256sum "$T/run/model.safetensors" "$T/run/run.json" "$T/run/metrics.jsonl" "$T/run/tb/"*; }
snapshot >"$T/before"

# Complete: nothing is trained or written, with or without options.
for extra in "" "--threads 1 --log-every 3 --checkpoint-every 2" "--data $T/feat --lr 1e-3 --max-steps 12"; do
    # shellcheck disable=SC2086
    "$SQ_BIN/sq-train" -o "$T/run" --resume $extra 2>"$T/err" || fail "resume of a complete run ($extra): $(cat "$T/err")"
    [ "$(cat "$T/err")" = "sq-train: $T/run: run is complete (12 steps); a larger --max-steps adds steps" ] ||
        fail "resume of a complete run ($extra): $(cat "$T/err")"
done
snapshot | cmp -s - "$T/before" || fail "resuming a complete run changed it"

# Other settings: refused, every difference named, nothing changed.
expect_fail 1 "^sq-train: error: $T/run: --resume with options that differ from the run's \(run.json\): --data $T/other \(manifest sha256 [0-9a-f]{12}, the run's [0-9a-f]{12}\); --eval-data $T/feat \(the run: none\); --eval-dataset $T/feat.json \(the run: none\); --batch-size 6 \(the run: 4\); --seed 3 \(the run: 7\); --lr 0.0001 \(the run: 0.001\); --early-stop 2 \(the run: 0\); give the run's values" \
    "$SQ_BIN/sq-train" -o "$T/run" --resume --data "$T/other" --lr 1e-4 --seed 3 --batch-size 6 --early-stop 2 \
    --eval-data "$T/feat" --eval-dataset "$T/feat.json" --threads 1
cp "$T/cfg.json" "$T/cfg2.json"
expect_fail 1 "run.json\): --config $T/cfg2.json \(the run: $T/cfg.json\)" \
    "$SQ_BIN/sq-train" -o "$T/run" --resume --config "$T/cfg2.json"
expect_fail 1 "run.json\): --max-steps 10 \(the run has 12 steps: it can be extended, not shortened\)" \
    "$SQ_BIN/sq-train" -o "$T/run" --resume --max-steps 10
expect_fail 1 "run.json\): --epochs 3 \(24 steps; the run has 12: a larger --max-steps adds steps\)" \
    "$SQ_BIN/sq-train" -o "$T/run" --resume --epochs 3
snapshot | cmp -s - "$T/before" || fail "a refused resume changed the run"

# The same features elsewhere are the same data.
cp -r "$T/feat" "$T/moved"
# More steps: from the end's checkpoint, each step reported once.
"$SQ_BIN/sq-train" -o "$T/run" --resume --data "$T/moved" --max-steps 20 2>"$T/err" || fail "appending: $(cat "$T/err")"
grep -q "resumed from $T/run/checkpoints/step-00000012) on $T/moved (30 features): steps 13-20 of 20" "$T/err" ||
    fail "appending: $(cat "$T/err")"
[ "$(jq .total_steps "$T/run/run.json")" = 20 ] && [ "$(jq .options.max_steps "$T/run/run.json")" = 20 ] ||
    fail "run.json does not say 20 steps"
[ "$(jq .options.warmup_steps "$T/run/run.json")" = 2 ] || fail "appending moved the warm-up"
steps_once "$T/run" 1 20
ls "$T/run/checkpoints" | grep -qx step-00000020 || fail "no checkpoint of the new end"

# Stopped at step 15 of the added steps (the older model.safetensors still
# there): not complete; it goes on from step 15 to the same model.
cp "$T/run/model.safetensors" "$T/twenty.safetensors"
rm -r "$T/run/checkpoints/step-00000020"
"$SQ_BIN/sq-train" -o "$T/run" --resume 2>"$T/err" || fail "resume at step 15: $(cat "$T/err")"
grep -q "steps 16-20 of 20" "$T/err" || fail "resume at step 15: $(cat "$T/err")"
cmp -s "$T/run/model.safetensors" "$T/twenty.safetensors" || fail "resumed at step 15: another model"
steps_once "$T/run" 1 20

# run.json records the data where it was last given; moved away, it is named.
[ "$(jq -r .options.data "$T/run/run.json")" = "$T/moved" ] || fail "run.json: data $(jq -r .options.data "$T/run/run.json")"
mv "$T/moved" "$T/gone"
expect_fail 1 "the run's --data $T/moved is gone \(give it anew\)" "$SQ_BIN/sq-train" -o "$T/run" --resume --max-steps 30

# A run killed before its first checkpoint starts again from step 0, saying so.
mkdir -p "$T/fresh"
"$SQ_BIN/sq-train" "${run[@]}" -o "$T/fresh" -q --max-steps 3
rm -r "$T/fresh/checkpoints" "$T/fresh/model.safetensors"
"$SQ_BIN/sq-train" -o "$T/fresh" --resume 2>"$T/err" || fail "resume without checkpoint: $(cat "$T/err")"
grep -q "no checkpoint yet: training again from step 0" "$T/err" || fail "resume without checkpoint: $(cat "$T/err")"
steps_once "$T/fresh" 1 3
echo ok
