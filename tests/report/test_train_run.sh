#!/usr/bin/env bash
# A real CPU run reports: sq-train of a one-layer BERT on the bundled sample
# for 8 steps with --profile writes plain progress lines (stderr is not a
# terminal), metrics.jsonl, TensorBoard files that read back (when the
# tensorboard package is there), trace.json with the recorded steps, and
# scripts/report.sh makes a report of it.  --quiet silences the progress.
source "$(dirname "$0")/../lib.sh"
for t in sq-tokenize sq-pack sq-train; do [ -x "$SQ_BIN/$t" ] || fail "$SQ_BIN/$t: not built"; done
S=$SQ_ROOT/data/sample
for split in train dev; do
    "$SQ_BIN/sq-tokenize" -q --vocab "$VOCAB" -o "$T/$split.sqt" "$S/xquad-$split.json"
    "$SQ_BIN/sq-pack" -q -o "$T/$split" "$T/$split.sqt"
done
cat >"$T/cfg.json" <<'JSON'
{"architectures": ["BertForQuestionAnswering"], "model_type": "bert", "vocab_size": 30522,
 "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
 "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
 "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
 "layer_norm_eps": 1e-12, "pad_token_id": 0}
JSON
train() { # RUNDIR extra-options...
    local rd=$1; shift
    "$SQ_BIN/sq-train" --config "$T/cfg.json" --data "$T/train" --max-steps 8 --batch-size 8 --lr 1e-3 \
        --log-every 2 --threads 1 --eval-data "$T/dev" --eval-dataset "$S/xquad-dev.json" -o "$rd" "$@"
}
train "$T/run" --profile=2 2>"$T/err" || fail "sq-train: $(cat "$T/err")"

# Progress: a plain line every 2 steps, with the ETA, then the profile table.
[ "$(grep -c '^step [0-9]*/8 ' "$T/err")" = 4 ] || fail "progress lines: $(cat "$T/err")"
grep -q '^step 4/8  50% ETA [0-9hms?]* | ep [0-9.]* loss [0-9.]* lr [0-9.e+-]* | [0-9.]* samples/s [0-9.k]* tok/s$' \
    "$T/err" || fail "progress line format: $(grep '^step 4/8' "$T/err")"
grep -q '^step 8/8 100% done in ' "$T/err" || fail "no last progress line"
grep -q 'profile of 2 steps' "$T/err" || fail "no profile table: $(cat "$T/err")"
grep -Eq '^host +forward +2 ' "$T/err" || fail "no forward row: $(cat "$T/err")"

# metrics.jsonl: steps 2, 4, 6, 8 and the dev evaluation.
m=$T/run/metrics.jsonl
[ "$(jq -sc '[.[] | select(has("loss")) | .step]' "$m")" = "[2,4,6,8]" ] || fail "logged steps: $(cat "$m")"
jq -se 'all(.[] | select(has("loss")); (.loss > 0) and (.lr > 0) and (.grad_norm > 0)
        and (.samples_per_s > 0) and (.tokens_per_s > 0) and (.elapsed_s > 0) and (has("mfu") | not))' \
    "$m" >/dev/null || fail "step lines: $(cat "$m")"
[ "$(jq -sc '[.[] | select(has("f1")) | keys]' "$m")" = '[["epoch","exact_match","f1","step"]]' ] ||
    fail "eval line: $(grep f1 "$m")"

# TensorBoard.
ls "$T/run/tb"/events.out.tfevents.* >/dev/null || fail "no event file in tb/"
if python3 -c "import tensorboard" 2>/dev/null; then
    python3 "$SQ_ROOT/tests/report/check_tb.py" "$T/run" || fail "TensorBoard read-back"
else
    echo "note: no tensorboard package: event files not read back here (test_tensorboard.sh skips too)"
fi

# trace.json: steps 3 and 4 (after 3 warm-up steps), each with its phases.
tr=$T/run/trace.json
jq -e . "$tr" >/dev/null || fail "trace.json does not parse"
[ "$(jq -c '[.traceEvents[] | select(.ph == "X" and .tid == 0) | .name]' "$tr")" = '["step 3","step 4"]' ] ||
    fail "recorded steps: $(jq -c '[.traceEvents[] | select(.tid == 0)]' "$tr")"
for phase in data forward backward optimizer; do
    [ "$(jq --arg p "$phase" '[.traceEvents[] | select(.ph == "X" and .tid == 1 and .name == $p)] | length' "$tr")" = 2 ] ||
        fail "phase $phase: not twice in trace.json"
done

# The report.
"$SQ_ROOT/scripts/report.sh" -o "$T/report" "$T/run" 2>/dev/null || fail "report.sh failed"
# Settings from run.json, results from metrics.jsonl; one run: no speedup.
grep -Eq '^\| run \| 1L-32H 1M \| [^|]+ \| 8 \| 0.001 \| 8 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$' \
    "$T/report/REPORT.md" || fail "report row: $(grep '^| run' "$T/report/REPORT.md")"
grep -q '^| run | cpu | 1 | 1 | single | fp32 | [0-9ms]* | [0-9.]* | [0-9]* | - | - |$' \
    "$T/report/REPORT.md" || fail "report row: $(grep '^| run' "$T/report/REPORT.md")"
for p in loss throughput f1; do [ -s "$T/report/$p.png" ] || fail "no $p.png"; done

# --quiet: no progress lines.
train "$T/quiet" -q 2>"$T/err" || fail "sq-train -q: $(cat "$T/err")"
! grep -q '^step ' "$T/err" || fail "progress despite --quiet: $(cat "$T/err")"
[ "$(jq -s 'length' "$T/quiet/metrics.jsonl")" = 5 ] || fail "quiet run's metrics.jsonl"
echo ok
