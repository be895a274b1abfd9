#!/usr/bin/env bash
# Checkpoints and resume: a run killed with SIGKILL at a random moment (again
# and again) and resumed ends with parameters bitwise identical to an
# uninterrupted run; SIGUSR1 checkpoints and exits 75; Ctrl-C (SIGINT)
# checkpoints, says so and exits 130, and `sq-train -o RUNDIR --resume` alone
# (every setting from run.json) continues it exactly, metrics.jsonl and tb/
# holding each step once; a second Ctrl-C stops at once; only the two newest
# checkpoints stay (the newest is the end's); a RUNDIR holding a run needs
# --resume.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
source "$SQ_ROOT/tests/train/steps_once.sh"
synthetic_features feat 120 5
tiny_config "$T/cfg.json"
args=(--data "$T/feat" --config "$T/cfg.json" --max-steps 120 --batch-size 8 --grad-accum 2 --lr 1e-3
      --checkpoint-every 7 --threads 2 --seed 7 --log-every 1000)

t0=$(date +%s.%N)
"$SQ_BIN/sq-train" "${args[@]}" -q -o "$T/ref"
dt=$(echo "$(date +%s.%N) - $t0" | bc)
[ "$(ls "$T/ref/checkpoints" | tr '\n' ' ')" = "step-00000119 step-00000120 " ] ||
    fail "wanted the two newest checkpoints, the end's the newest: $(ls "$T/ref/checkpoints")"
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
if ! grep -q 'resumed from' "$T/killed.log"; then
    # Every kill came before the first checkpoint or after the end (a slow
    # reference run): kill once a checkpoint is there.
    rm -rf "$T/killed"
    "$SQ_BIN/sq-train" "${args[@]}" -o "$T/killed" 2>>"$T/killed.log" &
    pid=$!
    for i in $(seq 1 600); do [ -d "$T/killed/checkpoints/step-00000014" ] && break; sleep 0.02; done
    kill -9 "$pid" 2>/dev/null && kills=$((kills + 1))
    wait "$pid" 2>/dev/null || true
    [ -f "$T/killed/model.safetensors" ] ||
        "$SQ_BIN/sq-train" "${args[@]}" --resume -o "$T/killed" 2>>"$T/killed.log"
fi
resumed=$(grep -c 'resumed from' "$T/killed.log" || true)
echo "killed $kills times, resumed $resumed times from a checkpoint"
[ "$resumed" -ge 1 ] || fail "no run resumed from a checkpoint: $(cat "$T/killed.log")"
cmp "$T/ref/model.safetensors" "$T/killed/model.safetensors" || fail "resumed after SIGKILL: parameters differ"

# signalled SIG OUT LOG [options]: a run sent SIG once its first checkpoint
# is there (so that the signal meets a run in progress on a loaded machine
# too); its exit status in rc.
signalled() {
    local sig=$1 out=$2 log=$3 pid i
    shift 3
    "$SQ_BIN/sq-train" "${args[@]}" "$@" -o "$out" 2>"$log" &
    pid=$!
    for i in $(seq 1 600); do [ -d "$out/checkpoints/step-00000007" ] && break; sleep 0.02; done
    kill -"$sig" "$pid"
    rc=0
    wait "$pid" || rc=$?
    echo "SIG$sig: exit $rc"
}

# SIGUSR1: checkpoint, exit 75, resume.
signalled USR1 "$T/usr1" /dev/null -q
if [ "$rc" = 75 ]; then
    [ -d "$T/usr1/checkpoints" ] || fail "exit 75 without a checkpoint"
    [ ! -f "$T/usr1/model.safetensors" ] || fail "exit 75 but the run finished"
    "$SQ_BIN/sq-train" "${args[@]}" -q --resume -o "$T/usr1"
else
    [ "$rc" = 0 ] || fail "SIGUSR1: exit $rc"
    echo "the run ended before the signal"
fi
cmp "$T/ref/model.safetensors" "$T/usr1/model.safetensors" || fail "resumed after SIGUSR1: parameters differ"

# Ctrl-C: the step finished, a checkpoint written and said, exit 130; then
# `-o RUNDIR --resume` and nothing else continues exactly, and no step is
# reported twice (logged at every step here).
signalled INT "$T/int" "$T/int.log" --log-every 1
if [ "$rc" = 130 ]; then
    grep -q 'interrupted: finishing this step and writing a checkpoint' "$T/int.log" || fail "no word at Ctrl-C: $(cat "$T/int.log")"
    step=$(sed -n 's/.*interrupted: checkpoint at step \([0-9]*\) of 120 written.*--resume.*/\1/p' "$T/int.log")
    [ -n "$step" ] || fail "Ctrl-C: no checkpoint named: $(cat "$T/int.log")"
    [ -d "$T/int/checkpoints/step-$(printf %08d "$step")" ] || fail "Ctrl-C: no checkpoint of step $step"
    [ ! -f "$T/int/model.safetensors" ] || fail "exit 130 but the run finished"
    "$SQ_BIN/sq-train" -o "$T/int" --resume 2>"$T/int2.log" || fail "resume after Ctrl-C: $(cat "$T/int2.log")"
    grep -q "resumed from .*step-$(printf %08d "$step")) .*steps $((step + 1))-120 of 120" "$T/int2.log" ||
        fail "the resume does not say where it starts: $(cat "$T/int2.log")"
else
    [ "$rc" = 0 ] || fail "SIGINT: exit $rc: $(cat "$T/int.log")"
    echo "the run ended before the signal"
fi
cmp "$T/ref/model.safetensors" "$T/int/model.safetensors" || fail "resumed after Ctrl-C: parameters differ"
steps_once "$T/int" 1 120

# A second Ctrl-C stops at once: no checkpoint of the step in progress (a
# model large enough that a step takes a while on the CPU).
tiny_config "$T/big.json" 256 4 4 0.1
"$SQ_BIN/sq-train" --data "$T/feat" --config "$T/big.json" --max-steps 50 --batch-size 64 --threads 1 -o "$T/twice" \
    2>"$T/twice.log" &
pid=$!
for i in $(seq 1 600); do [ -f "$T/twice/metrics.jsonl" ] && break; sleep 0.05; done
kill -INT "$pid"
sleep 0.1
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[ "$rc" = 130 ] || fail "two Ctrl-C: exit $rc: $(cat "$T/twice.log")"
grep -q 'interrupted again: stopped at once' "$T/twice.log" || fail "two Ctrl-C: $(cat "$T/twice.log")"
[ -z "$(ls "$T/twice/checkpoints" 2>/dev/null | grep -x 'step-[0-9]*')" ] || fail "two Ctrl-C wrote a checkpoint"

# Resume with other options that change the result is refused.
expect_fail 1 'differ from the run.s \(run.json\): --seed 8 \(the run: 7\)' \
    "$SQ_BIN/sq-train" "${args[@]}" -q --seed 8 --resume -o "$T/usr1"
echo ok
