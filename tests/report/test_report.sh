#!/usr/bin/env bash
# scripts/report.sh on the fixture runs (a 1-GPU baseline, DDP on 4 GPUs with
# a resume that logged steps 30 and 35 twice, ZeRO-1 on 8 GPUs in 2 nodes, all
# of one model, data and global batch): the REPORT.md tables, speedups only
# between like runs, PNGs that are real images, errors for bad input, make
# report from another directory; and a profile trace.json (from test_trace)
# that jq parses with the expected events.
source "$(dirname "$0")/../lib.sh"
command -v gnuplot >/dev/null || skip "needs gnuplot (scripts/install-deps.sh)"
command -v jq >/dev/null || skip "needs jq (scripts/install-deps.sh)"
report=$SQ_ROOT/scripts/report.sh
fx=$SQ_ROOT/tests/report/fixtures

"$report" -o "$T/out" "$fx/gpu-1" "$fx/gpu-ddp4" "$fx/gpu-zero8x2" 2>"$T/err" ||
    fail "report.sh: $(cat "$T/err")"
md=$T/out/REPORT.md
[ -f "$md" ] || fail "no REPORT.md"
rows() { grep "^| $1 |" "$md" || fail "no row for $1 in $(cat "$md")"; }
row() { rows "$1" | sed -n "${2}p"; }
# Settings and results: run | model | data | global batch | lr | steps | final loss | EM | F1
[ "$(row gpu-1 1)" = "| gpu-1 | 12L-768H 108.9M | train-features | 32 | 3e-05 | 60 | 0.9607 | 81.00 | 88.00 |" ] ||
    fail "baseline settings row: $(row gpu-1 1)"
[ "$(row gpu-ddp4 1)" = "| gpu-ddp4 | 12L-768H 108.9M | train-features | 32 | 3e-05 | 60 | 1.1135 | 80.70 | 87.70 |" ] ||
    fail "ddp settings row: $(row gpu-ddp4 1)"
# Speed: run | device | GPUs | nodes | strategy | precision | time | samples/s | tokens/s | speedup | over
[ "$(row gpu-1 2)" = "| gpu-1 | cuda | 1 | 1 | single | bf16 | 3m23s | 9.99 | 3836 | 1.00 | gpu-1 |" ] ||
    fail "baseline row: $(row gpu-1 2)"
# The resumed run's NaN first tries (samples/s 1.0) are replaced by the later lines.
[ "$(row gpu-ddp4 2)" = "| gpu-ddp4 | cuda | 4 | 1 | ddp | bf16 | 56s | 35.97 | 13811 | 3.60 | gpu-1 |" ] ||
    fail "ddp row: $(row gpu-ddp4 2)"
[ "$(row gpu-zero8x2 2)" = "| gpu-zero8x2 | cuda | 8 | 2 | zero1 | bf16 | 33s | 61.94 | 23786 | 6.20 | gpu-1 |" ] ||
    fail "zero row: $(row gpu-zero8x2 2)"
grep -q "^Not compared" "$md" && fail "every run was comparable: $(cat "$md")"
for p in loss throughput f1 speedup; do
    f=$T/out/$p.png
    [ "$(head -c 8 "$f" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$p.png is not a PNG"
    [ "$(stat -c %s "$f")" -gt 10000 ] || fail "$p.png is suspiciously small"
    grep -q "^!\[$p\]($p.png)" "$md" || fail "REPORT.md does not show $p.png"
done

# Like with like only: a run of another global batch and one of another model
# are listed, not compared; a run of the same three settings still is.
mkdir -p "$T/b64" "$T/big" "$T/ddp-b"
for r in b64 big ddp-b; do cp "$fx/gpu-ddp4/metrics.jsonl" "$T/$r/"; done
jq '.options.batch_size = 64' "$fx/gpu-ddp4/run.json" >"$T/b64/run.json"
jq '.model_config.num_hidden_layers = 24 | .parameters = 334094338' "$fx/gpu-ddp4/run.json" >"$T/big/run.json"
cp "$fx/gpu-ddp4/run.json" "$T/ddp-b/run.json"
"$report" -o "$T/like" "$fx/gpu-ddp4" "$T/b64" "$T/big" "$T/ddp-b" 2>"$T/err" || fail "report.sh: $(cat "$T/err")"
md=$T/like/REPORT.md
[ "$(row b64 1)" = "| b64 | 12L-768H 108.9M | train-features | 64 | 3e-05 | 60 | 1.1135 | 80.70 | 87.70 |" ] ||
    fail "b64 settings row: $(row b64 1)"
[ "$(row big 1 | cut -d'|' -f3)" = " 24L-768H 334.1M " ] || fail "big settings row: $(row big 1)"
for r in b64 big; do
    [[ "$(row $r 2)" == *"| 13811 | - | - |" ]] || fail "$r was compared: $(row $r 2)"
done
# Same model, data and batch, both 4 processes: the first is the baseline.
[[ "$(row ddp-b 2)" == *"| 1.00 | gpu-ddp4 |" ]] || fail "ddp-b: $(row ddp-b 2)"
grep -A1 -x "Not compared (no other run of the same model, data and global batch, or one of them unknown):" "$md" |
    tail -1 | grep -qx "b64, big." || fail "the runs not compared are not listed: $(cat "$md")"
[ "$(wc -l <"$T/like/data/speedup.tsv")" = 2 ] || fail "speedup.png shows runs not compared"

# One run: no speedup chart; a run without eval lines: no F1 plot; no
# run.json: defaults, and nothing to compare.
mkdir -p "$T/bare"
grep -v '"f1"' "$fx/gpu-1/metrics.jsonl" >"$T/bare/metrics.jsonl"
"$report" -o "$T/one" "$T/bare" 2>/dev/null || fail "report.sh on one bare run"
[ ! -e "$T/one/speedup.png" ] && [ ! -e "$T/one/f1.png" ] || fail "plots that have no data"
md=$T/one/REPORT.md
[ "$(row bare 1)" = "| bare | - | - | - | - | 60 | 0.9607 | - | - |" ] || fail "bare settings row: $(row bare 1)"
[ "$(row bare 2)" = "| bare | cpu | 1 | 1 | single | fp32 | 3m23s | 9.99 | 3836 | - | - |" ] ||
    fail "bare row: $(row bare 2)"

# make report from another directory: RUNS and OUT are read there, and
# nothing is written into the source tree.
mkdir -p "$T/elsewhere"
cp -r "$fx" "$T/elsewhere/runs"
before=$(cd "$SQ_ROOT" && git status --porcelain 2>/dev/null; ls -d "$SQ_ROOT"/report 2>/dev/null || true)
(cd "$T/elsewhere" && make -s -C "$SQ_ROOT" report RUNS="runs/gpu-1 runs/gpu-ddp4" OUT=mine) 2>"$T/err" ||
    fail "make -C report: $(cat "$T/err")"
[ -f "$T/elsewhere/mine/REPORT.md" ] || fail "make -C report OUT=mine did not write there"
(cd "$T/elsewhere" && make -s -f "$SQ_ROOT/Makefile" report RUNS="runs/gpu-1") 2>"$T/err" ||
    fail "make -f report: $(cat "$T/err")"
[ -f "$T/elsewhere/report/REPORT.md" ] || fail "make report did not default to ./report"
after=$(cd "$SQ_ROOT" && git status --porcelain 2>/dev/null; ls -d "$SQ_ROOT"/report 2>/dev/null || true)
[ "$before" = "$after" ] || fail "make report wrote into the source tree: $after"

expect_fail 2 "^Usage: report.sh" "$report"
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
