#!/usr/bin/env bash
# sq-pack as a tool: usage errors, "up to date" reuse, refusing to replace
# what it did not build, --force, runs killed half-way, damaged shards, and
# feature directories read through sq-inspect by shard.
source "$(dirname "$0")/../lib.sh"
TOK=$SQ_BIN/sq-tokenize PACK=$SQ_BIN/sq-pack INS=$SQ_BIN/sq-inspect
F=$SQ_ROOT/tests/pack/fixtures
"$TOK" -q --vocab "$VOCAB" -o "$T/x.sqt" "$DATA/xquad.en.json" || fail "sq-tokenize xquad"
"$TOK" -q --vocab "$VOCAB" -o "$T/s.sqt" "$F/synth.json" || fail "sq-tokenize synth"
zstd -qdc "$F/xquad.384-128-64.jsonl.zst" >"$T/want.jsonl"
# The feature lines sq-inspect -v prints (after the summary lines).
feats() { "$INS" -v "$1" | grep '^{"type":"feature",'; }

# --help, --version, bad usage (exit 2) and bad input (exit 1).
"$PACK" --help | grep -q '^Usage: sq-pack' || fail "--help"
"$PACK" --version | grep -Eq '^sq-pack [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+' || fail "--version"
expect_fail 2 'sq-pack: error: missing INPUT.sqt' "$PACK" -o "$T/o"
expect_fail 2 'sq-pack: error: missing -o OUTDIR' "$PACK" "$T/x.sqt"
expect_fail 2 'sq-pack: error: one INPUT.sqt at a time' "$PACK" -o "$T/o" "$T/x.sqt" "$T/x.sqt"
expect_fail 2 "sq-pack: error: unknown option '--bogus'" "$PACK" --bogus -o "$T/o" "$T/x.sqt"
expect_fail 2 "sq-pack: error: --max-seq: 'abc' is not an integer" "$PACK" --max-seq abc -o "$T/o" "$T/x.sqt"
expect_fail 2 'sq-pack: error: --shard-size: 0 is out of range' "$PACK" --shard-size 0 -o "$T/o" "$T/x.sqt"
expect_fail 2 'sq-pack: error: --max-seq 67, --doc-stride 0, --max-query 64: --max-seq must exceed --max-query \+ 3' \
    "$PACK" --max-seq 67 --doc-stride 0 --max-query 64 -o "$T/o" "$T/x.sqt"
expect_fail 2 'sq-pack: error: --max-seq 64, --doc-stride 16, --max-query 45: --doc-stride must be below' \
    "$PACK" --max-seq 64 --doc-stride 16 --max-query 45 -o "$T/o" "$T/x.sqt"
"$PACK" -q --max-seq 68 --doc-stride 0 --max-query 64 -o "$T/edge" "$T/x.sqt" || fail "--max-seq 68 --max-query 64 is possible"
expect_fail 2 "sq-pack: error: unknown option '--max_seq_length'; did you mean --max-seq\\?" \
    "$PACK" --max_seq_length 64 -o "$T/o" "$T/x.sqt"
expect_fail 2 "sq-pack: error: option '--max' is ambiguous \(--max-seq, --max-query\)" "$PACK" --max 64 -o "$T/o" "$T/x.sqt"
expect_fail 2 "sq-pack: error: option '--quiet' takes no value" "$PACK" --quiet=1 -o "$T/o" "$T/x.sqt"
"$PACK" -V | grep -Eq '^sq-pack [0-9]' || fail "-V"
# Wrong inputs are named, with the tool that makes the right one; none leaves OUTDIR.
expect_fail 1 'sq-pack: error: .*/nope.sqt: No such file' "$PACK" -o "$T/o" "$T/nope.sqt"
expect_fail 1 'sq-pack: error: .*/xquad.en.json is a SQuAD JSON dataset; sq-pack wants a tokens file from sq-tokenize \(run sq-tokenize first\)$' \
    "$PACK" -o "$T/o" "$DATA/xquad.en.json"
expect_fail 1 'sq-pack: error: .*/vocab.txt is a WordPiece vocabulary \(vocab.txt\); sq-pack wants a tokens file' \
    "$PACK" -o "$T/o" "$VOCAB"
"$PACK" -q -o "$T/feat" "$T/x.sqt"
expect_fail 1 'sq-pack: error: .*/feat is a feature folder from sq-pack; sq-pack wants a tokens file' "$PACK" -o "$T/o" "$T/feat"
expect_fail 1 'sq-pack: error: .*/shard-00000.sqf is a feature shard' "$PACK" -o "$T/o" "$T/feat/shard-00000.sqf"
: >"$T/empty.sqt"
expect_fail 1 'sq-pack: error: .*/empty.sqt is empty; sq-pack wants a tokens file' "$PACK" -o "$T/o" "$T/empty.sqt"
head -c 100 "$T/x.sqt" >"$T/cut.sqt"
expect_fail 1 'sq-pack: error: .*/cut.sqt: ' "$PACK" -o "$T/o" "$T/cut.sqt"
[ ! -e "$T/o" ] || fail "a failed run left OUTDIR"
[ -z "$(ls -d "$T"/o.tmp-* 2>/dev/null)" ] || fail "a failed run left a temporary OUTDIR"

# --max-seq alone: --max-query and --doc-stride follow it (min(64, 64/2) = 32;
# the room 64 - 32 - 3 = 29 cannot take a stride of 128: half of it).
"$PACK" -q --max-seq 64 -o "$T/s64" "$T/x.sqt" || fail "--max-seq 64 alone"
grep -q '"max_query": 32' "$T/s64/manifest.json" && grep -q '"doc_stride": 14' "$T/s64/manifest.json" ||
    fail "defaults for --max-seq 64: $(cat "$T/s64/manifest.json")"

# Build, then "up to date": exit 0, nothing rewritten, well under a second.
"$PACK" -o "$T/f" "$T/x.sqt" 2>"$T/err" || fail "sq-pack: $(cat "$T/err")"
feats "$T/f" | cmp -s - "$T/want.jsonl" || fail "xquad features differ from the reference"
snap() { (cd "$1" && stat -c '%n %i %s %Y' * | sort); }
snap "$T/f" >"$T/before"
t0=$(date +%s%N)
"$PACK" -o "$T/f" "$T/x.sqt" 2>"$T/err" || fail "second run: $(cat "$T/err")"
dt=$((($(date +%s%N) - t0) / 1000000))
grep -q "is up to date" "$T/err" || fail "no 'up to date': $(cat "$T/err")"
snap "$T/f" | cmp -s - "$T/before" || fail "an up-to-date OUTDIR was rewritten"
[ "$dt" -lt 1000 ] || fail "up-to-date check took ${dt} ms"
cp "$T/x.sqt" "$T/copy.sqt"
"$PACK" -q -o "$T/f" "$T/copy.sqt" || fail "same content under another name"
snap "$T/f" | cmp -s - "$T/before" || fail "the same input under another name rebuilt OUTDIR"

# Other options or input: an error naming the difference, unless --force.
expect_fail 1 "sq-pack: error: .*/f: holds features built with --max-seq 384 \(this run: 256\); use --force" \
    "$PACK" --max-seq 256 -o "$T/f" "$T/x.sqt"
expect_fail 1 'holds features built with --doc-stride 128 \(this run: 100\)' "$PACK" --doc-stride 100 -o "$T/f" "$T/x.sqt"
expect_fail 1 'holds features built with --max-query 64 \(this run: 32\)' "$PACK" --max-query 32 -o "$T/f" "$T/x.sqt"
expect_fail 1 'holds features built with --shard-size 8192 \(this run: 100\)' "$PACK" --shard-size 100 -o "$T/f" "$T/x.sqt"
expect_fail 1 'holds features built with another input \(sha256 [0-9a-f]{16}\.\.\., this run.s [0-9a-f]{16}' \
    "$PACK" -o "$T/f" "$T/s.sqt"
snap "$T/f" | cmp -s - "$T/before" || fail "a refused run touched OUTDIR"
"$PACK" -q --force --shard-size 100 -o "$T/f" "$T/x.sqt" || fail "--force"
grep -q '"shard_size": 100' "$T/f/manifest.json" || fail "--force did not replace OUTDIR"
[ "$(ls "$T/f" | grep -c '^shard-')" = 13 ] || fail "1219 features in shards of 100 are 13 shards"
feats "$T/f" | cmp -s - "$T/want.jsonl" || fail "features differ with shards of 100"
snap "$T/f" >"$T/before"
"$PACK" -q --force --shard-size 100 -o "$T/f" "$T/x.sqt" || fail "--force when up to date"
snap "$T/f" | cmp -s - "$T/before" && fail "--force did not rebuild an up-to-date OUTDIR"
feats "$T/f" | cmp -s - "$T/want.jsonl" || fail "the output is not deterministic"
OMP_NUM_THREADS=1 "$PACK" -q --shard-size 100 -o "$T/f1" "$T/x.sqt" || fail "one thread"
cmp -s "$T/f/manifest.json" "$T/f1/manifest.json" || fail "one thread wrote other bytes than two"

# One shard: its features with their directory-wide index; alone, no ids.
sed -n '101,200p' "$T/want.jsonl" >"$T/want1"
feats "$T/f/shard-00001.sqf" | cmp -s - "$T/want1" || fail "inspect of one shard"
mkdir "$T/lone" && cp "$T/f/shard-00001.sqf" "$T/lone/"
feats "$T/lone/shard-00001.sqf" >"$T/lone.jsonl" || fail "inspect of a lone shard"
sed 's/"example":"[^"]*"/"example":null/' "$T/want1" | cmp -s - "$T/lone.jsonl" || fail "lone shard output"

# Never replace what sq-pack did not build, even with --force.
echo hi >"$T/file"
expect_fail 1 'sq-pack: error: .*/file: exists and is not a directory' "$PACK" --force -o "$T/file" "$T/x.sqt"
mkdir "$T/mine" && echo data >"$T/mine/notes"
expect_fail 1 'sq-pack: error: .*/mine: exists and is not a feature directory \(no manifest.json\)' \
    "$PACK" --force -o "$T/mine" "$T/x.sqt"
[ "$(cat "$T/mine/notes")" = data ] || fail "a foreign directory was touched"
mkdir "$T/empty"
"$PACK" -q -o "$T/empty" "$T/x.sqt" && [ -f "$T/empty/manifest.json" ] || fail "an empty OUTDIR is filled"

# Damage: a flipped byte in a shard's frame is named with file and offset;
# sq-pack rebuilds a damaged OUTDIR instead of calling it up to date.
"$PACK" -q -o "$T/d" "$T/x.sqt" || fail "sq-pack d"
printf '\xff' | dd of="$T/d/shard-00000.sqf" bs=1 seek=1000 conv=notrunc status=none
expect_fail 1 'sq-inspect: error: .*/d/shard-00000.sqf: frame 0 at offset 80: checksum mismatch' "$INS" "$T/d"
"$PACK" -o "$T/d" "$T/x.sqt" 2>"$T/err" || fail "rebuild of a damaged OUTDIR: $(cat "$T/err")"
grep -q 'cannot be reused (.*shard-00000.sqf: size or sha256 does not match manifest.json); rebuilding' "$T/err" ||
    fail "damaged OUTDIR message: $(cat "$T/err")"
feats "$T/d" | cmp -s - "$T/want.jsonl" || fail "rebuilt OUTDIR differs"
size=$(stat -c %s "$T/d/shard-00000.sqf")
head -c $((size - 7)) "$T/d/shard-00000.sqf" >"$T/cut" && mv "$T/cut" "$T/d/shard-00000.sqf"
expect_fail 1 'sq-inspect: error: .*/d/shard-00000.sqf: index' "$INS" "$T/d"
rm "$T/d/shard-00000.sqf"
expect_fail 1 'sq-inspect: error: .*/d/shard-00000.sqf: No such file' "$INS" "$T/d"
"$PACK" -q -o "$T/d" "$T/x.sqt" && feats "$T/d" | cmp -s - "$T/want.jsonl" || fail "rebuild after a lost shard"
cp "$T/f/shard-00000.sqf" "$T/d/shard-00000.sqf"
expect_fail 1 'sq-inspect: error: .*/d/shard-00000.sqf: .*manifest.json' "$INS" "$T/d"
echo '{"format":"sq-features","version":9}' >"$T/d/manifest.json"
expect_fail 1 'sq-inspect: error: .*/d/manifest.json: feature format version 9; this sq reads version 1' "$INS" "$T/d"

# A run killed half-way (here by the file size limit, SIGXFSZ, while it
# writes a shard) leaves the previous OUTDIR as it was.
"$PACK" -q -o "$T/k" "$T/x.sqt" || fail "sq-pack k"
rc=0
{ (ulimit -f 16 && exec "$PACK" -q --force --max-seq 128 --doc-stride 32 -o "$T/k" "$T/x.sqt") || rc=$?; } 2>/dev/null
[ "$rc" -gt 128 ] || fail "the size-limited run was not killed (exit $rc)"
feats "$T/k" | cmp -s - "$T/want.jsonl" || fail "a killed run damaged the previous OUTDIR"
ls -d "$T"/k.tmp-* >/dev/null 2>&1 || fail "expected the killed run's temporary directory"
"$PACK" -q --force --max-seq 128 --doc-stride 32 -o "$T/k" "$T/x.sqt" || fail "a run after a killed one"
feats "$T/k" | cmp -s - <(zstd -qdc "$F/xquad.128-32-64.jsonl.zst") || fail "128/32 after a killed run"
"$PACK" -q --force -o "$T/k" "$T/x.sqt" || fail "sq-pack k at 384"
for i in 1 2 3 4 5; do
    "$PACK" -q --force -o "$T/k" "$T/x.sqt" &
    pid=$!
    sleep "0.00$i"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    # Killed between sq_dir_commit's two renames, the old one waits aside.
    if [ -e "$T/k" ]; then
        feats "$T/k" | cmp -s - "$T/want.jsonl" || fail "OUTDIR damaged by kill -9 ($i)"
    else
        ls -d "$T"/k.old-* >/dev/null || fail "kill -9 ($i) lost OUTDIR"
        mv "$T"/k.old-* "$T/k"
    fi
done
echo "ok"
