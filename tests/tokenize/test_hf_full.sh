#!/usr/bin/env bash
# The whole of SQuAD v1.1 train and dev (../shared) through sq-tokenize,
# compared id for id and offset for offset with HuggingFace tokenizers run
# now (bert-base-uncased; dev also cased).  Needs ../shared and tokenizers.
source "$(dirname "$0")/../lib.sh"
need_shared "SQuAD train and dev"
need_python tokenizers
CMP=${SQ_BUILD:-build}/tests/tokenize/test_reference
[[ $CMP = /* ]] || CMP=$SQ_ROOT/$CMP
HF="python3 $SQ_ROOT/tests/tokenize/hf_tokens.py"
for f in dev train; do
    in=$SQ_SHARED/data/squad/$f-v1.1.reconstructed.json
    $HF uncased "$SQ_SHARED/tools" "$VOCAB" "$in" "$T/$f.jsonl"
    "$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/$f.sqt" "$in"
    "$CMP" --compare "$T/$f.sqt" "$T/$f.jsonl"
    rm -f "$T/$f.jsonl"
done
in=$SQ_SHARED/data/squad/dev-v1.1.reconstructed.json
$HF cased "$SQ_SHARED/tools" "$VOCAB" "$in" "$T/dev.cased.jsonl"
"$SQ_BIN/sq-tokenize" -q --cased --vocab "$VOCAB" -o "$T/dev.cased.sqt" "$in"
"$CMP" --compare "$T/dev.cased.sqt" "$T/dev.cased.jsonl"
