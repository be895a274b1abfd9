#!/usr/bin/env bash
# A rank that hangs or dies ends the job with an error, not a hang: with
# SQ_COMM_TIMEOUT=3 a rank stopped by SIGSTOP makes the other's next
# collective fail within seconds ("did not finish within 3 s") and mpirun
# take the job down; a killed rank too (mpirun notices).  And the launch
# errors: ranks without an MPI launcher for --comm mpi, nccl on the CPU,
# --strategy single on 2 ranks, an unknown strategy.
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/dist_lib.sh"
make_data

# run_until_failure SIGNAL: starts a long ddp run, sends SIGNAL to one rank
# once it trains, and waits for the job to end (at most 60 s).
run_until_failure() {
    local out=$T/run-$1
    SQ_COMM_TIMEOUT=3 mpirun --oversubscribe -np 2 "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" \
        -o "$out" --device cpu --threads 1 --max-steps 100000 --batch-size 6 --log-every 1 --strategy ddp >"$out.log" 2>&1 &
    local mp=$! i victim
    for ((i = 0; i < 600; i++)); do
        [ -s "$out/metrics.jsonl" ] && break
        sleep 0.05
    done
    victim=$(pgrep -P $mp | tail -n 1)
    [ -n "$victim" ] || { kill $mp; fail "no rank under mpirun"; }
    kill -"$1" "$victim"
    for ((i = 0; i < 600; i++)); do
        kill -0 $mp 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 $mp 2>/dev/null; then
        kill -KILL "$victim" $mp
        fail "SIG$1: the job still runs 60 s after a rank stopped"
    fi
    local rc=0
    wait $mp || rc=$?
    [ "$rc" != 0 ] || fail "SIG$1: mpirun exited 0"
}

run_until_failure STOP
grep -q "sq-train: error: mpi: .* did not finish within 3 s: a rank died or hangs" "$T/run-STOP.log" ||
    fail "SIGSTOP: no timeout error: $(head -n 5 "$T/run-STOP.log")"
run_until_failure KILL

# Launch errors: one line, exit 1 (usage errors exit 2).
expect_fail 1 "needs --device cuda" "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$T/e1" --device cpu \
    --comm nccl
SQ_RANK=0 SQ_WORLD_SIZE=2 expect_fail 1 "no MPI launcher: start them with mpirun" \
    "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$T/e2" --device cpu --batch-size 6
expect_fail 1 "'tp' is not single, ddp" "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$T/e3" \
    --strategy tp
mpirun --oversubscribe -np 2 "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" -o "$T/e4" --device cpu --batch-size 6 \
    --strategy single >"$T/e4.log" 2>&1 && fail "--strategy single ran on 2 ranks"
grep -q "strategy single: 2 ranks" "$T/e4.log" || fail "--strategy single on 2 ranks: $(head -n 3 "$T/e4.log")"
echo "ok"
