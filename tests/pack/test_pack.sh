#!/usr/bin/env bash
# sq-tokenize -> sq-pack -> sq-inspect against the HuggingFace reference
# features (tests/pack/make_refs.py) on the bundled XQuAD at four
# max-seq/stride/max-query settings, the synthetic window-edge set and the
# tokenizer's stress file; dev and train v1.1 (by sha256 of the printed
# features) when ../shared is present.
source "$(dirname "$0")/../lib.sh"
TOK=$SQ_BIN/sq-tokenize PACK=$SQ_BIN/sq-pack INS=$SQ_BIN/sq-inspect
F=$SQ_ROOT/tests/pack/fixtures

tokenize() { "$TOK" -q --vocab "$VOCAB" -o "$2" "$1" || fail "sq-tokenize $1"; }

# pack_check NAME SQT S T Q: features at max-seq S, stride T, max-query Q equal
# the reference, and the summary counts the questions cut.
pack_check() {
    local name=$1 sqt=$2 s=$3 t=$4 q=$5 ref=$F/$1.$3-$4-$5
    "$PACK" --max-seq "$s" --doc-stride "$t" --max-query "$q" -o "$T/$name.$s" "$sqt" 2>"$T/summary" ||
        fail "sq-pack $name $s/$t/$q: $(cat "$T/summary")"
    grep -Eq "^sq-pack: [0-9]+ examples, [0-9]+ features, [0-9]+ tokens: mean length [0-9.]+, max [0-9]+; padding [0-9.]+% of a padded $s-token batch; $(cat "$ref.cut") questions cut to $q tokens;" "$T/summary" ||
        fail "$name $s/$t/$q summary: $(cat "$T/summary")"
    "$INS" -v "$T/$name.$s" >"$T/all.jsonl" || fail "sq-inspect $name"
    grep '^{"type":"feature",' "$T/all.jsonl" >"$T/got.jsonl" || true
    if [ -f "$ref.jsonl.zst" ]; then
        zstd -qdc "$ref.jsonl.zst" >"$T/want.jsonl"
        cmp -s "$T/got.jsonl" "$T/want.jsonl" ||
            fail "$name $s/$t/$q: features differ from the reference; first difference:
$(diff "$T/got.jsonl" "$T/want.jsonl" | head -c 1500)"
    else
        read -r sha n <"$ref.sha256"
        [ "$(wc -l <"$T/got.jsonl")" = "$n" ] || fail "$name: $(wc -l <"$T/got.jsonl") features, reference $n"
        [ "$(sha256sum <"$T/got.jsonl" | cut -d' ' -f1)" = "$sha" ] ||
            fail "$name $s/$t/$q: features differ from the reference (run tests/pack/make_refs.py and compare)"
    fi
    rm -rf "$T/$name.$s"
}

tokenize "$DATA/xquad.en.json" "$T/xquad.sqt"
pack_check xquad "$T/xquad.sqt" 384 128 64
pack_check xquad "$T/xquad.sqt" 128 32 64
pack_check xquad "$T/xquad.sqt" 64 16 32
pack_check xquad "$T/xquad.sqt" 64 16 8 # 1,031 questions cut to 8 tokens
tokenize "$F/synth.json" "$T/synth.sqt"
pack_check synth "$T/synth.sqt" 32 8 8

stress=$SQ_ROOT/tests/tokenize/fixtures/stress.json
if [ -f "$stress" ]; then
    tokenize "$stress" "$T/stress.sqt"
    pack_check stress "$T/stress.sqt" 384 128 64
    pack_check stress "$T/stress.sqt" 64 16 16
else
    echo "note: $stress is absent: stress features not checked"
fi

if [ -n "$SQ_SHARED" ] && [ -d "$SQ_SHARED/data/squad" ]; then
    for set in dev train; do
        tokenize "$SQ_SHARED/data/squad/$set-v1.1.reconstructed.json" "$T/$set.sqt"
        pack_check "$set-v1.1" "$T/$set.sqt" 384 128 64
        rm -f "$T/$set.sqt"
    done
else
    echo "note: ../shared is absent: dev and train v1.1 not checked"
fi
echo "ok"
