#!/usr/bin/env bash
# sq-eval on SQuAD dev v1.1 (../shared): gold answers against themselves give
# 100 / 100, and 2,000 perturbed predictions the official v1.1 numbers
# (fixtures/dev_scores.json, make_fixtures.py) to 1e-9.
source "$(dirname "$0")/../lib.sh"
F=$SQ_ROOT/tests/evaluate/fixtures
EVAL=$SQ_BIN/sq-eval
command -v jq >/dev/null || skip "needs jq"
need_shared "dev v1.1"
DEV=$SQ_SHARED/data/squad/dev-v1.1.reconstructed.json
jq '[.data[].paragraphs[].qas[] | {(.id): .answers[0].text}] | add' "$DEV" >"$T/dev_gold.json"
out=$("$EVAL" -d "$DEV" -p "$T/dev_gold.json")
[ "$out" = '{"exact_match": 100.0, "f1": 100.0}' ] || fail "dev gold vs itself: $out"
out=$("$EVAL" -q -d "$DEV" -p "$F/dev_preds.json")
want=$(jq -c '."v1.1"' "$F/dev_scores.json")
jq -e -n --argjson a "$out" --argjson b "$want" '
    ($a | keys_unsorted) == ($b | keys_unsorted)
    and all($a | keys_unsorted[]; (($a[.] - $b[.]) | fabs) <= 1e-9)' >/dev/null || fail "scores $out, official $want"
echo ok
