#!/usr/bin/env bash
# sq-inspect on the committed fixture (written by the Python safetensors
# package, see fixtures/make_small.py), on damaged files and with bad usage.
source "$(dirname "$0")/../lib.sh"
I=$SQ_BIN/sq-inspect
F=$SQ_ROOT/tests/inspect/fixtures

# --help, --version, usage errors
"$I" --help | grep -q '^Usage: sq-inspect' || fail "--help"
"$I" --version | grep -Eq '^sq-inspect [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+' || fail "--version"
"$I" -V | grep -Eq '^sq-inspect [0-9]' || fail "-V"
"$I" --help | grep -q '^Exit status: 0 on success' || fail "--help has no exit statuses"
expect_fail 2 "sq-inspect: error: unknown option '--valeus'; did you mean --values\\?" "$I" --valeus "$F/small.safetensors"
expect_fail 2 'sq-inspect: error: missing FILE' "$I"
expect_fail 2 "sq-inspect: error: unknown option '--bogus'" "$I" --bogus "$F/small.safetensors"
expect_fail 2 "sq-inspect: error: option '-o' needs a value" "$I" "$F/small.safetensors" -o
expect_fail 2 'sq-inspect: error: one FILE\|DIR at a time' "$I" "$F/small.safetensors" "$F/small.safetensors"

# The fixture, without and with values, to stdout and through -o.
"$I" "$F/small.safetensors" >"$T/out" || fail "inspect fixture"
cmp -s "$T/out" "$F/small.jsonl" || fail "output differs from small.jsonl: $(diff "$T/out" "$F/small.jsonl")"
"$I" --values "$F/small.safetensors" >"$T/out" || fail "inspect --values"
cmp -s "$T/out" "$F/small.values.jsonl" || fail "--values differs: $(diff "$T/out" "$F/small.values.jsonl")"
"$I" -v -o "$T/o.jsonl" "$F/small.safetensors" && cmp -s "$T/o.jsonl" "$F/small.values.jsonl" || fail "-o FILE"
"$I" -o - "$F/small.safetensors" | cmp -s - "$F/small.jsonl" || fail "-o -"
[ -z "$(ls "$T" | grep '\.tmp-')" ] || fail "temporary files left in $T"

# Damaged and unknown inputs: one line, exit 1, nothing on stdout, no output file.
cp "$F/small.safetensors" "$T/s.safetensors"
size=$(stat -c %s "$T/s.safetensors")
head -c 5 "$T/s.safetensors" >"$T/short"
expect_fail 1 'sq-inspect: error: .*/short: truncated: 5 bytes' "$I" "$T/short"
head -c $((size - 1)) "$T/s.safetensors" >"$T/cut"
expect_fail 1 "sq-inspect: error: .*/cut: 1 bytes after the last tensor's data|run past the data section" "$I" "$T/cut"
head -c 100 "$T/s.safetensors" >"$T/cut100"
expect_fail 1 'sq-inspect: error: .*/cut100: header length [0-9]+ runs past the end of the file \(100 bytes\)' \
    "$I" "$T/cut100"
sed 's/"F16"/"F64"/' "$T/s.safetensors" >"$T/f64"
expect_fail 1 "sq-inspect: error: .*/f64: tensor 'half': dtype 'F64' is not supported" "$I" "$T/f64"
sed 's/"shape":\[3\]/"shape":[4]/' "$T/s.safetensors" >"$T/shape"
expect_fail 1 "sq-inspect: error: .*/shape: tensor 'big': data_offsets \[0, 24\] hold 24 bytes, but I64 \[4\] needs 32" \
    "$I" "$T/shape"
sed 's/"__metadata__":{/"__metadata__":[/' "$T/s.safetensors" >"$T/json"
expect_fail 1 'sq-inspect: error: .*/json: header is not valid JSON' "$I" "$T/json"
expect_fail 1 'sq-inspect: error: .*/json: header is not valid JSON' "$I" -o "$T/never.jsonl" "$T/json"
[ ! -e "$T/never.jsonl" ] || fail "output written for a damaged input"
: >"$T/empty"
expect_fail 1 'sq-inspect: error: .*/empty: truncated: 0 bytes' "$I" "$T/empty"
expect_fail 1 'sq-inspect: error: .*/Makefile is a text file; sq-inspect wants an sq file' "$I" "$SQ_ROOT/Makefile"
expect_fail 1 'sq-inspect: error: .*/xquad.en.json is a SQuAD JSON dataset; sq-inspect wants an sq file' "$I" "$DATA/xquad.en.json"
expect_fail 1 'sq-inspect: error: .*/vocab.txt is a WordPiece vocabulary' "$I" "$VOCAB"
expect_fail 1 'sq-inspect: error: .*/nope: No such file or directory' "$I" "$T/nope"
mkdir "$T/dir"
expect_fail 1 'sq-inspect: error: .*/dir is a folder sq does not know; sq-inspect wants an sq file' "$I" "$T/dir"
expect_fail 1 'sq-inspect: error: .*/no/such/out.jsonl' "$I" -o "$T/no/such/out.jsonl" "$F/small.safetensors"
# Files with an sq container magic but garbage behind it go to their printers, which refuse them.
printf 'SQTOKENS garbage' >"$T/bad.sqt"
expect_fail 1 'sq-inspect: error: .*/bad.sqt: ' "$I" "$T/bad.sqt"
printf 'SQFEATUR garbage' >"$T/bad.shard"
expect_fail 1 'sq-inspect: error: .*/bad.shard: ' "$I" "$T/bad.shard"
echo "ok"
