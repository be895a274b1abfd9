#!/usr/bin/env bash
# Distributed sq-train on one GPU (docs/distributed.md), self-checking: one
# PASS/FAIL/SKIP line per check with what it found, its log in
# $OUT/checks/<check>.log (each run's own log is $OUT/<run>.log),
# and "N passed, M failed, K skipped" at the end; exit 1 on a failure, 77
# without a GPU.  Run by tests/cuda/run-gpu.sh (make test-gpu) or alone:
#
#   tests/cuda/gpu-dist.sh                      # needs bin/ built with nvcc + libnccl
#   SQ_BIN=DIR SQ_GPU_OUT=DIR SQ_DIST_BERT_STEPS=50 tests/cuda/gpu-dist.sh
#
# SQ_BIN: the tools (default bin/); SQ_GPU_OUT: runs and logs (default
# build/gpu-dist); SQ_DIST_BERT_STEPS: steps of each BERT-base run (default
# 50); SQ_GPU_QUICK=1 leaves out the BERT-base runs; mpirun (Open MPI) and
# python3 with numpy and safetensors are used when present (checks that need
# them say SKIP otherwise).
#
# Every run trains from the same seed with dropout on (hidden and attention
# 0.1).  The checks:
#   1. nccl, world size 1 (--comm nccl, no launcher), bf16 and fp32: ddp is
#      the single run bit for bit; zero1, zero2, fsdp bit for bit or within
#      1e-5 relative; with --grad-accum 2 too.  These run the in-place path:
#      the backend's device buffers, the stream contract and the bf16 shadow
#      refresh after each all-gather (zero*, fsdp).
#   2. sharded and whole checkpoints written from device memory resume to the
#      uninterrupted run's model, bit for bit (nccl, world 1).
#   3. mpi, 2 ranks sharing the GPU (mpirun -np 2 --comm mpi: staged through
#      host memory), bf16 and fp32: ddp, zero1, zero2, fsdp within 1e-5
#      relative of one process running the same micro-batches (--grad-accum
#      2); fp32 ddp also against the plain single run; an fsdp checkpoint
#      resumed on 2 ranks.
#   4. --rendezvous: world 1 by SQ_RANK/SQ_WORLD_SIZE (the file is not needed
#      at world 1); world 2 by hand on the one GPU: rank 0 writes the file,
#      rank 1 reads it, and NCCL then refuses two ranks on one GPU -- both
#      ranks must exit with that error, not hang.  The same refusal under
#      mpirun -np 2 --comm nccl.
#   1b. the batch contract's empty micro-batch (core/batch.h): one epoch
#      whose last global batch is smaller than --grad-accum 4, so that some
#      micro-batches have no rows (B = 0), trains to --grad-accum 1's model
#      within 1e-5 (fp32), with nccl at world 1 too.
#   5. BERT-base (random init, the bundled XQuAD sample, batch 32 x 384):
#      ddp over nccl at world 1 equals single bit for bit, and its step-time
#      overhead (the median over repeated runs, paired by step) is printed;
#      the target is < 2 %, the check fails only above 5 % (noise).
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
export SQ_ROOT=$ROOT
export SQ_BIN=${SQ_BIN:-$ROOT/bin}
BIN=$SQ_BIN
OUT=${SQ_GPU_OUT:-$ROOT/build/gpu-dist}
BERT_STEPS=${SQ_DIST_BERT_STEPS:-50}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export SQ_COMM_TIMEOUT=${SQ_COMM_TIMEOUT:-120} # a hung collective fails in 2 minutes, not 10
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}          # NCCL's own reason on a failure
mkdir -p "$OUT/checks"
pass=0 failed=0 skipped=0

# check NAME FUNCTION [ARGS]: runs FUNCTION in a subshell, its output in
# $OUT/checks/NAME.log; PASS with the log's last line (its finding), or FAIL
# with the log's tail.
check() {
    local name=$1 log=$OUT/checks/$1.log; shift
    if ("$@") >"$log" 2>&1; then
        echo "PASS $name: $(tail -n 1 "$log")"
        pass=$((pass + 1))
    else
        echo "FAIL $name (log: $log)"
        tail -n 12 "$log" | sed 's/^/    /'
        failed=$((failed + 1))
    fi
}
skip() { echo "SKIP $1"; skipped=$((skipped + 1)); }

if ! nvidia-smi -L >/dev/null 2>&1; then echo "SKIP: no GPU (nvidia-smi -L failed)"; exit 77; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
[ -x "$BIN/sq-train" ] || { echo "FAIL: $BIN/sq-train missing (make -j all)"; exit 1; }
"$BIN/sq-train" --version
HAVE_MPI=1
command -v mpirun >/dev/null 2>&1 || HAVE_MPI=0
HAVE_PY=1
python3 -c "import numpy, safetensors" 2>/dev/null || HAVE_PY=0

# ---- data: the CPU dist tests' synthetic questions, the bundled small BERT
FEAT=$OUT/feat CFG=$ROOT/data/sample/bert-small-config.json # hidden 128, 2 layers, head size 64, dropout 0.1
make_small_data() {
    bash "$ROOT/tests/train/make_synthetic.sh" 48 5 synthetic 3 >"$OUT/syn.json" &&
        "$BIN/sq-tokenize" -q --vocab "$ROOT/data/vocab.txt" -o "$OUT/syn.sqt" "$OUT/syn.json" &&
        rm -rf "$FEAT" && "$BIN/sq-pack" -q --max-seq 128 --doc-stride 64 --max-query 32 -o "$FEAT" "$OUT/syn.sqt"
}
make_small_data >"$OUT/data.log" 2>&1 || { echo "FAIL data (see $OUT/data.log)"; tail "$OUT/data.log"; exit 1; }

# ---- runs
SMALL=(--max-steps 6 --batch-size 8 --lr 1e-3 --seed 3 --log-every 1)
# one OUT [options]: one process (world 1; nothing launched it).
one() {
    local out=$1; shift
    rm -rf "$out"
    "$BIN/sq-train" --device cuda --data "$FEAT" --config "$CFG" -o "$out" "${SMALL[@]}" "$@" >"$out.log" 2>&1 ||
        { echo "sq-train $* failed:"; tail -n 15 "$out.log"; return 1; }
}
# ranks N OUT [options]: N ranks under mpirun, all on this GPU.
ranks() {
    local n=$1 out=$2; shift 2
    rm -rf "$out"
    mpirun --allow-run-as-root --oversubscribe -np "$n" "$BIN/sq-train" --device cuda --data "$FEAT" --config "$CFG" \
        -o "$out" "${SMALL[@]}" "$@" >"$out.log" 2>&1 ||
        { echo "mpirun -np $n sq-train $* failed:"; tail -n 20 "$out.log"; return 1; }
}

# compare A B TOL|bitwise: how model A.safetensors compares with B's; fails
# unless bitwise equal or (TOL) every tensor within TOL of B relative to the
# tensor's largest magnitude (the CPU tests' same_params criterion).
compare() {
    local a=$1 b=$2 tol=$3
    if cmp -s "$a" "$b"; then echo "bitwise equal"; return 0; fi
    if [ "$HAVE_PY" = 1 ]; then
        python3 - "$a" "$b" "$tol" <<'PY'
import sys
import numpy as np
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
tol = None if sys.argv[3] == "bitwise" else float(sys.argv[3])
if sorted(a) != sorted(b): sys.exit("the tensors differ: %s" % sorted(set(a) ^ set(b)))
worst, wname, l2, lname = 0.0, "", 0.0, ""
for k in a:
    x, y = a[k].astype(np.float64), b[k].astype(np.float64)
    r = np.abs(x - y).max() / max(np.abs(y).max(), 1e-30)
    e = np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)
    if r > worst: worst, wname = r, k
    if e > l2: l2, lname = e, k
ok = tol is not None and worst <= tol
print("not bitwise; worst max-relative difference %.3g (%s), worst relative L2 %.3g (%s)%s"
      % (worst, wname, l2, lname, "" if tol is None else ", tolerance %g" % tol))
sys.exit(0 if ok else 1)
PY
        return
    fi
    [ "$tol" != bitwise ] || { echo "not bitwise equal"; return 1; }
    # without numpy/safetensors: the CPU tests' own comparison (slower)
    (source "$ROOT/tests/lib.sh" && source "$ROOT/tests/dist/dist_lib.sh" && same_params "$a" "$b" "$tol") &&
        echo "not bitwise; within $tol relative (tests/dist same_params)"
}
model() { echo "$OUT/$1/model.safetensors"; }

# nccl_version LOG: NCCL's version line when NCCL_DEBUG printed one.
nccl_note() { grep -m1 -o 'NCCL version [^ ]*' "$1" 2>/dev/null || true; }

# ---- 1. nccl at world size 1 equals single
# single P: the reference runs of precision P (plain, with --grad-accum 2, and
# a repeat: is one process itself deterministic?).
references() {
    local p=$1
    one "$OUT/single-$p" --strategy single --precision "$p" || return 1
    one "$OUT/single-acc2-$p" --strategy single --precision "$p" --grad-accum 2 || return 1
    one "$OUT/single-again-$p" --strategy single --precision "$p" || return 1
    # the backend is deterministic (no atomics), which the bitwise checks need
    local r st
    r=$(compare "$(model "single-again-$p")" "$(model "single-$p")" bitwise)
    st=$?
    echo "single run twice: $r"
    return $st
}
nccl1() { # STRATEGY PRECISION [--grad-accum 2]
    local s=$1 p=$2 acc=${3:-} ref=single-$2 name=nccl1-$1-$2
    [ -z "$acc" ] || { ref=single-acc2-$p; name=$name-acc2; }
    one "$OUT/$name" --strategy "$s" --comm nccl --precision "$p" ${acc:+--grad-accum 2} -v || return 1
    nccl_note "$OUT/$name.log"
    grep -q "memory: rank 0/1 $s holds" "$OUT/$name.log" || { echo "no memory line for $s"; return 1; }
    # ddp at world 1 must be single bit for bit: nothing it does may change a value
    compare "$(model "$name")" "$(model "$ref")" "$([ "$s" = ddp ] && echo bitwise || echo 1e-5)"
}
for p in bf16 fp32; do
    check "reference-single-$p" references "$p"
done
for p in bf16 fp32; do
    [ -f "$(model "single-$p")" ] || { skip "nccl1-*-$p (no single reference)"; continue; }
    for s in ddp zero1 zero2 fsdp; do check "nccl1-$s-$p" nccl1 "$s" "$p"; done
done
for s in ddp zero2 fsdp; do check "nccl1-$s-bf16-acc2" nccl1 "$s" bf16 acc2; done

# ---- 1b. an epoch ending in a partial global batch smaller than --grad-accum
partial_batch() {
    local n g=8 out=$OUT/partial
    n=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["counts"]["features"])' \
        "$FEAT/manifest.json") || return 1
    # a global batch g whose epoch ends in 1..3 rows: with 4 micro-batches,
    # at least one of that last step's is empty
    while [ $((n % g)) -lt 1 ] || [ $((n % g)) -gt 3 ]; do
        g=$((g + 1))
        [ "$g" -le 64 ] || { echo "no batch size in 8..64 leaves 1..3 of $n features"; return 1; }
    done
    local steps=$(((n + g - 1) / g))
    for run in "acc1 --grad-accum 1" "acc4 --grad-accum 4" "acc4-nccl --grad-accum 4 --strategy ddp --comm nccl"; do
        set -- $run
        local name=$1; shift
        rm -rf "$out-$name"
        "$BIN/sq-train" --device cuda --precision fp32 --data "$FEAT" --config "$CFG" -o "$out-$name" \
            --batch-size "$g" --max-steps "$steps" --lr 1e-3 --seed 3 "$@" >"$out-$name.log" 2>&1 ||
            { echo "sq-train $* failed:"; tail -n 15 "$out-$name.log"; return 1; }
    done
    echo "$n features, batch $g: the last of $steps steps has $((n % g)) rows for 4 micro-batches"
    compare "$out-acc4/model.safetensors" "$out-acc1/model.safetensors" 1e-5 || return 1
    compare "$out-acc4-nccl/model.safetensors" "$out-acc1/model.safetensors" 1e-5
}
check partial-batch-grad-accum partial_batch

# ---- 2. checkpoints from device memory resume exactly (nccl, world 1)
resume_nccl() { # STRATEGY
    local s=$1 run=$OUT/resume-nccl1-$1
    one "$run" --strategy "$s" --comm nccl --checkpoint-every 2 || return 1
    [ -d "$run/checkpoints/step-00000004" ] || { echo "no checkpoint at step 4"; return 1; }
    case $s in
    ddp) [ -f "$run/checkpoints/step-00000004/model.safetensors" ] || { echo "ddp: no whole checkpoint"; return 1; } ;;
    *) [ -f "$run/checkpoints/step-00000004/shard-00000.safetensors" ] || { echo "$s: no shard"; return 1; } ;;
    esac
    mv "$run/model.safetensors" "$run.whole.safetensors"
    rm -r "$run/checkpoints/step-00000006" # the end's: step 4's is the newest left
    "$BIN/sq-train" --device cuda --data "$FEAT" --config "$CFG" -o "$run" "${SMALL[@]}" --strategy "$s" --comm nccl \
        --checkpoint-every 2 --resume >"$run.resume.log" 2>&1 || { tail -n 15 "$run.resume.log"; return 1; }
    grep -q "resumed from .*step-00000004" "$run.resume.log" || { echo "did not resume from step 4"; return 1; }
    compare "$run/model.safetensors" "$run.whole.safetensors" bitwise
}
for s in ddp zero2 fsdp; do check "resume-nccl1-$s" resume_nccl "$s"; done

# ---- 3. two ranks share the GPU through the mpi backend (staged)
mpi2() { # STRATEGY PRECISION
    local s=$1 p=$2 name=mpi2-$1-$2
    ranks 2 "$OUT/$name" --strategy "$s" --comm mpi --precision "$p" -v || return 1
    grep -q "memory: rank 1/2 $s holds" "$OUT/$name.log" || { echo "no memory line of rank 1"; return 1; }
    # each rank runs one of the micro-batches single --grad-accum 2 runs
    # (same shapes, so cuBLASLt's choices and bf16 roundings agree): only the
    # order of the gradient sums differs
    compare "$(model "$name")" "$(model "single-acc2-$p")" 1e-5
}
mpi2_plain() { # the CPU tests' comparison: against single without accumulation
    compare "$(model mpi2-ddp-fp32)" "$(model single-fp32)" 1e-5
}
mpi2_acc() { # zero2 and --grad-accum 2 on 2 ranks: micro-batches of 2 rows, as single --grad-accum 4
    # fp32: the ranks sum 4 micro-batch gradients in another order than one
    # process, (g0 + g2) + (g1 + g3) against ((g0 + g1) + g2) + g3; in bf16 the
    # query biases' gradients are small sums of large terms (softmax rows sum to
    # about zero), the reordering moves them by a few ulps of the terms, and
    # AdamW at lr 1e-3 turns that into 1e-2 relative (seen on an H100).  The
    # schedule under test is the same in both precisions.
    one "$OUT/single-acc4-fp32" --strategy single --grad-accum 4 --precision fp32 || return 1
    ranks 2 "$OUT/mpi2-zero2-acc2" --strategy zero2 --comm mpi --grad-accum 2 --bucket-mb 0.5 --precision fp32 ||
        return 1
    compare "$(model mpi2-zero2-acc2)" "$(model single-acc4-fp32)" 1e-5
}
mpi2_resume() { # fsdp on 2 ranks: checkpoint (each rank pulls its shard), resume
    local run=$OUT/resume-mpi2-fsdp
    ranks 2 "$run" --strategy fsdp --comm mpi --checkpoint-every 2 || return 1
    [ -f "$run/checkpoints/step-00000004/shard-00001.safetensors" ] || { echo "no shard of rank 1"; return 1; }
    mv "$run/model.safetensors" "$run.whole.safetensors"
    rm -r "$run/checkpoints/step-00000006" # the end's: step 4's is the newest left
    mpirun --allow-run-as-root --oversubscribe -np 2 "$BIN/sq-train" --device cuda --data "$FEAT" --config "$CFG" \
        -o "$run" "${SMALL[@]}" --strategy fsdp --comm mpi --checkpoint-every 2 --resume >"$run.resume.log" 2>&1 ||
        { tail -n 15 "$run.resume.log"; return 1; }
    grep -q "resumed from .*step-00000004" "$run.resume.log" || { echo "did not resume from step 4"; return 1; }
    compare "$run/model.safetensors" "$run.whole.safetensors" bitwise
}
if [ "$HAVE_MPI" = 0 ]; then
    skip "mpi2-* (no mpirun)"
else
    for p in bf16 fp32; do
        for s in ddp zero1 zero2 fsdp; do check "mpi2-$s-$p" mpi2 "$s" "$p"; done
    done
    check mpi2-ddp-fp32-vs-single mpi2_plain
    check mpi2-zero2-fp32-acc2 mpi2_acc
    check resume-mpi2-fsdp mpi2_resume
fi

# ---- 4. rendezvous and NCCL's refusal of two ranks on one GPU
rdv1() {
    rm -f "$OUT/rdv-1"
    SQ_RANK=0 SQ_WORLD_SIZE=1 SQ_LOCAL_RANK=0 one "$OUT/rdv1-ddp" --strategy ddp --comm nccl --rendezvous "$OUT/rdv-1" ||
        return 1
    [ ! -e "$OUT/rdv-1" ] || { echo "a world of 1 wrote the rendezvous file"; return 1; }
    echo "world 1 from SQ_RANK/SQ_WORLD_SIZE (no file needed): $(compare "$(model rdv1-ddp)" "$(model single-bf16)" bitwise)"
}
# refused LOG...: each log ends with NCCL's refusal (or a deadline), not a hang.
refused() {
    local f
    for f in "$@"; do
        grep -Eq 'Duplicate GPU|communicator set-up|invalid usage|did not finish within' "$f" ||
            { echo "$f: no NCCL error:"; tail -n 5 "$f"; return 1; }
    done
}
rdv2() {
    local rdv=$OUT/rdv-2 pids=() rc=() r
    rm -f "$rdv"
    for r in 0 1; do
        rm -rf "$OUT/rdv2-$r"
        SQ_RANK=$r SQ_WORLD_SIZE=2 SQ_LOCAL_RANK=$r SQ_COMM_TIMEOUT=60 timeout 300 "$BIN/sq-train" --device cuda \
            --data "$FEAT" --config "$CFG" -o "$OUT/rdv2-$r" "${SMALL[@]}" --strategy ddp --comm nccl \
            --rendezvous "$rdv" >"$OUT/rdv2-$r.log" 2>&1 &
        pids+=($!)
    done
    for r in 0 1; do wait "${pids[$r]}"; rc+=($?); done
    echo "exit statuses: rank 0 ${rc[0]}, rank 1 ${rc[1]}"
    if grep -q "did not write it within" "$OUT/rdv2-1.log"; then echo "rank 1 never read the file"; return 1; fi
    if [ "${rc[0]}" = 0 ] && [ "${rc[1]}" = 0 ]; then # this NCCL accepts two ranks on one GPU
        echo "NCCL accepted 2 ranks on one GPU: $(compare "$(model rdv2-0)" "$(model single-acc2-bf16)" 1e-5)"
        return
    fi
    [ "${rc[0]}" != 124 ] && [ "${rc[1]}" != 124 ] || { echo "a rank hung (killed by timeout)"; return 1; }
    head -n 1 "$rdv" 2>/dev/null | grep -qx "sq-rendezvous 1 world 2" || { echo "rank 0 wrote no rendezvous file"; return 1; }
    refused "$OUT/rdv2-0.log" "$OUT/rdv2-1.log" || return 1
    echo "the file carried the id (both ranks reached NCCL set-up); NCCL refused 2 ranks on one GPU as expected: $(grep -h -m1 -o 'Duplicate GPU[^.]*' "$OUT"/rdv2-*.log | head -n 1)"
}
nccl2_refused() {
    local rc=0
    SQ_COMM_TIMEOUT=60 timeout 300 mpirun --allow-run-as-root --oversubscribe -np 2 "$BIN/sq-train" --device cuda \
        --data "$FEAT" --config "$CFG" -o "$OUT/nccl2" "${SMALL[@]}" --strategy ddp --comm nccl >"$OUT/nccl2.log" 2>&1 ||
        rc=$?
    [ "$rc" != 0 ] || { echo "NCCL accepted 2 ranks on one GPU: $(compare "$(model nccl2)" "$(model single-acc2-bf16)" 1e-5)"; return; }
    [ "$rc" != 124 ] || { echo "mpirun hung (killed by timeout)"; return 1; }
    refused "$OUT/nccl2.log" && echo "exit $rc: refused cleanly: $(grep -m1 -o 'sq-train: error: .*' "$OUT/nccl2.log")"
}
check rendezvous-world1 rdv1
check rendezvous-world2-one-gpu rdv2
[ "$HAVE_MPI" = 1 ] && check nccl-2-ranks-one-gpu-refused nccl2_refused

# ---- 5. BERT-base: ddp over nccl at world 1 against single, bits and time
bert() {
    local data=$OUT/xquad-features cfg=$OUT/bert-base.json
    if [ ! -f "$data/manifest.json" ]; then
        "$BIN/sq-tokenize" -q --vocab "$ROOT/data/vocab.txt" -o "$OUT/xquad.sqt" "$ROOT/data/sample/xquad-train.json" &&
            "$BIN/sq-pack" -q -o "$data" "$OUT/xquad.sqt" || return 1
    fi
    printf '{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}\n' >"$cfg"
    local run s
    # alternated, twice each, so that a slow spell of the machine hits both
    for run in single-1 ddp-1 single-2 ddp-2; do
        s=${run%-*}
        rm -rf "$OUT/bert-$run"
        "$BIN/sq-train" --device cuda --data "$data" --config "$cfg" -o "$OUT/bert-$run" --strategy "$s" \
            $([ "$s" = ddp ] && echo --comm nccl) --max-steps "$BERT_STEPS" --batch-size 32 --lr 1e-4 --seed 5 \
            --log-every 1 >"$OUT/bert-$run.log" 2>&1 || { tail -n 15 "$OUT/bert-$run.log"; return 1; }
    done
    echo "single twice: $(compare "$OUT/bert-single-2/model.safetensors" "$OUT/bert-single-1/model.safetensors" bitwise)"
    local bits
    bits=$(compare "$OUT/bert-ddp-1/model.safetensors" "$OUT/bert-single-1/model.safetensors" bitwise)
    local eq=$?
    echo "ddp vs single: $bits"
    python3 - "$OUT" "$bits" <<'PY'
import json, sys
out, bits = sys.argv[1], sys.argv[2]
def steps(run):  # seconds of each step from metrics.jsonl's elapsed_s (log every step)
    e = [json.loads(l)["elapsed_s"] for l in open("%s/bert-%s/metrics.jsonl" % (out, run)) if '"loss"' in l]
    return [b - a for a, b in zip(e, e[1:])][4:]  # steps 6.. (warm-up left out)
s = [min(a, b) for a, b in zip(steps("single-1"), steps("single-2"))]
d = [min(a, b) for a, b in zip(steps("ddp-1"), steps("ddp-2"))]
med = lambda v: sorted(v)[len(v) // 2]
ratio = sorted(y / x for x, y in zip(s, d))
over = 100 * (med(ratio) - 1)
total = 100 * (sum(d) / sum(s) - 1)
print("single %.2f ms/step, ddp over nccl %.2f ms/step (medians of %d steps, best of 2 runs per step)"
      % (1e3 * med(s), 1e3 * med(d), len(s)))
verdict = "the < 2 % target is met" if over < 2 else "ABOVE the 2 % target"
print("ddp over nccl at world 1 vs single: %s; step-time overhead %.2f %% (median of per-step ratios; %.2f %% on "
      "the sums): %s" % (bits, over, total, verdict))
sys.exit(0 if over <= 5 else 1)  # fails only above 5 %: timing noise
PY
    local tm=$?
    [ "$eq" = 0 ] && [ "$tm" = 0 ]
}
if [ "${SQ_GPU_QUICK:-0}" = 1 ]; then
    skip "bert-base-ddp-nccl (SQ_GPU_QUICK=1)"
elif [ "$HAVE_PY" = 0 ]; then
    skip "bert-base-ddp-nccl (needs python3 with numpy and safetensors)"
else
    check bert-base-ddp-nccl bert
fi

echo "$pass passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
