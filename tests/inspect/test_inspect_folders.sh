#!/usr/bin/env bash
# sq-inspect on folders and the files in them: a feature folder's summary
# (every feature only with -v), one shard, the example table examples.sqf,
# an sq-train run folder and a checkpoint folder (settings, progress,
# checkpoints, files), and a model's config printed as JSON, not as an
# escaped string.
source "$(dirname "$0")/../lib.sh"
command -v jq >/dev/null || skip "needs jq"
I=$SQ_BIN/sq-inspect
source "$SQ_ROOT/tests/train/synthetic.sh"

# A feature folder of 3 shards.
"$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/x.sqt" "$DATA/xquad.en.json"
"$SQ_BIN/sq-pack" -q --shard-size 500 -o "$T/f" "$T/x.sqt"
"$I" "$T/f" >"$T/sum.jsonl" || fail "sq-inspect FEATDIR"
[ "$(wc -l <"$T/sum.jsonl")" = 4 ] || fail "wanted a summary and 3 shard lines: $(cut -c1-200 "$T/sum.jsonl")"
grep -q '"type":"feature"' "$T/sum.jsonl" && fail "features printed without -v"
head -1 "$T/sum.jsonl" | jq -e '.type == "features" and .features == 1219 and .examples == 1190 and
    .paragraphs == 240 and .max_seq == 384 and .doc_stride == 128 and .max_query == 64 and .shards == 3 and
    .shard_size == 500 and (.input_sha256 | length) == 64' >/dev/null || fail "summary: $(head -1 "$T/sum.jsonl")"
sed -n 3p "$T/sum.jsonl" | jq -e '. == {"type":"shard","file":"shard-00001.sqf","first":500,"features":500,
    "bytes": .bytes} and .bytes > 0' >/dev/null || fail "shard line: $(sed -n 3p "$T/sum.jsonl")"
"$I" -v "$T/f" >"$T/all.jsonl"
head -4 "$T/all.jsonl" | cmp -s - "$T/sum.jsonl" || fail "-v does not start with the summary"
[ "$(grep -c '^{"type":"feature",' "$T/all.jsonl")" = 1219 ] || fail "-v does not print every feature"

# One shard: the folder's summary, its own shard line; its features with -v.
"$I" "$T/f/shard-00001.sqf" >"$T/one.jsonl" || fail "sq-inspect a shard"
[ "$(wc -l <"$T/one.jsonl")" = 2 ] && sed -n 2p "$T/one.jsonl" | grep -q '"file":"shard-00001.sqf","first":500' ||
    fail "one shard: $(cut -c1-200 "$T/one.jsonl")"
[ "$("$I" -v "$T/f/shard-00001.sqf" | grep -c '^{"type":"feature",')" = 500 ] || fail "one shard -v"

# examples.sqf is listed in manifest.json as the example table: its count, the ids with -v.
[ "$("$I" "$T/f/examples.sqf")" = '{"type":"examples","examples":1190}' ] ||
    fail "examples.sqf: $("$I" "$T/f/examples.sqf" 2>&1)"
"$I" -v "$T/f/examples.sqf" >"$T/ex.jsonl" || fail "examples.sqf -v"
[ "$(wc -l <"$T/ex.jsonl")" = 1191 ] || fail "examples -v: $(wc -l <"$T/ex.jsonl") lines"
[ "$(sed -n 2p "$T/ex.jsonl")" = '{"type":"example","index":0,"id":"56beb4343aeaaa14008c925b"}' ] ||
    fail "first example: $(sed -n 2p "$T/ex.jsonl")"
# The ids are those the features name.
jq -r 'select(.type == "example") | .id' "$T/ex.jsonl" | sort -u >"$T/ids.ex"
jq -r 'select(.type == "feature") | .example' "$T/all.jsonl" | sort -u >"$T/ids.feat"
cmp -s "$T/ids.ex" "$T/ids.feat" || fail "examples.sqf ids differ from the features' examples"
cp "$T/f/examples.sqf" "$T/ex-damaged.sqf"
printf '\xff' | dd of="$T/ex-damaged.sqf" bs=1 seek=90 conv=notrunc status=none
expect_fail 1 'sq-inspect: error: .*/ex-damaged.sqf: frame 0 at offset 80: checksum mismatch' "$I" "$T/ex-damaged.sqf"

# A run folder: checkpoints every 2 steps of 6 (the newest two kept), evaluations, the files.
synthetic_features syn 20 1
tiny_config "$T/cfg.json"
"$SQ_BIN/sq-train" --data "$T/syn" --config "$T/cfg.json" --max-steps 6 --batch-size 8 --lr 1e-3 \
    --checkpoint-every 2 --log-every 1 --eval-data "$T/syn" --eval-dataset "$T/syn.json" -q --device cpu \
    --threads 1 -o "$T/run" 2>"$T/train.err" || fail "sq-train: $(cat "$T/train.err")"
"$I" "$T/run" >"$T/run.jsonl" 2>"$T/err" || fail "sq-inspect RUNDIR: $(cat "$T/err")"
run=$(head -1 "$T/run.jsonl")
last=$(jq -c 'select(has("loss"))' "$T/run/metrics.jsonl" | tail -1)
jq -e -n --argjson r "$run" --argjson l "$last" --slurpfile s "$T/run/run.json" '
    $r.type == "run" and $r.settings == $s[0] and $r.steps == $l.step and $r.loss == $l.loss
    and ($r.evals | length) >= 1 and ($r.evals[-1].f1 | type) == "number"
    and $r.checkpoints == $ck' --argjson ck "$(ls "$T/run/checkpoints" | jq -R . | jq -sc .)" >/dev/null ||
    fail "run line: $run; checkpoints: $(ls "$T/run/checkpoints")"
cn=$(ls "$T/run/checkpoints" | tail -1)
[ "$(ls "$T/run/checkpoints" | wc -l)" = 2 ] && [[ $cn == step-0000000[46] ]] || fail "checkpoints: $(ls "$T/run/checkpoints")"
ckpt=$(grep "\"type\":\"checkpoint\",\"name\":\"$cn\"" "$T/run.jsonl") || fail "no checkpoint line: $(cat "$T/run.jsonl")"
jq -e -n --argjson c "$ckpt" --slurpfile st "$T/run/checkpoints/$cn/state.json" '
    $c.state == $st[0] and $c.state.step == ($cn[5:] | tonumber) and $c.tensors == 39 and $c.parameters > 1000000
    and $c.config.hidden_size == 32 and ([$c.files[].name] == ["model.safetensors", "optimizer.safetensors", "state.json"])' \
    --arg cn "$cn" >/dev/null || fail "checkpoint line: $ckpt"
for f in config.json metrics.jsonl model.safetensors run.json; do
    grep -q "^{\"type\":\"file\",\"name\":\"$f\",\"bytes\":$(stat -c %s "$T/run/$f")}$" "$T/run.jsonl" ||
        fail "no file line for $f: $(cat "$T/run.jsonl")"
done
grep -q '^{"type":"file","name":"checkpoints","folder":true}$' "$T/run.jsonl" || fail "no line for checkpoints/"
grep -q '"type":"metrics"' "$T/run.jsonl" && fail "metrics lines without -v"
"$I" -v "$T/run" | grep '^{"type":"metrics",' | sed 's/"type":"metrics",//' | jq -c . >"$T/m1"
jq -c . "$T/run/metrics.jsonl" >"$T/m2"
cmp -s "$T/m1" "$T/m2" || fail "-v metrics lines differ from metrics.jsonl"

# A checkpoint folder alone: the same line; -v adds the model's tensors.
"$I" "$T/run/checkpoints/$cn" >"$T/ck.jsonl" || fail "sq-inspect a checkpoint folder"
[ "$(cat "$T/ck.jsonl")" = "$ckpt" ] || fail "checkpoint folder: $(cat "$T/ck.jsonl")"
[ "$("$I" -v "$T/run/checkpoints/$cn" | grep -c '^{"type":"tensor",')" = 39 ] || fail "checkpoint -v"

# The config in a model's metadata prints as JSON.
"$I" "$T/run/model.safetensors" >"$T/model.jsonl"
head -1 "$T/model.jsonl" | jq -e '.type == "metadata" and .metadata.format == "pt"
    and .metadata.config.num_hidden_layers == 2 and .metadata.config.model_type == "bert"' >/dev/null ||
    fail "metadata: $(head -1 "$T/model.jsonl" | cut -c1-300)"

# A damaged run folder: one error line, nothing printed.
cp "$T/run/metrics.jsonl" "$T/metrics.good"
echo '{"step": 1, "loss": ' >>"$T/run/metrics.jsonl"
expect_fail 1 'sq-inspect: error: .*/run/metrics.jsonl: line [0-9]+ is not a JSON object' "$I" "$T/run"
cp "$T/metrics.good" "$T/run/metrics.jsonl"
echo '{"tool": "sq-train",' >"$T/run/run.json"
expect_fail 1 'sq-inspect: error: .*/run/run.json' "$I" "$T/run"
echo ok
