#!/usr/bin/env bash
# The bytes the communication layer counts at run time (metrics.jsonl
# comm_bytes, per step and rank) are the bytes bench/scaling predicts for
# each strategy: ddp, zero1, zero2 and fsdp on 2 and 3 ranks, fsdp with
# --grad-accum 2 too.
source "$(dirname "$0")/../lib.sh"
need_python json
source "$(dirname "$0")/dist_lib.sh"
make_data
for run in "2 ddp 1" "2 zero1 1" "2 zero2 1" "2 fsdp 1" "3 ddp 1" "3 fsdp 2"; do
    set -- $run
    out=$T/$2-$1-$3
    mpi_train "$1" "$out" --max-steps 2 --batch-size 12 --grad-accum "$3" --log-every 1 --bucket-mb 1 --strategy "$2"
    params=$(sed -n 's/.*"parameters": \([0-9]*\).*/\1/p' "$out/run.json")
    want=$(python3 "$SQ_ROOT/bench/scaling/scaling.py" bytes --params "$params" --world "$1" --strategy "$2" --accum "$3")
    got=$(sed -n 's/.*"step":2,.*"comm_bytes":\([0-9.e+]*\).*/\1/p' "$out/metrics.jsonl")
    [ -n "$got" ] || fail "$2: no comm_bytes in metrics.jsonl: $(tail -n 1 "$out/metrics.jsonl")"
    awk -v g="$got" -v w="$want" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= 1e-6 * w + 1) }' ||
        fail "$2 on $1 ranks (accum $3): counted $got bytes per step, the model says $want"
done
echo "ok"
