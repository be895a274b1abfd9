#!/usr/bin/env bash
# A real pretrained BERT, all-MiniLM-L6-v2 (scripts/get-model.sh minilm, fetched
# once into $SQ_MODEL_CACHE, default ~/.cache/sq/models):
# - sq-train predict, with the QA head of the fixture, gives on the first real
#   SQuAD v1.1 dev features of the bundled sample the logits HF transformers
#   computed in float64 (tests/train/make_minilm_ref.py): <= 1e-4 relative;
# - the same checkpoint renamed to the hub's naming (bert. prefix, LayerNorm
#   gamma/beta, pooler, cls.* heads; tests/train/helper_hub_copy), whole or in
#   3 shards, gives the same logits bit for bit, and says what it renamed and
#   ignored;
# - the model folder as fetched (BertModel names, no QA head) and its hub-named
#   copy fine-tune to the same bits, and the trained model predicts.
# Skipped, saying why, when the package index cannot be reached.
source "$(dirname "$0")/../lib.sh"
# Threads sleep rather than spin at OpenMP barriers: this machine is shared.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
build=${SQ_BUILD:-build}
[[ $build = /* ]] || build=$SQ_ROOT/$build
HUB=$build/tests/train/helper_hub_copy
[ -x "$HUB" ] || fail "$HUB is not built (make tests)"
FX=$SQ_ROOT/tests/train/fixtures/minilm/ref.safetensors
TR=$SQ_BIN/sq-train

rc=0
M=$("$SQ_ROOT/scripts/get-model.sh" minilm "${SQ_MODEL_CACHE:-$HOME/.cache/sq/models}/minilm" 2>"$T/get.err") || rc=$?
case $rc in
0) ;;
3) skip "all-MiniLM-L6-v2 cannot be fetched: $(cat "$T/get.err")" ;;
*) fail "scripts/get-model.sh minilm exited $rc: $(cat "$T/get.err")" ;;
esac

# The features: data/sample/xquad-dev.json holds SQuAD v1.1 dev questions and
# contexts verbatim; the first shard of 6 is what the reference was made on.
"$SQ_BIN/sq-tokenize" -q --vocab "$M" -o "$T/dev.sqt" "$DATA/sample/xquad-dev.json"
"$SQ_BIN/sq-pack" -q --shard-size 6 -o "$T/dev" "$T/dev.sqt"
feat=$T/dev/shard-00000.sqf
"$SQ_BIN/sq-inspect" -v "$feat" >"$T/feat.jsonl"
"$SQ_BIN/sq-inspect" -v "$FX" >"$T/ref.jsonl"
# values NAME FILE: a tensor's values from sq-inspect lines, one a line.
values() { grep "\"name\":\"$1\"" "$2" | sed 's/.*"values":\[\(.*\)\].*/\1/' | tr , '\n'; }
awk -v S=384 'NR == FNR { want[NR - 1] = $1; next }
    /"type":"feature"/ {
        match($0, /"input_ids":\[[^]]*\]/); n = split(substr($0, RSTART + 13, RLENGTH - 14), ids, ",")
        for (t = 0; t < S; t++) if ((t < n ? ids[t + 1] : 0) != want[f * S + t]) { print "feature " f " token " t; exit 1 }
        f++
    }
    END { if (f != 6) { print f " features"; exit 1 } }' <(values input_ids "$T/ref.jsonl") "$T/feat.jsonl" ||
    fail "sq's features are not the ones the reference was made on"

# worst_relerr A.jsonl B.jsonl: the worst relative L2 error of B's logits
# against A's over the features (rows), after checking that the -inf past each
# length are where A has them.
worst_relerr() {
    local k
    for k in start_logits end_logits; do paste <(values $k "$1") <(values $k "$2"); done |
        awk -v S=384 '{
            r = int((NR - 1) / S)
            if (($1 == "\"-Infinity\"") != ($2 == "\"-Infinity\"")) { print "inf mismatch at " NR; bad = 1; exit }
            if ($1 != "\"-Infinity\"") { d[r] += ($1 - $2) ^ 2; s[r] += $1 * $1 }
        }
        END { if (bad) exit 1; w = 0; for (r in d) if (sqrt(d[r] / s[r]) > w) w = sqrt(d[r] / s[r]); printf "%.3g\n", w }'
}

# BertForQuestionAnswering's naming, with the fixture's head.
"$HUB" --head "$FX" "$M/model.safetensors" "$T/qa"
cp "$M/config.json" "$T/qa/"
"$TR" predict --init "$T/qa" --data "$feat" -o "$T/qa.safetensors" 2>"$T/qa.err"
grep -qx 'sq-train: .*/qa: 103 tensors (F32); ignored 3: bert.embeddings.position_ids, bert.pooler.\* (2)' "$T/qa.err" ||
    fail "BertForQuestionAnswering names: $(cat "$T/qa.err")"
"$SQ_BIN/sq-inspect" -v "$T/qa.safetensors" >"$T/qa.jsonl"
err=$(worst_relerr "$T/ref.jsonl" "$T/qa.jsonl") || fail "logits: $err"
echo "MiniLM logits vs transformers (float64): worst relative error $err"
awk -v e="$err" 'BEGIN { exit !(e <= 1e-4) }' || fail "logits differ from transformers' by $err (> 1e-4)"

# The hub's naming, whole and in 3 shards: the same bits, and one line saying
# so (before predict's summary line).
"$HUB" --head "$FX" --legacy --pretraining "$M/model.safetensors" "$T/hub"
"$HUB" --head "$FX" --legacy --pretraining --shards 3 "$M/model.safetensors" "$T/shards"
cp "$M/config.json" "$T/hub/"
cp "$M/config.json" "$T/shards/"
for d in hub shards; do
    "$TR" predict --init "$T/$d" --data "$feat" -o "$T/$d.safetensors" 2>"$T/$d.err"
    cmp "$T/$d.safetensors" "$T/qa.safetensors" || fail "$d naming: logits differ from BertForQuestionAnswering's"
    [ "$(grep -vc '^sq-train: wrote ' "$T/$d.err")" = 1 ] || fail "$d: wanted one line, got: $(cat "$T/$d.err")"
    grep -q '103 tensors (F32).*LayerNorm gamma/beta read as weight/bias (26); ignored 10: bert.embeddings.position_ids, bert.pooler.\* (2), cls.\* (7)$' \
        "$T/$d.err" || fail "$d: $(cat "$T/$d.err")"
done
grep -q 'from 3 shards' "$T/shards.err" || fail "shards: $(cat "$T/shards.err")"

# Fine-tuning: the folder as fetched and its hub-named copy (no QA head: HF's
# init from the seed) train to the same bits; the result predicts.
"$HUB" --legacy --pretraining "$M/model.safetensors" "$T/hubnohead"
cp "$M/config.json" "$T/hubnohead/"
for d in "$M" "$T/hubnohead"; do
    run=$T/run-$(basename "$d")
    "$TR" --init "$d" --data "$T/dev" --max-steps 2 --batch-size 3 --lr 3e-5 --threads 2 --log-every 1 -o "$run" \
        2>"$run.err" || fail "training from $d: $(cat "$run.err")"
    grep -q 'no qa_outputs; initialised as HF does' "$run.err" || fail "$d: $(head -n1 "$run.err")"
done
grep -q 'names without "bert." (101, BertModel); ignored 3: embeddings.position_ids, pooler.\* (2)' \
    "$T/run-minilm.err" || fail "BertModel folder: $(head -n1 "$T/run-minilm.err")"
cmp "$T/run-minilm/model.safetensors" "$T/run-hubnohead/model.safetensors" ||
    fail "the hub-named copy trained to other bits than the folder as fetched"
"$TR" predict --init "$T/run-minilm" --data "$feat" -o "$T/trained.safetensors"
"$SQ_BIN/sq-inspect" -v "$T/trained.safetensors" >"$T/trained.jsonl"
err=$(worst_relerr "$T/qa.jsonl" "$T/trained.jsonl") || fail "trained model's logits: $err"
awk -v e="$err" 'BEGIN { exit !(e > 0 && e < 1e6) }' || fail "trained model's logits: $err from the untrained head's"
echo ok
