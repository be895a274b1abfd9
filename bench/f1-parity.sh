#!/usr/bin/env bash
# bench/f1-parity.sh: fine-tunes a pretrained BERT (default all-MiniLM-L6-v2,
# scripts/get-model.sh minilm) on SQuAD v1.1 train twice, with sq-train and
# with HuggingFace transformers (../shared/tools/hf_finetune.py), on the same
# sq-pack features with the same hyperparameters, scores both on dev v1.1
# with sq-eval (the same post-processing), and prints both F1s, both
# training times and the difference.  Training times leave out the first step
# (warm-up, allocation), as hf_finetune.py does.  HF pads every feature to 384
# as run_qa does unless --hf-pad-longest; sq-train never computes padding.
#
#   bench/f1-parity.sh [--model DIR] [--train JSON] [--dev JSON] [--train-subset N]
#                      [--dev-subset N] [--epochs 1] [--batch-size 32] [--lr 5e-5]
#                      [--seed 42] [--device cpu|cuda] [--precision bf16|fp32] [--hf-pad-longest]
#                      [-o OUTDIR]
#
# --train-subset / --dev-subset N keep about N questions: every k-th paragraph
# of the file, so the subset spans its articles.  Defaults: the GPU when there
# is one (bf16 on both sides), the CPU otherwise (fp32); SQuAD from
# $SQ_DATA_CACHE/squad (scripts/get-squad.sh) when it is there, else
# ../shared's reconstruction (same ids and answer texts, so the same scores).
# Needs torch and transformers for the HF side ($PYTHON, default python3) and
# jq for the subsets.  Work files go to OUTDIR (default build/f1-parity).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SQ_BIN:-$ROOT/bin}
PY=${PYTHON:-python3}
SHARED=${SQ_SHARED:-$ROOT/../shared}
die() { echo "f1-parity: error: $*" >&2; exit 1; }

hf_pad=()
model= train= dev= train_n=0 dev_n=0 epochs=1 batch=32 lr=5e-5 seed=42 device= precision= out=$ROOT/build/f1-parity
while [ $# -gt 0 ]; do
    case $1 in
    --model) model=$2; shift 2 ;;
    --train) train=$2; shift 2 ;;
    --dev) dev=$2; shift 2 ;;
    --train-subset) train_n=$2; shift 2 ;;
    --dev-subset) dev_n=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --batch-size) batch=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --seed) seed=$2; shift 2 ;;
    --device) device=$2; shift 2 ;;
    --precision) precision=$2; shift 2 ;;
    --hf-pad-longest) hf_pad=(--pad-longest); shift ;;
    -o) out=$2; shift 2 ;;
    -h | --help) sed -n '2,24s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "f1-parity: error: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$device" ]; then
    device=cpu
    if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then device=cuda; fi
fi
[ -n "$precision" ] || precision=$([ "$device" = cuda ] && echo bf16 || echo fp32)
squad=${SQ_DATA_CACHE:-$HOME/.cache/sq}/squad
for split in train dev; do
    [ -z "${!split}" ] || continue
    if [ -f "$squad/$split-v1.1.json" ]; then
        printf -v "$split" '%s' "$squad/$split-v1.1.json"
    elif [ -f "$SHARED/data/squad/$split-v1.1.reconstructed.json" ]; then
        printf -v "$split" '%s' "$SHARED/data/squad/$split-v1.1.reconstructed.json"
    else
        die "no SQuAD v1.1 $split file: run scripts/get-squad.sh, or give --$split"
    fi
done
[ -n "$model" ] || model=$("$ROOT/scripts/get-model.sh" minilm)
hf=$SHARED/tools/hf_finetune.py
[ -f "$hf" ] || die "$hf is missing (the HF side of the comparison)"
"$PY" -c 'import torch, transformers' 2>/dev/null || die "$PY cannot import torch and transformers (set PYTHON)"
mkdir -p "$out"

# subset IN N OUT: about N questions, every k-th paragraph of IN.
subset() {
    if [ "$2" = 0 ]; then cp "$1" "$3"; return; fi
    command -v jq >/dev/null || die "--train-subset/--dev-subset need jq"
    jq -c --argjson n "$2" '
        ([.data[].paragraphs[].qas | length] | add) as $q
        | ([1, (($q / $n) | floor)] | max) as $k
        | .data |= ( reduce .[] as $a ({i: 0, out: []};
              .i as $i
              | ($a.paragraphs | to_entries | map(select(((.key + $i) % $k) == 0) | .value)) as $keep
              | {i: ($i + ($a.paragraphs | length)),
                 out: (.out + (if ($keep | length) > 0 then [$a | .paragraphs = $keep] else [] end))})
            | .out)' "$1" >"$3"
}
subset "$train" "$train_n" "$out/train.json"
subset "$dev" "$dev_n" "$out/dev.json"

echo "== features (sq-tokenize --vocab MODEL, sq-pack: max_seq 384, stride 128)" >&2
for s in train dev; do
    "$BIN/sq-tokenize" -q --vocab "$model" -o "$out/$s.sqt" "$out/$s.json"
    "$BIN/sq-pack" -q -f -o "$out/$s-features" "$out/$s.sqt"
    "$BIN/sq-inspect" -v "$out/$s-features" >"$out/$s.jsonl"
done
ntrain=$(grep -c '"type":"feature"' "$out/train.jsonl")
ndev=$(grep -c '"type":"feature"' "$out/dev.jsonl")
nq=$(jq '[.data[].paragraphs[].qas | length] | add' "$out/dev.json")
echo "train: $ntrain features; dev: $nq questions, $ndev features; $device, $precision" >&2

# elapsed CMD...: runs it, sets $secs to its wall time.
elapsed() { local t0; t0=$(date +%s.%N); "$@"; secs=$(echo "$(date +%s.%N) - $t0" | bc); }
common=(--epochs "$epochs" --batch-size "$batch" --lr "$lr" --warmup 0.1 --weight-decay 0.01 --max-grad-norm 1.0
        --seed "$seed")

echo "== sq-train" >&2
rm -rf "$out/sq-run"
elapsed "$BIN/sq-train" --init "$model" --data "$out/train-features" -o "$out/sq-run" "${common[@]}" \
    --device "$device" --precision "$precision" --log-every "$([ "$device" = cuda ] && echo 100 || echo 1)"
sq_wall=$secs
"$BIN/sq-train" predict --init "$out/sq-run" --data "$out/dev-features" --device "$device" \
    --precision "$precision" -o "$out/sq-logits.safetensors"
sq_scores=$("$BIN/sq-eval" -q --dataset "$out/dev.json" --features "$out/dev-features" \
    --logits "$out/sq-logits.safetensors")
# From the end of step 1 to the end of the last, as hf_finetune.py times it:
# exact with a metrics line every step (the CPU), else the rate between the
# first and last lines times the steps after the first.
sq_train_s=$(jq -s '[.[] | select(.elapsed_s)] | .[0] as $a | .[-1] as $b
    | if $b.step > $a.step then ($b.elapsed_s - $a.elapsed_s) / ($b.step - $a.step) * ($b.step - 1) else 0 end' \
    "$out/sq-run/metrics.jsonl")

echo "== HuggingFace transformers (hf_finetune.py)" >&2
elapsed "$PY" "$hf" --init "$model" --train "$out/train.jsonl" --dev "$out/dev.jsonl" -o "$out/hf-run" \
    "${common[@]}" --precision "$precision" "${hf_pad[@]}" >"$out/hf-summary.log"
hf_wall=$secs
hf_scores=$("$BIN/sq-eval" -q --dataset "$out/dev.json" --features "$out/dev-features" \
    --logits "$out/hf-run/dev-logits.safetensors")
hf_train_s=$(jq '.train_s_after_step_1' "$out/hf-run/summary.json")

f1() { jq -r '.f1' <<<"$1"; }
em() { jq -r '.exact_match' <<<"$1"; }
printf 'model %s; train %s (%d features), dev %s (%d questions); %s %s; epochs %s, batch %s, lr %s, seed %s\n' \
    "$model" "$(basename "$train")" "$ntrain" "$(basename "$dev")" "$nq" "$device" "$precision" "$epochs" "$batch" \
    "$lr" "$seed"
printf '%-12s %8s %8s %18s %12s\n' side EM F1 "train s (step 2+)" "command s"
printf '%-12s %8.2f %8.2f %18.1f %12.1f\n' sq-train "$(em "$sq_scores")" "$(f1 "$sq_scores")" "$sq_train_s" "$sq_wall"
printf '%-12s %8.2f %8.2f %18.1f %12.1f\n' transformers "$(em "$hf_scores")" "$(f1 "$hf_scores")" "$hf_train_s" "$hf_wall"
printf 'delta F1 (sq - HF): %+.2f; training time ratio (HF / sq): %.2f\n' \
    "$(echo "$(f1 "$sq_scores") - $(f1 "$hf_scores")" | bc -l)" "$(echo "$hf_train_s / $sq_train_s" | bc -l)"
