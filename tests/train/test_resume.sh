#!/usr/bin/env bash
# Checkpoints and resume: a run killed with SIGKILL at a random moment (again
# and again) and resumed ends with parameters bitwise identical to an
# uninterrupted run; SIGUSR1 checkpoints and exits 75; only the two newest
# checkpoints stay; a RUNDIR holding a run needs --resume.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
synthetic_features feat 120 5
tiny_config "$T/cfg.json"
args=(--data "$T/feat" --config "$T/cfg.json" --max-steps 120 --batch-size 8 --grad-accum 2 --lr 1e-3
      --checkpoint-every 7 --threads 2 --seed 7 --log-every 1000)

t0=$(date +%s.%N)
"$SQ_BIN/sq-train" "${args[@]}" -q -o "$T/ref"
dt=$(echo "$(date +%s.%N) - $t0" | bc)
ls "$T/ref/checkpoints" | grep -qx 'step-00000119' || fail "no checkpoint step-00000119: $(ls "$T/ref/checkpoints")"
[ "$(ls "$T/ref/checkpoints" | wc -l)" = 2 ] || fail "wanted the two newest checkpoints: $(ls "$T/ref/checkpoints")"
[ "$(grep -c '"step"' "$T/ref/metrics.jsonl")" -ge 1 ] || fail "metrics.jsonl: $(cat "$T/ref/metrics.jsonl")"

expect_fail 1 'holds a run already' "$SQ_BIN/sq-train" "${args[@]}" -o "$T/ref"

# SIGKILL at random moments until a run finishes.
kills=0
for try in $(seq 1 20); do
    resume=()
    [ -d "$T/killed" ] && resume=(--resume)
    "$SQ_BIN/sq-train" "${args[@]}" "${resume[@]}" -o "$T/killed" 2>>"$T/killed.log" &
    pid=$!
    sleep "$(echo "scale=3; $dt * $((RANDOM % 1000)) / 1250" | bc)"
    if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
    wait "$pid" 2>/dev/null || true
    [ -f "$T/killed/model.safetensors" ] && break
done
if [ ! -f "$T/killed/model.safetensors" ]; then
    "$SQ_BIN/sq-train" "${args[@]}" --resume -o "$T/killed" 2>>"$T/killed.log"
fi
resumed=$(grep -c 'resuming from' "$T/killed.log" || true)
echo "killed $kills times, resumed $resumed times from a checkpoint"
[ "$resumed" -ge 1 ] || fail "no run resumed from a checkpoint: $(cat "$T/killed.log")"
cmp "$T/ref/model.safetensors" "$T/killed/model.safetensors" || fail "resumed after SIGKILL: parameters differ"

# SIGUSR1: checkpoint, exit 75, resume.
"$SQ_BIN/sq-train" "${args[@]}" -q -o "$T/usr1" &
pid=$!
sleep "$(echo "scale=3; $dt / 3" | bc)"
kill -USR1 "$pid"
rc=0
wait "$pid" || rc=$?
echo "SIGUSR1: exit $rc"
if [ "$rc" = 75 ]; then
    [ -d "$T/usr1/checkpoints" ] || fail "exit 75 without a checkpoint"
    [ ! -f "$T/usr1/model.safetensors" ] || fail "exit 75 but the run finished"
    "$SQ_BIN/sq-train" "${args[@]}" -q --resume -o "$T/usr1"
else
    [ "$rc" = 0 ] || fail "SIGUSR1: exit $rc"
    echo "the run ended before the signal"
fi
cmp "$T/ref/model.safetensors" "$T/usr1/model.safetensors" || fail "resumed after SIGUSR1: parameters differ"

# Resume with other options that change the result is refused.
expect_fail 1 'differ from the checkpoint' "$SQ_BIN/sq-train" "${args[@]}" -q --seed 8 --resume -o "$T/usr1"
echo ok
