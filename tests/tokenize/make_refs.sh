#!/usr/bin/env bash
# Regenerates the committed HuggingFace reference outputs for the small
# fixtures (tests/tokenize/fixtures/{stress,xquad}.{uncased,cased}.jsonl[.zst]).
# Needs python3 with tokenizers and ../shared/tools/hf_reference.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools=${SQ_SHARED:-../shared}/tools
fx=tests/tokenize/fixtures
for m in uncased cased; do
    python3 tests/tokenize/hf_tokens.py $m "$tools" data/vocab.txt $fx/stress.json $fx/stress.$m.jsonl
    python3 tests/tokenize/hf_tokens.py $m "$tools" data/vocab.txt data/xquad.en.json $fx/xquad.$m.jsonl
    zstd -q -19 -f --rm $fx/xquad.$m.jsonl -o $fx/xquad.$m.jsonl.zst
done
cmp <(python3 "$tools/hf_reference.py" tokens data/vocab.txt data/xquad.en.json /dev/stdout) \
    <(zstd -dc $fx/xquad.uncased.jsonl.zst) || { echo "hf_tokens.py uncased differs from hf_reference.py" >&2; exit 1; }
echo "wrote $fx/stress.*.jsonl and $fx/xquad.*.jsonl.zst"
