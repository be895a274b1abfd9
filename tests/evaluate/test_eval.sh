#!/usr/bin/env bash
# sq-eval --predictions: the official scripts' numbers (committed fixtures,
# make_fixtures.py) to 1e-9 and in their key order, gold answers against
# themselves, the warnings for missing and unknown ids, and clean errors.
# (dev v1.1, from ../shared: test_eval_dev.sh.)
source "$(dirname "$0")/../lib.sh"
F=$SQ_ROOT/tests/evaluate/fixtures
EVAL=$SQ_BIN/sq-eval
command -v jq >/dev/null || skip "needs jq"

# same_scores GOT WANT: same keys in the same order, numbers within 1e-9.
same_scores() {
    jq -e -n --argjson a "$1" --argjson b "$2" '
        ($a | keys_unsorted) == ($b | keys_unsorted)
        and all($a | keys_unsorted[]; (($a[.] - $b[.]) | fabs) <= 1e-9)' >/dev/null ||
        fail "scores $1, official $2"
}

first_gold() { jq '[.data[].paragraphs[].qas[] | {(.id): .answers[0].text}] | add' "$1"; }

# Gold against itself: 100 / 100, printed as Python prints it.
first_gold "$DATA/xquad.en.json" >"$T/gold.json"
out=$("$EVAL" -d "$DATA/xquad.en.json" -p "$T/gold.json")
[ "$out" = '{"exact_match": 100.0, "f1": 100.0}' ] || fail "xquad gold vs itself: $out"
# stdin works for the predictions.
out=$("$EVAL" -d "$DATA/xquad.en.json" -p - <"$T/gold.json")
[ "$out" = '{"exact_match": 100.0, "f1": 100.0}' ] || fail "xquad gold from stdin: $out"

# SQuAD 2.0 rules, with and without no-answer probabilities.
want() { jq -c ".$1" "$F/v2_scores.json"; }
same_scores "$("$EVAL" -d "$F/v2_data.json" -p "$F/v2_preds.json")" "$(want plain)"
same_scores "$("$EVAL" -d "$F/v2_data.json" -p "$F/v2_preds.json" --na-probs "$F/v2_na.json")" "$(want na)"
same_scores "$("$EVAL" -d "$F/v2_data.json" -p "$F/v2_preds.json" --na-probs "$F/v2_na.json" \
    --na-prob-thresh 0.5)" "$(want na_t05)"

# A dataset whose version is "v2.0" (as SQuAD 2.0's files write it) is scored
# with the v2.0 rules even when every question has an answer, as
# evaluate-v2.0.py would: its keys, HasAns only.  ("2.0" alike; "1.1" not.)
mk_v2() { # VERSION
    jq -n --arg v "$1" '{version: $v, data: [{title: "t", paragraphs: [{context: "Denver Broncos beat Carolina Panthers.",
        qas: [{id: "a", question: "Who won?", answers: [{text: "Denver Broncos", answer_start: 0}]},
              {id: "b", question: "Who lost?", answers: [{text: "Carolina Panthers", answer_start: 20}]}]}]}]}'
}
echo '{"a": "Denver Broncos", "b": "Panthers"}' >"$T/ab.json"
for v in v2.0 2.0; do
    mk_v2 "$v" >"$T/ab-data.json"
    out=$("$EVAL" -q -d "$T/ab-data.json" -p "$T/ab.json")
    [ "$out" = '{"exact": 50.0, "f1": 83.33333333333333, "total": 2, "HasAns_exact": 50.0, "HasAns_f1": 83.33333333333333, "HasAns_total": 2}' ] ||
        fail "version $v without unanswerable questions: $out"
done
mk_v2 1.1 >"$T/ab-data.json"
out=$("$EVAL" -q -d "$T/ab-data.json" -p "$T/ab.json")
[ "$out" = '{"exact_match": 50.0, "f1": 83.33333333333333}' ] || fail "version 1.1: $out"

# Missing predictions: scored 0, one warning line with the count and the first ids.
jq 'to_entries | .[2:] | from_entries' "$T/gold.json" >"$T/part.json"
"$EVAL" -d "$DATA/xquad.en.json" -p "$T/part.json" >"$T/out" 2>"$T/err"
[ "$(grep -c warning "$T/err")" = 1 ] || fail "wanted one warning line, got: $(cat "$T/err")"
ids=$(jq -r 'keys_unsorted[:2] | join(", ")' "$T/gold.json")
grep -q "^sq-eval: warning: 2 of 1190 questions have no prediction and score 0 ($ids)$" "$T/err" ||
    fail "missing-prediction warning: $(cat "$T/err")"
same_scores "$(cat "$T/out")" '{"exact_match": 99.83193277310924, "f1": 99.83193277310924}'
# One summary line closes the run (stderr: stdout holds only the JSON scores).
grep -q "^sq-eval: .*/xquad.en.json: EM 99.83, F1 99.83 on 1190 questions (SQuAD v1.1 rules)$" "$T/err" ||
    fail "summary line: $(cat "$T/err")"
[ "$(wc -l <"$T/err")" = 2 ] || fail "wanted a warning and the summary, got: $(cat "$T/err")"
"$EVAL" -q -d "$DATA/xquad.en.json" -p "$T/part.json" 2>"$T/err" >/dev/null
[ ! -s "$T/err" ] || fail "--quiet still prints: $(cat "$T/err")"
# Ids the dataset lacks are ignored, with a warning.
jq '. + {"nope": "x"}' "$T/gold.json" >"$T/extra.json"
"$EVAL" -d "$DATA/xquad.en.json" -p "$T/extra.json" 2>"$T/err" >/dev/null
grep -q "1 of 1191 predictions are for questions .* lacks (ignored)" "$T/err" || fail "unknown-id warning: $(cat "$T/err")"

# Errors: one line naming the file and what is wrong, exit 1.
printf '{"a": "x",\n "b" "y"}' >"$T/bad.json"
expect_fail 1 "^sq-eval: error: $T/bad.json:2:8: ':' expected near" "$EVAL" -d "$DATA/xquad.en.json" -p "$T/bad.json"
echo '["x"]' >"$T/arr.json"
expect_fail 1 "arr.json: expected a JSON object \{\"question id\": \"answer text\"\}, got an array" \
    "$EVAL" -d "$DATA/xquad.en.json" -p "$T/arr.json"
echo '{"x": ["y"]}' >"$T/val.json"
expect_fail 1 "val.json: \"x\": expected a string \(the answer text\), got an array" \
    "$EVAL" -d "$DATA/xquad.en.json" -p "$T/val.json"
jq 'del(.data[0].paragraphs[0].qas[1].answers)' "$DATA/xquad.en.json" >"$T/noans.json"
qid=$(jq -r '.data[0].paragraphs[0].qas[1].id' "$DATA/xquad.en.json")
expect_fail 1 "question $qid has no gold answers \(SQuAD v1.1 scoring needs them\)" \
    "$EVAL" -d "$T/noans.json" -p "$T/gold.json"
expect_fail 1 "na-probs: .* is SQuAD v1.1" "$EVAL" -d "$DATA/xquad.en.json" -p "$T/gold.json" --na-probs "$F/v2_na.json"
jq 'to_entries | .[1:] | from_entries' "$F/v2_na.json" >"$T/na_short.json"
expect_fail 1 "has a prediction but no no-answer probability" \
    "$EVAL" -d "$F/v2_data.json" -p "$F/v2_preds.json" --na-probs "$T/na_short.json"
expect_fail 1 "no-such.json" "$EVAL" -d "$DATA/xquad.en.json" -p "$T/no-such.json"
expect_fail 1 "no-such.json" "$EVAL" -d "$T/no-such.json" -p "$T/gold.json"
# Usage errors: exit 2.
expect_fail 2 "dataset is required" "$EVAL" -p "$T/gold.json"
expect_fail 2 "give --predictions, or --features and --logits" "$EVAL" -d "$DATA/xquad.en.json"
expect_fail 2 "predictions excludes" "$EVAL" -d x -p y --features z -l w
expect_fail 2 "go together" "$EVAL" -d x --features z
expect_fail 2 "unknown option '--na-prob-tresh'; did you mean --na-prob-thresh\\?" "$EVAL" -d x -p y --na-prob-tresh 1
expect_fail 2 "option '--na-prob' is ambiguous" "$EVAL" -d x -p y --na-prob z
expect_fail 2 "n-best" "$EVAL" -d x --features z -l w --n-best 0
expect_fail 2 "unexpected argument" "$EVAL" -d x -p y extra
expect_fail 2 "unknown option '--bogus'" "$EVAL" --bogus
expect_fail 2 "cannot both read standard input" "$EVAL" -d - -p -
expect_fail 2 "standard output carries the scores" "$EVAL" -d x --features y -l z -o -
expect_fail 2 "option '-d' needs a value" "$EVAL" -d
"$EVAL" --help | grep -q "^Usage: sq-eval" || fail "--help"
"$EVAL" --version | grep -q "^sq-eval " || fail "--version"
"$EVAL" --help | grep -q "^Exit status: 0 on success, 1 for bad input" || fail "--help has no exit statuses"

# Wrong files: what each is, and what the option wants.
"$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/x.sqt" "$DATA/xquad.en.json"
expect_fail 1 "sq-eval: error: .*/x.sqt is a tokens file from sq-tokenize; --dataset wants the SQuAD JSON$" \
    "$EVAL" -d "$T/x.sqt" -p "$T/gold.json"
expect_fail 1 "sq-eval: error: .*/xquad.en.json is a SQuAD JSON dataset; --predictions wants a JSON of answers" \
    "$EVAL" -d "$DATA/xquad.en.json" -p "$DATA/xquad.en.json"
expect_fail 1 "sq-eval: error: .*/v2_preds.json is a predictions JSON \(answers by question id\); --na-probs wants" \
    "$EVAL" -d "$F/v2_data.json" -p "$F/v2_preds.json" --na-probs "$F/v2_preds.json"

echo ok
