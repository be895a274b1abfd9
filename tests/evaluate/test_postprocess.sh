#!/usr/bin/env bash
# sq-eval --features --logits against HF's postprocess_qa_predictions: the
# committed fixtures (make_pp_fixtures.py, hf_postprocess.py) hold logits and
# HF's output files for v1.1 and v2.0 datasets and several option sets.
# predictions.json and null_odds.json must be byte-identical; in
# nbest_predictions.json texts, logits and key order must be identical and the
# probabilities equal to 1e-6 (numpy's float32 exp is its own SIMD code, not
# libm's: the last bit may differ).  Then the errors: logits of the wrong
# shape, features of another dataset.
source "$(dirname "$0")/../lib.sh"
F=$SQ_ROOT/tests/evaluate/fixtures
command -v jq >/dev/null || skip "needs jq"

for v in v1 v2; do
    "$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/$v.sqt" "$F/pp_${v}_data.json"
    "$SQ_BIN/sq-pack" -q --max-seq 128 --doc-stride 48 --max-query 32 -o "$T/$v.feat" "$T/$v.sqt"
done

same_nbest() { # got want
    jq -e -n --slurpfile a "$1" --slurpfile b "$2" '
        def close(x; y): ((x - y) | fabs) <= 1e-6 * ([(x | fabs), (y | fabs), 1e-30] | max);
        ($a[0] | to_entries) as $x | ($b[0] | to_entries) as $y
        | ($x | length) == ($y | length)
          and all(range($x | length); . as $i
              | $x[$i].key == $y[$i].key and ($x[$i].value | length) == ($y[$i].value | length)
                and all(range($x[$i].value | length); . as $j
                    | $x[$i].value[$j] as $p | $y[$i].value[$j] as $q
                    | ($p | keys_unsorted) == ($q | keys_unsorted) and $p.text == $q.text
                      and $p.start_logit == $q.start_logit and $p.end_logit == $q.end_logit
                      and close($p.probability; $q.probability)))' >/dev/null
}

run_case() { # name dataset options...
    local name=$1 v=$2
    shift 2
    local out=$T/$name
    mkdir -p "$out"
    local extra=(--nbest-out "$out/nbest_predictions.json")
    [ "$v" = v2 ] && extra+=(--null-odds-out "$out/null_odds.json")
    "$SQ_BIN/sq-eval" -d "$F/pp_${v}_data.json" --features "$T/$v.feat" -l "$F/pp_${v}_logits.safetensors" \
        -o "$out/predictions.json" "${extra[@]}" "$@" >"$out/scores.json" || fail "$name: sq-eval failed"
    cmp -s "$out/predictions.json" "$F/pp_$name/predictions.json" || fail "$name: predictions differ from HF's"
    if [ "$v" = v2 ]; then
        cmp -s "$out/null_odds.json" "$F/pp_$name/null_odds.json" || fail "$name: null odds differ from HF's"
    fi
    if [ -f "$F/pp_$name/nbest_predictions.json" ]; then
        same_nbest "$out/nbest_predictions.json" "$F/pp_$name/nbest_predictions.json" ||
            fail "$name: n-best lists differ from HF's"
    fi
    # The scores printed are those of the predictions written.
    "$SQ_BIN/sq-eval" -d "$F/pp_${v}_data.json" -p "$out/predictions.json" >"$out/rescored.json"
    cmp -s "$out/scores.json" "$out/rescored.json" || fail "$name: scores differ from scoring the predictions"
}

run_case v1_default v1
run_case v1_small v1 --n-best 3 --max-answer-length 4
run_case v2_default v2
run_case v2_thresh v2 --n-best 5 --null-score-diff-threshold 0.7
grep -q '"empty"' "$F/pp_v1_small/predictions.json" || fail "the fixtures lost HF's 'empty' placeholder case"
grep -q '": ""' "$F/pp_v2_default/predictions.json" || fail "the fixtures lost the null-answer case"

# Errors: one line, exit 1, nothing written.
mk_st() { # path header data-bytes: a safetensors file of zeros
    local n=${#2}
    printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((n & 255)) $((n >> 8 & 255)) \
        $((n >> 16 & 255)) $((n >> 24 & 255)))" >"$1"
    printf '%s' "$2" >>"$1"
    head -c "$3" /dev/zero >>"$1"
}
nf=$("$SQ_BIN/sq-inspect" "$T/v1.feat" | jq -r 'select(.type == "features") | .features')
mk_st "$T/rows.st" '{"start_logits":{"dtype":"F32","shape":[2,128],"data_offsets":[0,1024]},"end_logits":{"dtype":"F32","shape":[2,128],"data_offsets":[1024,2048]}}' 2048
expect_fail 1 "rows.st: start_logits has shape \[2, 128\], the features want \[$nf, 128\]" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.feat" -l "$T/rows.st" -o "$T/never.json"
mk_st "$T/one.st" "{\"start_logits\":{\"dtype\":\"F32\",\"shape\":[$nf,128],\"data_offsets\":[0,$((nf * 512))]}}" $((nf * 512))
expect_fail 1 "one.st: no tensor 'end_logits'" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.feat" -l "$T/one.st" -o "$T/never.json"
mk_st "$T/int.st" "{\"start_logits\":{\"dtype\":\"I32\",\"shape\":[$nf,128],\"data_offsets\":[0,$((nf * 512))]},\
\"end_logits\":{\"dtype\":\"F32\",\"shape\":[$nf,128],\"data_offsets\":[$((nf * 512)),$((nf * 1024))]}}" $((nf * 1024))
expect_fail 1 "int.st: start_logits is I32, not a float tensor" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.feat" -l "$T/int.st" -o "$T/never.json"
"$SQ_BIN/sq-pack" -q --max-seq 96 --doc-stride 32 --max-query 32 -o "$T/v1.short" "$T/v1.sqt"
expect_fail 1 "start_logits has shape \[$nf, 128\], the features want \[[0-9]+, 96\]" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.short" -l "$F/pp_v1_logits.safetensors" -o "$T/never.json"
expect_fail 1 "v2.feat: built from another dataset" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v2.feat" -l "$F/pp_v2_logits.safetensors" -o "$T/never.json"
# A failure after the answers are made (here scoring with --na-probs that
# lack an id) still writes none of the output files.
jq 'to_entries | .[1:] | from_entries' "$T/v2_default/null_odds.json" >"$T/na_short.json"
expect_fail 1 "has a prediction but no no-answer probability" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v2_data.json" --features "$T/v2.feat" -l "$F/pp_v2_logits.safetensors" \
    --na-probs "$T/na_short.json" -o "$T/never.json" --nbest-out "$T/never-nbest.json"
[ ! -e "$T/never.json" ] && [ ! -e "$T/never-nbest.json" ] || fail "an output was written despite an error"
[ -z "$(ls "$T" | grep '\.tmp-')" ] || fail "temporary files were left: $(ls "$T")"
# Inputs of the wrong kind are named, with what was wanted.
expect_fail 1 "sq-eval: error: .*/v1.sqt is a tokens file from sq-tokenize; --features wants a feature folder from sq-pack \(run sq-pack on it first\)" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.sqt" -l "$F/pp_v1_logits.safetensors" -o "$T/never.json"
expect_fail 1 "sq-eval: error: .*/pp_v1_data.json is a SQuAD JSON dataset; --logits wants the logits from sq-train predict" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.feat" -l "$F/pp_v1_data.json" -o "$T/never.json"
expect_fail 1 "sq-eval: error: .*/v1.feat is a feature folder from sq-pack; --dataset wants the SQuAD JSON" \
    "$SQ_BIN/sq-eval" -d "$T/v1.feat" --features "$T/v1.feat" -l "$F/pp_v1_logits.safetensors" -o "$T/never.json"
[ ! -e "$T/never.json" ] || fail "an output was written despite an error"
expect_fail 2 "unknown option '-f' \(-f is --force in sq tools\); write --features DIR" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" -f "$T/v1.feat" -l "$F/pp_v1_logits.safetensors"
expect_fail 2 "null-odds-out.*need --features" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" -p "$T/v1_default/predictions.json" --null-odds-out "$T/x.json"
expect_fail 1 "null-odds-out: .* is SQuAD v1.1" \
    "$SQ_BIN/sq-eval" -d "$F/pp_v1_data.json" --features "$T/v1.feat" -l "$F/pp_v1_logits.safetensors" --null-odds-out "$T/x.json"
echo ok
