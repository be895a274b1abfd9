#!/usr/bin/env bash
# sq-tokenize --vocab DIR: an HF model folder's vocab.txt, cased or not as
# its tokenizer_config.json says (do_lower_case, default true as in
# BertTokenizer); --cased against an uncased folder is a usage error, and
# settings sq cannot reproduce are refused in one line.
source "$(dirname "$0")/../lib.sh"
TK=$SQ_BIN/sq-tokenize
IN=$DATA/sample/xquad-dev.json
"$TK" -q --vocab "$VOCAB" -o "$T/uncased.sqt" "$IN"
"$TK" -q --cased --vocab "$VOCAB" -o "$T/cased.sqt" "$IN"
cmp -s "$T/uncased.sqt" "$T/cased.sqt" && fail "the two setups give the same tokens: the checks below prove nothing"

folder() { # NAME [tokenizer_config.json text]
    mkdir -p "$T/$1"
    cp "$VOCAB" "$T/$1/vocab.txt"
    if [ $# -gt 1 ]; then printf '%s' "$2" >"$T/$1/tokenizer_config.json"; fi
}
same() { # WANT.sqt ARGS...: the tokens file ARGS write is WANT byte for byte
    local want=$1; shift
    "$TK" -q "$@" -o "$T/got.sqt" "$IN"
    cmp "$T/got.sqt" "$want" || fail "sq-tokenize $* differs from $(basename "$want")"
}

folder minilm '{"do_lower_case": true, "strip_accents": null, "tokenize_chinese_chars": true, "tokenizer_class": "BertTokenizer", "model_max_length": 512}'
same "$T/uncased.sqt" --vocab "$T/minilm"
same "$T/uncased.sqt" --vocab "$T/minilm/"
folder cased '{"do_lower_case": false, "model_max_length": 512}'
same "$T/cased.sqt" --vocab "$T/cased"
same "$T/cased.sqt" --vocab "$T/cased" --cased
"$SQ_BIN/sq-inspect" "$T/got.sqt" >"$T/got.jsonl"
head -n1 "$T/got.jsonl" | grep -q '"cased":true' || fail "cased flag not recorded"
folder bare
same "$T/uncased.sqt" --vocab "$T/bare"
same "$T/cased.sqt" --vocab "$T/bare" --cased
folder nokey '{"model_max_length": 512}'
same "$T/cased.sqt" --vocab "$T/nokey" --cased

expect_fail 2 "^sq-tokenize: error: --cased: .*/minilm/tokenizer_config.json says do_lower_case true" \
    "$TK" --cased --vocab "$T/minilm" -o "$T/x.sqt" "$IN"
folder strip '{"do_lower_case": false, "strip_accents": true}'
expect_fail 1 '^sq-tokenize: error: .*strip/tokenizer_config.json: strip_accents true with do_lower_case false is not supported' \
    "$TK" --vocab "$T/strip" -o "$T/x.sqt" "$IN"
folder cjk '{"tokenize_chinese_chars": false}'
expect_fail 1 'tokenize_chinese_chars false is not supported' "$TK" --vocab "$T/cjk" -o "$T/x.sqt" "$IN"
folder basic '{"do_basic_tokenize": false}'
expect_fail 1 'do_basic_tokenize false is not supported' "$TK" --vocab "$T/basic" -o "$T/x.sqt" "$IN"
folder word '{"do_lower_case": "yes"}'
expect_fail 1 'word/tokenizer_config.json: do_lower_case: expected true, false or null' \
    "$TK" --vocab "$T/word" -o "$T/x.sqt" "$IN"
folder broken '{"do_lower_case": '
expect_fail 1 'broken/tokenizer_config.json:1:' "$TK" --vocab "$T/broken" -o "$T/x.sqt" "$IN"
mkdir -p "$T/novocab"
expect_fail 1 '^sq-tokenize: error: .*novocab: no vocab.txt in this folder' "$TK" --vocab "$T/novocab" -o "$T/x.sqt" "$IN"
[ ! -e "$T/x.sqt" ] || fail "a refused run left its output"
echo ok
