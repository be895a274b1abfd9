#!/usr/bin/env bash
# make demo: the whole pipeline on the bundled sample (XQuAD English split by
# article): tokenize -> pack -> train a small BERT from scratch -> predict ->
# eval, printing the time of each stage and the dev EM/F1.  On a machine with
# a GPU it trains there; otherwise on the CPU for a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SQ_BIN:-bin}
out=${SQ_DEMO_DIR:-demo-run}
epochs=${SQ_DEMO_EPOCHS:-8}
device=cpu
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then device=cuda; fi
rm -rf "$out"
mkdir -p "$out"

times=()
stage() {
    local name=$1; shift
    local t0=$(date +%s.%N)
    echo "== $name: $*" >&2
    "$@"
    times+=("$(printf '%-9s %7.2f s' "$name" "$(echo "$(date +%s.%N) - $t0" | bc)")")
}

stage tokenize "$bin/sq-tokenize" --vocab data/vocab.txt -o "$out/train.sqt" data/sample/xquad-train.json
"$bin/sq-tokenize" --vocab data/vocab.txt -o "$out/dev.sqt" data/sample/xquad-dev.json
stage pack "$bin/sq-pack" -o "$out/train-features" "$out/train.sqt"
"$bin/sq-pack" -o "$out/dev-features" "$out/dev.sqt"
stage train "$bin/sq-train" --device "$device" --config data/sample/bert-small-config.json \
    --data "$out/train-features" -o "$out/run" --epochs "$epochs" --batch-size 32 --lr 1e-3 \
    --warmup 0.1 --log-every 10
stage predict "$bin/sq-train" predict --device "$device" --init "$out/run/model.safetensors" \
    --data "$out/dev-features" -o "$out/dev-logits.safetensors"
stage eval "$bin/sq-eval" --dataset data/sample/xquad-dev.json --features "$out/dev-features" \
    --logits "$out/dev-logits.safetensors" -o "$out/dev-predictions.json" >"$out/scores.json"

echo
echo "stage times ($device):"
printf '  %s\n' "${times[@]}"
echo "dev scores (XQuAD English, 8 held-out articles, model trained from scratch on 40): $(cat "$out/scores.json")"
