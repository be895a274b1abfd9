#!/usr/bin/env bash
# --batch-size is the global batch: cutting it into 1, 3 or 4 micro-batches
# (--grad-accum, the same cut distributed ranks make) computes the same model
# up to summation order (relative error <= 1e-5), dropout on, over an epoch
# boundary and a last partial batch split unevenly.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
source "$SQ_ROOT/tests/train/synthetic.sh"
source "$SQ_ROOT/tests/train/st_relerr.sh"
synthetic_features feat 62 4
tiny_config "$T/cfg.json" 32 2 2 0.2
for a in 1 3 4; do
    "$SQ_BIN/sq-train" --data "$T/feat" --config "$T/cfg.json" --max-steps 7 --batch-size 12 --grad-accum $a \
        --lr 1e-3 --warmup-steps 2 --seed 3 -q -o "$T/a$a"
done
for a in 3 4; do
    read -r err name < <(st_relerr "$T/a1/model.safetensors" "$T/a$a/model.safetensors")
    echo "grad-accum $a: worst relative error $err ($name)"
    awk -v e="$err" 'BEGIN { exit !(e <= 1e-5) }' || fail "grad-accum $a: $name off by $err"
done
echo ok
