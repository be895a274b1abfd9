#!/usr/bin/env bash
# scripts/report.sh on the fixture runs (a 1-GPU baseline, DDP on 4 GPUs with
# a resume that logged steps 30 and 35 twice, ZeRO-1 on 8 GPUs in 2 nodes):
# the REPORT.md table, PNGs that are real images, errors for bad input; and a
# profile trace.json (from test_trace) that jq parses with the expected events.
source "$(dirname "$0")/../lib.sh"
command -v gnuplot >/dev/null || skip "needs gnuplot (scripts/install-deps.sh)"
command -v jq >/dev/null || skip "needs jq (scripts/install-deps.sh)"
report=$SQ_ROOT/scripts/report.sh
fx=$SQ_ROOT/tests/report/fixtures

"$report" -o "$T/out" "$fx/gpu-1" "$fx/gpu-ddp4" "$fx/gpu-zero8x2" 2>"$T/err" ||
    fail "report.sh: $(cat "$T/err")"
md=$T/out/REPORT.md
[ -f "$md" ] || fail "no REPORT.md"
row() { grep "^| $1 |" "$md" || fail "no row for $1 in $(cat "$md")"; }
# run | device | GPUs | nodes | strategy | precision | steps | time | samples/s | tokens/s | speedup | EM | F1
[ "$(row gpu-1)" = "| gpu-1 | cuda | 1 | 1 | single | bf16 | 60 | 3m23s | 9.99 | 3836 | 1.00 | 81.00 | 88.00 |" ] ||
    fail "baseline row: $(row gpu-1)"
# The resumed run's NaN first tries (samples/s 1.0) are replaced by the later lines.
[ "$(row gpu-ddp4)" = "| gpu-ddp4 | cuda | 4 | 1 | ddp | bf16 | 60 | 56s | 35.97 | 13811 | 3.60 | 80.70 | 87.70 |" ] ||
    fail "ddp row: $(row gpu-ddp4)"
[ "$(row gpu-zero8x2)" = "| gpu-zero8x2 | cuda | 8 | 2 | zero1 | bf16 | 60 | 33s | 61.94 | 23786 | 6.20 | 80.40 | 87.40 |" ] ||
    fail "zero row: $(row gpu-zero8x2)"
for p in loss throughput f1 speedup; do
    f=$T/out/$p.png
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$p.png is not a PNG"
    [ "$(stat -c %s "$f")" -gt 10000 ] || fail "$p.png is suspiciously small"
    grep -q "^!\[$p\]($p.png)" "$md" || fail "REPORT.md does not show $p.png"
done

# One run: no speedup chart; a run without eval lines: no F1 plot; run.json
# keys missing: defaults.
mkdir -p "$T/bare"
grep -v '"f1"' "$fx/gpu-1/metrics.jsonl" >"$T/bare/metrics.jsonl"
"$report" -o "$T/one" "$T/bare" 2>/dev/null || fail "report.sh on one bare run"
[ ! -e "$T/one/speedup.png" ] && [ ! -e "$T/one/f1.png" ] || fail "plots that have no data"
grep -q "^| bare | cpu | 1 | 1 | single | fp32 | 60 | 3m23s | 9.99 | 3836 | 1.00 | - | - |$" "$T/one/REPORT.md" ||
    fail "bare row: $(grep '^| bare' "$T/one/REPORT.md")"

expect_fail 2 "usage" "$report"
expect_fail 1 "report.sh: error: .*absent: not a directory" "$report" -o "$T/x" "$T/absent"
mkdir -p "$T/empty" "$T/badjson"
expect_fail 1 "report.sh: error: .*empty/metrics.jsonl: missing or empty" "$report" -o "$T/x" "$T/empty"
cp "$fx/gpu-1/metrics.jsonl" "$T/badjson/"
echo '{"world_size": ' >"$T/badjson/run.json"
expect_fail 1 "report.sh: error: .*badjson/run.json: not valid JSON" "$report" -o "$T/x" "$T/badjson"

# The profile trace: valid JSON with the tracks and events test_trace records.
build=$SQ_ROOT/${SQ_BUILD:-build}
[ -x "$build/tests/train/test_trace" ] || fail "$build/tests/train/test_trace: not built (make tests)"
SQ_TRACE_KEEP=$T/trace.json "$build/tests/train/test_trace" >"$T/log" 2>&1 || fail "test_trace: $(cat "$T/log")"
python3 -m json.tool "$T/trace.json" >/dev/null || fail "trace.json does not parse"
q() { jq -r "$1" "$T/trace.json"; }
[ "$(q '[.traceEvents[] | select(.name == "thread_name") | .args.name] | join(",")')" = steps,host,gpu,comm ] ||
    fail "tracks: $(q '[.traceEvents[] | select(.name == "thread_name") | .args.name]')"
[ "$(q '[.traceEvents[] | select(.ph == "X" and .tid == 0)] | length')" = 3 ] || fail "step events"
[ "$(q '[.traceEvents[] | select(.ph == "X" and .tid == 1) | .name] | unique | join(",")')" = \
  backward,comm,data,forward,optimizer ] || fail "host phases"
[ "$(q '[.traceEvents[] | select(.ph == "X" and .tid == 2 and .args.family == "matmul")] | length')" = 6 ] ||
    fail "gpu kernels"
[ "$(q '[.traceEvents[] | select(.ph == "X") | select(.ts < 0 or .dur < 0)] | length')" = 0 ] ||
    fail "negative times"
