#!/usr/bin/env bash
# sq-inspect on HuggingFace reference tensors (../shared/ref/*/*.safetensors,
# written by ../shared/tools/make_ref.py through torch + safetensors): every
# tensor and value as the Python side sees it.  When ../shared/ref is absent,
# a tiny reference is generated with make_ref.py instead.
source "$(dirname "$0")/../lib.sh"
need_shared "reference tensors"
need_python numpy
I=$SQ_BIN/sq-inspect
shopt -s nullglob
files=("$SQ_SHARED"/ref/*/*.safetensors)
if [ ${#files[@]} -eq 0 ]; then
    echo "note: no ../shared/ref/*/*.safetensors; generating a tiny reference with make_ref.py"
    need_python torch
    need_python transformers
    python3 "$SQ_SHARED/tools/make_ref.py" "$T/ref" --layers 1 --hidden 32 --heads 2 --inter 64 \
        --vocab 1100 --maxpos 32 --seq 16 --batch 2 --steps 2 --warmup 1 >/dev/null 2>&1 ||
        fail "make_ref.py failed"
    files=("$T"/ref/*.safetensors)
fi
[ ${#files[@]} -gt 0 ] || fail "no reference files"
for f in "${files[@]}"; do
    "$I" --values "$f" >"$T/out.jsonl" || fail "sq-inspect --values $f"
    python3 "$SQ_ROOT/tests/inspect/compare_st.py" "$f" "$T/out.jsonl" || fail "$f: sq-inspect disagrees"
    echo "ok $f ($(grep -c '"type":"tensor"' "$T/out.jsonl") tensors)"
done
