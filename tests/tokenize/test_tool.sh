#!/usr/bin/env bash
# sq-tokenize end to end: the committed HF references, thread-count
# independence, the recorded header fields, sq-inspect's lines, and every
# input error path (one stderr line, exit 1; usage errors exit 2).
source "$(dirname "$0")/../lib.sh"
TK=$SQ_BIN/sq-tokenize
CMP=${SQ_BUILD:-build}/tests/tokenize/test_reference
[[ $CMP = /* ]] || CMP=$SQ_ROOT/$CMP
FX=$SQ_ROOT/tests/tokenize/fixtures
[ -x "$CMP" ] || fail "$CMP is not built"

# HF's ids and offsets, through the tool, both setups.
for m in uncased cased; do
    flag=; [ $m = cased ] && flag=--cased
    "$TK" -q $flag --vocab "$VOCAB" -o "$T/x.$m.sqt" "$DATA/xquad.en.json"
    "$CMP" --compare "$T/x.$m.sqt" "$FX/xquad.$m.jsonl.zst"
    "$TK" -q $flag --vocab "$VOCAB" -o "$T/s.$m.sqt" "$FX/stress.json"
    "$CMP" --compare "$T/s.$m.sqt" "$FX/stress.$m.jsonl"
done

# --threads never changes a byte (1,000 paragraphs: several frames).
{
    printf '{"version":"1.1","data":[{"title":"t","paragraphs":['
    for i in $(seq 1000); do
        [ "$i" = 1 ] || printf ','
        printf '{"context":"Paragraph %d: the caf\u00e9 [SEP] \u4e2d\u6587 na\u00efve unbelievably","qas":[' "$i"
        printf '{"id":"q%d","question":"Which %d?","answers":[{"text":"Paragraph","answer_start":%d}]}]}' "$i" "$i" $((i % 7 == 0))
    done
    printf ']}]}'
} > "$T/many.json"
"$TK" -q --threads 1 --vocab "$VOCAB" -o "$T/m1.sqt" "$T/many.json" 2> "$T/warn"
grep -q '142 answers whose text is not at answer_start.*: q7, q14, q21, q28, q35, \.\.\.$' "$T/warn" ||
    fail "warning: $(cat "$T/warn")"
for n in 2 3 8; do
    "$TK" -q --threads $n --vocab "$VOCAB" -o "$T/m$n.sqt" "$T/many.json" 2> /dev/null
    cmp "$T/m$n.sqt" "$T/m1.sqt" || fail "--threads $n changed the output"
done
# stdin works.
"$TK" -q --vocab "$VOCAB" -o "$T/stdin.sqt" - < "$DATA/xquad.en.json"
cmp "$T/stdin.sqt" "$T/x.uncased.sqt" || fail "stdin input differs"
# So does a pipe (its kind is not peeked at: that would eat its first bytes).
"$TK" -q --vocab "$VOCAB" -o "$T/pipe.sqt" <(cat "$DATA/xquad.en.json")
cmp "$T/pipe.sqt" "$T/x.uncased.sqt" || fail "input from a pipe differs"

# The header records the input's and the vocabulary's sha256, casing,
# special ids and the version string.
"$SQ_BIN/sq-inspect" "$T/x.uncased.sqt" > "$T/x.jsonl"
head -1 "$T/x.jsonl" > "$T/head"
src=$(sha256sum "$DATA/xquad.en.json" | cut -c1-64)
voc=$(sha256sum "$VOCAB" | cut -c1-64)
for want in "\"source_sha256\":\"$src\"" "\"vocab_sha256\":\"$voc\"" '"vocab_size":30522' '"cased":false' \
            '"cls_id":101' '"sep_id":102' '"pad_id":0' '"unk_id":100' '"version":"1.1"' '"paragraphs":240' \
            '"questions":1190'; do
    grep -qF "$want" "$T/head" || fail "header lacks $want: $(cat "$T/head")"
done
"$SQ_BIN/sq-inspect" "$T/x.cased.sqt" > "$T/xc.jsonl"
head -1 "$T/xc.jsonl" | grep -qF '"cased":true' || fail "cased flag not recorded"

# sq-inspect: a paragraph line, then its questions, in file order.
sed -n 2p "$T/x.jsonl" | grep -Eq '^\{"type":"paragraph","index":0,"title":"Super_Bowl_50","ids":\[1996,12915,.*\],"offsets":\[\[0,3\],\[4,12\],.*\]\}$' ||
    fail "paragraph line: $(sed -n 2p "$T/x.jsonl" | cut -c1-200)"
sed -n 3p "$T/x.jsonl" | grep -Eq '^\{"type":"question","id":"56beb4343aeaaa14008c925b","paragraph":0,"ids":\[2129,2116,.*\],"answers":\[\{"text":"308","start":34\}\],"is_impossible":false\}$' ||
    fail "question line: $(sed -n 3p "$T/x.jsonl")"
[ "$(grep -c '"type":"paragraph"' "$T/x.jsonl")" = 240 ] || fail "paragraph lines"
[ "$(grep -c '"type":"question"' "$T/x.jsonl")" = 1190 ] || fail "question lines"
"$SQ_BIN/sq-inspect" --values "$T/x.uncased.sqt" > "$T/xv.jsonl"
sed -n 2p "$T/xv.jsonl" | grep -qF '"context":"The Panthers defense' || fail "--values has no context"

# Usage errors: exit 2.
expect_fail 2 'expected one INPUT.json' "$TK" --vocab "$VOCAB" -o "$T/o.sqt"
expect_fail 2 'vocab is required' "$TK" -o "$T/o.sqt" "$DATA/xquad.en.json"
expect_fail 2 'OUT.sqt is required' "$TK" --vocab "$VOCAB" "$DATA/xquad.en.json"
expect_fail 2 'threads: 0 is out of range' "$TK" --threads 0 --vocab "$VOCAB" -o "$T/o.sqt" "$DATA/xquad.en.json"
expect_fail 2 'threads' "$TK" --threads 2x --vocab "$VOCAB" -o "$T/o.sqt" "$DATA/xquad.en.json"
expect_fail 2 "unknown option '--vocab_file'; did you mean --vocab\\?" "$TK" --vocab_file "$VOCAB" -o "$T/o.sqt" "$DATA/xquad.en.json"
"$TK" --help | grep -q '^Usage: sq-tokenize' || fail "--help"
"$TK" --version | grep -q '^sq-tokenize ' || fail "--version"
"$TK" -V | grep -q '^sq-tokenize ' || fail "-V"

# Wrong files: named for what they are, before anything is written.
"$TK" -q --vocab "$VOCAB" -o "$T/x.sqt" "$DATA/xquad.en.json"
expect_fail 1 "sq-tokenize: error: .*/xquad.en.json is a SQuAD JSON dataset; --vocab wants a WordPiece vocabulary" \
    "$TK" --vocab "$DATA/xquad.en.json" -o "$T/o.sqt" "$DATA/xquad.en.json"
expect_fail 1 "sq-tokenize: error: .*/x.sqt is a tokens file from sq-tokenize; sq-tokenize wants a SQuAD JSON dataset" \
    "$TK" --vocab "$VOCAB" -o "$T/o.sqt" "$T/x.sqt"
expect_fail 1 "sq-tokenize: error: .*/x.sqt is a tokens file from sq-tokenize; --vocab wants" \
    "$TK" --vocab "$T/x.sqt" -o "$T/o.sqt" "$DATA/xquad.en.json"
printf '\x1f\x8b\x08\x00' >"$T/dev.json.gz"
expect_fail 1 "dev.json.gz is gzip-compressed; sq-tokenize wants a SQuAD JSON dataset \(decompress it first" \
    "$TK" --vocab "$VOCAB" -o "$T/o.sqt" "$T/dev.json.gz"
[ ! -e "$T/o.sqt" ] || fail "a refused run left its output"

# Input errors: exit 1, one line, no output file left behind.
run_bad() { # PATTERN JSON-TEXT
    printf '%b' "$2" > "$T/bad.json"
    expect_fail 1 "$1" "$TK" --vocab "$VOCAB" -o "$T/bad.sqt" "$T/bad.json"
    [ ! -e "$T/bad.sqt" ] || fail "an output was left after: $1"
}
run_bad 'bad.json:1:[0-9]+: ' '{"data": [ {"title": "x", "paragraphs": [}'
run_bad 'bad.json:3:[0-9]+: ' '{"data":\n[\n  nope]}'
run_bad 'bad.json:1:[0-9]+: .*(decode|UTF-8)' '{"data":[{"paragraphs":[{"context":"ab\xffc","qas":[]}]}]}'
run_bad 'bad.json:1:[0-9]+: .*(decode|UTF-8)' '{"data":[{"paragraphs":[{"context":"ab\xed\xa0\x80c","qas":[]}]}]}'
run_bad 'bad.json:1:[0-9]+: .*(Unicode|surrogate)' '{"data":[{"paragraphs":[{"context":"ab\\ud800c","qas":[]}]}]}'
run_bad 'bad.json:1:[0-9]+: .*duplicate' '{"data":[{"paragraphs":[{"context":"a","context":"b","qas":[]}]}]}'
run_bad 'bad.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]\.answer_start: expected an integer' \
    '{"version":"1.1","data":[{"title":"t","paragraphs":[{"context":"abc","qas":[{"id":"a","question":"q","answers":[{"text":"a","answer_start":"0"}]}]}]}]}'
run_bad 'bad.json: data\[1\]\.paragraphs\[0\]\.qas\[1\]\.answers\[0\]\.answer_start: expected an integer' \
    '{"data":[{"paragraphs":[]},{"paragraphs":[{"context":"abc","qas":[{"id":"a","question":"q","answers":[]},{"id":"b","question":"q","answers":[{"text":"a","answer_start":1.5}]}]}]}]}'
run_bad 'bad.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.answers\[0\]\.answer_start: out of range' \
    '{"data":[{"paragraphs":[{"context":"abc","qas":[{"id":"a","question":"q","answers":[{"text":"a","answer_start":-1}]}]}]}]}'
run_bad 'bad.json: data\[0\]\.paragraphs\[0\]\.context: missing' '{"data":[{"paragraphs":[{"qas":[]}]}]}'
run_bad 'bad.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.id: expected a string' \
    '{"data":[{"paragraphs":[{"context":"c","qas":[{"id":7,"question":"q"}]}]}]}'
run_bad 'bad.json: data\[0\]\.paragraphs\[0\]\.qas\[0\]\.is_impossible: expected true or false' \
    '{"data":[{"paragraphs":[{"context":"c","qas":[{"id":"x","question":"q","is_impossible":1}]}]}]}'
run_bad 'bad.json: data\[0\]\.title: expected a string' '{"data":[{"title":null,"paragraphs":[]}]}'
run_bad 'bad.json: data: missing' '{"version":"1.1"}'
run_bad 'bad.json: data: expected an array' '{"data":{}}'
run_bad 'bad.json: version: expected a string' '{"version":1.1,"data":[]}'
run_bad 'bad.json: expected a JSON object at the top' '[1,2]'
run_bad 'bad.json: data\[1\]\.paragraphs\[0\]\.qas\[0\]\.id: duplicate question id "a" \(first at data\[0\]\.paragraphs\[0\]\.qas\[0\]\)' \
    '{"data":[{"paragraphs":[{"context":"abc","qas":[{"id":"a","question":"q"}]}]},{"paragraphs":[{"context":"d","qas":[{"id":"a","question":"r"}]}]}]}'
expect_fail 1 'nonexistent' "$TK" --vocab "$T/nonexistent" -o "$T/o.sqt" "$DATA/xquad.en.json"
printf 'a\nb\n' > "$T/tiny-vocab.txt"
expect_fail 1 'no \[CLS\] token' "$TK" --vocab "$T/tiny-vocab.txt" -o "$T/o.sqt" "$DATA/xquad.en.json"
[ ! -e "$T/o.sqt" ] || fail "a failed start left its output"
[ -z "$(ls "$T" | grep '\.tmp-')" ] || fail "a failed run left a temporary file: $(ls "$T" | grep '\.tmp-')"

# U+0000 in a context or question is tokenized as HF does: BERT's normalizer
# drops it like any control character (so the ids and offsets are those of
# the same text with U+0001 there), offsets still count it (the answer
# "Paris" starts at code point 10, after the NUL), and the tokens file stores
# it as U+FFFD.
nul='{"version":"1.1","data":[{"title":"t","paragraphs":[{"context":"Capital\u0000: Paris\u0000.","qas":[{"id":"q","question":"Wh\u0000ich city?","answers":[{"text":"Paris","answer_start":10}]}]}]}]}'
printf '%s' "$nul" >"$T/nul.json"
printf '%s' "$nul" | sed 's/u0000/u0001/g' >"$T/ctl.json"
"$TK" -q --vocab "$VOCAB" -o "$T/nul.sqt" "$T/nul.json" 2>"$T/err" || fail "U+0000 refused: $(cat "$T/err")"
[ ! -s "$T/err" ] || fail "U+0000: the answer at its answer_start was not recognised: $(cat "$T/err")"
"$TK" -q --vocab "$VOCAB" -o "$T/ctl.sqt" "$T/ctl.json"
"$SQ_BIN/sq-inspect" "$T/nul.sqt" | tail -n +2 | sed 's/Paris/X/' >"$T/nul.jsonl"
"$SQ_BIN/sq-inspect" "$T/ctl.sqt" | tail -n +2 | sed 's/Paris/X/' >"$T/ctl.jsonl"
cmp -s "$T/nul.jsonl" "$T/ctl.jsonl" || fail "U+0000 and U+0001 tokenize differently: $(cat "$T/nul.jsonl")"
grep -qF '"ids":[3007,1024,3000,1012],"offsets":[[0,7],[8,9],[10,15],[16,17]]' "$T/nul.jsonl" ||
    fail "U+0000 context: $(cat "$T/nul.jsonl")"
"$SQ_BIN/sq-inspect" --values "$T/nul.sqt" | grep -qF '"context":"Capital'$'\xef\xbf\xbd'': Paris'$'\xef\xbf\xbd''."' ||
    fail "U+0000 not stored as U+FFFD: $("$SQ_BIN/sq-inspect" --values "$T/nul.sqt")"

# Misplaced answers: kept, counted, one warning line with the first ids.
printf '%s' '{"version":"2.0","data":[{"title":"T","paragraphs":[{"context":"abc def","qas":[
  {"id":"q1","question":"x","answers":[{"text":"def","answer_start":1}]},
  {"id":"q2","question":"y","answers":[{"text":"abc","answer_start":0}]},
  {"id":"q3","question":"z","answers":[{"text":"zzz","answer_start":99},{"text":"c","answer_start":2}]},
  {"id":"q4","question":"w","answers":[],"is_impossible":true}]}]}]}' > "$T/mis.json"
"$TK" -q --vocab "$VOCAB" -o "$T/mis.sqt" "$T/mis.json" 2> "$T/err"
[ "$(wc -l < "$T/err")" = 1 ] || fail "wanted one warning line: $(cat "$T/err")"
grep -Eq '^sq-tokenize: warning: .*mis.json: 2 answers whose text is not at answer_start .*: q1, q3$' "$T/err" ||
    fail "warning: $(cat "$T/err")"
"$SQ_BIN/sq-inspect" "$T/mis.sqt" > "$T/mis.jsonl"
grep -qF '"id":"q3","paragraph":0,"ids":[1062],"answers":[{"text":"zzz","start":99},{"text":"c","start":2}],"is_impossible":false}' "$T/mis.jsonl" ||
    fail "misplaced answers not kept: $(cat "$T/mis.jsonl")"
grep -qF '"id":"q4","paragraph":0,"ids":[1059],"answers":[],"is_impossible":true}' "$T/mis.jsonl" || fail "impossible question"
echo ok
