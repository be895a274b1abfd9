#!/usr/bin/env bash
# Regenerates the reference fixtures of tests/train/fixtures/ with
# ../shared/tools/make_ref.py (HuggingFace BertForQuestionAnswering in float64;
# needs torch and transformers).  Vocabularies are small so that each file
# stays well under 1 MB; make_ref.py draws ids from [999, vocab).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=${SQ_SHARED:-$here/../../../shared}/tools/make_ref.py
out=$here/fixtures
mkdir -p "$out"
python3 "$tool" "$out/micro" --layers 1 --hidden 32 --heads 2 --inter 64 --seq 16 --batch 3 --steps 3 \
    --maxpos 32 --vocab 1200 --seed 11
python3 "$tool" "$out/tiny" --layers 2 --hidden 64 --heads 4 --inter 256 --seq 64 --batch 3 --steps 5 \
    --maxpos 128 --vocab 1536 --seed 1234
python3 "$tool" "$out/odd" --layers 2 --hidden 48 --heads 3 --inter 96 --seq 23 --batch 5 --steps 4 \
    --warmup 1 --maxpos 40 --vocab 1100 --seed 7 --wd 0.05
# The MiniLM logits of test_minilm.sh (needs the sq tools built and the model,
# fetched by scripts/get-model.sh).
mkdir -p "$out/minilm"
python3 "$here/make_minilm_ref.py" "$("$here/../../scripts/get-model.sh" minilm)" "$out/minilm/ref.safetensors"
