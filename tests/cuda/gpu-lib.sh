# Pieces shared by the GPU checks (tests/cuda/run-gpu.sh, make test-gpu, and
# tests/cuda/check.sh, make gpu-check): source it with ROOT (the checkout)
# and BIN (the tools) set.  Each function prints what it compared and
# returns non-zero on a failure.

# A B: worst per-tensor relative L2 error of safetensors B against A.
relerr() {
    python3 - "$1" "$2" <<'PY'
import sys
from safetensors.numpy import load_file
import numpy as np
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
w = 0.0
for k, x in a.items():
    x = x.astype(np.float64); y = b[k].astype(np.float64)
    w = max(w, np.linalg.norm(x - y) / max(np.linalg.norm(x), 1e-6))
print(w)
PY
}

# REFDIR OUTDIR: fp32 CUDA replay against an HF (float64) reference with the
# tolerances of tests/train/test_replay.c (forward 1e-4, grads 1e-3, final
# 1e-4, losses 1e-5).
replay_check() {
    local ref=$1 out=$2
    read -r steps lr wd warmup < <(python3 -c "import json,sys; a=json.load(open(sys.argv[1]))['args']; print(a['steps'], a['lr'], a['wd'], a['warmup'])" "$ref/losses.json") || return 1
    rm -rf "$out"
    "$BIN/sq-train" replay --device cuda --precision fp32 --init "$ref/model.safetensors" \
        --batches "$ref/batches.safetensors" --steps "$steps" --lr "$lr" --weight-decay "$wd" \
        --warmup-steps "$warmup" --max-grad-norm 1 --seed 1 -o "$out" || return 1
    local f tol e
    for f in forward:1e-4 grads:1e-3 final:1e-4; do
        tol=${f#*:}; f=${f%%:*}
        e=$(relerr "$ref/$f.safetensors" "$out/$f.safetensors") || return 1
        echo "$f: worst relative error $e (tolerance $tol)"
        python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$e" "$tol" || return 1
    done
    python3 - "$ref/losses.json" "$out/losses.json" <<'PY'
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
for u, v in zip(a["loss"], b["loss"]):
    if abs(u - v) > 1e-5 * max(abs(u), 1e-12): sys.exit("loss %r, want %r" % (v, u))
print("losses ok")
PY
}

# JSON DIR: SQuAD-format JSON tokenized and packed into the feature
# directory DIR (nothing to do when DIR exists).
pack_features() {
    local json=$1 dir=$2
    [ -d "$dir" ] && return 0
    "$BIN/sq-tokenize" -q --vocab "$ROOT/data/vocab.txt" -o "$dir.sqt" "$json" &&
        "$BIN/sq-pack" -q -o "$dir" "$dir.sqt" && rm -f "$dir.sqt"
}

# DATA OUTDIR STEPS WINDOW: STEPS steps of BERT-base (random init, dropout
# on) on the features DATA in fp32 and in bf16 with the same seed; the bf16
# mean loss within 2% of the fp32 one in every window of WINDOW steps.
loss_curves() {
    local data=$1 out=$2 steps=$3 window=$4 cfg=$2/bert-base.json p
    mkdir -p "$out"
    printf '{"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512}\n' >"$cfg"
    for p in fp32 bf16; do
        rm -rf "$out/run-$p"
        "$BIN/sq-train" --device cuda --precision "$p" --data "$data" --config "$cfg" --max-steps "$steps" \
            --batch-size 32 --lr 1e-4 --warmup-steps 30 --log-every 1 --seed 7 -q -o "$out/run-$p" || return 1
    done
    python3 - "$out/run-fp32/metrics.jsonl" "$out/run-bf16/metrics.jsonl" "$steps" "$window" <<'PY'
import json, sys
def losses(p):
    return [json.loads(l)["loss"] for l in open(p) if '"loss"' in l]
a, b = losses(sys.argv[1]), losses(sys.argv[2])
n, w = int(sys.argv[3]), int(sys.argv[4])
assert len(a) == len(b) == n, (len(a), len(b))
worst = 0
for i in range(0, n, w):
    x, y = sum(a[i:i + w]) / len(a[i:i + w]), sum(b[i:i + w]) / len(b[i:i + w])
    worst = max(worst, abs(y - x) / x)
    print("steps %3d-%3d: fp32 %.4f bf16 %.4f" % (i + 1, min(i + w, n), x, y))
print("worst window difference %.2f%%" % (100 * worst))
sys.exit(0 if worst <= 0.02 else 1)
PY
}
