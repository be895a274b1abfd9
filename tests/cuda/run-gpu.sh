#!/usr/bin/env bash
# make test-gpu: the CUDA backend's checks, on a machine with a GPU (see
# docs/cuda.md).  Prints one line per check and "N passed, M failed,
# K skipped"; exits 1 on a failure, 77 without a GPU.
#   1. the kernel harness: every kernel against its CPU reference, dropout
#      masks bit-identical, and the whole backend (fp32 unpadded and padded,
#      bf16) against the CPU backend on a random model (tiny and BERT-base)
#   2. fp32 CUDA replay against the committed HF references and ../shared/ref
#   3. compute-sanitizer memcheck and racecheck on a small config
#   4. 300 steps of bf16 training on SQuAD follow the fp32 loss curve within 2%
#   5. sq-train --profile: gpu spans inside their steps, the summary's gpu rows,
#      mfu and gpu_mem_gib in metrics.jsonl
#   6. the shape warm-up before the first step changes no bit of training and
#      leaves bench's timed steps no new shape
#   7. distributed sq-train on this GPU (tests/cuda/gpu-dist.sh): nccl at world 1
#      equal to single, 2 ranks over mpi, checkpoints, rendezvous, and the
#      BERT-base ddp overhead
#   8. F1 parity (bench/f1-parity.sh): all-MiniLM-L6-v2 fine-tuned 1 epoch in
#      bf16 on SQuAD v1.1 train by sq-train and by transformers, both scored on
#      dev v1.1: |delta F1| <= 1.0 (needs ../shared, torch + transformers, and
#      the model: scripts/get-model.sh minilm)
# SQ_GPU_QUICK=1 leaves out 4 (the longest), 7's BERT-base runs and 8.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
BIN=${SQ_BIN:-$ROOT/bin}
SHARED=${SQ_SHARED:-$([ -d "$ROOT/../shared/data" ] && cd "$ROOT/../shared" && pwd || true)}
OUT=${SQ_GPU_OUT:-$ROOT/build/gpu-test}
mkdir -p "$OUT"
. "$ROOT/tests/cuda/gpu-lib.sh"
pass=0 failed=0 skipped=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
skip() { echo "SKIP $1"; skipped=$((skipped + 1)); }
run() { # NAME CMD...: passes when CMD exits 0; its output goes to $OUT/NAME.log
    local name=$1; shift
    if "$@" >"$OUT/$name.log" 2>&1; then ok "$name"; else bad "$name (see $OUT/$name.log)"; tail -n 20 "$OUT/$name.log"; fi
}

if ! nvidia-smi -L >/dev/null 2>&1; then echo "SKIP: no GPU (nvidia-smi -L failed)"; exit 77; fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
[ -x build/tests/cuda/kernels ] || make -s kernel-harness

# 1. kernels and backend
run kernels build/tests/cuda/kernels
run backend-bert-base build/tests/cuda/kernels backend --bert-base

# 2. fp32 replay against the HF (float64) references: the tolerances of tests/train/test_replay.c
if python3 -c "import safetensors, numpy" 2>/dev/null; then
    for ref in tests/train/fixtures/* ${SHARED:+"$SHARED"/ref/*}; do
        [ -f "$ref/losses.json" ] || continue
        run "replay-fp32-$(basename "$ref")" replay_check "$ref" "$OUT/replay-$(basename "$ref")"
    done
else
    skip "replay (needs python3 with safetensors and numpy)"
fi

# 3. compute-sanitizer on a small config (fp32 and bf16, unpadded and padded)
printf '{"vocab_size": 30522, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 256, "max_position_embeddings": 64, "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1}\n' >"$OUT/small.json"
small=(--config "$OUT/small.json" --device cuda --batch-size 3 --max-seq 48 --steps 2 --warmup-steps 0)
if command -v compute-sanitizer >/dev/null 2>&1; then
    for tool in memcheck racecheck; do
        run "sanitizer-$tool-fp32" compute-sanitizer --tool "$tool" --error-exitcode 1 "$BIN/sq-train" bench "${small[@]}" --precision fp32
        run "sanitizer-$tool-bf16-padded" compute-sanitizer --tool "$tool" --error-exitcode 1 "$BIN/sq-train" bench "${small[@]}" --padded
    done
    run sanitizer-memcheck-kernels compute-sanitizer --tool memcheck --error-exitcode 1 build/tests/cuda/kernels
else
    skip "compute-sanitizer (not on PATH)"
fi

# 4. bf16 follows fp32 for 300 steps of SQuAD (random BERT-base, dropout on)
loss_curves_squad() {
    pack_features "$SHARED/data/squad/train-v1.1.reconstructed.json" "$OUT/squad-train" &&
        loss_curves "$OUT/squad-train" "$OUT" 300 25
}
if [ "${SQ_GPU_QUICK:-0}" = 1 ]; then
    skip "bf16-vs-fp32 loss curve (SQ_GPU_QUICK=1)"
elif [ -z "$SHARED" ] || ! python3 -c "import json" 2>/dev/null; then
    skip "bf16-vs-fp32 loss curve (needs ../shared and python3)"
else
    run loss-curve-bf16-vs-fp32 loss_curves_squad
fi

# The bundled sample's training features, packed once for sections 5 and 6.
xquad_features() { pack_features "$ROOT/data/sample/xquad-train.json" "$OUT/xquad-features"; }

# 5. --profile: GPU spans timed with CUDA events (train/cuda/cuda_backend.cu)
profile_check() {
    local run=$OUT/profile
    rm -rf "$run"
    xquad_features || return 1
    "$BIN/sq-train" --device cuda --config "$ROOT/data/sample/bert-small-config.json" --data "$OUT/xquad-features" \
        --max-steps 8 --batch-size 16 --log-every 1 --profile=3 -o "$run" 2>"$run.err" || { cat "$run.err"; return 1; }
    cat "$run.err"
    grep -Eq '^gpu +matmul +[0-9]+ .* [0-9.]+ +-$' "$run.err" || { echo "no gpu matmul row with TFLOP/s"; return 1; }
    grep -Eq '^gpu +attention_bwd ' "$run.err" || { echo "no gpu attention_bwd row"; return 1; }
    python3 - "$run/trace.json" "$run/metrics.jsonl" <<'PY'
import json, sys
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e["ph"] == "X"]
steps = {e["args"]["step"]: (e["ts"], e["ts"] + e["dur"]) for e in ev if e["tid"] == 0}
gpu = sorted((e for e in ev if e["tid"] == 2), key=lambda e: e["ts"])
assert sorted(steps) == [3, 4, 5], steps
fams = {e["args"].get("family", e["name"]) for e in gpu}
for f in ("matmul", "matmul_bwd", "attention_fwd", "attention_bwd", "layernorm", "gelu", "adamw", "copy"):
    assert f in fams, (f, sorted(fams))
for e in gpu:  # each span inside its step (50 us of slack for the anchor)
    t0, t1 = steps[e["args"]["step"]]
    assert t0 - 50 <= e["ts"] and e["ts"] + e["dur"] <= t1 + 50, (e, t0, t1)
for a, b in zip(gpu, gpu[1:]):  # one stream: spans in sequence (anchors differ by us)
    assert a["ts"] + a["dur"] <= b["ts"] + 20, (a, b)
for s, (t0, t1) in steps.items():
    busy = sum(e["dur"] for e in gpu if e["args"]["step"] == s)
    print("step %d: %.3f ms, gpu spans %.3f ms" % (s, (t1 - t0) / 1e3, busy / 1e3))
m = [json.loads(l) for l in open(sys.argv[2]) if '"loss"' in l]
assert all(l.get("gpu_mem_gib", 0) > 0 for l in m), m[-1]
print("mfu", [l.get("mfu") for l in m])
PY
}
run profile profile_check

# 6. shape warm-up (sq_backend_warm): the cuBLASLt algorithm of every bucket
# chosen before the first step changes no bit of training, and leaves no
# shape for the timed steps of bench to meet (no heuristic query)
warm_check() {
    local d=$OUT/warm feat=$OUT/xquad-features cfg=$ROOT/data/sample/bert-small-config.json
    rm -rf "$d" && mkdir -p "$d"
    xquad_features || return 1
    "$BIN/sq-train" --device cuda --config "$cfg" --data "$feat" --max-steps 20 --batch-size 16 --seed 3 -v \
        -o "$d/warm" 2>"$d/warm.err" || { cat "$d/warm.err"; return 1; }
    grep -E 'warm-up: [0-9]+ batch shapes' "$d/warm.err" || { echo "no warm-up line"; cat "$d/warm.err"; return 1; }
    SQ_WARM_SHAPES=0 "$BIN/sq-train" --device cuda --config "$cfg" --data "$feat" --max-steps 20 --batch-size 16 \
        --seed 3 -q -o "$d/cold" || return 1
    cmp "$d/warm/model.safetensors" "$d/cold/model.safetensors" || { echo "parameters differ"; return 1; }
    "$BIN/sq-train" bench --device cuda --config "$cfg" --data "$feat" --batch-size 16 --steps 30 >"$d/bench-warm.json" || return 1
    SQ_WARM_SHAPES=0 "$BIN/sq-train" bench --device cuda --config "$cfg" --data "$feat" --batch-size 16 --steps 30 \
        >"$d/bench-cold.json" || return 1
    cat "$d/bench-warm.json" "$d/bench-cold.json"
    python3 - "$d/bench-warm.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["warm_shapes"] > 0 and j["heuristic_queries"] == 0, j
PY
}
run warm-shapes warm_check

# 7. distributed training (its own PASS/FAIL lines, repeated here)
run gpu-dist env SQ_GPU_OUT="$OUT/dist" tests/cuda/gpu-dist.sh
grep -E '^(PASS|FAIL|SKIP) ' "$OUT/gpu-dist.log" | sed 's/^/    /'

# 8. F1 parity with transformers on real SQuAD (the bench's table is in the log)
f1_parity() {
    bench/f1-parity.sh --device cuda --precision bf16 --epochs 1 -o "$OUT/f1-parity" | tee "$OUT/f1-parity.txt" || return 1
    sed -n 's/^delta F1 (sq - HF): \([-+0-9.]*\);.*/\1/p' "$OUT/f1-parity.txt" |
        awk '{ d = $1 < 0 ? -$1 : $1; n++ } END { print "|delta F1| = " d; exit !(n == 1 && d <= 1.0) }'
}
if [ "${SQ_GPU_QUICK:-0}" = 1 ]; then
    skip "f1-parity (SQ_GPU_QUICK=1)"
elif [ -z "$SHARED" ] || ! python3 -c "import torch, transformers" 2>/dev/null; then
    skip "f1-parity: needs ../shared and python3 with torch and transformers"
elif ! scripts/get-model.sh minilm >/dev/null 2>"$OUT/get-model.err"; then
    skip "f1-parity: $(cat "$OUT/get-model.err")"
else
    run f1-parity f1_parity
fi

echo "$pass passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
