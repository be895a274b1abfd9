#!/usr/bin/env bash
# Regenerates the per-code-point HF reference tables (fixtures/hf_unicode_*.txt.zst)
# with HuggingFace tokenizers, then tokenize/fixups.c: the code points where
# utf8proc's tables alone (test_unicode --dump --raw) disagree with HF.
# Needs python3 with tokenizers, zstd, and build/tests/tokenize/test_unicode.
set -euo pipefail
cd "$(dirname "$0")/../.."
fx=tests/tokenize/fixtures
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s build/tests/tokenize/test_unicode
for m in uncased cased; do
    python3 tests/tokenize/hf_unicode.py $m "$tmp/hf_$m.txt"
    zstd -q -19 -f "$tmp/hf_$m.txt" -o $fx/hf_unicode_$m.txt.zst
    build/tests/tokenize/test_unicode --dump $m --raw > "$tmp/raw_$m.txt"
done
python3 tests/tokenize/gen_fixups.py "$tmp" > tokenize/fixups.c
echo "wrote tokenize/fixups.c and $fx/hf_unicode_*.txt.zst; rebuild and run test_unicode"
