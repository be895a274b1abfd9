#!/usr/bin/env bash
# sq-train bench runs on the CPU backend (synthetic rows and real features)
# and prints one JSON line with the fields bench/gpu.sh reads; --device cuda
# without a GPU is one clean error line and exit 1.
source "$(dirname "$0")/../lib.sh"
source "$SQ_ROOT/tests/train/synthetic.sh"
tiny_config "$T/cfg.json"
tr=("$SQ_BIN/sq-train" bench --config "$T/cfg.json" --threads 2)

"${tr[@]}" --synthetic --batch-size 3 --max-seq 48 --steps 2 --warmup-steps 1 -o "$T/b.json" >"$T/out" \
    || fail "bench --synthetic"
[ "$(wc -l <"$T/out")" = 1 ] || fail "bench printed $(wc -l <"$T/out") lines"
cmp -s "$T/out" "$T/b.json" || fail "-o differs from stdout"
for k in samples_per_s real_tokens_per_s model_tflops mfu peak_mem_gib step_ms_median step_max_over_median \
    tokens_max_over_median work_normalised_max_over_median slowest_steps warm_shapes warm_s heuristic_queries; do
    grep -q "\"$k\":" "$T/out" || fail "no $k in $(cat "$T/out")"
done
# 3 full rows of 48 tokens a step
grep -Eq '"batch_size":3,"max_seq":48' "$T/out" || fail "shape: $(cat "$T/out")"
sps=$(sed -n 's/.*"samples_per_s":\([0-9.e+-]*\).*/\1/p' "$T/out")
tps=$(sed -n 's/.*"real_tokens_per_s":\([0-9.e+-]*\).*/\1/p' "$T/out")
awk -v s="$sps" -v t="$tps" 'BEGIN { r = t / s; exit !(s > 0 && r > 47.99 && r < 48.01) }' \
    || fail "tokens/s $tps is not 48 x samples/s $sps"

# the CPU backend has no per-shape choices to warm; the 2 timed steps are the slowest, slowest first
python3 - "$T/out" <<'PY' || fail "slowest_steps/warm fields: $(cat "$T/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["warm_shapes"] == 0 and j["heuristic_queries"] == 0, j
s = j["slowest_steps"]
assert [x["step"] for x in s] in ([0, 1], [1, 0]) and s[0]["ms"] >= s[1]["ms"], s
assert all(x["tokens"] == 3 * 48 and x["new_shapes"] == 0 for x in s), s
assert abs(s[0]["ms"] - j["step_ms_max"]) < 1e-6 * s[0]["ms"] + 1e-9, j
assert j["tokens_max_over_median"] == 1, j
# equal rows: the same work every step, so the spreads agree
assert abs(j["work_normalised_max_over_median"] - j["step_max_over_median"]) < 1e-9, j
PY

synthetic_features feat 12 5
"${tr[@]}" --data "$T/feat" --batch-size 4 --steps 2 --warmup-steps 0 >"$T/out2" || fail "bench --data"
grep -q '"epoch_s":' "$T/out2" || fail "no epoch_s with --data: $(cat "$T/out2")"

expect_fail 2 'exclude' "${tr[@]}" --synthetic --data "$T/feat"
expect_fail 2 'precision bf16 needs --device cuda' "${tr[@]}" --precision bf16
expect_fail 2 'precision' "${tr[@]}" --device cuda --precision fp16
"$SQ_BIN/sq-train" bench --help | grep '^Usage: sq-train bench' >/dev/null || fail "bench --help"
if ! nvidia-smi -L >/dev/null 2>&1; then
    expect_fail 1 'no CUDA device|without the CUDA backend' "${tr[@]}" --device cuda --max-seq 48 --steps 1
fi
echo ok
